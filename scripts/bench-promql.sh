#!/usr/bin/env bash
# Measures a PromQL round of edge-master (--source prometheus=URL) over NODES
# synthetic nodes held by VictoriaMetrics (Debian's victoria-metrics, single node):
#   1. one real edge-exporter's /metrics body is fetched;
#   2. NODES copies of it, each with its own instance="bench-NNNNN" label, are
#      imported twice, 15 s apart (counters moved on), through VictoriaMetrics'
#      /api/v1/import/prometheus;
#   3. edge-master reads them every 15 s and logs each round (queries and assembly);
#      the script prints the rounds' seconds, the store write, the nodes listed, and
#      edge-master's RSS (now and peak).
# Figures are printed, never asserted.
#
#   Every round asks the fast families; the slow groups (names, sizes, top processes)
#   are asked once per SLOW_INTERVAL (the first round, then at aligned times), and a
#   round that asked them is marked "(slow groups asked)".
#
# Usage: scripts/bench-promql.sh
# Env: NODES (default 10000), ROUNDS (default 5), SLOW_INTERVAL (s, default 60)
set -euo pipefail

cd "$(dirname "$0")/.."
NODES=${NODES:-10000}
ROUNDS=${ROUNDS:-5}
SLOW_INTERVAL=${SLOW_INTERVAL:-60}
INTERVAL=15

cargo build --release -p edge-master -p edge-exporter --bin edge-master --bin edge-exporter
target_dir=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
work=$(mktemp -d)
# Copies: a shared target directory may be rebuilt from another checkout meanwhile.
cp "$target_dir/release/edge-master" "$target_dir/release/edge-exporter" "$work/"
MASTER=$work/edge-master
EXPORTER=$work/edge-exporter

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {
    for _ in $(seq 100); do curl -fs "$1" >/dev/null && return 0; sleep 0.1; done
    echo "bench-promql: $1 does not answer" >&2
    exit 1
}

exporter_port=$(free_port)
"$EXPORTER" --web.listen-address="127.0.0.1:$exporter_port" --node-name=bench \
    --collector.top_processes.interval=1s >"$work/exporter.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$exporter_port/metrics"
sleep 2 # the first process sample
curl -fs "http://127.0.0.1:$exporter_port/metrics" >"$work/body.txt"
series=$(grep -vc '^#' "$work/body.txt")
echo "bench-promql: one exporter body: $series series; $NODES nodes = $((series * NODES)) series"

vm_port=$(free_port)
victoria-metrics -storageDataPath="$work/vm" -httpListenAddr="127.0.0.1:$vm_port" \
    -search.latencyOffset=0s -search.maxUniqueTimeseries=100000000 \
    -search.maxSamplesPerQuery=1000000000 -search.maxQueryDuration=120s \
    >"$work/vm.log" 2>&1 &
vm_pid=$!
pids+=("$vm_pid")
wait_http "http://127.0.0.1:$vm_port/health"

# Both imports' samples, 15 s apart, the second's counters 1 % higher: a steady rate
# for every counter.
now_ms=$(($(date +%s) * 1000))
import() {
    local at_ms=$1 scale=$2
    python3 - "$work/body.txt" "$NODES" "$at_ms" "$scale" <<'PY' |
import sys
body, nodes, at_ms, scale = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
lines = []
for line in open(body):
    if not line.strip() or line.startswith("#"):
        continue
    series, value = line.rstrip("\n").rsplit(" ", 1)
    name, brace, rest = series.partition("{")
    try:
        # Only counters move on: a gauge such as a state set's 1 stays what it is.
        counter = name.endswith("_total") or name.startswith("node_vmstat_")
        value = repr(float(value) * (scale if counter else 1.0))
    except ValueError:
        continue
    lines.append((name, rest if brace else None, value))
out = sys.stdout
for n in range(nodes):
    label = f'instance="bench-{n:05d}"'
    chunk = []
    for name, rest, value in lines:
        if rest is None:
            chunk.append(f"{name}{{{label}}} {value} {at_ms}\n")
        else:
            chunk.append(f"{name}{{{label},{rest} {value} {at_ms}\n")
    out.write("".join(chunk))
PY
        curl -fsS --data-binary @- "http://127.0.0.1:$vm_port/api/v1/import/prometheus"
}
# Two samples 2 minutes apart, read with a 5-minute rate window: every round of the
# next 3 minutes, and the slow groups' aligned time before it (at most
# --source.slow-interval = 60 s earlier), finds both.
started=$(date +%s.%N)
import $((now_ms - 120000)) 1.0
import "$now_ms" 1.01
curl -fsS "http://127.0.0.1:$vm_port/internal/force_flush" >/dev/null || true
echo "bench-promql: imported $((2 * series * NODES)) samples in $(echo "$(date +%s.%N) - $started" | bc) s"
# Rounds are evaluated at times aligned down to the interval: the first must not be
# before the second sample.
while (($(date +%s) * 1000 < now_ms + INTERVAL * 1000)); do sleep 1; done

master_port=$(free_port)
"$MASTER" --listen="127.0.0.1:$master_port" --db="$work/master.db" \
    --source="prometheus=http://127.0.0.1:$vm_port" --scrape-interval="${INTERVAL}s" \
    --scrape-timeout=60s --source.delay=0s --offline-after=40 --max-nodes=1000000 \
    --source.rate-window=5m --source.slow-interval="${SLOW_INTERVAL}s" \
    --log.level=debug >"$work/master.log" 2>&1 &
master_pid=$!
pids+=("$master_pid")
wait_http "http://127.0.0.1:$master_port/healthz"

# A round may take longer than the interval (then the next starts late) or fail at
# the 60 s query timeout: wait for that, and print failures too.
for _ in $(seq $((ROUNDS * (INTERVAL + 60) + 30))); do
    rounds=$(grep -c 'PromQL round' "$work/master.log" || true)
    [[ $rounds -ge $ROUNDS ]] && break
    sleep 1
done
awk '/PromQL slow groups asked/ { slow = 1 }
     /PromQL round/ { sub(/^.*PromQL round/, "round"); print substr($0, 1, 260) (slow ? " (slow groups asked)" : ""); slow = 0 }' \
    "$work/master.log" || true
# Per round, its answers: backend (answer and transfer) vs decoding, summed over its
# queries, and the slowest query (4 run at once).
echo "bench-promql: per round, summed over its queries, and its slowest query:"
awk '/PromQL answer/ { for (i = 1; i <= NF; i++) { if ($i ~ /^backend_seconds=/) b += substr($i, 17); if ($i ~ /^decode_seconds=/) d += substr($i, 16) }; n++ }
     /PromQL query/ { s = 0; for (i = 1; i <= NF; i++) if ($i ~ /^seconds=/) s = substr($i, 9);
                      if (s > top) { top = s; q = $0; sub(/^.*query=/, "", q); q = substr(q, 1, 90) } }
     /PromQL round/ { r++; printf "  round %d: %d queries, backend %.2f s, decoding %.2f s; slowest %.2f s: %s\n", r, n, b, d, top, q; b = d = n = top = 0 }' \
    "$work/master.log" || true
listed=$(curl -fs "http://127.0.0.1:$master_port/api/v2/clusters/default/node-metrics" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["summary"]["total_nodes"], d["summary"]["online_nodes"])')
write=$(curl -fs "http://127.0.0.1:$master_port/metrics" |
    awk '/^edge_master_store_write_duration_seconds_(sum|count)/ {print $1"="$2}' | tr '\n' ' ')
rss() { awk -v f="$1:" '$1 == f {print int($2 / 1024) " MB"}' "/proc/$2/status"; }
echo "bench-promql: nodes listed (total, online): $listed"
echo "bench-promql: store writes: $write"
echo "bench-promql: edge-master RSS $(rss VmRSS $master_pid), peak $(rss VmHWM $master_pid)"
echo "bench-promql: victoria-metrics RSS $(rss VmRSS $vm_pid), peak $(rss VmHWM $vm_pid)"
