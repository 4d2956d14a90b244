#!/usr/bin/env bash
# The test command: installs what the tests need when it is missing, starts the test lab (its own directory
# and ports, so it never collides with the demo's or one left behind), runs every test, stops the lab.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

need=()
command -v mariadbd >/dev/null || need+=(mariadb-server)
command -v mariadb >/dev/null || need+=(mariadb-client)
command -v sysbench >/dev/null || need+=(sysbench)
command -v shellcheck >/dev/null || need+=(shellcheck)
command -v script >/dev/null || need+=(bsdutils)
command -v protoc >/dev/null || need+=(protobuf-compiler) # etcd-client's build
command -v etcd >/dev/null || need+=(etcd-server)         # the lab's config center (tests/fleet.rs)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  echo "run.sh: installing ${need[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi
if ! command -v cargo >/dev/null; then
  echo "run.sh: cargo is missing; installing the Rust toolchain with rustup"
  curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  . "$HOME/.cargo/env"
fi

# PyYAML reads docker/compose.yml in tests/docker.rs.
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install --quiet pyyaml
# The driver suite's clients (Python, Node, Go, Java drivers): tests/drivers/*/install.sh.
tests/drivers/install.sh

# A full disk shows up as a linker "Bus error" deep in the build; say it plainly instead.
free_kb=$(df -Pk "$root" | awk 'NR==2 {print $4}')
if [ "$free_kb" -lt $((6 * 1024 * 1024)) ]; then
  echo "run.sh: warning: only $((free_kb / 1024)) MiB free under $root; the build and the lab need about 6 GiB"
fi
# One build per CI run: incremental caches would only cost disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

export LAB_DIR="${TEST_LAB_DIR:-$root/target/test-lab}"
export LAB_PORT="${TEST_LAB_PORT:-23310}"
mkdir -p "$(dirname "$LAB_DIR")"
tests/lab/lab.sh up
# The lab's data (binlogs of the big-packet and LOAD DATA tests run to GBs) goes with it.
trap 'tests/lab/lab.sh down; rm -rf "$LAB_DIR"' EXIT

cargo build --all-targets
cargo test --no-fail-fast "$@"
# A minute of fuzzing per target (FUZZ_SECONDS; 0 skips): tests/fuzz/run.sh.
tests/fuzz/run.sh
