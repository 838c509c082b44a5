#!/usr/bin/env bash
# Runs the loopback benchmark with both AEAD backends of lrp2p in one table.
#
# lrp2p-proto picks its AEAD at build time (feature `ring`, for all three adapters), so one
# binary has one backend: this builds the example with `--features ring`, keeps that binary as
# `loopback-ring`, builds it again with the default (RustCrypto) backend, and runs the default
# build with `--with loopback-ring`, which runs the ring build's row of each lrp2p adapter
# right after the default build's.
#
# Usage: lrp2p-bench/examples/loopback.sh [--bytes N] [--runs K] [--only NAME,...] ...
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-target}"
examples="$target/release/examples"
cargo build --release -p lrp2p-bench --example loopback --features ring
cp "$examples/loopback" "$examples/loopback-ring"
cargo build --release -p lrp2p-bench --example loopback
exec "$examples/loopback" --with "$examples/loopback-ring" "$@"
