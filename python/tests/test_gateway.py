"""The compact trusted gateway from Python: a whole session through
numpy structured arrays (issue, sell, buy, fill, holdings, cash,
transfers, invariants, batch-signed documents that verify with the
register's key), the dtypes' layout, the runtime with several Python
threads and tiny queues (back-pressure, every order answered exactly once,
shutdown draining and handing the Gateway back), market data and events,
and bad input raising a clear error and changing nothing."""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Tuple

import numpy as np
import pytest

import kabuken as k
from kabuken import errors as E

INST_ID = 7203


def market() -> Tuple[k.Gateway, int, int, int, int]:
    """One instrument; alice (no cash, 1000 shares), bob (10,000,000)."""
    g = k.Gateway()
    g.reserve(64, 64)
    inst = g.add_instrument(INST_ID, band_low=1, band_high=100_000, lot_size=100, tick_value=1, max_qty=1_000_000)
    alice = g.open_account(1)
    bob = g.open_account(2, 5_000_000)
    g.deposit(bob, 5_000_000)
    cert = g.issue(alice, inst, 1_000)
    return g, inst, alice, bob, cert


def reports_of(r: np.ndarray, kind: int, tag: int) -> np.ndarray:
    return r[(r["kind"] == kind) & (r["tag"] == tag)]


# ---- layout ---------------------------------------------------------------------


def layout(d: "np.dtype[Any]") -> Dict[str, Tuple["np.dtype[Any]", int]]:
    fields = d.fields
    assert fields is not None
    return {name: (f[0], f[1]) for name, f in fields.items()}


def test_dtypes_have_the_engines_repr_c_layout() -> None:
    o = k.GATEWAY_ORDER_DTYPE
    assert o.itemsize == 56
    assert {n: f[1] for n, f in layout(o).items()} == {
        "tag": 0,
        "price": 8,
        "qty": 16,
        "cert": 24,
        "order": 32,
        "account": 40,
        "instrument": 44,
        "kind": 48,
        "tif": 49,
        "reserved": 50,
    }
    r = k.GATEWAY_REPORT_DTYPE
    assert r.itemsize == 64
    assert {n: f[1] for n, f in layout(r).items()} == {
        "tag": 0,
        "seq": 8,
        "order": 16,
        "price": 24,
        "qty": 32,
        "cert": 40,
        "matched": 48,
        "kind": 56,
        "reserved": 57,
        "code": 58,
        "reserved2": 60,
    }
    assert layout(o)["price"][0] == np.dtype(np.int64)
    assert layout(o)["account"][0] == np.dtype(np.uint32)
    assert layout(r)["code"][0] == np.dtype(np.uint16)
    # No holes: numpy keeps the layout through concatenation and copies.
    both = np.concatenate([np.zeros(2, dtype=o), np.zeros(1, dtype=o)])
    assert both.dtype == o and both.dtype.itemsize == 56


def test_order_helpers_build_exact_records() -> None:
    a = k.gateway_orders(
        kind=[k.GATEWAY_BUY, k.GATEWAY_SELL, k.GATEWAY_CANCEL],
        tag=[1, 2, 3],
        account=7,
        instrument=[0, 1, 0],
        price=[100, -5, 0],
        qty=[10, 20, 0],
        cert=[0, 9, 0],
        order=[0, 0, 1],
        tif=[k.GATEWAY_TIF_IOC, k.GATEWAY_TIF_GTC, k.GATEWAY_TIF_GTC],
    )
    assert a.dtype == k.GATEWAY_ORDER_DTYPE and a.shape == (3,)
    assert list(a["account"]) == [7, 7, 7]
    assert list(a["price"]) == [100, -5, 0]
    # The raw bytes are the C layout: tag, price, qty, cert, order as
    # 8-byte words, account and instrument as 4-byte, kind and tif bytes,
    # six zero bytes.
    row = a[1:2].tobytes()
    assert len(row) == 56
    assert int.from_bytes(row[0:8], "little" if np.little_endian else "big") == 2
    assert int.from_bytes(row[8:16], "little" if np.little_endian else "big", signed=True) == -5
    assert row[48] == k.GATEWAY_SELL and row[49] == k.GATEWAY_TIF_GTC and row[50:] == bytes(6)
    b = np.concatenate(
        [k.gateway_buy(1, 2, 0, 100, 10), k.gateway_sell(2, 3, 0, 100, 10, 4), k.gateway_cancel(3, 2, 1)]
    )
    assert list(b["kind"]) == [k.GATEWAY_BUY, k.GATEWAY_SELL, k.GATEWAY_CANCEL]
    assert list(b["cert"]) == [0, 4, 0] and list(b["order"]) == [0, 0, 1]


# ---- a session ----------------------------------------------------------------------


def test_a_whole_session_through_numpy() -> None:
    g, inst, alice, bob, cert = market()
    assert (inst, alice, bob, cert) == (0, 0, 1, 1)
    assert g.instrument_index(INST_ID) == inst and g.instrument_index(1) is None
    orders = np.concatenate([k.gateway_sell(1, alice, inst, 2_500, 300, cert), k.gateway_buy(2, bob, inst, 2_600, 300)])
    r = g.apply(orders)
    assert r.dtype == k.GATEWAY_REPORT_DTYPE
    acc = reports_of(r, k.GATEWAY_ACCEPTED, 1)
    assert len(acc) == 1 and acc["order"][0] == 1 and acc["seq"][0] == 1 and acc["qty"][0] == 300
    fb = reports_of(r, k.GATEWAY_FILL, 2)
    assert len(fb) == 1 and fb["price"][0] == 2_500 and fb["qty"][0] == 300 and fb["matched"][0] == 1
    fs = reports_of(r, k.GATEWAY_FILL, 1)
    done = reports_of(r, k.GATEWAY_DONE, 1)
    assert len(done) == 1 and done["code"][0] == k.GATEWAY_DONE_FILLED
    bob_cert, change = int(fb["cert"][0]), int(fs["cert"][0])

    assert g.shares_of(bob, inst) == 300 and g.shares_of(alice, inst) == 700
    a, b = g.account(alice), g.account(bob)
    assert a is not None and b is not None
    assert (a.owner, a.cash, a.reserved) == (1, 750_000, 0)
    assert (b.cash, b.reserved) == (10_000_000 - 750_000, 0)
    c = g.certificate(bob_cert)
    assert c is not None and (c.state, c.holder, c.shares, c.origin) == ("live", bob, 300, 1)
    spent = g.certificate(cert)
    assert spent is not None and spent.state == "spent"
    assert g.holdings(bob) == [bob_cert] and g.holdings(alice) == [change]
    o = g.order(1)
    assert o is not None and (o.side, o.done, o.filled, o.open, o.tag) == ("sell", True, 300, 0, 1)
    assert g.order(99) is None and g.certificate(0) is None and g.account(9) is None
    assert g.transfer_count == 1
    (t,) = g.transfers()
    assert (t.buyer, t.seller, t.quantity, t.price, t.spent, t.new, t.change) == (bob, alice, 300, 2_500, cert, bob_cert, change)
    s = g.stats()
    assert (s.requests, s.accepted, s.refused, s.fills, s.shares, s.value) == (2, 2, 0, 1, 300, 750_000)
    assert (s.accounts, s.instruments, s.certificates, s.orders) == (2, 1, 3, 2)
    assert g.last_trade(inst) == (2_500, 300)
    g.check_invariants()

    # A resting bid reserves cash; a cancel gives it back.
    r = g.apply(k.gateway_buy(3, bob, inst, 2_400, 200))
    assert list(r["kind"]) == [k.GATEWAY_ACCEPTED] and r["seq"][0] == 3
    assert g.best(inst) == ((2_400, 200), None)
    b = g.account(bob)
    assert b is not None and b.reserved == 480_000
    r = g.apply(k.gateway_cancel(4, bob, 3))
    assert list(r["kind"]) == [k.GATEWAY_ACCEPTED, k.GATEWAY_DONE]
    assert r["code"][1] == k.GATEWAY_DONE_CANCELLED and r["qty"][1] == 200
    # A business refusal is a report and changes nothing.
    h = g.state_hash()
    r = g.apply(k.gateway_buy(5, 77, inst, 2_400, 100))
    assert list(r["kind"]) == [k.GATEWAY_REFUSED] and r["code"][0] != 0 and r["order"][0] == 0
    assert int(r["code"][0]) in dict(k.refusal_codes())
    assert len(h) == 32
    g.check_invariants()
    # An empty array applies nothing and answers an empty array.
    empty = g.apply(np.zeros(0, dtype=k.GATEWAY_ORDER_DTYPE))
    assert empty.dtype == k.GATEWAY_REPORT_DTYPE and empty.shape == (0,)


def test_the_same_flow_gives_the_same_state_hash() -> None:
    g1, inst, alice, bob, cert = market()
    g2, *_ = market()
    flow = np.concatenate(
        [
            k.gateway_sell(1, alice, inst, 100, 500, cert),
            k.gateway_buy(2, bob, inst, 100, 200),
            k.gateway_buy(3, bob, inst, 100, 100, tif=k.GATEWAY_TIF_IOC),
            k.gateway_buy(4, bob, inst, 100, 900, tif=k.GATEWAY_TIF_FOK),
        ]
    )
    r1 = g1.apply(flow)
    r2 = np.concatenate([g2.apply(flow[:1]), g2.apply(flow[1:3]), g2.apply(flow[3:])])
    assert r1.tobytes() == r2.tobytes()
    assert g1.state_hash() == g2.state_hash()
    # FOK for more than rests: refused or cancelled without trading.
    assert g1.shares_of(bob, inst) == 300


def test_documents_verify_with_the_registers_key() -> None:
    g, inst, alice, bob, cert = market()
    r = g.apply(np.concatenate([k.gateway_sell(1, alice, inst, 150, 300, cert), k.gateway_buy(2, bob, inst, 150, 300)]))
    new = int(reports_of(r, k.GATEWAY_FILL, 2)["cert"][0])
    key = k.KeyPair(bytes([4]) * 32)
    secret = bytes([5]) * 32
    docs = g.documents(
        [cert, new, 3],
        key=key,
        register_id=77,
        id_secret=secret,
        issue_date=50,
        register_name="Register",
        register_address="https://register.example/",
        company_name="Company",
        company_founded=20010101,
        lifetime=1_000,
        holder_names=["Alice", "Bob"],
    )
    assert len(docs) == 2  # serial 1 is spent: no document
    d = docs[0]
    d.verify(77, key.public_key)
    assert (d.holder, d.holder_name, d.shares, d.instrument, d.expiry) == (2, "Bob", 300, INST_ID, 1_050)
    assert d.certificate_number == new and d.serial == new
    cid = g.cert_id(new, secret)
    assert cid is not None and cid == d.id
    with pytest.raises(E.CertificateError):
        d.verify(78, key.public_key)
    with pytest.raises(E.CertificateError) as e:
        d.verify(77, k.KeyPair(bytes([6]) * 32).public_key)
    assert e.value.kind == "crypto"
    # The wire form decodes as a Message that verifies; a flipped byte does not.
    m = d.to_message()
    m.verify(key.public_key)
    assert k.Certificate(d.to_bytes()) == d
    raw = bytearray(m.to_bytes())
    raw[-1] ^= 1
    with pytest.raises((E.CryptoError, E.DecodeError)):
        k.Message(bytes(raw)).verify(key.public_key)
    docs[1].verify(77, key.public_key)
    assert docs[1].holder_name == "Alice" and docs[1].shares == 700


# ---- bad input ---------------------------------------------------------------------


def test_bad_set_up_raises_gateway_errors_and_changes_nothing() -> None:
    g, inst, alice, bob, cert = market()
    h = g.state_hash()
    with pytest.raises(E.GatewayError) as e:
        g.add_instrument(1, band_low=0, band_high=10)
    assert e.value.kind == "bad_instrument" and isinstance(e.value, E.KabukenError)
    with pytest.raises(E.GatewayError) as e:
        g.add_instrument(INST_ID, band_low=1, band_high=10)
    assert e.value.kind == "duplicate_instrument"
    with pytest.raises(E.GatewayError) as e:
        g.open_account(3, -1)
    assert e.value.kind == "bad_amount"
    with pytest.raises(E.GatewayError) as e:
        g.deposit(9, 1)
    assert e.value.kind == "unknown_account"
    with pytest.raises(E.GatewayError) as e:
        g.deposit(bob, 2**63 - 1)
    assert e.value.kind == "overflow"
    with pytest.raises(E.GatewayError) as e:
        g.issue(alice, 9, 100)
    assert e.value.kind == "unknown_instrument"
    with pytest.raises(E.GatewayError):
        g.issue(alice, inst, 0)
    with pytest.raises(E.GatewayError):
        g.shares_of(9, inst)
    with pytest.raises(E.GatewayError):
        g.shares_of(alice, 9)
    with pytest.raises(E.GatewayError):
        g.holdings(9)
    with pytest.raises(E.GatewayError):
        g.best(9)
    with pytest.raises(OverflowError):
        g.open_account(-1)
    with pytest.raises(OverflowError):
        g.issue(alice, inst, -5)
    with pytest.raises(TypeError):
        g.deposit(bob, 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        g.reserve(2**31, 0)
    with pytest.raises(ValueError):
        g.cert_id(1, b"short")
    assert g.state_hash() == h


def test_bad_orders_raise_and_apply_nothing() -> None:
    g, inst, alice, bob, cert = market()
    h = g.state_hash()
    good = k.gateway_buy(1, bob, inst, 100, 100)
    with pytest.raises(TypeError, match="GATEWAY_ORDER_DTYPE"):
        g.apply([1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="GATEWAY_ORDER_DTYPE"):
        g.apply(np.zeros(3, dtype=np.uint64))
    floats = np.zeros(1, dtype=[("tag", "f8"), ("price", "f8")])
    with pytest.raises(TypeError, match="GATEWAY_ORDER_DTYPE"):
        g.apply(floats)
    with pytest.raises(ValueError, match="one-dimensional"):
        g.apply(np.concatenate([good, good]).reshape(1, 2))
    bad = np.concatenate([good, good])
    bad["kind"][1] = 3
    with pytest.raises(ValueError, match=r"orders\[1\]\.kind"):
        g.apply(bad)
    bad["kind"][1] = k.GATEWAY_BUY
    bad["tif"][1] = 4
    with pytest.raises(ValueError, match=r"orders\[1\]\.tif"):
        g.apply(bad)
    # Reserved padding bytes must be zero.
    raw = bytearray(good.tobytes())
    raw[55] = 1
    with pytest.raises(ValueError, match="reserved"):
        g.apply(np.frombuffer(bytes(raw), dtype=k.GATEWAY_ORDER_DTYPE))
    viaf = good.copy()
    viaf["reserved"][0, 2] = 7
    with pytest.raises(ValueError, match="reserved"):
        g.apply(viaf)
    assert g.state_hash() == h and g.stats().requests == 0
    # A strided (non-contiguous) view is fine.
    two = np.concatenate([good, k.gateway_buy(2, bob, inst, 100, 100), good])
    r = g.apply(two[::2])
    assert list(r["tag"]) == [1, 1]


def test_order_helpers_refuse_bad_values() -> None:
    with pytest.raises(TypeError):
        k.gateway_orders(k.GATEWAY_BUY, 1, 0, qty=1.5)
    with pytest.raises(TypeError):
        k.gateway_orders(k.GATEWAY_BUY, 1, 0, qty=True)
    with pytest.raises(TypeError):
        k.gateway_orders(k.GATEWAY_BUY, 1, 0, qty="10")
    with pytest.raises(ValueError):
        k.gateway_orders(k.GATEWAY_BUY, 1, 0, qty=-10)
    with pytest.raises(ValueError):
        k.gateway_orders(k.GATEWAY_BUY, 1, -1)
    with pytest.raises(ValueError):
        k.gateway_orders(k.GATEWAY_BUY, 1, 2**32)
    with pytest.raises(ValueError):
        k.gateway_orders(3, 1, 0)
    with pytest.raises(ValueError):
        k.gateway_orders(k.GATEWAY_BUY, 1, 0, tif=4)
    with pytest.raises(ValueError):
        k.gateway_orders(k.GATEWAY_BUY, [1, 2], [0, 1, 2])
    with pytest.raises(ValueError):
        k.gateway_orders(k.GATEWAY_BUY, [[1]], 0)


# ---- the runtime -------------------------------------------------------------------


def test_the_runtime_takes_the_gateway_and_gives_it_back() -> None:
    g, inst, alice, bob, cert = market()
    rt = k.GatewayRuntime(g, max_producers=2, queue_batches=2, batch=4, report_batches=2, depth=3)
    assert rt.running
    with pytest.raises(E.RuntimeBusy):
        g.stats()
    with pytest.raises(E.RuntimeBusy):
        g.apply(k.gateway_buy(1, bob, inst, 100, 100))
    with pytest.raises(E.RuntimeBusy):
        k.GatewayRuntime(g)
    assert "GatewayRuntime" in repr(g)
    p = rt.producer()
    p.submit_wait(np.concatenate([k.gateway_sell(1, alice, inst, 2_500, 300, cert), k.gateway_buy(2, bob, inst, 2_600, 300)]))
    got: List[np.ndarray] = []
    while sum(len(x) for x in got) < 6:
        got.append(p.poll(timeout=5.0))
    r = np.concatenate(got)
    assert len(reports_of(r, k.GATEWAY_FILL, 2)) == 1
    # Administration while running, in sequence with the orders.
    carol = rt.open_account(3, 1_000)
    assert carol == 2
    rt.deposit(carol, 500)
    serial = rt.issue(carol, inst, 200)
    with pytest.raises(E.GatewayError) as e:
        rt.deposit(9, 1)
    assert e.value.kind == "unknown_account"
    with pytest.raises(E.GatewayError):
        rt.issue(carol, inst, 0)
    with pytest.raises(OverflowError):
        rt.open_account(-1)
    with pytest.raises(ValueError):
        rt.deposit(carol, 1, timeout=-1.0)
    p.submit_wait(k.gateway_sell(3, carol, inst, 2_700, 200, serial))
    r = p.poll(timeout=5.0)
    assert list(r["kind"]) == [k.GATEWAY_ACCEPTED]
    out = rt.shutdown()
    with pytest.raises(E.RuntimeClosed):
        rt.deposit(carol, 1)
    c = g.account(carol)
    assert c is not None and (c.owner, c.cash) == (3, 1_500)
    cert_view = g.certificate(serial)
    assert cert_view is not None and cert_view.state == "reserved" and cert_view.reserved_by == 3
    assert not rt.running
    assert out.gateway is g and out.stats.orders == 3 and out.journal_length == 0
    assert out.state_hash == g.state_hash()
    assert g.shares_of(bob, inst) == 300 and g.account(alice) is not None
    g.check_invariants()
    with pytest.raises(E.RuntimeClosed):
        rt.shutdown()
    with pytest.raises(E.RuntimeClosed):
        p.submit(k.gateway_buy(3, bob, inst, 100, 100))
    with pytest.raises(E.RuntimeClosed):
        rt.producer()
    with pytest.raises(E.RuntimeClosed):
        rt.depth(INST_ID)
    assert rt.stats().orders == 3
    # Synchronous again, sequence numbers continuing: 3 orders and the 5
    # controls that reached the sequencer (refused ones too) took 1..=8.
    assert g.next_seq == 9
    r = g.apply(k.gateway_buy(4, bob, inst, 100, 100))
    assert r["kind"][0] == k.GATEWAY_ACCEPTED and r["seq"][0] == 9


def test_several_threads_with_tiny_queues_get_every_order_answered_once() -> None:
    g = k.Gateway()
    inst = g.add_instrument(INST_ID, band_low=1, band_high=1_000, lot_size=100)
    threads_n, per = 4, 120
    accts = [g.open_account(10 + t, 100_000_000) for t in range(threads_n)]
    certs = [g.issue(accts[0], inst, 100) for _ in range(per)]
    rt = k.GatewayRuntime(g, max_producers=threads_n, queue_batches=1, batch=3, report_batches=1, event_capacity=4096)
    sub = rt.subscribe()
    fulls = [0] * threads_n
    answers: List[Dict[int, int]] = [dict() for _ in range(threads_n)]
    fills = [0] * threads_n
    errors: List[BaseException] = []
    producers = [rt.producer() for _ in range(threads_n)]
    with pytest.raises(E.ConfigError):
        rt.producer()

    def take(t: int, r: np.ndarray) -> None:
        for tag, kind in zip(r["tag"].tolist(), r["kind"].tolist()):
            if kind in (k.GATEWAY_ACCEPTED, k.GATEWAY_REFUSED):
                answers[t][tag] = answers[t].get(tag, 0) + 1
            elif kind == k.GATEWAY_FILL:
                fills[t] += 1

    def work(t: int) -> None:
        try:
            p = producers[t]
            tags = np.arange(1, per + 1, dtype=np.uint64)
            if t == 0:
                orders = k.gateway_orders(k.GATEWAY_SELL, tags, accts[0], inst, 100, 100, cert=np.array(certs))
            else:
                orders = k.gateway_orders(k.GATEWAY_BUY, tags, accts[t], inst, 100, 100)
            for i in range(0, per, 3):
                while True:
                    try:
                        p.submit(orders[i : i + 3])
                        break
                    except E.Backpressure:
                        fulls[t] += 1
                        take(t, p.poll())
            while len(answers[t]) < per:
                take(t, p.poll(timeout=1.0))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    ths = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    assert not errors
    for t in range(threads_n):
        assert sorted(answers[t]) == list(range(1, per + 1))
        assert set(answers[t].values()) == {1}
    assert sum(fulls) > 0
    # Every sell is bought once: its fill reported to seller and buyer.
    for _ in range(500):
        if sum(fills) == 2 * per:
            break
        for t in range(threads_n):
            take(t, producers[t].poll(timeout=0.01))
    assert sum(fills) == 2 * per
    bid, ask = rt.best(INST_ID)
    for _ in range(500):
        if bid is not None and bid[1] == 100 * per * (threads_n - 2):
            break
        threading.Event().wait(0.002)
        bid, ask = rt.best(INST_ID)
    assert bid == (100, 100 * per * (threads_n - 2)) and ask is None
    d = rt.depth(INST_ID)
    assert d.instrument == INST_ID and len(d.bids) == 1 and d.bids[0].orders == per * (threads_n - 2)
    with pytest.raises(E.MarketError):
        rt.depth(1)
    out = rt.shutdown()
    assert out.stats.orders == threads_n * per
    s = g.stats()
    assert (s.requests, s.accepted, s.fills) == (threads_n * per, threads_n * per, per)
    g.check_invariants()
    assert g.shares_of(accts[0], inst) == 0
    assert sum(g.shares_of(a, inst) for a in accts[1:]) == 100 * per
    events = sub.drain(limit=100_000)
    trades = [e for e in events if isinstance(e, k.MarketEvent) and isinstance(e.event, k.Trade)]
    assert len(trades) == per and all(isinstance(e, k.MarketEvent) and e.instrument == INST_ID for e in events)


def test_shutdown_drains_what_was_submitted() -> None:
    g, inst, alice, bob, cert = market()
    rt = k.GatewayRuntime(g, max_producers=1, queue_batches=4, batch=8, report_batches=64, journal=True)
    p = rt.producer()
    orders = k.gateway_orders(k.GATEWAY_BUY, np.arange(1, 201), bob, inst, 10, 100)
    p.submit_wait(orders)
    out = rt.shutdown()
    assert out.stats.orders == 200 and out.journal_length == 200
    # The reports stay with the producer after shutdown.
    r = p.poll()
    assert p.pending == 0
    assert len(r) == 200 and set(r["kind"].tolist()) == {k.GATEWAY_ACCEPTED}
    assert sorted(r["tag"].tolist()) == list(range(1, 201))
    assert len(p.poll()) == 0
    assert g.order_count == 200
    g.check_invariants()


def test_backpressure_and_limits() -> None:
    g, inst, alice, bob, cert = market()
    with k.GatewayRuntime(g, max_producers=1, queue_batches=1, batch=2, report_batches=1) as rt:
        p = rt.producer()
        with pytest.raises(ValueError, match="at most"):
            # Three batches never fit a queue of one: nothing goes in.
            p.submit(k.gateway_orders(k.GATEWAY_BUY, [1, 2, 3, 4, 5], bob, inst, 10, 100))
        assert p.queued_batches == 0 and rt.stats().orders == 0
        # One batch in; its reports unpolled use the whole report credit.
        p.submit(k.gateway_orders(k.GATEWAY_BUY, [1, 2], bob, inst, 10, 100))
        for _ in range(5000):
            if rt.stats().reports >= 2:
                break
            threading.Event().wait(0.001)
        with pytest.raises(E.Backpressure):
            p.submit(k.gateway_buy(3, bob, inst, 10, 100))
        first = p.poll()
        assert sorted(first["tag"].tolist()) == [1, 2]
        # submit_wait splits what does not fit and waits.
        p.submit_wait(k.gateway_orders(k.GATEWAY_BUY, np.arange(3, 43), bob, inst, 10, 100), timeout=30.0)
        got = 0
        while got < 40:
            r = p.poll(timeout=5.0, limit=7)
            assert len(r) <= 7
            got += len(r)
        assert got == 40 and len(p.poll()) == 0
        with pytest.raises(ValueError):
            p.poll(timeout=-1.0)
        with pytest.raises(TypeError):
            p.submit([1])  # type: ignore[arg-type]
        bad = k.gateway_buy(1, bob, inst, 10, 100)
        bad["kind"] = 9
        with pytest.raises(ValueError):
            p.submit(bad)
        with pytest.raises(ValueError):
            p.submit_wait(bad)
        assert rt.stats().orders == 42
        with pytest.raises(E.ConfigError):
            k.GatewayRuntime(k.Gateway(), batch=0)
    assert not rt.running
    assert g.stats().requests == 42


def test_runtime_configuration_is_checked_before_taking_the_gateway() -> None:
    g, inst, alice, bob, cert = market()
    cases: List[Dict[str, Any]] = [
        {"max_producers": 0},
        {"max_producers": 65536},
        {"queue_batches": 0},
        {"batch": 0},
        {"report_batches": 0},
        {"depth": 1025},
        {"event_capacity": 2**25},
    ]
    for kw in cases:
        with pytest.raises(E.ConfigError):
            k.GatewayRuntime(g, **kw)
    with pytest.raises(OverflowError):
        k.GatewayRuntime(g, batch=-1)
    g.stats()  # still the caller's
    rt = k.GatewayRuntime(g, event_capacity=0, depth=0)
    with pytest.raises(E.ConfigError):
        rt.subscribe()
    with pytest.raises(E.MarketError):
        rt.best(INST_ID)
    rt.shutdown()
    g.check_invariants()


def test_producer_shared_by_threads_with_submit_wait() -> None:
    g = k.Gateway()
    inst = g.add_instrument(1, band_low=1, band_high=100)
    acct = g.open_account(1, 10**12)
    rt = k.GatewayRuntime(g, max_producers=1, queue_batches=2, batch=5, report_batches=2)
    p = rt.producer()
    per, n = 100, 3
    errors: List[BaseException] = []

    def work(t: int) -> None:
        try:
            tags = np.arange(t * per + 1, (t + 1) * per + 1)
            p.submit_wait(k.gateway_orders(k.GATEWAY_BUY, tags, acct, inst, 10, 1), timeout=30.0)
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    ths = [threading.Thread(target=work, args=(t,)) for t in range(n)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    assert not errors
    out = rt.shutdown()
    assert out.stats.orders == n * per
    tags: List[int] = []
    while True:
        r = p.poll()
        if len(r) == 0:
            break
        tags.extend(r["tag"].tolist())
    assert sorted(tags) == list(range(1, n * per + 1))


def test_reports_held_by_the_producer_count_against_its_credit() -> None:
    g, inst, alice, bob, cert = market()
    with k.GatewayRuntime(g, max_producers=1, queue_batches=1, batch=1, report_batches=1) as rt:
        p = rt.producer()
        p.submit(k.gateway_buy(1, bob, inst, 10, 100))
        for _ in range(5000):
            if rt.stats().reports >= 1:
                break
            threading.Event().wait(0.001)
        assert len(p.poll(limit=0)) == 0  # taken from the runtime, kept here
        assert p.pending == 1
        with pytest.raises(E.Backpressure):
            p.submit(k.gateway_buy(2, bob, inst, 10, 100))
        assert p.poll()["tag"].tolist() == [1]
        p.submit(k.gateway_buy(2, bob, inst, 10, 100))
    assert g.stats().requests == 2


# ---- day orders -------------------------------------------------------------------


def test_day_orders_expire_at_the_end_of_the_day() -> None:
    g, inst, alice, bob, cert = market()
    r = g.apply(np.concatenate([
        k.gateway_sell(1, alice, inst, 3_000, 300, cert, tif=k.GATEWAY_TIF_DAY),
        k.gateway_buy(2, bob, inst, 2_000, 100),
    ]))
    assert list(r["kind"]) == [k.GATEWAY_ACCEPTED, k.GATEWAY_ACCEPTED]
    done = g.end_of_day()
    assert len(done) == 1
    assert int(done["kind"][0]) == k.GATEWAY_DONE and int(done["code"][0]) == k.GATEWAY_DONE_EXPIRED
    assert int(done["tag"][0]) == 1 and int(done["cert"][0]) == cert and int(done["seq"][0]) == 3
    assert g.next_seq == 4
    g.check_invariants()
    # On the runtime: sequence numbers continue; the end of the day comes
    # after the array submitted before it.
    rt = k.GatewayRuntime(g)
    p = rt.producer()
    p.submit_wait(k.gateway_buy(7, bob, inst, 2_100, 200, tif=k.GATEWAY_TIF_DAY))
    assert rt.end_of_day() == 1
    got: List[np.ndarray] = []
    while sum(len(x) for x in got) < 2:
        got.append(p.poll(timeout=1.0))
    reps = np.concatenate(got)
    assert int(reps["seq"][0]) == 4 and int(reps["kind"][0]) == k.GATEWAY_ACCEPTED
    assert int(reps["kind"][1]) == k.GATEWAY_DONE and int(reps["code"][1]) == k.GATEWAY_DONE_EXPIRED
    rt.shutdown()
    acct = g.account(bob)
    assert acct is not None and acct.reserved == 200_000  # the GTC bid stays
    g.check_invariants()
    with pytest.raises(ValueError):
        k.gateway_buy(8, bob, inst, 2_000, 100, tif=4)


# ---- the journal ------------------------------------------------------------------


def test_the_journal_replays_to_the_same_reports_and_state() -> None:
    def start() -> Tuple[k.Gateway, int, List[int], List[int]]:
        g = k.Gateway()
        inst = g.add_instrument(INST_ID, band_low=1, band_high=1_000, lot_size=100)
        accts = [g.open_account(10 + t, 100_000_000) for t in range(3)]
        certs = [g.issue(accts[0], inst, 300) for _ in range(40)]
        return g, inst, accts, certs

    g, inst, accts, certs = start()
    rt = k.GatewayRuntime(g, max_producers=2, queue_batches=1, batch=4, journal=True)
    got: List[List[np.ndarray]] = [[], []]
    producers = [rt.producer() for _ in range(2)]

    def work(t: int) -> None:
        tags = np.arange(1, 41, dtype=np.uint64)
        if t == 0:
            orders = k.gateway_orders(k.GATEWAY_SELL, tags, accts[0], inst, 100 + tags % 5, 200, cert=np.array(certs))
        else:
            buyers = np.array(accts, dtype=np.uint32)[1 + (tags % 2)]
            orders = k.gateway_orders(k.GATEWAY_BUY, tags, buyers, inst, 100 + tags % 7, 100)
        try:
            producers[t].submit_wait(orders)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    errors: List[BaseException] = []

    ths = [threading.Thread(target=work, args=(t,)) for t in range(2)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    assert not errors
    rt.deposit(accts[2], 1_000)
    out = rt.shutdown()
    for t in range(2):
        got[t].append(producers[t].poll())
    assert out.journal_length == 80 and out.journal.orders == 80 and out.journal.controls == 1
    assert len(out.journal) >= 20 and "GatewayJournal" in repr(out.journal)
    fresh, *_ = start()
    replayed = fresh.replay(out.journal)
    assert fresh.state_hash() == out.state_hash == g.state_hash()
    # Every report the producers got, and no other (the replay gives them
    # in sequence order, all producers together).
    mine = np.concatenate(got[0] + got[1])
    assert len(replayed) == len(mine)
    assert sorted(r.tobytes() for r in replayed) == sorted(r.tobytes() for r in mine)
    fills = replayed[replayed["kind"] == k.GATEWAY_FILL]
    assert len(fills) > 0
