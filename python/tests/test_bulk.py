"""Bulk replay from numpy columns, and the Flash loader."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import kabuken as k
from kabuken import Book, BookConfig, BookError, Side


def random_commands(n: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    kind = rng.choice([0, 0, 0, 1, 2, 3], size=n).astype(np.uint8)
    kind[:20] = 0
    return {
        "kind": kind,
        "id": rng.integers(1, 200, size=n, dtype=np.uint64),
        "side": rng.integers(0, 2, size=n, dtype=np.uint8),
        "tif": rng.choice([0, 0, 1, 2], size=n).astype(np.uint8),
        "qty": rng.integers(1, 50, size=n, dtype=np.uint64),
        "price": rng.integers(95, 106, size=n, dtype=np.int64),
        "owner": rng.integers(0, 3, size=n, dtype=np.uint64),
        "stp": rng.integers(0, 5, size=n, dtype=np.uint8),
    }


def single_calls(cmds: dict[str, np.ndarray]) -> tuple[Book, list[tuple[int, str]]]:
    b = Book()
    kinds: list[tuple[int, str]] = []
    tif = [k.TimeInForce.GTC, k.TimeInForce.IOC, k.TimeInForce.FOK]
    stp = [k.StpMode.OFF, k.StpMode.CANCEL_NEWEST, k.StpMode.CANCEL_OLDEST, k.StpMode.CANCEL_BOTH, k.StpMode.DECREMENT]
    for i in range(len(cmds["kind"])):
        kd, oid = int(cmds["kind"][i]), int(cmds["id"][i])
        try:
            if kd == 0:
                ev = b.submit(
                    oid,
                    Side.BUY if cmds["side"][i] == 0 else Side.SELL,
                    int(cmds["qty"][i]),
                    int(cmds["price"][i]),
                    tif=tif[int(cmds["tif"][i])],
                    owner=int(cmds["owner"][i]),
                    stp=stp[int(cmds["stp"][i])],
                )
            elif kd == 1:
                ev = b.cancel(oid)
            elif kd == 2:
                ev = b.modify(oid, int(cmds["price"][i]), int(cmds["qty"][i]))
            else:
                ev = b.reduce(oid, int(cmds["qty"][i]))
        except BookError:
            kinds.append((i, "Rejected"))
            continue
        kinds.extend((i, type(e).__name__) for e in ev)
    return b, kinds


NAMES = {
    k.EV_ACCEPTED: "Accepted",
    k.EV_TRADE: "Trade",
    k.EV_CANCELLED: "Cancelled",
    k.EV_MODIFIED: "Modified",
    k.EV_REDUCED: "Reduced",
    k.EV_REJECTED: "Rejected",
}


def test_bulk_replay_equals_single_calls() -> None:
    cmds = random_commands(3_000)
    book = Book()
    ev = k.replay(cmds, book=book)
    ref, kinds = single_calls(cmds)
    assert book.state_hash() == ref.state_hash()
    got = [(int(i), NAMES[int(kd)]) for i, kd in zip(ev["index"], ev["kind"])]
    assert got == kinds
    n = len(ev["kind"])
    assert all(len(v) == n for v in ev.values())
    assert ev["index"].dtype == np.uint64 and ev["price"].dtype == np.int64


def test_trade_columns() -> None:
    cmds = {
        "kind": np.array([0, 0], dtype=np.uint8),
        "id": np.array([1, 2], dtype=np.uint64),
        "side": np.array([1, 0], dtype=np.uint8),
        "qty": np.array([10, 4], dtype=np.uint64),
        "price": np.array([100, 101], dtype=np.int64),
    }
    ev = k.replay(cmds)
    t = ev["kind"] == k.EV_TRADE
    assert t.sum() == 1
    assert ev["id"][t][0] == 2 and ev["maker_id"][t][0] == 1
    assert ev["price"][t][0] == 100 and ev["qty"][t][0] == 4
    assert ev["remaining"][t][0] == 6 and ev["taker_remaining"][t][0] == 0
    assert ev["index"][t][0] == 1


def test_every_command_kind_and_market_orders() -> None:
    cmds = {
        "kind": np.array([k.CMD_NEW, k.CMD_NEW, k.CMD_NEW, k.CMD_REDUCE, k.CMD_ADVANCE_TIME, k.CMD_EXPIRE_DAY, k.CMD_NEW, k.CMD_CANCEL], dtype=np.uint8),
        "id": np.array([1, 2, 3, 1, 0, 0, 4, 99], dtype=np.uint64),
        "side": np.array([0, 0, 0, 0, 0, 0, 1, 0], dtype=np.uint8),
        "tif": np.array([3, 4, 0, 0, 0, 0, 1, 0], dtype=np.uint8),
        "qty": np.array([10, 10, 10, 3, 0, 0, 4, 0], dtype=np.uint64),
        "price": np.array([100, 99, 98, 0, 0, 0, 0, 0], dtype=np.int64),
        "market": np.array([0, 0, 0, 0, 0, 0, 1, 0], dtype=np.uint8),
        "time": np.array([0, 50, 0, 0, 60, 0, 0, 0], dtype=np.uint64),
    }
    b = Book()
    ev = k.replay(cmds, book=b)
    kinds = [NAMES[int(x)] for x in ev["kind"]]
    assert kinds == [
        "Accepted", "Accepted", "Accepted",  # day, gtd(50), gtc
        "Reduced",  # reduce 1 by 3
        "Cancelled",  # advance_time(60) expires 2
        "Cancelled",  # expire_day expires 1
        "Accepted", "Trade",  # market sell 4 into 3 @98
        "Rejected",  # cancel unknown 99
    ]
    acc = np.flatnonzero(ev["kind"] == k.EV_ACCEPTED)[-1]
    assert ev["price"][acc] == k.NO_PRICE
    rej = ev["kind"] == k.EV_REJECTED
    assert ev["reason"][rej][0] == int(k.RejectReason.UNKNOWN_ORDER)
    assert ev["maker_id"][rej][0] == int(k.CommandKind.CANCEL)
    assert b.best_bid() == (98, 6)


def test_structured_array_and_dtype_coercion() -> None:
    dt = np.dtype([("kind", "u1"), ("id", "i8"), ("side", "i4"), ("qty", "i8"), ("price", "i4")])
    arr = np.array([(0, 1, 1, 10, 100), (0, 2, 0, 10, 100)], dtype=dt)
    ev = k.replay(arr)
    assert list(ev["kind"]) == [k.EV_ACCEPTED, k.EV_ACCEPTED, k.EV_TRADE]
    ev2 = k.replay({"kind": [0], "id": [5], "qty": [1], "price": [3]})
    assert list(ev2["kind"]) == [k.EV_ACCEPTED]


def test_bad_columns_raise_and_change_nothing() -> None:
    b = Book()
    b.submit(1, Side.BUY, 5, 100)
    h = b.state_hash()
    good: dict[str, np.ndarray] = {"kind": np.zeros(3, np.uint8), "id": np.arange(10, 13, dtype=np.uint64), "qty": np.ones(3, np.uint64)}
    with pytest.raises(KeyError):
        k.replay({"id": good["id"]}, book=b)
    with pytest.raises(ValueError):
        k.replay({**good, "side": np.array([0, 2, 0], np.uint8)}, book=b)
    with pytest.raises(ValueError):
        k.replay({**good, "kind": np.array([0, 9, 0], np.uint8)}, book=b)
    with pytest.raises(ValueError):
        k.replay({**good, "tif": np.array([0, 0, 7], np.uint8)}, book=b)
    with pytest.raises(ValueError):
        k.replay({**good, "qty": np.ones(2, np.uint64)}, book=b)
    with pytest.raises(ValueError):
        k.replay({**good, "qty": np.array([-1, 1, 1])}, book=b)
    with pytest.raises(TypeError):
        k.replay({**good, "qty": np.array([1.5, 1, 1])}, book=b)
    with pytest.raises(ValueError):
        k.replay({**good, "qty": np.ones((3, 1), np.uint64)}, book=b)
    with pytest.raises(TypeError):
        k.replay([1, 2, 3], book=b)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        k.replay(np.zeros(3), book=b)
    with pytest.raises(ValueError):
        k.replay(good, book=b, config=BookConfig())
    with pytest.raises(TypeError):
        k._native.replay_columns({"kind": np.zeros(3, np.int64), "id": good["id"]}, b)
    assert b.state_hash() == h


def test_empty_replay() -> None:
    ev = k.replay({"kind": np.zeros(0, np.uint8), "id": np.zeros(0, np.uint64)})
    assert len(ev["kind"]) == 0


def test_replay_releases_the_gil() -> None:
    cmds = random_commands(200_000, seed=3)
    ticks = 0
    done = threading.Event()

    def work() -> None:
        k.replay(cmds)
        done.set()

    t = threading.Thread(target=work)
    t.start()
    while not done.is_set():
        ticks += 1
    t.join()
    assert ticks > 0


def test_flash_edge_case_bytes_round_trip(flash_dir: Path) -> None:
    files = sorted((flash_dir / "edge-cases").glob("*.bin"))
    assert files
    for f in files:
        cols = k.parse_flash(f.read_bytes())
        assert set(cols) == {"kind", "side", "tif", "qty", "seq", "id", "price"}
        assert len(k.load_flash(f)["kind"]) == len(cols["kind"])
        k.replay(cols, config=BookConfig.flash())


def test_flash_normal_workload_hash(flash_dir: Path) -> None:
    path = flash_dir / "orders_normal_s23_n1000000.bin.xz"
    published = (flash_dir / "published_sha256.txt").read_text()
    assert k.flash_report_sha256(path) in published
    cols = k.load_flash(path)
    ev = k.replay(cols, config=BookConfig.flash())
    assert len(cols["kind"]) > 1_000_000
    assert (ev["kind"] == k.EV_TRADE).sum() > 0


def test_malformed_flash_raises_format_error(tmp_path: Path) -> None:
    for data in [b"", b"short", b"XXXX_WBEM" + bytes(8), b"100_WBEM" + (2).to_bytes(4, "little") + bytes(4)]:
        with pytest.raises(k.FormatError):
            k.parse_flash(data)
    hdr = b"100_WBEM" + (1).to_bytes(4, "little") + (1).to_bytes(4, "little")
    with pytest.raises(k.FormatError):
        k.parse_flash(hdr + bytes(39))
    rec = bytearray(40)
    rec[0] = 9
    with pytest.raises(k.FormatError) as ei:
        k.parse_flash(hdr + bytes(rec))
    assert isinstance(ei.value, k.ReplayError) and isinstance(ei.value, ValueError)
    p = tmp_path / "bad.bin"
    p.write_bytes(b"garbage")
    with pytest.raises(k.FormatError):
        k.load_flash(p)
    x = tmp_path / "bad.bin.xz"
    x.write_bytes(b"not xz at all")
    with pytest.raises(OSError):
        k.load_flash(x)
    with pytest.raises(FileNotFoundError):
        k.load_flash(tmp_path / "missing.bin")
    with pytest.raises(TypeError):
        k.parse_flash("not bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        k.load_flash(42)  # type: ignore[arg-type]


def test_more_events_than_commands_spill_correctly() -> None:
    n = 300
    cmds = {
        "kind": np.zeros(n + 1, np.uint8),
        "id": np.arange(1, n + 2, dtype=np.uint64),
        "side": np.r_[np.ones(n, np.uint8), np.zeros(1, np.uint8)],
        "qty": np.ones(n + 1, np.uint64) * np.r_[np.ones(n, np.uint64), np.array([n], np.uint64)],
        "price": np.r_[100 + np.arange(n) % 10, [200]].astype(np.int64),
    }
    ev = k.replay(cmds)
    assert len(ev["kind"]) == 2 * n + 1
    trades = ev["kind"] == k.EV_TRADE
    assert trades.sum() == n and (ev["index"][trades] == n).all()
    assert list(ev["price"][trades][:3]) == [100, 100, 100]
    assert ev["taker_remaining"][trades][-1] == 0
