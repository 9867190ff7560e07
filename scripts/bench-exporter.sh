#!/usr/bin/env bash
# Benchmarks edge-exporter against node_exporter in one run, in two pairings:
#   1. "core": the 15 collectors edge-exporter had before parity (cpu … textfile), the
#      same set on both, exporter metrics off: the like-for-like figure kept from
#      earlier runs;
#   2. "defaults": each with ALL its default collectors and its own exporter metrics
#      (node_exporter 1.5's 40-odd defaults; edge-exporter's 49 node_exporter 1.12
#      defaults plus top_processes), as a user runs them.
# Each pairing starts both on free 127.0.0.1 ports with the same filters, then runs
# exporter/examples/scrape_bench.rs, which alternates rounds of scrapes between them
# and prints CPU per scrape, latency, RSS and the ratios (see its doc comment).
#
# Usage: scripts/bench-exporter.sh [core|defaults]   (both when not given)
# Env:   SCRAPES (per server and round, default 300), ROUNDS (default 5),
#        WARMUP (default 20), IDLE_SECONDS (default 0), passed on to scrape_bench.
# Exits non-zero only if something fails to build or start, or a scrape fails.
set -euo pipefail

cd "$(dirname "$0")/.."

NODE_EXPORTER=/usr/bin/prometheus-node-exporter
if [[ ! -x $NODE_EXPORTER ]]; then
    echo "bench-exporter: $NODE_EXPORTER not found: run scripts/test.sh once, which" \
        "installs Debian's prometheus-node-exporter" >&2
    exit 1
fi

cargo build --release -p edge-exporter --bin edge-exporter --example scrape_bench
target_dir=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
EDGE_EXPORTER=$target_dir/release/edge-exporter
SCRAPE_BENCH=$target_dir/release/examples/scrape_bench

# The same series from both: Debian's node_exporter excludes ^lo$ from netdev and
# more mount points than upstream by default, so both filters are given explicitly
# (upstream node_exporter 1.5's defaults for the filesystem ones, which are
# edge-exporter's defaults).
FILTERS=(
    '--collector.netdev.device-exclude=^$'
    '--collector.filesystem.mount-points-exclude=^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)'
    '--collector.filesystem.fs-types-exclude=^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$'
    # Debian's node_exporter reads /var/lib/prometheus/node-exporter by default.
    '--collector.textfile.directory='
)
# edge-exporter's default collector set but processes (node_exporter has no
# equivalent; scripts/bench-processes.sh measures it); netdev stays in netlink mode.
NODE_EXPORTER_COLLECTORS=(
    --collector.disable-defaults
    --collector.cpu --collector.cpu.info --collector.cpufreq --collector.loadavg
    --collector.meminfo --collector.stat --collector.uname --collector.os
    --collector.time --collector.diskstats --collector.filesystem
    --collector.netdev --collector.netdev.address-info --collector.netclass
    --collector.hwmon --collector.thermal_zone --collector.textfile
    --web.disable-exporter-metrics
)
# The same 15 on edge-exporter: everything else off.
EDGE_EXPORTER_COLLECTORS=(
    --collector.disable-defaults
    --collector.cpu --collector.cpufreq --collector.loadavg --collector.meminfo
    --collector.stat --collector.uname --collector.os --collector.time
    --collector.diskstats --collector.filesystem --collector.netdev
    --collector.netclass --collector.hwmon --collector.thermal_zone
    --collector.textfile --web.disable-exporter-metrics
)
PAIRINGS=("${@:-core defaults}")
read -r -a PAIRINGS <<<"${PAIRINGS[*]}"

logs=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$logs"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Prints a port on 127.0.0.1 that nothing listens on (and that we have not used).
free_port() {
    local port
    while true; do
        port=$((20000 + RANDOM % 40000))
        if [[ " ${used_ports:-} " == *" $port "* ]]; then
            continue
        fi
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

# start NAME COMMAND...: starts a server in the background, sets $started_pid and
# waits until its port (the last word of $port) accepts connections.
start() {
    local name=$1 pid
    shift
    "$@" >"$logs/$name.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "bench-exporter: $name exited at start:" >&2
            cat "$logs/$name.log" >&2
            exit 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            started_pid=$pid
            return
        fi
        sleep 0.1
    done
    echo "bench-exporter: $name does not listen on 127.0.0.1:$port after 10 s:" >&2
    cat "$logs/$name.log" >&2
    exit 1
}

# pair NAME NODE_EXPORTER_ARGS... -- EDGE_EXPORTER_ARGS...: one comparison.
pair() {
    local name=$1 ne_args=() edge_args=()
    shift
    while [[ $# -gt 0 && $1 != -- ]]; do ne_args+=("$1"); shift; done
    shift
    edge_args=("$@")
    echo
    echo "=== $name ==="
    port=$(free_port)
    used_ports="${used_ports:-} $port"
    start "node_exporter-$name" "$NODE_EXPORTER" "--web.listen-address=127.0.0.1:$port" \
        "${ne_args[@]}" "${FILTERS[@]}"
    local node_pid=$started_pid node_url="http://127.0.0.1:$port/metrics"
    port=$(free_port)
    used_ports="$used_ports $port"
    start "edge-exporter-$name" "$EDGE_EXPORTER" "--web.listen-address=127.0.0.1:$port" \
        --node-name bench "${edge_args[@]}" "${FILTERS[@]}"
    local edge_pid=$started_pid edge_url="http://127.0.0.1:$port/metrics"
    echo "node_exporter $("$NODE_EXPORTER" --version 2>&1 | head -n1 | cut -d' ' -f3) pid $node_pid $node_url"
    echo "edge-exporter pid $edge_pid $edge_url"
    GOAL_CPU_RATIO=$GOAL_CPU_RATIO "$SCRAPE_BENCH" node_exporter "$node_pid" "$node_url" edge-exporter "$edge_pid" "$edge_url"
    kill "$node_pid" "$edge_pid"
    wait "$node_pid" "$edge_pid" 2>/dev/null || true
}

for pairing in "${PAIRINGS[@]}"; do
    case $pairing in
    # Goal: no regression from before parity (0.17-0.22x).
    core) GOAL_CPU_RATIO=0.22 pair core "${NODE_EXPORTER_COLLECTORS[@]}" -- "${EDGE_EXPORTER_COLLECTORS[@]}" ;;
    # Each exporter's own defaults; netdev in both stays as it defaults (node_exporter
    # 1.5: netlink; edge-exporter: netlink).
    # Goal: at most 0.20x node_exporter's CPU per scrape, RSS at most 6 MB.
    defaults) GOAL_CPU_RATIO=0.20 pair defaults -- ;;
    *)
        echo "bench-exporter: unknown pairing $pairing (core or defaults)" >&2
        exit 2
        ;;
    esac
done
