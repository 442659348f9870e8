//! The exchange's synchronous path with signatures, end to end and split
//! into its parts, each on one thread:
//!
//! - `exchange/trade`: a signed sell (reception: signature, certificate by
//!   digest, ID list, reservation; receipt signed) and a signed crossing buy
//!   (reception, cash reservation, match, signed transfer request to the
//!   register, the register's work and signed response, response checked,
//!   two signed completion notices, signed settlement request settled).
//!   One element = one order (two per iteration). Client signing and the
//!   buyer's certificate claim happen outside the timed part.
//! - `exchange/part/*`: verify one order signature, sign one message, one
//!   book match (rest + cross), one transfer (sign request, register,
//!   verify response), one settlement (reserve, sign request, settle).
//!
//! `cargo bench -p kabuken-bench --bench exchange`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kabuken::book::{Book, BookConfig, NewOrder, NullSink};
use kabuken::certs::Certificate;
use kabuken::crypto::{Digest, KeyPair, Signed};
use kabuken::exchange::sim::{SimConfig, World, MID};
use kabuken::exchange::{OrderRequest, Outgoing, ReceptionReceipt};
use kabuken::register::{CertificateRequest, ReissueKind, ReissueRequest, TransferRequest};
use kabuken::settle::SettlementRequest;
use kabuken::types::Side;
use rust_decimal::Decimal;

const A: u64 = 1000;
const B: u64 = 1001;

fn world() -> World {
    World::new(SimConfig {
        seed: 3,
        investors: 2,
        instruments: 1,
        cash: 1_000_000_000_000,
        orders_hint: 1 << 20,
        ..SimConfig::default()
    })
}

fn order(user: u64, side: Side, certs: Vec<Signed<Certificate>>) -> OrderRequest {
    OrderRequest {
        user_id: user,
        instrument: 100,
        class: 0,
        side,
        price: Some(MID),
        quantity: 10,
        tif: kabuken::book::TimeInForce::Gtc,
        post_only: false,
        certificates: certs,
        name_address: format!("Investor {user}"),
        account: user,
        cash_cap: None,
        seq: 0,
    }
}

/// A 10-share certificate of `user` (split off its holding).
fn ten(w: &mut World, user: u64) -> Signed<Certificate> {
    let c = w.take_wallet(user, 100).remove(0);
    let req = w.sign_as(
        user,
        ReissueRequest {
            user_id: user,
            instrument: 100,
            kind: ReissueKind::Split(c.body.id, vec![10, c.body.shares - 10]),
            seq: 0,
        },
    );
    let now = w.now;
    w.register
        .reissue(&req, now)
        .expect("split")
        .body
        .certificates
        .remove(0)
}

fn trade(c: &mut Criterion) {
    let mut g = c.benchmark_group("exchange");
    g.throughput(Throughput::Elements(2));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("trade", |b| {
        let mut w = world();
        let mut cert = ten(&mut w, A);
        let mut seller = A;
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let buyer = if seller == A { B } else { A };
                let s = w.sign_as(seller, order(seller, Side::Sell, vec![cert.clone()]));
                let o = w.sign_as(buyer, order(buyer, Side::Buy, Vec::new()));
                let now = w.now;
                let t = Instant::now();
                let r1 = w.exchange.submit(&s, now, &mut w.register, &mut w.ledger);
                let r2 = w.exchange.submit(&o, now, &mut w.register, &mut w.ledger);
                total += t.elapsed();
                assert!(r1.is_ok() && r2.is_ok());
                let tn = w
                    .exchange
                    .drain_outbox()
                    .into_iter()
                    .find_map(|m| match m {
                        Outgoing::Completion(n) => Some(n.body.transfer_number),
                        _ => None,
                    })
                    .expect("completion");
                let claim = w.sign_as(
                    buyer,
                    CertificateRequest {
                        user_id: buyer,
                        transfer_number: tn,
                        dividend_account: String::new(),
                        seq: 0,
                    },
                );
                cert = w.register.claim_certificate(&claim, now).expect("claim");
                seller = buyer;
            }
            total
        });
    });
    g.finish();
}

fn parts(c: &mut Criterion) {
    let mut g = c.benchmark_group("exchange/part");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    let mut w = world();
    let cert = ten(&mut w, A);
    let signed = w.sign_as(A, order(A, Side::Sell, vec![cert]));
    let key = w.key(A).expect("key").public();
    g.bench_function("verify", |b| {
        b.iter(|| black_box(&signed).verify(&key).expect("verifies"));
    });
    let k = KeyPair::from_seed(&[5; 32]);
    let receipt = ReceptionReceipt {
        user_id: A,
        reception_number: 1,
        request_kind: 0,
        request_hash: Digest::of(b"order"),
    };
    g.bench_function("sign", |b| {
        b.iter(|| Signed::sign(black_box(receipt.clone()), 3, &k));
    });
    g.bench_function("match", |b| {
        let mut book = Book::new(BookConfig::default());
        let mut id = 0u64;
        b.iter(|| {
            id += 2;
            let _ = book.submit(&NewOrder::limit(id, Side::Sell, MID, 10), &mut NullSink);
            let _ = book.submit(&NewOrder::limit(id + 1, Side::Buy, MID, 10), &mut NullSink);
        });
    });
    g.bench_function("transfer", |b| {
        let mut w = world();
        let ek = w.party_key(3);
        let mut cert = w.take_wallet(A, 100).remove(0);
        let mut seq = 0;
        let reg_key = w.register.public_key();
        b.iter(|| {
            seq += 1;
            let req = TransferRequest {
                exchange: 3,
                match_number: seq,
                instrument: 100,
                cert_id: cert.body.id,
                quantity: 1,
                buyer: B,
                seller: A,
                sell_order: None,
                buyer_name_address: "B".into(),
                certificate: cert.clone(),
                seq,
            };
            let signed = Signed::sign(req, 3, &ek);
            let now = w.now;
            let resp = w.register.transfer(&signed, now).expect("transfer");
            resp.verify(&reg_key).expect("response");
            let change = resp.body.change_cert_id.expect("change");
            cert = w
                .register
                .certificate(&change)
                .expect("change cert")
                .clone();
        });
    });
    g.bench_function("settle", |b| {
        let mut w = world();
        let ek = w.party_key(3);
        let mut n = 1u64 << 40;
        b.iter(|| {
            n += 1;
            w.ledger
                .reserve(n, B, B, Decimal::new(100_000, 2))
                .expect("reserve");
            let req = Signed::sign(
                SettlementRequest {
                    exchange: 3,
                    match_number: n,
                    buy_order: n,
                    amount: Decimal::new(99_990, 2),
                    release: Decimal::new(10, 2),
                    buyer_account: B,
                    seller_account: A,
                    seq: n,
                },
                3,
                &ek,
            );
            w.ledger.settle(&req).expect("settle");
        });
    });
    g.finish();
}

criterion_group!(benches, trade, parts);
criterion_main!(benches);
