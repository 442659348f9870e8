"""Replay a LOBSTER sample through kabuken and plot spread and depth over time.

    python examples/python/lobster_plot.py ../shared/data/lobster/LOBSTER_SampleFile_GOOG_2012-06-21_10.zip \
        [--levels 5] [--out goog.png]

Loads the zip (kabuken.load_lobster), reconstructs the book after every
message (kabuken.lobster_top_of_book: the engine replays the messages and
re-synchronises from the orderbook file), and draws two panels: best bid/ask
with the spread, and the shares resting in the top levels of each side. With
matplotlib missing it prints a summary instead and says so. pandas is not
needed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import kabuken


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("zip", type=Path, help="a LOBSTER sample zip")
    ap.add_argument("--levels", type=int, default=5, help="levels per side to sum for depth")
    ap.add_argument("--out", type=Path, default=None, help="PNG to write (default: <zip stem>.png)")
    args = ap.parse_args()

    messages, orderbook = kabuken.load_lobster(args.zip)
    top, summary = kabuken.lobster_top_of_book(args.zip, levels=args.levels)
    hours = top["time_ns"] / 3.6e12
    bid = top["bid_price"][:, 0]
    ask = top["ask_price"][:, 0]
    spread = ask - bid
    bid_depth = top["bid_size"].sum(axis=1).astype(np.int64)
    ask_depth = top["ask_size"].sum(axis=1).astype(np.int64)

    print(f"{args.zip.name}: {len(messages['time_ns'])} messages, orderbook {orderbook.shape[1] // 4} levels")
    print(
        f"reconstruction: {summary['agree']}/{summary['rows']} rows agree before resync "
        f"({100 * float(summary['agreement']):.1f}%), tick {summary['tick']}"  # type: ignore[arg-type]
    )
    ok = ~np.isnan(spread)
    print(
        f"spread ($): median {np.median(spread[ok]):.4f}, mean {np.mean(spread[ok]):.4f}, "
        f"max {np.max(spread[ok]):.4f}"
    )
    print(f"depth (shares in top {args.levels}): bid median {np.median(bid_depth):.0f}, ask median {np.median(ask_depth):.0f}")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is missing (pip install matplotlib): no plot written, summary only")
        return 0

    out = args.out or Path(args.zip.stem + ".png")
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(11, 9), sharex=True, height_ratios=[2, 1, 2])
    ax1.plot(hours, ask, lw=0.6, color="tab:red", label="best ask")
    ax1.plot(hours, bid, lw=0.6, color="tab:green", label="best bid")
    ax1.set_ylabel("price ($)")
    ax1.legend(loc="upper left")
    ax1.set_title(f"{args.zip.stem}: book reconstructed by kabuken")
    ax2.plot(hours, spread * 100, lw=0.5, color="tab:purple")
    ax2.set_ylabel("spread (cents)")
    ax3.plot(hours, bid_depth, lw=0.5, color="tab:green", label=f"bid depth (top {args.levels})")
    ax3.plot(hours, -ask_depth, lw=0.5, color="tab:red", label=f"ask depth (top {args.levels}, negated)")
    ax3.axhline(0, color="black", lw=0.5)
    ax3.set_ylabel("shares")
    ax3.set_xlabel("hours after midnight")
    ax3.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
