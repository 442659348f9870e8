"""Out-of-band verification plugged into the exchange from Python: the
bound OobService decides at the exchange's reception seam (admit small
orders, hold large ones until the holder confirms over the second channel;
a duress answer voids the order and raises the alarm). Only bound pieces
are used: the wiring is host code, as an embedding exchange would write."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import kabuken as k

from _world import ALICE, BOB, INST, World

PEPPER = bytes(range(32))


class Gate:
    def __init__(self, w: World) -> None:
        self.decisions: List[Tuple[Any, ...]] = []
        self.refs: Dict[int, int] = {}
        self.notices: List[Any] = []
        self.alarms: List[Any] = []
        self.svc = k.OobService(
            k.OobConfig(PEPPER, argon2="insecure_fast"),
            forward=lambda r: self.decisions.append(("release", self.refs[r.request_ref])),
            release=lambda r, why: self.decisions.append(
                ("void", self.refs[r.request_ref], "expired" if why == "expired" else "cancelled")
            ),
            deliver=lambda device, notice: self.notices.append(notice),
            alarm=self.alarms.append,
            seed=3,
        )
        self.svc.register_contractor(
            "bob", "2468", [k.Device("+81-90-0000-0001")], [("4711", "normal"), ("1147", "duress")],
            threshold=100_000, max_amount=10**9,
        )
        self.session = self.svc.login("bob", "2468", 0)
        w.exchange.set_reception_hook(self.reception, self.poll)

    def reception(self, order: k.Message, n: int, worst: int, now: int) -> str:
        b = order.body()
        tx = k.Transaction(b["instrument"], b["side"], b["quantity"], worst * b["quantity"], limit=b["price"])
        sub = self.svc.submit(self.session, tx, now)
        if sub.disposition == "forward_now":
            return "admit"
        self.refs[sub.request.request_ref] = n
        return "hold"

    def poll(self, now: int) -> List[Tuple[Any, ...]]:
        out, self.decisions = self.decisions, []
        return out

    def answer(self, second_code: str, now: int) -> str:
        info = self.notices[-1]
        return self.svc.answer("bob", info.request_ref, info.code, second_code, info.tx_digest, now).kind


def test_large_order_waits_for_confirmation() -> None:
    w = World()
    gate = Gate(w)
    cert = w.issue(ALICE, 1000)
    w.exchange.set_reception_hook(lambda o, n, worst, now: gate.reception(o, n, worst, now)
                                  if o.signer == BOB else "admit", gate.poll)
    w.submit(w.order(ALICE, "sell", 500, 1000, [cert]))
    # Small: straight to the book, trades at once.
    w.submit(w.order(BOB, "buy", 10, 1000))
    assert [m.quantity for m in w.exchange.matches()] == [10]
    # Large: held until Bob confirms with the code sent to his phone.
    r = w.submit(w.order(BOB, "buy", 200, 1000))
    n = r.body()["reception_number"]
    assert [h.reception_number for h in w.exchange.held_orders()] == [n]
    assert len(w.exchange.matches()) == 1
    assert gate.answer("4711", 5) == "accepted"
    w.exchange.poll_held(5, w.register, w.ledger)
    assert w.exchange.held_orders() == [] and [m.quantity for m in w.exchange.matches()] == [10, 200]
    w.check()


def test_duress_voids_the_order_and_raises_the_alarm() -> None:
    w = World()
    gate = Gate(w)
    r = w.submit(w.order(BOB, "buy", 200, 1000))
    n = r.body()["reception_number"]
    reserved = w.ledger.account(BOB).reserved  # type: ignore[union-attr]
    assert reserved > 0
    # The answer looks exactly like a success to whoever forces Bob.
    assert gate.answer("1147", 5) == "accepted"
    assert len(gate.alarms) == 1
    w.exchange.poll_held(5, w.register, w.ledger)
    assert w.exchange.held_orders() == [] and w.exchange.matches() == []
    assert w.ledger.account(BOB).reserved == 0  # type: ignore[union-attr]
    rec = w.exchange.order(n)
    assert rec is None or rec.state == "cancelled"
    w.check()


def test_unanswered_request_expires_with_time() -> None:
    w = World()
    gate = Gate(w)
    w.submit(w.order(BOB, "buy", 200, 1000))
    assert len(w.exchange.held_orders()) == 1
    gate.svc.sweep(10**15)
    w.exchange.advance_time(10**15, w.register, w.ledger)
    assert w.exchange.held_orders() == [] and w.ledger.account(BOB).reserved == 0  # type: ignore[union-attr]
    w.check()
