#!/usr/bin/env bash
# Builds scenario.go in GOPATH mode against Debian's golang-github-go-sql-driver-mysql-dev and runs it.
# Usage: tests/drivers/go/run.sh HOST PORT TABLE
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 HOST PORT TABLE" >&2; exit 2; }
here="$(cd "$(dirname "$0")" && pwd)"
export GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS=
version="$(dpkg-query -W -f='${Version}' golang-github-go-sql-driver-mysql-dev 2>/dev/null || echo unknown)"
version="${version%-*}"   # Debian revision off: 1.5.0-2 -> 1.5.0
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/scenario" -ldflags "-X main.driverVersion=$version" "$here/scenario.go"
"$bin/scenario" "$1" "$2" "$3"
