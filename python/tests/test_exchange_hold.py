# mypy: disable-error-code="arg-type, call-arg"
"""The exchange's reception seam as Python callables: admit, hold (then
release or void), refuse, decisions polled with time, and hooks that fail
(reported through sys.unraisablehook, counted as refusals)."""

from __future__ import annotations

import sys
from decimal import Decimal
from typing import Any, List, Tuple

import pytest

import kabuken as k
from kabuken import errors as E

from _world import ALICE, BOB, CASH, INST, World


def test_hold_release_and_void() -> None:
    w = World()
    seen: List[Tuple[int, int, int, int]] = []

    def reception(order: k.Message, n: int, worst: int, now: int) -> str:
        seen.append((order.signer, n, worst, now))
        return "hold" if order.body()["quantity"] >= 100 else "admit"

    w.exchange.set_reception_hook(reception)
    cert = w.issue(ALICE, 1000)
    w.submit(w.order(ALICE, "sell", 50, 1000, [cert]))
    r = w.submit(w.order(BOB, "buy", 100, 1000))
    n = r.body()["reception_number"]
    assert seen[-1] == (BOB, n, 1000, w.now)
    held = w.exchange.held_orders()
    assert [h.reception_number for h in held] == [n] and w.exchange.matches() == []
    assert w.ledger.account(BOB).reserved == Decimal("1000.00")  # type: ignore[union-attr]
    assert w.exchange.release_held(n, w.now, w.register, w.ledger) is True
    assert w.exchange.release_held(n, w.now, w.register, w.ledger) is False
    assert [m.quantity for m in w.exchange.matches()] == [50]
    # Another held order, voided: its cash comes back.
    r2 = w.submit(w.order(BOB, "buy", 200, 900))
    n2 = r2.body()["reception_number"]
    assert w.exchange.void_held(n2, w.ledger, "expired") is True
    assert w.exchange.void_held(n2, w.ledger) is False
    assert w.exchange.order(n2) is None or w.exchange.order(n2).state == "expired"  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        w.exchange.void_held(n2, w.ledger, "open")
    w.exchange.cancel(k.sign_cancel(w.keys[BOB], BOB, w.seq(BOB), n), w.now, w.register, w.ledger)
    assert w.ledger.account(BOB).reserved == 0  # type: ignore[union-attr]
    assert w.ledger.account(BOB).available == CASH - Decimal("500.00")  # type: ignore[union-attr]
    w.check()


def test_decisions_are_polled() -> None:
    w = World()
    pending: List[Any] = []
    w.exchange.set_reception_hook(
        lambda order, n, worst, now: "hold",
        lambda now: [pending.pop()] if pending else [],
    )
    r = w.submit(w.order(BOB, "buy", 10, 900))
    n = r.body()["reception_number"]
    w.exchange.poll_held(w.now, w.register, w.ledger)
    assert len(w.exchange.held_orders()) == 1
    pending.append(("release", n))
    w.exchange.advance_time(5, w.register, w.ledger)
    assert w.exchange.held_orders() == [] and w.exchange.order(n).state == "open"  # type: ignore[union-attr]
    r2 = w.submit(w.order(BOB, "buy", 10, 800))
    pending.append(("void", r2.body()["reception_number"], "cancelled"))
    w.exchange.poll_held(6, w.register, w.ledger)
    assert w.exchange.held_orders() == []
    w.check()


def test_refusing_and_failing_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World()
    reports: List[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: reports.append(u))
    w.exchange.set_reception_hook(lambda order, n, worst, now: False)
    with pytest.raises(E.RequestRefused) as ei:
        w.submit(w.order(BOB, "buy", 10, 900))
    assert ei.value.reason == "out_of_band_refused"
    assert reports == []

    def boom(order: k.Message, n: int, worst: int, now: int) -> str:
        raise RuntimeError("hook failed")

    for bad in (boom, lambda order, n, worst, now: "maybe", lambda order, n, worst, now: 3):
        w.exchange.set_reception_hook(bad)
        with pytest.raises(E.RequestRefused):
            w.submit(w.order(BOB, "buy", 10, 900))
    assert len(reports) == 3 and isinstance(reports[0].exc_value, RuntimeError)
    assert isinstance(reports[1].exc_value, ValueError) and isinstance(reports[2].exc_value, TypeError)
    # A bad decision list is reported and changes nothing.
    w.exchange.set_reception_hook(lambda order, n, worst, now: "hold", lambda now: [("burn", 1)])
    w.submit(w.order(BOB, "buy", 10, 900))
    w.exchange.poll_held(2, w.register, w.ledger)
    assert len(reports) == 4 and len(w.exchange.held_orders()) == 1
    # Nothing was reserved for the refused orders.
    assert w.ledger.account(BOB).reserved == Decimal("90.00")  # type: ignore[union-attr]
    w.check()
