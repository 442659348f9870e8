#!/usr/bin/env bash
# The Python part of the test command (scripts/test.sh calls it): format and
# lint the pyo3 crate, build the wheel with maturin, install it into a fresh
# virtual environment, check the .pyi stubs against the built module
# (mypy.stubtest), type-check the package (mypy) and run pytest.
#
# Needs python3 (>= 3.9) with the venv module and network access to PyPI
# (maturin, pytest, mypy, numpy, pandas). Set PYTHON to pick the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
py="${PYTHON:-python3}"
venv="$root/target/py-test-venv"

step() { printf '\n==> %s\n' "$*"; }

step "python: cargo fmt --check and clippy of the pyo3 crate (own workspace)"
cargo fmt --manifest-path python/Cargo.toml -- --check
cargo clippy --manifest-path python/Cargo.toml --locked --release -- -D warnings

step "python: fresh virtual environment ($venv)"
rm -rf "$venv"
"$py" -m venv "$venv"
vpy="$venv/bin/python"
"$vpy" -m pip install --quiet --upgrade pip
# pandas is optional for users; installed here so its tests run.
"$vpy" -m pip install --quiet "maturin>=1.7,<2" pytest mypy numpy pandas

step "python: maturin build --release, install the wheel"
rm -rf "$root/target/wheels"
(cd python && "$venv/bin/maturin" build --release --locked --out "$root/target/wheels" --interpreter "$vpy")
"$vpy" -m pip install --quiet --force-reinstall --no-deps "$root"/target/wheels/kabuken-*.whl

# Run from outside python/ so the installed wheel is what gets imported.
cd "$root/target"
step "python: mypy.stubtest kabuken._native (allowlist: python/stubtest-allowlist.txt)"
"$vpy" -m mypy.stubtest kabuken._native --allowlist "$root/python/stubtest-allowlist.txt"

step "python: mypy (package sources and tests)"
"$vpy" -m mypy --cache-dir "$root/target/mypy-cache" "$root/python/kabuken" "$root/python/tests"

step "python: pytest"
set +e
"$vpy" -m pytest -q -p no:cacheprovider "$root/python/tests"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: treated as a failure" >&2
  exit 1
fi
[ "$rc" -eq 0 ] || exit "$rc"

shared="${KABUKEN_SHARED:-$root/../shared}"
sample="$shared/data/lobster/LOBSTER_SampleFile_AAPL_2012-06-21_1.zip"
if [ -f "$sample" ]; then
  step "python: examples/python/lobster_plot.py smoke run (AAPL sample)"
  "$vpy" "$root/examples/python/lobster_plot.py" "$sample" --out "$root/target/lobster_aapl.png"
else
  echo "SKIPPED: examples/python/lobster_plot.py ($sample not found)"
fi
