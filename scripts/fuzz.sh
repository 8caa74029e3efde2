#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ (release, libFuzzer + ASan in every Swift module) and runs each for
# SECONDS (default 60), printing the executions per target. Exits non-zero if any target crashes, leaks, times out
# or fails one of its own checks; the crashing input is left in fuzz/work/artifacts/.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      e.g. scripts/fuzz.sh 10, scripts/fuzz.sh 600 FuzzMLLP
#
# Seeds come from fuzz/corpus/<target> (committed, small, cut from the test fixtures); the corpus a run grows is
# kept in fuzz/work/corpus/<target> (ignored by git), so later runs start from it. Inputs that once crashed a
# target live in fuzz/regressions/<target> and are replayed first.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(FuzzDICOMPDU FuzzMLLP FuzzClientHello FuzzCRL FuzzServerHello FuzzProxyHeader FuzzConfig)
fi

scratch="${FUZZ_SCRATCH:-fuzz/.build}"
# Optimised by default: a debug build with ASan and coverage everywhere runs a few hundred inputs a second.
configuration="${FUZZ_CONFIGURATION:-release}"
# A fatalError in a target is the finding; the Swift backtracer would only trip ASan on its own stack reads.
export SWIFT_BACKTRACE=enable=no
echo "fuzz: building ${targets[*]} ($configuration, scratch $scratch)"
swift build -c "$configuration" --package-path fuzz --scratch-path "$scratch" --sanitize=fuzzer --sanitize=address \
    -Xswiftc -sanitize=fuzzer,address >/tmp/pacsgate-fuzz-build.$$ 2>&1 || {
    tail -40 /tmp/pacsgate-fuzz-build.$$; rm -f /tmp/pacsgate-fuzz-build.$$; exit 1; }
rm -f /tmp/pacsgate-fuzz-build.$$
bin="$(swift build -c "$configuration" --package-path fuzz --scratch-path "$scratch" --show-bin-path)"

mkdir -p fuzz/work/artifacts
status=0
summary=()
for target in "${targets[@]}"; do
    corpus="fuzz/work/corpus/$target"
    mkdir -p "$corpus"
    cp -n fuzz/corpus/"$target"/* "$corpus"/ 2>/dev/null || true
    log="fuzz/work/$target.log"

    if [ -d "fuzz/regressions/$target" ]; then
        if ! "$bin/$target" -runs=0 fuzz/regressions/"$target"/* >"fuzz/work/$target.regressions.log" 2>&1; then
            echo "fuzz: $target FAILS a regression input (see fuzz/work/$target.regressions.log)"
            status=1
        fi
    fi

    # -timeout: one input may not take a second; -rss_limit_mb: the parsers must stay small.
    if "$bin/$target" "$corpus" fuzz/corpus/"$target" -max_total_time="$seconds" -timeout=1 -rss_limit_mb=1024 \
        -max_len=20000 -print_final_stats=1 -artifact_prefix="fuzz/work/artifacts/$target-" >"$log" 2>&1; then
        result="ok"
    else
        result="FAILED (see $log)"
        status=1
        grep -m5 -E "ERROR|Fatal error|SUMMARY|Test unit written" "$log" || true
    fi
    execs="$(awk '/^stat::number_of_executed_units:/ { print $2; exit }' "$log")"
    rate="$(awk '/^stat::average_exec_per_sec:/ { print $2; exit }' "$log")"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)"
    line="$(printf '%-16s %12s execs  %8s/s  cov %6s  %s' "$target" "${execs:-0}" "${rate:-0}" "${cov:-0}" "$result")"
    echo "fuzz: $line"
    summary+=("$line")
done

echo "fuzz: summary (${seconds}s per target)"
printf '  %s\n' "${summary[@]}"
exit $status
