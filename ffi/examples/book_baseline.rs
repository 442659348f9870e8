//! The Rust side of the C ABI overhead benchmark (`ffi/bench/run.sh`): the
//! same add/cancel sequence as `ffi/bench/book_bench.c`, through the Rust
//! API with events discarded. Prints `rust add_ns=.. cancel_ns=..` (median
//! of the runs).
use engine::book::{Book, NewOrder, NullSink};
use engine::types::Side;
use std::time::Instant;

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let runs: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let mut st = 0x2545_f491_4f6c_dd1d_u64;
    let orders: Vec<NewOrder> = (0..n)
        .map(|i| {
            let r = xorshift(&mut st);
            let buy = r & 1 == 0;
            let price = if buy {
                1000 + (r >> 8) % 1000
            } else {
                3000 + (r >> 8) % 1000
            } as i64;
            let side = if buy { Side::Buy } else { Side::Sell };
            NewOrder::limit(i as u64 + 1, side, price, 1 + (r >> 32) % 100)
        })
        .collect();
    let mut cancel: Vec<u64> = (1..=n as u64).collect();
    for i in (1..n).rev() {
        let j = (xorshift(&mut st) % (i as u64 + 1)) as usize;
        cancel.swap(i, j);
    }
    let (mut adds, mut cancels) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let mut book = Book::default();
        book.reserve(n);
        let t = Instant::now();
        for o in &orders {
            let _ = book.submit(std::hint::black_box(o), &mut NullSink);
        }
        adds.push(t.elapsed().as_nanos() as f64 / n as f64);
        let t = Instant::now();
        for &id in &cancel {
            let _ = book.cancel(std::hint::black_box(id), &mut NullSink);
        }
        cancels.push(t.elapsed().as_nanos() as f64 / n as f64);
        assert!(book.is_empty());
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "rust add_ns={:.1} cancel_ns={:.1}",
        med(&mut adds),
        med(&mut cancels)
    );
}
