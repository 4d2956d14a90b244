# shellcheck shell=bash
# The lab's three-member etcd cluster (the fleet's config center), sourced by lab.sh. Member i (0-2) serves
# clients on LAB_PORT+20+i and peers on LAB_PORT+30+i, with its data in $LAB_DIR/etcd<i>. Short heartbeat
# and election timeouts so a killed member is replaced within a second, as the fleet tests need.

ETCD_MEMBERS=(0 1 2)
etcd_client_port() { echo $((LAB_PORT + 20 + $1)); }
etcd_peer_port() { echo $((LAB_PORT + 30 + $1)); }
etcd_dir() { echo "$LAB_DIR/etcd$1"; }
etcd_endpoints() {
  local i out=()
  for i in "${ETCD_MEMBERS[@]}"; do out+=("127.0.0.1:$(etcd_client_port "$i")"); done
  (IFS=,; echo "${out[*]}")
}

ensure_etcd() {
  command -v etcd >/dev/null && return 0
  log "installing etcd-server"
  local sudo=(); [[ $(id -u) == 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 etcd-server >/dev/null
  command -v etcd >/dev/null || die "etcd still missing after installing etcd-server"
}

# The pid of member $1 if it runs from this lab's data dir (matched in its command line).
etcd_pid() { pgrep -f -- "--data-dir=$(etcd_dir "$1")( |\$)" | head -n 1; }

etcd_start() {
  local i=$1 d cluster="" j
  d=$(etcd_dir "$i")
  [[ -n $(etcd_pid "$i") ]] && return 0
  port_busy "$(etcd_client_port "$i")" && die "port $(etcd_client_port "$i") (etcd member $i) is in use by a process that is not this lab's"
  for j in "${ETCD_MEMBERS[@]}"; do cluster+="${cluster:+,}etcd$j=http://127.0.0.1:$(etcd_peer_port "$j")"; done
  local state=new; [[ -d $d/member ]] && state=existing
  mkdir -p "$d"
  log "starting etcd member $i on port $(etcd_client_port "$i")"
  setsid etcd --name "etcd$i" --data-dir="$d" \
    --listen-client-urls "http://127.0.0.1:$(etcd_client_port "$i")" \
    --advertise-client-urls "http://127.0.0.1:$(etcd_client_port "$i")" \
    --listen-peer-urls "http://127.0.0.1:$(etcd_peer_port "$i")" \
    --initial-advertise-peer-urls "http://127.0.0.1:$(etcd_peer_port "$i")" \
    --initial-cluster "$cluster" --initial-cluster-state "$state" --initial-cluster-token shardgate-lab \
    --heartbeat-interval 50 --election-timeout 500 --snapshot-count 10000 \
    </dev/null >>"$d.log" 2>&1 9>&- &
}

# Any member answering /health with "true" has a quorum behind it (etcd's own health check).
etcd_healthy() {
  local i
  for i in "${ETCD_MEMBERS[@]}"; do
    curl -fsS --max-time 2 "http://127.0.0.1:$(etcd_client_port "$i")/health" 2>/dev/null | grep -q '"health":"true"' && return 0
  done
  return 1
}

# Starts the members that are not running (all three on a first start: they form the cluster together).
etcd_up() {
  ensure_etcd
  local i
  for i in "${@:-${ETCD_MEMBERS[@]}}"; do etcd_start "$i"; done
  for ((i = 0; i < 300; i++)); do etcd_healthy && return 0; sleep 0.1; done
  tail -n 20 "$(etcd_dir 0).log" >&2 || true
  die "etcd did not become healthy within 30 s (logs: $LAB_DIR/etcd*.log)"
}

# Stops members $@ (default all): SIGTERM, then SIGKILL after 10 s.
etcd_down() {
  local i pid k
  for i in "${@:-${ETCD_MEMBERS[@]}}"; do
    pid=$(etcd_pid "$i") || true
    [[ -n $pid ]] || continue
    log "stopping etcd member $i (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((k = 0; k < 100; k++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}
