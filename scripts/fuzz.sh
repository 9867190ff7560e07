#!/usr/bin/env bash
# Fuzzes every parser of outside input (the cargo-fuzz project in fuzz/, see
# fuzz/README.md): installs cargo-fuzz if it is missing, builds the targets, runs
# each for a bounded time on its checked-in seed corpus, and prints one line per
# target, `<target>: <executions> executions, <crashes> crashes`, then the totals.
# Exits non-zero on any crash (or timeout, or out-of-memory), leaving the input under
# fuzz/artifacts/<target>/ and printing its path and how to reproduce it.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]    (default: 60 s, every target)
#
# Environment: FUZZ_RSS_LIMIT_MB (default 2048: the memory one input may take, and
# the largest single allocation), FUZZ_MAX_LEN (default 65536 bytes per input),
# FUZZ_TIMEOUT (default 10 s for one input).
#
# On the stable toolchain: `--sanitizer none`. cargo-fuzz's default sanitizer,
# AddressSanitizer, needs rustc's unstable -Zsanitizer (nightly, or RUSTC_BOOTSTRAP=1
# on stable); the Rust code fuzzed here is memory-safe, so a panic, an abort, a
# timeout or an out-of-memory is what there is to find. Everything else cargo-fuzz
# passes is stable: the coverage instrumentation (-Cpasses=sancov-module and
# -Cllvm-args=-sanitizer-coverage-*), --cfg fuzzing, -Cdebug-assertions, and
# libfuzzer-sys, which compiles libFuzzer with the system's C++ compiler (g++).
#
# The checked-in seeds (fuzz/corpus/<target>/) are only read: libFuzzer writes what
# it finds to the first corpus directory it is given, which is the work corpus
# fuzz/target/corpus/<target>/ (kept between runs, never committed).
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned, installed with its own lock file into cargo's bin directory.
cargo_fuzz_version=0.13.2
seconds=${1:-60}
if [ $# -gt 0 ]; then shift; fi
rss_limit_mb=${FUZZ_RSS_LIMIT_MB:-2048}
max_len=${FUZZ_MAX_LEN:-65536}
timeout=${FUZZ_TIMEOUT:-10}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2
  exit 2
fi

if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $cargo_fuzz_version" ]; then
  echo "== installing cargo-fuzz $cargo_fuzz_version"
  cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked
fi

fuzz=(cargo fuzz)
build_flags=(--fuzz-dir fuzz --sanitizer none)

echo "== cargo fuzz build (fuzz/target)"
started=$SECONDS
"${fuzz[@]}" build "${build_flags[@]}"
echo "built in $((SECONDS - started)) s"

mapfile -t all_targets < <("${fuzz[@]}" list --fuzz-dir fuzz)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
for target in "${targets[@]}"; do
  if ! printf '%s\n' "${all_targets[@]}" | grep -qxF -- "$target"; then
    echo "unknown fuzz target $target; the targets are: ${all_targets[*]}" >&2
    exit 2
  fi
done

work=fuzz/target/fuzz-run
mkdir -p "$work/logs"
total_runs=0
total_crashes=0
failed=()
for target in "${targets[@]}"; do
  seeds=fuzz/corpus/$target
  corpus=fuzz/target/corpus/$target
  artifacts=fuzz/artifacts/$target
  log=$work/logs/$target.log
  # Targets that write files (textfile, sysfs) write them under $TMPDIR.
  tmp=$work/tmp/$target
  mkdir -p "$seeds" "$corpus" "$artifacts" "$tmp"
  status=0
  TMPDIR=$PWD/$tmp "${fuzz[@]}" run "${build_flags[@]}" "$target" "$corpus" "$seeds" -- \
    -max_total_time="$seconds" -rss_limit_mb="$rss_limit_mb" -max_len="$max_len" \
    -timeout="$timeout" -print_final_stats=1 >"$log" 2>&1 || status=$?
  rm -rf "$tmp"
  runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
  # What libFuzzer wrote for a failing input (crash-, timeout-, oom-, leak-; an input
  # that failed before is written again under the same name).
  found=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" |
    grep -E '/(crash|timeout|oom|leak)-[^/]*$' || true)
  crashes=0
  [ -z "$found" ] || crashes=$(echo "$found" | wc -l)
  echo "$target: ${runs:-0} executions, $crashes crashes"
  total_runs=$((total_runs + ${runs:-0}))
  total_crashes=$((total_crashes + crashes))
  if [ "$status" -ne 0 ] || [ "$crashes" -gt 0 ]; then
    failed+=("$target")
    grep -a -m 1 -E 'panicked at|ERROR: libFuzzer|error(\[E[0-9]+\])?:' "$log" | sed 's/^/  /' || true
    grep -a -A 1 -E 'panicked at' "$log" | sed -n '2p' | sed 's/^/  /' || true
    while read -r input; do
      [ -n "$input" ] || continue
      echo "  input: $input"
      echo "  reproduce: cargo fuzz run ${build_flags[*]} $target $input"
    done <<<"$found"
    echo "  log: $log"
  fi
done

echo "fuzz: ${#targets[@]} targets, ${seconds} s each: $total_runs executions, $total_crashes crashes"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
