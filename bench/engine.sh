#!/usr/bin/env bash
# The query-engine figures of issue 25: four queries that the shards cannot answer as they are, each timed
# through shardgate (two shards) beside the same query on one unsharded MariaDB holding all the rows, in one
# interleaved run, with the proxy's peak RSS:
#   join      two sharded tables of 100k rows that are not co-located, filtered to ~1k rows each
#             (the exact fallback, with the filters applied by the shards while copying)
#   derived   COUNT(*) over a derived table of 1M rows (merged: each shard counts its part)
#   exists    a correlated EXISTS over 100k rows (the fallback copies the outer table whole)
#   union     a UNION of two scatter queries (the fallback, filters pushed down)
# Each answer through shardgate is checked against the reference's before it is timed.
#
#   bench/engine.sh                 # ROUNDS=5 (interleaved: shardgate, direct, per query per round)
#   ROUNDS=9 bench/engine.sh
#
# Brings up its own lab ($ENGINE_LAB_DIR, ports $ENGINE_LAB_PORT..), loads the rows straight into the
# shards (algorithm "mod": even ids on ds_0, odd on ds_1) and the reference with MariaDB's SEQUENCE engine,
# runs target/release/shardgate (or $SHARDGATE_BIN), writes bench/results/engine-<utc>.json and re-renders
# bench/RESULTS.md, whose "Query engine" section shows the newest. Stops everything it started on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source=bench/lib/record.sh
source bench/lib/record.sh
export ROUNDS="${ROUNDS:-5}"
export LAB_DIR="${ENGINE_LAB_DIR:-/tmp/shardgate-engine-bench-lab}" LAB_PORT="${ENGINE_LAB_PORT:-36310}"
bin="${SHARDGATE_BIN:-$root/target/release/shardgate}"
[[ -x $bin ]] || { echo "engine.sh: no shardgate binary at $bin (cargo build --release)" >&2; exit 1; }
/usr/bin/python3 -c 'import pymysql' 2>/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pymysql >/dev/null
}
bench_lab engine
port=$((LAB_PORT + 10))
cat >"$work/rules.toml" <<EOF
xa_log = "$work/xa.log"
[server]
listen = "127.0.0.1:$port"
max_fallback_rows = 300000
[[users]]
name = "app"
password = "app"
[data_sources.ds_0]
primary = "127.0.0.1:$LAB_PORT"
user = "app"
password = "app"
[data_sources.ds_1]
primary = "127.0.0.1:$((LAB_PORT + 2))"
user = "app"
password = "app"
[schemas.eng]
data_source = "ds_0"
[schemas.eng.tables.a]
sharding_column = "id"
algorithm = "mod"
actual_nodes = "ds_\${0..1}.a"
[schemas.eng.tables.b]
sharding_column = "id"
algorithm = "mod"
actual_nodes = "ds_\${0..1}.b"
[schemas.eng.tables.big]
sharding_column = "id"
algorithm = "mod"
actual_nodes = "ds_\${0..1}.big"
EOF
started=$(date -u +%FT%TZ)
/usr/bin/python3 bench/lib/engine.py load "$LAB_PORT"
"$bin" serve --config "$work/rules.toml" >"$work/proxy.log" 2>&1 &
proxy_pid=$!
for _ in $(seq 100); do mariadb -h127.0.0.1 -P"$port" -uapp -papp -e 'SELECT 1' eng >/dev/null 2>&1 && break; sleep 0.1; done
mariadb -h127.0.0.1 -P"$port" -uapp -papp -e "SELECT 1" eng >/dev/null || { cat "$work/proxy.log" >&2; exit 1; }
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="$root/bench/results/engine-$stamp.json"
/usr/bin/python3 bench/lib/engine.py run "$LAB_PORT" "$port" "$proxy_pid" "$out.tmp"
record "$out.tmp" "$out" "$started" "bench/engine.sh" ROUNDS
echo "engine.sh: wrote $out"
rerender
