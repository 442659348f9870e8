#!/usr/bin/env bash
# Builds libkabuken (debug), compiles every C test in ffi/tests/c with
# -std=c11 -Wall -Wextra -Werror and AddressSanitizer + UBSan against the
# static library, runs them, checks that include/kabuken.h also compiles as
# C++, and builds the C examples and runs them (under valgrind when
# installed).
# Ends with the line "C tests: N passed, M failed".
#
# Needs a C and a C++ compiler (cc, c++). valgrind and pkg-config are
# installed with apt-get when missing and running as root (see below);
# without them the example runs plainly and the script says so.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
CC=${CC:-cc}
CXX=${CXX:-c++}
target="${CARGO_TARGET_DIR:-$root/target}"
out="$target/c-tests"
mkdir -p "$out"

# valgrind (the example must run clean under it) and pkg-config (the
# dynamic-link check) come from Debian's packages: installed here with
# apt-get when missing and this runs as root; otherwise those checks are
# skipped with a message.
for tool in valgrind pkg-config; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing $tool with apt-get (used by the C ABI tests)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool") >/dev/null 2>&1 ||
      echo "could not install $tool"
  fi
done

cargo build -p kabuken-ffi --locked || { echo "C tests: 0 passed, 1 failed"; exit 1; }
lib="$target/debug/libkabuken.a"

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; }

# ASan's leak checker reports nothing from Rust's side here; thread-local
# destructors run at thread exit. detect_leaks stays on.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

for src in ffi/tests/c/test_*.c; do
  name=$(basename "$src" .c)
  if $CC -std=c11 -Wall -Wextra -Werror -g -fsanitize=address,undefined \
      -fno-sanitize-recover=undefined -Iinclude "$src" "$lib" \
      -lpthread -ldl -lm -o "$out/$name"; then
    if "$out/$name"; then pass "$name"; else fail "$name (run)"; fi
  else
    fail "$name (compile)"
  fi
done

# The header compiles as C++ as well.
if $CXX -x c++ -std=c++11 -fsyntax-only -Wall -Wextra -Werror include/kabuken.h; then
  pass "kabuken.h as C++"
else
  fail "kabuken.h as C++"
fi

# The examples: built with their Makefile against the static library, run
# under valgrind when present; then linked dynamically through the
# generated pkg-config file.
examples="exchange certificates"
if [ -d examples/c ]; then
  if make -s -C examples/c clean all KABUKEN_LIB_DIR="$target/debug" >/dev/null; then
    for ex in $examples; do
      if command -v valgrind >/dev/null 2>&1; then
        if valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
            "examples/c/build/$ex" >/dev/null; then
          pass "examples/c/$ex under valgrind"
        else
          fail "examples/c/$ex under valgrind"
        fi
      else
        echo "SKIPPED: valgrind not installed (apt-get install valgrind); running examples/c/$ex plainly"
        if "examples/c/build/$ex" >/dev/null; then pass "examples/c/$ex"; else fail "examples/c/$ex"; fi
      fi
    done
  else
    fail "examples/c (build)"
  fi
fi

if command -v pkg-config >/dev/null 2>&1; then
  if make -s -C examples/c build/kabuken.pc KABUKEN_LIB_DIR="$target/debug" >/dev/null; then
    for ex in $examples; do
      if $CC -std=c11 -Wall -Wextra -Werror "examples/c/$ex.c" \
           $(PKG_CONFIG_PATH=examples/c/build pkg-config --cflags --libs kabuken) \
           -Wl,-rpath,"$target/debug" -o "$out/${ex}_dynamic" &&
         "$out/${ex}_dynamic" >/dev/null; then
        pass "examples/c/$ex linked dynamically via kabuken.pc"
      else
        fail "examples/c/$ex linked dynamically via kabuken.pc"
      fi
    done
  else
    fail "examples/c kabuken.pc"
  fi
else
  echo "SKIPPED: pkg-config not installed (dynamic link check)"
fi

echo "C tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
