//! Out-of-band verification: requests plus confirmations per second with an
//! existing session, and the cost of one PIN check (argon2id, production
//! parameters: m = 19456 KiB, t = 2, p = 1).
//!
//! Run: `cargo bench -p kabuken-bench --bench oob`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kabuken::oob::{
    Answer, Argon2Params, ConfirmMethod, ConfirmationInfo, ContractorSpec, DeliveryChannel,
    DeliveryFailed, DeliveryMode, Device, DeviceKind, DuressAlarm, DuressReport, Forward, Hooks,
    MethodTable, Notice, OobConfig, OobService, PendingRequest, Proof, Purpose, ReleaseReason,
    SessionToken, Transaction,
};
use kabuken::types::Side;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::hint::black_box;
use std::sync::{Arc, Mutex};

/// A host that does nothing but keep the last confirmation sent, so the
/// bench can answer it.
#[derive(Default)]
struct BenchHost {
    last: Mutex<Option<ConfirmationInfo>>,
}

impl Forward for BenchHost {
    fn hold(&self, r: &PendingRequest) {
        black_box(r);
    }
    fn forward(&self, r: &PendingRequest) {
        black_box(r);
    }
    fn release(&self, r: &PendingRequest, why: ReleaseReason) {
        black_box((r, why));
    }
}

impl DuressAlarm for BenchHost {
    fn raise(&self, report: &DuressReport) {
        black_box(report);
    }
}

impl DeliveryChannel for BenchHost {
    fn deliver(&self, _device: &Device, notice: &Notice<'_>) -> Result<(), DeliveryFailed> {
        if let Notice::Confirmation(info) = notice {
            if let Ok(mut last) = self.last.lock() {
                *last = Some((*info).clone());
            }
        }
        Ok(())
    }
}

fn spec() -> ContractorSpec {
    ContractorSpec {
        user_code: "bench".into(),
        pin: "correct horse".into(),
        devices: vec![Device {
            address: "pager:bench".into(),
            kind: DeviceKind::Pager,
            seal_key: None,
        }],
        second_codes: vec![
            ("5555".into(), Purpose::Normal),
            ("9999".into(), Purpose::Duress),
        ],
        threshold: 100_000,
        max_amount: u64::MAX,
        methods: MethodTable {
            rows: vec![(0, ConfirmMethod::Code)],
        },
        rolling_window: None,
        delivery: DeliveryMode::Broadcast,
        disabled: false,
    }
}

fn service(argon2: Argon2Params) -> (Arc<BenchHost>, OobService) {
    let host = Arc::new(BenchHost::default());
    let mut config = OobConfig::new([0x42; 32]);
    config.argon2 = argon2;
    config.finished_ttl = 1;
    let hooks = Hooks {
        forward: host.clone(),
        channel: host.clone(),
        alarm: host.clone(),
        biometric: None,
    };
    let svc = OobService::new(config, hooks).expect("valid config");
    (host, svc)
}

fn tx(amount: u64) -> Transaction {
    Transaction {
        instrument: 7203,
        side: Side::Buy,
        quantity: 100,
        limit: Some(2150),
        amount,
    }
}

fn request_confirm(c: &mut Criterion) {
    let (host, svc) = service(Argon2Params::INSECURE_FAST);
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    svc.register_contractor(&spec(), 0, &mut rng)
        .expect("valid spec");
    let session: SessionToken = svc
        .login("bench", "correct horse", 0, &mut rng)
        .expect("login");
    let t = tx(1_000_000);
    let mut now = 1u64;
    let mut n = 0u64;

    let mut g = c.benchmark_group("oob");
    g.throughput(Throughput::Elements(1));
    g.bench_function("request_confirm_existing_session", |b| {
        b.iter(|| {
            now += 1_000;
            svc.submit(&session, &t, now, &mut rng).expect("submit");
            let info = host
                .last
                .lock()
                .ok()
                .and_then(|mut l| l.take())
                .expect("delivered");
            let r = svc
                .answer(
                    &Answer {
                        user_code: "bench",
                        request_ref: info.request_ref,
                        code: &info.code,
                        second_code: "5555",
                        tx_digest: info.tx_digest,
                        line: info.line,
                        proof: Proof::None,
                    },
                    now,
                )
                .expect("confirmed");
            black_box(r);
            n += 1;
            if n % 4096 == 0 {
                // Bound memory: forget finished requests, hand the audit
                // records to the "host".
                black_box(svc.sweep(now + 1));
                black_box(svc.drain_audit());
            }
        });
    });
    let small = tx(50_000);
    g.bench_function("request_below_threshold_existing_session", |b| {
        b.iter(|| {
            now += 1_000;
            black_box(svc.submit(&session, &small, now, &mut rng).expect("submit"));
            n += 1;
            if n % 4096 == 0 {
                black_box(svc.drain_audit());
            }
        });
    });
    g.finish();
}

fn pin_check(c: &mut Criterion) {
    let (_host, svc) = service(Argon2Params::PRODUCTION);
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    svc.register_contractor(&spec(), 0, &mut rng)
        .expect("valid spec");
    let mut g = c.benchmark_group("oob");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1));
    g.bench_function("pin_check_argon2id_m19456_t2_p1", |b| {
        b.iter(|| {
            black_box(
                svc.login("bench", "correct horse", 1, &mut rng)
                    .expect("login"),
            )
        });
    });
    g.finish();
}

criterion_group!(benches, request_confirm, pin_check);
criterion_main!(benches);
