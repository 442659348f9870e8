//! The C ABI against the Rust API on a random command stream using every
//! command, order type, time in force and STP mode: single calls, the
//! callback batch and the array batch (with a tiny array, so events carry
//! over between calls) give the same events as each other and as the Rust
//! book, and the same state hash.

use crate::book::*;
use crate::status::*;
use core::ffi::c_void;
use engine::book::{Book, Command, Event, NewOrder, StpMode, TimeInForce};
use engine::replay::synth::SplitMix64;
use engine::types::Side;

fn stream(n: usize, seed: u64) -> Vec<kbk_command> {
    let mut r = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(n);
    let mut next_id = 1u64;
    let mut time = 0u64;
    for _ in 0..n {
        let pick = r.below(100);
        let id = if next_id > 1 {
            1 + r.below(next_id - 1)
        } else {
            1
        };
        let mut c = kbk_command::default();
        match pick {
            0..=54 => {
                c.kind = KBK_CMD_NEW;
                c.id = next_id;
                next_id += 1;
                c.side = r.below(2) as u8;
                c.price = 1000 + r.below(20) as i64;
                c.qty = 1 + r.below(50);
                c.order_type = u8::from(r.chance(5));
                c.tif = r.below(5) as u8;
                c.post_only = u8::from(r.chance(5));
                c.owner = r.below(4);
                c.stp = r.below(5) as u8;
                c.time = time + r.below(100);
            }
            55..=74 => {
                c.kind = KBK_CMD_CANCEL;
                c.id = id;
            }
            75..=84 => {
                c.kind = KBK_CMD_REDUCE;
                c.id = id;
                c.qty = r.below(30);
            }
            85..=95 => {
                c.kind = KBK_CMD_MODIFY;
                c.id = id;
                c.price = 1000 + r.below(20) as i64;
                c.qty = r.below(60);
            }
            96..=98 => {
                time += r.below(50);
                c.kind = KBK_CMD_ADVANCE_TIME;
                c.time = time;
            }
            _ => c.kind = KBK_CMD_EXPIRE_DAY,
        }
        out.push(c);
    }
    out
}

fn to_rust(c: &kbk_command) -> Command {
    match c.kind {
        KBK_CMD_NEW => Command::New(NewOrder {
            id: c.id,
            side: Side::from_u8(c.side).unwrap(),
            price: (c.order_type == KBK_ORDER_LIMIT).then_some(c.price),
            qty: c.qty,
            tif: match c.tif {
                KBK_TIF_GTC => TimeInForce::Gtc,
                KBK_TIF_IOC => TimeInForce::Ioc,
                KBK_TIF_FOK => TimeInForce::Fok,
                KBK_TIF_DAY => TimeInForce::Day,
                _ => TimeInForce::Gtd(c.time),
            },
            post_only: c.post_only == 1,
            owner: c.owner,
            stp: StpMode::from_u8(c.stp).unwrap(),
        }),
        KBK_CMD_CANCEL => Command::Cancel { id: c.id },
        KBK_CMD_REDUCE => Command::Reduce {
            id: c.id,
            by: c.qty,
        },
        KBK_CMD_MODIFY => Command::Modify {
            id: c.id,
            price: c.price,
            qty: c.qty,
        },
        KBK_CMD_ADVANCE_TIME => Command::AdvanceTime { now: c.time },
        _ => Command::ExpireDay,
    }
}

/// The kind code and order id of a Rust event.
fn key(e: &Event) -> (u8, u64) {
    match *e {
        Event::Accepted { id, .. } => (KBK_EVENT_ACCEPTED, id),
        Event::Trade { maker_id, .. } => (KBK_EVENT_TRADE, maker_id),
        Event::Cancelled { id, .. } => (KBK_EVENT_CANCELLED, id),
        Event::Reduced { id, .. } => (KBK_EVENT_REDUCED, id),
        Event::Modified { id, .. } => (KBK_EVENT_MODIFIED, id),
        Event::Rejected { id, .. } => (KBK_EVENT_REJECTED, id),
    }
}

extern "C" fn collect(ud: *mut c_void, e: *const kbk_event) {
    // SAFETY: `ud` is the Vec passed with this callback, `e` valid for the
    // call.
    unsafe { (*ud.cast::<Vec<kbk_event>>()).push(*e) };
}

fn new_book() -> *mut kbk_book {
    let mut b = core::ptr::null_mut();
    assert_eq!(kbk_book_new(core::ptr::null(), &mut b), KBK_STATUS_OK);
    b
}

fn hash(b: *mut kbk_book) -> [u8; 32] {
    let mut h = [0u8; 32];
    assert_eq!(kbk_book_state_hash(b, h.as_mut_ptr()), KBK_STATUS_OK);
    h
}

#[test]
fn abi_paths_agree_with_the_rust_book() {
    for seed in 1..=4 {
        let cmds = stream(5_000, seed);

        let mut rust = Book::default();
        let mut rust_events: Vec<Event> = Vec::new();
        for c in &cmds {
            rust.apply(&to_rust(c), &mut rust_events);
        }

        // Single calls.
        let single = new_book();
        let mut ev_single: Vec<kbk_event> = Vec::new();
        let ud = (&mut ev_single as *mut Vec<kbk_event>).cast::<c_void>();
        assert_eq!(
            kbk_book_set_event_callback(single, Some(collect), ud),
            KBK_STATUS_OK
        );
        for c in &cmds {
            let st = kbk_book_apply(single, c);
            assert!(st == KBK_STATUS_OK || (101..=109).contains(&st), "{st}");
        }

        // Callback batch.
        let batch = new_book();
        let mut ev_batch: Vec<kbk_event> = Vec::new();
        let ud = (&mut ev_batch as *mut Vec<kbk_event>).cast::<c_void>();
        assert_eq!(
            kbk_book_set_event_callback(batch, Some(collect), ud),
            KBK_STATUS_OK
        );
        assert_eq!(
            kbk_book_apply_batch(batch, cmds.as_ptr(), cmds.len()),
            KBK_STATUS_OK
        );

        // Array batch with a 3-event array.
        let arr = new_book();
        let mut ev_arr: Vec<kbk_event> = Vec::new();
        let mut buf = [kbk_event::default(); 3];
        let mut done = 0;
        loop {
            let (mut applied, mut n) = (0usize, 0usize);
            let st = kbk_book_apply_batch_events(
                arr,
                cmds[done..].as_ptr(),
                cmds.len() - done,
                buf.as_mut_ptr(),
                buf.len(),
                &mut applied,
                &mut n,
            );
            assert_eq!(st, KBK_STATUS_OK);
            ev_arr.extend_from_slice(&buf[..n]);
            done += applied;
            let mut pending = 0;
            assert_eq!(kbk_book_pending_events(arr, &mut pending), KBK_STATUS_OK);
            if done == cmds.len() && pending == 0 {
                break;
            }
        }

        let kinds = |k| ev_single.iter().filter(|e| e.kind == k).count();
        assert!(kinds(KBK_EVENT_TRADE) > 100 && kinds(KBK_EVENT_REDUCED) > 10);
        assert!(kinds(KBK_EVENT_MODIFIED) > 0 && kinds(KBK_EVENT_REJECTED) > 100);
        assert_eq!(ev_single, ev_batch);
        assert_eq!(ev_single, ev_arr);
        assert_eq!(ev_single.len(), rust_events.len());
        for (c, r) in ev_single.iter().zip(&rust_events) {
            assert_eq!((c.kind, c.id), key(r));
        }
        assert_eq!(hash(single), rust.state_hash());
        assert_eq!(hash(batch), rust.state_hash());
        assert_eq!(hash(arr), rust.state_hash());
        let mut len = 0;
        assert_eq!(kbk_book_len(single, &mut len), KBK_STATUS_OK);
        assert_eq!(len, rust.len());
        kbk_book_free(single);
        kbk_book_free(batch);
        kbk_book_free(arr);
    }
}
