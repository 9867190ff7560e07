#!/usr/bin/env bash
# The main job on this machine: the whole system a user installs on one node.
# Builds the three programs and starts
#   - edge-sidecar running scripts/node_health.sh (works on any Linux node) every 5 s
#     into the exporter's textfile directory,
#   - edge-exporter on this node, reading that directory,
#   - edge-master scraping the exporter into a local SQLite file,
# then prints the dashboard page's URL and the API's. Ctrl-C stops all three.
#   EXPORTER (default 127.0.0.1:9100)  MASTER (default 127.0.0.1:8080)
#   DB (default ./edge-master.db)      NODE_NAME (default: the hostname)
#   RUN_DIR (default ./target/run: the sidecar's config and the textfile directory)
set -euo pipefail
cd "$(dirname "$0")/.."

exporter=${EXPORTER:-127.0.0.1:9100}
master=${MASTER:-127.0.0.1:8080}
db=${DB:-edge-master.db}
node=${NODE_NAME:-$(hostname)}
run_dir=${RUN_DIR:-target/run}

cargo build --release -p edge-exporter -p edge-sidecar -p edge-master
target=$(cargo metadata --format-version 1 --no-deps | sed -E 's/.*"target_directory":"([^"]+)".*/\1/')/release

# The sidecar's config directory, as the ConfigMap would mount it: nodes.conf and the
# scripts it names. Only this node is listed.
config="$run_dir/sidecar"
textfile="$run_dir/textfile"
mkdir -p "$config" "$textfile"
cp scripts/node_health.sh "$config/"
printf '# Written by scripts/run.sh: this node runs node_health.sh every 5 s.\n%s=node_health:5s\n' \
  "$node" > "$config/nodes.conf"

pids=()
stop() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT INT TERM

"$target/edge-sidecar" --config="$config/nodes.conf" --output="$textfile/custom_metrics.prom" \
  --node-name="$node" &
pids+=($!)
"$target/edge-exporter" --web.listen-address="$exporter" --node-name="$node" \
  --collector.textfile.directory="$textfile" &
pids+=($!)
"$target/edge-master" --listen="$master" --db="$db" --target="$node=$exporter" &
pids+=($!)

echo "dashboard:     http://$master/system/metrics"
echo "edge-master:   http://$master/api/v2/clusters/default/node-metrics"
echo "edge-exporter: http://$exporter/metrics   (the sidecar's values: edge_uptime_seconds, edge_processes, …)"
echo "               (first rates after two scrapes, 5 s apart; Ctrl-C stops all three)"
wait -n
