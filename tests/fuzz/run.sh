#!/usr/bin/env bash
# Short fuzz run of every target (the test command runs it; CI gets FUZZ_SECONDS per target, default 60).
# Longer runs: FUZZ_SECONDS=3600 tests/fuzz/run.sh, or one target by hand (see Cargo.toml). A crash stops
# the run with the input saved under tests/fuzz/artifacts/<target>/; fix it and add a regression test.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-60}
[[ $seconds == 0 ]] && { echo "fuzz: skipped (FUZZ_SECONDS=0)"; exit 0; }
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for target in packet handshake stmt_execute router; do
  mkdir -p "$work/$target"
  echo "fuzz: $target for ${seconds} s"
  # RUSTC_BOOTSTRAP: cargo-fuzz passes -Z flags, which the stable toolchain takes only so; no sanitizer
  # runtime is installed here (-s none), so crashes are panics and aborts, not memory errors.
  if ! RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir tests/fuzz -s none "$target" "$work/$target" "tests/fuzz/corpus/$target" \
    -- -max_total_time="$seconds" -print_final_stats=1 >"$work/$target.log" 2>&1; then
    grep -a -E "panicked|ERROR|SUMMARY|Test unit written" "$work/$target.log" || tail -n 20 "$work/$target.log"
    echo "fuzz: $target found a crash (tests/fuzz/artifacts/$target/)"
    exit 1
  fi
  grep -a -E "^Done" "$work/$target.log" || true
done
