//! Order-book operation benchmarks.
//!
//! `cargo bench -p kabuken-bench --bench book`. Every group reports
//! `Throughput::Elements` (book commands), so criterion prints commands/s.
//! Books are pre-built outside the timed region (`iter_batched`).

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use kabuken::book::{Book, BookConfig, Command, CountingSink, NewOrder};
use kabuken::replay::flash::{self, ReportCounter};
use kabuken::replay::synth::{self, SplitMix64, SynthConfig};
use kabuken::types::Side;
use std::hint::black_box;

const N: u64 = 10_000;

/// `n` resting orders, bids below 10,000 and asks above, several per level,
/// ids 0..n in a shuffled order of arrival.
fn standing_book(n: u64) -> (Book, Vec<u64>) {
    let mut book = Book::new(BookConfig::default());
    book.reserve(n as usize * 2);
    let mut rng = SplitMix64::new(7);
    let mut ids: Vec<u64> = (0..n).collect();
    for i in (1..ids.len()).rev() {
        ids.swap(i, rng.below(i as u64 + 1) as usize);
    }
    for &id in &ids {
        let side = if id % 2 == 0 { Side::Buy } else { Side::Sell };
        let off = 1 + rng.below(200) as i64;
        let price = if side == Side::Buy {
            10_000 - off
        } else {
            10_000 + off
        };
        book.submit(
            &NewOrder::limit(id, side, price, 1 + rng.below(100)),
            &mut CountingSink::default(),
        )
        .expect("valid order");
    }
    (book, ids)
}

fn add(c: &mut Criterion) {
    let mut g = c.benchmark_group("book/add");
    g.throughput(Throughput::Elements(N));
    let orders: Vec<NewOrder> = {
        let mut rng = SplitMix64::new(1);
        (0..N)
            .map(|i| {
                let side = if rng.chance(50) {
                    Side::Buy
                } else {
                    Side::Sell
                };
                let off = 1 + rng.below(200) as i64;
                let price = if side == Side::Buy {
                    10_000 - off
                } else {
                    10_000 + off
                };
                NewOrder::limit(1_000_000 + i, side, price, 1 + rng.below(100))
            })
            .collect()
    };
    g.bench_function("passive_into_10k_book", |b| {
        b.iter_batched_ref(
            || standing_book(N).0,
            |book| {
                let mut sink = CountingSink::default();
                for o in &orders {
                    let _ = book.submit(o, &mut sink);
                }
                black_box(sink)
            },
            BatchSize::LargeInput,
        );
    });
    g.finish();
}

fn cancel(c: &mut Criterion) {
    let mut g = c.benchmark_group("book/cancel");
    g.throughput(Throughput::Elements(N));
    g.bench_function("all_of_10k_random_order", |b| {
        b.iter_batched_ref(
            || {
                let (book, mut ids) = standing_book(N);
                ids.reverse();
                (book, ids)
            },
            |(book, ids)| {
                let mut sink = CountingSink::default();
                for &id in ids.iter() {
                    let _ = book.cancel(id, &mut sink);
                }
                black_box(sink)
            },
            BatchSize::LargeInput,
        );
    });
    g.finish();
}

fn sweep(c: &mut Criterion) {
    let mut g = c.benchmark_group("book/aggressive_sweep");
    for levels in [1u64, 10, 100] {
        // `levels` levels of 10 orders each; one market order takes them all.
        let fills = levels * 10;
        g.throughput(Throughput::Elements(fills));
        g.bench_with_input(
            BenchmarkId::from_parameter(format!("{levels}_levels")),
            &levels,
            |b, &levels| {
                b.iter_batched_ref(
                    || {
                        let mut book = Book::new(BookConfig::default());
                        let mut sink = CountingSink::default();
                        for l in 0..levels {
                            for k in 0..10 {
                                let id = l * 10 + k;
                                let _ = book.submit(
                                    &NewOrder::limit(id, Side::Sell, 10_000 + l as i64, 5),
                                    &mut sink,
                                );
                            }
                        }
                        book
                    },
                    |book| {
                        let mut sink = CountingSink::default();
                        let _ = book
                            .submit(&NewOrder::market(u64::MAX, Side::Buy, fills * 5), &mut sink);
                        black_box(sink)
                    },
                    BatchSize::SmallInput,
                );
            },
        );
    }
    g.finish();
}

fn modify(c: &mut Criterion) {
    let mut g = c.benchmark_group("book/modify");
    g.throughput(Throughput::Elements(N));
    for (name, cross) in [("reprice_passive", false), ("reprice_crossing", true)] {
        g.bench_function(name, |b| {
            b.iter_batched_ref(
                || standing_book(N),
                |(book, ids)| {
                    let mut sink = CountingSink::default();
                    for &id in ids.iter() {
                        let Some(o) = book.order(id) else { continue };
                        let step = if cross { 150 } else { -1 };
                        let price = if o.side == Side::Buy {
                            o.price + step
                        } else {
                            o.price - step
                        };
                        let _ = book.modify(id, price, o.qty + 1, &mut sink);
                    }
                    black_box(sink)
                },
                BatchSize::LargeInput,
            );
        });
    }
    g.bench_function("reduce_keeps_priority", |b| {
        b.iter_batched_ref(
            || standing_book(N),
            |(book, ids)| {
                let mut sink = CountingSink::default();
                for &id in ids.iter() {
                    let _ = book.reduce(id, 1, &mut sink);
                }
                black_box(sink)
            },
            BatchSize::LargeInput,
        );
    });
    g.finish();
}

fn mixed(c: &mut Criterion) {
    let mut g = c.benchmark_group("book/mixed");
    let msgs = synth::generate(&SynthConfig {
        orders: 100_000,
        ..SynthConfig::default()
    });
    g.throughput(Throughput::Elements(msgs.len() as u64));
    g.sample_size(20);
    g.bench_function("synthetic_flow_with_reports", |b| {
        b.iter(|| {
            let mut out = ReportCounter::default();
            black_box(flash::replay(&msgs, &mut out));
            out
        });
    });
    let cmds: Vec<Command> = msgs
        .iter()
        .map(|m| match *m {
            flash::Msg::New {
                id,
                side,
                price,
                qty,
                ioc,
                ..
            } => Command::New(
                NewOrder::limit(id, side, price, u64::from(qty)).with_tif(if ioc {
                    kabuken::book::TimeInForce::Ioc
                } else {
                    kabuken::book::TimeInForce::Gtc
                }),
            ),
            flash::Msg::Cancel { id, .. } => Command::Cancel { id },
            flash::Msg::Modify { id, price, qty, .. } => Command::Modify {
                id,
                price,
                qty: u64::from(qty),
            },
        })
        .collect();
    g.bench_function("synthetic_flow_commands", |b| {
        b.iter(|| {
            let mut book = Book::new(BookConfig::flash());
            let mut sink = CountingSink::default();
            for c in &cmds {
                book.apply(c, &mut sink);
            }
            black_box(sink)
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = add, cancel, sweep, modify, mixed
}
criterion_main!(benches);
