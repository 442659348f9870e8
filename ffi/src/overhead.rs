//! C ABI overhead, measured in one process with the runs interleaved (the
//! machine is shared, so separate processes see different load): the Rust
//! API against the `extern "C"` exports called through function pointers
//! (opaque to the optimiser, as a C caller's calls are).
//!
//! 1. Per call: adds then cancels (random ids and prices, events dropped).
//! 2. Batch: a Flash workload, `flash::replay` (reports counted) against
//!    `kbk_book_apply_batch_events` (events counted).
//!
//! An ignored test (it measures, it does not check), run by `ffi/bench/run.sh`:
//! `KBK_BENCH_DEPTH=10000 KBK_BENCH_RUNS=7 KBK_BENCH_WORKLOAD=path.bin cargo test --release -p kabuken-ffi --lib overhead -- --ignored --nocapture`
use crate::book::*;
use crate::status::*;
use core::hint::black_box;
use engine::book::{Book, NewOrder, NullSink};
use engine::replay::flash::{self, Msg, ReportCounter};
use engine::types::Side;
use std::time::Instant;

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

type SubmitFn = extern "C" fn(*mut kbk_book, *const kbk_order) -> kbk_status;
type CancelFn = extern "C" fn(*mut kbk_book, u64) -> kbk_status;
type BatchFn = extern "C" fn(
    *mut kbk_book,
    *const kbk_command,
    usize,
    *mut kbk_event,
    usize,
    *mut usize,
    *mut usize,
) -> kbk_status;

type CbBatchFn = extern "C" fn(*mut kbk_book, *const kbk_command, usize) -> kbk_status;

extern "C" fn count_event(ud: *mut core::ffi::c_void, e: *const kbk_event) {
    // SAFETY: `ud` is the `[u64; 8]` passed with the callback and `e` a
    // valid event, both for the duration of the call.
    unsafe {
        let kinds = &mut *ud.cast::<[u64; 8]>();
        kinds[usize::from((*e).kind & 7)] += 1;
    }
}

fn new_book(cfg: Option<&kbk_book_config>) -> *mut kbk_book {
    let mut b = core::ptr::null_mut();
    let st = kbk_book_new(cfg.map_or(core::ptr::null(), |c| c as *const _), &mut b);
    assert_eq!(st, KBK_STATUS_OK);
    b
}

/// Adds `n` passive orders to a book already holding `n` (ids, prices and
/// sides random), then cancels them in random order; `rounds` times per run
/// (the shape of the criterion `book/add` and `book/cancel` benches: a
/// warm 10k-order book). Reports ns per add and per cancel, median of runs.
fn per_call(n: usize, runs: usize) {
    const ROUNDS: usize = 100;
    let mut st = 0x2545_f491_4f6c_dd1d_u64;
    let mut orders = Vec::with_capacity(2 * n);
    let mut corders = Vec::with_capacity(2 * n);
    for i in 0..2 * n {
        let r = xorshift(&mut st);
        let buy = r & 1 == 0;
        let price = if buy {
            1000 + (r >> 8) % 1000
        } else {
            3000 + (r >> 8) % 1000
        } as i64;
        let qty = 1 + (r >> 32) % 100;
        let side = if buy { Side::Buy } else { Side::Sell };
        orders.push(NewOrder::limit(i as u64 + 1, side, price, qty));
        corders.push(kbk_order {
            id: i as u64 + 1,
            price,
            qty,
            side: side as u8,
            ..kbk_order::default()
        });
    }
    let (standing, added) = orders.split_at(n);
    let (cstanding, cadded) = corders.split_at(n);
    let mut cancel: Vec<u64> = (n as u64 + 1..=2 * n as u64).collect();
    for i in (1..n).rev() {
        let j = (xorshift(&mut st) % (i as u64 + 1)) as usize;
        cancel.swap(i, j);
    }
    let submit: SubmitFn = black_box(kbk_book_submit);
    let cancel_fn: CancelFn = black_box(kbk_book_cancel);
    let ops = (n * ROUNDS) as f64;
    let (mut ra, mut rc, mut ca, mut cc) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        let mut book = Book::default();
        for o in standing {
            let _ = book.submit(o, &mut NullSink);
        }
        let (mut ta, mut tc) = (0.0, 0.0);
        for _ in 0..ROUNDS {
            let t = Instant::now();
            for o in added {
                let _ = book.submit(black_box(o), &mut NullSink);
            }
            ta += t.elapsed().as_nanos() as f64;
            let t = Instant::now();
            for &id in &cancel {
                let _ = book.cancel(black_box(id), &mut NullSink);
            }
            tc += t.elapsed().as_nanos() as f64;
        }
        ra.push(ta / ops);
        rc.push(tc / ops);
        drop(book);

        let b = new_book(None);
        for o in cstanding {
            assert_eq!(kbk_book_submit(b, o), KBK_STATUS_OK);
        }
        let (mut ta, mut tc) = (0.0, 0.0);
        for _ in 0..ROUNDS {
            let t = Instant::now();
            for o in cadded {
                let _ = black_box(submit(b, o));
            }
            ta += t.elapsed().as_nanos() as f64;
            let t = Instant::now();
            for &id in &cancel {
                let _ = black_box(cancel_fn(b, id));
            }
            tc += t.elapsed().as_nanos() as f64;
        }
        ca.push(ta / ops);
        cc.push(tc / ops);
        kbk_book_free(b);
    }
    let (ra, rc, ca, cc) = (
        median(&mut ra),
        median(&mut rc),
        median(&mut ca),
        median(&mut cc),
    );
    println!("per-call ns, {n}-order book (median of {runs}): add rust {ra:.1} abi {ca:.1} (+{:.1}); cancel rust {rc:.1} abi {cc:.1} (+{:.1})", ca - ra, cc - rc);
}

fn to_commands(msgs: &[Msg]) -> Vec<kbk_command> {
    msgs.iter()
        .map(|m| match *m {
            Msg::New {
                id,
                side,
                price,
                qty,
                ioc,
                ..
            } => kbk_command {
                id,
                price,
                qty: u64::from(qty),
                kind: KBK_CMD_NEW,
                side: side as u8,
                tif: if ioc { KBK_TIF_IOC } else { KBK_TIF_GTC },
                ..kbk_command::default()
            },
            Msg::Cancel { id, .. } => kbk_command {
                id,
                kind: KBK_CMD_CANCEL,
                ..kbk_command::default()
            },
            Msg::Modify { id, price, qty, .. } => kbk_command {
                id,
                price,
                qty: u64::from(qty),
                kind: KBK_CMD_MODIFY,
                ..kbk_command::default()
            },
        })
        .collect()
}

fn batch(path: &str, runs: usize) {
    let bytes = engine::replay::read_maybe_xz(std::path::Path::new(path)).expect("workload");
    let msgs = flash::parse(&bytes).expect("valid workload");
    let cmds = to_commands(&msgs);
    let n = cmds.len();
    let mut cfg = kbk_book_config {
        lot_size: 0,
        max_qty: 0,
        min_price: 0,
        max_price: 0,
        direct_id_limit: 0,
        max_orders: 0,
        modify_priority: 0,
    };
    assert_eq!(kbk_book_config_flash(&mut cfg), KBK_STATUS_OK);
    let apply: BatchFn = black_box(kbk_book_apply_batch_events);
    let cap: usize = std::env::var("KBK_BENCH_CAP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4096);
    let mut ev = vec![kbk_event::default(); cap];
    let (mut rs, mut cs, mut bs) = (vec![], vec![], vec![]);
    let apply_cb: CbBatchFn = black_box(kbk_book_apply_batch);
    let mut counts = (0u64, 0u64);
    for _ in 0..runs {
        let mut out = ReportCounter::default();
        let t = Instant::now();
        let _ = black_box(flash::replay(&msgs, &mut out));
        rs.push(t.elapsed().as_secs_f64());
        black_box(&out);

        let mut by_kind = [0u64; 8];
        let t = Instant::now();
        let b = new_book(Some(&cfg));
        assert_eq!(kbk_book_reserve(b, 1 << 16), KBK_STATUS_OK);
        let mut done = 0;
        loop {
            let (mut applied, mut nev) = (0usize, 0usize);
            let st = apply(
                b,
                cmds[done..].as_ptr(),
                n - done,
                ev.as_mut_ptr(),
                cap,
                &mut applied,
                &mut nev,
            );
            assert_eq!(st, KBK_STATUS_OK);
            for e in &ev[..nev] {
                by_kind[usize::from(e.kind & 7)] += 1;
            }
            done += applied;
            if done == n {
                let mut p = 0;
                assert_eq!(kbk_book_pending_events(b, &mut p), KBK_STATUS_OK);
                if p == 0 {
                    break;
                }
            }
        }
        kbk_book_free(b);
        cs.push(t.elapsed().as_secs_f64());

        let mut cb_kinds = [0u64; 8];
        let t = Instant::now();
        let b = new_book(Some(&cfg));
        assert_eq!(kbk_book_reserve(b, 1 << 16), KBK_STATUS_OK);
        let ud = (&mut cb_kinds as *mut [u64; 8]).cast::<core::ffi::c_void>();
        assert_eq!(
            kbk_book_set_event_callback(b, Some(count_event), ud),
            KBK_STATUS_OK
        );
        assert_eq!(apply_cb(b, cmds.as_ptr(), n), KBK_STATUS_OK);
        kbk_book_free(b);
        bs.push(t.elapsed().as_secs_f64());
        assert_eq!(cb_kinds[usize::from(KBK_EVENT_TRADE)], out.by_kind[1]);
        counts = (by_kind[usize::from(KBK_EVENT_TRADE)], out.by_kind[1]);
    }
    let (r, c, cb) = (median(&mut rs), median(&mut cs), median(&mut bs));
    assert_eq!(counts.0, counts.1, "the same trades both ways");
    println!(
        "batch {path}: {n} msgs, rust replay {:.0} msgs/s; abi batch into an array {:.0} msgs/s ({:.1}% of rust); abi batch with a callback {:.0} msgs/s ({:.1}%) (median of {runs})",
        n as f64 / r,
        n as f64 / c,
        100.0 * r / c,
        n as f64 / cb,
        100.0 * r / cb
    );
}

#[test]
#[ignore = "a measurement, run by ffi/bench/run.sh"]
fn abi_overhead() {
    let env = |k: &str| std::env::var(k).ok();
    let n = env("KBK_BENCH_DEPTH")
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let runs = env("KBK_BENCH_RUNS")
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    per_call(n, runs);
    if let Some(p) = env("KBK_BENCH_WORKLOAD") {
        batch(&p, runs);
    }
}
