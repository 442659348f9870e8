//! The concurrent runtime (kabuken::runtime), per stage and end to end.
//!
//! - `runtime/verify_batch_64`: the verification stage's work for one batch
//!   of 64 signed orders (the pure batch-verification cost per order, one
//!   thread).
//! - `runtime/sequencer_step`: the sequencer's work per order: reception
//!   (every check but the signature), reservations, matching, transfers
//!   through the register and settlement, with deferred signing. Orders of
//!   the pre-signed flow, one thread.
//! - The signing stage's unit cost is `signatures/merkle_batch` (bench
//!   `signatures`).
//! - `runtime/pipeline_signed`, `runtime/pipeline_trusted`: whole runs of
//!   the runtime (all threads): producers submit a flow of 4,000 orders,
//!   every response is awaited. One element = one order.
//!
//! Latency percentiles at half load and the ratio to the verification
//! ceiling come from the harness: `kabuken simulate --threads 1 --json`.
//!
//! `cargo bench -p kabuken-bench --bench runtime`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kabuken::runtime::sim::{drive, flow, market, Market, MarketConfig};
use kabuken::runtime::{NotificationSink, Request, Runtime, RuntimeConfig};

fn cfg(orders: usize) -> MarketConfig {
    MarketConfig {
        seed: 5,
        investors: 50,
        instruments: 4,
        orders,
        first_instrument: 100,
    }
}

fn prepared(orders: usize, producers: usize, trusted: bool) -> (Market, Vec<Vec<Request>>) {
    let mut m = market(&cfg(orders));
    let f = flow(
        &mut m.clients,
        &m.instruments,
        orders,
        producers,
        5,
        trusted,
    );
    (m, f)
}

fn stages(c: &mut Criterion) {
    let mut g = c.benchmark_group("runtime");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(4));

    // Verification of one batch of 64.
    let (m, f) = prepared(256, 1, false);
    let dir: std::collections::HashMap<_, _> = m.shard.exchange.identities().keys().collect();
    let sample: Vec<Request> = f.into_iter().flatten().take(64).collect();
    g.throughput(Throughput::Elements(64));
    g.bench_function("verify_batch_64", |b| {
        b.iter(|| {
            let refs: Vec<&Request> = sample.iter().collect();
            black_box(kabuken::runtime::sim::verify_only(&dir, &refs))
        });
    });

    // The sequencer's step, with deferred signing, over 2,000 orders.
    const N: usize = 2_000;
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("sequencer_step", |b| {
        b.iter_batched(
            || {
                let (mut m, f) = prepared(N, 1, false);
                kabuken::runtime::sim::defer(&mut m.shard);
                (m, f)
            },
            |(mut m, f)| {
                for r in &f[0] {
                    black_box(kabuken::runtime::sim::step(&mut m.shard, 1, r));
                }
                m
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

fn pipelines(c: &mut Criterion) {
    let mut g = c.benchmark_group("runtime");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    const N: usize = 4_000;
    g.throughput(Throughput::Elements(N as u64));
    for (name, trusted) in [("pipeline_signed", false), ("pipeline_trusted", true)] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (m, f) = prepared(N, 2, trusted);
                    let rt = Runtime::start(
                        RuntimeConfig {
                            verify_workers: 1,
                            trusted_gateway: trusted,
                            notifications: NotificationSink::Discard,
                            ..RuntimeConfig::default()
                        },
                        vec![m.shard],
                    )
                    .expect("start");
                    let t = Instant::now();
                    let d = drive(&rt, f, None, false);
                    total += t.elapsed();
                    assert_eq!(d.responses, N as u64);
                    let _ = rt.shutdown();
                }
                total
            });
        });
    }
    g.finish();
}

criterion_group!(benches, stages, pipelines);
criterion_main!(benches);
