//! The C ABI against the Rust API for the certificate exchange: the same
//! parties (same seeds), the same register, exchange and ledger, and the
//! same random stream of signed requests (issues, orders with certificates,
//! cancels, reduces, modifies, time passing, day ends), once through the
//! `kbk_*` exports and once through the engine directly. Ed25519
//! signatures are deterministic, so every answer, every outbox item and
//! the match list must be byte-identical.

use crate::crypto::*;
use crate::exchange::*;
use crate::identity::*;
use crate::message::*;
use crate::register::*;
use crate::status::*;
use core::ptr::null_mut;
use engine::book::TimeInForce;
use engine::certs::{CertIdKey, Certificate, ShareClass, TransferRestriction};
use engine::crypto::{KeyPair, Signed, Validity};
use engine::exchange::{
    CancelRequest, Exchange, ExchangeConfig, InstrumentSpec, ModifyRequest, OrderRequest, Outgoing,
    ReduceRequest,
};
use engine::identity::{CertificateAuthority, IdentityStore, Policy, Role};
use engine::register::{InstrumentConfig, IssueRequest, Register, RegisterConfig};
use engine::replay::synth::SplitMix64;
use engine::settle::Ledger;
use engine::types::{PriceScale, Side};
use rust_decimal::Decimal;

pub(crate) const INST: u32 = 5;
pub(crate) const INVESTORS: u64 = 4;

pub(crate) fn seed(b: u8) -> [u8; 32] {
    [b; 32]
}

pub(crate) fn ok(s: kbk_status) {
    assert_eq!(s, KBK_STATUS_OK, "{}", with_last_error(str::to_owned));
}

/// The bytes of a message handle (freed).
pub(crate) fn take(m: *mut kbk_message) -> Vec<u8> {
    let mut n = 0;
    ok(kbk_message_len(m, &mut n));
    let mut b = vec![0u8; n];
    ok(kbk_message_bytes(m, b.as_mut_ptr(), n, &mut n));
    kbk_message_free(m);
    b
}

/// The engine side.
pub(crate) struct Rust {
    pub(crate) reg: Register,
    pub(crate) ex: Exchange,
    pub(crate) ledger: Ledger,
}

/// The C side.
pub(crate) struct C {
    pub(crate) reg: *mut kbk_register,
    pub(crate) ex: *mut kbk_exchange,
    pub(crate) ledger: *mut kbk_ledger,
    pub(crate) keys: Vec<*mut kbk_keypair>,
}

impl C {
    pub(crate) fn free(self) {
        kbk_exchange_free(self.ex);
        kbk_ledger_free(self.ledger);
        kbk_register_free(self.reg);
        for k in self.keys {
            kbk_keypair_free(k);
        }
    }
}

/// Checks that both sides have the same matches (and more than 10), and
/// the C side its invariants; the number of matches.
pub(crate) fn same_matches(c: &C, r: &Rust) -> usize {
    let mut n = 0usize;
    ok(kbk_exchange_match_count(c.ex, &mut n));
    assert_eq!(n, r.ex.matches().len());
    assert!(n > 10, "the stream should trade: {n} matches");
    for (k, m) in r.ex.matches().iter().enumerate() {
        let mut cm = kbk_match::default();
        ok(kbk_exchange_match(c.ex, k, &mut cm));
        assert_eq!(
            (cm.match_number, cm.quantity, cm.price, cm.buyer, cm.seller),
            (m.match_number, m.quantity, m.price, m.buyer, m.seller)
        );
        assert_eq!(cm.new_cert_id.serial, m.new_cert_id.serial);
    }
    ok(kbk_exchange_check_invariants(c.ex, c.reg, c.ledger));
    n
}

pub(crate) fn rust_side(atts: &[Signed<engine::identity::Attestation>], ca_key: &KeyPair) -> Rust {
    let store = || {
        let mut s = IdentityStore::new(1, "CA", ca_key.public());
        for a in atts {
            s.register(a).unwrap();
        }
        s
    };
    let mut reg = Register::new(
        RegisterConfig {
            user_id: 2,
            name: "R".into(),
            address: "A".into(),
            certificate_lifetime: 1 << 40,
            id_capacity: 1 << 14,
        },
        KeyPair::from_seed(&seed(2)),
        CertIdKey::from_bytes(seed(9)),
        store(),
    );
    reg.add_instrument(InstrumentConfig {
        instrument: INST,
        company_name: "K".into(),
        company_founded: 20000101,
        par_value: 1,
        authorized: u64::MAX / 4,
        restriction: TransferRestriction::Free,
        conditions: "c".into(),
    })
    .unwrap();
    let mut ex = Exchange::new(
        ExchangeConfig {
            user_id: 3,
            register_id: 2,
            minor_unit: Decimal::new(1, 2),
        },
        KeyPair::from_seed(&seed(3)),
        store(),
        reg.id_table(),
    );
    ex.add_instrument(InstrumentSpec {
        instrument: INST,
        tick: PriceScale::new(Decimal::new(1, 2)).unwrap(),
        lot_size: 1,
        band_low: 900,
        band_high: 1100,
        max_qty: 100_000,
    })
    .unwrap();
    let mut ledger = Ledger::new(4, KeyPair::from_seed(&seed(4)));
    ledger.trust_exchange(3, ex.public_key());
    for u in 0..INVESTORS {
        ledger.open_account(100 + u, 100 + u).unwrap();
        ledger.deposit(100 + u, Decimal::from(1_000_000)).unwrap();
    }
    Rust { reg, ex, ledger }
}

pub(crate) fn c_side(atts: &[Vec<u8>], ca_key: &KeyPair) -> C {
    let mut keys: Vec<*mut kbk_keypair> = Vec::new();
    for b in [2u8, 3, 4] {
        let mut k = null_mut();
        ok(kbk_keypair_from_seed(seed(b).as_ptr(), &mut k));
        keys.push(k);
    }
    let trust = kbk_trust {
        ca_id: 1,
        ca_name: c"CA".as_ptr(),
        ca_key: ca_key.public().to_bytes(),
    };
    let rc = kbk_register_config {
        user_id: 2,
        certificate_lifetime: 1 << 40,
        id_capacity: 1 << 14,
        name: c"R".as_ptr(),
        address: c"A".as_ptr(),
        id_secret: seed(9),
    };
    let mut reg = null_mut();
    ok(kbk_register_new(&rc, keys[0], &trust, &mut reg));
    let ri = kbk_register_instrument {
        par_value: 1,
        authorized: u64::MAX / 4,
        locked_until: 0,
        company_name: c"K".as_ptr(),
        conditions: c"c".as_ptr(),
        instrument: INST,
        company_founded: 20000101,
        restriction: KBK_RESTRICTION_FREE,
        reserved: 0,
    };
    ok(kbk_register_add_instrument(reg, &ri));
    let xc = kbk_exchange_config {
        user_id: 3,
        register_id: 2,
        minor_unit: c"0.01".as_ptr(),
    };
    let mut ex = null_mut();
    ok(kbk_exchange_new(&xc, keys[1], &trust, reg, &mut ex));
    let spec = kbk_instrument_spec {
        lot_size: 1,
        band_low: 900,
        band_high: 1100,
        max_qty: 100_000,
        tick: c"0.01".as_ptr(),
        instrument: INST,
        reserved: 0,
    };
    ok(kbk_exchange_add_instrument(ex, &spec));
    for a in atts {
        ok(kbk_register_add_attestation(reg, a.as_ptr(), a.len()));
        ok(kbk_exchange_add_attestation(ex, a.as_ptr(), a.len()));
    }
    let mut ledger = null_mut();
    ok(kbk_ledger_new(4, keys[2], &mut ledger));
    let mut xpk = [0u8; 32];
    ok(kbk_exchange_public_key(ex, xpk.as_mut_ptr()));
    ok(kbk_ledger_trust_exchange(ledger, 3, xpk.as_ptr()));
    for u in 0..INVESTORS {
        ok(kbk_ledger_open_account(ledger, 100 + u, 100 + u));
        ok(kbk_ledger_deposit(ledger, 100 + u, c"1000000".as_ptr()));
    }
    C {
        reg,
        ex,
        ledger,
        keys,
    }
}

fn outbox_rust(o: Vec<Outgoing>) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for x in o {
        match x {
            Outgoing::Error(n) => v.push(n.to_bytes()),
            Outgoing::Completion(n) => v.push(n.to_bytes()),
            Outgoing::Released { certificates, .. } => {
                v.push(Vec::new());
                v.extend(certificates.iter().map(Signed::to_bytes));
            }
            Outgoing::Transfer { request, response } => {
                v.push(request.to_bytes());
                v.push(response.to_bytes());
            }
            Outgoing::Settlement(s) => v.push(s.to_bytes()),
        }
    }
    v
}

fn outbox_c(ex: *mut kbk_exchange) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    loop {
        let mut o = kbk_outgoing::default();
        let mut m = null_mut();
        match kbk_exchange_next_outgoing(ex, &mut o, &mut m) {
            KBK_STATUS_NOT_FOUND => return v,
            s => ok(s),
        }
        v.push(if m.is_null() { Vec::new() } else { take(m) });
    }
}

/// The CA's key, the investors' keys (users 100..) and the attestations of
/// the register (2), exchange (3), settlement (4) and investors.
pub(crate) fn parties() -> (
    KeyPair,
    Vec<KeyPair>,
    Vec<Signed<engine::identity::Attestation>>,
) {
    let ca_key = KeyPair::from_seed(&seed(1));
    let mut ca = CertificateAuthority::new(1, "CA", KeyPair::from_seed(&seed(1)));
    let inv: Vec<KeyPair> = (0..INVESTORS)
        .map(|u| KeyPair::from_seed(&seed(10 + u as u8)))
        .collect();
    let v = Validity {
        not_before: 0,
        not_after: 1 << 40,
    };
    let mut atts = Vec::new();
    for (u, role, b) in [
        (2, Role::Register, 2u8),
        (3, Role::Exchange, 3),
        (4, Role::Settlement, 4),
    ] {
        let k = KeyPair::from_seed(&seed(b));
        atts.push(
            ca.issue(u, "p", &k.public(), v, role, Policy::UNLIMITED)
                .unwrap(),
        );
    }
    for (u, k) in inv.iter().enumerate() {
        let policy = Policy {
            usage_limit: u64::MAX,
            per_order_max: 1_000_000,
            short_sale_ban: true,
        };
        atts.push(
            ca.issue(100 + u as u64, "i", &k.public(), v, Role::Investor, policy)
                .unwrap(),
        );
    }
    (ca_key, inv, atts)
}

#[test]
fn abi_exchange_agrees_with_the_rust_exchange() {
    let (ca_key, inv, atts) = parties();
    let att_bytes: Vec<Vec<u8>> = atts.iter().map(Signed::to_bytes).collect();
    let mut r = rust_side(&atts, &ca_key);
    let c = c_side(&att_bytes, &ca_key);

    let mut rng = SplitMix64::new(7);
    let mut seq = [0u64; INVESTORS as usize];
    let mut now = 10u64;
    let mut last_reception = 0u64;
    for step in 0..400 {
        now += 1;
        let i = rng.below(INVESTORS) as usize;
        let user = 100 + i as u64;
        seq[i] += 1;
        let s = seq[i];
        let pick = rng.below(100);
        // A request: its bytes, or None for time passing.
        let bytes: Option<Vec<u8>> = match pick {
            0..=59 => {
                let side = if rng.chance(50) {
                    Side::Sell
                } else {
                    Side::Buy
                };
                let quantity = 1 + rng.below(50);
                let price = Some(950 + rng.below(100) as i64);
                let tif = match rng.below(4) {
                    0 => TimeInForce::Ioc,
                    1 => TimeInForce::Day,
                    2 => TimeInForce::Gtd(now + rng.below(20)),
                    _ => TimeInForce::Gtc,
                };
                let mut certificates: Vec<Signed<Certificate>> = Vec::new();
                if side == Side::Sell {
                    // A fresh certificate for the seller, issued on both sides.
                    let issue = Signed::sign(
                        IssueRequest {
                            user_id: user,
                            name_address: "n".into(),
                            instrument: INST,
                            class: ShareClass::Common,
                            quantity: quantity + rng.below(30),
                            dividend_account: "d".into(),
                            seq: s,
                        },
                        user,
                        &inv[i],
                    );
                    seq[i] += 1;
                    let ib = issue.to_bytes();
                    let rc = r.reg.issue(&issue, now).unwrap();
                    let mut cc = null_mut();
                    ok(kbk_register_issue(
                        c.reg,
                        ib.as_ptr(),
                        ib.len(),
                        now,
                        &mut cc,
                    ));
                    assert_eq!(take(cc), rc.to_bytes());
                    certificates.push(rc);
                }
                let o = OrderRequest {
                    user_id: user,
                    instrument: INST,
                    class: 0,
                    side,
                    price,
                    quantity,
                    tif,
                    post_only: false,
                    certificates,
                    name_address: "n".into(),
                    account: user,
                    cash_cap: None,
                    seq: seq[i],
                };
                Some(Signed::sign(o, user, &inv[i]).to_bytes())
            }
            60..=69 => Some(
                Signed::sign(
                    CancelRequest {
                        user_id: user,
                        reception_number: 1 + rng.below(last_reception.max(1)),
                        seq: s,
                    },
                    user,
                    &inv[i],
                )
                .to_bytes(),
            ),
            70..=77 => Some(
                Signed::sign(
                    ReduceRequest {
                        user_id: user,
                        reception_number: 1 + rng.below(last_reception.max(1)),
                        by: 1 + rng.below(10),
                        seq: s,
                    },
                    user,
                    &inv[i],
                )
                .to_bytes(),
            ),
            78..=85 => Some(
                Signed::sign(
                    ModifyRequest {
                        user_id: user,
                        reception_number: 1 + rng.below(last_reception.max(1)),
                        price: 950 + rng.below(100) as i64,
                        quantity: 1 + rng.below(40),
                        seq: s,
                    },
                    user,
                    &inv[i],
                )
                .to_bytes(),
            ),
            86..=95 => None,
            _ => {
                r.ex.expire_day(now, &mut r.reg, &mut r.ledger);
                ok(kbk_exchange_expire_day(c.ex, c.reg, c.ledger, now));
                continue;
            }
        };
        let Some(b) = bytes else {
            r.ex.advance_time(now, &mut r.reg, &mut r.ledger);
            ok(kbk_exchange_advance_time(c.ex, c.reg, c.ledger, now));
            continue;
        };
        let m = engine::exchange::AnyMessage::decode(&b).unwrap();
        let (ra, rcode) = {
            let (reg, led) = (&mut r.reg, &mut r.ledger);
            let res = match &m {
                engine::exchange::AnyMessage::OrderRequest(x) => r.ex.submit(x, now, reg, led),
                engine::exchange::AnyMessage::CancelRequest(x) => r.ex.cancel(x, now, reg, led),
                engine::exchange::AnyMessage::ReduceRequest(x) => r.ex.reduce(x, now, reg, led),
                engine::exchange::AnyMessage::ModifyRequest(x) => r.ex.modify(x, now, reg, led),
                _ => unreachable!(),
            };
            match res {
                Ok(rc) => {
                    last_reception = last_reception.max(rc.body.reception_number);
                    (rc.to_bytes(), 0u32)
                }
                Err(n) => (n.to_bytes(), u32::from(n.body.reason)),
            }
        };
        let mut ca_ans = null_mut();
        let mut code = 999u32;
        ok(kbk_exchange_submit(
            c.ex,
            c.reg,
            c.ledger,
            b.as_ptr(),
            b.len(),
            now,
            &mut ca_ans,
            &mut code,
        ));
        assert_eq!(code, rcode, "step {step}");
        assert_eq!(take(ca_ans), ra, "step {step}");
        assert_eq!(
            outbox_c(c.ex),
            outbox_rust(r.ex.drain_outbox()),
            "step {step}"
        );
    }
    // The same matches, and both sides consistent.
    same_matches(&c, &r);
    r.ex.check_invariants(&r.reg, &r.ledger).unwrap();
    assert_eq!(
        kbk_exchange_check_invariants(c.ex, null_mut(), c.ledger),
        KBK_STATUS_NULL_ARGUMENT
    );
    c.free();
}
