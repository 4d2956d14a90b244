#!/usr/bin/env bash
# The soak of issue 11, in release mode and for the published figures: SOAK_CLIENTS (1000) client
# connections run a mixed workload through two shards for SOAK_SECONDS (60) with pools of 16 connections per
# data source, then SOAK_IDLE (5000) idle sessions are held. The test itself (tests/soak.rs, run for 20 s by
# the test command) fails on any error; this script keeps its figures in bench/results/soak-<time>.json and
# re-renders bench/RESULTS.md, whose "Soak" section shows the newest of them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source=bench/lib/record.sh
source bench/lib/record.sh
export SOAK_SECONDS="${SOAK_SECONDS:-60}" SOAK_CLIENTS="${SOAK_CLIENTS:-1000}" SOAK_IDLE="${SOAK_IDLE:-5000}"
# Its own lab directory and ports, apart from the tests' (23310), the bench's (33310) and the demo's (3310).
export LAB_DIR="${SOAK_LAB_DIR:-/tmp/shardgate-soak-lab}" LAB_PORT="${SOAK_LAB_PORT:-34310}"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="$root/bench/results/soak-$stamp.json"
tests/lab/lab.sh up
trap 'tests/lab/lab.sh down' EXIT
started=$(date -u +%FT%TZ)
SOAK_REPORT="$out.tmp" cargo test --release --test soak -- --nocapture --test-threads 1
record "$out.tmp" "$out" "$started" "bench/soak.sh (cargo test --release --test soak)" SOAK_SECONDS SOAK_CLIENTS SOAK_IDLE
echo "soak.sh: wrote $out"
# Re-render RESULTS.md from the sysbench run it shows now, which adds the newest figures.
rerender
