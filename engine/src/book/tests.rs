//! Scenario tests of the book's semantics (the model-based property tests
//! are in `engine/tests/book_model.rs`).

use super::*;
use crate::types::Side::{Buy, Sell};

fn book() -> Book {
    Book::new(BookConfig::default())
}

fn run(b: &mut Book, cmd: Command) -> Vec<Event> {
    let mut ev = Vec::new();
    b.apply(&cmd, &mut ev);
    ev
}

fn lim(id: u64, side: Side, price: i64, qty: u64) -> Command {
    Command::New(NewOrder::limit(id, side, price, qty))
}

fn trades(ev: &[Event]) -> Vec<(u64, u64, i64, u64)> {
    ev.iter()
        .filter_map(|e| match *e {
            Event::Trade {
                maker_id,
                taker_id,
                price,
                qty,
                ..
            } => Some((maker_id, taker_id, price, qty)),
            _ => None,
        })
        .collect()
}

fn rejected(ev: &[Event]) -> Option<RejectReason> {
    match ev {
        [Event::Rejected { reason, .. }] => Some(*reason),
        _ => None,
    }
}

#[test]
fn price_time_priority_and_maker_price() {
    let mut b = book();
    run(&mut b, lim(1, Sell, 101, 5));
    run(&mut b, lim(2, Sell, 100, 5));
    run(&mut b, lim(3, Sell, 100, 5));
    let ev = run(&mut b, lim(4, Buy, 102, 12));
    assert_eq!(
        trades(&ev),
        vec![(2, 4, 100, 5), (3, 4, 100, 5), (1, 4, 101, 2)]
    );
    assert_eq!(b.best_ask(), Some((101, 3)));
    assert_eq!(b.best_bid(), None);
    assert_eq!(b.len(), 1);
}

#[test]
fn ioc_remainder_cancelled_and_market_orders() {
    let mut b = book();
    run(&mut b, lim(1, Sell, 100, 5));
    let ev = run(
        &mut b,
        Command::New(NewOrder::limit(2, Buy, 100, 8).with_tif(TimeInForce::Ioc)),
    );
    assert_eq!(trades(&ev), vec![(1, 2, 100, 5)]);
    assert!(matches!(
        ev.last(),
        Some(Event::Cancelled {
            id: 2,
            qty: 3,
            reason: CancelReason::Unfilled,
            ..
        })
    ));
    assert!(b.is_empty());
    run(&mut b, lim(3, Buy, 90, 4));
    run(&mut b, lim(4, Buy, 80, 4));
    let ev = run(&mut b, Command::New(NewOrder::market(5, Sell, 10)));
    assert_eq!(trades(&ev), vec![(3, 5, 90, 4), (4, 5, 80, 4)]);
    assert!(matches!(ev.last(), Some(Event::Cancelled { qty: 2, .. })));
    // A market order that could rest is refused.
    let ev = run(
        &mut b,
        Command::New(NewOrder::market(6, Buy, 1).with_tif(TimeInForce::Gtc)),
    );
    assert_eq!(rejected(&ev), Some(RejectReason::InvalidOrderType));
}

#[test]
fn fok_all_or_nothing() {
    let mut b = book();
    run(&mut b, lim(1, Sell, 100, 5));
    run(&mut b, lim(2, Sell, 101, 5));
    let before = b.state_hash();
    let ev = run(
        &mut b,
        Command::New(NewOrder::limit(3, Buy, 101, 11).with_tif(TimeInForce::Fok)),
    );
    assert!(trades(&ev).is_empty());
    assert!(matches!(
        ev[1],
        Event::Cancelled {
            reason: CancelReason::FillOrKill,
            qty: 11,
            ..
        }
    ));
    assert_eq!(b.state_hash(), before);
    let ev = run(
        &mut b,
        Command::New(NewOrder::limit(3, Buy, 101, 10).with_tif(TimeInForce::Fok)),
    );
    assert_eq!(trades(&ev), vec![(1, 3, 100, 5), (2, 3, 101, 5)]);
    assert!(b.is_empty());
}

#[test]
fn post_only_refuses_to_cross() {
    let mut b = book();
    run(&mut b, lim(1, Sell, 100, 5));
    let ev = run(
        &mut b,
        Command::New(NewOrder::limit(2, Buy, 100, 1).with_post_only()),
    );
    assert_eq!(rejected(&ev), Some(RejectReason::PostOnlyWouldCross));
    let ev = run(
        &mut b,
        Command::New(NewOrder::limit(2, Buy, 99, 1).with_post_only()),
    );
    assert!(matches!(ev[..], [Event::Accepted { .. }]));
    let ev = run(
        &mut b,
        Command::Modify {
            id: 2,
            price: 100,
            qty: 1,
        },
    );
    assert_eq!(rejected(&ev), Some(RejectReason::PostOnlyWouldCross));
    assert_eq!(b.order(2).unwrap().price, 99);
}

#[test]
fn cancel_reduce_modify_priority() {
    let mut b = book();
    run(&mut b, lim(1, Buy, 100, 10));
    run(&mut b, lim(2, Buy, 100, 10));
    // Reduce keeps priority.
    let ev = run(&mut b, Command::Reduce { id: 1, by: 4 });
    assert!(matches!(
        ev[..],
        [Event::Reduced {
            id: 1,
            qty: 4,
            remaining: 6,
            ..
        }]
    ));
    let ev = run(&mut b, lim(3, Sell, 100, 6));
    assert_eq!(trades(&ev), vec![(1, 3, 100, 6)]);
    // Modify up in size loses priority.
    run(&mut b, lim(4, Buy, 100, 10));
    run(
        &mut b,
        Command::Modify {
            id: 2,
            price: 100,
            qty: 11,
        },
    );
    let ev = run(&mut b, lim(5, Sell, 100, 1));
    assert_eq!(trades(&ev), vec![(4, 5, 100, 1)]);
    // Modify down at the same price keeps it (default rule).
    run(
        &mut b,
        Command::Modify {
            id: 4,
            price: 100,
            qty: 5,
        },
    );
    let ev = run(&mut b, lim(6, Sell, 100, 1));
    assert_eq!(trades(&ev), vec![(4, 6, 100, 1)]);
    // Reduce to zero cancels.
    let ev = run(&mut b, Command::Reduce { id: 4, by: 100 });
    assert!(matches!(ev[..], [Event::Cancelled { id: 4, qty: 4, .. }]));
    // Unknown ids are rejected with the command kind.
    for cmd in [
        Command::Cancel { id: 4 },
        Command::Reduce { id: 4, by: 1 },
        Command::Modify {
            id: 4,
            price: 1,
            qty: 1,
        },
    ] {
        let ev = run(&mut b, cmd);
        assert_eq!(rejected(&ev), Some(RejectReason::UnknownOrder));
    }
}

#[test]
fn modify_into_cross_matches_as_taker_at_maker_price() {
    let mut b = book();
    run(&mut b, lim(1, Sell, 105, 3));
    run(&mut b, lim(2, Buy, 100, 5));
    let ev = run(
        &mut b,
        Command::Modify {
            id: 2,
            price: 110,
            qty: 5,
        },
    );
    assert!(matches!(
        ev[0],
        Event::Modified {
            id: 2,
            price: 110,
            qty: 5,
            ..
        }
    ));
    assert_eq!(trades(&ev), vec![(1, 2, 105, 3)]);
    assert_eq!(b.best_bid(), Some((110, 2)));
}

#[test]
fn flash_rule_modify_always_requeues() {
    let mut b = Book::new(BookConfig::flash());
    run(&mut b, lim(1, Buy, 100, 10));
    run(&mut b, lim(2, Buy, 100, 10));
    run(
        &mut b,
        Command::Modify {
            id: 1,
            price: 100,
            qty: 5,
        },
    );
    let ev = run(&mut b, lim(3, Sell, 100, 1));
    assert_eq!(trades(&ev), vec![(2, 3, 100, 1)]);
}

#[test]
fn duplicate_and_reused_ids() {
    let mut b = book();
    run(&mut b, lim(1, Buy, 100, 10));
    let ev = run(&mut b, lim(1, Buy, 99, 10));
    assert_eq!(rejected(&ev), Some(RejectReason::DuplicateId));
    run(&mut b, lim(2, Sell, 100, 10));
    // Id 1 filled: it may be used again.
    let ev = run(&mut b, lim(1, Sell, 120, 1));
    assert!(matches!(ev[..], [Event::Accepted { .. }]));
    // Large ids go through the sparse index.
    let ev = run(&mut b, lim(u64::MAX, Sell, 121, 1));
    assert!(matches!(ev[..], [Event::Accepted { .. }]));
    assert_eq!(b.order(u64::MAX).unwrap().price, 121);
    run(&mut b, Command::Cancel { id: u64::MAX });
    assert!(b.order(u64::MAX).is_none());
}

#[test]
fn validation_refuses_and_changes_nothing() {
    let mut b = Book::new(BookConfig {
        lot_size: 10,
        max_qty: 1000,
        min_price: 1,
        max_price: 1000,
        ..BookConfig::default()
    });
    run(&mut b, lim(1, Buy, 100, 10));
    let h = b.state_hash();
    for (cmd, why) in [
        (lim(2, Buy, 100, 0), RejectReason::InvalidQuantity),
        (lim(2, Buy, 100, 2000), RejectReason::InvalidQuantity),
        (lim(2, Buy, 100, 15), RejectReason::LotSize),
        (lim(2, Buy, 0, 10), RejectReason::PriceOutOfRange),
        (lim(2, Buy, 1001, 10), RejectReason::PriceOutOfRange),
        (lim(1, Buy, 100, 10), RejectReason::DuplicateId),
        (
            Command::Reduce { id: 1, by: 0 },
            RejectReason::InvalidQuantity,
        ),
        (Command::Reduce { id: 1, by: 5 }, RejectReason::LotSize),
        (
            Command::Modify {
                id: 1,
                price: 100,
                qty: 5,
            },
            RejectReason::LotSize,
        ),
        (
            Command::Modify {
                id: 1,
                price: 5000,
                qty: 10,
            },
            RejectReason::PriceOutOfRange,
        ),
        (
            Command::New(NewOrder::limit(2, Buy, 100, 10).with_tif(TimeInForce::Gtd(0))),
            RejectReason::AlreadyExpired,
        ),
        (
            Command::New(
                NewOrder::limit(2, Buy, 100, 10)
                    .with_tif(TimeInForce::Ioc)
                    .with_post_only(),
            ),
            RejectReason::InvalidOrderType,
        ),
    ] {
        let ev = run(&mut b, cmd);
        assert_eq!(rejected(&ev), Some(why), "{cmd:?}");
        assert_eq!(b.state_hash(), h, "{cmd:?} changed state");
    }
    assert!(Book::try_new(BookConfig {
        lot_size: 0,
        ..BookConfig::default()
    })
    .is_err());
}

#[test]
fn book_full() {
    let mut b = Book::new(BookConfig {
        max_orders: 2,
        ..BookConfig::default()
    });
    run(&mut b, lim(1, Buy, 100, 1));
    run(&mut b, lim(2, Buy, 100, 1));
    assert_eq!(
        rejected(&run(&mut b, lim(3, Buy, 99, 1))),
        Some(RejectReason::BookFull)
    );
    // An IOC never rests, so it is still allowed.
    let ev = run(
        &mut b,
        Command::New(NewOrder::limit(3, Sell, 100, 1).with_tif(TimeInForce::Ioc)),
    );
    assert_eq!(trades(&ev).len(), 1);
}

#[test]
fn gtd_and_day_expiry() {
    let mut b = book();
    run(
        &mut b,
        Command::New(NewOrder::limit(1, Buy, 100, 1).with_tif(TimeInForce::Gtd(50))),
    );
    run(
        &mut b,
        Command::New(NewOrder::limit(2, Buy, 99, 1).with_tif(TimeInForce::Gtd(40))),
    );
    run(
        &mut b,
        Command::New(NewOrder::limit(3, Buy, 98, 1).with_tif(TimeInForce::Day)),
    );
    run(&mut b, lim(4, Buy, 97, 1));
    assert!(run(&mut b, Command::AdvanceTime { now: 39 }).is_empty());
    let ev = run(&mut b, Command::AdvanceTime { now: 50 });
    let ids: Vec<u64> = ev
        .iter()
        .map(|e| match e {
            Event::Cancelled {
                id,
                reason: CancelReason::Expired,
                ..
            } => *id,
            _ => panic!("{e:?}"),
        })
        .collect();
    assert_eq!(ids, vec![2, 1]);
    // Time never goes back.
    assert!(run(&mut b, Command::AdvanceTime { now: 10 }).is_empty());
    assert_eq!(b.now(), 50);
    let ev = run(&mut b, Command::ExpireDay);
    assert!(matches!(
        ev[..],
        [Event::Cancelled {
            id: 3,
            reason: CancelReason::Expired,
            ..
        }]
    ));
    assert_eq!(b.len(), 1);
}

#[test]
fn self_trade_prevention_modes() {
    let own = |o: NewOrder, stp| Command::New(o.with_owner(7, stp));
    // Cancel newest: the taker stops, the maker stays.
    let mut b = book();
    run(&mut b, own(NewOrder::limit(1, Sell, 100, 5), StpMode::Off));
    let ev = run(
        &mut b,
        own(NewOrder::limit(2, Buy, 100, 5), StpMode::CancelNewest),
    );
    assert!(trades(&ev).is_empty());
    assert!(matches!(
        ev[1],
        Event::Cancelled {
            id: 2,
            reason: CancelReason::SelfTrade,
            ..
        }
    ));
    assert_eq!(b.best_ask(), Some((100, 5)));
    // Cancel oldest: the maker goes, the taker trades on with others.
    run(&mut b, lim(3, Sell, 100, 2));
    let ev = run(
        &mut b,
        own(NewOrder::limit(4, Buy, 100, 5), StpMode::CancelOldest),
    );
    assert!(matches!(
        ev[1],
        Event::Cancelled {
            id: 1,
            reason: CancelReason::SelfTrade,
            ..
        }
    ));
    assert_eq!(trades(&ev), vec![(3, 4, 100, 2)]);
    assert_eq!(b.best_bid(), Some((100, 3)));
    // Cancel both.
    let mut b = book();
    run(&mut b, own(NewOrder::limit(1, Sell, 100, 5), StpMode::Off));
    let ev = run(
        &mut b,
        own(NewOrder::limit(2, Buy, 100, 5), StpMode::CancelBoth),
    );
    assert_eq!(ev.len(), 3);
    assert!(b.is_empty());
    // Decrement: both shrink by the smaller size, no trade.
    run(&mut b, own(NewOrder::limit(1, Sell, 100, 5), StpMode::Off));
    let ev = run(
        &mut b,
        own(NewOrder::limit(2, Buy, 100, 3), StpMode::Decrement),
    );
    assert!(trades(&ev).is_empty());
    assert_eq!(b.best_ask(), Some((100, 2)));
    assert!(b.best_bid().is_none());
    // Owner 0 never self-trades.
    let mut b = book();
    run(&mut b, lim(1, Sell, 100, 5));
    let ev = run(
        &mut b,
        Command::New(NewOrder::limit(2, Buy, 100, 5).with_owner(0, StpMode::CancelBoth)),
    );
    assert_eq!(trades(&ev).len(), 1);
}

#[test]
fn queries_and_l3() {
    let mut b = book();
    for (i, p) in [100, 99, 98, 100, 97].into_iter().enumerate() {
        run(&mut b, lim(i as u64 + 1, Buy, p, 10));
    }
    run(&mut b, lim(10, Sell, 105, 3));
    let mut top = Vec::new();
    b.top_levels(Buy, 2, &mut top);
    assert_eq!(
        top,
        vec![
            LevelInfo {
                price: 100,
                qty: 20,
                orders: 2
            },
            LevelInfo {
                price: 99,
                qty: 10,
                orders: 1
            }
        ]
    );
    assert_eq!(b.depth_at(Buy, 98).unwrap().qty, 10);
    assert_eq!(b.depth_at(Buy, 96), None);
    let ids: Vec<u64> = b.orders(Buy).map(|o| o.id).collect();
    assert_eq!(ids, vec![1, 4, 2, 3, 5]);
    assert_eq!(b.orders(Sell).count(), 1);
    assert_eq!(b.order(4).unwrap().price, 100);
    assert!(b.heap_bytes() > 0);
    assert_eq!(BYTES_PER_ORDER, 64);
}

#[test]
fn state_hash_ignores_history() {
    let mut a = book();
    run(&mut a, lim(1, Buy, 100, 10));
    run(&mut a, lim(2, Buy, 90, 10));
    run(&mut a, Command::Cancel { id: 2 });
    let mut b = book();
    run(&mut b, lim(1, Buy, 100, 10));
    assert_eq!(a.state_hash(), b.state_hash());
    run(&mut b, Command::Reduce { id: 1, by: 1 });
    assert_ne!(a.state_hash(), b.state_hash());
}

#[test]
fn wandering_market_and_extreme_prices() {
    let mut b = book();
    let mut ev = Vec::new();
    let mut id = 0;
    // The price walks 100,000 ticks up, leaving a bid at every step.
    for p in (0..100_000i64).step_by(7) {
        id += 1;
        b.submit(&NewOrder::limit(id, Buy, p, 1), &mut ev).unwrap();
    }
    assert_eq!(b.best_bid(), Some((99_995, 1)));
    // One sweep takes all of them, best first.
    ev.clear();
    b.submit(&NewOrder::market(u64::MAX - 1, Sell, 1_000_000), &mut ev)
        .unwrap();
    assert_eq!(trades(&ev).len(), id as usize);
    assert!(b.is_empty());
    b.submit(&NewOrder::limit(1, Buy, i64::MIN + 1, 1), &mut ev)
        .unwrap();
    b.submit(&NewOrder::limit(2, Sell, i64::MAX, 1), &mut ev)
        .unwrap();
    assert_eq!(b.best_bid(), Some((i64::MIN + 1, 1)));
    assert_eq!(b.best_ask(), Some((i64::MAX, 1)));
}
