"""Per-call overhead of one `Book.submit(...)` from Python.

    python python/bench/bench_single.py [--n N] [--repeat R]

Times N single calls `book.submit(id, Side.BUY, 1, price)` that rest a limit
order (each returns a list with one `Accepted` event) and the same N commands
through the bulk path (the engine's own cost plus writing one event row).
Overhead per call = median Python time per call - median bulk time per
command. Also prints `book.cancel(id)` the same way.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import kabuken
from kabuken import Book, Side


def per_call_submit(n: int) -> float:
    b = Book()
    submit = b.submit
    buy = Side.BUY
    prices = [1_000 + (i % 64) for i in range(n)]
    t = time.perf_counter()
    for i in range(n):
        submit(i + 1, buy, 1, prices[i])
    return (time.perf_counter() - t) / n


def per_call_cancel(n: int) -> float:
    b = Book()
    kabuken.replay(commands(n), book=b)
    cancel = b.cancel
    t = time.perf_counter()
    for i in range(n):
        cancel(i + 1)
    return (time.perf_counter() - t) / n


def loop_only(n: int) -> float:
    def f(a: int, b: object, c: int, d: int) -> None:
        return None

    buy = Side.BUY
    prices = [1_000 + (i % 64) for i in range(n)]
    t = time.perf_counter()
    for i in range(n):
        f(i + 1, buy, 1, prices[i])
    return (time.perf_counter() - t) / n


def commands(n: int) -> dict[str, np.ndarray]:
    return {
        "kind": np.zeros(n, np.uint8),
        "id": np.arange(1, n + 1, dtype=np.uint64),
        "side": np.zeros(n, np.uint8),
        "qty": np.ones(n, np.uint64),
        "price": (1_000 + np.arange(n) % 64).astype(np.int64),
    }


def bulk_per_command(n: int, kind: int) -> float:
    b = Book()
    cols = commands(n)
    if kind == kabuken.CMD_CANCEL:
        kabuken.replay(cols, book=b)
        cols = {"kind": np.ones(n, np.uint8), "id": cols["id"]}
    t = time.perf_counter()
    kabuken.replay(cols, book=b)
    return (time.perf_counter() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args()
    med = lambda f, *a: statistics.median(f(*a) for _ in range(args.repeat))  # noqa: E731
    py_submit = med(per_call_submit, args.n)
    rs_submit = med(bulk_per_command, args.n, kabuken.CMD_NEW)
    py_cancel = med(per_call_cancel, args.n)
    rs_cancel = med(bulk_per_command, args.n, kabuken.CMD_CANCEL)
    loop = med(loop_only, args.n)
    print(f"calls per run {args.n}, runs {args.repeat} (medians)")
    print(f"Book.submit   python {py_submit * 1e9:6.0f} ns/call  engine {rs_submit * 1e9:5.0f} ns  overhead {(py_submit - rs_submit) * 1e9:5.0f} ns")
    print(f"Book.cancel   python {py_cancel * 1e9:6.0f} ns/call  engine {rs_cancel * 1e9:5.0f} ns  overhead {(py_cancel - rs_cancel) * 1e9:5.0f} ns")
    print(f"(a Python for-loop calling a 4-argument no-op Python function: {loop * 1e9:.0f} ns/iteration)")


if __name__ == "__main__":
    main()
