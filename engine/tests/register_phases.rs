//! Every register phase of DESIGN.md 1.4 and every refusal.

mod common;

use common::*;
use kabuken::certs::{endorse, verify_endorsed, CertError, CertId, IdState, ShareClass};
use kabuken::crypto::{CryptoError, Decode, Digest, Encode, MsgKind, Reader, Signed, Writer};
use kabuken::identity::{IdentityError, Policy};
use kabuken::register::*;

fn bad_sig() -> RegisterError {
    RegisterError::Identity(IdentityError::Crypto(CryptoError::BadSignature))
}

#[test]
fn issue_phase() {
    let mut w = World::new();
    let cert = w.issue(ALICE, 1_000);
    let c = &cert.body;
    assert_eq!(cert.signer, REG);
    assert!(cert.verify(&w.reg.public_key()).is_ok());
    assert_eq!(
        (c.holder, c.shares, c.instrument, c.par_value),
        (ALICE, 1_000, INST, 50)
    );
    assert_eq!(c.class, ShareClass::Common);
    assert_eq!(c.expiry, NOW + CERT_LIFETIME);
    assert_eq!(c.register_name, "Kabu Transfer Agent");
    assert_eq!(w.reg.id_table().state(c.id.serial), IdState::Live);
    let rec = w.reg.record(&c.id).expect("record");
    assert_eq!(
        (rec.holder, rec.shares, rec.dividend_account.as_str()),
        (ALICE, 1_000, "acct-100")
    );
    assert_eq!(w.reg.issued(INST), Some(1_000));
    w.reg.audit().expect("audit");
    // The certificate round-trips through its wire form.
    assert_eq!(Signed::from_bytes(&cert.to_bytes()).as_ref(), Ok(&cert));
    // A second certificate gets a different, unpredictable ID.
    let c2 = w.issue(ALICE, 5);
    assert_ne!(c2.body.id.tag, c.id.tag);
    assert_eq!(c2.body.id.serial, c.id.serial + 1);
}

#[test]
fn issue_refusals() {
    let mut w = World::with_policy(Policy {
        usage_limit: 50 * 500,
        per_order_max: 800,
        short_sale_ban: true,
    });
    // Tampered field after signing.
    let mut r = w.issue_req(ALICE, INST, 10);
    r.body.quantity = 20;
    assert_eq!(w.reg.issue(&r, NOW), Err(bad_sig()));
    // Wrong signer: Bob signs a request naming Alice.
    let seq = w.next_seq(BOB);
    let mut body = w.issue_req(ALICE, INST, 10).body;
    body.seq = seq;
    let r = w.sign(BOB, body.clone());
    assert_eq!(
        w.reg.issue(&r, NOW),
        Err(RegisterError::Identity(IdentityError::UserIdMismatch))
    );
    // Signed with Bob's key but claiming to be Alice.
    let mut r = w.sign(BOB, body);
    r.signer = ALICE;
    assert_eq!(w.reg.issue(&r, NOW), Err(bad_sig()));
    // Policy: per-order maximum, usage limit (500 shares at par 50).
    let r = w.issue_req(ALICE, INST, 801);
    assert!(matches!(
        w.reg.issue(&r, NOW),
        Err(RegisterError::Identity(IdentityError::PolicyViolation(_)))
    ));
    let r = w.issue_req(ALICE, INST, 501);
    assert!(matches!(
        w.reg.issue(&r, NOW),
        Err(RegisterError::Identity(IdentityError::PolicyViolation(_)))
    ));
    // Text too long for its wire field.
    let mut body = w.issue_req(ALICE, INST, 1).body;
    body.name_address = "x".repeat(257);
    let r = w.sign(ALICE, body);
    assert_eq!(w.reg.issue(&r, NOW), Err(RegisterError::TextTooLong));
    // Unknown instrument, zero quantity.
    let r = w.issue_req(ALICE, 99, 1);
    assert_eq!(w.reg.issue(&r, NOW), Err(RegisterError::UnknownInstrument));
    let r = w.issue_req(ALICE, INST, 0);
    assert_eq!(w.reg.issue(&r, NOW), Err(RegisterError::QuantityMismatch));
    // Wrong role: the exchange is not an investor.
    let seq = w.next_seq(EXCH);
    let mut body = w.issue_req(ALICE, INST, 1).body;
    body.user_id = EXCH;
    body.seq = seq;
    let r = w.sign(EXCH, body);
    assert_eq!(
        w.reg.issue(&r, NOW),
        Err(RegisterError::Identity(IdentityError::WrongRole))
    );
    // Expired attestation (and not yet valid).
    let r = w.issue_req(ALICE, INST, 1);
    assert_eq!(
        w.reg.issue(&r, ATT_END + 1),
        Err(RegisterError::Identity(IdentityError::Expired))
    );
    // Replay: accepted once, refused the second time.
    assert!(w.reg.issue(&r, NOW).is_ok());
    assert_eq!(
        w.reg.issue(&r, NOW),
        Err(RegisterError::Replay {
            last: r.body.seq,
            got: r.body.seq
        })
    );
    // An older sequence number is a replay too.
    let mut old = w.issue_req(ALICE, INST, 1);
    old.body.seq = 1;
    let old = w.sign(ALICE, old.body);
    assert!(matches!(
        w.reg.issue(&old, NOW),
        Err(RegisterError::Replay { .. })
    ));
    // Revoked attestation.
    let rev = w.ca.revoke(&[w.serials[&ALICE]], NOW);
    w.reg
        .identities_mut()
        .apply_revocation(&rev)
        .expect("revocation");
    let r = w.issue_req(ALICE, INST, 1);
    assert_eq!(
        w.reg.issue(&r, NOW),
        Err(RegisterError::Identity(IdentityError::Revoked))
    );
    // Unknown party.
    let mut r = w.issue_req(BOB, INST, 1);
    r.signer = 555;
    r.body.user_id = 555;
    assert_eq!(
        w.reg.issue(&r, NOW),
        Err(RegisterError::Identity(IdentityError::UnknownParty(555)))
    );
    // Exceeds authorized shares.
    let mut w = World::with_policy(Policy::UNLIMITED);
    let r = w.issue_req(BOB, INST, 1_000_001);
    assert_eq!(w.reg.issue(&r, NOW), Err(RegisterError::ExceedsAuthorized));
    // Refusals changed nothing.
    assert_eq!(w.reg.issued(INST), Some(0));
    w.reg.audit().expect("audit");
}

#[test]
fn signature_of_another_kind_is_refused() {
    let mut w = World::new();
    // A holdings inquiry's signature relabelled as a certificate request with
    // the same field bytes (u64, then a string/option, then u64) never verifies.
    let seq = w.next_seq(ALICE);
    let inq = w.sign(
        ALICE,
        HoldingsInquiry {
            user_id: ALICE,
            instrument: None,
            seq,
        },
    );
    let mut bytes = inq.to_bytes();
    bytes[1] = MsgKind::IssueRequest as u8;
    assert!(Signed::<IssueRequest>::from_bytes(&bytes).is_err());
    // Take an issue request's signature and attach it to the same bytes
    // presented as a different kind that decodes: a certificate request
    // built from the same fields.
    let req = w.issue_req(ALICE, INST, 10);
    let forged = Signed {
        body: CertificateRequest {
            user_id: ALICE,
            transfer_number: 1,
            dividend_account: String::new(),
            seq: 99,
        },
        signer: ALICE,
        signature: req.signature.clone(),
    };
    assert_eq!(w.reg.claim_certificate(&forged, NOW), Err(bad_sig()));
    // The label is part of the signature input: the same canonical bytes
    // signed under one label do not verify under another.
    let k = key(ALICE);
    let body = req.signed_bytes();
    let sig = k.sign(MsgKind::HoldingsInquiry, &body);
    assert!(k
        .public()
        .verify(MsgKind::IssueRequest, &body, &sig)
        .is_err());
    assert!(k
        .public()
        .verify(MsgKind::HoldingsInquiry, &body, &sig)
        .is_ok());
}

#[test]
fn full_transfer_and_claim() {
    let mut w = World::new();
    let cert = w.issue(ALICE, 1_000);
    let req = w.transfer_req(&cert, BOB, 1_000, 42);
    let resp = w.reg.transfer(&req, NOW).expect("transfer");
    assert!(resp.verify(&w.reg.public_key()).is_ok());
    assert_eq!(resp.body.match_number, 42);
    assert_eq!(resp.body.transfer_number, 1);
    assert_eq!(resp.body.request_hash, Digest::of(&req.to_bytes()));
    assert_eq!(resp.body.change_cert_id, None);
    let ids = w.reg.id_table();
    assert_eq!(ids.state(cert.body.id.serial), IdState::Spent);
    assert_eq!(ids.state(resp.body.new_cert_id.serial), IdState::Live);
    let t = &w.reg.transfers()[0];
    assert_eq!(
        (t.buyer, t.seller, t.quantity, t.old_cert_id),
        (BOB, ALICE, 1_000, cert.body.id)
    );
    // Only the named buyer may claim, once.
    assert_eq!(w.claim(CAROL, 1), Err(RegisterError::NotYourTransfer));
    assert_eq!(w.claim(ALICE, 1), Err(RegisterError::NotYourTransfer));
    assert_eq!(w.claim(BOB, 2), Err(RegisterError::UnknownTransfer));
    assert_eq!(w.claim(BOB, 0), Err(RegisterError::UnknownTransfer));
    let bc = w.claim(BOB, 1).expect("claim");
    assert_eq!(
        (bc.body.holder, bc.body.shares, bc.body.id),
        (BOB, 1_000, resp.body.new_cert_id)
    );
    assert_eq!(bc.body.certificate_number, cert.body.certificate_number);
    assert_eq!(
        w.reg.record(&bc.body.id).expect("rec").dividend_account,
        "acct-101"
    );
    assert_eq!(w.claim(BOB, 1), Err(RegisterError::AlreadyClaimed));
    // The old certificate is dead: a copy cannot be sold again.
    let again = w.transfer_req(&cert, CAROL, 1_000, 43);
    assert_eq!(
        w.reg.transfer(&again, NOW),
        Err(RegisterError::NotLive(IdState::Spent))
    );
    // Bob can sell on.
    let req = w.transfer_req(&bc, CAROL, 10, 44);
    assert!(w.reg.transfer(&req, NOW).is_ok());
    w.reg.audit().expect("audit");
}

#[test]
fn partial_transfer_creates_change() {
    let mut w = World::new();
    let cert = w.issue(ALICE, 1_000);
    let req = w.transfer_req(&cert, BOB, 300, 1);
    let resp = w.reg.transfer(&req, NOW).expect("transfer");
    let change = resp.body.change_cert_id.expect("change");
    let ids = w.reg.id_table();
    let (_, bf) = ids.get(resp.body.new_cert_id.serial).expect("buyer");
    let (_, cf) = ids.get(change.serial).expect("change");
    assert_eq!((bf.holder, bf.quantity), (BOB, 300));
    assert_eq!((cf.holder, cf.quantity), (ALICE, 700));
    assert_eq!(ids.outstanding(INST), 1_000);
    let ch = w.claim(ALICE, 1).expect("seller claims change");
    assert_eq!((ch.body.id, ch.body.shares), (change, 700));
    assert_eq!(w.claim(ALICE, 1), Err(RegisterError::AlreadyClaimed));
    let bc = w.claim(BOB, 1).expect("buyer claims");
    assert_eq!(bc.body.shares, 300);
    w.reg.audit().expect("audit");
}

#[test]
fn transfer_refusals() {
    let mut w = World::new();
    let cert = w.issue(ALICE, 1_000);
    let locked = {
        let r = w.issue_req(ALICE, LOCKED, 10);
        w.reg.issue(&r, NOW).expect("issue locked")
    };
    // Tampered certificate (more shares): its digest differs from the one
    // the register stored when it signed it (and its signature fails).
    let mut t = cert.clone();
    t.body.shares = 2_000;
    assert!(t.verify(&w.reg.public_key()).is_err());
    let r = w.transfer_req(&t, BOB, 1_500, 1);
    assert_eq!(w.reg.transfer(&r, NOW), Err(RegisterError::DigestMismatch));
    // Same certificate, signature bits flipped: digest differs too.
    let mut t = cert.clone();
    if let kabuken::crypto::MessageSignature::Single(s) = &mut t.signature {
        s.0[10] ^= 1;
    }
    let r = w.transfer_req(&t, BOB, 10, 1);
    assert_eq!(w.reg.transfer(&r, NOW), Err(RegisterError::DigestMismatch));
    // Tampered request field.
    let mut r = w.transfer_req(&cert, BOB, 100, 1);
    r.body.buyer = CAROL;
    assert_eq!(w.reg.transfer(&r, NOW), Err(bad_sig()));
    // Not from an exchange.
    let seq = w.next_seq(BOB);
    let mut body = w.transfer_req(&cert, BOB, 100, 1).body;
    body.exchange = BOB;
    body.seq = seq;
    let r = w.sign(BOB, body);
    assert_eq!(
        w.reg.transfer(&r, NOW),
        Err(RegisterError::Identity(IdentityError::WrongRole))
    );
    // Quantity above the certificate's, and zero.
    let r = w.transfer_req(&cert, BOB, 1_001, 1);
    assert_eq!(
        w.reg.transfer(&r, NOW),
        Err(RegisterError::QuantityMismatch)
    );
    let r = w.transfer_req(&cert, BOB, 0, 1);
    assert_eq!(
        w.reg.transfer(&r, NOW),
        Err(RegisterError::QuantityMismatch)
    );
    // Wrong holder: the request names Bob as seller.
    let mut r = w.transfer_req(&cert, CAROL, 10, 1);
    r.body.seller = BOB;
    let r = w.sign(EXCH, r.body);
    assert_eq!(w.reg.transfer(&r, NOW), Err(RegisterError::WrongHolder));
    // ID in the request differs from the certificate's.
    let other = w.issue(ALICE, 5);
    let mut r = w.transfer_req(&cert, BOB, 10, 1);
    r.body.cert_id = other.body.id;
    let r = w.sign(EXCH, r.body);
    assert_eq!(w.reg.transfer(&r, NOW), Err(RegisterError::Mismatch));
    // Expired certificate.
    let r = w.transfer_req(&cert, BOB, 10, 1);
    assert_eq!(
        w.reg.transfer(&r, NOW + CERT_LIFETIME + 1),
        Err(RegisterError::Cert(CertError::Expired))
    );
    // Transfer restriction.
    let r = w.transfer_req(&locked, BOB, 10, 1);
    assert_eq!(
        w.reg.transfer(&r, NOW),
        Err(RegisterError::Cert(CertError::Restricted))
    );
    // Unknown buyer.
    let r = w.transfer_req(&cert, 777, 10, 1);
    assert_eq!(
        w.reg.transfer(&r, NOW),
        Err(RegisterError::Identity(IdentityError::UnknownParty(777)))
    );
    // A certificate signed by someone else with a guessed ID.
    let mut fake = cert.body.clone();
    fake.id = CertId {
        serial: cert.body.id.serial + 100,
        tag: [0; 16],
    };
    let fake = w.sign(BOB, fake);
    let r = w.transfer_req(&fake, CAROL, 10, 1);
    assert_eq!(
        w.reg.transfer(&r, NOW),
        Err(RegisterError::Cert(CertError::WrongRegister))
    );
    // Replay of an accepted request.
    let r = w.transfer_req(&cert, BOB, 10, 1);
    let ok = w.reg.transfer(&r, NOW).expect("transfer");
    assert!(matches!(
        w.reg.transfer(&r, NOW),
        Err(RegisterError::Replay { .. })
    ));
    // Revoked exchange.
    let rev = w.ca.revoke(&[w.serials[&EXCH]], NOW);
    w.reg
        .identities_mut()
        .apply_revocation(&rev)
        .expect("revoke");
    let ch = w.claim(ALICE, ok.body.transfer_number).expect("change");
    let r = w.transfer_req(&ch, BOB, 10, 2);
    assert_eq!(
        w.reg.transfer(&r, NOW),
        Err(RegisterError::Identity(IdentityError::Revoked))
    );
    w.reg.audit().expect("audit");
    // Every refusal changed nothing: one transfer recorded, the ID list of
    // INST changed three times (two issues, one transfer), and only the
    // certificates of those operations were ever allocated.
    assert_eq!(w.reg.transfers().len(), 1);
    assert_eq!(w.reg.id_list_deltas(INST, 0).expect("deltas").len(), 3);
    assert_eq!(w.reg.id_table().allocated(), 5);
}

#[test]
fn direct_transfer_and_double_endorsement() {
    let mut w = World::new();
    let cert = w.issue(ALICE, 200);
    let reg_pk = w.reg.public_key();
    let e_bob = endorse(&cert, BOB, 11, &key(ALICE));
    let e_carol = endorse(&cert, CAROL, 12, &key(ALICE));
    // Offline verification by the recipient.
    assert_eq!(
        verify_endorsed(&cert, &e_bob, BOB, REG, &reg_pk, &key(ALICE).public(), NOW),
        Ok(())
    );
    assert_eq!(
        verify_endorsed(
            &cert,
            &e_bob,
            CAROL,
            REG,
            &reg_pk,
            &key(ALICE).public(),
            NOW
        ),
        Err(CertError::WrongRecipient)
    );
    let dreq = |w: &mut World, who: u64, e: &Signed<kabuken::certs::Endorsement>| {
        let seq = w.next_seq(who);
        w.sign(
            who,
            DirectTransferRequest {
                user_id: who,
                name_address: format!("holder {who}"),
                certificate: cert.clone(),
                endorsement: e.clone(),
                seq,
            },
        )
    };
    // Carol cannot use Bob's endorsement.
    let r = dreq(&mut w, CAROL, &e_bob);
    assert_eq!(
        w.reg.direct_transfer(&r, NOW),
        Err(RegisterError::Cert(CertError::WrongRecipient))
    );
    // An endorsement by someone other than the holder.
    let forged = endorse(&cert, CAROL, 13, &key(BOB));
    let r = dreq(&mut w, CAROL, &forged);
    assert!(matches!(
        w.reg.direct_transfer(&r, NOW),
        Err(RegisterError::Cert(_))
    ));
    // Bob's transfer goes through.
    let r = dreq(&mut w, BOB, &e_bob);
    let resp = w.reg.direct_transfer(&r, NOW).expect("direct transfer");
    assert_eq!(resp.body.match_number, 0);
    assert_eq!(resp.body.request_hash, r.digest());
    let bc = w.claim(BOB, resp.body.transfer_number).expect("claim");
    assert_eq!((bc.body.holder, bc.body.shares), (BOB, 200));
    // The same certificate endorsed to Carol transfers no more.
    let r = dreq(&mut w, CAROL, &e_carol);
    assert_eq!(
        w.reg.direct_transfer(&r, NOW),
        Err(RegisterError::NotLive(IdState::Spent))
    );
    w.reg.audit().expect("audit");
}

#[test]
fn holdings_inquiry() {
    let mut w = World::new();
    let a = w.issue(ALICE, 10);
    let b = w.issue(ALICE, 20);
    w.issue(BOB, 30);
    let seq = w.next_seq(ALICE);
    let q = w.sign(
        ALICE,
        HoldingsInquiry {
            user_id: ALICE,
            instrument: Some(INST),
            seq,
        },
    );
    let ans = w.reg.holdings(&q, NOW).expect("holdings");
    assert!(ans.verify(&w.reg.public_key()).is_ok());
    assert_eq!(ans.body.request_hash, q.digest());
    let ids: Vec<_> = ans
        .body
        .holdings
        .iter()
        .map(|h| (h.cert_id, h.shares))
        .collect();
    assert_eq!(ids, vec![(a.body.id, 10), (b.body.id, 20)]);
    assert!(matches!(
        w.reg.holdings(&q, NOW),
        Err(RegisterError::Replay { .. })
    ));
    let seq = w.next_seq(ALICE);
    let q = w.sign(
        ALICE,
        HoldingsInquiry {
            user_id: BOB,
            instrument: None,
            seq,
        },
    );
    assert_eq!(
        w.reg.holdings(&q, NOW),
        Err(RegisterError::Identity(IdentityError::UserIdMismatch))
    );
}

#[test]
fn reissue_lost_split_merge() {
    let mut w = World::new();
    let a = w.issue(ALICE, 100);
    // Lost: same holding, new ID, old ID spent.
    let r = w.reissue_req(ALICE, ReissueKind::Lost(a.body.id));
    let resp = w.reg.reissue(&r, NOW).expect("lost");
    assert_eq!(resp.body.retired, vec![a.body.id]);
    let a2 = &resp.body.certificates[0];
    assert_eq!((a2.body.shares, a2.body.holder), (100, ALICE));
    assert_eq!(a2.body.certificate_number, a.body.certificate_number);
    assert_ne!(a2.body.id, a.body.id);
    assert_eq!(w.reg.id_table().state(a.body.id.serial), IdState::Spent);
    // Split.
    let r = w.reissue_req(ALICE, ReissueKind::Split(a2.body.id, vec![60, 30, 10]));
    let resp = w.reg.reissue(&r, NOW).expect("split");
    let parts: Vec<_> = resp
        .body
        .certificates
        .iter()
        .map(|c| c.body.shares)
        .collect();
    assert_eq!(parts, vec![60, 30, 10]);
    // Merge two of them.
    let ids: Vec<_> = resp.body.certificates.iter().map(|c| c.body.id).collect();
    let r = w.reissue_req(ALICE, ReissueKind::Merge(vec![ids[0], ids[2]]));
    let m = w.reg.reissue(&r, NOW).expect("merge");
    assert_eq!(m.body.certificates[0].body.shares, 70);
    w.reg.audit().expect("audit");
    // Refusals.
    let r = w.reissue_req(ALICE, ReissueKind::Split(ids[1], vec![20, 5]));
    assert_eq!(w.reg.reissue(&r, NOW), Err(RegisterError::QuantityMismatch));
    let r = w.reissue_req(ALICE, ReissueKind::Split(ids[1], vec![30]));
    assert!(matches!(
        w.reg.reissue(&r, NOW),
        Err(RegisterError::BadReissue(_))
    ));
    let r = w.reissue_req(ALICE, ReissueKind::Split(ids[1], vec![30, 0]));
    assert!(matches!(
        w.reg.reissue(&r, NOW),
        Err(RegisterError::BadReissue(_))
    ));
    let r = w.reissue_req(ALICE, ReissueKind::Merge(vec![ids[1], ids[1]]));
    assert!(matches!(
        w.reg.reissue(&r, NOW),
        Err(RegisterError::BadReissue(_))
    ));
    // Spent input (already merged).
    let r = w.reissue_req(ALICE, ReissueKind::Merge(vec![ids[1], ids[0]]));
    assert_eq!(
        w.reg.reissue(&r, NOW),
        Err(RegisterError::NotLive(IdState::Spent))
    );
    // Not the holder.
    let r = w.reissue_req(BOB, ReissueKind::Lost(ids[1]));
    assert_eq!(w.reg.reissue(&r, NOW), Err(RegisterError::WrongHolder));
    // Forged and unknown IDs fail on the tag before any table lookup.
    let mut forged = ids[1];
    forged.tag[3] ^= 0x40;
    let r = w.reissue_req(ALICE, ReissueKind::Lost(forged));
    assert_eq!(w.reg.reissue(&r, NOW), Err(RegisterError::ForgedId));
    let r = w.reissue_req(
        ALICE,
        ReissueKind::Lost(CertId {
            serial: 9_999,
            tag: [7; 16],
        }),
    );
    assert_eq!(w.reg.reissue(&r, NOW), Err(RegisterError::ForgedId));
    // A well-tagged ID (minted with the register's secret) that was never
    // issued is unknown.
    let never = kabuken::certs::CertIdKey::from_bytes([0x5e; 32]).mint(INST, 60_000);
    let r = w.reissue_req(ALICE, ReissueKind::Lost(never));
    assert_eq!(w.reg.reissue(&r, NOW), Err(RegisterError::UnknownId));
    // A merge that fails on its second input leaves the first live.
    let r = w.reissue_req(ALICE, ReissueKind::Merge(vec![ids[1], ids[0]]));
    assert!(w.reg.reissue(&r, NOW).is_err());
    assert_eq!(w.reg.id_table().state(ids[1].serial), IdState::Live);
    w.reg.audit().expect("audit");
}

#[test]
fn id_list_snapshot_and_deltas() {
    let mut w = World::new();
    let a = w.issue(ALICE, 100);
    let snap = w.reg.id_list_snapshot(INST).expect("snapshot");
    let mut f = IdListFollower::new(INST, REG, w.reg.public_key());
    assert_eq!(
        f.apply_delta(&w.reg.id_list_deltas(INST, 0).expect("d")[0]),
        Err(ListError::NoSnapshot)
    );
    f.apply_snapshot(&snap).expect("apply snapshot");
    assert!(f.contains(&a.body.id, ALICE));
    let r = w.transfer_req(&a, BOB, 40, 1);
    w.reg.transfer(&r, NOW).expect("transfer");
    w.issue(CAROL, 5);
    let deltas = w
        .reg
        .id_list_deltas(INST, f.seq().expect("seq"))
        .expect("deltas")
        .to_vec();
    assert_eq!(deltas.len(), 2);
    // A gap is detected and changes nothing.
    assert_eq!(
        f.apply_delta(&deltas[1]),
        Err(ListError::Gap {
            expected: 2,
            got: 3
        })
    );
    // A forged delta is refused.
    let mut forged = deltas[0].clone();
    forged.body.added[0].holder = CAROL;
    assert!(matches!(f.apply_delta(&forged), Err(ListError::Crypto(_))));
    let not_reg = Signed::sign(deltas[0].body.clone(), REG, &key(ALICE));
    assert!(f.apply_delta(&not_reg).is_err());
    for d in &deltas {
        assert_eq!(f.apply_delta(d), Ok(true));
    }
    assert_eq!(f.apply_delta(&deltas[0]), Ok(false));
    assert!(!f.contains(&a.body.id, ALICE));
    // A replayed old snapshot would bring the spent ID back: refused.
    let old = snap.clone();
    assert_eq!(
        f.apply_snapshot(&old),
        Err(ListError::Stale { have: 3, got: 1 })
    );
    assert!(!f.contains(&a.body.id, ALICE));
    // The follower agrees with a fresh snapshot.
    let snap = w.reg.id_list_snapshot(INST).expect("snapshot");
    f.apply_snapshot(&snap).expect("same-age snapshot");
    assert_eq!(snap.body.seq, f.seq().expect("seq"));
    let mine: Vec<_> = f.entries().copied().collect();
    assert_eq!(mine, snap.body.entries);
    // Snapshot and deltas round-trip through their wire forms.
    assert_eq!(Signed::from_bytes(&snap.to_bytes()).as_ref(), Ok(&snap));
    assert_eq!(
        Signed::from_bytes(&deltas[0].to_bytes()).as_ref(),
        Ok(&deltas[0])
    );
}

/// Every message kind: truncation at every length, a trailing byte, and
/// byte flips never panic and never decode to a different valid message
/// that still verifies.
#[test]
fn malformed_bytes_are_refused() {
    let mut w = World::new();
    let a = w.issue(ALICE, 100);
    let tr = w.transfer_req(&a, BOB, 40, 1);
    let resp = w.reg.transfer(&tr, NOW).expect("transfer");
    let seq = w.next_seq(ALICE);
    let inq = w.sign(
        ALICE,
        HoldingsInquiry {
            user_id: ALICE,
            instrument: Some(INST),
            seq,
        },
    );
    let ans = w.reg.holdings(&inq, NOW).expect("holdings");
    let e = endorse(&a, BOB, 1, &key(ALICE));
    let ri = w.reissue_req(ALICE, ReissueKind::Split(a.body.id, vec![1, 2]));
    let ch = w.claim_req(BOB, 1);
    let snap = w.reg.id_list_snapshot(INST).expect("snap");
    let delta = w.reg.id_list_deltas(INST, 0).expect("d")[0].clone();
    let att =
        w.ca.issue(
            9,
            "Z",
            &key(9).public(),
            kabuken::crypto::Validity {
                not_before: 0,
                not_after: 1,
            },
            kabuken::identity::Role::Investor,
            Policy::UNLIMITED,
        )
        .expect("att");
    let rev = w.ca.revoke(&[1, 2], 3);
    let dt = w.sign(
        BOB,
        DirectTransferRequest {
            user_id: BOB,
            name_address: "b".into(),
            certificate: a.clone(),
            endorsement: e.clone(),
            seq: 1,
        },
    );
    let re = w.reg.sign(ReissueResponse {
        request_hash: ri.digest(),
        retired: vec![a.body.id],
        certificates: vec![a.clone()],
    });
    let samples: Vec<Vec<u8>> = vec![
        att.to_bytes(),
        rev.to_bytes(),
        a.to_bytes(),
        w.issue_req(ALICE, INST, 1).to_bytes(),
        tr.to_bytes(),
        resp.to_bytes(),
        ch.to_bytes(),
        e.to_bytes(),
        dt.to_bytes(),
        inq.to_bytes(),
        ans.to_bytes(),
        ri.to_bytes(),
        re.to_bytes(),
        snap.to_bytes(),
        delta.to_bytes(),
    ];
    let mut kinds = std::collections::HashSet::new();
    for bytes in &samples {
        let m = AnyMessage::decode(bytes).expect("valid sample decodes");
        assert_eq!(&m.to_bytes(), bytes, "canonical re-encoding");
        assert_eq!(
            m.verify(&key(m.signer()).public()),
            Ok(()),
            "sample verifies"
        );
        kinds.insert(bytes[1]);
        for n in 0..bytes.len() {
            assert!(
                AnyMessage::decode(&bytes[..n]).is_err(),
                "truncated to {n} decoded"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(AnyMessage::decode(&longer).is_err());
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x80;
            if let Ok(m2) = AnyMessage::decode(&b) {
                // Whatever decodes must re-encode to exactly these bytes,
                // and no longer verifies under its signer's key.
                assert_eq!(m2.to_bytes(), b);
                let signer = m.signer();
                assert!(
                    m2.verify(&key(signer).public()).is_err(),
                    "flip at {i} still verifies"
                );
            }
        }
    }
    // Every register-phase kind (1..=15); the exchange and settlement kinds
    // (16..) are covered by `exchange_phases.rs`.
    assert_eq!(
        kinds.len(),
        MsgKind::ALL
            .iter()
            .filter(|k| (**k as u8) <= MsgKind::IdListDelta as u8)
            .count(),
        "every register message kind covered"
    );
    // Bool and option tags other than 0/1 are refused.
    let mut wr = Writer::new();
    wr.u64(ALICE);
    wr.u8(2);
    wr.u64(1);
    assert!(HoldingsInquiry::decode(&mut Reader::new(wr.as_bytes())).is_err());
    let mut wr = Writer::new();
    Digest::of(b"x").encode(&mut wr);
    assert!(Digest::decode(&mut Reader::new(wr.as_bytes())).is_ok());
}

/// An exchange sharing the register's ID table reserves the seller's
/// certificate for its order; the transfer spends that reservation and the
/// change stays reserved to the same order.
#[test]
fn transfer_of_reserved_certificate_keeps_change_reserved() {
    let mut w = World::new();
    let cert = w.issue(ALICE, 1_000);
    let ids = w.reg.id_table();
    ids.reserve(cert.body.id.serial, 55).expect("reserve");
    // Without naming the order, or naming another, the transfer is refused.
    let r = w.transfer_req(&cert, BOB, 300, 1);
    assert_eq!(
        w.reg.transfer(&r, NOW),
        Err(RegisterError::NotLive(IdState::Reserved(55)))
    );
    let mut body = w.transfer_req(&cert, BOB, 300, 1).body;
    body.sell_order = Some(56);
    let r = w.sign(EXCH, body);
    assert_eq!(
        w.reg.transfer(&r, NOW),
        Err(RegisterError::NotLive(IdState::Reserved(55)))
    );
    // Reissue of a reserved certificate is refused too.
    let r = w.reissue_req(ALICE, ReissueKind::Lost(cert.body.id));
    assert_eq!(
        w.reg.reissue(&r, NOW),
        Err(RegisterError::NotLive(IdState::Reserved(55)))
    );
    let mut body = w.transfer_req(&cert, BOB, 300, 1).body;
    body.sell_order = Some(55);
    let r = w.sign(EXCH, body);
    assert_eq!(Signed::from_bytes(&r.to_bytes()).as_ref(), Ok(&r));
    let resp = w.reg.transfer(&r, NOW).expect("transfer");
    assert_eq!(ids.state(cert.body.id.serial), IdState::Spent);
    assert_eq!(ids.state(resp.body.new_cert_id.serial), IdState::Live);
    let change = resp.body.change_cert_id.expect("change");
    assert_eq!(ids.state(change.serial), IdState::Reserved(55));
    w.reg.audit().expect("audit");
    // The seller can still claim the change certificate.
    assert_eq!(
        w.claim(ALICE, resp.body.transfer_number)
            .expect("change")
            .body
            .shares,
        700
    );
}
