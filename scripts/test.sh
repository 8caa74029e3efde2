#!/usr/bin/env bash
# The whole test suite: installs what the tests need, builds (warnings are errors), runs every test.
# This is the README's test command and what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# The peers are installed while the gateway builds: the build needs none of them, and apt and pip mostly wait on the
# network and the disk while the compiler keeps both cores busy. Their output is printed once the build is done.
deps_log="$(mktemp)"
bash scripts/install-test-deps.sh >"$deps_log" 2>&1 &
deps_pid=$!

# A gateway, its backends and load clients share the open-file limit; the tests open thousands of sockets.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# Every target declares exactly the modules its files import (Package.swift and the imports agree), here and in the
# benchmark and fuzz packages.
for package in . bench fuzz; do python3 scripts/check-dependencies.py "$package"; done
swift build -Xswiftc -warnings-as-errors --build-tests
deps_status=0
wait "$deps_pid" || deps_status=$?
cat "$deps_log"
rm -f "$deps_log"
if [ "$deps_status" -ne 0 ]; then
    echo "test.sh: installing the test peers failed (scripts/install-test-deps.sh, exit $deps_status)" >&2
    exit 1
fi
# Command-level checks: the samples validate, the executable exists for the CLI tests.
# The site sample references /etc/pacsgate/tls: check it with the test PKI the docs describe.
pki="$(mktemp -d)"
bash scripts/make-test-pki.sh "$pki" 2 >/dev/null
# The TLS services the sample carries commented out ('#~ '), switched on, with a test PKI where the sample names its files.
sed -E "s/^#~ ?//; s|/etc/pacsgate/tls/|$pki/|g" Samples/mach7.yaml > "$pki/mach7.yaml"
./.build/debug/pacsgate check-config "$pki/mach7.yaml"
./.build/debug/pacsgate check-config Samples/mach7.yaml
rm -rf "$pki"
./.build/debug/pacsgate check-config Samples/local.yaml

# A short fuzz run of every parser (libFuzzer + ASan, 10 s per target; the long run is documented in
# docs/reliability.md). PACSGATE_FUZZ_SECONDS=0 skips it. It runs before the tests so that the test runner's
# summary stays the last lines of the output. A debug build here: it takes about 4 minutes against 9 for the release
# build (every dependency, BoringSSL twice, with ASan and coverage), runs thousands of inputs per target instead of
# about a hundred thousand, and keeps the parsers' assertions on; the long runs use the release build.
fuzz_seconds="${PACSGATE_FUZZ_SECONDS:-10}"
if [ "$fuzz_seconds" != "0" ]; then
    FUZZ_CONFIGURATION="${FUZZ_CONFIGURATION:-debug}" bash scripts/fuzz.sh "$fuzz_seconds"
fi

# The HA lab suites (keepalived, two gateway units and their peers in network namespaces the tests create) spend
# their minutes waiting for VRRP adverts and failover timers, with almost no CPU and nothing on the host's loopback.
# On a full run they run beside the other suites, in a second test process started straight from the built test
# bundle (a second `swift test` would wait for the first one's lock on .build); their output is printed when the
# main pass ends. That takes about 6 of CI's minutes off the run.
ha_lab_filter='PacsgateHATests\..*NamespaceTests'
ha_lab_log=""
ha_lab_pid=""
if [ "$#" -eq 0 ]; then
    ha_lab_log="$(mktemp)"
    NO_COLOR=1 PACSGATE_BIN="$PWD/.build/debug/pacsgate" ./.build/debug/pacsgatePackageTests.xctest \
        --testing-library swift-testing --no-parallel --filter "$ha_lab_filter" >"$ha_lab_log" 2>&1 &
    ha_lab_pid=$!
fi

# Each pass's output is kept as well as printed. When a test fails, its "recorded an issue" lines (with the comment or
# message under each) are printed once more as the very last lines, so that the end of a long CI log names the
# failing test and where it failed — from whichever pass it was, the HA lab's included.
passes_dir="$(mktemp -d)"
finish() {
    local status=$?
    # If an earlier step fails, the lab still finishes and cleans its namespaces before the script exits.
    if [ -n "$ha_lab_pid" ]; then wait "$ha_lab_pid" 2>/dev/null || true; fi
    if [ -n "$ha_lab_log" ] && [ -f "$ha_lab_log" ]; then cp "$ha_lab_log" "$passes_dir/ha-lab.log"; rm -f "$ha_lab_log"; fi
    if [ "$status" -ne 0 ] && grep -qs "recorded an issue" "$passes_dir"/*.log; then
        echo "== test.sh: the failing tests (from the output above)" >&2
        for log in "$passes_dir"/*.log; do
            grep -A2 "recorded an issue" "$log" | grep -v '^--$' | sed "s|^|$(basename "$log" .log): |" | head -n 40 >&2 || true
        done
    fi
    rm -rf "$passes_dir"
    exit "$status"
}
trap finish EXIT

# A machine booted a minute ago and an odd time zone must not matter: the suites that keep time on uptime clocks run
# once more in a time namespace whose monotonic and boot clocks say 30 s since boot, with a UTC+14 time zone (about
# 10 s). Only on a full run, and only where time namespaces are allowed (root, or a user namespace); else a note.
uptime_seconds=$(cut -d. -f1 /proc/uptime)
back=$((uptime_seconds - 30))
if [ "$#" -eq 0 ] && [ "$back" -gt 0 ] && unshare -T --monotonic=-"$back" --boottime=-"$back" true 2>/dev/null; then
    TZ=Pacific/Kiritimati PACSGATE_BIN="$PWD/.build/debug/pacsgate" unshare -T --monotonic=-"$back" --boottime=-"$back" \
        swift test --skip-build --no-parallel \
        --filter 'ReplicationTests|StickTableTests|ServerPoolTests|AuditLogTests|RefusalAggregatorTests|StateMachineTests|LoginHardeningTests|HL7StreamStateMachineTests|AckMatcherTests|QueueAndBackoffTests|MergeTests' \
        2>&1 | tee "$passes_dir/just-booted.log"
elif [ "$#" -eq 0 ]; then
    echo "test.sh: time namespaces are not available here; the just-booted clock check is skipped"
fi

# Serially: the integration tests run real gateways, peers and timers; in parallel on a 2-core CI machine their
# timeouts would measure the machine's load rather than the gateway.
#
# Twice: every test, with the test gateways on the native engine (engine: auto on Linux); then the suites that
# forward traffic — forwarding, DICOM, HL7, TLS passthrough, reliability, admin, the HA pair in transparent mode —
# again on the NIO engine (PACSGATE_TEST_ENGINE=nio gives the test gateways no native engine, and the `pacsgate run`
# of the namespace tests `engine: nio`). TLS termination runs on NIO in both passes, and the out-of-descriptors test
# starts one gateway per engine itself, so the second pass skips them.
if [ "$#" -eq 0 ]; then
    main_status=0
    PACSGATE_BIN="$PWD/.build/debug/pacsgate" swift test --skip-build --no-parallel --skip "$ha_lab_filter" 2>&1 \
        | tee "$passes_dir/native.log" || main_status=$?
    ha_lab_status=0
    wait "$ha_lab_pid" || ha_lab_status=$?
    ha_lab_pid=""
    echo "== the HA lab suites, run beside the others" >&2
    cat "$ha_lab_log"
    [ "$main_status" -eq 0 ] && [ "$ha_lab_status" -eq 0 ] || exit 1
else
    PACSGATE_BIN="$PWD/.build/debug/pacsgate" swift test --skip-build --no-parallel "$@" 2>&1 | tee "$passes_dir/selected.log"
fi
if [ $# -eq 0 ]; then
    echo "== the same suites on the NIO engine" >&2
    PACSGATE_TEST_ENGINE=nio PACSGATE_BIN="$PWD/.build/debug/pacsgate" swift test --skip-build --no-parallel \
        --filter 'PacsgateIntegrationTests|PacsgateDICOMTests|PacsgateHL7Tests|PacsgateTLSTests|PacsgateReliabilityTests|PacsgateAdminTests|TransparentPairNamespaceTests' \
        --skip 'TerminationTests|DescriptorLimitTests' 2>&1 | tee "$passes_dir/nio.log"
fi
