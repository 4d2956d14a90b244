#!/usr/bin/env bash
# Installs the node driver test's dependencies (mysql2, pinned by package-lock.json).
# Idempotent: does nothing when node_modules already matches the lock file.
set -euo pipefail
cd "$(dirname "$0")"
command -v npm >/dev/null || { echo "npm not found: install Node.js 20 + npm" >&2; exit 1; }
if [ -f node_modules/.package-lock.json ] && [ node_modules/.package-lock.json -nt package-lock.json ] \
   && node -e "require('mysql2/promise')" 2>/dev/null; then
  exit 0
fi
npm ci --no-audit --no-fund
