#!/usr/bin/env bash
# The main job on this machine: builds and starts edge-exporter on the live node.
# LISTEN (default 127.0.0.1:9100) and NODE_NAME can be set in the environment;
# extra arguments go to edge-exporter (see `edge-exporter --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

listen=${LISTEN:-127.0.0.1:9100}
cargo build --release -p edge-exporter
echo "edge-exporter: http://${listen}/metrics  (Ctrl-C stops it)"
exec target/release/edge-exporter --web.listen-address="$listen" "$@"
