#!/usr/bin/env bash
# The main job on this machine: builds edge-exporter and edge-master, starts the
# exporter on this node and the master scraping it into a local SQLite file, and
# prints the API URL. Ctrl-C stops both.
#   EXPORTER (default 127.0.0.1:9100)  MASTER (default 127.0.0.1:8080)
#   DB (default ./edge-master.db)      NODE_NAME (default: the hostname)
set -euo pipefail
cd "$(dirname "$0")/.."

exporter=${EXPORTER:-127.0.0.1:9100}
master=${MASTER:-127.0.0.1:8080}
db=${DB:-edge-master.db}

cargo build --release -p edge-exporter -p edge-master
target=$(cargo metadata --format-version 1 --no-deps | sed -E 's/.*"target_directory":"([^"]+)".*/\1/')/release

pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT INT TERM

"$target/edge-exporter" --web.listen-address="$exporter" &
pids+=($!)
"$target/edge-master" --listen="$master" --db="$db" --target="$exporter" &
pids+=($!)

echo "edge-exporter: http://$exporter/metrics"
echo "edge-master:   http://$master/api/v2/clusters/default/node-metrics"
echo "               (first rates after two scrapes, 5 s apart; Ctrl-C stops both)"
wait -n
