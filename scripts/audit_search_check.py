#!/usr/bin/env python3
"""Generates a large audit log and checks `pacsgate audit search` against a brute-force scan of the same files.

    python3 scripts/audit_search_check.py generate --dir DIR --records 1000000 --files 10
    python3 scripts/audit_search_check.py check --dir DIR --bin .build/debug/pacsgate [--csv]

generate: writes DIR/audit.jsonl and DIR/audit.jsonl.1 … .N-1 (the newest records in audit.jsonl, as the gateway
rotates) with records shaped like the gateway's own (dicom.association and .start, hl7.message, hl7.rejected,
tls.connection, admin.*), times spread over ten days and written slightly out of order (an association's record
carries its start time and is written when it ends), AE titles with wildcard-like and escaped bytes, IPv4 and IPv6
clients. Deterministic for a seed.

check: for each filter (every one the command has, alone and combined) runs the command with --format json
--limit 0, and compares its output line for line with the records a scan of the files selects, newest first (by
time, then by position in the log). Also pages through one query with --limit/--cursor, and with --csv reads the
CSV export back with Python's csv module and compares it with the JSON lines. Then deletes the index and checks
that it is rebuilt and answers the same, and appends a record and checks that the next search finds it. Prints one line per check with its
time; exits 1 on the first difference.
"""
import argparse
import csv
import io
import ipaddress
import json
import os
import random
import re
import subprocess
import sys
import time
from datetime import datetime, timezone

START = datetime(2026, 11, 16, 0, 0, tzinfo=timezone.utc).timestamp()
SPAN_SECONDS = 10 * 86400

CALLING = ["CT01", "CT02", "CT03", "MR01", "MR02", "US01", "US02", "CR01", "DX01", "NM01", "PT01", "XA01",
           "WS-RAD1", "WS-RAD2", "MODALITY1", "STORESCU", "ECHOSCU", "CT[1]", "QA*TEST", "EVIL\\x0D\\x0A", "MACH7-QR"]
CALLED = ["MACH7", "MACH7-ARCH1", "MACH7-ARCH2", "MACH7-WL", "ANY-SCP"]
DICOM_OUTCOMES = ["released"] * 14 + ["aborted-by-client", "aborted-by-server", "rejected-by-gateway",
                                      "rejected-by-server", "protocol-error", "timeout"]
HL7_TYPES = ["ADT^A01^ADT_A01", "ADT^A04", "ADT^A08^ADT_A01", "ORM^O01^ORM_O01", "ORU^R01", "SIU^S12"]
ACKS = ["AA"] * 12 + ["AE", "AR", "CA", "none"]
SNIS = ["viewer.hospital.example", "api.hospital.example", "mach7.example.org", "ris.example.org", None]
TLS_OUTCOMES = ["forwarded"] * 8 + ["rejected", "handshake_failed", "incomplete", "unavailable"]
SERVERS = {"DICOM": [("DICOM1", "192.168.110.150:11112"), ("DICOM2", "192.168.110.151:11112")],
           "DMWL": [("DMWL1", "192.168.110.150:5104"), ("DMWL2", "192.168.110.151:5104")],
           "HL7": [("HL71", "192.168.110.150:6667"), ("HL72", "192.168.110.151:6667")],
           "HTTPS": [("HTTPS1", "192.168.110.150:443"), ("HTTPS2", "[fd00:110::151]:443")]}


def iso(ms):
    seconds, millis = divmod(ms, 1000)
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % millis


def client(rng):
    pick = rng.random()
    if pick < 0.7:
        return "10.20.%d.%d:%d" % (rng.randrange(0, 8), rng.randrange(1, 255), rng.randrange(30000, 60000))
    if pick < 0.9:
        return "172.16.%d.%d:%d" % (rng.randrange(0, 4), rng.randrange(1, 255), rng.randrange(30000, 60000))
    return "[fd00:20::%x]:%d" % (rng.randrange(1, 4096), rng.randrange(30000, 60000))


def server_json(label, address):
    return '{"label":"%s","address":"%s"}' % (label, address)


def record(rng, ms, serial):
    kind = rng.random()
    t = iso(ms)
    c = client(rng)
    if kind < 0.60:
        service = "DICOM" if rng.random() < 0.8 else "DMWL"
        calling = rng.choice(CALLING)
        called = rng.choice(CALLED)
        outcome = rng.choice(DICOM_OUTCOMES)
        if outcome == "rejected-by-gateway":
            server = "null"
        else:
            server = server_json(*rng.choice(SERVERS[service]))
        calling_json = json.dumps(calling)
        if kind >= 0.50:
            return ('{"time":"%s","event":"dicom.association.start","service":"%s","client":"%s","server":%s,'
                    '"calling_ae":%s,"called_ae":"%s","proposed_contexts":1,"max_pdu":16384}'
                    % (t, service, c, server, calling_json, called))
        return ('{"time":"%s","event":"dicom.association","service":"%s","client":"%s","server":%s,"calling_ae":%s,'
                '"called_ae":"%s","contexts":[{"id":1,"uid":"1.2.840.10008.1.1","name":"Verification SOP Class",'
                '"accepted":true}],"max_pdu":16384,"accepted_contexts":1,"outcome":"%s","reject":null,'
                '"bytes_up":%d,"bytes_down":%d,"duration_ms":%d,"end":"closed by both sides"}'
                % (t, service, c, server, calling_json, called, outcome, rng.randrange(200, 10 ** 7),
                   rng.randrange(200, 10 ** 5), rng.randrange(1, 60000)))
    if kind < 0.85:
        server = server_json(*rng.choice(SERVERS["HL7"]))
        sending = rng.choice(["RIS", "HIS", "EPIC", "CERNER"])
        ack = rng.choice(ACKS)
        return ('{"time":"%s","event":"hl7.message","service":"HL7","client":"%s","server":%s,"sending_app":"%s",'
                '"sending_facility":"HOSP","receiving_app":"PACS","receiving_facility":"MACH7","message_type":"%s",'
                '"control_id":"C%d","version":"2.5.1","bytes":%d,"ack_code":"%s","ack_ms":%s}'
                % (t, c, server, sending, rng.choice(HL7_TYPES), serial, rng.randrange(100, 5000), ack,
                   "null" if ack == "none" else str(rng.randrange(1, 900))))
    if kind < 0.87:
        return ('{"time":"%s","event":"hl7.rejected","service":"HL7","client":"%s","server":null,"reason":"not_msh",'
                '"detail":"segment 1 is not MSH","offset":0,"bytes":%d,"action":"nak","nak_code":"AR",'
                '"sending_app":null,"message_type":null,"control_id":null}' % (t, c, rng.randrange(10, 500)))
    if kind < 0.97:
        sni = rng.choice(SNIS)
        outcome = rng.choice(TLS_OUTCOMES)
        server = "null" if outcome in ("rejected", "unavailable") else server_json(*rng.choice(SERVERS["HTTPS"]))
        return ('{"time":"%s","event":"tls.connection","service":"HTTPS","client":"%s","server":%s,'
                '"mode":"passthrough","sni":%s,"alpn":["h2","http/1.1"],"bytes_up":%d,"bytes_down":%d,'
                '"outcome":"%s","refusal":null,"reason":"closed by both sides"}'
                % (t, c, server, json.dumps(sni), rng.randrange(100, 10 ** 6), rng.randrange(100, 10 ** 6), outcome))
    user = rng.choice(["alice", "bob", "token:ci"])
    what = rng.random()
    address = "10.1.2.%d" % rng.randrange(1, 50)
    if what < 0.5:
        return ('{"time":"%s","event":"admin.login","user":"%s","client":"%s","result":"%s"}'
                % (t, user, address, rng.choice(["ok", "ok", "failed", "throttled"])))
    return ('{"time":"%s","event":"admin.change","user":"%s","what":"server.weight","service":"DICOM",'
            '"server":"DICOM%d","before":100,"after":%d}' % (t, user, rng.randrange(1, 3), rng.randrange(0, 200)))


def generate(args):
    rng = random.Random(args.seed)
    os.makedirs(args.dir, exist_ok=True)
    per_file = args.records // args.files
    step_ms = SPAN_SECONDS * 1000 / args.records
    serial = 0
    started = time.monotonic()
    # Oldest file first: audit.jsonl.N-1 … .1, then audit.jsonl.
    for index in range(args.files - 1, -1, -1):
        name = os.path.join(args.dir, "audit.jsonl" + ("" if index == 0 else ".%d" % index))
        lines = []
        count = per_file if index > 0 else args.records - per_file * (args.files - 1)
        for _ in range(count):
            # Written in order of ending; the time is when it started, up to a few seconds before.
            ms = int(START * 1000 + serial * step_ms) - rng.randrange(0, 5000)
            lines.append(record(rng, ms, serial))
            serial += 1
        with open(name, "w") as handle:
            handle.write("\n".join(lines) + "\n")
    print("generated %d records in %d files in %.1f s" % (serial, args.files, time.monotonic() - started))


# --- brute force -------------------------------------------------------------------------------------------------

def to_ms(text):
    if not isinstance(text, str) or not text.endswith("Z"):
        return 0
    try:
        moment = datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return 0
    fraction = text[20:-1] if len(text) > 20 and text[19] == "." else ""
    millis = int((fraction + "000")[:3]) if fraction else 0
    return int(moment.timestamp()) * 1000 + millis


def address_of(text):
    if not isinstance(text, str):
        return None
    host = text
    if host.startswith("["):
        host = host[1:host.index("]")]
    elif host.count(":") == 1:
        host = host.split(":")[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return address if address.version == 6 else ipaddress.IPv6Address("::ffff:" + str(address))


def network_of(text):
    network = ipaddress.ip_network(text, strict=False)
    if network.version == 4:
        return ipaddress.ip_network("::ffff:%s/%d" % (network.network_address, 96 + network.prefixlen))
    return network


def pattern_matcher(pattern):
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    compiled = re.compile(regex + r"\Z", re.S)
    return lambda value: isinstance(value, str) and compiled.match(value) is not None


def outcome_of(obj):
    """outcome, else the first of result, ack_code, reason the record has as a string."""
    if isinstance(obj.get("outcome"), str):
        return obj["outcome"]
    for key in obj:
        if key in ("result", "ack_code", "reason") and isinstance(obj[key], str):
            return obj[key]
    return None


def fields(obj):
    server = obj.get("server")
    outcome = outcome_of(obj)
    return {
        "time": to_ms(obj.get("time")),
        "event": obj.get("event"), "service": obj.get("service"),
        "calling_ae": obj.get("calling_ae"), "called_ae": obj.get("called_ae"),
        "client": address_of(obj.get("client")),
        "server": server.get("label") if isinstance(server, dict) else server if isinstance(server, str) else None,
        "server_address": address_of(server.get("address")) if isinstance(server, dict) else None,
        "outcome": outcome, "sni": obj.get("sni"), "message_type": obj.get("message_type"),
        "control_id": obj.get("control_id"),
    }


def load(directory):
    files = sorted((name for name in os.listdir(directory) if re.fullmatch(r"audit\.jsonl(\.\d+)?", name)),
                   key=lambda name: -int(name.rsplit(".", 1)[1]) if name[-1].isdigit() else 1)
    records = []
    position = 0
    for name in files:
        with open(os.path.join(directory, name), encoding="utf-8") as handle:
            for line in handle:
                line = line.rstrip("\n")
                records.append((fields(json.loads(line)), position, line))
                position += 1
    return records


def select(records, filters):
    tests = []
    for name, value in filters.items():
        if name == "since":
            tests.append(lambda f, v=to_ms(value): f["time"] >= v)
        elif name == "until":
            tests.append(lambda f, v=to_ms(value): f["time"] < v)
        elif name == "client":
            net = network_of(value)
            tests.append(lambda f, n=net: f["client"] is not None and f["client"] in n)
        elif name == "server":
            try:
                net = network_of(value)
                tests.append(lambda f, n=net: f["server_address"] is not None and f["server_address"] in n)
            except ValueError:
                match = pattern_matcher(value)
                tests.append(lambda f, m=match: m(f["server"]))
        else:
            match = pattern_matcher(value)
            tests.append(lambda f, m=match, k=name: m(f[k]))
    chosen = [(f["time"], position, line) for f, position, line in records if all(test(f) for test in tests)]
    chosen.sort(reverse=True)
    return [line for _, _, line in chosen]


# --- checks -------------------------------------------------------------------------------------------------------

def run(binary, directory, filters, extra):
    command = [binary, "audit", "search", "--log", os.path.join(directory, "audit.jsonl")]
    for name, value in filters.items():
        command += ["--" + name.replace("_", "-"), value]
    command += extra
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, timeout=900)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        fail("%s exited %d: %s" % (" ".join(command), result.returncode, result.stderr.decode(errors="replace")))
    return result.stdout.decode("utf-8"), result.stderr.decode("utf-8", errors="replace"), elapsed


def fail(message):
    print("FAIL: " + message, flush=True)
    sys.exit(1)


FILTERS = [
    {"calling_ae": "CT01", "since": "2026-11-20T00:00:00Z", "until": "2026-11-21T00:00:00Z"},
    {"since": "2026-11-18T14:00:00Z", "until": "2026-11-18T15:00:00Z"},
    {"event": "admin.change"},
    {"event": "hl7.*", "since": "2026-11-24T00:00:00Z"},
    {"service": "DMWL", "until": "2026-11-17T00:00:00Z"},
    {"calling_ae": "MR0?", "since": "2026-11-22T00:00:00Z", "until": "2026-11-23T00:00:00Z"},
    {"calling_ae": "CT[1]"},
    {"calling_ae": "QA*TEST", "since": "2026-11-25T00:00:00Z"},
    {"calling_ae": "EVIL\\x0D*"},
    {"called_ae": "MACH7-ARCH2", "since": "2026-11-19T06:00:00Z", "until": "2026-11-19T18:00:00Z"},
    {"client": "10.20.3.0/24", "since": "2026-11-21T00:00:00Z", "until": "2026-11-22T00:00:00Z"},
    {"client": "172.16.2.17"},
    {"client": "fd00:20::/116", "since": "2026-11-17T00:00:00Z", "until": "2026-11-18T00:00:00Z"},
    {"server": "DICOM2", "since": "2026-11-23T12:00:00Z", "until": "2026-11-23T13:00:00Z"},
    {"server": "fd00:110::/64", "since": "2026-11-20T00:00:00Z", "until": "2026-11-20T06:00:00Z"},
    {"server": "192.168.110.150", "event": "dicom.association", "since": "2026-11-16T12:00:00Z", "until": "2026-11-16T14:00:00Z"},
    {"outcome": "rejected-by-gateway", "until": "2026-11-18T00:00:00Z"},
    {"outcome": "abort*", "service": "DICOM", "since": "2026-11-25T12:00:00Z"},
    {"outcome": "AR", "event": "hl7.message"},
    {"outcome": "failed"},
    {"sni": "*.example.org", "since": "2026-11-22T00:00:00Z", "until": "2026-11-23T00:00:00Z"},
    {"message_type": "ADT^A0*", "since": "2026-11-20T00:00:00Z", "until": "2026-11-20T12:00:00Z"},
    {"control_id": "C777777"},
    {"service": "HL7", "outcome": "AE", "client": "10.20.0.0/16", "since": "2026-11-19T00:00:00Z", "until": "2026-11-20T00:00:00Z"},
    {"calling_ae": "NOBODY"},
]


def check(args):
    started = time.monotonic()
    records = load(args.dir)
    print("brute force: %d records read in %.1f s" % (len(records), time.monotonic() - started), flush=True)
    # The first search builds the index: timed on its own.
    output, _, elapsed = run(args.bin, args.dir, FILTERS[0], ["--format", "json", "--limit", "0"])
    print("index built and first search answered in %.1f s" % elapsed, flush=True)
    for filters in FILTERS:
        expected = select(records, filters)
        output, _, elapsed = run(args.bin, args.dir, filters, ["--format", "json", "--limit", "0"])
        got = output.splitlines()
        if got != expected:
            first = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
            fail("%s: %d records, the scan selects %d; first difference at %d:\n  got      %s\n  expected %s"
                 % (filters, len(got), len(expected), first, got[first] if first < len(got) else "(none)",
                    expected[first] if first < len(expected) else "(none)"))
        print("ok %-110s %7d records  %.2f s" % (json.dumps(filters), len(got), elapsed), flush=True)
    # Pages: --limit with the cursor each page prints, until the last.
    filters = {"event": "tls.connection", "since": "2026-11-21T00:00:00Z", "until": "2026-11-21T06:00:00Z"}
    expected = select(records, filters)
    pages = []
    cursor = None
    while True:
        extra = ["--format", "json", "--limit", "997"] + (["--cursor", cursor] if cursor else [])
        output, errors, _ = run(args.bin, args.dir, filters, extra)
        pages += output.splitlines()
        found = re.search(r"--cursor (\S+)", errors)
        if not found:
            break
        cursor = found.group(1)
    if pages != expected:
        fail("paging through %s gave %d records, the scan %d" % (filters, len(pages), len(expected)))
    print("ok paged through %d records 997 at a time" % len(pages), flush=True)
    check_rebuild(args, records)
    check_fresh(args)
    if args.csv:
        check_csv(args, records)
    print("PASS in %.1f s" % (time.monotonic() - started), flush=True)


def check_rebuild(args, records):
    """The index is a cache of the log: deleted, it is rebuilt from the files and answers the same."""
    index = os.path.join(args.dir, "audit.jsonl.index.sqlite")
    if not os.path.exists(index):
        fail("no index at %s after the searches" % index)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(index + suffix):
            os.remove(index + suffix)
    filters = FILTERS[0]
    output, _, elapsed = run(args.bin, args.dir, filters, ["--format", "json", "--limit", "0"])
    if output.splitlines() != select(records, filters):
        fail("after deleting the index, %s answers differently from the scan" % json.dumps(filters))
    if not os.path.exists(index):
        fail("the deleted index was not rebuilt")
    print("ok index deleted, rebuilt from the log and answering the same in %.1f s" % elapsed, flush=True)


def check_fresh(args):
    """A record appended to the log a moment ago is found by the next search (the index catches up first)."""
    line = ('{"time":"2026-11-26T00:00:00.000Z","event":"dicom.association","service":"DICOM",'
            '"client":"10.99.0.1:40000","server":null,"calling_ae":"JUST-NOW","called_ae":"MACH7",'
            '"outcome":"rejected-by-gateway"}')
    with open(os.path.join(args.dir, "audit.jsonl"), "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
    output, _, _ = run(args.bin, args.dir, {"calling_ae": "JUST-NOW"}, ["--format", "json", "--limit", "0"])
    if output.splitlines() != [line]:
        fail("the record appended a moment ago was not found: %r" % output)
    print("ok a record appended a moment ago is found", flush=True)


def check_csv(args, records):
    filters = {"since": "2026-11-18T14:00:00Z", "until": "2026-11-18T16:00:00Z"}
    json_out, _, _ = run(args.bin, args.dir, filters, ["--format", "json", "--limit", "0"])
    csv_out, _, _ = run(args.bin, args.dir, filters, ["--format", "csv", "--limit", "0"])
    lines = json_out.splitlines()
    rows = list(csv.DictReader(io.StringIO(csv_out, newline="")))
    compare_csv(rows, lines, "csv export of %s" % json.dumps(filters))


def neutralized(value):
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def compare_csv(rows, lines, what):
    """The CSV rows must be the JSON lines' records, in the same order, with their fields."""
    if len(rows) != len(lines):
        fail("%s: %d rows, %d JSON lines" % (what, len(rows), len(lines)))
    for row, line in zip(rows, lines):
        if row["record"] != line:
            fail("%s: record column differs:\n  %s\n  %s" % (what, row["record"], line))
        obj = json.loads(line)
        server = obj.get("server")
        expected = {
            "time": obj.get("time"), "event": obj.get("event"), "service": obj.get("service"),
            "calling_ae": obj.get("calling_ae"), "called_ae": obj.get("called_ae"), "client": obj.get("client"),
            "server": server.get("label") if isinstance(server, dict) else server,
            "server_address": server.get("address") if isinstance(server, dict) else None,
            "outcome": outcome_of(obj), "sni": obj.get("sni"), "message_type": obj.get("message_type"),
            "control_id": obj.get("control_id"),
        }
        for key, value in expected.items():
            want = neutralized(value) if isinstance(value, str) else ""
            if row[key] != want:
                fail("%s: column %s is %r, the record has %r" % (what, key, row[key], value))
    print("ok %s: %d rows read back with Python's csv module match the JSON lines" % (what, len(rows)), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate")
    gen.add_argument("--dir", required=True)
    gen.add_argument("--records", type=int, default=1000000)
    gen.add_argument("--files", type=int, default=10)
    gen.add_argument("--seed", type=int, default=21)
    chk = sub.add_parser("check")
    chk.add_argument("--dir", required=True)
    chk.add_argument("--bin", required=True)
    chk.add_argument("--csv", action="store_true")
    csvcheck = sub.add_parser("csv", help="compare a CSV file with a JSON-lines file (the API's two exports)")
    csvcheck.add_argument("--csv-file", required=True)
    csvcheck.add_argument("--json-file", required=True)
    args = parser.parse_args()
    if args.command == "generate":
        generate(args)
    elif args.command == "check":
        check(args)
    else:
        with open(args.csv_file, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        with open(args.json_file, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        compare_csv(rows, lines, "csv export")
    print("", end="", flush=True)


if __name__ == "__main__":
    main()
