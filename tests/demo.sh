#!/usr/bin/env bash
# The local demo: the MariaDB lab (two shards, each a primary with a GTID replica, plus a reference server)
# and shardgate on 127.0.0.1:3307 with rules/demo.toml. Installs what is missing.
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

# Prints shardgate's pid if the pid file names a live shardgate started by this script.
running_pid() {
  [[ -s $pidfile ]] || return 1
  local pid; pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$binary serve --config $root/rules/demo.toml" || return 1
  echo "$pid"
}

up() {
  if ! command -v cargo >/dev/null; then
    [[ -x $HOME/.cargo/bin/cargo ]] || { echo "demo: installing the Rust toolchain (rustup)"; curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal; }
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  tests/lab/lab.sh up
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
  cat <<MSG

shardgate is listening on 127.0.0.1:3307 (rules: rules/demo.toml, log: $logfile).
Connect with:
    mariadb -h127.0.0.1 -P3307 -uapp -papp demo
Backends (direct, for comparison): ds_0 primary 127.0.0.1:3310 (replicas 3311, 3315), ds_1 primary 3312 (replica 3313).
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
  tests/lab/lab.sh down
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  *) echo "usage: tests/demo.sh [up|down]" >&2; exit 2 ;;
esac
