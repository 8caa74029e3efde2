#!/usr/bin/env bash
# The test suite under ThreadSanitizer and AddressSanitizer, each in its own scratch path (.build-thread,
# .build-address), serially like scripts/test.sh. Arguments after the sanitizer names go to `swift test`.
#
#   scripts/sanitize.sh                              both, whole suite (about 3x and 2x the plain run's time)
#   scripts/sanitize.sh address                      AddressSanitizer only
#   scripts/sanitize.sh thread -- --filter PacsgateCoreTests
#
# A data race or a memory error fails the run: TSan and ASan stop the test process with a report.
set -euo pipefail
cd "$(dirname "$0")/.."

sanitizers=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do sanitizers+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#sanitizers[@]} -gt 0 ] || sanitizers=(thread address)

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0 halt_on_error=1}"
# The Swift backtracer reads stacks ASan considers out of bounds; the sanitizer's own report is the useful one.
export SWIFT_BACKTRACE=enable=no

for sanitizer in "${sanitizers[@]}"; do
    case "$sanitizer" in thread|address) ;; *) echo "sanitize: unknown sanitizer $sanitizer"; exit 2 ;; esac
    scratch=".build-$sanitizer"
    echo "sanitize: building with --sanitize=$sanitizer ($scratch)"
    swift build --scratch-path "$scratch" --sanitize="$sanitizer" --build-tests
    echo "sanitize: testing with --sanitize=$sanitizer"
    PACSGATE_BIN="$PWD/$scratch/debug/pacsgate" \
        swift test --scratch-path "$scratch" --sanitize="$sanitizer" --skip-build --no-parallel "$@"
done
