#!/usr/bin/env python3
"""Instructions per connection from instructions.sh's callgrind dumps (one per scenario).

   per_connection.py WORK CONNECTIONS SCENARIO...
"""
import glob
import re
import subprocess
import sys

work, connections, scenarios = sys.argv[1], int(sys.argv[2]), sys.argv[3:]


def inclusive(annotation, pattern):
    """The inclusive Ir of the first function whose name matches `pattern`."""
    for line in annotation.splitlines():
        if re.search(pattern, line):
            value = line.split()[0].replace(",", "")
            return int(value) if value.isdigit() else 0
    return 0


dumps = {}
for path in glob.glob(work + "/callgrind.out.*"):
    with open(path, errors="replace") as file:
        head = file.read(4000)
    found = re.search(r"^desc: Trigger: dump (\w+)$", head, re.M)
    if found:
        dumps[found.group(1)] = path

print("%-6s %10s %10s %13s %14s %7s" % ("", "all", "reactor", "audit writer", "other threads", "errors"))
for scenario in scenarios:
    path = dumps.get(scenario)
    if path is None:
        print("%-6s no dump" % scenario)
        continue
    with open(path, errors="replace") as file:
        total = int(re.search(r"^summary: (\d+)", file.read(), re.M).group(1))
    annotation = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", path], capture_output=True, text=True
    ).stdout
    reactor = inclusive(annotation, r"PacsgateDataPlane7ReactorC3run")
    writer = inclusive(annotation, r"PacsgateCore8AuditLogC5start.*NIOThreadPoolC13WorkItemStateOYbcfU0_ ")
    with open("%s/%s.result" % (work, scenario)) as file:
        errors = re.search(r'"errors":\s*(\d+)', file.read()).group(1)
    print(
        "%-6s %10d %10d %13d %14d %7s"
        % (scenario, total // connections, reactor // connections, writer // connections,
           (total - reactor - writer) // connections, errors)
    )
