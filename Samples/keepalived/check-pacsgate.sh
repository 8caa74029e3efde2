#!/bin/sh
# keepalived track_script: succeeds while pacsgate is healthy.
# pacsgate rewrites its ha.health_file every second with "ok" (or "fail REASON"); a file older than
# MAX_AGE seconds means pacsgate is hung or gone.
# Usage: check-pacsgate.sh HEALTH_FILE [MAX_AGE]
file=${1:?usage: check-pacsgate.sh HEALTH_FILE [MAX_AGE]}
max_age=${2:-3}
[ -f "$file" ] || exit 1
read -r word rest < "$file" || exit 1
[ "$word" = "ok" ] || exit 1
age=$(( $(date +%s) - $(stat -c %Y "$file") ))
[ "$age" -le "$max_age" ] || exit 1
exit 0
