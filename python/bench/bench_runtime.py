"""The concurrent runtime from Python threads: `Runtime.simulated`'s
pre-signed order flow submitted by T Python threads, one producer each
(`submit`, retrying on `Backpressure` while taking responses), until every
request is answered. Verifying mode (batch verification, batch signing)
and trusted-gateway mode (no signature checked or made per order).

    python python/bench/bench_runtime.py [--orders N] [--threads T] [--repeat R]

Prints the median requests per second (first submit to last response) over
R runs of each mode, with the runtime's own counters of the last run.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from typing import List

import kabuken as k
from kabuken import errors as E


def run(orders: int, threads: int, trusted: bool, seed: int) -> tuple[float, k.RuntimeStats]:
    rt, flows = k.Runtime.simulated(
        seed=seed,
        investors=64,
        instruments=4,
        orders=orders,
        producers=threads,
        trusted_gateway=trusted,
        verify_workers=1,
    )
    producers = [rt.producer(1024) for _ in range(threads)]
    answered: List[int] = [0] * threads
    start = threading.Barrier(threads + 1)

    def work(i: int) -> None:
        p, got = producers[i], 0
        start.wait()
        for req in flows[i]:
            while True:
                try:
                    p.submit(req)
                    break
                except E.Backpressure:
                    got += len(p.drain()) or int(p.recv(0.001) is not None)
            got += len(p.drain())
        while got < len(flows[i]):
            if p.recv(30.0) is None:
                raise RuntimeError("a response is missing")
            got += 1
        answered[i] = got

    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    dt = time.perf_counter() - t0
    assert sum(answered) == orders
    out = rt.shutdown()
    return orders / dt, out.stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=20_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    for trusted in (False, True):
        rates = []
        stats = None
        for r in range(a.repeat):
            rate, stats = run(a.orders, a.threads, trusted, seed=r + 1)
            rates.append(rate)
        mode = "trusted gateway" if trusted else "verifying"
        print(
            f"{mode:16} {a.orders} orders from {a.threads} Python threads: "
            f"median {statistics.median(rates):,.0f} requests/s (runs: {', '.join(f'{x:,.0f}' for x in rates)})"
        )
        print(f"{'':16} last run: {stats}")


if __name__ == "__main__":
    main()
