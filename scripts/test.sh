#!/usr/bin/env bash
# Runs every test of the workspace, installing first what the tests need:
# Debian's prometheus-node-exporter (the reference exporter the compatibility tests
# compare against), prometheus (Prometheus 2.x and promtool), victoria-metrics
# (vmagent, for the pipeline test in deploy/), shellcheck (for the scripts),
# systemd (systemd-analyze, for the units), dbus-daemon (a private bus for the
# systemd collector's test), chromium with chromium-driver (the
# dashboard's browser tests, master/tests/web.rs), and PyPI's kubernetes-validate in
# a virtualenv under target/tools (for the manifests), and cargo-fuzz (scripts/fuzz.sh).
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need_packages=()
[ -x /usr/bin/prometheus-node-exporter ] || need_packages+=(prometheus-node-exporter)
command -v promtool >/dev/null 2>&1 || need_packages+=(prometheus)
command -v shellcheck >/dev/null 2>&1 || need_packages+=(shellcheck)
[ -x /usr/bin/vmagent ] || need_packages+=(victoria-metrics)
command -v systemd-analyze >/dev/null 2>&1 || need_packages+=(systemd)
# The systemd collector's test runs a private bus.
[ -x /usr/bin/dbus-daemon ] || need_packages+=(dbus-daemon)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_packages+=(python3-venv)
[ -x /usr/bin/chromium ] || need_packages+=(chromium)
[ -x /usr/bin/chromedriver ] || need_packages+=(chromium-driver)
if [ ${#need_packages[@]} -gt 0 ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "== installing ${need_packages[*]}"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_packages[@]}"
  # The packages start their own services where systemd runs; the tests start their
  # own instances on free loopback ports and need none of them.
  if [ -d /run/systemd/system ]; then
    "${sudo[@]}" systemctl disable --now prometheus prometheus-node-exporter victoria-metrics \
      >/dev/null 2>&1 || true
  fi
fi

# kubernetes-validate from PyPI, pinned, in the project's own virtualenv: Debian's
# Python refuses pip installs outside one.
tools=target/tools/venv
if ! "$tools/bin/kubernetes-validate" --version >/dev/null 2>&1; then
  echo "== installing kubernetes-validate into $tools"
  python3 -m venv "$tools"
  "$tools/bin/pip" install -q --disable-pip-version-check 'kubernetes-validate==1.37.0'
fi
export PATH="$PWD/$tools/bin:$PATH"

# A one-off build gains nothing from incremental compilation, whose caches are as large
# as the build itself (one CI run failed with "No space left on device").
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== import cycles between modules"
python3 scripts/import_cycles.py common/src exporter/src sidecar/src master/src deploy/src
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# Every parser of outside input under libFuzzer, 3 s per target (scripts/fuzz.sh
# installs cargo-fuzz; the first build of the targets takes ~7 min on 2 cores).
# Long runs: scripts/fuzz.sh 3600 (fuzz/README.md).
echo "== fuzz (3 s per target)"
bash scripts/fuzz.sh 3
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --all-targets --locked 2>&1 | tee "$log"
# One closing line with the totals of every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
