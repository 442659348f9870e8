"""LOBSTER loading and the top of book over time."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

import kabuken as k


@pytest.fixture(scope="module")
def aapl(lobster_dir: Path) -> Path:
    files = sorted(lobster_dir.glob("LOBSTER_SampleFile_AAPL_*.zip"))
    if not files:
        pytest.skip("AAPL sample not found")
    return files[0]


def test_load_lobster(aapl: Path) -> None:
    msgs, book = k.load_lobster(aapl)
    n = len(msgs["time_ns"])
    assert n > 1000
    assert set(msgs) == {"time_ns", "kind", "id", "size", "price", "direction"}
    assert book.shape == (n, 4) and book.dtype == np.int64  # a level-1 file
    assert set(np.unique(msgs["direction"])) <= {-1, 1}
    assert msgs["kind"].min() >= 1 and msgs["kind"].max() <= 7
    assert np.all(np.diff(msgs["time_ns"].astype(np.int64)) >= 0)


def test_top_of_book(aapl: Path) -> None:
    cols, summary = k.lobster_top_of_book(aapl, levels=3)
    n = len(cols["time_ns"])
    assert cols["bid_price"].shape == (n, 3) and cols["ask_size"].shape == (n, 3)
    assert summary["rows"] == n
    assert 0.5 < float(summary["agreement"]) <= 1.0  # type: ignore[arg-type]
    best_bid, best_ask = cols["bid_price"][:, 0], cols["ask_price"][:, 0]
    both = ~np.isnan(best_bid) & ~np.isnan(best_ask)
    assert both.mean() > 0.9
    assert np.all(best_ask[both] > best_bid[both])  # never crossed
    _, book = k.load_lobster(aapl)
    # After resynchronisation the best level agrees with the orderbook file.
    ask_file = book[:, 0] / 10_000.0
    agree = np.isclose(best_ask, ask_file) | np.isnan(best_ask)
    assert agree.mean() > 0.95


def test_top_of_book_frame(aapl: Path) -> None:
    pytest.importorskip("pandas")
    df, _ = k.lobster_top_of_book(aapl, levels=2, as_frame=True)
    assert {"bid_price_1", "ask_size_2", "spread", "mid"} <= set(df.columns)
    assert df.index.name == "time"
    assert (df["spread"].dropna() > 0).all()


def test_bad_lobster_input(tmp_path: Path, aapl: Path) -> None:
    with pytest.raises(FileNotFoundError):
        k.load_lobster(tmp_path / "missing.zip")
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(k.FormatError):
        k.load_lobster(junk)
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("readme.txt", "nothing here")
    with pytest.raises(k.FormatError):
        k.lobster_top_of_book(empty)
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("X_message_1.csv", "34200.1,1,5,100,5000000,1\n34200.2,9,5,100,5000000,1\n")
        z.writestr("X_orderbook_1.csv", "5000000,100,4990000,100\n5000000,100,4990000,100\n")
    with pytest.raises(k.FormatError) as ei:
        k.load_lobster(bad)
    assert "line 2" in str(ei.value)
    shape = tmp_path / "shape.zip"
    with zipfile.ZipFile(shape, "w") as z:
        z.writestr("X_message_1.csv", "34200.1,1,5,100,5000000,1\n")
        z.writestr("X_orderbook_1.csv", "5000000,100,4990000,100\n5000000,100,4990000,100\n")
    with pytest.raises(k.FormatError):
        k.load_lobster(shape)
    with pytest.raises(ValueError):
        k.lobster_top_of_book(aapl, levels=0)
    with pytest.raises(OverflowError):
        k.lobster_top_of_book(aapl, levels=-1)
