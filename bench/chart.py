#!/usr/bin/env python3
"""Draws docs/bench/results.png from the load tool's JSON: one panel per scenario, one bar per target (median, with
the min-max range of the rounds as an error bar), the value printed on each bar.

    python3 bench/chart.py docs/bench/results.json docs/bench/results.png

Uses matplotlib (Debian's python3-matplotlib, which bench/run.sh installs with the other peers).
"""
import json
import math
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TARGETS = ["direct", "haproxy", "nginx", "pacsgate", "pacsgate-nio"]
TITLES = {"direct": "direct", "haproxy": "HAProxy", "nginx": "nginx", "pacsgate": "pacsgate",
          "pacsgate-nio": "pacsgate NIO"}
COLOURS = {"direct": "#9e9e9e", "haproxy": "#1f77b4", "nginx": "#2ca02c", "pacsgate": "#d62728",
           "pacsgate-nio": "#ff9896"}


def panels(report):
    """(variant, layout) of every panel: each variant in the split layout, then those measured shared too."""
    result = []
    for layout in ("split", "shared"):
        for variant in report["variants"]:
            if any(m["variant"] == variant["id"] and m.get("layout", "split") == layout
                   for m in report["measurements"]):
                result.append((variant, layout))
    return result


def values_of(report, variant, layout, target):
    return [m["value"] for m in report["measurements"]
            if m["variant"] == variant["id"] and m["target"] == target and m.get("layout", "split") == layout]


def bars(report, variant, layout):
    """(target, median, min, max) of every target measured in a variant and layout."""
    result = []
    for target in TARGETS:
        values = values_of(report, variant, layout, target)
        if not values or (variant["id"] == "idle-conns" and target == "direct"):
            continue
        result.append((target, statistics.median(values), min(values), max(values)))
    return result


def main(source, destination):
    with open(source) as handle:
        report = json.load(handle)
    variants = panels(report)
    columns = 4
    rows = math.ceil(len(variants) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows), squeeze=False)
    for index, (variant, layout) in enumerate(variants):
        axis = axes[index // columns][index % columns]
        names, medians, lows, highs = [], [], [], []
        for target, median, low, high in bars(report, variant, layout):
            names.append(target)
            medians.append(median)
            lows.append(median - low)
            highs.append(high - median)
        drawn = axis.bar([TITLES[n] for n in names], medians, color=[COLOURS[n] for n in names],
                         yerr=[lows, highs], capsize=3)
        for bar, value in zip(drawn, medians):
            label = f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"
            axis.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                          ha="center", va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
        better = "higher is better" if variant.get("higherIsBetter", True) else "lower is better"
        where = ", shared layout" if layout == "shared" else ""
        axis.set_title(f"{variant['title']}\n{variant['unit']}{where} ({better})", fontsize=9)
        axis.tick_params(axis="x", labelsize=8)
        axis.tick_params(axis="y", labelsize=7)
        axis.set_ylim(0, max(medians + [1]) * 1.25)
        axis.grid(axis="y", alpha=0.3)
    for index in range(len(variants), rows * columns):
        axes[index // columns][index % columns].axis("off")
    settings = report["settings"]
    mode = "quick run, indicative only" if settings["quick"] else f"{settings['rounds']} rounds, medians, min-max bars"
    figure.suptitle(f"pacsgate vs HAProxy, nginx and direct — {settings['cores']} cores ({mode})", fontsize=10)
    figure.tight_layout(rect=(0, 0, 1, 0.95))
    figure.savefig(destination, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
