#!/usr/bin/env bash
# Issue 26's stall check: sysbench oltp_read_write, 8 threads, 2 tables × 5,000 rows sharded by id over two
# shards, transaction_mode = "xa" — the run that froze at 0 tps for 35–45 s in 3 runs of 9 when lock cycles
# across the shards waited out innodb_lock_wait_timeout (50 s). RUNS runs in a row of SECONDS_PER_RUN each,
# with --report-interval=1:
#   - a stall is a one-second report with 0 tps;
#   - sysbench ignores only 1213 (deadlocks: those shardgate breaks and those InnoDB breaks itself), so a
#     lock-wait timeout (1205) or any other error ends that run as failed;
#   - SHOW SHARDGATE STATS before and after each run gives the cycles shardgate broke (`deadlocks`) and what
#     each step of the XA coordinator cost per sysbench transaction (`xa_<step>_count`, `xa_<step>_us`).
#
#   bench/deadlocks.sh                                # RUNS=20 SECONDS_PER_RUN=30 DEADLOCK_DETECT_MS=200
#   DEADLOCK_DETECT_MS=0 RUNS=9 bench/deadlocks.sh    # the detector off, as before issue 26
#
# Brings up its own lab ($DEADLOCK_LAB_DIR, ports $DEADLOCK_LAB_PORT..), runs target/release/shardgate (or
# $SHARDGATE_BIN), writes bench/results/deadlocks-<utc>.json and re-renders bench/RESULTS.md, whose
# "Lock cycles across shards" section shows the newest. Stops everything it started on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source=bench/lib/record.sh
source bench/lib/record.sh
export RUNS="${RUNS:-20}" SECONDS_PER_RUN="${SECONDS_PER_RUN:-30}" DEADLOCK_DETECT_MS="${DEADLOCK_DETECT_MS:-200}" THREADS="${THREADS:-8}"
export LAB_DIR="${DEADLOCK_LAB_DIR:-/tmp/shardgate-deadlock-bench-lab}" LAB_PORT="${DEADLOCK_LAB_PORT:-36410}"
bin="${SHARDGATE_BIN:-$root/target/release/shardgate}"
[[ -x $bin ]] || { echo "deadlocks.sh: no shardgate binary at $bin (cargo build --release)" >&2; exit 1; }
command -v sysbench >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sysbench >/dev/null; }
bench_lab deadlock
port=$((LAB_PORT + 10))
for p in "$LAB_PORT" $((LAB_PORT + 2)); do
  mariadb -h127.0.0.1 -P"$p" -uapp -papp -e 'DROP DATABASE IF EXISTS sbtest_dl; CREATE DATABASE sbtest_dl'
done
{
  echo "xa_log = \"$work/xa.log\""
  echo 'transaction_mode = "xa"'
  echo "[server]"
  echo "listen = \"127.0.0.1:$port\""
  echo "deadlock_detect_ms = $DEADLOCK_DETECT_MS"
  printf '[[users]]\nname = "app"\npassword = "app"\nadmin = true\n'
  for i in 0 1; do
    printf '[data_sources.ds_%s]\nprimary = "127.0.0.1:%s"\nuser = "app"\npassword = "app"\nmax_connections = 64\n' "$i" $((LAB_PORT + 2 * i))
  done
  printf '[schemas.sbtest]\ndata_source = "ds_0"\ndatabase = "sbtest_dl"\n'
  for n in 1 2; do
    printf '[schemas.sbtest.tables.sbtest%s]\nsharding_column = "id"\nkey_type = "integer"\nactual_nodes = "ds_${0..1}.sbtest%s"\nkey_generator = "sequence"\n' "$n" "$n"
  done
} >"$work/rules.toml"
started=$(date -u +%FT%TZ)
"$bin" serve --config "$work/rules.toml" >"$work/proxy.log" 2>&1 &
proxy_pid=$!
for _ in $(seq 100); do mariadb -h127.0.0.1 -P"$port" -uapp -papp -e 'SELECT 1' sbtest >/dev/null 2>&1 && break; sleep 0.1; done
sb=(--db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$port" --mysql-user=app --mysql-password=app --mysql-db=sbtest --tables=2 --table-size=5000)
sysbench oltp_read_write "${sb[@]}" prepare >"$work/prepare.log" 2>&1 || { cat "$work/prepare.log" "$work/proxy.log" >&2; exit 1; }
stats() { mariadb -h127.0.0.1 -P"$port" -uapp -papp -N -e 'SHOW SHARDGATE STATS' sbtest; }
: >"$work/runs.tsv"
for r in $(seq "$RUNS"); do
  # The whole STATS table before and after: deadlocks broken, and the XA steps' counts and time.
  stats >"$work/stats-$r-before.tsv"
  status=0
  sysbench oltp_read_write "${sb[@]}" --threads="$THREADS" --time="$SECONDS_PER_RUN" --report-interval=1 \
    --mysql-ignore-errors=1213 run >"$work/run-$r.log" 2>&1 || status=$?
  stats >"$work/stats-$r-after.tsv"
  before=$(awk '$1 == "deadlocks" { print $2 }' "$work/stats-$r-before.tsv")
  after=$(awk '$1 == "deadlocks" { print $2 }' "$work/stats-$r-after.tsv")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$status" $((after - before)) "$work/run-$r.log" "$work/stats-$r-before.tsv" "$work/stats-$r-after.tsv" >>"$work/runs.tsv"
  echo "deadlocks.sh: run $r/$RUNS exit $status, cycles broken $((after - before))" >&2
done
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="$root/bench/results/deadlocks-$stamp.json"
/usr/bin/python3 bench/lib/deadlocks.py "$work/runs.tsv" "$out.tmp"
record "$out.tmp" "$out" "$started" "bench/deadlocks.sh" RUNS SECONDS_PER_RUN DEADLOCK_DETECT_MS THREADS
echo "deadlocks.sh: wrote $out"
rerender
