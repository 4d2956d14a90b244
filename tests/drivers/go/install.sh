#!/usr/bin/env bash
# Installs Go and go-sql-driver/mysql from Debian (used in GOPATH mode by run.sh).
# Idempotent: does nothing when both are already installed.
set -euo pipefail
pkgs="golang-go golang-github-go-sql-driver-mysql-dev"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# One retry: a concurrent apt cache clean can remove downloaded .debs before dpkg unpacks them.
apt-get install -y -qq $missing || apt-get install -y -qq $missing
