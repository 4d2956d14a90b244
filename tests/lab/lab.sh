#!/usr/bin/env bash
# Local MariaDB lab for shardgate: two replicated shards (ds0, ds1) plus a standalone
# reference server, all on 127.0.0.1. See tests/lab/README.md.
#   tests/lab/lab.sh up|down|status|wipe        (LAB_WIPE=1 ... down == wipe)
set -euo pipefail

LAB_DIR=$(realpath -m "${LAB_DIR:-/tmp/shardgate-lab}") # absolute: it is matched in /proc cmdlines
LAB_PORT=${LAB_PORT:-3310}
PATH=$PATH:/usr/sbin:/sbin # mariadbd lives in /usr/sbin, not on a normal user's PATH

# ds0-replica2 (a second replica of ds0) comes last so the older offsets stay as they were.
INSTANCES=(ds0-primary ds0-replica ds1-primary ds1-replica reference ds0-replica2)
# A third shard (ds2) starts only on demand (`shard3-up`): resharding grows the lab from two shards to three.
SHARD3=(ds2-primary ds2-replica)
declare -A OFFSET=([ds0-primary]=0 [ds0-replica]=1 [ds1-primary]=2 [ds1-replica]=3 [reference]=4 [ds0-replica2]=5
  [ds2-primary]=6 [ds2-replica]=7)
declare -A PRIMARY_OF=([ds0-replica]=ds0-primary [ds1-replica]=ds1-primary [ds0-replica2]=ds0-primary)

log() { echo "lab: $*" >&2; }
die() { echo "lab: ERROR: $*" >&2; exit 1; }

port_of() { echo $((LAB_PORT + OFFSET[$1])); }
cnf_of()  { echo "$LAB_DIR/$1/my.cnf"; }
sock_of() { echo "$LAB_DIR/$1/mariadbd.sock"; }
pidf_of() { echo "$LAB_DIR/$1/mariadbd.pid"; }
err_of()  { echo "$LAB_DIR/$1/error.log"; }
# shellcheck source=tests/lab/etcd.sh
. "$(dirname "${BASH_SOURCE[0]}")/etcd.sh"

# Root over the instance's own socket; --no-defaults keeps /etc/mysql and ~/.my.cnf out of it.
sql() { local n=$1; shift; mariadb --no-defaults --socket="$(sock_of "$n")" -uroot -N -B "$@"; }
ping_ok() { mariadb-admin --no-defaults --socket="$(sock_of "$1")" -uroot --connect-timeout=2 ping >/dev/null 2>&1; }

ensure_packages() {
  # openssl makes the lab's TLS certificates (make_tls); minimal Debian images lack the command.
  command -v mariadbd >/dev/null && command -v mariadb >/dev/null && command -v openssl >/dev/null && return 0
  log "installing mariadb-server, mariadb-client and openssl"
  local sudo=()
  if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null || die "mariadb is not installed and we are neither root nor have sudo"
    sudo=(sudo)
  fi
  # The lock timeout lets us wait for another apt run instead of failing on the dpkg lock.
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    -o DPkg::Lock::Timeout=300 mariadb-server mariadb-client openssl >/dev/null
  command -v mariadbd >/dev/null || die "mariadbd still missing after install"
}

# Prints the pid of instance $1 if it runs and is really ours: the pid file is in $LAB_DIR
# and the process was started with this instance's defaults file (guards against pid reuse).
pid_of() {
  local pidf pid
  pidf=$(pidf_of "$1")
  [[ -s $pidf ]] || return 1
  pid=$(<"$pidf")
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF -- "--defaults-file=$(cnf_of "$1")" || return 1
  echo "$pid"
}

port_busy() {
  if command -v ss >/dev/null; then [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]
  else (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; fi
}

# Detached start: own session, no inherited terminal/pipes, and fd 9 (our flock) closed so a
# long-lived server never holds the lab lock or keeps a caller's output pipe open.
spawn() {
  setsid mariadbd --defaults-file="$(cnf_of "$1")" --user=root </dev/null >>"$(err_of "$1")" 2>&1 9>&- &
}

wait_ping() {
  local n=$1 i
  for ((i = 0; i < 300; i++)); do
    ping_ok "$n" && return 0
    sleep 0.1
  done
  tail -n 30 "$(err_of "$n")" >&2 || true
  die "$n did not answer ping within 30 s (log: $(err_of "$n"))"
}

# SIGTERM every given instance that is ours, wait up to 20 s, then SIGKILL what is left.
stop_instances() {
  local n pid i; local -A pids=()
  for n in "$@"; do
    pid=$(pid_of "$n") || continue
    log "stopping $n (pid $pid)"; kill -TERM "$pid" 2>/dev/null || true; pids[$n]=$pid
  done
  for ((i = 0; i < 200 && ${#pids[@]} > 0; i++)); do
    for n in "${!pids[@]}"; do kill -0 "${pids[$n]}" 2>/dev/null || unset "pids[$n]"; done
    ((${#pids[@]} == 0)) || sleep 0.1
  done
  for n in "${!pids[@]}"; do
    log "$n (pid ${pids[$n]}) ignored SIGTERM for 20 s: SIGKILL"; kill -KILL "${pids[$n]}" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "${pids[$n]}" 2>/dev/null || break; sleep 0.1; done
  done
}

# One initialised datadir with the lab users, copied for every instance. Users are created
# with no binlog at all (skip-log-bin), so every copy starts with an empty GTID history.
make_template() {
  local t=$LAB_DIR/template
  [[ -f $t/.ready ]] && return 0
  stop_instances template # leftover from an interrupted run
  rm -rf "$t" && mkdir -p "$t"
  log "initialising template datadir"
  mariadb-install-db --no-defaults --user=root --datadir="$t/data" --auth-root-authentication-method=normal \
    --skip-test-db --innodb-log-file-size=16M >"$t/install.log" 2>&1 || { tail -n 30 "$t/install.log" >&2; die "mariadb-install-db failed"; }
  cat >"$(cnf_of template)" <<EOF
[mariadbd]
datadir=$t/data
socket=$(sock_of template)
pid-file=$(pidf_of template)
log_error=$(err_of template)
skip-networking
skip-log-bin
innodb_log_file_size=16M
innodb_buffer_pool_size=64M
performance_schema=OFF
EOF
  spawn template; wait_ping template
  # Drop anonymous users and root@<hostname>: with skip-name-resolve they only cause warnings.
  local u
  for u in $(sql template -e "SELECT CONCAT(QUOTE(user),'@',QUOTE(host)) FROM mysql.user
             WHERE user='' OR (user='root' AND host NOT IN ('localhost','127.0.0.1','::1'))"); do
    sql template -e "DROP USER $u"
  done
  # GRANT ALL on 10.11 includes READ_ONLY ADMIN, which lets a user write on a read_only replica.
  sql template <<'SQL'
SET SESSION sql_log_bin=0;
CREATE USER 'app'@'%' IDENTIFIED BY 'app';
GRANT ALL PRIVILEGES ON *.* TO 'app'@'%';
REVOKE SUPER, READ_ONLY ADMIN ON *.* FROM 'app'@'%';
CREATE USER 'repl'@'%' IDENTIFIED BY 'repl';
GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';
SQL
  local grants; grants=$(sql template -e "SHOW GRANTS FOR 'app'@'%'")
  [[ $grants != *"READ_ONLY ADMIN"* && $grants != *"SUPER"* ]] || die "app still has READ_ONLY ADMIN/SUPER: $grants"
  [[ $grants == *"SLAVE MONITOR"* ]] || die "app lacks SLAVE MONITOR (needed for SHOW SLAVE STATUS): $grants"
  mariadb-admin --no-defaults --socket="$(sock_of template)" -uroot shutdown
  stop_instances template # returns once the process is really gone
  touch "$t/.ready"
}

# A CA and a server certificate for 127.0.0.1 that every instance serves TLS with (made once per lab dir),
# so tests can reach backends over TLS (data source tls_mode) and check verification against the CA.
make_tls() {
  local t=$LAB_DIR/tls
  [[ -f $t/.ready ]] && return 0
  rm -rf "$t" && mkdir -p "$t"
  log "making the lab's TLS CA and server certificate"
  {
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=shardgate lab CA" \
      -keyout "$t/ca-key.pem" -out "$t/ca.pem"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=shardgate lab server" -keyout "$t/server-key.pem" -out "$t/server.csr"
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$t/server.ext"
    openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca-key.pem" -CAcreateserial -days 3650 \
      -extfile "$t/server.ext" -out "$t/server.pem"
  } >"$t/openssl.log" 2>&1 || { cat "$t/openssl.log" >&2; die "openssl could not make the lab's certificates"; }
  touch "$t/.ready"
}

write_cnf() {
  local n=$1 d=$LAB_DIR/$1 ro=""
  [[ -n ${PRIMARY_OF[$n]:-} ]] && ro="read_only=ON"
  cat >"$d/my.cnf" <<EOF
# generated by tests/lab/lab.sh
[mariadbd]
bind-address=127.0.0.1
port=$(port_of "$n")
socket=$(sock_of "$n")
pid-file=$(pidf_of "$n")
datadir=$d/data
log_error=$(err_of "$n")
server_id=$(port_of "$n")
log_bin=$d/binlog
log_bin_index=$d/binlog.index
relay_log=$d/relay-bin
relay_log_index=$d/relay-bin.index
binlog_format=ROW
log_slave_updates=ON
gtid_strict_mode=ON
innodb_buffer_pool_size=64M
innodb_log_file_size=16M
performance_schema=OFF
character_set_server=utf8mb4
collation_server=utf8mb4_general_ci
max_connections=500
max_allowed_packet=128M
skip-name-resolve
ssl_ca=$LAB_DIR/tls/ca.pem
ssl_cert=$LAB_DIR/tls/server.pem
ssl_key=$LAB_DIR/tls/server-key.pem
$ro
EOF
}

# Called only for an instance that is not running (see cmd_up).
start_instance() {
  local n=$1 d=$LAB_DIR/$1 port; port=$(port_of "$1")
  if port_busy "$port"; then
    die "port $port (for $n) is already in use by a process that is not this lab's: $(ss -Hltnp "sport = :$port" 2>/dev/null | tr -s ' ')"
  fi
  mkdir -p "$d"
  if [[ ! -d $d/data ]]; then # copy via a temp name so a half-copied datadir is never reused
    rm -rf "$d/data.tmp"; cp -a "$LAB_DIR/template/data" "$d/data.tmp"; mv "$d/data.tmp" "$d/data"
  fi
  write_cnf "$n"
  log "starting $n on port $port"
  spawn "$n"
}

# Vertical output needs column names, so no -N here (sql() passes -N).
slave_status() { mariadb --no-defaults --socket="$(sock_of "$1")" -uroot -e 'SHOW SLAVE STATUS\G'; }
slave_field() { slave_status "$1" | sed -n "s/^ *$2: //p"; }

setup_replica() {
  local r=$1 p=${PRIMARY_OF[$1]} io sqlt
  if [[ -z $(sql "$r" -e 'SHOW SLAVE STATUS') ]]; then
    log "configuring $r to replicate from $p"
    sql "$r" -e "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$(port_of "$p"), MASTER_USER='repl',
      MASTER_PASSWORD='repl', MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=slave_pos; START SLAVE;"
    return
  fi
  io=$(slave_field "$r" Slave_IO_Running); sqlt=$(slave_field "$r" Slave_SQL_Running)
  if [[ $io == No || $sqlt == No ]]; then log "starting stopped replication on $r"; sql "$r" -e 'START SLAVE'; fi
}

# Returns once the replica has applied everything its primary had and both threads run.
wait_caught_up() {
  local r=$1 p=${PRIMARY_OF[$1]} pos i
  pos=$(sql "$p" -e 'SELECT @@gtid_binlog_pos')
  [[ $(sql "$r" -e "SELECT MASTER_GTID_WAIT('$pos', 30)") == 0 ]] || die "$r did not reach $p's GTID $pos in 30 s: $(slave_field "$r" Last_SQL_Error) $(slave_field "$r" Last_IO_Error)"
  for ((i = 0; i < 300; i++)); do
    [[ $(slave_field "$r" Slave_IO_Running)/$(slave_field "$r" Slave_SQL_Running) == Yes/Yes ]] && return 0
    sleep 0.1
  done
  die "$r replication threads not running: $(slave_field "$r" Last_IO_Error) $(slave_field "$r" Last_SQL_Error)"
}

write_env() {
  cat >"$LAB_DIR/lab.env.tmp" <<EOF
LAB_DIR=$LAB_DIR
LAB_HOST=127.0.0.1
LAB_DS0_PRIMARY_PORT=$(port_of ds0-primary)
LAB_DS0_REPLICA_PORT=$(port_of ds0-replica)
LAB_DS1_PRIMARY_PORT=$(port_of ds1-primary)
LAB_DS1_REPLICA_PORT=$(port_of ds1-replica)
LAB_REFERENCE_PORT=$(port_of reference)
LAB_DS0_REPLICA2_PORT=$(port_of ds0-replica2)
LAB_DS2_PRIMARY_PORT=$(port_of ds2-primary)
LAB_DS2_REPLICA_PORT=$(port_of ds2-replica)
LAB_APP_USER=app
LAB_APP_PASSWORD=app
LAB_ETCD_ENDPOINTS=$(etcd_endpoints)
EOF
  mv "$LAB_DIR/lab.env.tmp" "$LAB_DIR/lab.env"
}

lock() { exec 9>"$LAB_DIR/.lock"; flock -w 300 9 || die "could not lock $LAB_DIR/.lock within 300 s"; }

cmd_up() {
  ensure_packages
  mkdir -p "$LAB_DIR"; touch "$LAB_DIR/.shardgate-lab" # marker: 'wipe' only removes a lab dir
  lock
  make_template
  make_tls
  local n started=()
  for n in "${INSTANCES[@]}"; do
    if pid_of "$n" >/dev/null; then
      grep -qx "port=$(port_of "$n")" "$(cnf_of "$n")" || die "$n runs on another port than LAB_PORT=$LAB_PORT gives; run 'down' first"
    else
      start_instance "$n"; started+=("$n")
    fi
  done
  for n in "${started[@]}"; do wait_ping "$n"; done
  for n in "${!PRIMARY_OF[@]}"; do setup_replica "$n"; done
  for n in ds0-primary ds1-primary reference; do # skip when present: no needless binlog events
    [[ $(sql "$n" -e "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ('demo','sbtest')") == 2 ]] ||
      sql "$n" -e 'CREATE DATABASE IF NOT EXISTS demo; CREATE DATABASE IF NOT EXISTS sbtest;'
  done
  for n in "${!PRIMARY_OF[@]}"; do wait_caught_up "$n"; done
  etcd_up
  write_env
  log "up: ports $(port_of ds0-primary)-$(port_of ds0-replica2), etcd $(etcd_endpoints), env in $LAB_DIR/lab.env"
}

cmd_down() {
  [[ -d $LAB_DIR ]] || return 0
  lock
  stop_instances "${INSTANCES[@]}" "${SHARD3[@]}" template
  etcd_down
}

# The third shard: a primary and its replica with the same databases as the others; idempotent.
cmd_shard3_up() {
  [[ -f $LAB_DIR/template/.ready ]] || die "the lab is not up; run 'up' first"
  lock
  local n started=()
  for n in "${SHARD3[@]}"; do
    pid_of "$n" >/dev/null || { start_instance "$n"; started+=("$n"); }
  done
  for n in "${started[@]}"; do wait_ping "$n"; done
  PRIMARY_OF[ds2-replica]=ds2-primary
  setup_replica ds2-replica
  [[ $(sql ds2-primary -e "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ('demo','sbtest')") == 2 ]] ||
    sql ds2-primary -e 'CREATE DATABASE IF NOT EXISTS demo; CREATE DATABASE IF NOT EXISTS sbtest;'
  wait_caught_up ds2-replica
  log "shard3 up: ports $(port_of ds2-primary) (primary), $(port_of ds2-replica) (replica)"
}

cmd_wipe() {
  [[ -d $LAB_DIR ]] || return 0
  [[ -f $LAB_DIR/.shardgate-lab ]] || die "$LAB_DIR has no .shardgate-lab marker; refusing to remove it"
  cmd_down
  rm -rf "$LAB_DIR"
  log "removed $LAB_DIR"
}

cmd_status() {
  local n pid state extra rc=0
  for n in "${INSTANCES[@]}"; do
    pid=$(pid_of "$n") || pid=-
    if [[ $pid != - ]] && ping_ok "$n"; then state=up; else state=down; rc=1; fi
    extra=""
    if [[ -n ${PRIMARY_OF[$n]:-} && $state == up ]]; then
      local st io sqlt lag
      st=$(slave_status "$n")
      io=$(sed -n 's/^ *Slave_IO_Running: //p' <<<"$st"); sqlt=$(sed -n 's/^ *Slave_SQL_Running: //p' <<<"$st")
      lag=$(sed -n 's/^ *Seconds_Behind_Master: //p' <<<"$st")
      extra="io=${io:-none} sql=${sqlt:-none} behind=${lag:-none}"
      [[ $io == Yes && $sqlt == Yes ]] || rc=1
    fi
    printf '%-12s port=%-5s pid=%-7s %-4s %s\n' "$n" "$(port_of "$n")" "$pid" "$state" "$extra"
  done
  return $rc
}

case ${1:-} in
  up) cmd_up ;;
  down) if [[ ${LAB_WIPE:-0} == 1 ]]; then cmd_wipe; else cmd_down; fi ;;
  wipe) cmd_wipe ;;
  status) cmd_status ;;
  # The fleet tests stop and start etcd members: etcd-down [member…] / etcd-up [member…] (default all).
  etcd-up) shift; lock; etcd_up "$@" ;;
  etcd-down) shift; etcd_down "$@" ;;
  shard3-up) cmd_shard3_up ;;
  shard3-down) lock; stop_instances "${SHARD3[@]}" ;;
  *) echo "usage: $0 up|down|status|wipe|etcd-up|etcd-down|shard3-up|shard3-down   (env: LAB_DIR, LAB_PORT, LAB_WIPE=1 with down)" >&2; exit 2 ;;
esac
