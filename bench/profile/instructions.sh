#!/bin/bash
# Instructions per proxied connection, counted by callgrind: deterministic, so an A/B comparison holds on a busy
# machine (docs/benchmarks.md, "Instructions per connection").
#
#   bench/profile/instructions.sh PACSGATE [CONNECTIONS] [tcp|dicom|mllp|idle ...]
#
# PACSGATE is a release binary; a copy without its debug info is profiled (valgrind 3.19 cannot read Swift 6.3's
# DWARF 5). Everything runs in a network namespace of its own (root; no port can clash with another run): the bench's
# built-in backends (`pacsgate-bench serve`), `pacsgate-load serve` as the tcp backend, and the gateway under
# callgrind pinned to one CPU (one reactor), with the bench's configuration (audit on, `fsync: interval`, logging at
# notice). Per scenario: 50 connections to warm up, counters zeroed, CONNECTIONS (default 500) one at a time through
# `pacsgate-load` with the bench's scripts (tcp 200 B → 100 B, echoscu's associate → C-ECHO → release, a 1 KiB
# ORM^O01 → ACK), 6 s for the audit writer and index to settle, counters dumped (and 6 s before zeroing, so the
# previous scenario's records are indexed first). `idle` dumps 10 s without traffic:
# the timers' share, to subtract. Needs valgrind, and pacsgate-bench and pacsgate-load built
# (`swift build -c release --package-path bench --scratch-path bench/.build-bench`); LOAD_DIR overrides where.
# Prints Ir per connection: all threads, the reactor thread (forwarding, inspection, building audit records), the
# audit writer, and the other threads (the audit search index, timers); the callgrind files stay in the work
# directory for callgrind_annotate.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PACSGATE=$(realpath "$1"); CONNECTIONS=${2:-500}; shift; shift || true
SCENARIOS=${*:-tcp dicom mllp}
LOAD_DIR=${LOAD_DIR:-$ROOT/bench/.build-bench/release}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pacsgate-instructions.XXXXXX")
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
gcc -O2 -shared -fPIC -o "$WORK/sigsuspend-shim.so" "$ROOT/bench/profile/sigsuspend-shim.c"
objcopy --strip-debug "$PACSGATE" "$WORK/pacsgate"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=pacs.mach7.test -days 2 \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

cat > "$WORK/pacsgate.yaml" <<YAML
logging: { level: notice }
audit: { path: "$WORK/audit.jsonl", fsync: interval }
services:
  - { label: DICOM, listen: "127.0.0.1:24102", protocol: dicom, maxconn: 20000, servers: [{ label: DICOM1, address: "127.0.0.1:24202" }] }
  - { label: HL7, listen: "127.0.0.1:24104", protocol: hl7, maxconn: 20000, servers: [{ label: HL71, address: "127.0.0.1:24204" }] }
  - { label: TCPRR, listen: "127.0.0.1:24108", protocol: tcp, maxconn: 20000, servers: [{ label: TCPRR1, address: "127.0.0.1:24208" }] }
YAML

# The scripts are the bytes pacsgate-bench gives pacsgate-load (its *-syscalls.script files).
SCRIPTS=$ROOT/bench/profile
export WORK LOAD_DIR SCRIPTS CONNECTIONS SCENARIOS
unshare -n bash -c '
set -u
ip link set lo up
cd "$WORK"
"$LOAD_DIR/pacsgate-bench" serve --work "$WORK" > backends.log 2>&1 &
"$LOAD_DIR/pacsgate-load" serve --port 24208 --request 200 --response 100 > serve.log 2>&1 &
LD_PRELOAD="$WORK/sigsuspend-shim.so" taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out" \
    "$WORK/pacsgate" run --config "$WORK/pacsgate.yaml" > gateway.log 2>&1 &
GATEWAY=$!
load() { "$LOAD_DIR/pacsgate-load" client --port "$1" --script "$SCRIPTS/$2.script" --concurrency 1 --warmup 0 --duration 1 --operations "$3"; }
for attempt in $(seq 1 60); do
    sleep 2
    if timeout 20 "$LOAD_DIR/pacsgate-load" client --port 24108 --script "$SCRIPTS/tcp-connect.script" --concurrency 1 \
        --warmup 0 --duration 1 --operations 1 2>/dev/null | grep -q "\"errors\": *0"; then break; fi
done
for scenario in $SCENARIOS; do
    if [ "$scenario" = idle ]; then
        callgrind_control -z $GATEWAY > /dev/null; sleep 10; callgrind_control -d idle $GATEWAY > /dev/null
        echo "{\"errors\": 0}" > idle.result
        continue
    fi
    case $scenario in
        tcp) port=24108; script=tcp-connect ;;
        dicom) port=24102; script=dicom-assoc ;;
        mllp) port=24104; script=mllp-connect ;;
        *) echo "unknown scenario $scenario" >&2; continue ;;
    esac
    load $port $script 50 > /dev/null
    sleep 6
    callgrind_control -z $GATEWAY > /dev/null
    load $port $script "$CONNECTIONS" > "$scenario.result"
    sleep 6
    callgrind_control -d "$scenario" $GATEWAY > /dev/null
done
kill -INT $GATEWAY; wait $GATEWAY || true
kill %1 %2 2> /dev/null || true
'
python3 "$ROOT/bench/profile/per_connection.py" "$WORK" "$CONNECTIONS" $SCENARIOS
echo "callgrind files: $WORK/callgrind.out.* (callgrind_annotate --inclusive=yes FILE)"
