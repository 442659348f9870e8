//! Issue 6 item 5: the exchange consults `oob` at order reception. Every
//! outcome end to end through [`OobGate`]: a confirmed order trades with its
//! reception number; cancel, duress, lockout and expiry leave no reservation
//! and no book entry; the duress answer equals the confirm answer byte for
//! byte; orders below the threshold, and non-contractors, go straight
//! through. `check_invariants` after every step.

use std::sync::{Arc, Mutex};

use kabuken::book::TimeInForce;
use kabuken::certs::{Certificate, IdState};
use kabuken::crypto::{Signed, UserId};
use kabuken::exchange::oob_gate::{GateHost, OobGate};
use kabuken::exchange::sim::{SimConfig, World, MID};
use kabuken::exchange::*;
use kabuken::oob::{self, *};
use kabuken::register::{ReissueKind, ReissueRequest};
use kabuken::types::{Side, Ticks};
use rand_chacha::{rand_core::SeedableRng, ChaCha20Rng};

const A: UserId = 1000;
const B: UserId = 1001;
const C: UserId = 1002;
const I: u32 = 100;
/// 500 shares at MID (10,000 ticks) = 5,000,000.
const THRESHOLD: u64 = 5_000_000;

/// The holder's devices and the alarm: keeps every confirmation sent.
#[derive(Default)]
struct Holder {
    codes: Mutex<Vec<ConfirmationInfo>>,
    lockouts: Mutex<u32>,
    alarms: Mutex<Vec<DuressReport>>,
}
impl DeliveryChannel for Holder {
    fn deliver(&self, _: &Device, n: &Notice<'_>) -> Result<(), DeliveryFailed> {
        match n {
            Notice::Confirmation(i) => self.codes.lock().unwrap().push((*i).clone()),
            Notice::LockedOut { .. } => *self.lockouts.lock().unwrap() += 1,
        }
        Ok(())
    }
}
impl DuressAlarm for Holder {
    fn raise(&self, r: &DuressReport) {
        self.alarms.lock().unwrap().push(r.clone());
    }
}

struct Market {
    w: World,
    oob: Arc<OobService>,
    holder: Arc<Holder>,
}

fn user_code(u: UserId) -> String {
    format!("inv{u}")
}

fn market() -> Market {
    let mut w = World::new(SimConfig {
        seed: 11,
        investors: 4,
        instruments: 2,
        cash: 1_000_000,
        orders_hint: 100,
        usage_limit: 1_000_000_000_000,
    });
    let holder = Arc::new(Holder::default());
    let host = GateHost::new();
    let mut cfg = OobConfig::new([9; 32]);
    cfg.argon2 = Argon2Params::INSECURE_FAST;
    cfg.max_wrong_answers = 3;
    let oob = Arc::new(
        OobService::new(
            cfg,
            Hooks {
                forward: host.clone(),
                channel: holder.clone(),
                alarm: holder.clone(),
                biometric: None,
            },
        )
        .unwrap(),
    );
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut gate = OobGate::new(oob.clone(), host, Box::new(ChaCha20Rng::seed_from_u64(4)));
    // A and B are contractors; C is not.
    for u in [A, B] {
        oob.register_contractor(
            &ContractorSpec {
                user_code: user_code(u),
                pin: "2468".into(),
                devices: vec![Device {
                    address: format!("pager-{u}"),
                    kind: DeviceKind::Pager,
                    seal_key: None,
                }],
                second_codes: vec![
                    ("4711".into(), Purpose::Normal),
                    ("1147".into(), Purpose::Duress),
                ],
                threshold: THRESHOLD,
                max_amount: 1_000_000_000,
                methods: MethodTable::code_only(),
                rolling_window: None,
                delivery: DeliveryMode::Broadcast,
                disabled: false,
            },
            0,
            &mut rng,
        )
        .unwrap();
        let s = oob.login(&user_code(u), "2468", 0, &mut rng).unwrap();
        gate.bind(u, s);
    }
    w.exchange.set_reception_hook(Box::new(gate));
    Market { w, oob, holder }
}

fn order(user: UserId, side: Side, price: Ticks, qty: u64) -> OrderRequest {
    OrderRequest {
        user_id: user,
        instrument: I,
        class: 0,
        side,
        price: Some(price),
        quantity: qty,
        tif: TimeInForce::Gtc,
        post_only: false,
        certificates: Vec::new(),
        name_address: format!("Investor {user}, Tokyo"),
        account: user,
        cash_cap: None,
        seq: 0,
    }
}

fn submit(m: &mut Market, req: &Signed<OrderRequest>) -> u64 {
    let now = m.w.now;
    let w = &mut m.w;
    let r = w.exchange.submit(req, now, &mut w.register, &mut w.ledger);
    r.unwrap_or_else(|e| panic!("refused: {:?}", Refusal::from_code(e.body.reason)))
        .body
        .reception_number
}

/// Splits the user's certificate into `parts` (and the rest).
fn certs(m: &mut Market, user: UserId, parts: &[u64]) -> Vec<Signed<Certificate>> {
    let mut wallet = m.w.take_wallet(user, I);
    let c = wallet.pop().expect("a certificate");
    let mut sizes = parts.to_vec();
    sizes.push(c.body.shares - parts.iter().sum::<u64>());
    let req = m.w.sign_as(
        user,
        ReissueRequest {
            user_id: user,
            instrument: I,
            kind: ReissueKind::Split(c.body.id, sizes),
            seq: 0,
        },
    );
    let now = m.w.now;
    m.w.register
        .reissue(&req, now)
        .expect("split")
        .body
        .certificates
}

fn sell_with(m: &mut Market, user: UserId, c: Signed<Certificate>) -> u64 {
    let mut o = order(user, Side::Sell, MID, c.body.shares);
    o.certificates = vec![c];
    let r = m.w.sign_as(user, o);
    submit(m, &r)
}

fn sell(m: &mut Market, user: UserId, qty: u64) -> (u64, Signed<Certificate>) {
    let c = certs(m, user, &[qty]).remove(0);
    let mut o = order(user, Side::Sell, MID, qty);
    o.certificates = vec![c.clone()];
    let r = m.w.sign_as(user, o);
    (submit(m, &r), c)
}

fn buy(m: &mut Market, user: UserId, qty: u64) -> u64 {
    let r = m.w.sign_as(user, order(user, Side::Buy, MID, qty));
    submit(m, &r)
}

fn invariants(m: &Market) {
    if let Err(e) = m.w.exchange.check_invariants(&m.w.register, &m.w.ledger) {
        panic!("invariants: {e:#?}");
    }
}

fn last_code(m: &Market) -> ConfirmationInfo {
    m.holder
        .codes
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("a code")
}

/// The holder answers; then the exchange carries out the decision.
fn answer(
    m: &mut Market,
    user: UserId,
    info: &ConfirmationInfo,
    code: &str,
    second: &str,
) -> Result<ConfirmResponse, OobError> {
    let uc = user_code(user);
    let a = oob::Answer {
        user_code: &uc,
        request_ref: info.request_ref,
        code,
        second_code: second,
        tx_digest: info.tx_digest,
        line: info.line,
        proof: Proof::None,
    };
    m.w.now += SECOND;
    let now = m.w.now;
    let r = m.oob.answer(&a, now);
    let w = &mut m.w;
    w.exchange.poll_held(now, &mut w.register, &mut w.ledger);
    r
}

fn in_book(m: &Market, n: u64) -> bool {
    m.w.exchange.book(I).unwrap().order(n).is_some()
}

fn state(m: &Market, n: u64) -> Option<OrderState> {
    m.w.exchange.order(n).map(|o| o.state)
}

#[test]
fn below_threshold_and_non_contractors_go_straight_through() {
    let mut m = market();
    let n = buy(&mut m, B, 100); // 1,000,000 < threshold
    assert!(in_book(&m, n));
    let n2 = buy(&mut m, C, 1_000); // not a contractor
    assert!(in_book(&m, n2));
    assert!(m.holder.codes.lock().unwrap().is_empty());
    assert_eq!(m.w.exchange.held_orders().count(), 0);
    assert_eq!(m.oob.stats(), OobStats::default());
    invariants(&m);
}

#[test]
fn confirmed_order_enters_the_book_and_trades() {
    let mut m = market();
    let ids = m.w.register.id_table();
    let bid = buy(&mut m, C, 1_000);
    invariants(&m);
    let (n, cert) = sell(&mut m, A, 1_000); // 10,000,000 >= threshold: held
    assert!(!in_book(&m, n));
    assert_eq!(state(&m, n), None);
    assert_eq!(m.w.exchange.held_orders().count(), 1);
    assert_eq!(ids.state(cert.body.id.serial), IdState::Reserved(n));
    assert!(m.w.exchange.matches().is_empty());
    invariants(&m);
    let info = last_code(&m);
    assert_eq!(info.transaction.amount, 10_000_000);
    let r = answer(&mut m, A, &info, &info.code.clone(), "4711").unwrap();
    assert_eq!(
        r,
        ConfirmResponse::Accepted {
            request_ref: info.request_ref
        }
    );
    let matches = m.w.exchange.matches();
    assert_eq!(matches.len(), 1);
    assert_eq!((matches[0].sell_order, matches[0].buy_order), (n, bid));
    assert_eq!(state(&m, n), Some(OrderState::Filled));
    assert_eq!(ids.state(cert.body.id.serial), IdState::Spent);
    assert_eq!(m.oob.stats().confirmed, 1);
    invariants(&m);
}

#[test]
fn confirmed_buy_rests_with_its_reservation() {
    let mut m = market();
    let n = buy(&mut m, B, 600);
    assert!(!in_book(&m, n));
    assert!(m.w.ledger.reserved_for(n).is_some());
    invariants(&m);
    let info = last_code(&m);
    answer(&mut m, B, &info, &info.code.clone(), "4711").unwrap();
    assert!(in_book(&m, n));
    assert_eq!(state(&m, n), Some(OrderState::Open));
    invariants(&m);
}

#[test]
fn cancel_releases_everything() {
    let mut m = market();
    let ids = m.w.register.id_table();
    let n = buy(&mut m, B, 1_000);
    let (s, cert) = sell(&mut m, A, 1_000);
    assert_eq!(m.w.exchange.held_orders().count(), 2);
    assert!(m.w.ledger.reserved_for(n).is_some());
    invariants(&m);
    let codes = m.holder.codes.lock().unwrap().clone();
    for (user, info) in [(B, &codes[0]), (A, &codes[1])] {
        let r = answer(&mut m, user, info, &info.cancel_code.clone(), "4711").unwrap();
        assert_eq!(
            r,
            ConfirmResponse::Cancelled {
                request_ref: info.request_ref
            }
        );
        invariants(&m);
    }
    assert_eq!(state(&m, n), Some(OrderState::Cancelled));
    assert_eq!(state(&m, s), Some(OrderState::Cancelled));
    assert!(!in_book(&m, n) && !in_book(&m, s));
    assert_eq!(m.w.ledger.reservation_count(), 0);
    assert_eq!(ids.state(cert.body.id.serial), IdState::Live);
    assert!(m.w.exchange.matches().is_empty());
    // The seller gets the certificate back.
    let back = m.w.exchange.drain_outbox().into_iter().any(|o| {
        matches!(o, Outgoing::Released { user, reception_number, ref certificates, .. }
            if user == A && reception_number == s && certificates[0] == cert)
    });
    assert!(back);
    assert_eq!(m.oob.stats().cancelled, 2);
    invariants(&m);
}

#[test]
fn duress_voids_and_answers_like_a_confirmation() {
    let mut m = market();
    let ask = sell(&mut m, C, 1_000).0; // not a contractor: rests
    let n1 = buy(&mut m, B, 1_000);
    let i1 = last_code(&m);
    let n2 = buy(&mut m, B, 1_000);
    let i2 = last_code(&m);
    invariants(&m);
    let duress = answer(&mut m, B, &i2, &i2.code.clone(), "1147").unwrap();
    invariants(&m);
    let confirm = answer(&mut m, B, &i1, &i1.code.clone(), "4711").unwrap();
    invariants(&m);
    // Byte for byte the same answer, up to the request reference.
    let (d, c) = (duress.encode(), confirm.encode());
    assert_eq!(d[0], c[0]);
    assert_eq!(
        duress,
        ConfirmResponse::Accepted {
            request_ref: i2.request_ref
        }
    );
    assert_eq!(
        d,
        ConfirmResponse::Accepted {
            request_ref: i2.request_ref
        }
        .encode()
    );
    assert_eq!(state(&m, n2), Some(OrderState::Cancelled));
    assert!(m.w.ledger.reserved_for(n2).is_none());
    assert_eq!(state(&m, n1), Some(OrderState::Filled));
    assert_eq!(state(&m, ask), Some(OrderState::Filled));
    assert_eq!(m.holder.alarms.lock().unwrap().len(), 1);
    assert_eq!(m.oob.stats().duress, 1);
    assert_eq!(m.oob.stats().confirmed, 1);
    assert_eq!(m.w.ledger.reservation_count(), 0);
    invariants(&m);
}

#[test]
fn wrong_answers_lock_out_and_release() {
    let mut m = market();
    let ids = m.w.register.id_table();
    let mut cs = certs(&mut m, A, &[1_000, 600]);
    let cert = cs.remove(0);
    let c = cs.remove(0);
    let s = sell_with(&mut m, A, cert.clone());
    let info = last_code(&m);
    for _ in 0..3 {
        assert_eq!(
            answer(&mut m, A, &info, "00000000", "4711"),
            Err(OobError::AnswerRejected)
        );
        invariants(&m);
    }
    assert_eq!(state(&m, s), Some(OrderState::Cancelled));
    assert_eq!(ids.state(cert.body.id.serial), IdState::Live);
    assert_eq!(m.w.exchange.held_orders().count(), 0);
    assert!(!in_book(&m, s));
    assert_eq!(*m.holder.lockouts.lock().unwrap(), 1);
    let st = m.oob.stats();
    assert_eq!((st.wrong_answers, st.locked_out), (3, 1));
    // The right code is now too late, and the contractor is disabled: its
    // next large order is refused at reception.
    assert!(answer(&mut m, A, &info, &info.code.clone(), "4711").is_err());
    let mut o = order(A, Side::Sell, MID, 600);
    o.certificates = vec![c.clone()];
    let r = m.w.sign_as(A, o);
    let now = m.w.now;
    let w = &mut m.w;
    let e = w
        .exchange
        .submit(&r, now, &mut w.register, &mut w.ledger)
        .expect_err("refused");
    assert_eq!(Refusal::from_code(e.body.reason), Some(Refusal::OutOfBand));
    assert_eq!(ids.state(c.body.id.serial), IdState::Live);
    invariants(&m);
}

#[test]
fn expiry_voids_when_time_advances() {
    let mut m = market();
    let n = buy(&mut m, B, 1_000);
    let ttl = m.oob.config().request_ttl;
    let w = &mut m.w;
    w.now += ttl - 1;
    let now = w.now;
    w.exchange.advance_time(now, &mut w.register, &mut w.ledger);
    assert_eq!(m.w.exchange.held_orders().count(), 1);
    invariants(&m);
    let w = &mut m.w;
    w.now += 1;
    let now = w.now;
    w.exchange.advance_time(now, &mut w.register, &mut w.ledger);
    assert_eq!(state(&m, n), Some(OrderState::Expired));
    assert!(!in_book(&m, n));
    assert_eq!(m.w.ledger.reservation_count(), 0);
    assert_eq!(m.oob.stats().expired, 1);
    // A late answer changes nothing.
    let info = last_code(&m);
    assert!(answer(&mut m, B, &info, &info.code.clone(), "4711").is_err());
    assert_eq!(state(&m, n), Some(OrderState::Expired));
    invariants(&m);
}

#[test]
fn simulated_session_with_contractors_keeps_every_invariant() {
    let mut w = World::new(SimConfig {
        seed: 5,
        investors: 20,
        instruments: 2,
        cash: 10_000_000,
        orders_hint: 3_000,
        usage_limit: 1_000_000_000_000,
    });
    assert_eq!(w.enable_oob(4), 5);
    for k in 0..3_000 {
        w.step();
        if k % 100 == 0 {
            if let Err(e) = w.check_invariants() {
                panic!("step {k}: {e:#?}");
            }
        }
    }
    w.check_invariants().unwrap();
    let st = w.oob_stats().unwrap();
    assert!(
        st.confirmed > 0
            && st.cancelled > 0
            && st.wrong_answers > 0
            && st.locked_out > 0
            && st.expired > 0
            && st.duress > 0,
        "{st:?}"
    );
    let (alarms, lockouts) = w.oob_alarms().unwrap();
    assert_eq!(alarms, st.duress);
    assert!(lockouts > 0);
}
