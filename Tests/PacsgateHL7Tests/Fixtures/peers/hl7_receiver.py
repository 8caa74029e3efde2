#!/usr/bin/env python3
"""A real HL7 receiver for the PacsgateHL7 integration tests: python-hl7's asyncio MLLP server.

Like a long-lived Mach7 HL7 feed it keeps every connection open and answers each message with
python-hl7's own `Message.create_ack()`. Loopback only.

  --port-file PATH  the bound port is written here (atomically) once the server listens
  --out PATH        every byte received on any connection is appended here, exactly as received
  --ae-every N      answer AE instead of AA for every Nth message received (0: never)
  --mute-file PATH  while this file exists, messages are read but not answered (a hung receiver)

Needs `pip install hl7` (python-hl7 0.4.5).
"""

import argparse
import asyncio
import os
import signal

import hl7
import hl7.mllp
import hl7.mllp.streams


def main():
    # The test process may spawn us with signals blocked or ignored; make SIGTERM end us as the tests expect.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)

    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--ae-every", type=int, default=0)
    parser.add_argument("--mute-file", default=None)
    options = parser.parse_args()

    raw = open(options.out, "ab", buffering=0)

    # Record the bytes exactly as they arrive, before python-hl7 unframes them.
    original_feed = hl7.mllp.streams.HL7StreamReader.feed_data

    def feed_data(self, data):
        raw.write(data)
        original_feed(self, data)

    hl7.mllp.streams.HL7StreamReader.feed_data = feed_data

    received = 0

    async def handle(reader, writer):
        nonlocal received
        try:
            while not reader.at_eof():
                message = await reader.readmessage()
                received += 1
                if options.mute_file and os.path.exists(options.mute_file):
                    continue
                code = "AE" if options.ae_every and received % options.ae_every == 0 else "AA"
                writer.writemessage(message.create_ack(ack_code=code))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def serve():
        server = await hl7.mllp.start_hl7_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        temporary = options.port_file + ".tmp"
        with open(temporary, "w") as f:
            f.write(str(port))
        os.rename(temporary, options.port_file)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
