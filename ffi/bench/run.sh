#!/usr/bin/env bash
# The C ABI overhead benchmark (release builds; a few minutes).
# 1. src/overhead.rs (an ignored test): in one process, runs interleaved, the Rust
#    API against the extern "C" exports called through opaque function
#    pointers: per-call add/cancel on a warm 10k-order book, and the Flash
#    `normal` workload through flash::replay vs the two batch calls.
# 2. book_bench.c: the same through a real C caller (static library).
# 3. `kabuken replay flash` on the same workload (the Rust figure of the
#    README).
# Usage: bash ffi/bench/run.sh [DEPTH] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
depth=${1:-10000}
runs=${2:-7}
shared="${KABUKEN_SHARED:-../shared}"
wl="$shared/conformance/flash/orders_normal_s23_n1000000.bin.xz"
cargo build --release --locked -p kabuken-ffi -p kabuken-cli
mkdir -p target/ffi-bench
cc -std=c11 -O2 -Wall -Wextra -Werror -Iinclude ffi/bench/book_bench.c \
  target/release/libkabuken.a -lpthread -ldl -lm -o target/ffi-bench/book_bench
if [ -f "$wl" ]; then
  # Absolute: the cargo test below runs in the ffi/ package directory.
  bin=$(pwd)/target/ffi-bench/orders_normal.bin
  [ -f "$bin" ] || xz -dc "$wl" > "$bin"
  KBK_BENCH_DEPTH="$depth" KBK_BENCH_RUNS="$runs" KBK_BENCH_WORKLOAD="$bin" \
    cargo test --release --locked -p kabuken-ffi --lib overhead -- --ignored --nocapture
  ./target/ffi-bench/book_bench "$depth" "$runs" "$bin"
  ./target/release/kabuken replay flash "$bin" --runs "$runs"
else
  echo "SKIPPED: batch part ($wl not found; set KABUKEN_SHARED)"
  KBK_BENCH_DEPTH="$depth" KBK_BENCH_RUNS="$runs" \
    cargo test --release --locked -p kabuken-ffi --lib overhead -- --ignored --nocapture
  ./target/ffi-bench/book_bench "$depth" "$runs"
fi
