//! The tamper-evident audit log: every decision is an entry whose hash covers
//! the previous entry's hash (a BLAKE3 hash chain). [`verify_segment`] finds
//! the first edited, inserted or removed entry; comparing against a stored
//! [`AuditHead`] (count and last hash, anchored outside the log) also detects
//! truncation and a rewritten tail.

use super::seam::{derive_key, Hash32};
use super::tx::Amount;
use super::{ContractorId, RequestRef};
use crate::types::Timestamp;

/// What was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum AuditKind {
    /// A contractor was registered.
    ContractorRegistered = 1,
    /// A contractor was disabled (detail: 1 = operator, 2 = login lockout,
    /// 3 = answer lockout).
    ContractorDisabled = 2,
    /// A contractor was re-enabled by the operator.
    ContractorEnabled = 3,
    /// Login succeeded (detail: session id).
    LoginSucceeded = 4,
    /// Login failed (detail: consecutive failures; contractor absent when the
    /// user code is unknown).
    LoginFailed = 5,
    /// A session ended (detail: session id).
    SessionEnded = 6,
    /// A request was refused: contractor disabled (detail: amount).
    RejectedDisabled = 7,
    /// A request was refused: above the maximum (detail: amount).
    RejectedMaximum = 8,
    /// A request was refused: too many pending, no free line or method
    /// unavailable (detail: amount).
    RejectedCapacity = 9,
    /// Below the threshold: forwarded without confirmation (detail: amount).
    ForwardedDirect = 10,
    /// Held pending confirmation (detail: method code << 56 | amount low bits).
    Pending = 11,
    /// Confirmation information delivered to a device (detail: device index).
    Delivered = 12,
    /// Delivery to a device failed (detail: device index).
    DeliveryFailed = 13,
    /// Confirmed with a normal second code: forwarded.
    Confirmed = 14,
    /// Cancelled with the cancel code.
    Cancelled = 15,
    /// Duress second code: voided, alarm raised, caller told "accepted".
    Duress = 16,
    /// Wrong answer (detail: failures so far).
    WrongAnswer = 17,
    /// Failure limit reached: request voided (detail: failures).
    LockedOut = 18,
    /// Lifetime passed: voided.
    Expired = 19,
    /// A repeated answer to a finished request (idempotent; detail: 1).
    DuplicateAnswer = 20,
    /// An answer for an unknown or finished request.
    AnswerRejected = 21,
    /// Voided because the contractor was disabled while it was pending.
    VoidedDisabled = 22,
}

/// One decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AuditEntry {
    /// Position in the whole chain, from 0.
    pub seq: u64,
    /// When (caller-supplied time).
    pub at: Timestamp,
    /// What.
    pub kind: AuditKind,
    /// Whose, when known.
    pub contractor: Option<ContractorId>,
    /// Which request, when there is one.
    pub request: Option<RequestRef>,
    /// A number whose meaning depends on `kind`.
    pub detail: u64,
}

/// An entry with its chain hash `H(prev_hash || entry)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AuditRecord {
    /// The entry.
    pub entry: AuditEntry,
    /// Its chain hash.
    pub hash: [u8; 32],
}

/// The state of a chain after some number of entries: anchor it outside the
/// log to detect truncation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AuditHead {
    /// Entries so far (the next entry's `seq`).
    pub count: u64,
    /// Hash of the last entry (the genesis hash when empty).
    pub hash: [u8; 32],
}

/// What [`verify_segment`] found wrong, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AuditViolation {
    /// Index (into the slice) of the first bad record; the slice length for a
    /// mismatch with the expected end.
    pub index: usize,
    /// What kind of damage.
    pub kind: ViolationKind,
}

/// The kinds of damage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ViolationKind {
    /// A sequence number out of place: an entry inserted or removed.
    Sequence,
    /// The stored hash does not match the entry and its predecessor: an
    /// entry edited (or one before it replaced).
    Hash,
    /// The chain ends elsewhere than the anchored head: truncated or tail
    /// rewritten.
    Head,
}

const AUDIT_CONTEXT: &str = "kabuken 2026 oob audit chain v1";

/// The hash before the first entry.
#[must_use]
pub fn genesis() -> AuditHead {
    AuditHead {
        count: 0,
        hash: derive_key(AUDIT_CONTEXT, &[b"genesis"]),
    }
}

fn encode(e: &AuditEntry) -> [u8; 8 + 8 + 1 + 5 + 9 + 8] {
    let mut b = [0u8; 39];
    b[0..8].copy_from_slice(&e.seq.to_le_bytes());
    b[8..16].copy_from_slice(&e.at.to_le_bytes());
    b[16] = e.kind as u8;
    if let Some(c) = e.contractor {
        b[17] = 1;
        b[18..22].copy_from_slice(&c.to_le_bytes());
    }
    if let Some(r) = e.request {
        b[22] = 1;
        b[23..31].copy_from_slice(&r.0.to_le_bytes());
    }
    b[31..39].copy_from_slice(&e.detail.to_le_bytes());
    b
}

fn chain_hash(prev: &Hash32, e: &AuditEntry) -> Hash32 {
    derive_key(AUDIT_CONTEXT, &[prev, &encode(e)])
}

/// Checks `records` as the continuation of the chain at `start`, and, when
/// `end` is given, that they end exactly there. Returns the first violation.
///
/// # Errors
/// The first [`AuditViolation`].
pub fn verify_segment(
    start: &AuditHead,
    records: &[AuditRecord],
    end: Option<&AuditHead>,
) -> Result<(), AuditViolation> {
    let mut prev = start.hash;
    let mut seq = start.count;
    for (index, r) in records.iter().enumerate() {
        if r.entry.seq != seq {
            return Err(AuditViolation {
                index,
                kind: ViolationKind::Sequence,
            });
        }
        if chain_hash(&prev, &r.entry) != r.hash {
            return Err(AuditViolation {
                index,
                kind: ViolationKind::Hash,
            });
        }
        prev = r.hash;
        seq += 1;
    }
    if let Some(end) = end {
        if end.count != seq || end.hash != prev {
            return Err(AuditViolation {
                index: records.len(),
                kind: ViolationKind::Head,
            });
        }
    }
    Ok(())
}

/// The in-memory log: the records since the last [`AuditLog::drain`] plus the
/// head of the whole chain.
#[derive(Clone, Debug)]
pub struct AuditLog {
    base: AuditHead,
    records: Vec<AuditRecord>,
    head: AuditHead,
}

impl Default for AuditLog {
    fn default() -> Self {
        AuditLog::new()
    }
}

impl AuditLog {
    /// An empty chain.
    #[must_use]
    pub fn new() -> Self {
        AuditLog {
            base: genesis(),
            records: Vec::new(),
            head: genesis(),
        }
    }

    /// Appends one decision.
    pub(crate) fn append(
        &mut self,
        at: Timestamp,
        kind: AuditKind,
        contractor: Option<ContractorId>,
        request: Option<RequestRef>,
        detail: u64,
    ) {
        let entry = AuditEntry {
            seq: self.head.count,
            at,
            kind,
            contractor,
            request,
            detail,
        };
        let hash = chain_hash(&self.head.hash, &entry);
        self.records.push(AuditRecord { entry, hash });
        self.head = AuditHead {
            count: self.head.count + 1,
            hash,
        };
    }

    /// The head of the whole chain (anchor it to detect truncation).
    #[must_use]
    pub fn head(&self) -> AuditHead {
        self.head
    }

    /// Where the retained records start.
    #[must_use]
    pub fn base(&self) -> AuditHead {
        self.base
    }

    /// The retained records.
    #[must_use]
    pub fn records(&self) -> &[AuditRecord] {
        &self.records
    }

    /// Moves the retained records out (for the host to persist); the chain
    /// continues from the same head.
    pub fn drain(&mut self) -> Vec<AuditRecord> {
        self.base = self.head;
        core::mem::take(&mut self.records)
    }

    /// Verifies the retained records from their base to the head.
    ///
    /// # Errors
    /// The first [`AuditViolation`].
    pub fn verify(&self) -> Result<(), AuditViolation> {
        verify_segment(&self.base, &self.records, Some(&self.head))
    }
}

/// Packs a method code and an amount into one detail word.
pub(crate) fn pending_detail(method: u8, amount: Amount) -> u64 {
    (u64::from(method) << 56) | (amount & ((1 << 56) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(n: u64) -> AuditLog {
        let mut l = AuditLog::new();
        for i in 0..n {
            l.append(
                i * 10,
                AuditKind::WrongAnswer,
                Some(1),
                Some(RequestRef(i)),
                i,
            );
        }
        l
    }

    #[test]
    fn intact_chain_verifies() {
        let l = log(10);
        assert_eq!(l.verify(), Ok(()));
        assert_eq!(l.head().count, 10);
        assert_eq!(verify_segment(&genesis(), &[], Some(&genesis())), Ok(()));
    }

    #[test]
    fn edit_insert_remove_truncate_are_detected() {
        let l = log(10);
        let head = l.head();
        let g = genesis();
        // edited detail
        let mut r = l.records().to_vec();
        r[4].entry.detail ^= 1;
        assert_eq!(
            verify_segment(&g, &r, Some(&head)),
            Err(AuditViolation {
                index: 4,
                kind: ViolationKind::Hash
            })
        );
        // edited and re-hashed: caught at the next entry
        let mut r = l.records().to_vec();
        r[4].entry.at += 1;
        r[4].hash = chain_hash(&r[3].hash, &r[4].entry);
        assert_eq!(verify_segment(&g, &r, Some(&head)).unwrap_err().index, 5);
        // edited last entry, re-hashed: caught by the head
        let mut r = l.records().to_vec();
        r[9].entry.kind = AuditKind::Confirmed;
        r[9].hash = chain_hash(&r[8].hash, &r[9].entry);
        assert_eq!(
            verify_segment(&g, &r, Some(&head)),
            Err(AuditViolation {
                index: 10,
                kind: ViolationKind::Head
            })
        );
        // removed
        let mut r = l.records().to_vec();
        r.remove(3);
        assert_eq!(
            verify_segment(&g, &r, Some(&head)),
            Err(AuditViolation {
                index: 3,
                kind: ViolationKind::Sequence
            })
        );
        // inserted (a copy of an entry)
        let mut r = l.records().to_vec();
        r.insert(6, r[2]);
        assert_eq!(verify_segment(&g, &r, Some(&head)).unwrap_err().index, 6);
        // inserted with a plausible sequence number: hash breaks there
        let mut r = l.records().to_vec();
        let mut fake = r[6];
        fake.entry.kind = AuditKind::Confirmed;
        r.insert(6, fake);
        assert_eq!(verify_segment(&g, &r, Some(&head)).unwrap_err().index, 6);
        // truncated
        let r = &l.records()[..7];
        assert_eq!(verify_segment(&g, r, None), Ok(()));
        assert_eq!(
            verify_segment(&g, r, Some(&head)),
            Err(AuditViolation {
                index: 7,
                kind: ViolationKind::Head
            })
        );
        // reordered
        let mut r = l.records().to_vec();
        r.swap(1, 2);
        assert_eq!(verify_segment(&g, &r, Some(&head)).unwrap_err().index, 1);
    }

    #[test]
    fn drain_continues_the_chain() {
        let mut l = log(5);
        let first = l.drain();
        let mid = l.base();
        l.append(99, AuditKind::Expired, None, None, 0);
        assert_eq!(l.verify(), Ok(()));
        assert_eq!(verify_segment(&genesis(), &first, Some(&mid)), Ok(()));
        let mut all = first;
        all.extend_from_slice(l.records());
        assert_eq!(verify_segment(&genesis(), &all, Some(&l.head())), Ok(()));
    }
}
