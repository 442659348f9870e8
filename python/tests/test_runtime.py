"""The concurrent runtime from Python: several threads submitting signed
orders, every request answered exactly once with an answer that verifies
with the exchange key, back-pressure without loss, shutdown draining and
handing the objects back, trusted-gateway mode, market data and events,
notifications, and bad input raising (never crashing)."""

from __future__ import annotations

import threading
from typing import Dict, List, Optional, Tuple

import numpy as np
import pytest

import kabuken as k
from kabuken import errors as E

from _world import ALICE, BOB, CA_ID, CAROL, CASH, INST, NOT_AFTER, World, seed


def submit_all(p: k.Producer, flow: List[bytes], got: Dict[int, k.Response]) -> Tuple[List[int], int]:
    """Submits a flow with `submit`, retrying on back-pressure while taking
    responses; returns the tickets and how often the queue was full."""
    tickets: List[int] = []
    full = 0
    for req in flow:
        while True:
            try:
                tickets.append(p.submit(req))
                break
            except E.Backpressure:
                full += 1
                r = p.recv(0.01)
                if r is not None:
                    assert r.ticket not in got
                    got[r.ticket] = r
    while len(got) < len(flow):
        r = p.recv(30.0)
        assert r is not None, "a response is missing"
        assert r.ticket not in got, "a response came twice"
        got[r.ticket] = r
    return tickets, full


def check_answers(rt: k.Runtime, got: Dict[int, k.Response], tickets: List[int], signed: bool = True) -> None:
    assert sorted(got) == sorted(tickets) == list(range(1, len(tickets) + 1))
    key = rt.exchange_public_key
    for r in got.values():
        assert r.signed is signed
        if signed:
            assert r.message is not None
            r.message.verify(key)
            want = k.MsgKind.RECEPTION_RECEIPT if r.accepted else k.MsgKind.ERROR_NOTICE
            assert r.message.kind == want
        else:
            assert r.message is None
        if r.accepted:
            assert r.code is None and r.reason is None and r.sequence is not None
        else:
            assert r.code is not None and r.reason is not None


def test_threads_each_with_a_producer() -> None:
    rt, flows = k.Runtime.simulated(seed=5, investors=12, instruments=2, orders=600, producers=4, journal=True)
    assert len(flows) == 4 and sum(map(len, flows)) == 600 and rt.instruments == [100, 101]
    assert rt.running and not rt.failed and not rt.trusted_gateway and "Runtime(" in repr(rt)
    rt.set_time(10)
    assert rt.time == 10
    results: List[Optional[Tuple[List[int], Dict[int, k.Response]]]] = [None] * 4
    errors: List[BaseException] = []

    def run(i: int) -> None:
        try:
            p = rt.producer(64)
            got: Dict[int, k.Response] = {}
            tickets, _ = submit_all(p, flows[i], got)
            results[i] = (tickets, got)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    sequences: set[Optional[int]] = set()
    accepted = 0
    for res in results:
        assert res is not None
        tickets, got = res
        check_answers(rt, got, tickets)
        accepted += sum(r.accepted for r in got.values())
        sequences.update(r.sequence for r in got.values())
    assert accepted > 0 and len(sequences) == 600
    st = rt.stats()
    assert st.submitted == st.responses == st.sequenced == 600 and st.verified == 600
    assert st.signatures > 0 and st.signatures < st.signed_messages
    assert "RuntimeStats(" in repr(st)
    out = rt.shutdown()
    assert out.journal_length >= 600 and len(out.state_hash) == 32
    assert out.stats.responses == 600 and "RuntimeOutcome(" in repr(out)
    assert out.exchange.stats()["orders"] == 600
    out.exchange.check_invariants(out.register, out.ledger)
    assert not rt.running
    with pytest.raises(E.RuntimeClosed):
        rt.shutdown()
    with pytest.raises(E.RuntimeClosed):
        rt.stats()


def test_one_producer_shared_by_threads() -> None:
    rt, flows = k.Runtime.simulated(seed=6, investors=8, orders=400, producers=4)
    p = rt.producer(32)
    tickets: List[int] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        for req in flows[i]:
            t = p.submit_wait(req)
            with lock:
                tickets.append(t)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    got: Dict[int, k.Response] = {}
    while len(got) < 400:
        r = p.recv(30.0)
        assert r is not None and r.ticket not in got
        got[r.ticket] = r
    for t in threads:
        t.join()
    check_answers(rt, got, tickets)
    assert p.in_flight == 0 and p.try_recv() is None and p.drain() == []
    rt.shutdown()
    with pytest.raises(E.RuntimeClosed):
        p.submit(flows[0][0])
    with pytest.raises(E.RuntimeClosed):
        p.submit_wait(flows[0][0])


def test_backpressure_retried_without_loss() -> None:
    rt, flows = k.Runtime.simulated(
        seed=7,
        investors=6,
        orders=300,
        producers=2,
        ingress_capacity=2,
        shard_capacity=2,
        sign_capacity=2,
        verify_batch=2,
        sign_batch=2,
    )
    p = rt.producer(3)
    got: Dict[int, k.Response] = {}
    tickets, full = submit_all(p, flows[0], got)
    assert full > 0
    check_answers(rt, got, tickets)
    # submit_wait keeps the responses that arrive while it waits.
    q = rt.producer(2)
    waited = [q.submit_wait(req, timeout=30.0) for req in flows[1]]
    got2: Dict[int, k.Response] = {}
    while len(got2) < len(flows[1]):
        r = q.recv(30.0)
        assert r is not None and r.ticket not in got2
        got2[r.ticket] = r
    check_answers(rt, got2, waited)
    # A timed-out wait raises and takes nothing.
    z = rt.producer(1)
    z.submit(flows[1][0])
    with pytest.raises(E.Backpressure):
        z.submit_wait(flows[1][0], timeout=0.0)
    assert z.recv(30.0) is not None
    assert rt.stats().responses == 301
    rt.shutdown()


def test_shutdown_drains_everything_in_flight() -> None:
    rt, flows = k.Runtime.simulated(seed=8, investors=6, orders=200, producers=1, record_latency=True)
    p = rt.producer(1024)
    tickets = [p.submit(req) for req in flows[0]]
    while rt.stats().responses < 200:
        threading.Event().wait(0.001)
    lat = rt.take_latencies()
    assert lat.dtype == np.uint64 and len(lat) == 200 and (lat > 0).all()
    assert len(rt.take_latencies()) == 0
    assert rt.queue_depths() == (0, 0, 0)
    out = rt.shutdown()
    assert out.stats.submitted == out.stats.responses == 200
    got = {r.ticket: r for r in p.drain()}
    check_answers(rt, got, tickets)
    with pytest.raises(E.RuntimeClosed):
        rt.producer()
    with pytest.raises(E.RuntimeClosed):
        rt.subscribe()


def tamper(order: bytes) -> bytes:
    """The same order with a corrupted signature."""
    b = bytearray(order)
    b[-64] ^= 0x55
    return bytes(b)


def test_trusted_gateway_takes_unsigned_checks_and_does_not_sign() -> None:
    rt, flows = k.Runtime.simulated(seed=9, investors=6, orders=100, trusted_gateway=True)
    assert rt.trusted_gateway
    p = rt.producer(256)
    got: Dict[int, k.Response] = {}
    tickets, _ = submit_all(p, [tamper(b) for b in flows[0]], got)
    check_answers(rt, got, tickets, signed=False)
    assert any(r.accepted for r in got.values())
    st = rt.shutdown().stats
    assert st.verified == 0 and st.sequenced == 100
    # The verifying runtime refuses the same tampered requests upstream.
    rt2, flows2 = k.Runtime.simulated(seed=9, investors=6, orders=20)
    p2 = rt2.producer(64)
    got2: Dict[int, k.Response] = {}
    tickets2, _ = submit_all(p2, [tamper(b) for b in flows2[0]], got2)
    check_answers(rt2, got2, tickets2)
    assert all(not r.accepted and r.sequence is None for r in got2.values())
    assert rt2.stats().refused_unverified == 20
    rt2.shutdown()


def test_world_objects_taken_and_given_back() -> None:
    w = World()
    cert = w.issue(ALICE, 100)
    sell = w.order(ALICE, "sell", 50, 1000, [cert])
    buy = w.order(BOB, "buy", 30, 1000)
    ex_key = w.exchange.public_key
    rt = k.Runtime(w.exchange, w.register, w.ledger, notifications=4096, journal=True)
    assert rt.exchange_public_key.to_bytes() == ex_key.to_bytes()
    # The objects belong to the runtime while it runs.
    for call in (
        lambda: w.exchange.stats(),
        lambda: w.exchange.user_id,
        lambda: w.register.transfers(),
        lambda: w.ledger.totals(),
        lambda: w.ledger.user_id,
        lambda: w.submit(buy),
    ):
        with pytest.raises(E.RuntimeBusy):
            call()
    assert "Runtime" in repr(w.exchange) and "Runtime" in repr(w.register) and "Runtime" in repr(w.ledger)
    with pytest.raises(E.RuntimeBusy):
        k.Runtime(w.exchange, w.register, w.ledger)
    rt.set_time(w.now)
    sub = rt.subscribe()
    p = rt.producer(8)
    assert rt.best(INST) == (None, None)
    t1 = p.submit(sell)
    r1 = p.recv(30.0)
    assert r1 is not None and r1.ticket == t1 and r1.accepted and r1.message is not None
    r1.message.verify(ex_key)
    assert rt.best(INST) == (None, (1000, 50))
    t2 = p.submit(buy)
    r2 = p.recv(30.0)
    assert r2 is not None and r2.ticket == t2 and r2.accepted
    assert rt.best(INST) == (None, (1000, 20))
    d = rt.depth(INST)
    assert d.instrument == INST and d.best_ask == (1000, 20) and d.bids == [] and len(d.asks) == 1
    assert d.asks[0].price == 1000 and d.version > 0 and "DepthSnapshot(" in repr(d)
    events = sub.drain()
    kinds = [type(e.event).__name__ for e in events if isinstance(e, k.MarketEvent)]
    assert "Accepted" in kinds and "Trade" in kinds
    assert all(e.instrument == INST for e in events if isinstance(e, k.MarketEvent))
    assert sub.poll() is None and sub.position == len(events)
    old = rt.subscribe(from_oldest=True)
    assert len(old.drain()) == len(events)
    out = rt.shutdown()
    # The notification queue is still readable after shutdown.
    notes: List[k.Notification] = []
    while (n := rt.next_notification()) is not None:
        notes.append(n)
    assert len(notes) == out.stats.notifications > 0
    note_kinds = {n.kind for n in notes}
    assert "completion" in note_kinds and "certificate" in note_kinds
    for n in notes:
        if n.message is not None:
            n.message.verify(ex_key if n.source == "exchange" else rt.register_public_key)
    assert out.exchange is w.exchange and out.register is w.register and out.ledger is w.ledger
    assert out.journal_length >= 2
    # Synchronous again: the trade, the transfer and the settlement are there.
    ms = w.exchange.matches()
    assert len(ms) == 1 and ms[0].quantity == 30 and ms[0].buyer == BOB and ms[0].seller == ALICE
    assert len(w.register.transfers()) == 1 and w.ledger.totals()["settlements"] == 1
    w.check()
    assert out.state_hash == out.state_hash and len(out.state_hash) == 32
    # And it works synchronously as before.
    w.now += 1
    w.submit(w.order(CAROL, "buy", 20, 1000))
    assert len(w.exchange.matches()) == 2
    w.check()


def test_notifications_queue_and_callbacks() -> None:
    seen: List[k.Notification] = []
    answers: List[k.Response] = []
    done = threading.Event()
    rt, flows = k.Runtime.simulated(seed=10, investors=6, orders=150, on_notification=seen.append)

    def on_response(r: k.Response) -> None:
        answers.append(r)
        if len(answers) == 150:
            done.set()

    p = rt.producer(1024, on_response=on_response)
    for req in flows[0]:
        p.submit_wait(req)
    assert done.wait(30.0)
    rt.shutdown()
    assert len(answers) == 150 and sorted(r.ticket for r in answers) == list(range(1, 151))
    assert seen and {n.source for n in seen} <= {"exchange", "register"}
    for n in seen:
        assert "Notification(" in repr(n)
        if n.source == "exchange":
            assert n.outgoing is not None and n.kind == n.outgoing.kind
        else:
            assert n.kind in ("certificate", "id_list_delta") and n.message is not None
        if n.message is not None:
            signer = rt.register_public_key if n.source == "register" else rt.exchange_public_key
            n.message.verify(signer)
    # A queue of notifications, drained while running.
    rt2, flows2 = k.Runtime.simulated(seed=10, investors=6, orders=150, notifications=100_000)
    q = rt2.producer(1024)
    got: Dict[int, k.Response] = {}
    submit_all(q, flows2[0], got)
    queued: List[k.Notification] = []
    while (m := rt2.next_notification()) is not None:
        queued.append(m)
    rt2.shutdown()
    while (m := rt2.next_notification()) is not None:
        queued.append(m)
    assert len(queued) == len(seen)


def test_context_manager_shuts_down() -> None:
    rt, flows = k.Runtime.simulated(seed=11, orders=10)
    with rt:
        p = rt.producer()
        for req in flows[0]:
            p.submit(req)
    assert not rt.running
    assert len(p.drain()) == 10


def test_bad_input_raises() -> None:
    rt, flows = k.Runtime.simulated(seed=12, orders=5)
    p = rt.producer(4)
    for wrong in (123, None, "order", [b"x"]):
        with pytest.raises(TypeError):
            p.submit(wrong)  # type: ignore[arg-type]
    for junk in (b"", b"\x00" * 10, flows[0][0][:-1], flows[0][0] + b"\x00"):
        with pytest.raises(E.DecodeError):
            p.submit(junk)
    # A well-formed message of another kind is not a request.
    w = World()
    with pytest.raises(E.DecodeError) as ei:
        p.submit(w.attestations[ALICE])
    assert ei.value.kind == "wrong_kind"
    for cap in (0, 2**25):
        with pytest.raises(ValueError):
            rt.producer(cap)
    with pytest.raises(OverflowError):
        rt.producer(-1)
    for t in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            p.recv(t)
        with pytest.raises(ValueError):
            p.submit_wait(flows[0][0], timeout=t)
    with pytest.raises(OverflowError):
        rt.set_time(-1)
    with pytest.raises(E.MarketError):
        rt.best(999)
    with pytest.raises(E.MarketError):
        rt.depth(999)
    assert rt.stats().submitted == 0
    rt.shutdown()
    # Configuration errors leave the objects with their owner.
    for kw in ({"verify_workers": 0}, {"sign_batch": 0}, {"notifications": 0}, {"depth": 0}):
        with pytest.raises(E.ConfigError):
            k.Runtime(w.exchange, w.register, w.ledger, **kw)  # type: ignore[arg-type]
    for kw2 in ({"verify_window": -1.0}, {"sign_window": float("nan")}):
        with pytest.raises(ValueError):
            k.Runtime(w.exchange, w.register, w.ledger, **kw2)  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        k.Runtime(w.exchange, w.register, w.ledger, shard_capacity=-1)
    with pytest.raises(ValueError):
        k.Runtime(w.exchange, w.register, w.ledger, notifications=8, on_notification=print)
    with pytest.raises(TypeError):
        k.Runtime(w.register, w.exchange, w.ledger)  # type: ignore[arg-type]
    assert w.exchange.stats()["orders"] == 0 and w.ledger.user_id == 4
    for bad in ({"investors": 1}, {"instruments": 0}, {"producers": 0}, {"first_instrument": 2**32 - 1}):
        with pytest.raises(ValueError):
            k.Runtime.simulated(**bad)  # type: ignore[arg-type]
    # An exchange that has received orders cannot start a runtime.
    w.submit(w.order(BOB, "buy", 10, 1000))
    with pytest.raises(E.ConfigError):
        k.Runtime(w.exchange, w.register, w.ledger)
    w.check()
    # max_producers is enforced.
    rt3, _ = k.Runtime.simulated(seed=13, orders=1, max_producers=1)
    rt3.producer()
    with pytest.raises(E.ConfigError):
        rt3.producer()
    rt3.shutdown()


def test_controls_in_sequence_with_the_requests() -> None:
    w = World()
    cert = w.issue(ALICE, 100)
    rt = k.Runtime(w.exchange, w.register, w.ledger)
    rt.set_time(w.now)
    p = rt.producer(16)

    def ask(order: k.Message) -> k.Response:
        p.submit(order)
        r = p.recv(30.0)
        assert r is not None
        return r

    # A newcomer is unknown until the CA's attestation is added.
    dave, key = 1003, k.KeyPair(seed(1003))
    first = k.sign_order(key, dave, 1, INST, "buy", 10, 1000, account=dave, name_address="Dave, Tokyo")
    r = ask(first)
    assert not r.accepted and r.sequence is None
    att = w.ca.issue(dave, "Party 1003", key.public_key, 0, NOT_AFTER, k.Role.INVESTOR, w.policy)
    rt.add_party(att)
    rt.open_account(dave, dave)
    rt.deposit(dave, "5000.00")
    r = ask(k.sign_order(key, dave, 2, INST, "buy", 10, 1000, account=dave, name_address="Dave, Tokyo"))
    assert r.accepted, r.reason
    # Refusals raise the engine's errors; nothing changes.
    other = k.CertificateAuthority(CA_ID, "Test CA", k.KeyPair(seed(99)))
    with pytest.raises(E.IdentityError):
        rt.add_party(other.issue(1004, "Mallory", k.KeyPair(seed(1004)).public_key, 0, NOT_AFTER, k.Role.INVESTOR))
    with pytest.raises(E.DecodeError):
        rt.add_party(b"junk")
    with pytest.raises(E.DecodeError):
        rt.add_party(first)
    with pytest.raises(TypeError):
        rt.apply_revocation(42)  # type: ignore[arg-type]
    with pytest.raises(E.SettlementError) as ei:
        rt.open_account(dave, dave)
    assert ei.value.kind == "duplicate_account"
    with pytest.raises(E.SettlementError) as ei:
        rt.deposit(424242, 10)
    assert ei.value.kind == "unknown_account"
    with pytest.raises(E.SettlementError):
        rt.deposit(dave, -5)
    with pytest.raises(TypeError):
        rt.deposit(dave, 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        rt.end_of_day(timeout=-1.0)
    try:
        rt.deposit(dave, 1, timeout=0.0)
    except E.ControlTimeout:
        pass  # queued; applied in sequence anyway
    # A revoked investor's orders are refused.
    serial = w.attestations[CAROL].body()["serial"]
    rt.apply_revocation(w.ca.revoke([serial], w.now))
    assert not ask(w.order(CAROL, "buy", 10, 1000)).accepted
    # End of day: day orders expire.
    day = ask(w.order(ALICE, "sell", 50, 2000, [cert], tif=k.TimeInForce.DAY))
    assert day.accepted
    rt.end_of_day()
    out = rt.shutdown()
    with pytest.raises(E.RuntimeClosed):
        rt.end_of_day()
    order = w.exchange.order(day.reception_number)
    assert order is not None and order.state == "expired"
    acct = w.ledger.account(dave)
    assert acct is not None and acct.available + acct.reserved == 5001
    assert out.stats.sequenced >= 3
    w.check()


def test_errors_hierarchy() -> None:
    for cls in (E.RuntimeBusy, E.Backpressure, E.RuntimeClosed, E.RuntimeFailed, E.ControlTimeout):
        assert issubclass(cls, E.KabukenRuntimeError) and issubclass(cls, E.KabukenError)
        assert not issubclass(cls, RuntimeError)
    assert k.KabukenRuntimeError is E.KabukenRuntimeError
    assert not hasattr(k, "RuntimeError")


def test_lagging_subscriber_and_dropping_a_running_runtime() -> None:
    import gc

    answers: List[k.Response] = []
    rt, flows = k.Runtime.simulated(seed=14, orders=200, event_capacity=4, on_notification=lambda n: None)
    sub = rt.subscribe()
    p = rt.producer(256, on_response=answers.append)
    for req in flows[0]:
        p.submit_wait(req)
    while rt.stats().responses < 200:
        threading.Event().wait(0.01)
    first = sub.poll()
    assert isinstance(first, k.Lagged) and first.missed > 0 and "Lagged(" in repr(first)
    rest = sub.drain()
    assert 0 < len(rest) <= 8 and all(isinstance(e, k.MarketEvent) for e in rest)
    assert "MarketEvent(" in repr(rest[0])
    # Dropped while running (callbacks installed): it shuts down, no hang.
    del rt
    gc.collect()
    with pytest.raises(E.RuntimeClosed):
        p.submit(flows[0][0])
    assert len(answers) == 200


def test_shutdown_with_a_full_notification_queue_does_not_hang() -> None:
    rt, flows = k.Runtime.simulated(seed=15, investors=4, orders=200, notifications=2)
    p = rt.producer(1024)
    tickets = [p.submit(req) for req in flows[0]]
    out = rt.shutdown()  # nobody drained the two-entry queue meanwhile
    got = {r.ticket: r for r in p.drain()}
    check_answers(rt, got, tickets)
    notes: List[k.Notification] = []
    while (n := rt.next_notification()) is not None:
        notes.append(n)
    assert len(notes) == out.stats.notifications > 2


def test_controls_stats_and_shutdown_from_several_threads() -> None:
    w = World()
    answers: List[k.Response] = []
    rt = k.Runtime(w.exchange, w.register, w.ledger, on_notification=lambda n: None)
    rt.set_time(w.now)
    p = rt.producer(64, on_response=answers.append)
    stop = threading.Event()
    counts = {"controls": 0, "stats": 0, "orders": 0}

    def controls() -> None:
        while not stop.is_set():
            try:
                rt.deposit(ALICE, 1, timeout=2.0)
                counts["controls"] += 1
            except (E.RuntimeClosed, E.ControlTimeout):
                # ControlTimeout: queued as the sequencer stopped; not applied.
                return

    def readers() -> None:
        while not stop.is_set():
            try:
                rt.stats()
                rt.best(INST)
                counts["stats"] += 1
            except E.RuntimeClosed:
                return

    def orders() -> None:
        for _ in range(40):
            try:
                p.submit_wait(w.order(BOB, "buy", 10, 900), timeout=10.0)
                counts["orders"] += 1
            except E.RuntimeClosed:
                return

    ts = [threading.Thread(target=f) for f in (controls, readers, orders)]
    for t in ts:
        t.start()
    threading.Event().wait(0.3)
    out = rt.shutdown()
    stop.set()
    for t in ts:
        t.join(20.0)
        assert not t.is_alive(), "a thread hung"
    assert counts["controls"] > 0 and counts["stats"] > 0 and counts["orders"] > 0
    assert out.stats.responses == len(answers) == counts["orders"]
    acct = w.ledger.account(ALICE)
    assert acct is not None and acct.available == CASH + counts["controls"]
    w.check()


@pytest.mark.parametrize("workers", [1, 2])
def test_signing_on_the_verification_workers(workers: int) -> None:
    rt, flows = k.Runtime.simulated(
        seed=16,
        investors=8,
        orders=300,
        producers=2,
        verify_workers=workers,
        signing_thread=False,
        shard_capacity=4,
        sign_capacity=4,
        notifications=16,
    )
    results: List[Tuple[List[int], Dict[int, k.Response]]] = []

    def run(i: int) -> None:
        got: Dict[int, k.Response] = {}
        tickets, _ = submit_all(rt.producer(8), flows[i], got)
        results.append((tickets, got))

    drained: List[k.Notification] = []
    ts = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
    while any(t.is_alive() for t in ts):
        while (n := rt.next_notification()) is not None:
            drained.append(n)
        threading.Event().wait(0.001)
    for t in ts:
        t.join()
    assert len(results) == 2
    for tickets, got in results:
        check_answers(rt, got, tickets)
    out = rt.shutdown()
    while (n := rt.next_notification()) is not None:
        drained.append(n)
    assert out.stats.responses == 300 and len(drained) == out.stats.notifications
