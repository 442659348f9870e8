# mypy: disable-error-code="arg-type, call-arg"
"""The CA, attestations, revocations, policies and the identity store."""

from __future__ import annotations

import pytest

import kabuken as k
from kabuken import errors as E


def setup() -> tuple[k.CertificateAuthority, k.IdentityStore, k.KeyPair]:
    ca = k.CertificateAuthority(1, "Test CA", k.KeyPair(b"\x01" * 32))
    store = k.IdentityStore(1, "Test CA", ca.public_key)
    return ca, store, k.KeyPair(b"\x02" * 32)


def test_issue_register_and_query() -> None:
    ca, store, alice = setup()
    assert ca.user_id == 1 and ca.name == "Test CA" and "Test CA" in repr(ca)
    pol = k.Policy(usage_limit=1000, per_order_max=50, short_sale_ban=True)
    att = ca.issue(100, "Alice", alice.public_key, 10, 20, k.Role.INVESTOR, pol)
    assert att.kind == k.MsgKind.ATTESTATION and att.signer == 1
    att.verify(ca.public_key)
    body = att.body()
    assert body["user_id"] == 100 and body["name"] == "Alice" and body["serial"] == 1
    assert body["public_key"] == alice.public_key.to_bytes()
    assert body["role"] == k.Role.INVESTOR and body["policy"] == pol
    assert (body["not_before"], body["not_after"], body["issuer"]) == (10, 20, "Test CA")
    store.register(att)
    p = store.party(100, 15)
    assert (p.user_id, p.name, p.serial, p.issuer) == (100, "Alice", 1, "Test CA")
    assert p.role == k.Role.INVESTOR and p.policy.per_order_max == 50
    assert (p.not_before, p.not_after) == (10, 20)
    assert p.public_key == alice.public_key and p.attestation == att
    assert "Alice" in repr(p)
    # The gate for incoming messages.
    m = k.sign_cancel(alice, 100, 1, 5)
    assert store.verify(m, 15).user_id == 100
    forged = k.sign_cancel(k.KeyPair(b"\x09" * 32), 100, 1, 5)
    with pytest.raises(E.IdentityError) as ei:
        store.verify(forged, 15)
    assert ei.value.kind == "crypto" and ei.value.detail == "bad_signature"
    # Bytes are accepted wherever a Message is.
    store.register(att.to_bytes())


def test_validity_revocation_supersession() -> None:
    ca, store, alice = setup()
    old = ca.issue(100, "Alice", alice.public_key, 10, 20, k.Role.INVESTOR)
    new = ca.issue(100, "Alice", alice.public_key, 10, 30, k.Role.INVESTOR)
    store.register(new)
    with pytest.raises(E.IdentityError) as ei:
        store.register(old)
    assert ei.value.kind == "superseded"
    for now in (9, 31):
        with pytest.raises(E.IdentityError) as ei:
            store.party(100, now)
        assert ei.value.kind == "expired"
    with pytest.raises(E.IdentityError) as ei:
        store.party(999, 15)
    assert ei.value.kind == "unknown_party"
    rev = ca.revoke([new.body()["serial"]], 12)
    assert rev.kind == k.MsgKind.REVOCATION and rev.body() == {"serials": [2], "at": 12}
    store.apply_revocation(rev)
    with pytest.raises(E.IdentityError) as ei:
        store.party(100, 15)
    assert ei.value.kind == "revoked"


def test_foreign_ca_and_weak_key_refused() -> None:
    ca, store, alice = setup()
    other = k.CertificateAuthority(1, "Test CA", k.KeyPair(b"\x0f" * 32))
    with pytest.raises(E.IdentityError) as ei:
        store.register(other.issue(100, "Alice", alice.public_key, 0, 5, k.Role.INVESTOR))
    assert ei.value.kind == "bad_issuer"
    with pytest.raises(E.IdentityError):
        store.apply_revocation(other.revoke([1], 0))
    with pytest.raises(E.IdentityError) as ei:
        ca.issue(100, "x" * 300, alice.public_key, 0, 5, k.Role.INVESTOR)
    assert ei.value.kind == "policy_violation"
    with pytest.raises(ValueError):
        ca.issue(100, "Alice", alice.public_key, 5, 4, k.Role.INVESTOR)
    with pytest.raises(E.DecodeError) as de:
        store.register(k.sign_cancel(alice, 1, 1, 1))
    assert de.value.kind == "wrong_kind"


def test_policy() -> None:
    p = k.Policy(usage_limit=100, per_order_max=10)
    p.check(10, 100)
    with pytest.raises(E.IdentityError) as ei:
        p.check(11, 1)
    assert ei.value.kind == "policy_violation" and "per-order" in (ei.value.detail or "")
    with pytest.raises(E.IdentityError):
        p.check(1, 101)
    with pytest.raises(E.IdentityError):
        p.check(1)
    assert k.Policy().usage_limit == 2**64 - 1 and k.Policy().short_sale_ban
    assert "usage_limit=100" in repr(p)
    with pytest.raises(OverflowError):
        k.Policy(usage_limit=-1)
    with pytest.raises(TypeError):
        k.Policy(usage_limit="1")


def test_store_moves_into_register() -> None:
    ca, store, alice = setup()
    assert not store.moved
    k.Register(2, "R", "https://r.invalid", k.KeyPair(b"\x03" * 32), store)
    assert store.moved and "moved" in repr(store)
    with pytest.raises(ValueError):
        store.party(100, 1)
    with pytest.raises(ValueError):
        k.Register(2, "R", "https://r.invalid", k.KeyPair(b"\x03" * 32), store)


def test_bad_arguments() -> None:
    ca, store, alice = setup()
    with pytest.raises(TypeError):
        ca.issue(100, "Alice", alice.public_key.to_bytes(), 0, 5, k.Role.INVESTOR)
    with pytest.raises(TypeError):
        ca.issue(100, "Alice", alice.public_key, 0, 5, "investor")
    with pytest.raises(OverflowError):
        ca.issue(-1, "Alice", alice.public_key, 0, 5, k.Role.INVESTOR)
    with pytest.raises(OverflowError):
        ca.revoke([-1], 0)
    with pytest.raises(ValueError):
        ca.revoke(list(range(5000)), 0)
    with pytest.raises(TypeError):
        store.register(42)
