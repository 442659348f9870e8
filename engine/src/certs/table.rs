//! The certificate-ID table: every ID ever issued, indexed by serial.
//!
//! The table is a fixed array of lazily allocated chunks (`OnceLock<Chunk>`),
//! so it grows without locks and without `unsafe`. A chunk holds, for each
//! serial, a [`StateWord`] and the certificate's immutable [`Facts`] (written
//! once, before the ID is published), as two parallel arrays so that the hot
//! state words are dense (8 bytes per ID). Serials are handed
//! out densely by [`IdTable::allocate`]. The table is `Sync`: any number of
//! threads may look up, reserve, release and spend concurrently.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use super::state::{IdState, StateWord, TransitionError};
use crate::crypto::{ct_eq, Digest, UserId};
use crate::types::{InstrumentId, OrderId, Qty};

/// Entries per chunk (log2).
pub const CHUNK_BITS: u32 = 14;
const CHUNK_LEN: usize = 1 << CHUNK_BITS;
/// Most chunks in one table (2^32 IDs).
pub const MAX_CHUNKS: usize = 1 << (32 - CHUNK_BITS);

/// The immutable facts of one certificate, fixed before it is live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facts {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Share-class code (see `ShareClass::code`).
    pub class: u8,
    /// Holder's user id.
    pub holder: UserId,
    /// Number of shares.
    pub quantity: Qty,
    /// BLAKE3 digest of the signed certificate's wire bytes.
    pub digest: Digest,
}

/// One chunk, laid out as two parallel arrays so that state-word traffic
/// (lookups, reservations, spends) touches 8 bytes per ID, not the facts.
#[derive(Debug)]
struct Chunk {
    states: Box<[StateWord]>,
    facts: Box<[OnceLock<Facts>]>,
}

impl Chunk {
    fn new() -> Chunk {
        Chunk {
            states: (0..CHUNK_LEN).map(|_| StateWord::new()).collect(),
            facts: (0..CHUNK_LEN).map(|_| OnceLock::new()).collect(),
        }
    }
}

/// Why a table operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableError {
    /// No certificate was ever published under this serial.
    Unknown,
    /// The table is at capacity.
    Full,
    /// Facts were already written for this serial.
    AlreadyPublished,
    /// The state word refused the transition.
    Transition(TransitionError),
    /// The presented certificate's digest differs from the table's.
    DigestMismatch,
}

impl From<TransitionError> for TableError {
    fn from(e: TransitionError) -> Self {
        TableError::Transition(e)
    }
}

/// The lock-free certificate-ID table.
#[derive(Debug)]
pub struct IdTable {
    chunks: Box<[OnceLock<Chunk>]>,
    next: AtomicU64,
    capacity: u64,
}

impl IdTable {
    /// A table for at most `capacity` IDs (rounded up to whole chunks).
    /// Memory is allocated chunk by chunk as serials are used.
    #[must_use]
    pub fn with_capacity(capacity: u64) -> Self {
        let n_chunks = capacity
            .div_ceil(CHUNK_LEN as u64)
            .clamp(1, MAX_CHUNKS as u64);
        let n_chunks = usize::try_from(n_chunks).unwrap_or(MAX_CHUNKS);
        let chunks: Box<[OnceLock<Chunk>]> = (0..n_chunks).map(|_| OnceLock::new()).collect();
        Self {
            capacity: (chunks.len() * CHUNK_LEN) as u64,
            chunks,
            next: AtomicU64::new(0),
        }
    }

    /// Maximum number of IDs.
    #[must_use]
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Number of serials allocated so far.
    #[must_use]
    pub fn allocated(&self) -> u64 {
        self.next.load(Ordering::Acquire)
    }

    /// Hands out the next dense serial (vacant until [`IdTable::publish`]).
    pub fn allocate(&self) -> Result<u64, TableError> {
        self.next
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.capacity).then_some(n + 1)
            })
            .map_err(|_| TableError::Full)
    }

    #[inline]
    fn chunk(&self, serial: u64) -> Option<(&Chunk, usize)> {
        let chunk = self
            .chunks
            .get(usize::try_from(serial >> CHUNK_BITS).ok()?)?
            .get()?;
        Some((chunk, (serial as usize) & (CHUNK_LEN - 1)))
    }

    /// Writes the facts of an allocated serial and makes it live.
    pub fn publish(&self, serial: u64, facts: Facts) -> Result<(), TableError> {
        self.publish_as(serial, facts, None)
    }

    /// Writes the facts of an allocated serial and makes it live, or, with
    /// `Some(order)`, reserved to that order from the start.
    pub fn publish_as(
        &self,
        serial: u64,
        facts: Facts,
        reserved: Option<OrderId>,
    ) -> Result<(), TableError> {
        if serial >= self.allocated() {
            return Err(TableError::Unknown);
        }
        let idx = usize::try_from(serial >> CHUNK_BITS).map_err(|_| TableError::Unknown)?;
        let chunk = self
            .chunks
            .get(idx)
            .ok_or(TableError::Unknown)?
            .get_or_init(Chunk::new);
        let i = (serial as usize) & (CHUNK_LEN - 1);
        chunk.facts[i]
            .set(facts)
            .map_err(|_| TableError::AlreadyPublished)?;
        match reserved {
            None => chunk.states[i].publish()?,
            Some(order) => chunk.states[i].publish_reserved(order)?,
        }
        Ok(())
    }

    /// The state of a serial (`Vacant` for unknown serials).
    #[inline]
    #[must_use]
    pub fn state(&self, serial: u64) -> IdState {
        self.chunk(serial)
            .map_or(IdState::Vacant, |(c, i)| c.states[i].load())
    }

    /// State and facts of a published serial.
    #[inline]
    #[must_use]
    pub fn get(&self, serial: u64) -> Option<(IdState, Facts)> {
        let (c, i) = self.chunk(serial)?;
        let state = c.states[i].load();
        let facts = *c.facts[i].get()?;
        Some((state, facts))
    }

    #[inline]
    fn word(&self, serial: u64) -> Result<&StateWord, TableError> {
        let (c, i) = self.chunk(serial).ok_or(TableError::Unknown)?;
        // Facts are written before the word leaves `vacant`; a vacant word
        // refuses every transition below anyway.
        Ok(&c.states[i])
    }

    /// `live -> reserved(order)`.
    #[inline]
    pub fn reserve(&self, serial: u64, order: OrderId) -> Result<(), TableError> {
        Ok(self.word(serial)?.reserve(order)?)
    }
    /// `reserved(order) -> live`.
    #[inline]
    pub fn release(&self, serial: u64, order: OrderId) -> Result<(), TableError> {
        Ok(self.word(serial)?.release(order)?)
    }
    /// `live -> spent`.
    #[inline]
    pub fn spend(&self, serial: u64) -> Result<(), TableError> {
        Ok(self.word(serial)?.spend()?)
    }
    /// `reserved(order) -> spent`.
    #[inline]
    pub fn spend_reserved(&self, serial: u64, order: OrderId) -> Result<(), TableError> {
        Ok(self.word(serial)?.spend_reserved(order)?)
    }

    /// Checks a presented certificate by digest: the serial is published and
    /// its stored digest equals `digest`. Returns its state and facts.
    pub fn check_presented(
        &self,
        serial: u64,
        digest: &Digest,
    ) -> Result<(IdState, Facts), TableError> {
        let (state, facts) = self.get(serial).ok_or(TableError::Unknown)?;
        if !ct_eq(&facts.digest.0, &digest.0) {
            return Err(TableError::DigestMismatch);
        }
        Ok((state, facts))
    }

    /// Sum of the quantities of live and reserved IDs of `instrument`
    /// (a linear scan, for audits and tests).
    #[must_use]
    pub fn outstanding(&self, instrument: InstrumentId) -> u128 {
        (0..self.allocated())
            .filter_map(|s| self.get(s))
            .filter(|(st, f)| {
                f.instrument == instrument && matches!(st, IdState::Live | IdState::Reserved(_))
            })
            .map(|(_, f)| u128::from(f.quantity))
            .sum()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn facts(q: u64) -> Facts {
        Facts {
            instrument: 1,
            class: 0,
            holder: 9,
            quantity: q,
            digest: Digest::of(&q.to_le_bytes()),
        }
    }

    #[test]
    fn allocate_publish_lifecycle() {
        let t = IdTable::with_capacity(3);
        assert_eq!(t.capacity(), CHUNK_LEN as u64);
        let s = t.allocate().expect("alloc");
        assert_eq!(t.state(s), IdState::Vacant);
        assert_eq!(t.spend(s), Err(TableError::Unknown));
        t.publish(s, facts(10)).expect("publish");
        assert_eq!(t.publish(s, facts(10)), Err(TableError::AlreadyPublished));
        assert_eq!(t.publish(s + 1, facts(10)), Err(TableError::Unknown));
        assert_eq!(t.get(s), Some((IdState::Live, facts(10))));
        assert_eq!(
            t.check_presented(s, &facts(10).digest).map(|x| x.0),
            Ok(IdState::Live)
        );
        assert_eq!(
            t.check_presented(s, &facts(11).digest),
            Err(TableError::DigestMismatch)
        );
        assert_eq!(t.outstanding(1), 10);
        t.reserve(s, 5).expect("reserve");
        assert_eq!(t.outstanding(1), 10);
        t.spend_reserved(s, 5).expect("spend");
        assert_eq!(t.outstanding(1), 0);
        assert!(t.reserve(s, 6).is_err());
        assert_eq!(t.state(u64::MAX), IdState::Vacant);
        assert_eq!(t.spend(u64::MAX), Err(TableError::Unknown));
    }

    #[test]
    fn capacity_is_bounded() {
        let t = IdTable::with_capacity(u64::MAX);
        assert_eq!(t.capacity(), 1 << 32);
        assert_eq!(IdTable::with_capacity(0).capacity(), CHUNK_LEN as u64);
    }

    #[test]
    fn full_table() {
        let t = IdTable::with_capacity(1);
        for _ in 0..CHUNK_LEN {
            t.allocate().expect("alloc");
        }
        assert_eq!(t.allocate(), Err(TableError::Full));
        assert_eq!(t.allocated(), CHUNK_LEN as u64);
    }

    #[test]
    fn is_sync() {
        fn assert_sync<T: Sync + Send>() {}
        assert_sync::<IdTable>();
    }
}
