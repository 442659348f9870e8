//! Seed 001 end to end through the exchange: every phase, every refusal
//! path at reception, partial fills with change certificates, a copied
//! certificate, the register's refusal, and exact reservations through
//! cancel, reduce, modify and expiry.

use core::str::FromStr;

use kabuken::book::TimeInForce;
use kabuken::certs::{endorse, Certificate, IdState};
use kabuken::crypto::{Digest, Signed, UserId};
use kabuken::exchange::sim::{SimConfig, World, MID};
use kabuken::exchange::*;
use kabuken::register::{
    CertificateRequest, DirectTransferRequest, HoldingsInquiry, RegisterError, ReissueKind,
    ReissueRequest, TransferRequest, TransferResponse,
};
use kabuken::settle::AccountInquiry;
use kabuken::types::{Side, Ticks};
use rust_decimal::Decimal;

const A: UserId = 1000;
const B: UserId = 1001;
const C: UserId = 1002;
const I: u32 = 100;
const I2: u32 = 101;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn world_with(usage_limit: u64) -> World {
    World::new(SimConfig {
        seed: 11,
        investors: 4,
        instruments: 2,
        cash: 1_000_000,
        orders_hint: 100,
        usage_limit,
    })
}

fn world() -> World {
    world_with(1_000_000_000_000)
}

fn order(user: UserId, side: Side, price: Option<Ticks>, qty: u64) -> OrderRequest {
    OrderRequest {
        user_id: user,
        instrument: I,
        class: 0,
        side,
        price,
        quantity: qty,
        tif: if price.is_some() {
            TimeInForce::Gtc
        } else {
            TimeInForce::Ioc
        },
        post_only: false,
        certificates: Vec::new(),
        name_address: format!("Investor {user}, Tokyo"),
        account: user,
        cash_cap: None,
        seq: 0,
    }
}

fn submit(w: &mut World, req: &Signed<OrderRequest>) -> Answer {
    let now = w.now;
    w.exchange.submit(req, now, &mut w.register, &mut w.ledger)
}

fn refusal(w: &World, a: Answer) -> Refusal {
    let n = a.expect_err("refused");
    assert!(n.verify(&w.exchange.public_key()).is_ok(), "signed notice");
    Refusal::from_code(n.body.reason).expect("known code")
}

fn accepted(a: Answer) -> u64 {
    let r = a.unwrap_or_else(|e| panic!("refused: {:?}", Refusal::from_code(e.body.reason)));
    r.body.reception_number
}

/// Splits `user`'s certificate of `inst` into certificates of these sizes
/// (the rest in a last one).
fn split(w: &mut World, user: UserId, inst: u32, parts: &[u64]) -> Vec<Signed<Certificate>> {
    let mut wallet = w.take_wallet(user, inst);
    let c = wallet.pop().expect("a certificate");
    let mut sizes = parts.to_vec();
    let rest = c.body.shares - parts.iter().sum::<u64>();
    if rest > 0 {
        sizes.push(rest);
    }
    let req = w.sign_as(
        user,
        ReissueRequest {
            user_id: user,
            instrument: inst,
            kind: ReissueKind::Split(c.body.id, sizes),
            seq: 0,
        },
    );
    let now = w.now;
    let resp = w.register.reissue(&req, now).expect("split");
    assert_eq!(resp.body.retired, vec![c.body.id]);
    resp.body.certificates
}

fn sell(
    w: &mut World,
    user: UserId,
    price: Ticks,
    qty: u64,
    certs: Vec<Signed<Certificate>>,
) -> Answer {
    let mut o = order(user, Side::Sell, Some(price), qty);
    o.certificates = certs;
    let r = w.sign_as(user, o);
    submit(w, &r)
}

fn buy(w: &mut World, user: UserId, price: Ticks, qty: u64) -> Answer {
    let r = w.sign_as(user, order(user, Side::Buy, Some(price), qty));
    submit(w, &r)
}

fn invariants(w: &World) {
    if let Err(e) = w.exchange.check_invariants(&w.register, &w.ledger) {
        panic!("invariants: {e:#?}");
    }
}

#[test]
fn seed_001_every_phase() {
    let mut w = world();
    let ids = w.register.id_table();
    // Phase 1 happened in World::new: every investor holds 10,000 shares.
    let mut certs = split(&mut w, A, I, &[1_000]);
    let c1000 = certs.remove(0);
    assert_eq!(c1000.body.shares, 1_000);
    w.exchange.drain_outbox();
    // Phase 2: a signed sell order with its certificate; receipt with the
    // order's hash.
    let mut o = order(A, Side::Sell, Some(MID), 1_000);
    o.certificates = vec![c1000.clone()];
    let sreq = w.sign_as(A, o);
    let receipt = submit(&mut w, &sreq).expect("accepted");
    assert_eq!(receipt.body.request_hash, sreq.digest());
    assert_eq!(receipt.body.request_hash, Digest::of(&sreq.to_bytes()));
    assert!(receipt.verify(&w.exchange.public_key()).is_ok());
    let s = receipt.body.reception_number;
    assert_eq!(ids.state(c1000.body.id.serial), IdState::Reserved(s));
    // A buy of 300 at a better price: trades 300 at the maker's price.
    let b = accepted(buy(&mut w, B, MID + 5, 300));
    let m = w.exchange.matches().to_vec();
    assert_eq!(m.len(), 1);
    let m0 = &m[0];
    assert_eq!(
        (m0.buy_order, m0.sell_order, m0.quantity, m0.price),
        (b, s, 300, MID)
    );
    assert_eq!(m0.cert_id, c1000.body.id);
    // Invariant 4: the sold ID is spent, the buyer's (300) and the change
    // (700, still reserved to the open sell order) exist.
    assert_eq!(ids.state(c1000.body.id.serial), IdState::Spent);
    let change = m0.change_cert_id.expect("change");
    assert_eq!(ids.state(change.serial), IdState::Reserved(s));
    assert_eq!(ids.get(change.serial).unwrap().1.quantity, 700);
    assert_eq!(ids.get(m0.new_cert_id.serial).unwrap().1.holder, B);
    assert_eq!(w.exchange.order(s).unwrap().open, 700);
    assert_eq!(w.exchange.order(s).unwrap().certificate_shares(), 700);
    assert_eq!(w.exchange.order(b).unwrap().state, OrderState::Filled);
    // Completion notices to both parties, signed, with the transfer number.
    let out = w.exchange.drain_outbox();
    let notices: Vec<&Signed<CompletionNotice>> = out
        .iter()
        .filter_map(|o| match o {
            Outgoing::Completion(n) => Some(n),
            _ => None,
        })
        .collect();
    assert_eq!(notices.len(), 2);
    for n in &notices {
        assert!(n.verify(&w.exchange.public_key()).is_ok());
        assert_eq!(n.body.transfer_number, m0.transfer_number);
        assert_eq!(n.body.new_cert_id, m0.new_cert_id);
    }
    assert_eq!(
        notices.iter().map(|n| n.body.party).collect::<Vec<_>>(),
        vec![B, A]
    );
    // Settlement: the seller is paid 300 x 100.00, the buyer's price
    // improvement (0.05 x 300) released.
    assert_eq!(w.ledger.account(A).unwrap().available, d("1030000.00"));
    assert_eq!(w.ledger.account(B).unwrap().available, d("970000.00"));
    assert_eq!(w.ledger.account(B).unwrap().reserved, Decimal::ZERO);
    assert_eq!(w.ledger.settlements().len(), 1);
    // Phase 4: the buyer claims its certificate by transfer number; nobody
    // else can, and not twice.
    let now = w.now;
    let creq = w.sign_as(
        C,
        CertificateRequest {
            user_id: C,
            transfer_number: m0.transfer_number,
            dividend_account: "c".into(),
            seq: 0,
        },
    );
    assert_eq!(
        w.register.claim_certificate(&creq, now),
        Err(RegisterError::NotYourTransfer)
    );
    let creq = w.sign_as(
        B,
        CertificateRequest {
            user_id: B,
            transfer_number: m0.transfer_number,
            dividend_account: "b".into(),
            seq: 0,
        },
    );
    let bcert = w.register.claim_certificate(&creq, now).expect("claim");
    assert_eq!((bcert.body.holder, bcert.body.shares), (B, 300));
    assert_eq!(bcert.body.id, m0.new_cert_id);
    // Queries.
    assert_eq!(w.exchange.trades_of(A).count(), 1);
    let h = w.exchange.holdings_of(B);
    assert!(h
        .iter()
        .any(|x| x.serial == m0.new_cert_id.serial && x.shares == 300 && x.reserved_to.is_none()));
    let h = w.exchange.holdings_of(A);
    assert!(h
        .iter()
        .any(|x| x.serial == change.serial && x.shares == 700 && x.reserved_to == Some(s)));
    let st = w.exchange.order(s).unwrap();
    assert_eq!((st.state, st.filled, st.open), (OrderState::Open, 300, 700));
    assert_eq!(w.exchange.trades_of(C).count(), 0);
    let md = w.exchange.market_data(I, 5).unwrap();
    assert_eq!(md.best_ask, Some((MID, 700)));
    assert_eq!(md.last_price, Some(MID));
    assert_eq!(md.volume, 300);
    // The rest of the sell order fills against two buyers.
    accepted(buy(&mut w, C, MID, 200));
    accepted(buy(&mut w, B, MID + 1, 500));
    assert_eq!(w.exchange.order(s).unwrap().state, OrderState::Filled);
    assert_eq!(w.exchange.matches().len(), 3);
    invariants(&w);
    // Phase 5: B endorses the claimed certificate to C, who has it
    // transferred and claims the new one.
    let e = endorse(&bcert, C, 1, w.key(B).unwrap());
    let dreq = w.sign_as(
        C,
        DirectTransferRequest {
            user_id: C,
            name_address: "C, Osaka".into(),
            certificate: bcert.clone(),
            endorsement: e,
            seq: 0,
        },
    );
    let resp = w
        .register
        .direct_transfer(&dreq, now)
        .expect("direct transfer");
    let creq = w.sign_as(
        C,
        CertificateRequest {
            user_id: C,
            transfer_number: resp.body.transfer_number,
            dividend_account: "c".into(),
            seq: 0,
        },
    );
    let ccert = w.register.claim_certificate(&creq, now).expect("claim");
    assert_eq!((ccert.body.holder, ccert.body.shares), (C, 300));
    // B's old certificate cannot be sold any more.
    let r = sell(&mut w, B, MID, 300, vec![bcert]);
    assert_eq!(refusal(&w, r), Refusal::CertificateSpent);
    // Phase 6: inquiry and reissue.
    let q = w.sign_as(
        C,
        HoldingsInquiry {
            user_id: C,
            instrument: Some(I),
            seq: 0,
        },
    );
    let h = w.register.holdings(&q, now).expect("holdings");
    assert!(h.body.holdings.iter().any(|x| x.cert_id == ccert.body.id));
    let r = w.sign_as(
        C,
        ReissueRequest {
            user_id: C,
            instrument: I,
            kind: ReissueKind::Lost(ccert.body.id),
            seq: 0,
        },
    );
    let re = w.register.reissue(&r, now).expect("reissue");
    assert_eq!(re.body.certificates[0].body.shares, 300);
    // Account inquiry, signed both ways.
    let aq = w.sign_as_inquiry(A);
    let ans = w.ledger.inquiry(&aq).expect("inquiry");
    assert!(ans.verify(&w.ledger.public_key()).is_ok());
    assert_eq!(ans.body.available, d("1100000.00"));
    invariants(&w);
}

trait InquiryExt {
    fn sign_as_inquiry(&mut self, user: UserId) -> Signed<AccountInquiry>;
}
impl InquiryExt for World {
    fn sign_as_inquiry(&mut self, user: UserId) -> Signed<AccountInquiry> {
        let k = self.key(user).unwrap();
        Signed::sign(
            AccountInquiry {
                user_id: user,
                account: user,
                seq: 1,
            },
            user,
            k,
        )
    }
}

#[test]
fn copied_certificate_is_sold_once() {
    let mut w = world();
    let ids = w.register.id_table();
    let c = split(&mut w, A, I, &[100]).remove(0);
    let first = accepted(sell(&mut w, A, MID, 100, vec![c.clone()]));
    // The copy in a second order: refused at reception, nothing changed.
    let r = sell(&mut w, A, MID - 1, 100, vec![c.clone()]);
    assert_eq!(refusal(&w, r), Refusal::CertificateInUse);
    assert_eq!(ids.state(c.body.id.serial), IdState::Reserved(first));
    assert_eq!(w.exchange.book(I).unwrap().best_ask(), Some((MID, 100)));
    // After the first sells, the copy is refused because its ID is spent.
    accepted(buy(&mut w, B, MID, 100));
    assert_eq!(ids.state(c.body.id.serial), IdState::Spent);
    let r = sell(&mut w, A, MID, 100, vec![c]);
    assert_eq!(refusal(&w, r), Refusal::CertificateSpent);
    invariants(&w);
}

#[test]
fn every_reception_refusal_changes_nothing() {
    let mut w = world_with(5_000_000); // 50,000.00 of open buys
    let ids = w.register.id_table();
    let certs = split(&mut w, A, I, &[500, 100]);
    let (c500, c100) = (certs[0].clone(), certs[1].clone());
    let other = w.take_wallet(A, I2).remove(0);
    let bcert = w.take_wallet(B, I).remove(0);
    let snapshot = |w: &World| {
        (
            w.ledger.reservation_count(),
            w.ledger.account(A).unwrap().clone(),
            w.ledger.account(B).unwrap().clone(),
            ids.state(c500.body.id.serial),
            ids.state(c100.body.id.serial),
            w.exchange.book(I).unwrap().state_hash(),
        )
    };
    let before = snapshot(&w);
    let check = |w: &mut World, req: Signed<OrderRequest>, want: Refusal| {
        let r = submit(w, &req);
        assert_eq!(refusal(w, r), want);
        assert_eq!(snapshot(w), before, "{want:?} changed something");
    };
    // Signature: tampered, forged, unknown party, user id mismatch.
    let mut r = w.sign_as(B, order(B, Side::Buy, Some(MID), 100));
    r.body.quantity = 200;
    check(&mut w, r, Refusal::BadSignature);
    let mut r = w.sign_as(B, order(B, Side::Buy, Some(MID), 100));
    if let kabuken::crypto::MessageSignature::Single(s) = &mut r.signature {
        s.0[0] ^= 1;
    }
    check(&mut w, r, Refusal::BadSignature);
    let r = Signed::sign(order(77, Side::Buy, Some(MID), 100), 77, w.key(B).unwrap());
    check(&mut w, r, Refusal::UnknownParty);
    let r = w.sign_as(B, order(C, Side::Buy, Some(MID), 100));
    check(&mut w, r, Refusal::UserIdMismatch);
    // Replay of an accepted order.
    let ok = w.sign_as(C, order(C, Side::Buy, Some(MID - 500), 10));
    let c_order = accepted(submit(&mut w, &ok));
    let before_c = snapshot(&w);
    let r = submit(&mut w, &ok);
    assert_eq!(refusal(&w, r), Refusal::Replay);
    assert_eq!(snapshot(&w), before_c);
    let mut stale = ok.body.clone();
    stale.seq = 1;
    let r = Signed::sign(stale, C, w.key(C).unwrap());
    let r = submit(&mut w, &r);
    assert_eq!(refusal(&w, r), Refusal::Replay);
    let cancel = w.sign_as(
        C,
        CancelRequest {
            user_id: C,
            reception_number: c_order,
            seq: 0,
        },
    );
    let now = w.now;
    w.exchange
        .cancel(&cancel, now, &mut w.register, &mut w.ledger)
        .expect("cancel");
    let before = snapshot(&w);
    let check = |w: &mut World, req: Signed<OrderRequest>, want: Refusal| {
        let r = submit(w, &req);
        assert_eq!(refusal(w, r), want);
        assert_eq!(snapshot(w), before, "{want:?} changed something");
    };
    // Unknown instrument; certificates on a buy.
    let mut o = order(A, Side::Buy, Some(MID), 100);
    o.instrument = 999;
    let r = w.sign_as(A, o);
    check(&mut w, r, Refusal::UnknownInstrument);
    let mut o = order(A, Side::Buy, Some(MID), 100);
    o.certificates = vec![c100.clone()];
    let r = w.sign_as(A, o);
    check(&mut w, r, Refusal::CertificatesOnBuy);
    // Certificates: tampered (digest), duplicated, other instrument, wrong
    // class, not the seller's.
    let mut t = c500.clone();
    t.body.shares = 5_000;
    let mut o = order(A, Side::Sell, Some(MID), 500);
    o.certificates = vec![t];
    let r = w.sign_as(A, o);
    check(&mut w, r, Refusal::CertificateNotRecognised);
    let mut o = order(A, Side::Sell, Some(MID), 200);
    o.certificates = vec![c100.clone(), c100.clone()];
    let r = w.sign_as(A, o);
    check(&mut w, r, Refusal::DuplicateCertificate);
    let mut o = order(A, Side::Sell, Some(MID), 100);
    o.certificates = vec![other];
    let r = w.sign_as(A, o);
    check(&mut w, r, Refusal::CertificateMismatch);
    let mut o = order(A, Side::Sell, Some(MID), 100);
    o.certificates = vec![c100.clone()];
    o.class = 1;
    let r = w.sign_as(A, o);
    check(&mut w, r, Refusal::CertificateMismatch);
    let mut o = order(A, Side::Sell, Some(MID), 100);
    o.certificates = vec![bcert];
    let r = w.sign_as(A, o);
    check(&mut w, r, Refusal::NotHolder);
    // Policy: per-order maximum, value limit, short sale.
    let r = w.sign_as(B, order(B, Side::Buy, Some(MID), 10_010));
    check(&mut w, r, Refusal::PolicyQuantity);
    let r = w.sign_as(B, order(B, Side::Buy, Some(MID), 5_010));
    check(&mut w, r, Refusal::PolicyValue);
    let mut o = order(A, Side::Sell, Some(MID), 600);
    o.certificates = vec![c500.clone()];
    let r = w.sign_as(A, o);
    check(&mut w, r, Refusal::InsufficientCertificates);
    // Instrument rules.
    let r = w.sign_as(B, order(B, Side::Buy, Some(MID), 0));
    check(&mut w, r, Refusal::InvalidQuantity);
    let r = w.sign_as(B, order(B, Side::Buy, Some(MID), 15));
    check(&mut w, r, Refusal::LotSize);
    let r = w.sign_as(B, order(B, Side::Buy, Some(MID + 1_001), 10));
    check(&mut w, r, Refusal::PriceOutOfBand);
    let mut o = order(B, Side::Buy, None, 10);
    o.tif = TimeInForce::Gtc;
    let r = w.sign_as(B, o);
    check(&mut w, r, Refusal::InvalidOrderType);
    let mut o = order(B, Side::Buy, None, 10);
    o.cash_cap = Some(d("1000"));
    let r = w.sign_as(B, o);
    check(&mut w, r, Refusal::CashCapExceeded);
    // Accounts: unknown, someone else's.
    let mut o = order(B, Side::Buy, Some(MID), 10);
    o.account = 5;
    let r = w.sign_as(B, o);
    check(&mut w, r, Refusal::UnknownAccount);
    let mut o = order(B, Side::Buy, Some(MID), 10);
    o.account = A;
    let r = w.sign_as(B, o);
    check(&mut w, r, Refusal::NotAccountOwner);
    // Post-only that would cross; GTD already expired.
    accepted(sell(&mut w, A, MID, 100, vec![c100.clone()]));
    let before2 = snapshot(&w);
    let mut o = order(B, Side::Buy, Some(MID), 10);
    o.post_only = true;
    let r = w.sign_as(B, o);
    let r = submit(&mut w, &r);
    assert_eq!(refusal(&w, r), Refusal::PostOnlyWouldCross);
    let mut o = order(B, Side::Buy, Some(MID - 10), 10);
    o.tif = TimeInForce::Gtd(0);
    let r = w.sign_as(B, o);
    let r = submit(&mut w, &r);
    assert_eq!(refusal(&w, r), Refusal::AlreadyExpired);
    assert_eq!(snapshot(&w), before2);
    // Insufficient funds.
    w.ledger.withdraw(B, d("999990")).expect("withdraw");
    let r = buy(&mut w, B, MID - 10, 10);
    assert_eq!(refusal(&w, r), Refusal::InsufficientFunds);
    // Amendments of someone else's order, or of an unknown one.
    let s = w
        .exchange
        .open_orders_of(A)
        .next()
        .unwrap()
        .reception_number;
    let cancel = w.sign_as(
        B,
        CancelRequest {
            user_id: B,
            reception_number: s,
            seq: 0,
        },
    );
    let now = w.now;
    let r = w
        .exchange
        .cancel(&cancel, now, &mut w.register, &mut w.ledger);
    assert_eq!(refusal(&w, r), Refusal::UnknownOrder);
    let cancel = w.sign_as(
        B,
        CancelRequest {
            user_id: B,
            reception_number: 999,
            seq: 0,
        },
    );
    let r = w
        .exchange
        .cancel(&cancel, now, &mut w.register, &mut w.ledger);
    assert_eq!(refusal(&w, r), Refusal::UnknownOrder);
    // An expired certificate (the attestation is still valid).
    let late = u64::MAX / 4 + 100;
    let mut o = order(A, Side::Sell, Some(MID), 500);
    o.certificates = vec![c500];
    let r = w.sign_as(A, o);
    let r = w.exchange.submit(&r, late, &mut w.register, &mut w.ledger);
    assert_eq!(refusal(&w, r), Refusal::CertificateExpired);
    invariants(&w);
}

/// A register that refuses every transfer while `refuse` is set.
struct Flaky<'a> {
    inner: &'a mut kabuken::register::Register,
    refuse: bool,
}
impl RegisterLink for Flaky<'_> {
    fn transfer(
        &mut self,
        req: &Signed<TransferRequest>,
        now: u64,
    ) -> Result<Signed<TransferResponse>, RegisterError> {
        if self.refuse {
            return Err(RegisterError::WrongHolder);
        }
        self.inner.transfer(req, now)
    }
    fn certificate(&self, id: &kabuken::certs::CertId) -> Option<Signed<Certificate>> {
        self.inner.certificate(id).cloned()
    }
}

#[test]
fn register_refusal_puts_the_buy_back_and_tells_the_seller() {
    let mut w = world();
    let ids = w.register.id_table();
    let mut cs = split(&mut w, A, I, &[300]);
    let c = cs.remove(0);
    let s = accepted(sell(&mut w, A, MID, 300, vec![c.clone()]));
    w.exchange.drain_outbox();
    // Incoming buy (taker) meets the sell; the register refuses.
    let req = w.sign_as(B, order(B, Side::Buy, Some(MID + 2), 300));
    let now = w.now;
    let mut flaky = Flaky {
        inner: &mut w.register,
        refuse: true,
    };
    let b = w
        .exchange
        .submit(&req, now, &mut flaky, &mut w.ledger)
        .expect("accepted")
        .body
        .reception_number;
    assert!(w.exchange.matches().is_empty());
    assert_eq!(w.exchange.stats().register_refusals, 1);
    // The seller: order cancelled, told the certificate is invalid, the
    // certificate released to it.
    assert_eq!(w.exchange.order(s).unwrap().state, OrderState::Cancelled);
    assert_eq!(ids.state(c.body.id.serial), IdState::Live);
    let out = w.exchange.drain_outbox();
    assert!(out.iter().any(|o| matches!(o, Outgoing::Error(n)
        if n.body.user_id == A && n.body.reception_number == s
            && n.body.reason == Refusal::CertificateInvalid.code())));
    assert!(out.iter().any(
        |o| matches!(o, Outgoing::Released { user, certificates, .. }
        if *user == A && certificates.len() == 1)
    ));
    // The buyer: back in the book for the whole quantity, cash still held.
    let bo = w.exchange.order(b).unwrap();
    assert_eq!((bo.state, bo.open), (OrderState::Open, 300));
    assert_eq!(w.exchange.book(I).unwrap().best_bid(), Some((MID + 2, 300)));
    assert_eq!(w.ledger.reserved_for(b), Some(d("30006")));
    invariants(&w);
    // A resting buy, an incoming sell refused by the real register (the
    // seller's attestation revoked there): the buy keeps its quantity.
    let c2 = cs;
    let serial = w.exchange_serial_of(A);
    let rev = w.ca.revoke(&[serial], 0);
    w.register.identities_mut().apply_revocation(&rev).unwrap();
    let mut o = order(A, Side::Sell, Some(MID), 100);
    o.certificates = c2;
    let r = w.sign_as(A, o);
    let s2 = accepted(submit(&mut w, &r));
    assert_eq!(w.exchange.order(s2).unwrap().state, OrderState::Cancelled);
    let bo = w.exchange.order(b).unwrap();
    assert_eq!((bo.state, bo.open), (OrderState::Open, 300));
    assert!(w.exchange.matches().is_empty());
    assert_eq!(w.exchange.stats().register_refusals, 2);
    invariants(&w);
}

trait SerialExt {
    fn exchange_serial_of(&self, user: UserId) -> u64;
}
impl SerialExt for World {
    fn exchange_serial_of(&self, user: UserId) -> u64 {
        self.register
            .identities()
            .party(user, 1)
            .unwrap()
            .attestation
            .body
            .serial
    }
}

#[test]
fn amendments_and_expiry_keep_reservations_exact() {
    let mut w = world();
    let ids = w.register.id_table();
    // Buy: reduce, modify up and down, cancel.
    let b = accepted(buy(&mut w, B, MID - 100, 500));
    assert_eq!(w.ledger.reserved_for(b), Some(d("49500")));
    let now = w.now;
    let r = w.sign_as(
        B,
        ReduceRequest {
            user_id: B,
            reception_number: b,
            by: 200,
            seq: 0,
        },
    );
    w.exchange
        .reduce(&r, now, &mut w.register, &mut w.ledger)
        .expect("reduce");
    assert_eq!(w.ledger.reserved_for(b), Some(d("29700")));
    let r = w.sign_as(
        B,
        ModifyRequest {
            user_id: B,
            reception_number: b,
            price: MID - 50,
            quantity: 400,
            seq: 0,
        },
    );
    w.exchange
        .modify(&r, now, &mut w.register, &mut w.ledger)
        .expect("modify");
    assert_eq!(w.ledger.reserved_for(b), Some(d("39800")));
    let r = w.sign_as(
        B,
        ModifyRequest {
            user_id: B,
            reception_number: b,
            price: MID - 200,
            quantity: 100,
            seq: 0,
        },
    );
    w.exchange
        .modify(&r, now, &mut w.register, &mut w.ledger)
        .expect("modify");
    assert_eq!(w.ledger.reserved_for(b), Some(d("9800")));
    invariants(&w);
    let r = w.sign_as(
        B,
        CancelRequest {
            user_id: B,
            reception_number: b,
            seq: 0,
        },
    );
    w.exchange
        .cancel(&r, now, &mut w.register, &mut w.ledger)
        .expect("cancel");
    assert_eq!(w.ledger.reserved_for(b), None);
    assert_eq!(w.exchange.order(b).unwrap().state, OrderState::Cancelled);
    assert_eq!(w.ledger.account(B).unwrap().available, d("1000000"));
    // Sell: reduce keeps the certificates; modify beyond them refused.
    let c = split(&mut w, A, I, &[300]).remove(0);
    let s = accepted(sell(&mut w, A, MID + 100, 300, vec![c.clone()]));
    let r = w.sign_as(
        A,
        ReduceRequest {
            user_id: A,
            reception_number: s,
            by: 100,
            seq: 0,
        },
    );
    w.exchange
        .reduce(&r, now, &mut w.register, &mut w.ledger)
        .expect("reduce");
    assert_eq!(ids.state(c.body.id.serial), IdState::Reserved(s));
    let r = w.sign_as(
        A,
        ModifyRequest {
            user_id: A,
            reception_number: s,
            price: MID + 100,
            quantity: 400,
            seq: 0,
        },
    );
    let r = w.exchange.modify(&r, now, &mut w.register, &mut w.ledger);
    assert_eq!(refusal(&w, r), Refusal::InsufficientCertificates);
    invariants(&w);
    // A modify that crosses trades as taker at the maker's price.
    let b2 = accepted(buy(&mut w, C, MID, 100));
    let r = w.sign_as(
        C,
        ModifyRequest {
            user_id: C,
            reception_number: b2,
            price: MID + 150,
            quantity: 100,
            seq: 0,
        },
    );
    w.exchange
        .modify(&r, now, &mut w.register, &mut w.ledger)
        .expect("modify");
    let m = w.exchange.matches().last().unwrap().clone();
    assert_eq!((m.price, m.quantity, m.buy_order), (MID + 100, 100, b2));
    assert_eq!(w.ledger.reserved_for(b2), None);
    assert_eq!(w.ledger.account(C).unwrap().available, d("989900"));
    invariants(&w);
    // GTD and day orders expire and release.
    let mut o = order(B, Side::Buy, Some(MID - 10), 10);
    o.tif = TimeInForce::Gtd(now + 5);
    let r = w.sign_as(B, o);
    let g = accepted(submit(&mut w, &r));
    let mut o = order(B, Side::Buy, Some(MID - 10), 10);
    o.tif = TimeInForce::Day;
    let r = w.sign_as(B, o);
    let dy = accepted(submit(&mut w, &r));
    w.exchange
        .advance_time(now + 10, &mut w.register, &mut w.ledger);
    assert_eq!(w.exchange.order(g).unwrap().state, OrderState::Expired);
    assert_eq!(w.exchange.order(dy).unwrap().state, OrderState::Open);
    w.exchange
        .expire_day(now + 11, &mut w.register, &mut w.ledger);
    assert_eq!(w.exchange.order(dy).unwrap().state, OrderState::Expired);
    assert_eq!(w.ledger.reserved_for(g), None);
    assert_eq!(w.ledger.reserved_for(dy), None);
    invariants(&w);
}

#[test]
fn market_orders_ioc_fok_and_price_improvement() {
    let mut w = world();
    let certs = split(&mut w, A, I, &[100, 100]);
    accepted(sell(&mut w, A, MID, 100, vec![certs[0].clone()]));
    accepted(sell(&mut w, A, MID + 10, 100, vec![certs[1].clone()]));
    // FOK for more than there is: killed, cash released.
    let mut o = order(B, Side::Buy, Some(MID + 10), 300);
    o.tif = TimeInForce::Fok;
    let r = w.sign_as(B, o);
    let f = accepted(submit(&mut w, &r));
    assert_eq!(w.exchange.order(f).unwrap().state, OrderState::Cancelled);
    assert_eq!(w.ledger.reservation_count(), 0);
    // A market buy with a cap covering the band's top: sweeps both levels,
    // pays exactly, releases the rest.
    let mut o = order(B, Side::Buy, None, 150);
    o.cash_cap = Some(d("16500"));
    let r = w.sign_as(B, o);
    let m = accepted(submit(&mut w, &r));
    assert_eq!(w.exchange.order(m).unwrap().filled, 150);
    assert_eq!(
        w.ledger.account(B).unwrap().available,
        d("1000000") - d("10000") - d("5005")
    );
    assert_eq!(w.ledger.account(B).unwrap().reserved, Decimal::ZERO);
    // IOC remainder cancelled.
    let mut o = order(C, Side::Buy, Some(MID + 10), 100);
    o.tif = TimeInForce::Ioc;
    let r = w.sign_as(C, o);
    let i = accepted(submit(&mut w, &r));
    let rec = w.exchange.order(i).unwrap();
    assert_eq!((rec.filled, rec.state), (50, OrderState::Cancelled));
    assert_eq!(
        w.ledger.account(C).unwrap().available,
        d("1000000") - d("5005")
    );
    invariants(&w);
}

#[test]
fn every_new_message_round_trips_and_decodes_strictly() {
    let mut w = world();
    let c = split(&mut w, A, I, &[100]).remove(0);
    let mut o = order(A, Side::Sell, Some(MID), 100);
    o.certificates = vec![c];
    o.tif = TimeInForce::Gtd(99);
    o.cash_cap = Some(d("12.5"));
    let k = w.key(A).unwrap();
    let msgs: Vec<Vec<u8>> = vec![
        Signed::sign(o, A, k).to_bytes(),
        Signed::sign(
            CancelRequest {
                user_id: A,
                reception_number: 1,
                seq: 2,
            },
            A,
            k,
        )
        .to_bytes(),
        Signed::sign(
            ReduceRequest {
                user_id: A,
                reception_number: 1,
                by: 3,
                seq: 2,
            },
            A,
            k,
        )
        .to_bytes(),
        Signed::sign(
            ModifyRequest {
                user_id: A,
                reception_number: 1,
                price: -4,
                quantity: 3,
                seq: 2,
            },
            A,
            k,
        )
        .to_bytes(),
        Signed::sign(
            ReceptionReceipt {
                user_id: A,
                reception_number: 1,
                request_kind: 2,
                request_hash: Digest::of(b"x"),
            },
            3,
            k,
        )
        .to_bytes(),
        Signed::sign(
            ErrorNotice {
                user_id: A,
                request_hash: Digest::of(b"x"),
                reception_number: 0,
                reason: 7,
            },
            3,
            k,
        )
        .to_bytes(),
        Signed::sign(
            AccountInquiry {
                user_id: A,
                account: 1,
                seq: 1,
            },
            A,
            k,
        )
        .to_bytes(),
        Signed::sign(
            CompletionNotice {
                party: A,
                reception_number: 1,
                side: Side::Sell,
                match_number: 2,
                transfer_number: 3,
                instrument: I,
                quantity: 4,
                price: MID,
                new_cert_id: kabuken::certs::CertId {
                    serial: 5,
                    tag: [6; 16],
                },
                change_cert_id: Some(kabuken::certs::CertId {
                    serial: 7,
                    tag: [8; 16],
                }),
            },
            3,
            k,
        )
        .to_bytes(),
        Signed::sign(
            kabuken::settle::SettlementRequest {
                exchange: 3,
                match_number: 1,
                buy_order: 2,
                amount: d("1234.5"),
                release: d("0.05"),
                buyer_account: 4,
                seller_account: 5,
                seq: 6,
            },
            3,
            k,
        )
        .to_bytes(),
        Signed::sign(
            kabuken::settle::AccountAnswer {
                account: 1,
                owner: A,
                available: d("-0.01"),
                reserved: Decimal::ZERO,
                request_hash: Digest::of(b"q"),
            },
            4,
            k,
        )
        .to_bytes(),
    ];
    let mut kinds = std::collections::BTreeSet::new();
    for b in msgs {
        let m = AnyMessage::decode(&b).expect("decodes");
        kinds.insert(b[1]);
        assert_eq!(m.to_bytes(), b);
        assert!(m.verify(&k.public()).is_ok());
        let mut t = b.clone();
        t.push(0);
        assert!(AnyMessage::decode(&t).is_err());
        for n in 0..b.len() {
            assert!(AnyMessage::decode(&b[..n]).is_err(), "truncated to {n}");
        }
        // Whatever decodes after a bit flip re-encodes exactly and no
        // longer verifies.
        for i in 0..b.len() {
            let mut f = b.clone();
            f[i] ^= 0x80;
            if let Ok(m2) = AnyMessage::decode(&f) {
                assert_eq!(m2.to_bytes(), f);
                assert!(m2.verify(&k.public()).is_err(), "flip at {i} verifies");
            }
        }
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<u8>>(),
        (16..=25).collect::<Vec<u8>>(),
        "every exchange and settlement kind covered"
    );
}

/// The out-of-band seam: a hook that holds every order above a size.
struct HoldLarge;
impl ReceptionHook for HoldLarge {
    fn admit(&mut self, order: &Signed<OrderRequest>, _reception: u64, _now: u64) -> bool {
        order.body.quantity < 1_000
    }
}

#[test]
fn reception_hook_refuses_and_releases() {
    let mut w = world();
    let ids = w.register.id_table();
    w.exchange.set_reception_hook(Box::new(HoldLarge));
    let c = split(&mut w, A, I, &[1_000]).remove(0);
    let r = sell(&mut w, A, MID, 1_000, vec![c.clone()]);
    assert_eq!(refusal(&w, r), Refusal::OutOfBand);
    assert_eq!(ids.state(c.body.id.serial), IdState::Live);
    let r = buy(&mut w, B, MID, 1_000);
    assert_eq!(refusal(&w, r), Refusal::OutOfBand);
    assert_eq!(w.ledger.reservation_count(), 0);
    accepted(buy(&mut w, B, MID, 990));
    invariants(&w);
}

#[test]
fn identity_and_restriction_refusals() {
    use kabuken::certs::{ShareClass, TransferRestriction};
    use kabuken::register::{InstrumentConfig, IssueRequest};
    let mut w = world();
    // A non-transferable instrument, listed on both sides.
    w.register
        .add_instrument(InstrumentConfig {
            instrument: 900,
            company_name: "Locked KK".into(),
            company_founded: 19_500_101,
            par_value: 50,
            authorized: 1_000_000,
            restriction: TransferRestriction::NonTransferable,
            conditions: "employee shares".into(),
        })
        .unwrap();
    let spec = *w.exchange.spec(I).unwrap();
    w.exchange
        .add_instrument(InstrumentSpec {
            instrument: 900,
            ..spec
        })
        .unwrap();
    let req = w.sign_as(
        A,
        IssueRequest {
            user_id: A,
            name_address: "A".into(),
            instrument: 900,
            class: ShareClass::Common,
            quantity: 100,
            dividend_account: "a".into(),
            seq: 0,
        },
    );
    let now = w.now;
    let locked = w.register.issue(&req, now).unwrap();
    let mut o = order(A, Side::Sell, Some(MID), 100);
    o.instrument = 900;
    o.certificates = vec![locked];
    let r = w.sign_as(A, o);
    let r = submit(&mut w, &r);
    assert_eq!(refusal(&w, r), Refusal::TransferRestricted);
    // A party that is not an investor cannot order.
    let reg_key = w.party_key(2);
    let r = Signed::sign(order(2, Side::Buy, Some(MID), 10), 2, &reg_key);
    let r = submit(&mut w, &r);
    assert_eq!(refusal(&w, r), Refusal::WrongRole);
    // An attestation past its window; a revoked one.
    let r = w.sign_as(B, order(B, Side::Buy, Some(MID), 10));
    let r = w
        .exchange
        .submit(&r, u64::MAX / 2 + 1, &mut w.register, &mut w.ledger);
    assert_eq!(refusal(&w, r), Refusal::AttestationExpired);
    let serial = w.exchange_serial_of(B);
    let rev = w.ca.revoke(&[serial], 0);
    w.exchange.identities_mut().apply_revocation(&rev).unwrap();
    let r = buy(&mut w, B, MID, 10);
    assert_eq!(refusal(&w, r), Refusal::AttestationRevoked);
    assert_eq!(w.ledger.reservation_count(), 0);
    invariants(&w);
}

/// A buy whose value does not fit a decimal is refused (`overflow`) and
/// changes nothing.
#[test]
fn a_buy_whose_value_overflows_is_refused() {
    let mut w = world();
    let spec = *w.exchange.spec(I).unwrap();
    w.exchange
        .add_instrument(InstrumentSpec {
            instrument: 901,
            // A tick of 10^12 currency units: the top of the band is worth
            // more than a decimal holds.
            tick: kabuken::types::PriceScale::new(Decimal::from(1_000_000_000_000u64)).unwrap(),
            band_high: i64::MAX / 2,
            ..spec
        })
        .unwrap();
    let book_before = w.exchange.book(901).unwrap().state_hash();
    let reservations = w.ledger.reservation_count();
    let account = w.ledger.account(B).unwrap().clone();
    let body = OrderRequest {
        instrument: 901,
        ..order(B, Side::Buy, Some(i64::MAX / 2), spec.lot_size)
    };
    let r = w.sign_as(B, body);
    let a = submit(&mut w, &r);
    assert_eq!(refusal(&w, a), Refusal::Overflow);
    assert_eq!(w.exchange.book(901).unwrap().state_hash(), book_before);
    assert_eq!(w.ledger.reservation_count(), reservations);
    assert_eq!(w.ledger.account(B).unwrap(), &account);
    invariants(&w);
}
