#!/usr/bin/env bash
# The resharding figures of issue 15, in release mode: tests/reshard_run.rs's sysbench test (oltp_read_write,
# 8 threads, both ps modes, plus a checker client) runs through a reshard from two shards to three and back,
# with the copy unthrottled (RESHARD_RATE, default 0) so its own speed shows. The test fails on any error;
# this script keeps its figures (rows/s copied, sysbench p99 before/during/after, the cut-over pause) in
# bench/results/reshard-<time>.json and re-renders bench/RESULTS.md, whose "Resharding" section shows the
# newest of them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source=bench/lib/record.sh
source bench/lib/record.sh
export RESHARD_RATE="${RESHARD_RATE:-0}"
# Its own lab directory and ports, apart from the tests' (23310), the bench's (33310), the soak's (34310)
# and the demo's (3310).
export LAB_DIR="${RESHARD_LAB_DIR:-/tmp/shardgate-reshard-lab}" LAB_PORT="${RESHARD_LAB_PORT:-35310}"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="$root/bench/results/reshard-$stamp.json"
tests/lab/lab.sh up
trap 'tests/lab/lab.sh down' EXIT
started=$(date -u +%FT%TZ)
RESHARD_REPORT="$out.tmp" cargo test --release --test reshard_run sysbench_and -- --nocapture --test-threads 1
record "$out.tmp" "$out" "$started" "bench/reshard.sh (cargo test --release --test reshard_run sysbench_and)" RESHARD_RATE
echo "reshard.sh: wrote $out"
# Re-render RESULTS.md from the sysbench run it shows now, which adds the newest figures.
rerender
