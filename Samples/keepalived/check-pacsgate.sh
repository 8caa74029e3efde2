#!/bin/sh
# keepalived track_script: succeeds while pacsgate is healthy and not hung.
# pacsgate rewrites its ha.health_file every 250 ms with "ok" ("fail stopping" when it hands over); a file older than
# MAX_AGE_MS milliseconds means pacsgate is hung (a crash is seen at once by track_process).
# Usage: check-pacsgate.sh HEALTH_FILE [MAX_AGE_MS]
file=${1:?usage: check-pacsgate.sh HEALTH_FILE [MAX_AGE_MS]}
max_age=${2:-2000}
[ -f "$file" ] || exit 1
read -r word rest < "$file" || exit 1
[ "$word" = "ok" ] || exit 1
# GNU date and stat: milliseconds since the epoch, now and at the file's last change.
now=$(date +%s%3N)
changed=$(stat -c %.3Y "$file") || exit 1
changed_ms=${changed%.*}${changed#*.}
[ $((now - changed_ms)) -le "$max_age" ] || exit 1
exit 0
