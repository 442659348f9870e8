//! Model-based fuzzing (sled's pattern): the fuzzer's bytes become a book
//! configuration and a `Vec<Op>`; the real book and the reference model
//! replay it and must agree on every event and on the state after every
//! step.
//!
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run book_vs_model` (from `fuzz/`).
#![no_main]

use arbitrary::Arbitrary;
use kabuken::book::model::ModelBook;
use kabuken::book::{
    Book, BookConfig, Command, Event, ModifyPriority, NewOrder, StpMode, TimeInForce,
};
use kabuken::types::Side;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    New {
        id: u8,
        sell: bool,
        /// `None`: market order.
        price: Option<u8>,
        qty: u8,
        tif: u8,
        gtd: u8,
        post_only: bool,
        owner: u8,
        stp: u8,
    },
    Cancel { id: u8 },
    Reduce { id: u8, by: u8 },
    Modify { id: u8, price: u8, qty: u8 },
    Advance { now: u8 },
    ExpireDay,
}

#[derive(Arbitrary, Debug)]
struct Input {
    lot2: bool,
    always_lose: bool,
    max_orders: u8,
    big_ids: bool,
    ops: Vec<Op>,
}

fn id(v: u8, big: bool) -> u64 {
    let v = u64::from(v % 32);
    if big { u64::MAX - v } else { v }
}

fn command(op: &Op, big: bool) -> Command {
    match *op {
        Op::New { id: i, sell, price, qty, tif, gtd, post_only, owner, stp } => {
            Command::New(NewOrder {
                id: id(i, big),
                side: if sell { Side::Sell } else { Side::Buy },
                price: price.map(|p| 80 + i64::from(p % 40)),
                qty: u64::from(qty),
                tif: match tif % 5 {
                    0 => TimeInForce::Gtc,
                    1 => TimeInForce::Ioc,
                    2 => TimeInForce::Fok,
                    3 => TimeInForce::Day,
                    _ => TimeInForce::Gtd(u64::from(gtd)),
                },
                post_only,
                owner: u64::from(owner % 3),
                stp: StpMode::from_u8(stp % 5).unwrap_or_default(),
            })
        }
        Op::Cancel { id: i } => Command::Cancel { id: id(i, big) },
        Op::Reduce { id: i, by } => Command::Reduce { id: id(i, big), by: u64::from(by) },
        Op::Modify { id: i, price, qty } => Command::Modify {
            id: id(i, big),
            price: 78 + i64::from(price % 44),
            qty: u64::from(qty),
        },
        Op::Advance { now } => Command::AdvanceTime { now: u64::from(now) },
        Op::ExpireDay => Command::ExpireDay,
    }
}

fuzz_target!(|input: Input| {
    let cfg = BookConfig {
        lot_size: if input.lot2 { 2 } else { 1 },
        max_qty: 200,
        min_price: 79,
        max_price: 120,
        modify_priority: if input.always_lose {
            ModifyPriority::AlwaysLose
        } else {
            ModifyPriority::KeepOnDecrease
        },
        max_orders: if input.max_orders == 0 { u32::MAX - 1 } else { u32::from(input.max_orders % 16) + 1 },
        direct_id_limit: 1 << 20,
    };
    let mut book = Book::new(cfg);
    let mut model = ModelBook::new(cfg);
    let (mut got, mut want): (Vec<Event>, Vec<Event>) = (Vec::new(), Vec::new());
    for op in input.ops.iter().take(512) {
        let cmd = command(op, input.big_ids);
        got.clear();
        want.clear();
        book.apply(&cmd, &mut got);
        model.apply(&cmd, &mut want);
        assert_eq!(got, want, "events differ on {cmd:?}");
        for side in [Side::Buy, Side::Sell] {
            assert_eq!(book.orders(side).collect::<Vec<_>>(), model.orders(side));
            assert_eq!(book.levels(side).collect::<Vec<_>>(), model.levels(side));
        }
        assert_eq!(book.state_hash(), model.state_hash());
        if let (Some((b, _)), Some((a, _))) = (book.best_bid(), book.best_ask()) {
            assert!(b < a, "crossed book");
        }
    }
});
