#!/usr/bin/env python3
"""A real TLS client (CPython ssl / OpenSSL 3) that controls how its ClientHello reaches the wire.

Used by PacsgateTLSTests to drive ClientHellos of unusual shapes through the gateway to a real
`openssl s_server -WWW` and complete the handshake: if the gateway changed, dropped or reordered a
single byte, the handshake (whose transcript covers the ClientHello) fails.

  tls_client.py PORT [--sni NAME] [--alpn a,b] [--alpn-filler N] [--chunk N] [--records N]
                     [--path /id.txt]

  --sni NAME        server_name to send (omitted: no SNI extension at all)
  --alpn a,b        ALPN protocols to offer
  --alpn-filler N   add N long dummy ALPN identifiers after --alpn (a ~10.5 KiB ClientHello at N=300)
  --chunk N         write the ClientHello N bytes at a time, pausing 2 ms between writes
  --records N       re-frame the ClientHello's handshake message into N TLS records
  --path P          request path (default /id.txt)

Prints `HELLO_BYTES=<n> RECORDS=<n>`, `ALPN=<negotiated>` and then the HTTP response body; exits 1 on failure.
Connects to 127.0.0.1 only.
"""

import argparse
import socket
import ssl
import struct
import sys
import time


def split_records(data, count):
    """Re-frame the handshake bytes of the TLS records in `data` into `count` records."""
    message = b""
    offset = 0
    while offset < len(data):
        content_type, version, length = struct.unpack("!BHH", data[offset:offset + 5])
        assert content_type == 0x16, "expected a handshake record"
        message += data[offset + 5:offset + 5 + length]
        offset += 5 + length
    size = -(-len(message) // count)
    out = b""
    for start in range(0, len(message), size):
        fragment = message[start:start + size]
        out += struct.pack("!BHH", 0x16, 0x0301, len(fragment)) + fragment
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--sni")
    parser.add_argument("--alpn", default="")
    parser.add_argument("--alpn-filler", type=int, default=0)
    parser.add_argument("--chunk", type=int, default=0)
    parser.add_argument("--records", type=int, default=1)
    parser.add_argument("--path", default="/id.txt")
    args = parser.parse_args()

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    protocols = [p for p in args.alpn.split(",") if p]
    protocols += ["x-pacsgate-filler-%04d-abcdefghij" % i for i in range(args.alpn_filler)]
    if protocols:
        context.set_alpn_protocols(protocols)

    incoming = ssl.MemoryBIO()
    outgoing = ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=args.sni)
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=20)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    first_flight = True
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            pass
        data = outgoing.read()
        if data:
            if first_flight:
                first_flight = False
                if args.records > 1:
                    data = split_records(data, args.records)
                records = 0
                offset = 0
                while offset < len(data):
                    records += 1
                    offset += 5 + struct.unpack("!H", data[offset + 3:offset + 5])[0]
                print("HELLO_BYTES=%d RECORDS=%d" % (len(data), records), flush=True)
                if args.chunk > 0:
                    for start in range(0, len(data), args.chunk):
                        sock.sendall(data[start:start + args.chunk])
                        time.sleep(0.002)
                else:
                    sock.sendall(data)
            else:
                sock.sendall(data)
        chunk = sock.recv(65536)
        if not chunk:
            print("connection closed during the handshake", file=sys.stderr)
            return 1
        incoming.write(chunk)
    rest = outgoing.read()
    if rest:
        sock.sendall(rest)
    print("ALPN=%s" % tls.selected_alpn_protocol(), flush=True)

    tls.write(("GET %s HTTP/1.0\r\n\r\n" % args.path).encode())
    sock.sendall(outgoing.read())
    response = b""
    ended = False
    while not ended:
        chunk = sock.recv(65536)
        if not chunk:
            break
        incoming.write(chunk)
        while True:
            try:
                piece = tls.read(65536)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:  # close_notify: the response is complete
                ended = True
                break
            if not piece:
                ended = True
                break
            response += piece
        data = outgoing.read()
        if data:
            sock.sendall(data)
    sock.close()
    body = response.split(b"\r\n\r\n", 1)[-1]
    sys.stdout.write(body.decode("utf-8", "replace"))
    sys.stdout.flush()
    return 0 if response.startswith(b"HTTP/") else 1


if __name__ == "__main__":
    sys.exit(main())
