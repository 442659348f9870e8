//! Following a register's certificate-ID list from afar.
//!
//! A remote exchange starts from a signed [`IdListSnapshot`] and then applies
//! the signed [`IdListDelta`]s in sequence order. A delta whose number is not
//! the next one is refused ([`ListError::Gap`]), so a lost delta is noticed
//! and the follower can fetch the missing ones or a new snapshot.

use core::fmt;
use std::collections::BTreeMap;

use super::messages::{IdListDelta, IdListEntry, IdListSnapshot};
use crate::certs::CertId;
use crate::crypto::{CryptoError, PublicKey, Signed, UserId};
use crate::types::InstrumentId;

/// Why a snapshot or delta was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListError {
    /// Not signed by the register.
    WrongSigner,
    /// Bad signature.
    Crypto(CryptoError),
    /// For another instrument.
    WrongInstrument,
    /// No snapshot applied yet.
    NoSnapshot,
    /// The delta does not follow the last one applied.
    Gap {
        /// The sequence number expected next.
        expected: u64,
        /// The one received.
        got: u64,
    },
    /// The delta removes an ID that is not listed or adds one that is.
    Inconsistent,
    /// The snapshot is older than what the follower already has (a replayed
    /// snapshot would bring retired IDs back).
    Stale {
        /// The follower's sequence number.
        have: u64,
        /// The snapshot's.
        got: u64,
    },
}

impl fmt::Display for ListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListError::WrongSigner => f.write_str("not signed by the register"),
            ListError::Crypto(e) => write!(f, "{e}"),
            ListError::WrongInstrument => f.write_str("wrong instrument"),
            ListError::NoSnapshot => f.write_str("no snapshot applied"),
            ListError::Gap { expected, got } => {
                write!(f, "gap: expected delta {expected}, got {got}")
            }
            ListError::Inconsistent => f.write_str("delta inconsistent with the list"),
            ListError::Stale { have, got } => write!(f, "stale snapshot {got}, have {have}"),
        }
    }
}

impl std::error::Error for ListError {}

/// A remote copy of one instrument's certificate-ID list.
#[derive(Debug)]
pub struct IdListFollower {
    instrument: InstrumentId,
    register_id: UserId,
    register_key: PublicKey,
    seq: Option<u64>,
    live: BTreeMap<u64, IdListEntry>,
}

impl IdListFollower {
    /// A follower of `instrument`'s list, trusting the register's key.
    #[must_use]
    pub fn new(instrument: InstrumentId, register_id: UserId, register_key: PublicKey) -> Self {
        Self {
            instrument,
            register_id,
            register_key,
            seq: None,
            live: BTreeMap::new(),
        }
    }

    fn check<T: crate::crypto::Message>(&self, m: &Signed<T>) -> Result<(), ListError> {
        if m.signer != self.register_id {
            return Err(ListError::WrongSigner);
        }
        m.verify(&self.register_key).map_err(ListError::Crypto)
    }

    /// Replaces the list with a signed snapshot. A snapshot older than the
    /// list already held is refused.
    pub fn apply_snapshot(&mut self, s: &Signed<IdListSnapshot>) -> Result<(), ListError> {
        self.check(s)?;
        if s.body.instrument != self.instrument {
            return Err(ListError::WrongInstrument);
        }
        if let Some(have) = self.seq {
            if s.body.seq < have {
                return Err(ListError::Stale {
                    have,
                    got: s.body.seq,
                });
            }
        }
        self.live = s
            .body
            .entries
            .iter()
            .map(|e| (e.cert_id.serial, *e))
            .collect();
        self.seq = Some(s.body.seq);
        Ok(())
    }

    /// Applies the next signed delta. Deltas at or below the current
    /// sequence number are already included and are ignored (`Ok(false)`).
    pub fn apply_delta(&mut self, d: &Signed<IdListDelta>) -> Result<bool, ListError> {
        self.check(d)?;
        if d.body.instrument != self.instrument {
            return Err(ListError::WrongInstrument);
        }
        let seq = self.seq.ok_or(ListError::NoSnapshot)?;
        if d.body.seq <= seq {
            return Ok(false);
        }
        let expected = seq + 1;
        if d.body.seq != expected {
            return Err(ListError::Gap {
                expected,
                got: d.body.seq,
            });
        }
        // Validate fully before changing anything.
        let mut removed = std::collections::HashSet::new();
        for id in &d.body.removed {
            if self.live.get(&id.serial).map(|e| e.cert_id) != Some(*id)
                || !removed.insert(id.serial)
            {
                return Err(ListError::Inconsistent);
            }
        }
        let mut added = std::collections::HashSet::new();
        for e in &d.body.added {
            let clash =
                self.live.contains_key(&e.cert_id.serial) && !removed.contains(&e.cert_id.serial);
            if clash || !added.insert(e.cert_id.serial) {
                return Err(ListError::Inconsistent);
            }
        }
        for id in &d.body.removed {
            self.live.remove(&id.serial);
        }
        for e in &d.body.added {
            self.live.insert(e.cert_id.serial, *e);
        }
        self.seq = Some(expected);
        Ok(true)
    }

    /// Whether (`cert_id`, `holder`) is live in the list.
    #[must_use]
    pub fn contains(&self, cert_id: &CertId, holder: UserId) -> bool {
        self.live
            .get(&cert_id.serial)
            .is_some_and(|e| e.cert_id == *cert_id && e.holder == holder)
    }

    /// The last sequence number applied.
    #[must_use]
    pub fn seq(&self) -> Option<u64> {
        self.seq
    }

    /// Live entries in serial order.
    pub fn entries(&self) -> impl Iterator<Item = &IdListEntry> {
        self.live.values()
    }
}
