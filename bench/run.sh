#!/usr/bin/env bash
# bench/run.sh — the one benchmark command. See bench/README.md.
#
# sysbench through each target in turn, interleaved (per workload/mode/threads cell: A B C D, N rounds):
#   direct             ds0's MariaDB primary itself
#   haproxy            HAProxy, TCP mode, in front of it
#   splice             bench/splice: tokio copy_bidirectional, nothing else (the floor of a tokio proxy)
#   shardgate          shardgate pass-through, one data source (ds0)
#   shardgate-1w       the same with worker_threads = 1 (opt-in: not in the default TARGETS)
#   shardgate-pinned   the same with multiplexing = false (opt-in: what sharing backend connections costs)
#   shardgate-replicas shardgate, one data source: ds0's primary plus its two replicas (read/write split)
#   shardgate-sharded  shardgate over ds0 + ds1 with sbtest1..N sharded by id (bench/sharded-rules.toml.in),
#                      tables in database sbtest_sharded, prepared through shardgate itself
#   shardgate-base, shardgate-sharded-base
#                      the same two with the binary $BASE_BIN (opt-in): a before/after A/B of a change in one
#                      interleaved run (the sharded pair shares its tables)
#
#   bench/run.sh                      # the full matrix (see README for time)
#   QUICK=1 bench/run.sh              # smoke: point_select, read_only, read_write; both modes; 1 and 8 threads; 5 s; 1 round
#   WORKLOADS=oltp_point_select THREADS="8" TARGETS="haproxy splice shardgate" ROUNDS=5 bench/run.sh
#
# Installs sysbench, haproxy and python3-matplotlib (apt) if missing, brings up its own MariaDB lab
# ($BENCH_LAB_DIR, ports $BENCH_LAB_PORT..+4), writes bench/results/<utc>.json, bench/RESULTS.md and
# bench/qps.png, and stops everything it started on exit (also on error or Ctrl-C).
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH")
BENCH_COMMAND="$(printf '%q ' "$0" "$@")"
PATH=$PATH:/usr/sbin:/sbin # haproxy and mariadbd live in /usr/sbin

log() { echo "bench: $*" >&2; }
die() { echo "bench: ERROR: $*" >&2; exit 1; }

# ---------------------------------------------------------------- the matrix (env overrides everything)
ALL_WORKLOADS="oltp_point_select oltp_read_only oltp_read_write oltp_write_only oltp_insert"
ALL_TARGETS="direct haproxy splice shardgate shardgate-1w shardgate-pinned shardgate-replicas shardgate-sharded shardgate-base shardgate-sharded-base"
DEFAULT_TARGETS="direct haproxy splice shardgate shardgate-replicas shardgate-sharded" # shardgate-1w, shardgate-pinned: opt-in
if [[ ${QUICK:-0} == 1 ]]; then
  : "${WORKLOADS:=oltp_point_select oltp_read_only oltp_read_write}" "${MODES:=auto disable}" "${THREADS:=1 8}"
  : "${TIME:=5}" "${ROUNDS:=1}" "${WARMUP:=2}"
else
  : "${WORKLOADS:=$ALL_WORKLOADS}" "${MODES:=auto disable}" "${THREADS:=1 8 32}"
  : "${TIME:=10}" "${ROUNDS:=3}" "${WARMUP:=3}"
fi
: "${TARGETS:=$DEFAULT_TARGETS}" "${TABLES:=4}" "${TABLE_SIZE:=10000}"
: "${BENCH_LAB_DIR:=/tmp/shardgate-bench-lab}" "${BENCH_LAB_PORT:=33310}" "${PROXY_PORT_BASE:=33320}"
: "${SHARDGATE_BIN:=$REPO/target/release/shardgate}"
: "${BASE_BIN:=}" # shardgate-base and shardgate-sharded-base only: the binary to compare against
: "${SHARDGATE_WORKERS:=}" "${SPLICE_WORKERS:=}" "${HAPROXY_NBTHREAD:=}" "${KEEP_REPLICATION:=0}"
: "${SHARDED_TRANSACTION_MODE:=xa}" "${SHARDED_SYSBENCH_ARGS:=}" # shardgate-sharded only (see its start function)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
: "${OUT:=$BENCH/results/$STAMP$([[ ${QUICK:-0} == 1 ]] && echo -quick).json}"
: "${REPORT_MD:=$BENCH/RESULTS.md}" "${REPORT_PNG:=$BENCH/qps.png}"

for w in $WORKLOADS; do [[ " $ALL_WORKLOADS " == *" $w "* ]] || die "unknown workload '$w' (known: $ALL_WORKLOADS)"; done
for m in $MODES; do [[ $m == auto || $m == disable ]] || die "unknown ps mode '$m' (auto, disable)"; done
for t in $TARGETS; do [[ " $ALL_TARGETS " == *" $t "* ]] || die "unknown target '$t' (known: $ALL_TARGETS)"; done
for n in $THREADS $TIME $ROUNDS $WARMUP $TABLES $TABLE_SIZE; do [[ $n =~ ^[0-9]+$ ]] || die "not a number: '$n'"; done
wants() { [[ " $TARGETS " == *" $1 "* ]]; }
# The bench wipes its lab at every start: never let it point at the demo's or the tests' lab.
[[ $(basename "$BENCH_LAB_DIR") == *bench* ]] || die "BENCH_LAB_DIR must have 'bench' in its name (it is wiped): $BENCH_LAB_DIR"

# One bench at a time on this machine (they would share the lab and the cores). fd 8 is closed for
# every long-lived child so a leftover process never holds the lock.
exec 8>/tmp/shardgate-bench.lock
flock -n 8 || die "another bench/run.sh holds /tmp/shardgate-bench.lock"

# ---------------------------------------------------------------- installs
as_root() { if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi; }
PY=/usr/bin/python3; [[ -x $PY ]] || PY=python3 # Debian's python, where apt's matplotlib lives
pkgs=()
command -v sysbench >/dev/null || pkgs+=(sysbench)
command -v mariadb >/dev/null || pkgs+=(mariadb-client) # lab.sh installs the server
wants haproxy && ! command -v haproxy >/dev/null && pkgs+=(haproxy)
"$PY" -c 'import matplotlib' 2>/dev/null || pkgs+=(python3-matplotlib)
if ((${#pkgs[@]})); then
  log "installing ${pkgs[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${pkgs[@]}" >/dev/null
fi
if ! "$PY" -c 'import matplotlib' 2>/dev/null; then # not Debian: pip
  "$PY" -m pip install -q matplotlib || "$PY" -m pip install -q --break-system-packages matplotlib
fi
command -v sysbench >/dev/null || die "sysbench missing after install"
wants haproxy && { command -v haproxy >/dev/null || die "haproxy missing after install"; }

# ---------------------------------------------------------------- work dir, binaries, cleanup
WORK=$(mktemp -d /tmp/shardgate-bench.XXXXXX)
PIDS=()
LAB_TOUCHED=0
lab() { LAB_DIR=$BENCH_LAB_DIR LAB_PORT=$BENCH_LAB_PORT "$REPO/tests/lab/lab.sh" "$@" 8>&-; }

# Running and not a zombie (kill -0 succeeds on a zombie).
alive() { [[ -r /proc/$1/stat ]] && [[ $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) != Z ]]; }

cleanup() {
  local rc=$? pid i
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for ((i = 0; i < 100; i++)); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then log "pid $pid ignored SIGTERM: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
  done
  if ((LAB_TOUCHED)); then lab down >/dev/null 2>&1 || log "lab down failed (LAB_DIR=$BENCH_LAB_DIR)"; fi
  if ((rc == 0)); then rm -rf "$WORK"; else log "exit $rc; logs kept in $WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if wants shardgate || wants shardgate-1w || wants shardgate-pinned || wants shardgate-replicas || wants shardgate-sharded; then
  [[ -x $SHARDGATE_BIN ]] || die "no shardgate binary at $SHARDGATE_BIN (cargo build --release, or set SHARDGATE_BIN)"
  # A copy: the original may be rebuilt while we run.
  cp -p "$SHARDGATE_BIN" "$WORK/shardgate"
  "$WORK/shardgate" --version >/dev/null || die "$SHARDGATE_BIN does not run (half-written by a build?)"
  export BENCH_SHARDGATE_COPY=$WORK/shardgate BENCH_SHARDGATE_BIN=$SHARDGATE_BIN
fi
if wants shardgate-base || wants shardgate-sharded-base; then
  [[ -n $BASE_BIN && -x $BASE_BIN ]] || die "the -base targets need BASE_BIN, the binary to compare against (e.g. a release build of an older commit)"
  cp -p "$BASE_BIN" "$WORK/shardgate-base"
  "$WORK/shardgate-base" --version >/dev/null || die "$BASE_BIN does not run"
fi
if wants splice; then
  sp=$BENCH/splice
  if [[ ! -x $sp/target/release/splice || -n $(find "$sp/src" "$sp/Cargo.toml" -newer "$sp/target/release/splice" 2>/dev/null) ]]; then
    command -v cargo >/dev/null || die "cargo is needed to build bench/splice (rustup, or drop splice from TARGETS)"
    log "building bench/splice (nice -n 19)"
    (cd "$sp" && nice -n 19 cargo build --release -q 8>&-)
  fi
  cp "$sp/target/release/splice" "$WORK/splice"
fi

# ---------------------------------------------------------------- the lab (fresh every run)
LAB_TOUCHED=1
log "fresh lab in $BENCH_LAB_DIR (ports $BENCH_LAB_PORT-$((BENCH_LAB_PORT + 5)))"
lab wipe >/dev/null 2>&1 || true
if ! lab up 2>&1 | sed 's/^/  /' >&2; then die "lab up failed"; fi
rootsql() { mariadb --no-defaults --socket="$BENCH_LAB_DIR/$1/mariadbd.sock" -uroot -N -B -e "$2"; }
if [[ $KEEP_REPLICATION != 1 ]]; then
  # Only shardgate-replicas reads from replicas (ds0's); a replica applying the write workloads takes CPU
  # from the two cores the targets share, so the others stop. KEEP_REPLICATION=1 keeps them all applying.
  rootsql ds1-replica 'STOP SLAVE'
  wants shardgate-replicas || { rootsql ds0-replica 'STOP SLAVE'; rootsql ds0-replica2 'STOP SLAVE'; }
fi
DIRECT_PORT=$BENCH_LAB_PORT
DS1_PORT=$((BENCH_LAB_PORT + 2))
export BENCH_DIRECT_PORT=$DIRECT_PORT BENCH_DS0_SOCKET=$BENCH_LAB_DIR/ds0-primary/mariadbd.sock \
  BENCH_DS1_SOCKET=$BENCH_LAB_DIR/ds1-primary/mariadbd.sock
export BENCH_BACKEND_PIDS="$(cat "$BENCH_LAB_DIR/ds0-primary/mariadbd.pid") $(cat "$BENCH_LAB_DIR/ds1-primary/mariadbd.pid")"
if wants shardgate-replicas; then # their CPU is MariaDB's too (they serve that target's reads)
  BENCH_BACKEND_PIDS+=" $(cat "$BENCH_LAB_DIR/ds0-replica/mariadbd.pid") $(cat "$BENCH_LAB_DIR/ds0-replica2/mariadbd.pid")"
fi

# ---------------------------------------------------------------- targets
NEXT_PORT=$PROXY_PORT_BASE
free_port() {
  while [[ -n $(ss -Hltn "sport = :$NEXT_PORT" 2>/dev/null) ]]; do NEXT_PORT=$((NEXT_PORT + 1)); done
  echo "$NEXT_PORT"; NEXT_PORT=$((NEXT_PORT + 1))
}
# add_target NAME KIND PORT PID PREPARE_GROUP PREPARE_PORT EXTRA_SYSBENCH_ARGS DESCRIPTION
add_target() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$WORK/targets.tsv"; }
skip_target() { log "target $1: skipped: $2"; printf '%s\t%s\n' "$1" "$2" >>"$WORK/skipped.tsv"; }

# Up when a client can log in and run a query through it.
wait_ready() {
  local name=$1 port=$2 pid=$3 logf=$4 i
  for ((i = 0; i < 150; i++)); do
    if [[ -n $pid ]] && ! alive "$pid"; then
      tail -n 30 "$logf" >&2 || true; die "$name exited at start-up (log: $logf)"
    fi
    mariadb --no-defaults -h127.0.0.1 -P"$port" -uapp -papp --connect-timeout=2 -N -e 'SELECT 1' sbtest \
      >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  tail -n 30 "$logf" >&2 || true; die "$name did not answer on port $port within 15 s (log: $logf)"
}

start_direct() {
  add_target direct backend "$DIRECT_PORT" - ds0 "$DIRECT_PORT" - "MariaDB ds0 primary, no proxy"
}

start_haproxy() {
  local port pid; port=$(free_port)
  cat >"$WORK/haproxy.cfg" <<EOF
global
    maxconn 4096
${HAPROXY_NBTHREAD:+    nbthread $HAPROXY_NBTHREAD}
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
listen mysql
    bind 127.0.0.1:$port
    server ds0 127.0.0.1:$DIRECT_PORT
EOF
  haproxy -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 8>&- </dev/null &
  pid=$!; PIDS+=("$pid")
  wait_ready haproxy "$port" "$pid" "$WORK/haproxy.log"
  add_target haproxy proxy "$port" "$pid" ds0 "$DIRECT_PORT" - "HAProxy $(haproxy -v | sed -n '1s/^HAProxy version \([^ ]*\).*/\1/p'), mode tcp, nbthread ${HAPROXY_NBTHREAD:-default}"
  export BENCH_HAPROXY_USED=1
}

start_splice() {
  local port pid; port=$(free_port)
  "$WORK/splice" "127.0.0.1:$port" "127.0.0.1:$DIRECT_PORT" $SPLICE_WORKERS >"$WORK/splice.log" 2>&1 8>&- </dev/null &
  pid=$!; PIDS+=("$pid")
  wait_ready splice "$port" "$pid" "$WORK/splice.log"
  add_target splice proxy "$port" "$pid" ds0 "$DIRECT_PORT" - "tokio copy_bidirectional only, workers ${SPLICE_WORKERS:-default}"
}

# shardgate rules: the format of rules/demo.toml, one data source, logical schema sbtest -> ds_0.
write_rules() {
  local file=$1 port=$2 workers=${3:-$SHARDGATE_WORKERS}
  cat >"$file" <<EOF
# generated by bench/run.sh: pass-through to one data source
default_data_source = "ds_0"

[server]
listen = "127.0.0.1:$port"
${workers:+worker_threads = $workers}

[[users]]
name = "app"
password = "app"

[data_sources.ds_0]
primary = "127.0.0.1:$DIRECT_PORT"
user = "app"
password = "app"
max_connections = 256

[schemas.sbtest]
data_source = "ds_0"
EOF
}

# $1: the target's name, $2: the binary (shardgate, or shardgate-base: BASE_BIN).
start_shardgate() {
  local name=${1:-shardgate} bin=${2:-shardgate} port pid; port=$(free_port)
  write_rules "$WORK/$name.toml" "$port"
  "$WORK/$bin" serve --config "$WORK/$name.toml" >"$WORK/$name.log" 2>&1 8>&- </dev/null &
  pid=$!; PIDS+=("$pid")
  wait_ready "$name" "$port" "$pid" "$WORK/$name.log"
  add_target "$name" proxy "$port" "$pid" ds0 "$DIRECT_PORT" - "$bin pass-through, one data source, worker_threads ${SHARDGATE_WORKERS:-default}"
}

# The same with one tokio worker thread (ARCHITECTURE.md, Measurements: one worker beat two for a byte-copying proxy here).
start_shardgate_1w() {
  local port pid; port=$(free_port)
  write_rules "$WORK/shardgate-1w.toml" "$port" 1
  "$WORK/shardgate" serve --config "$WORK/shardgate-1w.toml" >"$WORK/shardgate-1w.log" 2>&1 8>&- </dev/null &
  pid=$!; PIDS+=("$pid")
  wait_ready shardgate-1w "$port" "$pid" "$WORK/shardgate-1w.log"
  add_target shardgate-1w proxy "$port" "$pid" ds0 "$DIRECT_PORT" - "shardgate pass-through, one data source, worker_threads 1"
}

# Without multiplexing (each session keeps its backend connection for life), to measure what sharing costs.
start_shardgate_pinned() {
  local port pid; port=$(free_port)
  write_rules "$WORK/shardgate-pinned.toml" "$port"
  sed -i '/^\[server\]/a multiplexing = false' "$WORK/shardgate-pinned.toml"
  "$WORK/shardgate" serve --config "$WORK/shardgate-pinned.toml" >"$WORK/shardgate-pinned.log" 2>&1 8>&- </dev/null &
  pid=$!; PIDS+=("$pid")
  wait_ready shardgate-pinned "$port" "$pid" "$WORK/shardgate-pinned.log"
  add_target shardgate-pinned proxy "$port" "$pid" ds0 "$DIRECT_PORT" - "shardgate pass-through, one data source, multiplexing off"
}

# Read/write split: ds0's primary and both its replicas (weight 1 each), default health and lag settings.
start_shardgate_replicas() {
  local port pid; port=$(free_port)
  write_rules "$WORK/shardgate-replicas.toml" "$port"
  sed -i "/^max_connections = 256/a replicas = [{ address = \"127.0.0.1:$((BENCH_LAB_PORT + 1))\" }, { address = \"127.0.0.1:$((BENCH_LAB_PORT + 5))\" }]" \
    "$WORK/shardgate-replicas.toml"
  "$WORK/shardgate" serve --config "$WORK/shardgate-replicas.toml" >"$WORK/shardgate-replicas.log" 2>&1 8>&- </dev/null &
  pid=$!; PIDS+=("$pid")
  wait_ready shardgate-replicas "$port" "$pid" "$WORK/shardgate-replicas.log"
  add_target shardgate-replicas proxy "$port" "$pid" ds0 "$DIRECT_PORT" - "shardgate, ds0 primary + 2 replicas: reads on the replicas"
}

# ======================= shardgate-sharded ================================================
# shardgate over ds0 + ds1 with sbtest sharded: bench/sharded-rules.toml.in (or SHARDED_RULES_TEMPLATE), where
# @LISTEN@, @DS0@, @DS1@ stand for the listen address and the two primaries (host:port),
# @WORKER_THREADS_LINE@ for `worker_threads = $SHARDGATE_WORKERS` (or nothing), and the block between the
# `# @TABLE BEGIN@` and `# @TABLE END@` lines is repeated for @N@ = 1 … $TABLES. Its physical database is
# sbtest_sharded on both primaries, so its tables never collide with the direct target's sbtest tables on
# ds0. The tables are prepared THROUGH this shardgate (sysbench prepare: CREATE TABLE fanned out, multi-row
# INSERTs split per shard with ids from the sequence), before every cell like the others.
# @TRANSACTION_MODE@ is $SHARDED_TRANSACTION_MODE, default xa (shardgate's default): sysbench's transactions
# (BEGIN … COMMIT around statements on both shards) run as XA transactions, each shard joining with XA START
# when a statement first reaches it, COMMIT in two phases when both joined. best_effort: each shard joins
# with BEGIN and COMMIT goes to both (atomic per shard, not across them). With single_source, shardgate's default, statements on the second shard inside a transaction get
# ERROR 1235, so oltp_read_only/read_write/write_only need SHARDED_SYSBENCH_ARGS="--skip_trx=on
# --mysql-ignore-errors=1062,1213,1020,1205": without transactions two threads can delete and re-insert
# the same id (a race of sysbench's own; direct MariaDB shows it too). bench/README.md has the details.
# Extra sysbench options for this target only: SHARDED_SYSBENCH_ARGS (default none).
render_sharded_rules() {
  local tmpl=$1 port=$2 workers_line=
  [[ $SHARDED_TRANSACTION_MODE =~ ^[a-z_]+$ ]] || die "SHARDED_TRANSACTION_MODE: not a mode name: '$SHARDED_TRANSACTION_MODE'"
  [[ -n $SHARDGATE_WORKERS ]] && workers_line="worker_threads = $SHARDGATE_WORKERS"
  awk -v n="$TABLES" -v listen="127.0.0.1:$port" -v ds0="127.0.0.1:$DIRECT_PORT" -v ds1="127.0.0.1:$DS1_PORT" \
    -v workers="$workers_line" -v txmode="$SHARDED_TRANSACTION_MODE" '
    function fill(s) { gsub(/@LISTEN@/, listen, s); gsub(/@DS0@/, ds0, s); gsub(/@DS1@/, ds1, s)
                       gsub(/@WORKER_THREADS_LINE@/, workers, s); gsub(/@TRANSACTION_MODE@/, txmode, s); return s }
    /^# @TABLE BEGIN@/ { inblock = 1; next }
    /^# @TABLE END@/ { inblock = 0; for (i = 1; i <= n; i++) { b = block; gsub(/@N@/, i, b); printf "%s\n", fill(b) }; next }
    inblock { block = block $0 "\n"; next }
    { print fill($0) }' "$tmpl"
}

# $1: the target's name, $2: the binary. Targets with the same tables share one prepare (the first one's port).
SHARDED_PREPARE_PORT=
start_shardgate_sharded() {
  local name=${1:-shardgate-sharded} bin=${2:-shardgate} tmpl=${SHARDED_RULES_TEMPLATE:-$BENCH/sharded-rules.toml.in} port pid
  if [[ ! -f $tmpl ]]; then
    skip_target "$name" "needs sharding rules (${tmpl#"$REPO/"} does not exist)"
    return
  fi
  port=$(free_port)
  rootsql ds0-primary 'CREATE DATABASE IF NOT EXISTS sbtest_sharded'
  rootsql ds1-primary 'CREATE DATABASE IF NOT EXISTS sbtest_sharded'
  { echo "xa_log = \"$WORK/$name.xa.log\""; render_sharded_rules "$tmpl" "$port"; } >"$WORK/$name.toml"
  "$WORK/$bin" check --config "$WORK/$name.toml" >"$WORK/$name.check" 2>&1 ||
    { cat "$WORK/$name.check" >&2; die "rules rendered from $tmpl do not check (kept in $WORK)"; }
  "$WORK/$bin" serve --config "$WORK/$name.toml" >"$WORK/$name.log" 2>&1 8>&- </dev/null &
  pid=$!; PIDS+=("$pid")
  wait_ready "$name" "$port" "$pid" "$WORK/$name.log"
  : "${SHARDED_PREPARE_PORT:=$port}"
  add_target "$name" proxy "$port" "$pid" sharded "$SHARDED_PREPARE_PORT" "${SHARDED_SYSBENCH_ARGS:--}" \
    "$bin, sbtest1..$TABLES sharded by id over ds_0 + ds_1 (consistent hash, sequence ids), transaction_mode $SHARDED_TRANSACTION_MODE, worker_threads ${SHARDGATE_WORKERS:-default}"
}
# ==========================================================================================

: >"$WORK/targets.tsv"; : >"$WORK/skipped.tsv"
for t in $TARGETS; do
  case $t in
    direct) start_direct ;;
    haproxy) start_haproxy ;;
    splice) start_splice ;;
    shardgate) start_shardgate ;;
    shardgate-1w) start_shardgate_1w ;;
    shardgate-pinned) start_shardgate_pinned ;;
    shardgate-replicas) start_shardgate_replicas ;;
    shardgate-sharded) start_shardgate_sharded ;;
    shardgate-base) start_shardgate shardgate-base shardgate-base ;;
    shardgate-sharded-base) start_shardgate_sharded shardgate-sharded-base shardgate-base ;;
  esac
done
[[ -s $WORK/targets.tsv ]] || die "no target to run"
log "targets: $(cut -f1,3 "$WORK/targets.tsv" | tr '\t\n' ': ')"

# ---------------------------------------------------------------- run, report
export WORKLOADS MODES THREADS TARGETS TIME ROUNDS WARMUP TABLES TABLE_SIZE SHARDGATE_BIN BASE_BIN SHARDGATE_WORKERS \
  SPLICE_WORKERS HAPROXY_NBTHREAD KEEP_REPLICATION SHARDED_RULES_TEMPLATE SHARDED_SYSBENCH_ARGS SHARDED_TRANSACTION_MODE OUT QUICK \
  BENCH_COMMAND BENCH_REPO=$REPO
mkdir -p "$(dirname "$OUT")"
runner_rc=0
"$PY" -B "$BENCH/lib/runner.py" "$WORK" "$OUT" 8>&- || runner_rc=$?
[[ -s $OUT ]] || die "runner wrote no results (exit $runner_rc)"
"$PY" -B "$BENCH/report.py" "$OUT" --md "$REPORT_MD" --png "$REPORT_PNG" 8>&-
log "results: $OUT, $REPORT_MD, $REPORT_PNG"
((runner_rc == 0)) || die "some runs failed (see 'Failures and errors' in $REPORT_MD); logs in $WORK"
