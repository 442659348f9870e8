//! The state word of one certificate ID: the whole lock-free protocol.
//!
//! ```text
//! vacant --publish--> live --reserve(o)--> reserved(o) --spend_reserved(o)--> spent
//!   \--publish_reserved(o)--> reserved(o)   (change of a partial fill)
//!                      |  <--release(o)---                                     ^
//!                      +-----------------------spend---------------------------+
//! ```
//!
//! One `AtomicU64`: the top two bits are the state (0 vacant, 1 live,
//! 2 reserved, 3 spent), the low 62 bits the reserving order id. Every
//! transition is one `compare_exchange` from an exact expected word, so of
//! two racing transitions out of the same word exactly one succeeds, and
//! nothing leads out of `spent`.
//!
//! Under `--cfg loom` the atomic is loom's, and `loom_tests` model-check the
//! protocol: `RUSTFLAGS="--cfg loom" cargo test -p kabuken --release --lib loom`.

#[cfg(loom)]
use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU64, Ordering};

use crate::types::OrderId;

const TAG_SHIFT: u32 = 62;
const VACANT: u64 = 0;
const LIVE: u64 = 1 << TAG_SHIFT;
const RESERVED: u64 = 2 << TAG_SHIFT;
const SPENT: u64 = 3 << TAG_SHIFT;
/// Largest order id that fits in a reserved state word.
pub const MAX_ORDER_ID: OrderId = (1 << TAG_SHIFT) - 1;

/// The state of one certificate ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdState {
    /// Serial allocated (or not yet), certificate not yet published.
    Vacant,
    /// Valid and free.
    Live,
    /// Committed to a resting sell order.
    Reserved(OrderId),
    /// Retired forever.
    Spent,
}

impl IdState {
    fn from_word(w: u64) -> IdState {
        match w >> TAG_SHIFT {
            0 => IdState::Vacant,
            1 => IdState::Live,
            2 => IdState::Reserved(w & MAX_ORDER_ID),
            _ => IdState::Spent,
        }
    }
}

/// Why a transition was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransitionError {
    /// The word was not in the required state; this is what it held.
    Found(IdState),
    /// The order id does not fit in 62 bits.
    OrderIdTooLarge,
}

/// One lock-free state word.
#[derive(Debug)]
pub struct StateWord(AtomicU64);

impl Default for StateWord {
    fn default() -> Self {
        Self::new()
    }
}

impl StateWord {
    /// A vacant word.
    #[must_use]
    pub fn new() -> Self {
        StateWord(AtomicU64::new(VACANT))
    }

    /// The current state.
    #[inline]
    #[must_use]
    pub fn load(&self) -> IdState {
        IdState::from_word(self.0.load(Ordering::Acquire))
    }

    #[inline]
    fn cas(&self, from: u64, to: u64) -> Result<(), TransitionError> {
        self.0
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(|w| TransitionError::Found(IdState::from_word(w)))
    }

    /// `vacant -> live` (after the certificate's facts are written).
    #[inline]
    pub fn publish(&self) -> Result<(), TransitionError> {
        self.cas(VACANT, LIVE)
    }

    /// `vacant -> reserved(order)`: publishes an ID already committed to an
    /// order (a seller's change certificate after a partial fill).
    #[inline]
    pub fn publish_reserved(&self, order: OrderId) -> Result<(), TransitionError> {
        if order > MAX_ORDER_ID {
            return Err(TransitionError::OrderIdTooLarge);
        }
        self.cas(VACANT, RESERVED | order)
    }

    /// `live -> reserved(order)`.
    #[inline]
    pub fn reserve(&self, order: OrderId) -> Result<(), TransitionError> {
        if order > MAX_ORDER_ID {
            return Err(TransitionError::OrderIdTooLarge);
        }
        self.cas(LIVE, RESERVED | order)
    }

    /// `reserved(order) -> live` (the order was cancelled).
    #[inline]
    pub fn release(&self, order: OrderId) -> Result<(), TransitionError> {
        if order > MAX_ORDER_ID {
            return Err(TransitionError::OrderIdTooLarge);
        }
        self.cas(RESERVED | order, LIVE)
    }

    /// `live -> spent` (direct transfer, reissue, register transfer).
    #[inline]
    pub fn spend(&self) -> Result<(), TransitionError> {
        self.cas(LIVE, SPENT)
    }

    /// `reserved(order) -> spent` (the order filled).
    #[inline]
    pub fn spend_reserved(&self, order: OrderId) -> Result<(), TransitionError> {
        if order > MAX_ORDER_ID {
            return Err(TransitionError::OrderIdTooLarge);
        }
        self.cas(RESERVED | order, SPENT)
    }
}

impl StateWord {
    #[inline]
    fn set(&mut self, from: u64, to: u64) -> Result<(), TransitionError> {
        #[cfg(not(loom))]
        {
            let w = self.0.get_mut();
            if *w != from {
                return Err(TransitionError::Found(IdState::from_word(*w)));
            }
            *w = to;
            Ok(())
        }
        #[cfg(loom)]
        {
            self.cas(from, to)
        }
    }

    /// [`StateWord::publish`] by an owner with exclusive access (`&mut`,
    /// so no other thread can race it): the same protocol and checks,
    /// without a read-modify-write instruction. The gateway's sequencer,
    /// which owns its certificate table, uses these.
    #[inline]
    pub fn publish_mut(&mut self) -> Result<(), TransitionError> {
        self.set(VACANT, LIVE)
    }

    /// [`StateWord::publish_reserved`] with exclusive access.
    #[inline]
    pub fn publish_reserved_mut(&mut self, order: OrderId) -> Result<(), TransitionError> {
        if order > MAX_ORDER_ID {
            return Err(TransitionError::OrderIdTooLarge);
        }
        self.set(VACANT, RESERVED | order)
    }

    /// [`StateWord::reserve`] with exclusive access.
    #[inline]
    pub fn reserve_mut(&mut self, order: OrderId) -> Result<(), TransitionError> {
        if order > MAX_ORDER_ID {
            return Err(TransitionError::OrderIdTooLarge);
        }
        self.set(LIVE, RESERVED | order)
    }

    /// [`StateWord::release`] with exclusive access.
    #[inline]
    pub fn release_mut(&mut self, order: OrderId) -> Result<(), TransitionError> {
        if order > MAX_ORDER_ID {
            return Err(TransitionError::OrderIdTooLarge);
        }
        self.set(RESERVED | order, LIVE)
    }

    /// [`StateWord::spend_reserved`] with exclusive access.
    #[inline]
    pub fn spend_reserved_mut(&mut self, order: OrderId) -> Result<(), TransitionError> {
        if order > MAX_ORDER_ID {
            return Err(TransitionError::OrderIdTooLarge);
        }
        self.set(RESERVED | order, SPENT)
    }

    /// [`StateWord::spend`] with exclusive access.
    #[inline]
    pub fn spend_mut(&mut self) -> Result<(), TransitionError> {
        self.set(LIVE, SPENT)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn exclusive_transitions_follow_the_same_protocol() {
        // Every transition from every state: the exclusive form succeeds
        // exactly when the atomic one does, and leaves the same state.
        let states = [VACANT, LIVE, RESERVED | 7, RESERVED | 8, SPENT];
        type Atomic = fn(&StateWord) -> Result<(), TransitionError>;
        type Exclusive = fn(&mut StateWord) -> Result<(), TransitionError>;
        let ops: [(Atomic, Exclusive); 6] = [
            (|w| w.publish(), |w| w.publish_mut()),
            (|w| w.publish_reserved(7), |w| w.publish_reserved_mut(7)),
            (|w| w.reserve(7), |w| w.reserve_mut(7)),
            (|w| w.release(7), |w| w.release_mut(7)),
            (|w| w.spend_reserved(7), |w| w.spend_reserved_mut(7)),
            (|w| w.spend(), |w| w.spend_mut()),
        ];
        for &from in &states {
            for (atomic, exclusive) in ops {
                let a = StateWord(AtomicU64::new(from));
                let mut e = StateWord(AtomicU64::new(from));
                assert_eq!(atomic(&a), exclusive(&mut e));
                assert_eq!(a.load(), e.load());
            }
        }
        let mut w = StateWord::new();
        assert_eq!(
            w.reserve_mut(MAX_ORDER_ID + 1),
            Err(TransitionError::OrderIdTooLarge)
        );
    }

    #[test]
    fn transitions() {
        let w = StateWord::new();
        assert_eq!(w.load(), IdState::Vacant);
        assert_eq!(w.reserve(1), Err(TransitionError::Found(IdState::Vacant)));
        assert_eq!(w.spend(), Err(TransitionError::Found(IdState::Vacant)));
        w.publish().expect("publish");
        assert_eq!(w.publish(), Err(TransitionError::Found(IdState::Live)));
        w.reserve(7).expect("reserve");
        assert_eq!(w.load(), IdState::Reserved(7));
        assert_eq!(
            w.reserve(8),
            Err(TransitionError::Found(IdState::Reserved(7)))
        );
        assert_eq!(
            w.release(8),
            Err(TransitionError::Found(IdState::Reserved(7)))
        );
        assert_eq!(w.spend(), Err(TransitionError::Found(IdState::Reserved(7))));
        assert_eq!(
            w.spend_reserved(8),
            Err(TransitionError::Found(IdState::Reserved(7)))
        );
        w.release(7).expect("release");
        let r = StateWord::new();
        r.publish_reserved(3).expect("publish reserved");
        assert_eq!(r.load(), IdState::Reserved(3));
        assert_eq!(
            r.publish(),
            Err(TransitionError::Found(IdState::Reserved(3)))
        );
        assert_eq!(
            StateWord::new().publish_reserved(MAX_ORDER_ID + 1),
            Err(TransitionError::OrderIdTooLarge)
        );
        w.reserve(MAX_ORDER_ID).expect("max order");
        assert_eq!(
            w.reserve(MAX_ORDER_ID + 1),
            Err(TransitionError::OrderIdTooLarge)
        );
        w.spend_reserved(MAX_ORDER_ID).expect("spend");
        assert_eq!(w.load(), IdState::Spent);
        for r in [
            w.publish(),
            w.reserve(1),
            w.release(1),
            w.spend(),
            w.spend_reserved(1),
        ] {
            assert_eq!(r, Err(TransitionError::Found(IdState::Spent)));
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// Two spenders race (one from live, one via its reservation), a third
    /// thread reserves and releases: at most one spend wins, spent stays
    /// spent, and an ID nobody spent is live again.
    #[test]
    fn loom_racing_spends() {
        loom::model(|| {
            let w = Arc::new(StateWord::new());
            w.publish().unwrap();
            let a = {
                let w = w.clone();
                thread::spawn(move || w.spend().is_ok())
            };
            let b = {
                let w = w.clone();
                thread::spawn(move || w.reserve(1).is_ok() && w.spend_reserved(1).is_ok())
            };
            let c = {
                let w = w.clone();
                thread::spawn(move || {
                    if w.reserve(2).is_ok() {
                        w.release(2).unwrap();
                    }
                })
            };
            let wa = a.join().unwrap();
            let wb = b.join().unwrap();
            c.join().unwrap();
            assert!(!(wa && wb), "at most one spend wins");
            if wa || wb {
                assert_eq!(w.load(), IdState::Spent);
                assert!(w.publish().is_err() && w.reserve(3).is_err() && w.spend().is_err());
            } else {
                // Both lost to the transient reservation; the ID is intact.
                assert_eq!(w.load(), IdState::Live);
                assert!(w.spend().is_ok());
            }
        });
    }

    /// Two spends from live race: exactly one wins.
    #[test]
    fn loom_two_spends_exactly_one() {
        loom::model(|| {
            let w = Arc::new(StateWord::new());
            w.publish().unwrap();
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    let w = w.clone();
                    thread::spawn(move || w.spend().is_ok())
                })
                .collect();
            let wins: usize = hs.into_iter().map(|h| usize::from(h.join().unwrap())).sum();
            assert_eq!(wins, 1);
            assert_eq!(w.load(), IdState::Spent);
        });
    }

    /// A change published reserved to an order: the order's spend and its
    /// cancel (release) race with a direct spend; exactly one spend wins.
    #[test]
    fn loom_reserved_change() {
        loom::model(|| {
            let w = Arc::new(StateWord::new());
            w.publish_reserved(9).unwrap();
            let a = {
                let w = w.clone();
                thread::spawn(move || w.spend_reserved(9).is_ok())
            };
            let b = {
                let w = w.clone();
                thread::spawn(move || w.release(9).is_ok() && w.spend().is_ok())
            };
            let (wa, wb) = (a.join().unwrap(), b.join().unwrap());
            assert!(wa ^ wb, "exactly one spend wins");
            assert_eq!(w.load(), IdState::Spent);
        });
    }

    /// Two reservers race; exactly one holds the reservation.
    #[test]
    fn loom_racing_reserves() {
        loom::model(|| {
            let w = Arc::new(StateWord::new());
            w.publish().unwrap();
            let hs: Vec<_> = (1..=2u64)
                .map(|o| {
                    let w = w.clone();
                    thread::spawn(move || w.reserve(o).is_ok())
                })
                .collect();
            let wins: usize = hs.into_iter().map(|h| usize::from(h.join().unwrap())).sum();
            assert_eq!(wins, 1);
            assert!(matches!(w.load(), IdState::Reserved(1 | 2)));
        });
    }

    /// Publication: facts written before `publish` are visible to a thread
    /// that observes the word live.
    #[test]
    fn loom_publish_happens_before() {
        use loom::sync::atomic::AtomicU64 as Fact;
        loom::model(|| {
            let w = Arc::new(StateWord::new());
            let fact = Arc::new(Fact::new(0));
            let writer = {
                let (w, fact) = (w.clone(), fact.clone());
                thread::spawn(move || {
                    fact.store(42, Ordering::Relaxed);
                    w.publish().unwrap();
                })
            };
            if w.spend().is_ok() {
                assert_eq!(fact.load(Ordering::Relaxed), 42);
            }
            writer.join().unwrap();
        });
    }
}
