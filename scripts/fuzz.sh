#!/usr/bin/env bash
# Runs each cargo-fuzz target of the wire crate for FUZZ_SECONDS (default 60). Needs a nightly
# toolchain and cargo-fuzz (`rustup toolchain install nightly`, `cargo install cargo-fuzz`).
# Not part of CI: the result goes in the closing note of the change that touched the codec.
set -euo pipefail
cd "$(dirname "$0")/../wire"
seconds=${FUZZ_SECONDS:-60}
for target in frame record; do
  echo "== fuzz $target for ${seconds}s"
  cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048
done
