#!/usr/bin/env bash
# Runs every test of kabuken: formatting and lints, the Rust unit, property,
# integration and CLI tests, the C ABI tests (ffi/tests/run_c_tests.sh), the
# external conformance suite (when ../shared is present), the Python wheel
# (scripts/test-python.sh: build, stubtest, mypy, pytest in a fresh venv),
# and a build check of the fuzz targets. `.ci/run` calls this
# same script. It installs what it needs itself (rustfmt and clippy through
# rustup when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n==> %s\n' "$*"; }

for comp in rustfmt clippy; do
  if ! cargo "${comp/rustfmt/fmt}" --version >/dev/null 2>&1; then
    step "installing $comp"
    rustup component add "$comp"
  fi
done

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (unit, property, integration, CLI)"
cargo test --workspace --locked

step "loom models: certificate-ID state word, market-data seqlock and event ring (release, cfg(loom))"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
  cargo test --locked -p kabuken --release --lib loom

step "C ABI: C tests (ASan/UBSan), header as C++, examples under valgrind"
bash ffi/tests/run_c_tests.sh

step "release build of the kabuken command"
cargo build --release --locked -p kabuken-cli

shared="${KABUKEN_SHARED:-$root/../shared}"
if [ -d "$shared/conformance/flash" ]; then
  step "Flash conformance: 34 edge cases and all 5 workloads (release build)"
  KABUKEN_SHARED="$shared" ./target/release/kabuken conformance flash-suite "$shared/conformance/flash"
else
  echo "SKIPPED: Flash conformance suite ($shared/conformance/flash not found; set KABUKEN_SHARED)"
fi

step "main job smoke run: kabuken simulate --orders 20000"
./target/release/kabuken simulate --orders 20000

step "the same on the concurrent runtime: signed flow, the compact trusted gateway, the trusted gateway on the full runtime"
./target/release/kabuken simulate --threads 1 --orders 20000
./target/release/kabuken simulate --threads 1 --orders 200000 --trusted
./target/release/kabuken simulate --threads 1 --orders 20000 --trusted-full

step "Python wheel: build, install in a fresh venv, stubtest, mypy, pytest"
bash scripts/test-python.sh

step "fuzz targets compile (cargo check; running them is not part of CI)"
cargo check --manifest-path fuzz/Cargo.toml --bins

echo
echo "all tests passed"
