#!/usr/bin/env bash
# A script that works on any Linux node, for trying edge-sidecar without sensors
# (scripts/run.sh schedules it): key=value lines from /proc and, where the node has
# them, the thermal zones.
#   uptime_seconds=<seconds since boot>
#   processes=<number of processes>
#   thermal_max_celsius=<hottest thermal zone>   (only with readable zones)
#   PROC_ROOT     (default /proc; tests point it at a fake tree)
#   THERMAL_ROOT  (default /sys/class/thermal)
set -euo pipefail

proc=${PROC_ROOT:-/proc}
thermal=${THERMAL_ROOT:-/sys/class/thermal}

read -r uptime _ < "$proc/uptime"
echo "uptime_seconds=$uptime"

processes=0
for entry in "$proc"/[0-9]*; do
  [ -d "$entry" ] && processes=$((processes + 1))
done
echo "processes=$processes"

hottest=""
for zone in "$thermal"/thermal_zone*; do
  millidegrees=$(cat "$zone/temp" 2>/dev/null) || continue
  [[ $millidegrees =~ ^-?[0-9]+$ ]] || continue
  if [ -z "$hottest" ] || [ "$millidegrees" -gt "$hottest" ]; then hottest=$millidegrees; fi
done
if [ -n "$hottest" ]; then
  awk -v m="$hottest" 'BEGIN { printf "thermal_max_celsius=%.3f\n", m / 1000 }'
fi
