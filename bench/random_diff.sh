#!/usr/bin/env bash
# A long run of the randomized differential tester (tests/random_diff.rs, issue 23): random queries and writes
# through shardgate and on one unsharded MariaDB holding the same rows, every answer compared (a refusal with
# 1235 is allowed, any other difference fails). The test command runs it for 120 s; this script runs it for
# SHARDGATE_RANDOM_SECONDS (default 1800) with seed SHARDGATE_RANDOM_SEED (default the test's), keeps the
# figures in bench/results/random-<time>.json and re-renders bench/RESULTS.md ("Randomized differential
# testing" shows the newest run).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source=bench/lib/record.sh
source bench/lib/record.sh
export SHARDGATE_RANDOM_SECONDS="${SHARDGATE_RANDOM_SECONDS:-1800}" SHARDGATE_RANDOM_SEED="${SHARDGATE_RANDOM_SEED:-20240611}"
# Its own lab directory and ports, apart from the tests' (23310), the bench's (33310), the soak's (34310), the
# reshard's (35310) and the demo's (3310).
export LAB_DIR="${RANDOM_LAB_DIR:-/tmp/shardgate-random-lab}" LAB_PORT="${RANDOM_LAB_PORT:-36310}"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="$root/bench/results/random-$stamp.json"
tests/lab/lab.sh up
trap 'tests/lab/lab.sh down' EXIT
started=$(date -u +%FT%TZ)
SHARDGATE_RANDOM_JSON="$out.tmp" cargo test --test random_diff -- --nocapture
record "$out.tmp" "$out" "$started" "bench/random_diff.sh (cargo test --test random_diff)" SHARDGATE_RANDOM_SECONDS SHARDGATE_RANDOM_SEED
echo "random_diff.sh: wrote $out"
rerender
