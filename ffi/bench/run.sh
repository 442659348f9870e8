#!/usr/bin/env bash
# The C ABI overhead benchmark: per-call cost of kbk_book_submit /
# kbk_book_cancel against the Rust API (same sequence), and batch
# submission of the Flash `normal` workload through
# kbk_book_apply_batch_events against `kabuken replay flash` (Rust).
# Usage: bash ffi/bench/run.sh [N] [RUNS]   (release builds; ~1-2 minutes)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-1000000}
runs=${2:-5}
shared="${KABUKEN_SHARED:-../shared}"
wl="$shared/conformance/flash/orders_normal_s23_n1000000.bin.xz"
cargo build --release --locked -p kabuken-ffi -p kabuken-cli --example book_baseline
mkdir -p target/ffi-bench
cc -std=c11 -O2 -Wall -Wextra -Werror -Iinclude ffi/bench/book_bench.c \
  target/release/libkabuken.a -lpthread -ldl -lm -o target/ffi-bench/book_bench
./target/release/examples/book_baseline "$n" "$runs"
if [ -f "$wl" ]; then
  bin=target/ffi-bench/orders_normal.bin
  [ -f "$bin" ] || xz -dc "$wl" > "$bin"
  ./target/ffi-bench/book_bench "$n" "$runs" "$bin"
  ./target/release/kabuken replay flash "$bin" --runs "$runs"
else
  echo "SKIPPED: batch part ($wl not found; set KABUKEN_SHARED)"
  ./target/ffi-bench/book_bench "$n" "$runs"
fi
