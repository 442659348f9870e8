//! Model-based property tests: the real book and the reference model receive
//! the same random command streams (every order type and command) and must
//! emit identical events and hold identical state after every step.
//!
//! `PROPTEST_CASES` raises the case count (CI uses the default below).

use kabuken::book::model::ModelBook;
use kabuken::book::{
    Book, BookConfig, Command, Event, ModifyPriority, NewOrder, Sink, StpMode, TimeInForce,
};
use kabuken::types::Side;
use proptest::prelude::*;

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buy), Just(Side::Sell)]
}

fn tif() -> impl Strategy<Value = TimeInForce> {
    prop_oneof![
        4 => Just(TimeInForce::Gtc),
        2 => Just(TimeInForce::Ioc),
        1 => Just(TimeInForce::Fok),
        1 => Just(TimeInForce::Day),
        2 => (0u64..60).prop_map(TimeInForce::Gtd),
    ]
}

fn stp() -> impl Strategy<Value = StpMode> {
    (0u8..5).prop_map(|v| StpMode::from_u8(v).unwrap())
}

fn new_order() -> impl Strategy<Value = NewOrder> {
    (
        0u64..24,
        side(),
        prop::option::weighted(0.9, 90i64..110),
        prop_oneof![8 => 1u64..30, 1 => Just(0u64), 1 => 30u64..200],
        tif(),
        prop::bool::weighted(0.1),
        0u64..3,
        stp(),
    )
        .prop_map(
            |(id, side, price, qty, tif, post_only, owner, stp)| NewOrder {
                id,
                side,
                price,
                qty,
                tif,
                post_only,
                owner,
                stp,
            },
        )
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        12 => new_order().prop_map(Command::New),
        3 => (0u64..24).prop_map(|id| Command::Cancel { id }),
        2 => (0u64..24, 0u64..25).prop_map(|(id, by)| Command::Reduce { id, by }),
        3 => (0u64..24, 88i64..112, 0u64..40)
            .prop_map(|(id, price, qty)| Command::Modify { id, price, qty }),
        1 => (0u64..70).prop_map(|now| Command::AdvanceTime { now }),
        1 => Just(Command::ExpireDay),
    ]
}

fn config() -> impl Strategy<Value = BookConfig> {
    (
        prop_oneof![3 => Just(1u64), 1 => Just(2u64)],
        prop_oneof![
            Just(ModifyPriority::KeepOnDecrease),
            Just(ModifyPriority::AlwaysLose)
        ],
        prop_oneof![3 => Just(u32::MAX - 1), 1 => 1u32..6],
        prop_oneof![Just(0u64), Just(16u64), Just(1 << 22)],
    )
        .prop_map(
            |(lot_size, modify_priority, max_orders, direct_id_limit)| BookConfig {
                lot_size,
                max_qty: 150,
                min_price: 89,
                max_price: 111,
                modify_priority,
                max_orders,
                direct_id_limit,
            },
        )
}

/// Replays `cmds` into both books, checking events and state at every step.
fn check(cfg: BookConfig, cmds: &[Command]) -> Result<(), TestCaseError> {
    let mut book = Book::new(cfg);
    let mut model = ModelBook::new(cfg);
    let mut got: Vec<Event> = Vec::new();
    let mut want: Vec<Event> = Vec::new();
    for (step, cmd) in cmds.iter().enumerate() {
        got.clear();
        want.clear();
        book.apply(cmd, &mut got);
        model.apply(cmd, &mut want);
        prop_assert_eq!(&got, &want, "events differ at step {} ({:?})", step, cmd);
        for side in [Side::Buy, Side::Sell] {
            let real: Vec<_> = book.orders(side).collect();
            prop_assert_eq!(real, model.orders(side), "orders differ at step {}", step);
            let real: Vec<_> = book.levels(side).collect();
            prop_assert_eq!(real, model.levels(side), "levels differ at step {}", step);
        }
        prop_assert_eq!(book.len(), model.len());
        prop_assert_eq!(book.state_hash(), model.state_hash());
        // Invariant 6: never crossed after a command.
        if let (Some((bid, _)), Some((ask, _))) = (book.best_bid(), book.best_ask()) {
            prop_assert!(bid < ask, "crossed book at step {}", step);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2048,
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    })]

    #[test]
    fn book_matches_model(cfg in config(), cmds in prop::collection::vec(command(), 1..160)) {
        check(cfg, &cmds)?;
    }
}

/// Events must not depend on which sink receives them.
#[test]
fn sinks_agree() {
    struct Count(usize);
    impl Sink for Count {
        fn event(&mut self, _e: Event) {
            self.0 += 1;
        }
    }
    let cmds = [
        Command::New(NewOrder::limit(1, Side::Sell, 100, 5)),
        Command::New(NewOrder::limit(2, Side::Buy, 101, 7)),
        Command::Cancel { id: 2 },
    ];
    let mut a = Book::default();
    let mut b = Book::default();
    let mut v = Vec::new();
    let mut c = Count(0);
    for cmd in &cmds {
        a.apply(cmd, &mut v);
        b.apply(cmd, &mut c);
    }
    assert_eq!(v.len(), c.0);
    assert_eq!(a.state_hash(), b.state_hash());
}
