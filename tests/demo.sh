#!/usr/bin/env bash
# The local demo: the MariaDB lab (two shards, each a primary with a GTID replica, plus a reference server)
# and shardgate on 127.0.0.1:3307 with rules/demo.toml; plus a fleet of two instances (3327, 3328) that take
# the same rules from the lab's etcd (rules/fleet-a.toml, rules/fleet-b.toml). Installs what is missing.
#   tests/demo.sh [up]    start everything, print how to connect, return
#   tests/demo.sh down    stop shardgate and the lab; nothing of the demo keeps running
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export LAB_DIR="${LAB_DIR:-/tmp/shardgate-lab}"
export LAB_PORT=3310 # rules/demo.toml names these ports
pidfile="$LAB_DIR/shardgate.pid"
logfile="$LAB_DIR/shardgate.log"
binary="$root/target/release/shardgate"

etcd="127.0.0.1:3330,127.0.0.1:3331,127.0.0.1:3332" # tests/lab/etcd.sh: LAB_PORT+20..22

# Prints the pid in pid file $1 (default the file-based instance's) if it names a live shardgate started by
# this script with arguments $2.
running_pid() {
  local file=${1:-$pidfile} args=${2:-"--config $root/rules/demo.toml"}
  [[ -s $file ]] || return 1
  local pid; pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$binary serve $args" || return 1
  echo "$pid"
}

# The fleet: rules/demo.toml pushed to etcd once, then instances demo-a and demo-b from their bootstrap files.
fleet_up() {
  if ! "$binary" rules --etcd "$etcd" --prefix /shardgate/demo get >/dev/null 2>&1; then
    "$binary" rules --etcd "$etcd" --prefix /shardgate/demo push --revision 0 "$root/rules/demo.toml"
  fi
  mkdir -p "$LAB_DIR/fleet"
  local n port
  for n in a b; do
    [[ $n == a ]] && port=3327 || port=3328
    if running_pid "$LAB_DIR/fleet/$n.pid" "--fleet $root/rules/fleet-$n.toml" >/dev/null; then continue; fi
    setsid "$binary" serve --fleet "$root/rules/fleet-$n.toml" >"$LAB_DIR/fleet/$n.log" 2>&1 </dev/null &
    echo $! >"$LAB_DIR/fleet/$n.pid"
    for _ in $(seq 50); do
      mariadb --no-defaults -h127.0.0.1 -P"$port" -uapp -papp -e 'SELECT 1' >/dev/null 2>&1 && break
      sleep 0.2
    done
  done
}

up() {
  if ! command -v cargo >/dev/null; then
    [[ -x $HOME/.cargo/bin/cargo ]] || { echo "demo: installing the Rust toolchain (rustup)"; curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal; }
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  tests/lab/lab.sh up
  if ! command -v protoc >/dev/null; then # etcd-client's build needs it
    echo "demo: installing protobuf-compiler"
    local sudo=(); [[ $(id -u) == 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler >/dev/null
  fi
  echo "demo: building shardgate (release)"
  cargo build --release --quiet
  if pid=$(running_pid); then
    echo "demo: shardgate already running (pid $pid)"
  else
    "$binary" check --config "$root/rules/demo.toml"
    setsid "$binary" serve --config "$root/rules/demo.toml" >"$logfile" 2>&1 </dev/null &
    echo $! >"$pidfile"
    for _ in $(seq 50); do
      mariadb --no-defaults -h127.0.0.1 -P3307 -uapp -papp -e 'SELECT 1' >/dev/null 2>&1 && break
      running_pid >/dev/null || { cat "$logfile"; echo "demo: shardgate exited" >&2; exit 1; }
      sleep 0.2
    done
  fi
  fleet_up
  cat <<MSG

shardgate is listening on 127.0.0.1:3307 (rules: rules/demo.toml, log: $logfile).
Connect with:
    mariadb -h127.0.0.1 -P3307 -uapp -papp demo
Backends (direct, for comparison): ds_0 primary 127.0.0.1:3310 (replicas 3311, 3315), ds_1 primary 3312 (replica 3313).
A fleet of two more instances takes the same rules from etcd: 127.0.0.1:3327 (demo-a) and 3328 (demo-b).
    $binary fleet --etcd $etcd --prefix /shardgate/demo status
    $binary rules --etcd $etcd --prefix /shardgate/demo get > my-rules.toml   # edit, then:
    $binary rules --etcd $etcd --prefix /shardgate/demo push my-rules.toml
    mariadb -h127.0.0.1 -P3327 -uapp -papp -e 'SHOW SHARDGATE PROXIES'
Stop everything with:
    tests/demo.sh down
MSG
}

down() {
  if pid=$(running_pid); then
    kill "$pid"
    for _ in $(seq 50); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
    [[ -d /proc/$pid ]] && kill -9 "$pid"
    echo "demo: shardgate stopped"
  fi
  rm -f "$pidfile"
  local n
  for n in a b; do
    if pid=$(running_pid "$LAB_DIR/fleet/$n.pid" "--fleet $root/rules/fleet-$n.toml"); then
      kill "$pid"
      for _ in $(seq 50); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
      [[ -d /proc/$pid ]] && kill -9 "$pid"
      echo "demo: fleet instance demo-$n stopped"
    fi
    rm -f "$LAB_DIR/fleet/$n.pid"
  done
  tests/lab/lab.sh down
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  *) echo "usage: tests/demo.sh [up|down]" >&2; exit 2 ;;
esac
