#!/usr/bin/env bash
# Cost of edge-exporter's top-processes sampler with 1,000 extra sleeping processes:
#  1. idle: edge-exporter (default collectors, --collector.top_processes.interval=5s) with no
#     scrapes at all, so only the background sampler runs; goal <= 1% of one core;
#  2. side by side with the tool people run for this today, Debian's
#     prometheus-process-exporter (all processes grouped by name, its defaults), both
#     scraped every SCRAPE_EVERY seconds over the same window.
# CPU comes from utime+stime in /proc/PID/stat. Env: EXTRA (1000), SECONDS_IDLE (60),
# SECONDS_SCRAPED (60), SCRAPE_EVERY (5).
set -euo pipefail
cd "$(dirname "$0")/.."

extra=${EXTRA:-1000}
idle_seconds=${SECONDS_IDLE:-60}
scraped_seconds=${SECONDS_SCRAPED:-60}
every=${SCRAPE_EVERY:-5}

if ! command -v prometheus-process-exporter >/dev/null 2>&1; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "== installing prometheus-process-exporter (Debian) for the comparison"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus-process-exporter
  if [ -d /run/systemd/system ]; then "${sudo[@]}" systemctl disable --now prometheus-process-exporter >/dev/null 2>&1 || true; fi
fi

cargo build --release -p edge-exporter
edge=$(cargo metadata --format-version 1 --no-deps | sed -E 's/.*"target_directory":"([^"]+)".*/\1/')/release/edge-exporter

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || shuf -i 20000-60000 -n 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
percent() { awk -v t="$1" -v hz="$hz" -v s="$2" 'BEGIN { printf "%.3f", t / hz / s * 100 }'; }
wait_port() {
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$1$2" && return 0; sleep 0.1; done
  echo "server on port $1 did not start" >&2; exit 1
}

echo "== starting $extra sleeping processes"
for _ in $(seq "$extra"); do sleep 3600 & pids+=($!); done
echo "processes on this machine: $(find /proc -maxdepth 1 -name "[0-9]*" | wc -l)"

edge_port=$(free_port)
"$edge" --web.listen-address="127.0.0.1:$edge_port" --node-name=bench --collector.top_processes.interval=5s >"$work/edge.log" 2>&1 &
edge_pid=$!; pids+=("$edge_pid")
wait_port "$edge_port" /healthz

echo "== 1. idle: ${idle_seconds}s, no scrapes"
sleep 6
before=$(cpu_ticks "$edge_pid")
sleep "$idle_seconds"
after=$(cpu_ticks "$edge_pid")
idle=$(percent $((after - before)) "$idle_seconds")
sampled=$(curl -s "http://127.0.0.1:$edge_port/metrics" | awk '/^edge_processes_sampled /{print $2}')
echo "edge-exporter sampler: ${idle}% of one core (sampled $sampled processes per 5s window)"

pe_port=$(free_port)
cat >"$work/process-exporter.yml" <<'YML'
process_names:
  - name: "{{.Comm}}"
    cmdline:
      - '.+'
YML
prometheus-process-exporter -web.listen-address="127.0.0.1:$pe_port" -config.path="$work/process-exporter.yml" >"$work/pe.log" 2>&1 &
pe_pid=$!; pids+=("$pe_pid")
wait_port "$pe_port" /metrics

echo "== 2. both scraped every ${every}s for ${scraped_seconds}s"
curl -s -o /dev/null "http://127.0.0.1:$pe_port/metrics"
edge_before=$(cpu_ticks "$edge_pid"); pe_before=$(cpu_ticks "$pe_pid")
end=$((SECONDS + scraped_seconds))
while [ "$SECONDS" -lt "$end" ]; do
  curl -s -o "$work/edge.txt" "http://127.0.0.1:$edge_port/metrics"
  curl -s -o "$work/pe.txt" "http://127.0.0.1:$pe_port/metrics"
  sleep "$every"
done
edge_after=$(cpu_ticks "$edge_pid"); pe_after=$(cpu_ticks "$pe_pid")
edge_cpu=$(percent $((edge_after - edge_before)) "$scraped_seconds")
pe_cpu=$(percent $((pe_after - pe_before)) "$scraped_seconds")
rss() { awk '/^VmRSS/{printf "%.1f", $2/1024}' "/proc/$1/status"; }
series() { grep -vc '^#' "$1"; }

printf '\n%-34s %16s %16s %8s\n' "" "process-exporter" "edge-exporter" "ratio"
printf '%-34s %15s%% %15s%% %7sx\n' "CPU, scraped every ${every}s (% core)" "$pe_cpu" "$edge_cpu" \
  "$(awk -v a="$edge_cpu" -v b="$pe_cpu" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')"
printf '%-34s %16s %16s\n' "RSS (MB)" "$(rss "$pe_pid")" "$(rss "$edge_pid")"
printf '%-34s %16s %16s\n' "series per scrape" "$(series "$work/pe.txt")" "$(series "$work/edge.txt")"
printf '%-34s %16s %15s%%\n' "sampler with no scrapes (% core)" "-" "$idle"
awk -v i="$idle" 'BEGIN { printf "goal: idle sampler <= 1%% of one core (%s%%): %s\n", i, (i <= 1 ? "MET" : "NOT MET") }'
