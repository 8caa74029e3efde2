#!/usr/bin/env python3
"""Regenerate the TLS ClientHello fixtures for PacsgateTLSTests.

Every captured fixture is the exact byte stream a real TLS client sent to a
throw-away TCP listener on 127.0.0.1: the listener reads TLS records until the
first handshake message (the ClientHello) is complete, writes those records to
a file and closes the connection (the client then fails; that is expected).
Nothing connects anywhere but loopback.

Derived fixtures are built from captured ones by the functions below, so the
derivation is reviewable and repeatable.

Fixtures (all ClientHellos; SNI a.mach7.test unless noted):
  openssl-sni-alpn.bin     openssl s_client -servername a.mach7.test -alpn h2,http/1.1
  curl-sni.bin             curl --resolve a.mach7.test:PORT:127.0.0.1 https://a.mach7.test:PORT/ -k
  python-no-sni.bin        Python ssl, connected by IP, server_hostname=None (no SNI)
  openssl-tls12.bin        openssl s_client -tls1_2 -servername a.mach7.test (no supported_versions)
  openssl-fragmented.bin   openssl s_client with 200 ALPN ids and -max_send_frag 512: six records
  python-large-alpn.bin    Python ssl, SNI big.mach7.test, 470 ALPN ids: ~10 KiB in one record
  openssl-two-records.bin  derived: openssl-sni-alpn's handshake message re-recorded as two
                           records, split after 100 handshake bytes
  openssl-padded-10k.bin   derived: openssl-sni-alpn plus a padding extension (21) making the
                           stream exactly 10,244 bytes; extensions, handshake and record
                           lengths fixed up (see add_padding_extension)

Usage (from any directory):  python3 capture_client_hellos.py
Needs: openssl CLI, curl, Python 3 `ssl` (all linked against OpenSSL 3.x).
Random, session id and key shares differ per run; the tests assert only
properties that are stable (SNI, ALPN, versions, record layout, sizes).
"""

import os
import socket
import ssl
import struct
import subprocess
import threading

FIXTURES = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "127.0.0.1"
SNI = "a.mach7.test"


def read_client_hello_records(conn):
    """Read whole TLS records until the first handshake message is complete."""
    data = b""
    need_handshake = None
    handshake = b""
    offset = 0
    while True:
        while len(data) < offset + 5:
            chunk = conn.recv(65536)
            if not chunk:
                raise RuntimeError("client closed before a full ClientHello")
            data += chunk
        content_type, _version, length = struct.unpack("!BHH", data[offset:offset + 5])
        if content_type != 0x16:
            raise RuntimeError(f"unexpected record type {content_type:#x}")
        while len(data) < offset + 5 + length:
            chunk = conn.recv(65536)
            if not chunk:
                raise RuntimeError("client closed inside a record")
            data += chunk
        handshake += data[offset + 5:offset + 5 + length]
        offset += 5 + length
        if need_handshake is None and len(handshake) >= 4:
            need_handshake = 4 + int.from_bytes(handshake[1:4], "big")
        if need_handshake is not None and len(handshake) >= need_handshake:
            return data[:offset]


def capture(name, run_client):
    """Listen on an ephemeral loopback port, run the client, save its ClientHello."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind((HOST, 0))
    server.listen(1)
    port = server.getsockname()[1]
    result = {}

    def serve():
        conn, _ = server.accept()
        with conn:
            result["bytes"] = read_client_hello_records(conn)

    thread = threading.Thread(target=serve)
    thread.start()
    run_client(port)
    thread.join(timeout=10)
    server.close()
    if "bytes" not in result:
        raise RuntimeError(f"{name}: no ClientHello captured")
    write_fixture(name, result["bytes"])
    return result["bytes"]


def write_fixture(name, data):
    path = os.path.join(FIXTURES, name)
    with open(path, "wb") as f:
        f.write(data)
    print(f"{name}: {len(data)} bytes")


def run(argv):
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=10, check=False)


def openssl_client(*extra):
    return lambda port: run(["openssl", "s_client", "-connect", f"{HOST}:{port}", *extra])


def curl_client(port):
    run(["curl", "--silent", "--max-time", "5", "--resolve", f"{SNI}:{port}:{HOST}",
         f"https://{SNI}:{port}/", "-k"])


def python_client(server_hostname, alpn=None):
    def client(port):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if alpn:
            context.set_alpn_protocols(alpn)
        try:
            with socket.create_connection((HOST, port), timeout=5) as sock:
                with context.wrap_socket(sock, server_hostname=server_hostname):
                    pass
        except (OSError, ssl.SSLError):
            pass  # the capture server closes after the ClientHello
    return client


def handshake_message(records):
    """Concatenate the fragments of all records (the handshake byte stream)."""
    out, offset = b"", 0
    while offset < len(records):
        length = struct.unpack("!H", records[offset + 3:offset + 5])[0]
        out += records[offset + 5:offset + 5 + length]
        offset += 5 + length
    return out


def record(fragment, version=b"\x03\x01"):
    return b"\x16" + version + struct.pack("!H", len(fragment)) + fragment


def split_into_two_records(records, first_fragment_length):
    """Re-record one captured ClientHello message as two handshake records."""
    message = handshake_message(records)
    return record(message[:first_fragment_length]) + record(message[first_fragment_length:])


def add_padding_extension(records, padding_length):
    """Append a padding extension (type 21, RFC 7685) and fix the three lengths.

    Layout fixed up: extensions length (uint16), handshake length (uint24),
    record length (uint16). The input must be a single-record hello.
    """
    message = handshake_message(records)
    body = message[4:]
    offset = 2 + 32                       # legacy_version, random
    offset += 1 + body[offset]            # session_id
    offset += 2 + struct.unpack("!H", body[offset:offset + 2])[0]  # cipher_suites
    offset += 1 + body[offset]            # compression_methods
    extensions_length = struct.unpack("!H", body[offset:offset + 2])[0]
    assert offset + 2 + extensions_length == len(body)
    padding = struct.pack("!HH", 21, padding_length) + b"\x00" * padding_length
    extensions = body[offset + 2:] + padding
    body = body[:offset] + struct.pack("!H", len(extensions)) + extensions
    return record(b"\x01" + len(body).to_bytes(3, "big") + body)


def main():
    openssl_h2 = capture("openssl-sni-alpn.bin",
                         openssl_client("-servername", SNI, "-alpn", "h2,http/1.1"))
    capture("curl-sni.bin", curl_client)
    capture("python-no-sni.bin", python_client(None))
    capture("openssl-tls12.bin", openssl_client("-tls1_2", "-servername", SNI))
    # A real multi-record hello: OpenSSL splits its own ClientHello into 512-byte
    # records when asked to (max_send_frag); a long ALPN list makes it ~3 KiB.
    alpn = ",".join(f"x-pacs-{i:04d}" for i in range(200))
    capture("openssl-fragmented.bin",
            openssl_client("-servername", SNI, "-alpn", alpn, "-max_send_frag", "512"))
    # ~10 KiB in one record from Python ssl: 470 ALPN identifiers.
    capture("python-large-alpn.bin",
            python_client("big.mach7.test", [f"x-pacs-protocol-{i:04d}" for i in range(470)]))

    # Derived: the openssl hello re-recorded as two records (split after 100 handshake bytes).
    write_fixture("openssl-two-records.bin", split_into_two_records(openssl_h2, 100))
    # Derived: the openssl hello grown to ~10 KiB with a padding extension.
    write_fixture("openssl-padded-10k.bin", add_padding_extension(openssl_h2, 10 * 1024 - len(openssl_h2)))


if __name__ == "__main__":
    main()
