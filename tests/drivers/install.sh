#!/usr/bin/env bash
# Installs the clients of the driver suite (tests/drivers.rs) when missing: each language's own install.sh.
# Fast when everything is there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for lang in python node go java; do
  bash "$here/$lang/install.sh"
done
