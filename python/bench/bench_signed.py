"""The signed path from Python: pre-signed orders through `Exchange.submit`
(signature checks, reception, matching, transfer at the register,
settlement) and the engine's own seeded market through `Simulation.run`.

    python python/bench/bench_signed.py [--n N] [--repeat R]

One resting sell of 10 x N shares, then N pre-signed buys of 10 shares at
its price, so every buy trades (one transfer of the sell's current
certificate, with change, and one settlement per match). Prints the median
submits per second over R runs, and the median steps per second of
`Simulation(seed=1, investors=50, instruments=4).run(N)`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import kabuken as k

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _world import ALICE, BOB, World  # noqa: E402


def submits_per_second(n: int) -> float:
    w = World()
    w.ledger.deposit(BOB, 100 * n)
    cert = w.issue(ALICE, 10 * n)
    w.submit(w.order(ALICE, "sell", 10 * n, 1000, [cert]))
    buys = [w.order(BOB, "buy", 10, 1000) for _ in range(n)]
    t = time.perf_counter()
    for o in buys:
        w.submit(o)
    dt = time.perf_counter() - t
    assert len(w.exchange.matches()) == n
    return n / dt


def steps_per_second(n: int) -> float:
    s = k.Simulation(seed=1, investors=50, instruments=4, orders_hint=n)
    t = time.perf_counter()
    s.run(n)
    return n / (time.perf_counter() - t)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    subs = [submits_per_second(a.n) for _ in range(a.repeat)]
    steps = [steps_per_second(a.n) for _ in range(a.repeat)]
    print(f"Exchange.submit (signed, every buy trades): {statistics.median(subs):,.0f} orders/s")
    print(f"Simulation.run: {statistics.median(steps):,.0f} steps/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
