#!/usr/bin/env bash
# The compressed protocol on a large result (issue 16): the mariadb CLI reads a ~20 MB compressible result
# through shardgate with and without --compress, RUNS times each, interleaved. Reports per mode the median
# wall time, the bytes shardgate sent to the client (the kernel's bytes_acked of that socket, read while the
# CLI sleeps after the result) and shardgate's CPU time per run. Writes bench/results/compress-<time>.txt.
# Needs a release build (cargo build --release); uses its own lab (/tmp/shardgate-compress-lab, port 35310).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
RUNS="${RUNS:-5}"
BIN="${SHARDGATE_BIN:-$root/target/release/shardgate}"
export LAB_DIR=/tmp/shardgate-compress-lab LAB_PORT=35310
tests/lab/lab.sh up >/dev/null
work=$(mktemp -d /tmp/shardgate-compress.XXXXXX)
cleanup() { kill "${pid:-}" 2>/dev/null || true; tests/lab/lab.sh down >/dev/null; }
trap cleanup EXIT
port=35399
cat >"$work/rules.toml" <<RULES
[server]
listen = "127.0.0.1:$port"
[[users]]
name = "app"
password = "app"
[data_sources.ds_0]
primary = "127.0.0.1:$LAB_PORT"
user = "app"
password = "app"
[schemas.demo]
data_source = "ds_0"
RULES
"$BIN" serve --config "$work/rules.toml" >"$work/shardgate.log" 2>&1 &
pid=$!
for _ in $(seq 50); do mariadb --no-defaults -h127.0.0.1 -P"$port" -uapp -papp -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
cli() { mariadb --no-defaults -h127.0.0.1 -P"$port" -uapp -papp -N demo "$@"; }
cli -e "DROP TABLE IF EXISTS big; CREATE TABLE big (id INT PRIMARY KEY, payload TEXT)"
cli -e "INSERT INTO big SELECT seq, CONCAT('row ', seq, ' ', REPEAT('shardgate compresses repetitive text ', 27)) FROM seq_1_to_20000"
size=$(cli -e "SELECT SUM(LENGTH(payload)) FROM big")
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
out="bench/results/compress-$(date -u +%Y%m%dT%H%M%SZ).txt"
{
  echo "# bench/compress.sh, RUNS=$RUNS, $(date -u +%FT%TZ), commit $(git rev-parse --short=12 HEAD)$(git diff --quiet || echo ' (dirty tree)')"
  echo "# machine: $(nproc) cores, $(awk '/MemTotal/ {print int($2/1024) " MB"}' /proc/meminfo), kernel $(uname -r); client, proxy and MariaDB share the cores"
  echo "# result: 20,000 rows, $size bytes of payload (SELECT * FROM big through shardgate, one data source)"
  echo "mode run wall_ms bytes_to_client proxy_cpu_ms"
} >"$out"
for run in $(seq "$RUNS"); do
  for mode in plain compress; do
    flag=(); [[ $mode == compress ]] && flag=(--compress)
    before=$(cpu)
    start=$(date +%s%N)
    cli "${flag[@]}" -e "SELECT * FROM big; SELECT SLEEP(1)" >/dev/null &
    cpid=$!
    # The result is read by then; the socket's counter is read while the CLI sleeps.
    sleep 0.8
    while [[ $(cli -e "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(1)%'") == 0 ]]; do sleep 0.05; done
    bytes=$(ss -tinH "sport = :$port" | grep -o 'bytes_acked:[0-9]*' | cut -d: -f2 | sort -n | tail -1)
    wait "$cpid"
    wall=$(( ($(date +%s%N) - start) / 1000000 - 1000 ))
    after=$(cpu)
    echo "$mode $run $wall $bytes $(( (after - before) * 10 ))" >>"$out"
  done
done
summary=$(awk 'NR > 4 {w[$1] = w[$1] " " $3; b[$1] = b[$1] " " $4; c[$1] = c[$1] " " $5}
     END {for (m in w) print "# " m ": wall ms" w[m] "; bytes to client" b[m] "; proxy cpu ms" c[m]}' "$out")
echo "$summary" >>"$out"
cat "$out"
echo "compress.sh: wrote $out"
