"""Out-of-band verification from Python: hooks as callables, every outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

import kabuken as k
from kabuken import errors as E

PEPPER = bytes(range(32))


@dataclass
class Host:
    held: list[int] = field(default_factory=list)
    forwarded: list[int] = field(default_factory=list)
    released: list[tuple[int, str]] = field(default_factory=list)
    notices: list[Any] = field(default_factory=list)
    alarms: list[Any] = field(default_factory=list)
    fail_delivery: bool = False

    def hold(self, r: k.PendingRequest) -> None:
        self.held.append(r.request_ref)

    def forward(self, r: k.PendingRequest) -> None:
        self.forwarded.append(r.request_ref)

    def release(self, r: k.PendingRequest, reason: str) -> None:
        self.released.append((r.request_ref, reason))

    def deliver(self, device: k.Device, notice: Any) -> bool:
        self.notices.append((device.address, notice))
        return not self.fail_delivery

    def alarm(self, report: Any) -> None:
        self.alarms.append(report)

    def last_info(self) -> k.ConfirmationInfo:
        for _, n in reversed(self.notices):
            if isinstance(n, k.ConfirmationInfo):
                return n
        raise AssertionError("no confirmation delivered")


def service(host: Host, **cfg: Any) -> k.OobService:
    config = k.OobConfig(PEPPER, argon2="insecure_fast", **cfg)
    return k.OobService(
        config,
        hold=host.hold,
        forward=host.forward,
        release=host.release,
        deliver=host.deliver,
        alarm=host.alarm,
        seed=7,
    )


def register(svc: k.OobService, **kw: Any) -> int:
    args: dict[str, Any] = dict(threshold=1_000_000, max_amount=50_000_000)
    args.update(kw)
    return svc.register_contractor(
        "alice",
        "2468",
        [k.Device("+81-90-0000-0000", "sms"), k.Device("pager-7", "pager")],
        [("4711", "normal"), ("1147", "duress")],
        **args,
    )


TX = k.Transaction(7203, k.Side.BUY, 1_000, 2_150_000, limit=2_150)


def test_confirm_flow() -> None:
    host = Host()
    svc = service(host)
    cid = register(svc)
    assert svc.contractor_id("alice") == cid and svc.is_disabled(cid) is False
    s = svc.login("alice", "2468", 0)
    assert "hidden" in repr(s) and len(s.secret) == 32
    small = svc.submit(s, k.Transaction(7203, "buy", 1, 2_150, limit=2_150), 1)
    assert small.disposition == "forward_now" and small.request.method == "none"
    sub = svc.submit(s, TX, k.SECOND)
    assert sub.disposition == "hold_pending"
    assert host.held == [sub.request.request_ref]
    assert svc.pending_count(cid) == 1
    info = host.last_info()
    assert len(host.notices) == 2  # broadcast to both devices
    assert info.request_ref == sub.request.request_ref and len(info.code) == 8
    assert info.tx_digest == TX.digest() and sub.request.matches(TX)
    assert "BUY" in info.short_text() and "confirm" in info.spoken_text()
    resp = svc.answer("alice", info.request_ref, info.code, "4711", info.tx_digest, 30 * k.SECOND)
    assert resp.kind == "accepted" and resp.request_ref == info.request_ref
    assert len(resp.encode()) == 9
    assert host.forwarded == [info.request_ref]
    assert svc.stats()["confirmed"] == 1 and svc.pending_count(cid) == 0
    # Answered once: a second answer is an idempotent duplicate or rejected.
    with pytest.raises(E.AnswerRejected):
        svc.answer("alice", info.request_ref, info.code, "9999", info.tx_digest, 31 * k.SECOND)
    count, head = svc.audit_head()
    assert count == len(svc.audit_records()) and len(head) == 32
    assert svc.verify_audit()
    forged = k.SessionToken(s.id, bytes(32))
    with pytest.raises(E.InvalidSession):
        svc.submit(forged, TX, 35 * k.SECOND)
    svc.logout(s, 40 * k.SECOND)
    with pytest.raises(E.InvalidSession):
        svc.submit(s, TX, 41 * k.SECOND)


def test_duress_looks_like_success() -> None:
    host = Host()
    svc = service(host)
    register(svc)
    s = svc.login("alice", "2468", 0)
    svc.submit(s, TX, 1)
    info = host.last_info()
    r1 = svc.answer("alice", info.request_ref, info.code, "1147", info.tx_digest, 2)
    assert r1.kind == "accepted"
    assert host.forwarded == [] and host.released == [(info.request_ref, "duress")]
    assert len(host.alarms) == 1 and host.alarms[0].user_code == "alice"
    assert host.alarms[0].request.request_ref == info.request_ref
    assert svc.stats()["duress"] == 1


def test_cancel_code_and_expiry() -> None:
    host = Host()
    svc = service(host, request_ttl=10 * k.SECOND)
    register(svc)
    s = svc.login("alice", "2468", 0)
    svc.submit(s, TX, 1)
    info = host.last_info()
    r = svc.answer("alice", info.request_ref, info.cancel_code, "4711", info.tx_digest, 2)
    assert r.kind == "cancelled"
    assert host.released[-1] == (info.request_ref, "cancelled")
    svc.submit(s, TX, 3)
    info2 = host.last_info()
    rep = svc.sweep(3 + 11 * k.SECOND)
    assert rep["expired"] == 1
    assert host.released[-1] == (info2.request_ref, "expired")
    with pytest.raises(E.AnswerRejected):
        svc.answer("alice", info2.request_ref, info2.code, "4711", info2.tx_digest, 4 + 11 * k.SECOND)


def test_wrong_answers_lock_out() -> None:
    host = Host()
    svc = service(host, max_wrong_answers=3)
    cid = register(svc)
    s = svc.login("alice", "2468", 0)
    svc.submit(s, TX, 1)
    info = host.last_info()
    for i in range(3):
        with pytest.raises(E.AnswerRejected) as ei:
            svc.answer("alice", info.request_ref, "00000000", "4711", info.tx_digest, 2 + i)
        assert ei.value.kind == "answer_rejected"
    assert svc.is_disabled(cid) is True
    assert host.released[-1] == (info.request_ref, "locked_out")
    assert any(isinstance(n, k.LockedOutNotice) for _, n in host.notices)
    with pytest.raises(E.AuthenticationFailed):
        svc.login("alice", "2468", 10)
    svc.enable_contractor(cid, 11)
    svc.login("alice", "2468", 12)
    svc.disable_contractor(cid, 13)
    with pytest.raises(E.OobError):
        svc.submit(s, TX, 14)


def test_refusals() -> None:
    host = Host()
    svc = service(host, max_pending_per_contractor=1)
    register(svc)
    with pytest.raises(E.DuplicateUserCode):
        register(svc)
    with pytest.raises(E.AuthenticationFailed) as ei:
        svc.login("alice", "0000", 0)
    assert isinstance(ei.value, k.KabukenError) and ei.value.kind == "authentication_failed"
    with pytest.raises(E.AuthenticationFailed):
        svc.login("bob", "2468", 0)
    s = svc.login("alice", "2468", 0)
    with pytest.raises(E.AboveMaximum):
        svc.submit(s, k.Transaction(1, "sell", 1, 60_000_000), 1)
    svc.submit(s, TX, 2)
    with pytest.raises(E.TooManyPending):
        svc.submit(s, TX, 3)
    with pytest.raises(E.UnknownContractor):
        svc.disable_contractor(99, 0)
    assert svc.pending_count(99) is None and svc.contractor_id("nobody") is None


def test_invalid_records_and_config() -> None:
    host = Host()
    svc = service(host)
    with pytest.raises(E.InvalidRecord):
        svc.register_contractor("bob", "1", [k.Device("x")], [("4711", "normal")], threshold=1, max_amount=2)
    with pytest.raises(E.InvalidRecord):
        svc.register_contractor("bob", "2468", [], [("4711", "normal")], threshold=1, max_amount=2)
    with pytest.raises(E.InvalidRecord):
        svc.register_contractor(
            "bob", "2468", [k.Device("x")], [("4711", "normal")], threshold=1, max_amount=2, methods=[(0, "seal")]
        )
    with pytest.raises(ValueError):
        svc.register_contractor("bob", "2468", [k.Device("x")], [("4711", "sometimes")], threshold=1, max_amount=2)
    with pytest.raises(ValueError):
        svc.register_contractor(
            "bob", "2468", [k.Device("x")], [("4711", "normal")], threshold=1, max_amount=2, methods=[(0, "magic")]
        )
    with pytest.raises(ValueError):
        svc.register_contractor(
            "bob", "2468", [k.Device("x")], [("4711", "normal")], threshold=1, max_amount=2, delivery="sequential"
        )
    with pytest.raises(E.InvalidOobConfig):
        k.OobService(k.OobConfig(PEPPER, argon2="insecure_fast", code_digits=3))
    with pytest.raises(E.InvalidOobConfig):
        k.OobService(k.OobConfig(PEPPER, argon2=(0, 0, 0)))
    with pytest.raises(ValueError):
        k.OobConfig(b"short")
    with pytest.raises(ValueError):
        k.OobConfig(PEPPER, argon2="slow")
    with pytest.raises(TypeError):
        k.OobConfig(PEPPER, argon2=3.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        k.OobService(k.OobConfig(PEPPER, argon2="insecure_fast"), hold=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        k.Device("x", "carrier-pigeon")
    with pytest.raises(ValueError):
        k.Device("x", "app_push", seal_key=b"\x01" * 31)
    with pytest.raises(ValueError):
        k.SessionToken(1, b"\x00" * 5)
    with pytest.raises(ValueError):
        k.seal_message(1, b"short", "123")
    assert len(k.biometric_challenge(1, TX.digest())) == 32
    assert k.seal_message(1, TX.digest(), "12345678").endswith(b"12345678")


def test_biometric_and_callback_lines() -> None:
    host = Host()
    seen: list[bytes] = []

    def verify(contractor: int, challenge: bytes, sample: bytes) -> bool:
        seen.append(challenge)
        return sample == b"thumb"

    svc = k.OobService(
        k.OobConfig(PEPPER, argon2="insecure_fast", callback_lines=[3, 4]),
        hold=host.hold,
        forward=host.forward,
        release=host.release,
        deliver=host.deliver,
        biometric=verify,
        seed=1,
    )
    register(svc, methods=[(0, "biometric")])
    s = svc.login("alice", "2468", 0)
    svc.submit(s, TX, 1)
    info = host.last_info()
    assert info.method == "biometric" and info.line in (3, 4)
    with pytest.raises(E.AnswerRejected):
        svc.answer("alice", info.request_ref, info.code, "4711", info.tx_digest, 2, line=info.line, biometric=b"nose")
    r = svc.answer("alice", info.request_ref, info.code, "4711", info.tx_digest, 3, line=info.line, biometric=b"thumb")
    assert r.kind == "accepted"
    assert seen[-1] == k.biometric_challenge(info.request_ref, info.tx_digest)
    with pytest.raises(ValueError):
        svc.answer("alice", 1, "1", "1", info.tx_digest, 4, seal=b"x" * 64, biometric=b"y")
    with pytest.raises(ValueError):
        svc.answer("alice", 1, "1", "1", info.tx_digest, 4, seal=b"x" * 3)
    with pytest.raises(ValueError):
        svc.answer("alice", 1, "1", "1", b"digest?", 4)


def test_method_unavailable_without_verifier() -> None:
    host = Host()
    svc = service(host)
    register(svc, methods=[(0, "biometric")])
    s = svc.login("alice", "2468", 0)
    with pytest.raises(E.MethodUnavailable):
        svc.submit(s, TX, 1)


def test_failing_hooks_do_not_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    raised: list[Any] = []
    monkeypatch.setattr("sys.unraisablehook", lambda u: raised.append(u))

    def boom(*_: Any) -> None:
        raise RuntimeError("hook failed")

    svc = k.OobService(
        k.OobConfig(PEPPER, argon2="insecure_fast"), hold=boom, deliver=boom, forward=boom, seed=3
    )
    register(svc, delivery="sequential", fallback_after=5 * k.SECOND)
    s = svc.login("alice", "2468", 0)
    sub = svc.submit(s, TX, 1)
    assert sub.disposition == "hold_pending"
    assert raised and isinstance(raised[0].exc_value, RuntimeError)
    assert svc.sweep(10 * k.SECOND)["fallbacks"] >= 0


def test_transaction_values() -> None:
    t = k.Transaction(7203, "sell", 100, 215_000, limit=2_150)
    assert (t.instrument, t.side, t.quantity, t.amount, t.limit) == (7203, k.Side.SELL, 100, 215_000, 2_150)
    assert len(t.digest()) == 32 and len(t.encode()) == 31
    assert t == k.Transaction(7203, k.Side.SELL, 100, 215_000, limit=2_150)
    assert t.digest() != k.Transaction(7203, "sell", 101, 215_000, limit=2_150).digest()
    assert "SELL" in t.short_summary() and "sell" in t.spoken_summary()
    with pytest.raises(ValueError):
        k.Transaction(1, "hold", 1, 1)
    with pytest.raises(OverflowError):
        k.Transaction(-1, "buy", 1, 1)
