"""The optional pandas helpers."""

from __future__ import annotations

import numpy as np
import pytest

import kabuken as k

pd = pytest.importorskip("pandas")


def test_trades_and_events_frames() -> None:
    cmds = {
        "kind": np.array([0, 0, 0], np.uint8),
        "id": np.array([1, 2, 3], np.uint64),
        "side": np.array([1, 1, 0], np.uint8),
        "qty": np.array([5, 5, 8], np.uint64),
        "price": np.array([100, 101, 101], np.int64),
    }
    ev = k.replay(cmds)
    tf = k.trades_frame(ev)
    assert list(tf["price"]) == [100, 101] and list(tf["qty"]) == [5, 3]
    assert list(tf["maker_id"]) == [1, 2] and list(tf["taker_id"]) == [3, 3]
    assert len(k.events_frame(ev)) == len(ev["kind"])
    b = k.Book()
    b.submit(1, "sell", 5, 100)
    evs = b.submit(2, "buy", 2, 100)
    tf2 = k.trades_frame(evs)
    assert list(tf2["qty"]) == [2]


def test_depth_frame() -> None:
    b = k.Book()
    b.submit(1, "buy", 5, 99)
    b.submit(2, "buy", 7, 98)
    b.submit(3, "sell", 4, 101)
    df = k.depth_frame(b)
    assert list(df["side"]) == ["buy", "buy", "sell"]
    assert list(df["price"]) == [99, 98, 101] and list(df["level"]) == [0, 1, 0]
    assert len(k.depth_frame(b, 1)) == 2
