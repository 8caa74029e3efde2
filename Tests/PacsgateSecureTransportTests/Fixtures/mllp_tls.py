#!/usr/bin/env python3
"""MLLP peers for the secure-transport tests: python-hl7 framing over Python's ssl. Loopback only.

  receive --port-file P --out F [--cert C --key K --ca A]
      python-hl7's asyncio MLLP server, answering every message with python-hl7's create_ack(AA); with --cert it
      speaks TLS and requires a client certificate issued by --ca. Every byte received is appended to F as received.

  send --port N [--ca A --server-name S [--cert C --key K]] --answers M FRAME_HEX...
      Connects (TLS verifying the server against --ca as S when --ca is given, presenting --cert if given), writes each
      frame: a well-formed HL7 message through python-hl7 (hl7.parse, writer.writemessage), anything else as raw
      bytes; then reads M answer blocks and prints each as `ANSWER <hex of the payload>`.

Needs `pip install hl7` (python-hl7 0.4.5).
"""

import argparse
import asyncio
import os
import signal
import ssl
import sys

import hl7
import hl7.mllp
import hl7.mllp.streams


def receive(options):
    raw = open(options.out, "ab", buffering=0)
    original_feed = hl7.mllp.streams.HL7StreamReader.feed_data

    def feed_data(self, data):
        raw.write(data)
        original_feed(self, data)

    hl7.mllp.streams.HL7StreamReader.feed_data = feed_data

    context = None
    if options.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(options.cert, options.key)
        context.load_verify_locations(options.ca)
        context.verify_mode = ssl.CERT_REQUIRED

    async def handle(reader, writer):
        try:
            while not reader.at_eof():
                message = await reader.readmessage()
                writer.writemessage(message.create_ack(ack_code="AA"))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def serve():
        server = await hl7.mllp.start_hl7_server(handle, "127.0.0.1", 0, ssl=context)
        port = server.sockets[0].getsockname()[1]
        temporary = options.port_file + ".tmp"
        with open(temporary, "w") as handle_file:
            handle_file.write(str(port))
        os.rename(temporary, options.port_file)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


def send(options):
    context = None
    if options.ca:
        context = ssl.create_default_context(cafile=options.ca)
        if options.cert:
            context.load_cert_chain(options.cert, options.key)

    async def run():
        reader, writer = await hl7.mllp.open_hl7_connection(
            "127.0.0.1",
            options.port,
            ssl=context,
            server_hostname=options.server_name if context else None,
        )
        for text in options.frames:
            frame = bytes.fromhex(text)
            payload = frame[1:-2].decode("latin-1")
            if frame[:1] == b"\x0b" and frame[-2:] == b"\x1c\r" and payload.startswith("MSH"):
                writer.writemessage(hl7.parse(payload))
            else:
                writer.write(frame)
            await writer.drain()
        for _ in range(options.answers):
            block = await asyncio.wait_for(reader.readblock(), timeout=20)
            raw = block if isinstance(block, bytes) else block.encode("latin-1")
            print("ANSWER " + raw.hex(), flush=True)
        writer.close()

    asyncio.run(run())


def main():
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    receiver = commands.add_parser("receive")
    receiver.add_argument("--port-file", required=True)
    receiver.add_argument("--out", required=True)
    receiver.add_argument("--cert")
    receiver.add_argument("--key")
    receiver.add_argument("--ca")
    sender = commands.add_parser("send")
    sender.add_argument("--port", type=int, required=True)
    sender.add_argument("--ca")
    sender.add_argument("--server-name")
    sender.add_argument("--cert")
    sender.add_argument("--key")
    sender.add_argument("--answers", type=int, default=1)
    sender.add_argument("frames", nargs="*")
    options = parser.parse_args()
    if options.command == "receive":
        receive(options)
    else:
        send(options)


if __name__ == "__main__":
    sys.exit(main())
