#!/usr/bin/env python3
"""Turns package-benchmark's markdown output into docs/bench/micro.md (its full tables, without the tool's banner)
and a one-line-per-benchmark summary for docs/benchmarks.md.

    python3 bench/micro_summary.py RAW.md docs/bench/micro.md docs/bench/micro-summary.md
"""
import re
import sys


def main(raw_path, full_path, summary_path):
    raw = open(raw_path).read()
    full = raw[raw.find("## Baseline"):] if "## Baseline" in raw else raw
    open(full_path, "w").write(full)
    lines = ["| Benchmark | Time per operation (p50) | Allocations per operation (p50) |", "|---|---:|---:|"]
    for block in re.split(r"^### ", full, flags=re.M)[1:]:
        name = block.split("\n", 1)[0].strip()
        time = mallocs = "?"
        for row in block.split("\n"):
            cells = [c.strip() for c in row.strip().strip("|").split("|")]
            if len(cells) > 3 and cells[0].startswith("Time (wall clock)"):
                unit = re.search(r"\((ns|μs|us|ms|s)\)", cells[0])
                time = f"{cells[3]} {unit.group(1) if unit else ''}".strip()
            if len(cells) > 3 and cells[0].startswith("Malloc (total)"):
                mallocs = cells[3]
        lines.append(f"| {name} | {time} | {mallocs} |")
    open(summary_path, "w").write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
