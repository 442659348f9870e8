//! Register end to end: issue (verify request, policy, new ID, sign
//! certificate, signed ID-list delta) and transfer (verify request and
//! certificate, spend, buyer + change certificates, signed delta and
//! response), each on one thread.
//!
//! `cargo bench -p kabuken-bench --bench register`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kabuken::certs::{CertIdKey, Certificate, ShareClass, TransferRestriction};
use kabuken::crypto::{KeyPair, Signed, UserId, Validity};
use kabuken::identity::{CertificateAuthority, IdentityStore, Policy, Role};
use kabuken::register::{
    InstrumentConfig, IssueRequest, Register, RegisterConfig, TransferRequest,
};

const REG: UserId = 2;
const EXCH: UserId = 3;
const ALICE: UserId = 100;
const BOB: UserId = 101;

struct World {
    reg: Register,
    keys: [(UserId, KeyPair); 2],
    exch: KeyPair,
    seq: u64,
}

fn key(u: UserId) -> KeyPair {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&u.to_le_bytes());
    KeyPair::from_seed(&seed)
}

fn world() -> World {
    let mut ca = CertificateAuthority::new(1, "CA", key(1));
    let store = IdentityStore::new(1, "CA", ca.public_key());
    let cfg = RegisterConfig {
        user_id: REG,
        name: "Register".into(),
        address: "https://register.invalid".into(),
        certificate_lifetime: u64::MAX / 2,
        id_capacity: 1 << 24,
    };
    let mut reg = Register::new(cfg, key(REG), CertIdKey::from_bytes([1; 32]), store);
    reg.add_instrument(InstrumentConfig {
        instrument: 1,
        company_name: "Kabu KK".into(),
        company_founded: 19_500_101,
        par_value: 1,
        authorized: u64::MAX,
        restriction: TransferRestriction::Free,
        conditions: String::new(),
    })
    .expect("instrument");
    for (u, role) in [
        (EXCH, Role::Exchange),
        (ALICE, Role::Investor),
        (BOB, Role::Investor),
    ] {
        let att = ca
            .issue(
                u,
                "p",
                &key(u).public(),
                Validity {
                    not_before: 0,
                    not_after: u64::MAX,
                },
                role,
                Policy::UNLIMITED,
            )
            .expect("attest");
        reg.identities_mut().register(&att).expect("register");
    }
    World {
        reg,
        keys: [(ALICE, key(ALICE)), (BOB, key(BOB))],
        exch: key(EXCH),
        seq: 0,
    }
}

impl World {
    fn issue_req(&mut self, qty: u64) -> Signed<IssueRequest> {
        self.seq += 1;
        let body = IssueRequest {
            user_id: ALICE,
            name_address: "Alice, Tokyo".into(),
            instrument: 1,
            class: ShareClass::Common,
            quantity: qty,
            dividend_account: "acct".into(),
            seq: self.seq,
        };
        Signed::sign(body, ALICE, &self.keys[0].1)
    }
    fn transfer_req(&mut self, cert: &Signed<Certificate>, qty: u64) -> Signed<TransferRequest> {
        self.seq += 1;
        let body = TransferRequest {
            exchange: EXCH,
            match_number: self.seq,
            instrument: 1,
            cert_id: cert.body.id,
            quantity: qty,
            buyer: BOB,
            seller: ALICE,
            sell_order: None,
            buyer_name_address: "Bob, Osaka".into(),
            certificate: cert.clone(),
            seq: self.seq,
        };
        Signed::sign(body, EXCH, &self.exch)
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("register");
    g.throughput(Throughput::Elements(1));
    let mut w = world();
    g.bench_function("issue", |b| {
        b.iter_custom(|iters| {
            let reqs: Vec<_> = (0..iters).map(|_| w.issue_req(1000)).collect();
            let start = Instant::now();
            for r in &reqs {
                black_box(w.reg.issue(r, 10).expect("issue"));
            }
            start.elapsed()
        })
    });
    for (name, qty) in [("transfer_whole", 1000u64), ("transfer_partial", 300)] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut reqs = Vec::with_capacity(iters as usize);
                for _ in 0..iters {
                    let r = w.issue_req(1000);
                    let cert = w.reg.issue(&r, 10).expect("issue");
                    reqs.push(w.transfer_req(&cert, qty));
                }
                let start = Instant::now();
                for r in &reqs {
                    black_box(w.reg.transfer(r, 10).expect("transfer"));
                }
                start.elapsed()
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
