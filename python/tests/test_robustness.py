# mypy: disable-error-code="arg-type, call-arg"
"""Every entry point that takes a signed message gets garbage, truncations,
messages of the wrong kind and wrong types: each raises a typed error
(a KabukenError subclass, TypeError or ValueError) and changes nothing.
Also: hashing, re-entrant hooks, and calls from several threads."""

from __future__ import annotations

import random
import threading
from typing import Any, Callable, List

import pytest

import kabuken as k
from kabuken import errors as E

from _world import ALICE, BOB, INST, World

BAD = (k.KabukenError, TypeError, ValueError)


def entry_points(w: World) -> List[Callable[[Any], Any]]:
    r, x, led = w.register, w.exchange, w.ledger
    f = k.IdListFollower(INST, 2, r.public_key)
    s = k.IdentityStore(1, "Test CA", w.ca.public_key)
    return [
        lambda m: r.issue(m, w.now),
        lambda m: r.transfer(m, w.now),
        lambda m: r.claim_certificate(m, w.now),
        lambda m: r.direct_transfer(m, w.now),
        lambda m: r.holdings(m, w.now),
        lambda m: r.reissue(m, w.now),
        lambda m: r.add_party(m),
        lambda m: r.apply_revocation(m),
        lambda m: x.submit(m, w.now, r, led),
        lambda m: x.cancel(m, w.now, r, led),
        lambda m: x.reduce(m, w.now, r, led),
        lambda m: x.modify(m, w.now, r, led),
        lambda m: x.add_party(m),
        lambda m: led.settle(m),
        lambda m: led.inquiry(m),
        lambda m: f.apply_snapshot(m),
        lambda m: f.apply_delta(m),
        lambda m: s.register(m),
        lambda m: k.Certificate(m),
        lambda m: k.Message(m),
    ]


def test_garbage_into_every_entry_point() -> None:
    w = World()
    cert = w.issue(ALICE, 100)
    good = [
        w.order(BOB, "buy", 10, 900),
        k.sign_cancel(w.keys[BOB], BOB, 1, 1),
        cert.to_message(),
        w.register.id_list_snapshot(INST),
        w.attestations[ALICE],
    ]
    rng = random.Random(11)
    inputs: List[Any] = [None, 0, "text", 1.5, [b"x"], b"", b"\x01", bytes(200)]
    for m in good:
        data = m.to_bytes()
        inputs += [data[: rng.randrange(len(data))] for _ in range(3)]
        inputs.append(data + b"\x00")
        for _ in range(5):
            t = bytearray(data)
            t[rng.randrange(len(t))] ^= 1 << rng.randrange(8)
            inputs.append(bytes(t))
    inputs += [bytes(rng.randrange(256) for _ in range(n)) for n in range(0, 400, 13)]
    before = (w.register.issued(INST), len(w.register.transfers()), w.exchange.stats()["accepted"])
    for call in entry_points(w):
        for data in inputs:
            try:
                call(data)
            except BAD:
                pass
    # Valid messages of the wrong kind are refused by every typed entry point.
    for call in entry_points(w)[:-1]:
        wrong = 0
        for m in good:
            try:
                call(m)
            except BAD:
                wrong += 1
        assert wrong >= len(good) - 2
    after = (w.register.issued(INST), len(w.register.transfers()), w.exchange.stats()["accepted"])
    assert after[0] == before[0] and after[1] == before[1]
    w.check()


def test_messages_and_certificates_hash() -> None:
    w = World()
    c = w.issue(ALICE, 5)
    m = k.sign_cancel(w.keys[BOB], BOB, 1, 1)
    assert {m, k.Message(m.to_bytes())} == {m}
    assert {c, k.Certificate(c.to_bytes())} == {c}
    assert {c.id: 1}[k.CertId(c.serial, c.id.tag)] == 1


def test_reentrant_hook_is_refused_not_deadlocked(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    w = World()
    reports: List[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: reports.append(u))
    w.exchange.set_reception_hook(lambda order, n, worst, now: w.exchange.order(1) is None and "admit")
    with pytest.raises(E.RequestRefused):
        w.submit(w.order(BOB, "buy", 10, 900))
    assert len(reports) == 1 and isinstance(reports[0].exc_value, RuntimeError)


def test_threads_share_keys_and_messages() -> None:
    key = k.KeyPair(b"\x03" * 32)
    msgs = [k.sign_cancel(key, 7, i + 1, i) for i in range(64)]
    errors: List[BaseException] = []

    def work() -> None:
        try:
            for m in msgs:
                m.verify(key.public_key)
                k.Message(m.to_bytes())
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_market_order_reserves_the_band_top() -> None:
    w = World()
    cert = w.issue(ALICE, 100)
    w.submit(w.order(ALICE, "sell", 50, 1000, [cert]))
    w.submit(w.order(BOB, "buy", 20, None, tif=k.TimeInForce.IOC))
    assert [(m.quantity, m.price) for m in w.exchange.matches()] == [(20, 1000)]
    rec = w.exchange.order(2)
    assert rec is not None and rec.price is None and rec.worst == 100_000 and rec.state == "filled"
    assert w.ledger.account(BOB).reserved == 0  # type: ignore[union-attr]
    w.check()
