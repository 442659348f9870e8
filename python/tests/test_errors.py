# mypy: disable-error-code="arg-type, call-arg"
# (these tests pass wrong types on purpose)
"""Bad input raises (a KabukenError subclass, TypeError, ValueError or, for
integers out of a parameter's range, OverflowError); nothing crashes."""

from __future__ import annotations

from typing import Any, Callable

import pytest

import kabuken as k
from kabuken import errors as E

BAD = (k.KabukenError, TypeError, ValueError, OverflowError)


def test_hierarchy() -> None:
    for cls in [E.ConfigError, E.BookError, E.MarketError, E.ReplayError, E.OobError]:
        assert issubclass(cls, k.KabukenError)
    assert issubclass(E.FormatError, E.ReplayError) and issubclass(E.FormatError, ValueError)
    assert issubclass(E.ConfigError, ValueError)
    for name in [
        "AuthenticationFailed", "InvalidSession", "ContractorDisabled", "AboveMaximum", "AnswerRejected",
        "TooManyPending", "NoFreeCallbackLine", "MethodUnavailable", "RandomnessFailure",
        "DuplicateUserCode", "UnknownContractor", "InvalidRecord", "InvalidOobConfig",
    ]:
        assert issubclass(getattr(E, name), E.OobError)
    for name in E.__all__:
        assert issubclass(getattr(E, name), k.KabukenError), name
    assert issubclass(E.DecodeError, ValueError)
    assert issubclass(E.RequestRefused, E.ExchangeError) and issubclass(E.InvariantViolation, E.ExchangeError)
    assert E.RegisterError("m", "replay").detail is None and E.CryptoError("m", "bad_key").indices is None
    assert E.InvariantViolation("m", ["a"]).violations == ["a"]
    assert k.__version__


def test_config_errors() -> None:
    for kw in [dict(lot_size=0), dict(max_qty=0), dict(min_price=10, max_price=1), dict(max_orders=0)]:
        with pytest.raises(E.ConfigError):
            k.BookConfig(**kw)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        k.BookConfig(lot_size="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        k.Book("config")  # type: ignore[arg-type]


CALLS: list[Callable[[k.Book], Any]] = [
    lambda b: b.submit("1", k.Side.BUY, 1, 1),
    lambda b: b.submit(1, "north", 1, 1),
    lambda b: b.submit(1, 3, 1, 1),
    lambda b: b.submit(1, None, 1, 1),
    lambda b: b.submit(-1, k.Side.BUY, 1, 1),
    lambda b: b.submit(1, k.Side.BUY, -5, 1),
    lambda b: b.submit(1, k.Side.BUY, 2**64, 1),
    lambda b: b.submit(1, k.Side.BUY, 1, 2**63),
    lambda b: b.submit(1, k.Side.BUY, 1, 1.5),
    lambda b: b.submit(1, k.Side.BUY, 1, 1, tif="GTC"),
    lambda b: b.submit(1, k.Side.BUY, 1, 1, stp=9),
    lambda b: b.submit(1, k.Side.BUY, 1, 1, owner=-1),
    lambda b: b.submit(1, k.Side.BUY, 1, 1, bogus=1),
    lambda b: b.submit(1, k.Side.BUY),
    lambda b: b.cancel("x"),
    lambda b: b.cancel(10**30),
    lambda b: b.reduce(1, -1),
    lambda b: b.modify(1, "p", 1),
    lambda b: b.advance_time(-1),
    lambda b: b.levels(k.Side.BUY, -1),
    lambda b: b.depth_at("up", 1),
    lambda b: b.order(b"1"),
    lambda b: b.levels(2),
]


@pytest.mark.parametrize("call", CALLS)
def test_bad_arguments_raise_and_change_nothing(call: Callable[[k.Book], Any]) -> None:
    b = k.Book()
    b.submit(1, k.Side.BUY, 5, 100)
    h = b.state_hash()
    with pytest.raises(BAD):
        call(b)
    assert b.state_hash() == h


def test_extreme_but_valid_values() -> None:
    b = k.Book()
    b.submit(2**64 - 1, k.Side.SELL, 1, 2**63 - 1)
    b.submit(1, k.Side.BUY, 1, -(2**63) + 1)
    assert b.best_ask() == (2**63 - 1, 1) and b.best_bid() == (-(2**63) + 1, 1)
    with pytest.raises(E.BookError):
        b.submit(3, k.Side.BUY, 1, -(2**63))  # below the default min_price


def test_concurrent_use_of_one_book_is_refused_not_racy() -> None:
    import threading

    import numpy as np

    b = k.Book()
    n = 300_000
    cmds = {"kind": np.zeros(n, np.uint8), "id": np.arange(1, n + 1, dtype=np.uint64),
            "qty": np.ones(n, np.uint64), "price": np.arange(n, dtype=np.int64) % 1000}
    errors: list[BaseException] = []

    def run() -> None:
        try:
            k.replay(cmds, book=b)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=run)
    t.start()
    # While the replay holds the book, other calls fail cleanly (RuntimeError
    # "already borrowed") or succeed after it finished; they never race.
    for _ in range(1000):
        try:
            b.best_bid()
        except RuntimeError:
            pass
    t.join()
    assert not errors and len(b) == n
