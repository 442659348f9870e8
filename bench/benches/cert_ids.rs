//! Certificate-ID engine: lookup, reserve+release, reserve+spend; one thread
//! and two threads on disjoint IDs.
//!
//! `cargo bench -p kabuken-bench --bench cert_ids`
//!
//! Spending is irreversible, so spend benchmarks run over blocks of fresh
//! live IDs; building each block is not timed (`iter_custom`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kabuken::certs::{Facts, IdTable};
use kabuken::crypto::Digest;

const BLOCK: u64 = 1 << 18;

fn table(n: u64) -> IdTable {
    let t = IdTable::with_capacity(n);
    for i in 0..n {
        let s = t.allocate().expect("alloc");
        let facts = Facts {
            instrument: 1,
            class: 0,
            holder: i,
            quantity: 100,
            digest: Digest([i as u8; 32]),
        };
        t.publish(s, facts).expect("publish");
    }
    t
}

/// Runs `iters` operations `op(table, serial)` on each of `threads` threads,
/// each on its own block of serials; returns the wall time.
fn run<F>(iters: u64, threads: usize, fresh: bool, shared: &[IdTable], op: F) -> Duration
where
    F: Fn(&IdTable, u64) + Sync,
{
    if !fresh {
        // Reusable IDs: each thread runs all `iters` operations in one go,
        // cycling over its own table.
        let start = Instant::now();
        std::thread::scope(|s| {
            for t in shared.iter().take(threads) {
                let op = &op;
                s.spawn(move || {
                    for i in 0..iters {
                        op(t, i & (BLOCK - 1));
                    }
                });
            }
        });
        return start.elapsed();
    }
    // Spent IDs cannot be reused: every block needs fresh tables. Each
    // thread builds its own (untimed, so it is warm in that thread's core
    // as a real owner's would be), all meet at a barrier, and each times
    // its own operations from the barrier; the block takes the slowest.
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = (iters - done).min(BLOCK);
        let barrier = std::sync::Barrier::new(threads);
        let elapsed = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let op = &op;
                    let barrier = &barrier;
                    s.spawn(move || {
                        let t = table(n);
                        barrier.wait();
                        let start = Instant::now();
                        for i in 0..n {
                            op(&t, i & (BLOCK - 1));
                        }
                        let took = start.elapsed();
                        drop(t);
                        took
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("bench thread"))
                .max()
                .unwrap_or_default()
        });
        total += elapsed;
        done += n;
    }
    total
}

fn bench(c: &mut Criterion) {
    let shared: Vec<IdTable> = (0..2).map(|_| table(BLOCK)).collect();
    for threads in [1usize, 2] {
        let mut g = c.benchmark_group(format!("cert_ids/{threads}thread"));
        g.throughput(Throughput::Elements(threads as u64));
        g.bench_function("lookup", |b| {
            b.iter_custom(|iters| {
                run(iters, threads, false, &shared, |t, s| {
                    black_box(t.state(black_box(s)));
                })
            });
        });
        g.bench_function("lookup_with_facts", |b| {
            b.iter_custom(|iters| {
                run(iters, threads, false, &shared, |t, s| {
                    black_box(t.get(black_box(s)));
                })
            });
        });
        g.bench_function("reserve_release", |b| {
            b.iter_custom(|iters| {
                run(iters, threads, false, &shared, |t, s| {
                    t.reserve(s, 7).expect("reserve");
                    t.release(s, 7).expect("release");
                })
            });
        });
        g.bench_function("reserve_spend", |b| {
            b.iter_custom(|iters| {
                run(iters, threads, true, &shared, |t, s| {
                    t.reserve(s, 7).expect("reserve");
                    t.spend_reserved(s, 7).expect("spend");
                })
            });
        });
        g.finish();
    }
    // The register-side tag check of a presented ID (keyed BLAKE3).
    let key = kabuken::certs::CertIdKey::from_bytes([1; 32]);
    let id = key.mint(1, 12345);
    c.bench_function("cert_ids/tag_check", |b| {
        b.iter(|| key.check(black_box(1), black_box(&id)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
