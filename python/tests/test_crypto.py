# mypy: disable-error-code="arg-type, call-arg, list-item"
# (some tests pass wrong types on purpose)
"""Keys, signatures and the generic Message: sign, verify, decode, and
every malformed input raising a typed error."""

from __future__ import annotations

import pytest

import kabuken as k
from kabuken import errors as E


def test_keypair_is_deterministic_and_signs() -> None:
    a = k.KeyPair(b"\x07" * 32)
    b = k.KeyPair(b"\x07" * 32)
    assert a.public_key == b.public_key
    assert hash(a.public_key) == hash(b.public_key)
    assert len(a.public_key.to_bytes()) == 32 and bytes(a.public_key) == a.public_key.to_bytes()
    sig = a.sign(k.MsgKind.ORDER_REQUEST, b"hello")
    assert len(sig) == 64
    a.public_key.verify(k.MsgKind.ORDER_REQUEST, b"hello", sig)
    # Domain separation: the same bytes under another kind do not verify.
    with pytest.raises(E.CryptoError) as ei:
        a.public_key.verify(k.MsgKind.CANCEL_REQUEST, b"hello", sig)
    assert ei.value.kind == "bad_signature"
    raw = a.sign_raw(b"hello")
    a.public_key.verify_raw(b"hello", raw)
    with pytest.raises(E.CryptoError):
        a.public_key.verify_raw(b"hellO", raw)
    g1, g2 = k.KeyPair.generate(), k.KeyPair.generate()
    assert g1.public_key != g2.public_key
    assert "KeyPair(" in repr(a) and "PublicKey(" in repr(a.public_key)


def test_public_key_refuses_weak_and_invalid() -> None:
    identity = b"\x01" + bytes(31)
    with pytest.raises(E.CryptoError) as ei:
        k.PublicKey(identity)
    assert ei.value.kind == "weak_key"
    with pytest.raises(E.CryptoError) as ei:
        k.PublicKey(b"\x02" + bytes(31))
    assert ei.value.kind == "bad_key"
    with pytest.raises(ValueError):
        k.PublicKey(b"\x00" * 31)
    with pytest.raises(TypeError):
        k.PublicKey("00" * 32)
    good = k.KeyPair(b"\x01" * 32).public_key
    assert k.PublicKey(good.to_bytes()) == good


def test_keypair_bad_input() -> None:
    for bad in (b"", b"\x00" * 31, b"\x00" * 33):
        with pytest.raises(ValueError):
            k.KeyPair(bad)
    with pytest.raises(TypeError):
        k.KeyPair(7)
    key = k.KeyPair(b"\x01" * 32)
    with pytest.raises(TypeError):
        key.sign(16, b"x")
    with pytest.raises(ValueError):
        key.public_key.verify(k.MsgKind.ORDER_REQUEST, b"x", b"\x00" * 63)


def test_msgkind_values_and_labels() -> None:
    kinds = [getattr(k.MsgKind, n) for n in dir(k.MsgKind) if n.isupper()]
    assert sorted(int(x) for x in kinds) == list(range(1, 26))
    labels = {x.label for x in kinds}
    assert len(labels) == 25
    assert k.MsgKind.ORDER_REQUEST.label == b"kabuken/v1/order-request\x00"


def test_message_roundtrip_and_verify() -> None:
    key = k.KeyPair(b"\x05" * 32)
    m = k.sign_cancel(key, 42, 3, 17)
    assert m.kind == k.MsgKind.CANCEL_REQUEST and m.signer == 42
    assert m.body() == {"user_id": 42, "reception_number": 17, "seq": 3}
    data = m.to_bytes()
    assert bytes(m) == data and len(m) == len(data)
    again = k.Message(data)
    assert again == m and k.Message.from_bytes(data) == m
    assert len(m.digest()) == 32 and m.digest() == again.digest()
    m.verify(key.public_key)
    with pytest.raises(E.CryptoError):
        m.verify(k.KeyPair(b"\x06" * 32).public_key)
    # A flipped body byte decodes but no longer verifies.
    t = bytearray(data)
    t[12] ^= 1
    with pytest.raises(E.CryptoError):
        k.Message(bytes(t)).verify(key.public_key)
    assert "CANCEL_REQUEST" in repr(m) or "CancelRequest" in repr(m)


@pytest.mark.parametrize(
    "mutate, kind",
    [
        (lambda b: b[:-1], "truncated"),
        (lambda b: b + b"\x00", "trailing_bytes"),
        (lambda b: b"\x07" + b[1:], "bad_version"),
        (lambda b: b[:1] + b"\x00" + b[2:], "bad_tag"),
        (lambda b: b[:1] + b"\x63" + b[2:], "bad_tag"),
        (lambda b: b"", "bad_tag"),
    ],
)
def test_malformed_bytes_raise_decode_error(mutate: object, kind: str) -> None:
    data = k.sign_cancel(k.KeyPair(b"\x05" * 32), 1, 1, 1).to_bytes()
    with pytest.raises(E.DecodeError) as ei:
        k.Message(mutate(data))  # type: ignore[operator]
    assert ei.value.kind == kind
    assert isinstance(ei.value, ValueError) and isinstance(ei.value, k.KabukenError)


def test_message_wrong_types() -> None:
    for bad in (None, 5, "abc", [1, 2]):
        with pytest.raises(TypeError):
            k.Message(bad)
    # Garbage of every length never crashes.
    import random

    rng = random.Random(7)
    for n in range(0, 200, 7):
        blob = bytes(rng.randrange(256) for _ in range(n))
        with pytest.raises(E.DecodeError):
            k.Message(b"\x01\x10" + blob)


def test_blake3_and_message_digest() -> None:
    m = k.sign_cancel(k.KeyPair(b"\x05" * 32), 1, 1, 1)
    assert k.blake3(m.to_bytes()) == m.digest()
    assert len(k.blake3(b"")) == 32 and k.blake3(b"a") != k.blake3(b"b")
    with pytest.raises(TypeError):
        k.blake3("text")


def test_verify_batch_names_culprits() -> None:
    keys = [k.KeyPair(bytes([i + 1]) * 32) for i in range(6)]
    kind = k.MsgKind.ORDER_REQUEST
    items = [(kp.public_key, kind, bytes([i]), kp.sign(kind, bytes([i]))) for i, kp in enumerate(keys)]
    k.verify_batch(items)
    k.verify_batch([])
    bad = list(items)
    bad[2] = (items[2][0], kind, b"other", items[2][3])
    bad[4] = (items[4][0], k.MsgKind.CANCEL_REQUEST, items[4][2], items[4][3])
    with pytest.raises(E.CryptoError) as ei:
        k.verify_batch(bad)
    assert ei.value.kind == "batch_failed" and ei.value.indices == [2, 4]
    with pytest.raises(ValueError):
        k.verify_batch([(items[0][0], kind, b"x", b"short")])
    with pytest.raises(TypeError):
        k.verify_batch([(b"key", kind, b"x", items[0][3])])
    with pytest.raises((TypeError, ValueError)):
        k.verify_batch([(items[0][0], kind, b"x")])


def test_batch_signatures() -> None:
    key = k.KeyPair(b"\x08" * 32)
    kind = k.MsgKind.COMPLETION_NOTICE
    items = [(kind, bytes([i]) * (i + 1)) for i in range(5)]
    proofs = k.sign_batch(key, items)
    assert [p.index for p in proofs] == list(range(5)) and all(p.count == 5 for p in proofs)
    roots = {p.root(kind, d) for p, (_, d) in zip(proofs, items)}
    assert len(roots) == 1 and len(next(iter(roots)) or b"") == 32
    assert len({p.root_signature for p in proofs}) == 1 and len(proofs[0].root_signature) == 64
    for p, (_, d) in zip(proofs, items):
        p.verify(key.public_key, kind, d)
        again = k.BatchProof(p.to_bytes())
        assert again == p and all(len(h) == 32 for h in again.path)
    # Another message, kind, position or key does not verify.
    with pytest.raises(E.CryptoError):
        proofs[0].verify(key.public_key, kind, b"other")
    with pytest.raises(E.CryptoError):
        proofs[0].verify(key.public_key, k.MsgKind.ERROR_NOTICE, items[0][1])
    with pytest.raises(E.CryptoError):
        proofs[1].verify(key.public_key, kind, items[0][1])
    with pytest.raises(E.CryptoError):
        proofs[0].verify(k.KeyPair(b"\x09" * 32).public_key, kind, items[0][1])
    assert "BatchProof(" in repr(proofs[0])
    # Bad batches and malformed proofs.
    with pytest.raises(E.CryptoError) as ei:
        k.sign_batch(key, [])
    assert ei.value.kind == "bad_batch"
    data = proofs[2].to_bytes()
    for bad in (data[:-1], data + b"\x00", b""):
        with pytest.raises(E.DecodeError):
            k.BatchProof(bad)
    with pytest.raises(TypeError):
        k.sign_batch(key, [(16, b"x")])
    with pytest.raises(TypeError):
        k.BatchProof("proof")
