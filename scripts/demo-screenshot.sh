#!/usr/bin/env bash
# Regenerates docs/admin-overview.png from the real demo: starts `pacsgate demo` in a scratch directory, drives a
# minute of traffic through it with the real peers (dcmtk echoscu/findscu, python-hl7's mllp_send, curl with SNI),
# then logs in with headless Chromium (scripts/admin_browser.py) and saves a screenshot of the System Overview.
# Needs the test dependencies (scripts/install-test-deps.sh) and the demo's ports free.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
output=${1:-$root/docs/admin-overview.png}
seconds=${SCREENSHOT_TRAFFIC_SECONDS:-70}

swift build --package-path "$root" --product pacsgate
binary=$(swift build --package-path "$root" --show-bin-path)/pacsgate
work=$(mktemp -d)
cd "$work"
"$binary" demo > demo.log 2>&1 &
demo=$!
trap 'kill "$demo" 2>/dev/null; wait "$demo" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do grep -q "admin server listening" demo.log && break; sleep 0.2; done
password=$(grep -o 'password [^ ]*' demo.log | head -1 | cut -d' ' -f2)
[ -n "$password" ] || { echo "the demo did not start:"; cat demo.log; exit 1; }

aes=(CT_SCANNER1 MR_3T US_ROOM3 CR_ER2 WORKSTATION7)
types=("ADT^A01" "ORM^O01" "ORU^R01" "ADT^A08")
end=$((SECONDS + seconds)); i=0; clients=()
while [ $SECONDS -lt $end ]; do
    i=$((i + 1)); ae=${aes[$((i % 5))]}
    /usr/bin/echoscu -aet "$ae" -aec MACH7 127.0.0.1 11112 >/dev/null 2>&1 & clients+=($!)
    /usr/bin/findscu -W -aet "$ae" -aec MACH7 -k PatientName 127.0.0.1 5104 >/dev/null 2>&1 & clients+=($!)
    printf '\x0bMSH|^~\\&|RIS|HOSP|PACS|MACH7|20250101120000||%s|MSG%05d|P|2.5.1\r\x1c\r' "${types[$((i % 4))]}" $i > message.hl7
    mllp_send -p 6667 -f message.hl7 127.0.0.1 >/dev/null 2>&1 & clients+=($!)
    if [ $((i % 2)) = 0 ]; then host=viewer.hospital.example; else host=portal.hospital.example; fi
    curl -sk --resolve "$host:8443:127.0.0.1" "https://$host:8443/" -o /dev/null & clients+=($!)
    sleep $(((i % 3) + 1))
done
wait "${clients[@]}"
python3 "$root/scripts/admin_browser.py" --url http://127.0.0.1:9443 --user admin --password "$password" \
    --expect DICOM:DICOM1,DICOM2 --expect HL7:HL71,HL72 --expect DMWL:DMWL1,DMWL2 --expect HTTPS:HTTPS1,HTTPS2 \
    --screenshot "$output"
