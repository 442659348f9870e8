# mypy: disable-error-code="arg-type, call-arg"
"""The register through every phase: issue, transfer (an exchange's signed
request), claim, direct transfer, holdings, reissue (lost, split, merge),
the certificate-ID list and its follower, and the refusals."""

from __future__ import annotations

import pytest

import kabuken as k
from kabuken import errors as E

from _world import ALICE, BOB, CAROL, EX_ID, INST, REG_ID, World


def test_issue_and_certificate() -> None:
    w = World()
    c = w.issue(ALICE, 1000)
    assert (c.instrument, c.holder, c.shares, c.par_value) == (INST, ALICE, 1000, 50)
    assert c.holder_name == f"Party {ALICE}, Tokyo"
    assert c.serial == c.id.serial and len(c.id.tag) == 16 and str(c.id).startswith(f"{c.serial}-")
    assert c.certificate_number == 1 and c.company_name == "Kabu KK" and c.company_founded == 19500101
    assert c.share_class == "common" and c.conversion_terms is None
    assert c.restriction == "free" and c.locked_until is None
    assert c.register_name == "Kabu Transfer Agent" and c.register_address == "https://register.invalid"
    assert c.signer == REG_ID and c.issue_date == w.now and c.expiry > c.issue_date
    c.verify(REG_ID, w.register.public_key)
    with pytest.raises(E.CertificateError) as ei:
        c.verify(EX_ID, w.register.public_key)
    assert ei.value.kind == "wrong_register"
    c.check_transferable(w.now)
    with pytest.raises(E.CertificateError) as ei:
        c.check_transferable(c.expiry + 1)
    assert ei.value.kind == "expired"
    # Round trips: bytes, Message, Certificate.
    assert k.Certificate(c.to_bytes()) == c and k.Certificate(c.to_message()) == c
    assert bytes(c) == c.to_bytes() and c.digest() == c.to_message().digest()
    assert len(c.content_digest()) == 32 and c.content_digest() != c.digest()
    body = c.to_message().body()
    assert body["shares"] == 1000 and body["id"] == c.id and body["holder"] == ALICE
    assert w.register.issued(INST) == 1000 and w.register.issued(999) is None
    rec = w.register.record(c.id)
    assert rec is not None and rec.current and rec.shares == 1000 and rec.holder == ALICE
    assert rec.share_class == "common" and rec.conditions == "ordinary issue"
    assert w.register.certificate(c.id) == c and w.register.id_state(c.id) == "live"
    assert w.register.id_state(k.CertId(10**6, bytes(16))) is None
    assert "Certificate(" in repr(c) and "Record(" in repr(rec)
    w.register.audit()


def test_issue_refusals_change_nothing() -> None:
    w = World(policy=k.Policy(usage_limit=10**12, per_order_max=500))
    key = w.keys[ALICE]
    with pytest.raises(E.RegisterError) as ei:
        w.issue(ALICE, 501)
    assert ei.value.kind == "identity" and "policy_violation" in (ei.value.detail or "")
    req = k.sign_issue_request(key, ALICE, 50, INST, 10)
    w.register.issue(req, w.now)
    with pytest.raises(E.RegisterError) as ei:
        w.register.issue(req, w.now)
    assert ei.value.kind == "replay"
    with pytest.raises(E.RegisterError) as ei:
        w.register.issue(k.sign_issue_request(key, ALICE, 51, 999, 10), w.now)
    assert ei.value.kind == "unknown_instrument"
    # Signed by Alice, claiming to be Bob.
    with pytest.raises(E.RegisterError) as ei:
        w.register.issue(k.sign_issue_request(key, BOB, 52, INST, 10), w.now)
    assert ei.value.kind == "identity"
    # The exchange may not issue (wrong role).
    with pytest.raises(E.RegisterError) as ei:
        w.register.issue(k.sign_issue_request(w.keys[EX_ID], EX_ID, 1, INST, 10), w.now)
    assert ei.value.detail == "wrong_role"
    assert w.register.issued(INST) == 10
    with pytest.raises(E.DecodeError):
        w.register.issue(b"\x01\x04", w.now)
    with pytest.raises(TypeError):
        w.register.issue("request", w.now)
    with pytest.raises(OverflowError):
        w.register.issue(req, -1)


def test_transfer_by_exchange_request_and_claims() -> None:
    w = World()
    c = w.issue(ALICE, 1000)
    req = k.sign_transfer_request(
        w.keys[EX_ID], EX_ID, 1, 1, INST, c.id, 300, BOB, ALICE, c, buyer_name_address="Bob, Osaka"
    )
    body = req.body()
    assert body["certificate"] == c and body["cert_id"] == c.id and body["sell_order"] is None
    resp = w.register.transfer(req, w.now)
    assert resp.kind == k.MsgKind.TRANSFER_RESPONSE
    rb = resp.body()
    assert rb["match_number"] == 1 and rb["transfer_number"] == 1 and rb["request_hash"] == req.digest()
    assert rb["change_cert_id"] is not None
    assert w.register.id_state(c.id) == "spent"
    t = w.register.transfers()
    assert len(t) == 1 and (t[0].quantity, t[0].buyer, t[0].seller) == (300, BOB, ALICE)
    assert t[0].old_cert_id == c.id and t[0].new_cert_id == rb["new_cert_id"] and not t[0].buyer_claimed
    assert "TransferRecord(" in repr(t[0])
    bob = w.claim(BOB, 1)
    assert bob.shares == 300 and bob.holder == BOB and bob.id == rb["new_cert_id"]
    change = w.claim(ALICE, 1)
    assert change.shares == 700 and change.id == rb["change_cert_id"]
    with pytest.raises(E.RegisterError) as ei:
        w.claim(BOB, 1)
    assert ei.value.kind == "already_claimed"
    with pytest.raises(E.RegisterError) as ei:
        w.claim(CAROL, 1)
    assert ei.value.kind == "not_your_transfer"
    with pytest.raises(E.RegisterError) as ei:
        w.claim(CAROL, 99)
    assert ei.value.kind == "unknown_transfer"
    # The spent certificate cannot be transferred again.
    again = k.sign_transfer_request(w.keys[EX_ID], EX_ID, 2, 2, INST, c.id, 100, CAROL, ALICE, c)
    with pytest.raises(E.RegisterError) as ei:
        w.register.transfer(again, w.now)
    assert ei.value.kind == "not_live" and ei.value.detail == "spent"
    assert w.register.transfers()[0].buyer_claimed
    w.register.audit()


def test_direct_transfer_with_endorsement() -> None:
    w = World()
    c = w.issue(ALICE, 400)
    e = c.endorse(BOB, 77, w.keys[ALICE])
    assert e.kind == k.MsgKind.ENDORSEMENT and e.signer == ALICE
    assert e.body() == {"certificate": c.digest(), "cert_id": c.id, "recipient": BOB, "nonce": 77}
    alice_key = w.keys[ALICE].public_key
    c.verify_endorsed(e, BOB, REG_ID, w.register.public_key, alice_key, w.now)
    with pytest.raises(E.CertificateError) as ei:
        c.verify_endorsed(e, CAROL, REG_ID, w.register.public_key, alice_key, w.now)
    assert ei.value.kind == "wrong_recipient"
    req = k.sign_direct_transfer_request(w.keys[BOB], BOB, w.seq(BOB), c, e, name_address="Bob, Osaka")
    assert req.body()["endorsement"] == e
    resp = w.register.direct_transfer(req, w.now)
    tn = resp.body()["transfer_number"]
    new = w.claim(BOB, tn)
    assert new.holder == BOB and new.shares == 400
    # Carol cannot use an endorsement made out to Bob.
    c2 = w.issue(ALICE, 10)
    e2 = c2.endorse(BOB, 78, w.keys[ALICE])
    bad = k.sign_direct_transfer_request(w.keys[CAROL], CAROL, w.seq(CAROL), c2, e2)
    with pytest.raises(E.RegisterError) as rei:
        w.register.direct_transfer(bad, w.now)
    assert rei.value.kind == "certificate" and rei.value.detail == "wrong_recipient"
    w.register.audit()


def test_holdings_and_reissue() -> None:
    w = World()
    a = w.issue(ALICE, 100)
    b = w.issue(ALICE, 50)
    inq = k.sign_holdings_inquiry(w.keys[ALICE], ALICE, w.seq(ALICE), INST)
    ans = w.register.holdings(inq, w.now)
    hb = ans.body()
    assert ans.kind == k.MsgKind.HOLDINGS_ANSWER and hb["request_hash"] == inq.digest()
    assert sorted(h["shares"] for h in hb["holdings"]) == [50, 100]
    assert {h["cert_id"] for h in hb["holdings"]} == {a.id, b.id}
    # Lost: same holding, new ID.
    lost = w.register.reissue(k.sign_reissue_request(w.keys[ALICE], ALICE, w.seq(ALICE), INST, "lost", [a.id]), w.now)
    lb = lost.body()
    assert lb["retired"] == [a.id] and [c.shares for c in lb["certificates"]] == [100]
    a2 = lb["certificates"][0]
    assert a2.id != a.id and w.register.id_state(a.id) == "spent"
    # Split 100 into 60 + 40.
    req = k.sign_reissue_request(w.keys[ALICE], ALICE, w.seq(ALICE), INST, "split", [a2.id], [60, 40])
    assert req.body()["kind"] == "split" and req.body()["quantities"] == [60, 40]
    parts = w.register.reissue(req, w.now).body()["certificates"]
    assert sorted(c.shares for c in parts) == [40, 60]
    # Merge the three back into one.
    ids = [c.id for c in parts] + [b.id]
    merged = w.register.reissue(k.sign_reissue_request(w.keys[ALICE], ALICE, w.seq(ALICE), INST, "merge", ids), w.now)
    certs = merged.body()["certificates"]
    assert [c.shares for c in certs] == [150] and sorted(c.serial for c in merged.body()["retired"]) == sorted(
        i.serial for i in ids
    )
    # A split that does not conserve shares is refused; nothing changes.
    bad = k.sign_reissue_request(w.keys[ALICE], ALICE, w.seq(ALICE), INST, "split", [certs[0].id], [100, 100])
    with pytest.raises(E.RegisterError):
        w.register.reissue(bad, w.now)
    assert w.register.id_state(certs[0].id) == "live"
    # Bob cannot reissue Alice's certificate.
    with pytest.raises(E.RegisterError):
        w.register.reissue(
            k.sign_reissue_request(w.keys[BOB], BOB, w.seq(BOB), INST, "lost", [certs[0].id]), w.now
        )
    w.register.audit()


def test_reissue_builder_bad_input() -> None:
    key = k.KeyPair(b"\x01" * 32)
    cid = k.CertId(1, bytes(16))
    with pytest.raises(ValueError):
        k.sign_reissue_request(key, 1, 1, INST, "lost", [cid, cid])
    with pytest.raises(ValueError):
        k.sign_reissue_request(key, 1, 1, INST, "split", [cid])
    with pytest.raises(ValueError):
        k.sign_reissue_request(key, 1, 1, INST, "lost", [cid], [1])
    with pytest.raises(ValueError):
        k.sign_reissue_request(key, 1, 1, INST, "shred", [cid])
    with pytest.raises(TypeError):
        k.sign_reissue_request(key, 1, 1, INST, "lost", [1])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        k.CertId(1, b"short")
    with pytest.raises(ValueError):
        k.sign_issue_request(key, 1, 1, INST, 10, share_class="golden")
    conv = k.sign_issue_request(key, 1, 1, INST, 10, share_class="convertible", conversion_terms="1:2")
    assert conv.body()["share_class"] == "convertible" and conv.body()["conversion_terms"] == "1:2"
    with pytest.raises(E.DecodeError):
        k.sign_issue_request(key, 1, 1, INST, 10, name_address="x" * 1000)


def test_id_list_snapshot_delta_follower() -> None:
    w = World()
    a = w.issue(ALICE, 100)
    f = k.IdListFollower(INST, REG_ID, w.register.public_key)
    assert f.seq is None and len(f) == 0
    with pytest.raises(E.IdListError) as ei:
        f.apply_delta(w.register.id_list_deltas(INST)[0])
    assert ei.value.kind == "no_snapshot"
    snap = w.register.id_list_snapshot(INST)
    sb = snap.body()
    assert snap.kind == k.MsgKind.ID_LIST_SNAPSHOT and sb["entries"] == [(a.id, ALICE)]
    f.apply_snapshot(snap)
    assert f.seq == sb["seq"] and f.contains(a.id, ALICE) and not f.contains(a.id, BOB)
    b = w.issue(BOB, 20)
    c = w.issue(CAROL, 30)
    deltas = w.register.id_list_deltas(INST, f.seq or 0)
    assert len(deltas) == 2 and deltas[0].body()["added"] == [(b.id, BOB)] and deltas[0].body()["removed"] == []
    # A gap is noticed.
    with pytest.raises(E.IdListError) as ei:
        f.apply_delta(deltas[1])
    assert ei.value.kind == "gap"
    assert f.apply_delta(deltas[0]) is True
    assert f.apply_delta(deltas[0]) is False
    assert f.apply_delta(deltas[1]) is True
    assert f.entries() == [(a.id, ALICE), (b.id, BOB), (c.id, CAROL)] and len(f) == 3
    # A snapshot signed by someone else, or for another instrument, is refused.
    other = k.IdListFollower(INST + 1, REG_ID, w.register.public_key)
    with pytest.raises(E.IdListError) as ei:
        other.apply_snapshot(snap)
    assert ei.value.kind == "wrong_instrument"
    wrong_key = k.IdListFollower(INST, REG_ID, w.exchange.public_key)
    with pytest.raises(E.IdListError):
        wrong_key.apply_snapshot(snap)
    with pytest.raises(E.RegisterError) as re_:
        w.register.id_list_snapshot(999)
    assert re_.value.kind == "unknown_instrument"
    with pytest.raises(E.DecodeError):
        f.apply_delta(snap)


def test_register_construction_and_instruments() -> None:
    w = World()
    with pytest.raises(ValueError):
        w.register.add_instrument(8, "X", 1, 1, 1, restriction="locked_until")
    with pytest.raises(ValueError):
        w.register.add_instrument(8, "X", 1, 1, 1, restriction="sometimes")
    with pytest.raises(ValueError):
        w.register.add_instrument(8, "X", 1, 1, 1, locked_until=5)
    with pytest.raises(E.RegisterError) as ei:
        w.register.add_instrument(8, "X" * 300, 1, 1, 1)
    assert ei.value.kind == "text_too_long"
    w.register.add_instrument(8, "Locked KK", 1, 1, 10**6, restriction="locked_until", locked_until=100)
    req = k.sign_issue_request(w.keys[ALICE], ALICE, w.seq(ALICE), 8, 10)
    c = w.register.issue(req, w.now)
    assert c.restriction == "locked_until" and c.locked_until == 100
    with pytest.raises(E.CertificateError) as ce:
        c.check_transferable(50)
    assert ce.value.kind == "restricted"
    with pytest.raises(ValueError):
        k.Register(2, "R", "A", k.KeyPair(b"\x03" * 32), w.store(), id_secret=b"short")
    assert w.register.user_id == REG_ID and "Register(" in repr(w.register)
    # Parties added later through the register itself.
    newcomer = k.KeyPair(b"\x44" * 32)
    att = w.ca.issue(2000, "Newcomer", newcomer.public_key, 0, 10**12, k.Role.INVESTOR)
    w.register.add_party(att)
    w.register.issue(k.sign_issue_request(newcomer, 2000, 1, INST, 5), w.now)
    w.register.apply_revocation(w.ca.revoke([att.body()["serial"]], 2))
    with pytest.raises(E.RegisterError) as ei:
        w.register.issue(k.sign_issue_request(newcomer, 2000, 2, INST, 5), w.now)
    assert ei.value.detail == "revoked"
