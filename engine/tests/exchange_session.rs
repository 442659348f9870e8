//! Random sessions through the whole market (exchange, register, ledger):
//! every invariant of DESIGN.md section 3 holds after each session, and the
//! same seed gives the same state.

use kabuken::exchange::sim::{SimConfig, StepKind, World};
use proptest::prelude::*;

fn run(seed: u64, investors: u32, instruments: u32, steps: u64) -> World {
    let mut w = World::new(SimConfig {
        seed,
        investors,
        instruments,
        cash: 10_000_000,
        orders_hint: steps,
        ..SimConfig::default()
    });
    for _ in 0..steps {
        w.step();
    }
    w
}

#[test]
fn a_session_keeps_every_invariant_and_is_deterministic() {
    let a = run(7, 12, 2, 1_500);
    if let Err(e) = a.check_invariants() {
        panic!("invariants: {e:#?}");
    }
    let s = a.exchange.stats();
    assert!(s.matches > 50, "matches {}", s.matches);
    assert!(a.stats().claims > 0);
    assert!(a.stats().attacks > 0);
    assert_eq!(a.stats().attacks_accepted, 0);
    let b = run(7, 12, 2, 1_500);
    assert_eq!(a.state_hash(), b.state_hash());
    assert_eq!(a.exchange.matches(), b.exchange.matches());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, .. ProptestConfig::default() })]
    #[test]
    fn random_sessions_keep_invariants(seed in any::<u64>(), investors in 2u32..10, instruments in 1u32..4, steps in 50u64..400) {
        let mut w = run(seed, investors, instruments, steps);
        let mut kinds = std::collections::BTreeSet::new();
        for _ in 0..50 {
            kinds.insert(w.step());
        }
        prop_assert!(kinds.contains(&StepKind::Order));
        if let Err(e) = w.check_invariants() {
            prop_assert!(false, "invariants: {:#?}", e);
        }
    }
}
