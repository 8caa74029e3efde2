#!/usr/bin/env python3
"""Checks that every target of Package.swift declares exactly the modules its Swift files import.

Usage: scripts/check-dependencies.py [PACKAGE_DIR]   (run by scripts/test.sh; exit 1 with a list when they disagree)

A dependency declared and never imported, or a module imported and never declared (it builds today only because
another dependency happens to bring it in), is reported with the target's name. The targets' dependencies come from
`swift package dump-package` (SwiftPM's own reading of the manifest); a product's module is taken to have the
product's name, which holds for every package this project uses. The toolchain's own modules are not declared.
"""

import json
import os
import re
import subprocess
import sys

# Modules that come with the toolchain or the system, never declared in the manifest.
SYSTEM = {
    "Foundation", "FoundationEssentials", "FoundationNetworking", "Glibc", "Musl", "Darwin", "Dispatch",
    "Synchronization", "_Concurrency", "os", "Testing", "XCTest", "PackagePlugin", "RegexBuilder",
    "_StringProcessing", "Android", "WinSDK", "CoreFoundation", "Bionic",
}

# `import X`, `@testable import X`, `package import X`, `@preconcurrency internal import X`, `import struct X.Y`.
IMPORT = re.compile(
    r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:public\s+|package\s+|internal\s+|private\s+|fileprivate\s+)?"
    r"import\s+(?:(?:struct|class|enum|protocol|func|var|let|typealias)\s+)?([A-Za-z_][A-Za-z0-9_]*)"
)


def declared(target):
    names = set()
    for dependency in target["dependencies"]:
        for kind in ("byName", "target", "product"):
            if kind in dependency:
                names.add(dependency[kind][0])
    return names


def imported(directory):
    names = set()
    for root, _, files in os.walk(directory):
        for name in files:
            if not name.endswith(".swift"):
                continue
            with open(os.path.join(root, name), encoding="utf-8") as source:
                in_literal = False  # inside a multi-line string literal (the tests' Python peers import too)
                for line in source:
                    if not in_literal:
                        match = IMPORT.match(line)
                        if match:
                            names.add(match.group(1))
                    if line.count('"""') % 2 == 1:
                        in_literal = not in_literal
    return names


def main():
    package = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    manifest = json.loads(
        subprocess.run(["swift", "package", "dump-package"], cwd=package, check=True, capture_output=True, text=True).stdout
    )
    problems = []
    checked = 0
    for target in manifest["targets"]:
        if target["type"] not in ("regular", "executable", "test"):
            continue
        default = "Tests" if target["type"] == "test" else "Sources"
        directory = os.path.join(package, target.get("path") or os.path.join(default, target["name"]))
        uses = imported(directory) - SYSTEM - {target["name"]}
        if not uses and not any(f.endswith(".swift") for _, _, fs in os.walk(directory) for f in fs):
            continue  # a C target
        checked += 1
        declares = declared(target)
        for module in sorted(declares - uses):
            problems.append(f"{target['name']}: declares {module} and never imports it")
        for module in sorted(uses - declares):
            problems.append(f"{target['name']}: imports {module} without declaring it")
    for problem in problems:
        print(problem)
    if problems:
        print(f"check-dependencies: {len(problems)} disagreement(s) between Package.swift and the imports")
        return 1
    print(f"check-dependencies: {checked} targets declare exactly what they import")
    return 0


if __name__ == "__main__":
    sys.exit(main())
