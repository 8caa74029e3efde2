#!/usr/bin/env bash
# Soak: SOAK_SECONDS (default 600) of mixed load through one pacsgate process — DICOM C-ECHO associations with dcmtk's
# echoscu, HL7 messages with python-hl7's MLLPClient, HTTPS requests with curl through a TLS passthrough service —
# with a configuration reload (SIGHUP) every 30 s. Every peer is real and local (127.0.0.1):
#   DICOM → dcmtk storescp, HL7 → python-hl7 receiver (Tests/PacsgateHL7Tests/Fixtures/peers/hl7_receiver.py),
#   HTTPS → openssl s_server -www with a throw-away self-signed certificate.
# Prints a report: operations and errors per protocol (errors must be 0), pacsgate's RSS over time (must be flat),
# audit records against operations (dicom.association = associations, hl7.message = messages,
# tls.connection = requests). Exits non-zero when any of the three does not hold.
#
#   scripts/soak.sh                 10 minutes, debug build
#   SOAK_SECONDS=180 scripts/soak.sh
#   PACSGATE_BIN=.build/release/pacsgate scripts/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

seconds="${SOAK_SECONDS:-600}"
reload_every="${SOAK_RELOAD_SECONDS:-30}"
sample_every=10
bin="${PACSGATE_BIN:-}"
if [ -z "$bin" ]; then
    swift build --product pacsgate >/dev/null
    bin="$root/.build/debug/pacsgate"
fi
for tool in /usr/bin/echoscu /usr/bin/storescp openssl curl python3; do
    command -v "$tool" >/dev/null || { echo "soak: $tool is not installed (scripts/install-test-deps.sh)"; exit 1; }
done
python3 -c 'import hl7' 2>/dev/null || { echo "soak: python-hl7 is not installed (pip install hl7)"; exit 1; }

work="$(mktemp -d /tmp/pacsgate-soak.XXXXXX)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {  # by the kernel's table, without connecting (a probe connection would be audited)
    local hex
    hex="$(printf ':%04X$' "$1")"
    for _ in $(seq 1 150); do
        awk -v p="$hex" '$2 ~ p && $4 == "0A" { found = 1 } END { exit !found }' /proc/net/tcp && return 0
        sleep 0.1
    done
    echo "soak: nothing listens on $1"; return 1
}

# --- backends -------------------------------------------------------------------------------------------------
scp_port="$(free_port)"
mkdir -p "$work/received"
/usr/bin/storescp -aet MACH7 -od "$work/received" "$scp_port" >"$work/storescp.log" 2>&1 &
pids+=($!)
python3 Tests/PacsgateHL7Tests/Fixtures/peers/hl7_receiver.py --port-file "$work/hl7.port" --out "$work/hl7.received" \
    >"$work/hl7_receiver.log" 2>&1 &
pids+=($!)
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=viewer.soak.test" -keyout "$work/key.pem" \
    -out "$work/cert.pem" >/dev/null 2>&1
https_port="$(free_port)"
openssl s_server -quiet -www -accept "127.0.0.1:$https_port" -cert "$work/cert.pem" -key "$work/key.pem" \
    >"$work/s_server.log" 2>&1 &
pids+=($!)
wait_port "$scp_port"
wait_port "$https_port"
for _ in $(seq 1 100); do [ -s "$work/hl7.port" ] && break; sleep 0.1; done
hl7_port="$(cat "$work/hl7.port")"

# --- gateway --------------------------------------------------------------------------------------------------
dicom_port="$(free_port)"; mllp_port="$(free_port)"; tls_port="$(free_port)"
write_config() {  # $1: the DICOM server's weight, changed at every reload so the reload is a real change
    cat >"$work/pacsgate.yaml.new" <<YAML
logging: { level: notice }
services:
  - label: DICOM
    listen: "127.0.0.1:$dicom_port"
    protocol: dicom
    health_check: { type: dicom-echo, called_ae: MACH7, interval: 5s, timeout: 2s }
    servers:
      - { label: DICOM1, address: "127.0.0.1:$scp_port", weight: $1 }
  - label: HL7
    listen: "127.0.0.1:$mllp_port"
    protocol: hl7
    servers:
      - { label: HL7A, address: "127.0.0.1:$hl7_port" }
  - label: HTTPS
    listen: "127.0.0.1:$tls_port"
    protocol: tls
    servers:
      - { label: HTTPS1, address: "127.0.0.1:$https_port" }
audit: { path: "$work/audit.jsonl", fsync: every }
YAML
    mv "$work/pacsgate.yaml.new" "$work/pacsgate.yaml"
}
write_config 1
chmod 600 "$work/pacsgate.yaml"
"$bin" run --config "$work/pacsgate.yaml" >"$work/pacsgate.log" 2>&1 &
gateway=$!
pids+=($gateway)
wait_port "$dicom_port"; wait_port "$mllp_port"; wait_port "$tls_port"

# --- load -----------------------------------------------------------------------------------------------------
end=$(( $(date +%s) + seconds ))
dicom_loop() {
    local ok=0 failed=0
    while [ "$(date +%s)" -lt "$end" ]; do
        if /usr/bin/echoscu -aet SOAKSCU -aec MACH7 127.0.0.1 "$dicom_port" >>"$work/echoscu.log" 2>&1; then
            ok=$((ok + 1)); else failed=$((failed + 1)); fi
    done
    echo "$ok $failed" >"$work/dicom.result"
}
hl7_loop() {
    python3 - "$mllp_port" "$end" >"$work/hl7.result" 2>>"$work/hl7_client.log" <<'PY'
import sys, time
import hl7
from hl7.client import MLLPClient
port, end = int(sys.argv[1]), int(sys.argv[2])
ok = failed = sent = 0
client = None
while time.time() < end:
    sent += 1
    message = "\r".join([
        f"MSH|^~\\&|SOAK|HOSP|MACH7|PACS|20250101120000||ADT^A08|SOAK{sent:08d}|P|2.5.1",
        "EVN|A08|20250101120000",
        "PID|1||DEMO-0001^^^HOSP^MR||DEMO^PATIENT",
    ]) + "\r"
    try:
        if client is None or sent % 50 == 1:  # a new connection every 50 messages
            if client is not None:
                client.close()
            client = MLLPClient("127.0.0.1", port)
            client.socket.settimeout(20)
        reply = client.send_message(message)
        if isinstance(reply, bytes):
            reply = reply.decode("ascii", "replace")
        ack = hl7.parse(reply)
        if str(ack.segment("MSA")[1]) == "AA" and str(ack.segment("MSA")[2]) == f"SOAK{sent:08d}":
            ok += 1
        else:
            failed += 1
            print(f"unexpected ACK: {reply!r}", file=sys.stderr)
    except Exception as error:
        failed += 1
        client = None
        print(f"error: {error}", file=sys.stderr)
    time.sleep(0.02)
if client is not None:
    client.close()
print(ok, failed)
PY
}
tls_loop() {
    local ok=0 failed=0
    while [ "$(date +%s)" -lt "$end" ]; do
        if curl -sk --max-time 20 -o /dev/null -w '%{http_code}' --resolve "viewer.soak.test:$tls_port:127.0.0.1" \
            "https://viewer.soak.test:$tls_port/" 2>>"$work/curl.log" | grep -q '^200$'; then
            ok=$((ok + 1)); else failed=$((failed + 1)); fi
        sleep 0.05
    done
    echo "$ok $failed" >"$work/tls.result"
}
dicom_loop & loops=($!)
hl7_loop & loops+=($!)
tls_loop & loops+=($!)

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$gateway/status" 2>/dev/null || echo 0; }
samples=()
reloads=0
weight=1
start=$(date +%s)
next_reload=$((start + reload_every))
while [ "$(date +%s)" -lt "$end" ]; do
    sleep "$sample_every"
    now=$(date +%s)
    samples+=("$((now - start))s:$(rss)")
    if [ "$now" -ge "$next_reload" ]; then
        weight=$(( weight % 5 + 1 ))
        write_config "$weight"
        kill -HUP "$gateway"
        reloads=$((reloads + 1))
        next_reload=$((now + reload_every))
    fi
done
for pid in "${loops[@]}"; do wait "$pid"; done
sleep 2  # the last records are durable before pacsgate acknowledges the close; give the file a moment
kill -TERM "$gateway"
wait "$gateway" || true

# --- report ---------------------------------------------------------------------------------------------------
read -r dicom_ok dicom_failed <"$work/dicom.result"
read -r hl7_ok hl7_failed <"$work/hl7.result"
read -r tls_ok tls_failed <"$work/tls.result"
count() { grep -c "\"event\":\"$1\"" "$work/audit.jsonl" || true; }
audit_dicom=$(count dicom.association)
audit_hl7=$(count hl7.message)
audit_tls=$(count tls.connection)
invalid=$(python3 -c '
import json, sys
bad = 0
for line in open(sys.argv[1]):
    try: json.loads(line)
    except ValueError: bad += 1
print(bad)' "$work/audit.jsonl")
reloaded=$(grep -c "configuration reloaded" "$work/pacsgate.log" || true)
errors=$((dicom_failed + hl7_failed + tls_failed))
# Flat RSS: the highest sample of the last third may exceed the highest of the first third (after one warm-up
# sample) by at most 16 MiB.
read -r rss_first rss_last rss_growth rss_flat < <(printf '%s\n' "${samples[@]}" | awk -F: '
    { v[NR] = $2 } END {
        n = NR; third = int(n / 3); if (third < 1) third = 1
        a = 0; for (i = 2; i <= 1 + third && i <= n; i++) if (v[i] > a) a = v[i]
        b = 0; for (i = n - third + 1; i <= n; i++) if (v[i] > b) b = v[i]
        print a, b, b - a, (b - a <= 16384 ? "yes" : "no") }')

echo "soak report ($(date -u +%Y-%m-%dT%H:%MZ), ${seconds}s, reload every ${reload_every}s, $(nproc) cores)"
echo "  pacsgate:     $bin"
echo "  DICOM:        $dicom_ok associations (echoscu C-ECHO), $dicom_failed failed"
echo "  HL7:          $hl7_ok messages acknowledged AA (python-hl7), $hl7_failed failed"
echo "  HTTPS:        $tls_ok requests answered 200 (curl via TLS passthrough), $tls_failed failed"
echo "  reloads:      $reloads SIGHUP sent, $reloaded logged"
echo "  errors:       $errors"
echo "  audit:        dicom.association $audit_dicom (associations $dicom_ok), hl7.message $audit_hl7" \
    "(messages $hl7_ok), tls.connection $audit_tls (requests $tls_ok), lines not JSON: $invalid"
echo "  RSS (KiB):    ${samples[*]}"
echo "  RSS flat:     $rss_flat (peak of first third $rss_first KiB, of last third $rss_last KiB, growth $rss_growth KiB)"
status=0
[ "$errors" -eq 0 ] || { echo "soak: FAILED: $errors errors (logs in $work)"; status=1; }
[ "$audit_dicom" -eq "$((dicom_ok + dicom_failed))" ] || { echo "soak: FAILED: audit count differs from associations"; status=1; }
[ "$audit_hl7" -eq "$hl7_ok" ] || { echo "soak: FAILED: hl7.message records differ from messages"; status=1; }
[ "$audit_tls" -eq "$((tls_ok + tls_failed))" ] || { echo "soak: FAILED: tls.connection records differ from requests"; status=1; }
[ "$invalid" -eq 0 ] || { echo "soak: FAILED: audit lines that are not JSON"; status=1; }
[ "$rss_flat" = "yes" ] || { echo "soak: FAILED: RSS grew"; status=1; }
if [ $status -eq 0 ]; then rm -rf "$work"; else echo "soak: kept $work"; fi
exit $status
