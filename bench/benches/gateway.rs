//! The compact trusted gateway (kabuken::runtime::gateway).
//!
//! - `gateway/sequencer`: the sequencer's work alone, one thread: a flow
//!   of 200,000 orders (about half crossing, every sell covered by a
//!   certificate) applied with `Gateway::apply_batch` in batches of 256:
//!   reservation, matching, certificate transfer per fill, settlement,
//!   reports.
//! - `gateway/pipeline`: the runtime end to end (producer thread, bounded
//!   queues, sequencer thread, reports back, market data): 200,000 orders
//!   submitted in batches of 256, every answer awaited.
//! - `gateway/pipeline_no_market_data`: the same without depth publication
//!   and without the market event stream.
//! - `gateway/documents_512`: one batch-signed set of 512 certificate
//!   documents (the register's documents, made off the sequencer).
//!
//! One element = one order (or one document). Latency percentiles come
//! from `kabuken simulate --threads 1 --trusted --json`.
//!
//! `cargo bench -p kabuken-bench --bench gateway`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kabuken::certs::CertIdKey;
use kabuken::crypto::KeyPair;
use kabuken::runtime::gateway::sim::{drive, market, GatewayMarket, GatewayMarketConfig};
use kabuken::runtime::gateway::{DocumentInfo, GatewayConfig, GatewayReport, GatewayRuntime};

const ORDERS: usize = 200_000;

fn prepared(producers: usize) -> GatewayMarket {
    market(
        &GatewayMarketConfig {
            seed: 5,
            investors: 50,
            instruments: 4,
            orders: ORDERS,
            first_instrument: 100,
        },
        producers,
    )
}

struct Count(u64);

impl kabuken::runtime::gateway::ReportSink for Count {
    #[inline]
    fn report(&mut self, _producer: u16, r: GatewayReport) {
        self.0 = self.0.wrapping_add(r.qty);
    }
}

fn gateway(c: &mut Criterion) {
    let mut g = c.benchmark_group("gateway");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(ORDERS as u64));
    g.bench_function("sequencer", |b| {
        b.iter_batched(
            || prepared(1),
            |mut m| {
                let mut sink = Count(0);
                let mut seq = 1;
                for chunk in m.flows[0].chunks(256) {
                    m.gateway.apply_batch(0, seq, chunk, &mut sink);
                    seq += chunk.len() as u64;
                }
                black_box(sink.0);
                m
            },
            BatchSize::PerIteration,
        );
    });
    let variants = [
        ("pipeline", GatewayConfig::default()),
        (
            "pipeline_no_market_data",
            GatewayConfig {
                depth: 0,
                event_capacity: 0,
                ..GatewayConfig::default()
            },
        ),
    ];
    for (name, cfg) in variants {
        g.bench_function(name, |b| {
            b.iter_batched(
                || prepared(1),
                |m| {
                    let rt = GatewayRuntime::start(m.gateway, cfg).expect("start");
                    let d = drive(&rt, &m.flows, 256, None);
                    assert_eq!(d.answered, ORDERS as u64);
                    rt.shutdown()
                },
                BatchSize::PerIteration,
            );
        });
    }
    let m = prepared(1);
    let serials: Vec<u64> = (1..=512).collect();
    let info = DocumentInfo {
        register_id: 2,
        register_name: "Kabuken Register".into(),
        register_address: "https://register.example/".into(),
        company_name: "Bench Company".into(),
        company_founded: 20_010_401,
        lifetime: 1 << 50,
        holder_names: Vec::new(),
    };
    let key = KeyPair::from_seed(&[7; 32]);
    let ids = CertIdKey::from_bytes([9; 32]);
    g.throughput(Throughput::Elements(512));
    g.bench_function("documents_512", |b| {
        b.iter(|| {
            black_box(
                m.gateway
                    .documents(&serials, &info, &ids, &key, 0)
                    .expect("sign"),
            )
        });
    });
    g.finish();
}

criterion_group!(benches, gateway);
criterion_main!(benches);
