#!/usr/bin/env python3
"""Draws docs/bench/results.png from the load tool's JSON: one panel per scenario, one bar per target (median, with
the min-max range of the rounds as an error bar), the value printed on each bar.

    python3 bench/chart.py docs/bench/results.json docs/bench/results.png

Uses matplotlib (bench/run.sh installs it from Debian or PyPI when missing); without it, draws the same panels with a
small built-in PNG writer and a 3x5 pixel font (bars and figures, no error bars).
"""
import json
import math
import statistics
import struct
import sys
import zlib

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: E402
except ImportError:  # the plain fallback below
    plt = None

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
    if plt is None:
        plain_chart(report, destination)
        return
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


# --- fallback without matplotlib: a tiny raster, a 3x5 font and a PNG writer -------------------------------------

FONT = {  # 3 columns x 5 rows, one string of 15 bits per glyph, row by row
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001010010",
    "8": "111101111101111", "9": "111101111001111", ".": "000000000000010", ",": "000000000010100",
    "-": "000000111000000", "/": "001001010100100", "(": "010100100100010", ")": "010001001001010",
    " ": "000000000000000", ">": "100010001010100", ":": "000010000010000", "%": "101001010100101",
    "A": "010101111101101", "B": "110101110101110", "C": "011100100100011", "D": "110101101101110",
    "E": "111100110100111", "F": "111100110100100", "G": "011100101101011", "H": "101101111101101",
    "I": "111010010010111", "J": "001001001101010", "K": "101101110101101", "L": "100100100100111",
    "M": "101111111101101", "N": "110101101101101", "O": "010101101101010", "P": "110101110100100",
    "Q": "010101101110011", "R": "110101110101101", "S": "011100010001110", "T": "111010010010010",
    "U": "101101101101111", "V": "101101101101010", "W": "101101111111101", "X": "101101010101101",
    "Y": "101101010010010", "Z": "111001010100111",
}


class Canvas:
    def __init__(self, width, height):
        self.width, self.height = width, height
        self.pixels = bytearray(b"\xff" * (width * height * 3))

    def rect(self, x0, y0, x1, y1, colour):
        r, g, b = colour
        for y in range(max(0, y0), min(self.height, y1)):
            row = y * self.width * 3
            for x in range(max(0, x0), min(self.width, x1)):
                self.pixels[row + 3 * x:row + 3 * x + 3] = bytes((r, g, b))

    def text(self, x, y, text, scale=2, colour=(0, 0, 0)):
        for char in text.upper().replace("→", ">").replace("×", "X").replace("µ", "U"):
            glyph = FONT.get(char, FONT[" "])
            for index, bit in enumerate(glyph):
                if bit == "1":
                    gx, gy = x + (index % 3) * scale, y + (index // 3) * scale
                    self.rect(gx, gy, gx + scale, gy + scale, colour)
            x += 4 * scale

    def png(self):
        raw = b"".join(b"\x00" + bytes(self.pixels[y * self.width * 3:(y + 1) * self.width * 3])
                       for y in range(self.height))

        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def hex_colour(text):
    return tuple(int(text[i:i + 2], 16) for i in (1, 3, 5))


def plain_chart(report, destination):
    variants = panels(report)
    columns, panel_w, panel_h, top = 4, 300, 240, 60
    rows = math.ceil(len(variants) / columns)
    canvas = Canvas(columns * panel_w, top + rows * panel_h)
    settings = report["settings"]
    mode = "QUICK RUN" if settings["quick"] else f"{settings['rounds']} ROUNDS, MEDIANS"
    canvas.text(10, 10, f"PACSGATE VS HAPROXY, NGINX, DIRECT - {settings['cores']} CORES ({mode})")
    x = 10
    for target in TARGETS:  # legend
        canvas.rect(x, 34, x + 12, 46, hex_colour(COLOURS[target]))
        canvas.text(x + 16, 35, TITLES[target])
        x += 16 + 8 * (len(TITLES[target]) + 3)
    for index, (variant, layout) in enumerate(variants):
        ox, oy = (index % columns) * panel_w, top + (index // columns) * panel_h
        title = (variant["title"][:26] + " SHARED") if layout == "shared" else variant["title"][:34]
        canvas.text(ox + 8, oy + 4, title)
        better = "HIGHER" if variant.get("higherIsBetter", True) else "LOWER"
        canvas.text(ox + 8, oy + 18, f"{variant['unit']} ({better} IS BETTER)")
        data = bars(report, variant, layout)
        if not data:
            continue
        peak = max(median for _, median, _, _ in data) * 1.2 or 1
        base, height = oy + panel_h - 16, panel_h - 70
        canvas.rect(ox + 8, base, ox + panel_w - 8, base + 1, (120, 120, 120))
        width = (panel_w - 24) // len(data)
        for slot, (target, median, _, _) in enumerate(data):
            x0 = ox + 12 + slot * width
            bar = int(height * median / peak)
            canvas.rect(x0 + 6, base - bar, x0 + width - 6, base, hex_colour(COLOURS[target]))
            label = f"{median:,.0f}" if median >= 100 else f"{median:,.1f}"
            canvas.text(x0 + 6, base - bar - 14, label)
    with open(destination, "wb") as handle:
        handle.write(canvas.png())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
