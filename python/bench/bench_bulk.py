"""Bulk replay throughput: the Flash `normal` workload from numpy columns.

    python python/bench/bench_bulk.py [WORKLOAD] [--runs N]

Loads the workload once (kabuken.load_flash), then replays it into a fresh
Flash-rules book `--runs` times (kabuken.replay: GIL released, events out as
numpy columns) and prints messages per second of the median run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import kabuken

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    shared = Path(os.environ.get("KABUKEN_SHARED", REPO.parent / "shared"))
    default = shared / "conformance" / "flash" / "orders_normal_s23_n1000000.bin.xz"
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("workload", nargs="?", default=str(default))
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    cols = kabuken.load_flash(args.workload)
    n = len(cols["kind"])
    config = kabuken.BookConfig.flash()
    kabuken.replay(cols, config=config)  # warm-up
    times = []
    events = 0
    for _ in range(args.runs):
        t = time.perf_counter()
        ev = kabuken.replay(cols, config=config)
        times.append(time.perf_counter() - t)
        events = len(ev["kind"])
    med = statistics.median(times)
    print(f"workload      {Path(args.workload).name}")
    print(f"messages      {n}")
    print(f"events        {events}")
    print(f"runs          {args.runs} (median {med * 1e3:.1f} ms, best {min(times) * 1e3:.1f} ms)")
    print(f"throughput    {n / med / 1e6:.2f} M msgs/s (median), {n / min(times) / 1e6:.2f} M msgs/s (best)")


if __name__ == "__main__":
    main()
