#!/usr/bin/env bash
# Every thermal zone's temperature, as key=value lines for edge-sidecar:
# <zone type>_temp_celsius=<value>, the type lowercased with anything but letters,
# digits and '_' turned into '_' (Jetson Nano: cpu_therm, gpu_therm, pll, pmic, …).
#   THERMAL_ROOT  (default /sys/class/thermal; tests point it at a fake tree)
set -euo pipefail

root=${THERMAL_ROOT:-/sys/class/thermal}
found=0
for zone in "$root"/thermal_zone*; do
  if [ ! -r "$zone/type" ] || [ ! -r "$zone/temp" ]; then continue; fi
  # A zone that cannot be read right now (EAGAIN, ENODATA) is skipped.
  millidegrees=$(cat "$zone/temp" 2>/dev/null) || continue
  [[ $millidegrees =~ ^-?[0-9]+$ ]] || continue
  type=$(tr '[:upper:]' '[:lower:]' < "$zone/type" | tr -c 'a-z0-9_\n' '_')
  awk -v k="$type" -v m="$millidegrees" 'BEGIN { printf "%s_temp_celsius=%.3f\n", k, m / 1000 }'
  found=1
done
[ "$found" -eq 1 ]
