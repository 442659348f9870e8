//! Threads race to reserve and spend the same certificate IDs, repeatedly:
//! exactly one wins each race, a spent ID never lives again, and shares are
//! conserved.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};

use kabuken::certs::{Facts, IdState, IdTable};
use kabuken::crypto::Digest;

const THREADS: usize = 8;
const IDS: u64 = 2_000;
const ROUNDS: usize = 20;

fn table_with(n: u64) -> Arc<IdTable> {
    let t = Arc::new(IdTable::with_capacity(n));
    for i in 0..n {
        let s = t.allocate().expect("alloc");
        t.publish(
            s,
            Facts {
                instrument: 1,
                class: 0,
                holder: i,
                quantity: 10 + i,
                digest: Digest::of(&i.to_le_bytes()),
            },
        )
        .expect("publish");
    }
    t
}

#[test]
fn racing_spends_exactly_one_wins() {
    for _ in 0..ROUNDS {
        let t = table_with(IDS);
        let before = t.outstanding(1);
        let wins: Vec<AtomicU64> = (0..IDS).map(|_| AtomicU64::new(0)).collect();
        let wins = Arc::new(wins);
        let barrier = Arc::new(Barrier::new(THREADS));
        let hs: Vec<_> = (0..THREADS)
            .map(|th| {
                let (t, wins, barrier) = (t.clone(), wins.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let mut spent_qty = 0u128;
                    for s in 0..IDS {
                        // Half the threads spend directly, half reserve
                        // first; some reservations are released again.
                        let order = (th as u64) + 1;
                        let won = if th % 2 == 0 {
                            t.spend(s).is_ok()
                        } else if t.reserve(s, order).is_ok() {
                            if (s + th as u64) % 3 == 0 {
                                t.release(s, order).expect("release own reservation");
                                false
                            } else {
                                t.spend_reserved(s, order).expect("spend own reservation");
                                true
                            }
                        } else {
                            false
                        };
                        if won {
                            wins[s as usize].fetch_add(1, Ordering::Relaxed);
                            spent_qty += u128::from(t.get(s).expect("facts").1.quantity);
                        }
                        // Once spent, nothing revives it.
                        if t.state(s) == IdState::Spent {
                            assert!(t.reserve(s, order).is_err());
                            assert!(t.release(s, order).is_err());
                            assert!(t.spend(s).is_err());
                        }
                    }
                    spent_qty
                })
            })
            .collect();
        let spent: u128 = hs.into_iter().map(|h| h.join().expect("thread")).sum();
        let mut won_ids = 0;
        for s in 0..IDS {
            let w = wins[s as usize].load(Ordering::Relaxed);
            assert!(w <= 1, "serial {s} spent {w} times");
            match t.state(s) {
                IdState::Spent => {
                    assert_eq!(w, 1);
                    won_ids += 1;
                }
                IdState::Live => assert_eq!(w, 0),
                other => panic!("serial {s} left {other:?}"),
            }
        }
        // Conservation: spent + still outstanding = what was there.
        assert_eq!(spent + t.outstanding(1), before);
        assert!(won_ids > 0);
    }
}

#[test]
fn racing_reserves_exactly_one_holds() {
    for _ in 0..ROUNDS {
        let t = table_with(500);
        let barrier = Arc::new(Barrier::new(THREADS));
        let hs: Vec<_> = (0..THREADS)
            .map(|th| {
                let (t, barrier) = (t.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    (0..500u64)
                        .filter(|s| t.reserve(*s, th as u64 + 1).is_ok())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut held = vec![0u32; 500];
        for (th, h) in hs.into_iter().enumerate() {
            for s in h.join().expect("thread") {
                held[s as usize] += 1;
                assert_eq!(t.state(s), IdState::Reserved(th as u64 + 1));
            }
        }
        assert!(held.iter().all(|&n| n == 1));
    }
}
