#!/usr/bin/env bash
# pacsgate's benchmark suite: microbenchmarks, then the load scenarios against direct, HAProxy, nginx and pacsgate
# (its native engine, and its NIO engine for comparison), in the split and the shared layout, then the system calls
# per connection counted with strace.
#
#   bench/run.sh            full run: 3 interleaved rounds, 5 s per measurement (about 30 minutes on 2 cores)
#   bench/run.sh --quick    one round, 1 s per measurement, short microbenchmarks (about 5 minutes once built)
#   bench/run.sh [--quick] [pacsgate-bench options]   e.g. --protocol dicom=tcp --layout shared --rounds 5
#   bench/run.sh --render-only   rebuild docs/benchmarks.md, docs/bench/results.md and the chart from the last run's
#                                JSON after editing bench/benchmarks.md.in or the report code (no measurement)
#
# Writes docs/benchmarks.md (generated from bench/benchmarks.md.in; never edit it by hand), docs/bench/results.json,
# docs/bench/results.md, docs/bench/results.png, docs/bench/micro.md and docs/bench/audit-search.md (typical audit
# searches over a generated log: 1,000,000 records, 100,000 with --quick). Installs what it needs when missing:
# HAProxy, nginx with the stream module, dcmtk, iperf3, openssl and python3-matplotlib (for the chart),
# all from Debian.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
QUICK=""
RENDER_ONLY=""
ARGS=()
for argument in "$@"; do
    case "$argument" in
        --quick) QUICK="--quick" ;;
        --render-only) RENDER_ONLY=1 ;;
        *) ARGS+=("$argument") ;;
    esac
done

say() { printf '\n== %s\n' "$*" >&2; }

# --- peers -------------------------------------------------------------------------------------------------------
if [ -z "$RENDER_ONLY" ]; then
MISSING=()
[ -x /usr/sbin/haproxy ] || MISSING+=(haproxy)
[ -x /usr/sbin/nginx ] || MISSING+=(nginx-light)
[ -f /usr/lib/nginx/modules/ngx_stream_module.so ] || MISSING+=(libnginx-mod-stream)
[ -x /usr/bin/storescu ] && [ -x /usr/bin/storescp ] || MISSING+=(dcmtk)
[ -x /usr/bin/iperf3 ] || MISSING+=(iperf3)
[ -x /usr/bin/openssl ] || MISSING+=(openssl)
[ -x /usr/bin/taskset ] || MISSING+=(util-linux)
[ -x /usr/bin/strace ] || MISSING+=(strace)
# The chart (bench/chart.py) is drawn with matplotlib.
/usr/bin/python3 -c "import matplotlib" 2>/dev/null || MISSING+=(python3-matplotlib)
if [ ${#MISSING[@]} -gt 0 ]; then
    say "installing ${MISSING[*]}"
    echo "iperf3 iperf3/start_daemon boolean false" | debconf-set-selections 2>/dev/null || true
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${MISSING[@]}" >/dev/null
fi
# Debian starts nginx and HAProxy as services on install; the benchmark starts its own on other ports, so they may
# keep running, but they must not hold the benchmark's ports (24101-24206).
fi

# --- build -------------------------------------------------------------------------------------------------------
say "building pacsgate and pacsgate-bench (release)"
# A failed build stops the run (an older binary left in the scratch directory is never measured).
build() {
    local log
    log=$(mktemp)
    if ! "$@" >"$log" 2>&1; then
        grep -E "error" "$log" >&2 || tail -20 "$log" >&2
        rm -f "$log"
        echo "build failed: $*" >&2
        exit 1
    fi
    grep -E "Build (of product .* )?complete" "$log" >&2 || true
    rm -f "$log"
}
[ -n "$RENDER_ONLY" ] || build swift build -c release --scratch-path .build-bench-release --product pacsgate
build swift build -c release --package-path bench --scratch-path bench/.build-bench --product pacsgate-bench
[ -n "$RENDER_ONLY" ] || build swift build -c release --package-path bench --scratch-path bench/.build-bench --product pacsgate-load
PACSGATE="$ROOT/.build-bench-release/release/pacsgate"
BENCH="$ROOT/bench/.build-bench/release/pacsgate-bench"
LOAD_TOOL="$ROOT/bench/.build-bench/release/pacsgate-load"

if [ -n "$RENDER_ONLY" ]; then
    # --render-only: the template or the report's layout changed; re-render docs from the last run's JSON.
    say "re-rendering docs/bench/results.md and docs/benchmarks.md from docs/bench/results.json"
    "$BENCH" render --json docs/bench/results.json --markdown docs/bench/results.md
else
# --- machine -----------------------------------------------------------------------------------------------------
LOAD=$(cut -d' ' -f1 /proc/loadavg)
BUSY=$(ps -eo comm= | grep -cxE 'swift-build|swift-frontend|swift-test' || true)
if [ -z "$QUICK" ] && { [ "$BUSY" != "0" ] || awk -v l="$LOAD" 'BEGIN { exit !(l >= 0.5) }'; }; then
    echo "warning: the machine is busy (load average $LOAD, $BUSY compiler processes): figures will be low and noisy;" \
        "the run records the load in docs/benchmarks.md" >&2
fi
mkdir -p docs/bench

# --- microbenchmarks ---------------------------------------------------------------------------------------------
say "microbenchmarks"
if [ -n "$QUICK" ]; then export PACSGATE_MICRO_QUICK=1; fi
swift package --package-path bench --scratch-path bench/.build-bench benchmark --target PacsgateMicro \
    --format markdown --no-progress > docs/bench/micro.md.tmp 2> bench/.build-bench/micro.log \
    || { cat bench/.build-bench/micro.log >&2; exit 1; }
python3 bench/micro_summary.py docs/bench/micro.md.tmp docs/bench/micro.md docs/bench/micro-summary.md
rm -f docs/bench/micro.md.tmp

# --- audit search ------------------------------------------------------------------------------------------------
say "audit search"
build swift build -c release --package-path bench --scratch-path bench/.build-bench --product pacsgate-audit-bench
AUDIT_RECORDS=1000000
if [ -n "$QUICK" ]; then AUDIT_RECORDS=100000; fi
"$ROOT/bench/.build-bench/release/pacsgate-audit-bench" --dir "$ROOT/bench/.build-bench/audit-log-$AUDIT_RECORDS" \
    --records "$AUDIT_RECORDS" --files 10 > docs/bench/audit-search.md

# --- load scenarios ----------------------------------------------------------------------------------------------
say "load scenarios"
# Two descriptors per proxied connection: 9,900 idle connections need a limit of 20,000. Where the hard limit is
# lower, hold fewer (the report states how many).
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
LIMIT=$(ulimit -n)
if [ "$LIMIT" != unlimited ] && [ "$LIMIT" -lt 20000 ] && [ -z "$QUICK" ]; then
    ARGS=(--idle $(( (LIMIT - 200) / 2 )) ${ARGS[@]+"${ARGS[@]}"})
fi
"$BENCH" run $QUICK --pacsgate "$PACSGATE" --load-tool "$LOAD_TOOL" --work "${TMPDIR:-/tmp}/pacsgate-bench" \
    --json docs/bench/results.json --markdown docs/bench/results.md ${ARGS[@]+"${ARGS[@]}"}
fi
python3 bench/chart.py docs/bench/results.json docs/bench/results.png

# --- docs/benchmarks.md ------------------------------------------------------------------------------------------
python3 - "$ROOT" <<'EOF'
import sys
root = sys.argv[1]
template = open(f"{root}/bench/benchmarks.md.in").read()
results = open(f"{root}/docs/bench/results.md").read()
micro = open(f"{root}/docs/bench/micro-summary.md").read()
text = template.replace("@RESULTS@", results.strip()).replace("@MICRO@", micro.strip())
open(f"{root}/docs/benchmarks.md", "w").write(text)
EOF
say "wrote docs/benchmarks.md, docs/bench/results.{json,md,png}, docs/bench/micro.md, docs/bench/micro-summary.md"
