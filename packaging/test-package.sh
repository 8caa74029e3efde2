#!/usr/bin/env bash
# The Debian package end to end, as an operator meets it:
#   1. a clean clone of this checkout's HEAD, packaged by packaging/build-deb.sh (timed);
#   2. lintian without errors; the binary needs only Debian's own libraries (ldd, dpkg -S);
#   3. dpkg -i: `pacsgate --version`, `man pacsgate`, `check-config` of the shipped sample (as root and as the
#      pacsgate user), systemd-analyze verify of the installed unit (man page included), the unit enabled, the user,
#      the conffile, the keepalived helpers at the paths the samples name; the installed binary run as the pacsgate
#      user with a loopback configuration writes its state and audit log where the package puts them;
#   4. dpkg -r: every package file gone, the state and the audit log still there; dpkg --purge: the configuration
#      gone, state and audit log still there;
#   5. under a real systemd (a Debian 12 container): installed enabled but not started, systemctl start returning at
#      READY=1, the status line, watchdog pings, a connection held open across systemctl reload, journald
#      priorities, an upgrade restarting it, a clean stop.
#
#   sudo bash packaging/test-package.sh
#
# Separate from scripts/test.sh: the static release build alone takes longer than the test command's CI budget
# allows (docs/operations.md, "Testing the package"). Needs root, and a machine where no pacsgate package is installed
# and /var/lib/pacsgate, /var/log/pacsgate do not exist (it creates, checks and removes them). The last line says
# PASS or FAIL.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

failures=0
pass() { echo "ok    $*"; }
fail() { echo "FAIL  $*"; failures=$((failures + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
die() { echo "test-package: $*" >&2; echo "FAIL"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (dpkg -i, dpkg -r)"
bash scripts/install-test-deps.sh --packaging >&2
dpkg -s pacsgate >/dev/null 2>&1 && die "a pacsgate package is installed on this machine; this test installs and removes its own"
for directory in /var/lib/pacsgate /var/log/pacsgate /etc/pacsgate; do
    [ -e "$directory" ] && die "$directory exists (a real installation's data, or left by an interrupted run): move it away first"
done
user_existed=false
getent passwd pacsgate >/dev/null && user_existed=true

work=$(mktemp -d /tmp/pacsgate-package.XXXXXX)
gateway_pid=""
nspawn_pid=""
container_init=""
# Stops the container: nspawn shuts it down on SIGTERM; what is still there after 20 s is killed.
stop_container() {
    [ -n "$nspawn_pid" ] || return 0
    kill -TERM "$nspawn_pid" 2>/dev/null || true
    for _ in $(seq 1 200); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nspawn_pid" 2>/dev/null || true
    [ -n "$container_init" ] && kill -KILL "$container_init" 2>/dev/null || true
    wait "$nspawn_pid" 2>/dev/null || true
    nspawn_pid=""
}
cleanup() {
    [ -n "$gateway_pid" ] && kill "$gateway_pid" 2>/dev/null || true
    stop_container
    dpkg --purge pacsgate >/dev/null 2>&1 || true
    rm -rf /var/lib/pacsgate /var/log/pacsgate /etc/pacsgate "$work"
    if [ "$user_existed" = false ] && getent passwd pacsgate >/dev/null; then
        userdel pacsgate 2>/dev/null || true
        getent group pacsgate >/dev/null && groupdel pacsgate 2>/dev/null || true
    fi
}
trap cleanup EXIT

# 1. A clean clone, packaged by the script. (PACSGATE_DEB=FILE skips the build and checks FILE instead, for working
#    on the checks; the test proper builds.)
git clone --quiet --no-local "$root" "$work/clone"
commit=$(git -C "$work/clone" rev-parse --short=12 HEAD)
if [ -n "${PACSGATE_DEB:-}" ]; then
    deb=$PACSGATE_DEB
    commit=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/pacsgate > "$work/given" && chmod +x "$work/given" &&
        "$work/given" --version | sed -n 's/.*(commit \(.*\))$/\1/p')
    build_summary="not built here (PACSGATE_DEB)"
else
    # Wall time, and CPU time (user + system, all processes), which does not depend on what else the machine runs:
    # on CI's 2 cores the build cannot take less than half of it.
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    TIMEFORMAT='%R %U %S'
    { time bash "$work/clone/packaging/build-deb.sh" "$work/out" > "$work/build.out" 2>&3; } 3>&2 2> "$work/build.time"
    deb=$(tail -n 1 "$work/build.out")
    read -r wall user system < "$work/build.time"
    build_summary=$(awk -v w="$wall" -v u="$user" -v s="$system" -v load="$load_before" \
        'BEGIN { printf "%.0f s wall, %.0f s CPU (user %.0f + system %.0f), load average before: %s", w, u + s, u, s, load }')
fi
echo "package: $deb"
echo "    from a clean clone of $commit: $build_summary"
check "build-deb.sh prints the package's path as its last line" test -f "$deb"

# 2. The package as Debian's tools see it.
lintian_output=$(lintian --fail-on error --tag-display-limit 0 "$deb" 2>&1) && lintian_status=0 || lintian_status=$?
[ -n "$lintian_output" ] && echo "$lintian_output" | sed 's/^/    lintian: /'
check "lintian reports no error" test "$lintian_status" -eq 0
mkdir "$work/extracted"
dpkg-deb -x "$deb" "$work/extracted"
libraries=$(ldd "$work/extracted/usr/bin/pacsgate" | awk '$3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
foreign=""
for library in $libraries; do
    dpkg -S "$(readlink -f "$library")" >/dev/null 2>&1 || dpkg -S "$library" >/dev/null 2>&1 || foreign="$foreign $library"
done
echo "    linked: $(echo $libraries | tr ' ' '\n' | xargs -n1 basename | tr '\n' ' ')"
check "the binary links only libraries of Debian packages" test -z "$foreign"
check "the Swift runtime is linked in (no libswiftCore.so)" bash -c "! ldd '$work/extracted/usr/bin/pacsgate' | grep -q libswift"
echo "    Depends: $(dpkg-deb -f "$deb" Depends)"

# 3. Installed.
dpkg -i "$deb" >/dev/null
version_line=$(pacsgate --version)
echo "    pacsgate --version: $version_line"
check "pacsgate --version names the release and the commit" test "$version_line" = "$(dpkg-deb -f "$deb" Version | sed 's/-[0-9]*$//') (commit $commit)"
check "man pacsgate shows the generated page" bash -c "MANPAGER=cat MANWIDTH=100 man pacsgate 2>/dev/null | grep -q 'check-config'"
check "check-config of the shipped sample (root)" pacsgate check-config /etc/pacsgate/pacsgate.yaml
check "check-config of the shipped sample (as the pacsgate user, as ExecStartPre runs it)" \
    runuser -u pacsgate -- pacsgate check-config /etc/pacsgate/pacsgate.yaml
verify_output=$(systemd-analyze verify /lib/systemd/system/pacsgate.service 2>&1) && verify_status=0 || verify_status=$?
check "systemd-analyze verify accepts the installed unit, man page included" test "$verify_status" -eq 0 -a -z "$verify_output"
[ -n "$verify_output" ] && echo "$verify_output" | sed 's/^/    /'
check "the unit is enabled (multi-user.target wants it)" test -L /etc/systemd/system/multi-user.target.wants/pacsgate.service
check "pacsgate is a system user without a login shell" \
    bash -c '[ "$(getent passwd pacsgate | cut -d: -f3)" -lt 1000 ] && [ "$(getent passwd pacsgate | cut -d: -f7)" = /usr/sbin/nologin ]'
check "the sample configuration is a conffile" bash -c "dpkg-query -W -f='\${Conffiles}' pacsgate | grep -q '/etc/pacsgate/pacsgate.yaml'"
check "the configuration is not readable by other users" bash -c '[ "$(stat -c %a /etc/pacsgate/pacsgate.yaml)" = 660 ] && [ "$(stat -c %G /etc/pacsgate/pacsgate.yaml)" = pacsgate ]'
# The samples name the helpers' folder once ($SCRIPTS=… in the site files) and the helpers as ${SCRIPTS}/NAME in the
# shared part; the handover script (run before keepalived) loads its rules from beside itself.
scripts_dir=$(sed -n 's/^\$SCRIPTS=//p' Samples/keepalived/keepalived-primary.conf)
check "the keepalived samples name the folder the package installs the helpers in" test "$scripts_dir" = /usr/lib/pacsgate
helpers=$(grep -ho '${SCRIPTS}/[a-z-]*\.sh' Samples/keepalived/*.conf | sed 's|${SCRIPTS}/||' | sort -u)
check "the keepalived samples name their helpers" test -n "$helpers"
for script in $helpers pacsgate-handover-net.sh; do
    check "keepalived helper $script is installed where the samples name it" test -x "$scripts_dir/$script"
done
check "the handover rules are installed beside the handover script" test -f "$scripts_dir/pacsgate-handover.nft"

# The installed binary, as the service runs it (the pacsgate user), on loopback: state and audit log where the
# package keeps them.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
admin_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/loopback.yaml" <<EOF
state_dir: "/var/lib/pacsgate"
audit: { path: "/var/log/pacsgate/audit.jsonl" }
admin: { listen: "127.0.0.1:$admin_port" }
services:
  - label: ECHO
    listen: "127.0.0.1:$port"
    servers: [ { label: NODE, address: "127.0.0.1:9" } ]
EOF
chmod 0644 "$work/loopback.yaml"
chmod 0755 "$work"
# setpriv execs the gateway itself as the pacsgate user, so the signals below reach it directly.
setpriv --reuid=pacsgate --regid=pacsgate --init-groups pacsgate run --config "$work/loopback.yaml" > "$work/run.log" 2>&1 &
gateway_pid=$!
for _ in $(seq 1 300); do
    grep -q "admin server listening" "$work/run.log" 2>/dev/null && break
    sleep 0.1
done
# A reload is an audit record (admin.change).
kill -HUP "$gateway_pid"
for _ in $(seq 1 300); do
    grep -q "configuration reloaded" "$work/run.log" 2>/dev/null && break
    sleep 0.1
done
kill -TERM "$gateway_pid"
wait "$gateway_pid" && run_status=0 || run_status=$?
gateway_pid=""
check "the installed binary runs as the pacsgate user and stops cleanly on SIGTERM" test "$run_status" -eq 0
[ "$run_status" -eq 0 ] || sed 's/^/    run: /' "$work/run.log"
check "the audit log is written in /var/log/pacsgate" test -s /var/log/pacsgate/audit.jsonl
state_files=$(find /var/lib/pacsgate -type f | sort)
check "state is written in /var/lib/pacsgate" test -n "$state_files"
audit_before=$(md5sum /var/log/pacsgate/audit.jsonl)

# 4. Removed.
dpkg -r pacsgate >/dev/null
for path in /usr/bin/pacsgate /usr/share/man/man1/pacsgate.1.gz /lib/systemd/system/pacsgate.service \
    /usr/lib/pacsgate/check-pacsgate.sh /usr/share/doc/pacsgate/copyright; do
    check "dpkg -r removes $path" test ! -e "$path"
done
check "dpkg -r keeps the audit log, unchanged" test "$(md5sum /var/log/pacsgate/audit.jsonl 2>/dev/null)" = "$audit_before"
check "dpkg -r keeps the state" test "$(find /var/lib/pacsgate -type f | sort)" = "$state_files"
check "dpkg -r keeps the configuration (a conffile, until purge)" test -f /etc/pacsgate/pacsgate.yaml
dpkg --purge pacsgate >/dev/null 2>&1
check "dpkg --purge removes the configuration" test ! -e /etc/pacsgate/pacsgate.yaml
check "dpkg --purge still keeps the audit log and the state" test -s /var/log/pacsgate/audit.jsonl -a -n "$(find /var/lib/pacsgate -type f)"

# 5. Under a real systemd: a Debian 12 container (debootstrap, kept in .build-rootfs/; systemd-nspawn, private
#    network) boots, the package is installed there, and the unit runs as systemd runs it on a hospital's server.
rootfs="$root/.build-rootfs/bookworm"
if [ ! -x "$rootfs/lib/systemd/systemd" ] || [ ! -x "$rootfs/bin/kill" ]; then
    echo "debootstrap: a Debian 12 root for the container in $rootfs (once)"
    rm -rf "$rootfs"
    debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,adduser,procps,man-db,python3 bookworm "$rootfs" \
        http://deb.debian.org/debian > "$work/debootstrap.log" 2>&1 || { tail "$work/debootstrap.log"; die "debootstrap failed"; }
fi
machine="pacsgate-test-$$"
systemd-nspawn -D "$rootfs" --volatile=overlay --private-network --register=no --keep-unit --machine="$machine" \
    --bind-ro="$(dirname "$deb")":/packages -b > "$work/container.log" 2>&1 < /dev/null &
nspawn_pid=$!
for _ in $(seq 1 600); do
    # The container's systemd: nspawn's child, or its grandchild when nspawn runs a helper in between.
    container_init=$(pgrep -P "$nspawn_pid" -x systemd | head -1 || true)
    for helper in $(pgrep -P "$nspawn_pid" -x systemd-nspawn || true); do
        [ -n "$container_init" ] || container_init=$(pgrep -P "$helper" -x systemd | head -1 || true)
    done
    [ -n "$container_init" ] && break
    sleep 0.1
done
[ -n "$container_init" ] || { cat "$work/container.log"; die "the container did not boot"; }
inside() { nsenter -t "$container_init" -a -- "$@"; }
for _ in $(seq 1 300); do
    state=$(inside systemctl is-system-running 2>/dev/null || true)
    [ "$state" = running ] || [ "$state" = degraded ] && break
    sleep 0.2
done
property() { inside systemctl show -P "$1" pacsgate; }

inside dpkg -i "/packages/$(basename "$deb")" > "$work/container-dpkg.log" 2>&1
check "systemd: installed, enabled, not started" \
    test "$(inside systemctl is-enabled pacsgate)" = enabled -a "$(property ActiveState)" = inactive
# A loopback site: the service on 443 (below 1024: CAP_NET_BIND_SERVICE as the pacsgate user) in front of a web
# server, the admin page; the watchdog at 2 s so that pings are seen quickly.
inside systemd-run --unit=backend --quiet python3 -m http.server 8080 --bind 127.0.0.1
inside sh -c 'cat > /etc/pacsgate/pacsgate.yaml' <<EOF
state_dir: "/var/lib/pacsgate"
audit: { path: "/var/log/pacsgate/audit.jsonl" }
admin: { listen: "127.0.0.1:9443" }
services:
  - label: WEB
    listen: "127.0.0.1:443"
    servers: [ { label: NODE1, address: "127.0.0.1:8080" } ]
EOF
inside sh -c 'mkdir -p /etc/systemd/system/pacsgate.service.d && printf "[Service]\nWatchdogSec=2s\n" > /etc/systemd/system/pacsgate.service.d/test.conf && systemctl daemon-reload'
fetch='import sys, urllib.request; sys.exit(0 if urllib.request.urlopen("http://127.0.0.1:443/", timeout=5).status == 200 else 1)'
started=$(date +%s%N)
inside systemctl start pacsgate && start_status=0 || start_status=$?
echo "    systemctl start returned after $((($(date +%s%N) - started) / 1000000)) ms (Type=notify: after READY=1)"
check "systemd: systemctl start returns once READY=1 came; active and running" \
    test "$start_status" -eq 0 -a "$(property ActiveState)/$(property SubState)" = active/running
check "systemd: a request through the gateway right after start" inside python3 -c "$fetch"
status_text=$(property StatusText)
echo "    Status: $status_text"
check "systemd: the status line" test "${status_text#1 service, 1 of 1 servers up}" != "$status_text"
first_ping=$(property WatchdogTimestampMonotonic)
sleep 3
check "systemd: the watchdog is pinged (WatchdogTimestamp advances)" test "$(property WatchdogTimestampMonotonic)" -gt "$first_ping"
main_pid=$(property MainPID)
check "systemd: a connection open across systemctl reload is served after it" inside python3 -c '
import socket, subprocess
connection = socket.create_connection(("127.0.0.1", 443), 5)
subprocess.run(["systemctl", "reload", "pacsgate"], check=True)
connection.sendall(b"GET / HTTP/1.0\r\n\r\n")
raise SystemExit(0 if connection.recv(64).startswith(b"HTTP/1.0 200") else 1)'
inside journalctl -u pacsgate -o cat --no-pager > "$work/container-journal.log" 2>&1 || true
check "systemd: reloaded in place (same process, 'configuration reloaded' logged)" \
    test "$(property MainPID)" = "$main_pid" -a -n "$(grep 'configuration reloaded' "$work/container-journal.log")"
listening=$(inside journalctl -u pacsgate -o json --output-fields=PRIORITY,MESSAGE --no-pager | grep 'service listening' | head -1)
echo "    journal: $listening"
check "systemd: journald takes the level as the priority; no timestamp of our own in the message" \
    python3 -c 'import json, sys; entry = json.loads(sys.argv[1]); sys.exit(0 if entry["PRIORITY"] == "5" and entry["MESSAGE"].startswith("notice pacsgate: ") else 1)' "$listening"
echo "    inside, against the running manager: $(inside systemd-analyze security pacsgate --no-pager 2>&1 | grep 'Overall exposure level' || true)"
# An upgrade (here: the same package again) restarts the running gateway: SIGTERM drains, then the new one starts.
inside dpkg -i "/packages/$(basename "$deb")" >> "$work/container-dpkg.log" 2>&1
check "systemd: an upgrade restarts the running gateway" \
    test "$(property ActiveState)" = active -a "$(property MainPID)" != "$main_pid"
check "systemd: the restarted gateway serves" inside python3 -c "$fetch"
inside systemctl stop pacsgate
check "systemd: systemctl stop ends cleanly (STOPPING=1, drain, exit 0, no restart)" \
    test "$(property Result)/$(property ExecMainStatus)/$(property NRestarts)" = success/0/0
check "systemd: the audit log in LogsDirectory, written by the pacsgate user" \
    test "$(inside stat -c %U /var/log/pacsgate/audit.jsonl 2>/dev/null)" = pacsgate
inside journalctl -u pacsgate -o cat --no-pager > "$work/container-journal.log" 2>&1 || true
[ "$failures" -gt 0 ] && sed 's/^/    journal: /' "$work/container-journal.log" | tail -40
stop_container

echo "package build from a clean clone: $build_summary"
if [ "$failures" -eq 0 ]; then echo "PASS"; else echo "FAIL ($failures)"; exit 1; fi
