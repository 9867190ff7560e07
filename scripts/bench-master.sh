#!/usr/bin/env bash
# Benchmarks edge-master's scrape path against vmagent scraping the same targets in
# the same run, then edge-master taking pushes.
#
# The targets: master/examples/fake_exporters.rs serves a real edge-exporter's body
# (captured from one started here, top processes on) as /n/{i}/metrics for any i, on
# one loopback port, optionally after a delay. For each node count in SWEEP, edge-master
# (release build, --targets-file, fresh SQLite file) and vmagent (remote write into the
# same fake server, which discards it) scrape the N targets every INTERVAL seconds; after
# WARMUP seconds, DURATION seconds are measured from /proc: CPU (cores = CPU seconds /
# wall seconds), RSS at the end and its peak (VmHWM), bytes written to disk by
# edge-master (/proc/PID/io write_bytes), and the list API's median time and size
# over LIST_REQUESTS requests (curl). Then PUSH_NODES nodes push a snapshot every
# INTERVAL seconds (fake_exporters push) and the same is measured for edge-master.
#
# Usage: scripts/bench-master.sh
# Env:   SWEEP (node counts, default "100 500 1000 2000 5000"), INTERVAL (5),
#        WARMUP (20), DURATION (60), DELAY_MS (0: answer at once; 150 as a slow
#        board would), LIST_REQUESTS (21), PUSH_NODES (1000; 0 skips the push run),
#        REPEAT (1: runs per node count, each with a fresh edge-master and vmagent;
#        above 1 the medians of the CPU figures and of the ratio are printed too, as
#        this shared machine's figures move by ±20 % between runs).
# Goals at 1,000 nodes (issue "master-scale"): CPU <= 0.5x vmagent's, RSS <= 150 MB,
# disk writes <= 0.3 MB/s, list API p50 <= 50 ms. Printed, never asserted.
set -euo pipefail

cd "$(dirname "$0")/.."

SWEEP=${SWEEP:-"100 500 1000 2000 5000"}
INTERVAL=${INTERVAL:-5}
WARMUP=${WARMUP:-20}
DURATION=${DURATION:-60}
DELAY_MS=${DELAY_MS:-0}
LIST_REQUESTS=${LIST_REQUESTS:-21}
PUSH_NODES=${PUSH_NODES:-1000}
REPEAT=${REPEAT:-1}
VMAGENT=/usr/bin/vmagent

if [[ ! -x $VMAGENT ]]; then
    echo "bench-master: $VMAGENT not found: run scripts/test.sh once, which installs" \
        "Debian's victoria-metrics (vmagent)" >&2
    exit 1
fi

cargo build --release -p edge-master --bin edge-master --example fake_exporters
cargo build --release -p edge-exporter --bin edge-exporter
target_dir=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
EDGE_MASTER=$target_dir/release/edge-master
EDGE_EXPORTER=$target_dir/release/edge-exporter
FAKE=$target_dir/release/examples/fake_exporters

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_http() { # URL
    for _ in $(seq 100); do
        curl -sf -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "bench-master: $1 did not answer" >&2
    exit 1
}

cpu_ticks() { # PID: utime + stime, in clock ticks
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

status_kib() { # PID FIELD
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

write_bytes() { # PID
    awk '$1 == "write_bytes:" { print $2 }' "/proc/$1/io"
}

TICKS=$(getconf CLK_TCK)

# 1. A real exporter's body, and a real node's snapshot (for the push run).
exporter_port=$(free_port)
"$EDGE_EXPORTER" --web.listen-address="127.0.0.1:$exporter_port" --node-name=bench-node \
    --collector.top_processes.interval=1s >"$work/exporter.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$exporter_port/metrics"
sleep 2
curl -sf -H 'Accept: text/plain;version=0.0.4' "http://127.0.0.1:$exporter_port/metrics" >"$work/body.txt"
series=$(grep -vc '^#' "$work/body.txt")
master_port=$(free_port)
"$EDGE_MASTER" --listen="127.0.0.1:$master_port" --db="$work/capture.db" \
    --target="bench-node=http://127.0.0.1:$exporter_port/metrics" --scrape-interval=1s \
    >"$work/capture.log" 2>&1 &
capture=$!
wait_http "http://127.0.0.1:$master_port/healthz"
sleep 3
curl -sf "http://127.0.0.1:$master_port/api/v2/clusters/default/node-metrics/bench-node" |
    python3 -c 'import json, sys; d = json.load(sys.stdin); json.dump(d.get("data", d), sys.stdout)' \
        >"$work/snapshot.json"
kill "$capture"
wait "$capture" 2>/dev/null || true

# 2. The simulated nodes.
"$FAKE" serve "$work/body.txt" "$DELAY_MS" >"$work/fake.out" 2>"$work/fake.log" &
pids+=($!)
for _ in $(seq 50); do [[ -s $work/fake.out ]] && break; sleep 0.1; done
fake_port=$(awk '/^port/ { print $2 }' "$work/fake.out")
wait_http "http://127.0.0.1:$fake_port/requests"
echo "bench-master: body of $(wc -c <"$work/body.txt") bytes, $series series; interval ${INTERVAL}s," \
    "answer delay ${DELAY_MS} ms, warm-up ${WARMUP}s, measured ${DURATION}s"

# Measures PIDs over DURATION s; prints "cores rss_mb peak_mb written_mb_per_s" per pid.
measure() {
    local -a before_cpu before_io
    local i=0
    for pid in "$@"; do
        before_cpu[i]=$(cpu_ticks "$pid")
        before_io[i]=$(write_bytes "$pid")
        i=$((i + 1))
    done
    sleep "$DURATION"
    i=0
    for pid in "$@"; do
        local cpu io
        cpu=$(cpu_ticks "$pid")
        io=$(write_bytes "$pid")
        awk -v c=$((cpu - before_cpu[i])) -v t="$TICKS" -v d="$DURATION" \
            -v rss="$(status_kib "$pid" VmRSS)" -v hwm="$(status_kib "$pid" VmHWM)" \
            -v w=$((io - before_io[i])) \
            'BEGIN { printf "%.3f %.0f %.0f %.3f\n", c / t / d, rss / 1024, hwm / 1024, w / d / 1e6 }'
        i=$((i + 1))
    done
}

# Median time (ms) and size (MB) of the list API.
list_p50() { # PORT
    local url="http://127.0.0.1:$1/api/v2/clusters/default/node-metrics"
    for _ in $(seq "$LIST_REQUESTS"); do
        curl -s -o /dev/null -w '%{time_total} %{size_download}\n' "$url"
    done | sort -n | awk '{ t[NR] = $1; s[NR] = $2 } END {
        m = int((NR + 1) / 2); printf "%.1f %.2f\n", t[m] * 1000, s[m] / 1e6 }'
}

nodes_online() { # PORT
    curl -s "http://127.0.0.1:$1/api/v2/clusters/default/node-metrics" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["summary"]["online_nodes"])'
}

rows=()
medians=()
goal_row=""
for n in $SWEEP; do
    : >"$work/targets"
    python3 - "$n" "$fake_port" "$work/targets" "$work/vmagent-targets.json" <<'EOF'
import json, sys
n, port, targets, sd = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
with open(targets, "w") as f:
    for i in range(n):
        f.write(f"node-{i:05}=http://127.0.0.1:{port}/n/{i}/metrics\n")
with open(sd, "w") as f:
    json.dump([{"targets": [f"127.0.0.1:{port}"],
                "labels": {"__metrics_path__": f"/n/{i}/metrics", "node": f"node-{i:05}"}}
               for i in range(n)], f)
EOF
    cat >"$work/vmagent.yml" <<EOF
global:
  scrape_interval: ${INTERVAL}s
scrape_configs:
  - job_name: nodes
    file_sd_configs:
      - files: ["$work/vmagent-targets.json"]
EOF
    ratios=()
    for rep in $(seq "$REPEAT"); do
        master_port=$(free_port)
        rm -f "$work/master.db"*
        "$EDGE_MASTER" --listen="127.0.0.1:$master_port" --db="$work/master.db" \
            --targets-file="$work/targets" --scrape-interval="${INTERVAL}s" \
            --max-nodes=$((n + 100)) >"$work/master.log" 2>&1 &
        master=$!
        pids+=("$master")
        vmagent_port=$(free_port)
        rm -rf "$work/vmagent-data"
        "$VMAGENT" -promscrape.config="$work/vmagent.yml" \
            -remoteWrite.url="http://127.0.0.1:$fake_port/api/v1/write" \
            -remoteWrite.tmpDataPath="$work/vmagent-data" \
            -httpListenAddr="127.0.0.1:$vmagent_port" >"$work/vmagent.log" 2>&1 &
        vmagent=$!
        pids+=("$vmagent")
        wait_http "http://127.0.0.1:$master_port/healthz"
        sleep "$WARMUP"
        read -r -a figures <<<"$(measure "$master" "$vmagent" | tr "\n" " ")"
        read -r p50 size < <(list_p50 "$master_port")
        online=$(nodes_online "$master_port")
        kill "$master" "$vmagent"
        wait "$master" "$vmagent" 2>/dev/null || true
        ratio=$(awk -v a="${figures[0]}" -v b="${figures[4]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
        row=$(printf '| %5d | %5d | %5.3f | %4s (%s) | %5.3f | %5.1f / %s | %5.3f | %4s (%s) | %4s |' \
            "$n" "$online" "${figures[0]}" "${figures[1]}" "${figures[2]}" "${figures[3]}" \
            "$p50" "$size" "${figures[4]}" "${figures[5]}" "${figures[6]}" "$ratio")
        rows+=("$row")
        [[ $n == 1000 ]] && goal_row=$row
        ratios+=("${figures[0]} ${figures[4]} $ratio")
        echo "$row  (run $rep of $REPEAT)"
    done
    if [[ $REPEAT -gt 1 ]]; then
        # The medians of the runs, each column on its own.
        median=$(printf '%s\n' "${ratios[@]}" | awk '{ m[NR] = $1; v[NR] = $2; r[NR] = $3 }
            function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
            END { printf "master %.3f cores, vmagent %.3f cores, CPU ratio %.2f", med(m, NR), med(v, NR), med(r, NR) }')
        medians+=("$n nodes, median of $REPEAT runs: $median")
    fi
done

echo
echo "edge-master vs vmagent, each scraping the same N targets every ${INTERVAL}s (answer delay ${DELAY_MS} ms):"
echo "| nodes | online | master CPU (cores) | master RSS MB (peak) | master writes MB/s | list p50 ms / MB | vmagent CPU | vmagent RSS MB (peak) | CPU ratio |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
if [[ ${#medians[@]} -gt 0 ]]; then
    printf '%s\n' "${medians[@]}"
fi
if [[ -n $goal_row ]]; then
    echo "goals at 1,000 nodes: CPU ratio <= 0.5, RSS <= 150 MB, writes <= 0.3 MB/s, list p50 <= 50 ms"
fi

if [[ $PUSH_NODES -gt 0 ]]; then
    master_port=$(free_port)
    rm -f "$work/push.db"*
    "$EDGE_MASTER" --listen="127.0.0.1:$master_port" --db="$work/push.db" \
        --max-nodes=$((PUSH_NODES + 100)) >"$work/push-master.log" 2>&1 &
    master=$!
    pids+=("$master")
    wait_http "http://127.0.0.1:$master_port/healthz"
    "$FAKE" push "http://127.0.0.1:$master_port/metrics/node" "$work/snapshot.json" \
        "$PUSH_NODES" "$INTERVAL" 2>"$work/push.log" &
    pusher=$!
    pids+=("$pusher")
    sleep "$WARMUP"
    read -r -a figures < <(measure "$master")
    read -r p50 size < <(list_p50 "$master_port")
    online=$(nodes_online "$master_port")
    echo
    echo "edge-master taking pushes: $PUSH_NODES nodes, one snapshot ($(wc -c <"$work/snapshot.json") bytes) each every ${INTERVAL}s:"
    echo "| nodes | online | master CPU (cores) | master RSS MB (peak) | master writes MB/s | list p50 ms / MB |"
    echo "|---|---|---|---|---|---|"
    printf '| %5d | %5d | %5.3f | %4s (%s) | %5.3f | %5.1f / %s |\n' "$PUSH_NODES" "$online" \
        "${figures[0]}" "${figures[1]}" "${figures[2]}" "${figures[3]}" "$p50" "$size"
    refused=$(grep -c 'answered' "$work/push.log" || true)
    [[ $refused -gt 0 ]] && echo "push refusals logged: $refused (see the pusher's log)"
    kill "$pusher" "$master"
fi
