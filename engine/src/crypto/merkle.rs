//! Batch signatures: one Ed25519 signature over the BLAKE3 Merkle root of a
//! batch of messages, each message carrying its inclusion proof.
//!
//! Signing `n` outbound messages costs one signature and about `2n` BLAKE3
//! compressions instead of `n` signatures; each message still verifies on
//! its own (its proof, `log2 n` hashes, and the root signature).
//!
//! Construction (all hashes BLAKE3-256, each with its own domain label):
//! - leaf = H(`kabuken/v1/merkle-leaf\0` || domain label of the kind || bytes),
//!   that is the hash of exactly what a single signature would cover;
//! - node = H(`kabuken/v1/merkle-node\0` || left || right);
//! - a level with an odd number of nodes promotes its last node unchanged
//!   (never duplicates it, so no two batches share a root by padding);
//! - the signature covers `kabuken/v1/merkle-root\0` || count (u32 LE) ||
//!   root, so a root signature can never be taken for a message signature,
//!   and the count fixes the tree's shape.
//!
//! A [`BatchProof`] holds the count, the message's index, the sibling path
//! (its length is fixed by index and count, and decoding refuses any other)
//! and the root signature. Tampering with the message, the path, the index
//! (reordering) or the count makes verification fail.
//!
//! Architecture invariant: a batch-signed message verifies exactly when a
//! single signature by the same key over the same kind and bytes would have
//! been produced by the signer; [`MessageSignature`] lets every verifier
//! accept both forms through one call.

use super::wire::{Decode, Encode, Reader, WireError, Writer};
use super::{CryptoError, Digest, KeyPair, MsgKind, PublicKey, Signature};

/// Most messages in one batch.
pub const MAX_BATCH: u32 = 1 << 20;

const LEAF: &[u8] = b"kabuken/v1/merkle-leaf\0";
const NODE: &[u8] = b"kabuken/v1/merkle-node\0";
const ROOT: &[u8] = b"kabuken/v1/merkle-root\0";

/// The leaf hash of a message.
#[must_use]
pub fn leaf(kind: MsgKind, bytes: &[u8]) -> Digest {
    let mut h = blake3::Hasher::new();
    h.update(LEAF);
    h.update(kind.label());
    h.update(bytes);
    Digest(*h.finalize().as_bytes())
}

fn node(l: &Digest, r: &Digest) -> Digest {
    let mut h = blake3::Hasher::new();
    h.update(NODE);
    h.update(&l.0);
    h.update(&r.0);
    Digest(*h.finalize().as_bytes())
}

fn root_input(count: u32, root: &Digest) -> Vec<u8> {
    let mut v = Vec::with_capacity(ROOT.len() + 4 + 32);
    v.extend_from_slice(ROOT);
    v.extend_from_slice(&count.to_le_bytes());
    v.extend_from_slice(&root.0);
    v
}

/// Number of siblings on the path of leaf `index` in a tree of `count`
/// leaves (levels where the node is unpaired contribute none).
fn path_len(mut index: u32, mut count: u32) -> usize {
    let mut n = 0;
    while count > 1 {
        if (index ^ 1) < count {
            n += 1;
        }
        index >>= 1;
        count = count.div_ceil(2);
    }
    n
}

/// A message's membership in a signed batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchProof {
    /// Messages in the batch (1..=[`MAX_BATCH`]).
    pub count: u32,
    /// This message's position.
    pub index: u32,
    /// Sibling hashes from the leaf level up.
    pub path: Vec<Digest>,
    /// The signature over the root.
    pub root_signature: Signature,
}

/// Signs a batch: one signature over the Merkle root; returns each
/// message's proof, in order.
///
/// # Errors
/// [`CryptoError::BadBatch`] for an empty batch or one over [`MAX_BATCH`].
pub fn sign_batch(
    key: &KeyPair,
    items: &[(MsgKind, &[u8])],
) -> Result<Vec<BatchProof>, CryptoError> {
    let count = u32::try_from(items.len()).map_err(|_| CryptoError::BadBatch)?;
    if count == 0 || count > MAX_BATCH {
        return Err(CryptoError::BadBatch);
    }
    // All levels, leaves first.
    let mut levels: Vec<Vec<Digest>> = vec![items.iter().map(|(k, b)| leaf(*k, b)).collect()];
    while levels.last().is_some_and(|l| l.len() > 1) {
        let below = levels.last().map(Vec::as_slice).unwrap_or_default();
        let up: Vec<Digest> = below
            .chunks(2)
            .map(|p| {
                if p.len() == 2 {
                    node(&p[0], &p[1])
                } else {
                    p[0]
                }
            })
            .collect();
        levels.push(up);
    }
    let root = levels
        .last()
        .and_then(|l| l.first())
        .copied()
        .ok_or(CryptoError::BadBatch)?;
    let root_signature = key.sign_raw(&root_input(count, &root));
    Ok((0..count)
        .map(|index| {
            let mut path = Vec::with_capacity(levels.len());
            let mut i = index as usize;
            for level in &levels[..levels.len() - 1] {
                if let Some(sib) = level.get(i ^ 1) {
                    path.push(*sib);
                }
                i >>= 1;
            }
            BatchProof {
                count,
                index,
                path,
                root_signature,
            }
        })
        .collect())
}

impl BatchProof {
    /// The root this proof claims for the message, or `None` when the
    /// proof's shape is inconsistent (index out of range, wrong path length).
    #[must_use]
    pub fn root(&self, kind: MsgKind, bytes: &[u8]) -> Option<Digest> {
        if self.count == 0 || self.count > MAX_BATCH || self.index >= self.count {
            return None;
        }
        if self.path.len() != path_len(self.index, self.count) {
            return None;
        }
        let mut h = leaf(kind, bytes);
        let (mut i, mut n) = (self.index, self.count);
        let mut sibs = self.path.iter();
        while n > 1 {
            if (i ^ 1) < n {
                let s = sibs.next()?;
                h = if i & 1 == 0 { node(&h, s) } else { node(s, &h) };
            }
            i >>= 1;
            n = n.div_ceil(2);
        }
        Some(h)
    }

    /// Verifies that `key` signed a batch containing this message (of this
    /// kind) at this position.
    ///
    /// # Errors
    /// [`CryptoError::BadSignature`] for any mismatch.
    pub fn verify(&self, key: &PublicKey, kind: MsgKind, bytes: &[u8]) -> Result<(), CryptoError> {
        let root = self.root(kind, bytes).ok_or(CryptoError::BadSignature)?;
        key.verify_raw(&root_input(self.count, &root), &self.root_signature)
    }
}

impl Encode for BatchProof {
    fn encode(&self, w: &mut Writer) {
        w.u32(self.count);
        w.u32(self.index);
        w.count(self.path.len());
        for d in &self.path {
            d.encode(w);
        }
        self.root_signature.encode(w);
    }
}

impl Decode for BatchProof {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let count = r.u32()?;
        let index = r.u32()?;
        if count == 0 || count > MAX_BATCH || index >= count {
            return Err(WireError::NonCanonical);
        }
        let n = r.count(32)?;
        if n != path_len(index, count) {
            return Err(WireError::NonCanonical);
        }
        let path = (0..n)
            .map(|_| Digest::decode(r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BatchProof {
            count,
            index,
            path,
            root_signature: Signature::decode(r)?,
        })
    }
}

/// A message's signature in either form: a single Ed25519 signature over
/// the message, or membership in a batch-signed Merkle tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageSignature {
    /// `sign(label(kind) || bytes)`.
    Single(Signature),
    /// One signature over a batch root plus this message's proof.
    Batch(BatchProof),
    /// Not signed yet: a runtime's signing stage will sign it (the ticket
    /// is the producer's running number). Never verifies; encodes with a
    /// tag no decoder accepts, so it can never pass for a signature.
    Pending(u64),
}

impl MessageSignature {
    /// Verifies either form.
    ///
    /// # Errors
    /// [`CryptoError::BadSignature`].
    pub fn verify(&self, key: &PublicKey, kind: MsgKind, bytes: &[u8]) -> Result<(), CryptoError> {
        match self {
            MessageSignature::Single(s) => key.verify(kind, bytes, s),
            MessageSignature::Batch(p) => p.verify(key, kind, bytes),
            MessageSignature::Pending(_) => Err(CryptoError::BadSignature),
        }
    }
}

impl Encode for MessageSignature {
    fn encode(&self, w: &mut Writer) {
        match self {
            MessageSignature::Single(s) => {
                w.u8(0);
                s.encode(w);
            }
            MessageSignature::Batch(p) => {
                w.u8(1);
                p.encode(w);
            }
            MessageSignature::Pending(t) => {
                w.u8(0xff);
                w.u64(*t);
            }
        }
    }
}

impl Decode for MessageSignature {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        match r.u8()? {
            0 => Ok(MessageSignature::Single(Signature::decode(r)?)),
            1 => Ok(MessageSignature::Batch(BatchProof::decode(r)?)),
            _ => Err(WireError::BadTag),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> KeyPair {
        KeyPair::from_seed(&[7; 32])
    }

    fn msgs(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| format!("message {i}").into_bytes())
            .collect()
    }

    fn items(m: &[Vec<u8>]) -> Vec<(MsgKind, &[u8])> {
        m.iter()
            .map(|b| (MsgKind::TransferResponse, b.as_slice()))
            .collect()
    }

    #[test]
    fn every_member_of_every_size_verifies() {
        let k = key();
        let pk = k.public();
        for n in 1..=33 {
            let m = msgs(n);
            let proofs = sign_batch(&k, &items(&m)).unwrap();
            assert_eq!(proofs.len(), n);
            for (i, p) in proofs.iter().enumerate() {
                p.verify(&pk, MsgKind::TransferResponse, &m[i]).unwrap();
                // Round trip through the wire form.
                let mut w = Writer::new();
                p.encode(&mut w);
                let bytes = w.into_bytes();
                let mut r = Reader::new(&bytes);
                assert_eq!(&BatchProof::decode(&mut r).unwrap(), p);
                r.finish().unwrap();
            }
        }
    }

    #[test]
    fn tampering_is_refused() {
        let k = key();
        let pk = k.public();
        let m = msgs(7);
        let proofs = sign_batch(&k, &items(&m)).unwrap();
        let p = &proofs[3];
        // Tampered message.
        assert!(p
            .verify(&pk, MsgKind::TransferResponse, b"message 9")
            .is_err());
        // Another kind (same bytes).
        assert!(p.verify(&pk, MsgKind::TransferRequest, &m[3]).is_err());
        // Reordered: message 3 with message 4's proof, or a moved index.
        assert!(proofs[4]
            .verify(&pk, MsgKind::TransferResponse, &m[3])
            .is_err());
        let mut moved = p.clone();
        moved.index = 2;
        assert!(moved.verify(&pk, MsgKind::TransferResponse, &m[3]).is_err());
        // Wrong path entry, truncated path, wrong count.
        let mut bad = p.clone();
        bad.path[0].0[0] ^= 1;
        assert!(bad.verify(&pk, MsgKind::TransferResponse, &m[3]).is_err());
        let mut short = p.clone();
        short.path.pop();
        assert!(short.verify(&pk, MsgKind::TransferResponse, &m[3]).is_err());
        let mut count = p.clone();
        count.count = 8;
        assert!(count.verify(&pk, MsgKind::TransferResponse, &m[3]).is_err());
        // Another key.
        let other = KeyPair::from_seed(&[8; 32]).public();
        assert!(p.verify(&other, MsgKind::TransferResponse, &m[3]).is_err());
        // A root signature is not a message signature and vice versa.
        assert!(pk
            .verify(MsgKind::TransferResponse, &m[3], &p.root_signature)
            .is_err());
        let single = k.sign(MsgKind::TransferResponse, &m[3]);
        let mut forged = p.clone();
        forged.root_signature = single;
        assert!(forged
            .verify(&pk, MsgKind::TransferResponse, &m[3])
            .is_err());
    }

    #[test]
    fn both_forms_through_one_call() {
        let k = key();
        let pk = k.public();
        let m = msgs(5);
        let batch = MessageSignature::Batch(sign_batch(&k, &items(&m)).unwrap().remove(2));
        let single = MessageSignature::Single(k.sign(MsgKind::TransferResponse, &m[2]));
        for s in [&batch, &single] {
            s.verify(&pk, MsgKind::TransferResponse, &m[2]).unwrap();
            assert!(s.verify(&pk, MsgKind::TransferResponse, &m[1]).is_err());
            let mut w = Writer::new();
            s.encode(&mut w);
            let bytes = w.into_bytes();
            let mut r = Reader::new(&bytes);
            assert_eq!(&MessageSignature::decode(&mut r).unwrap(), s);
            r.finish().unwrap();
        }
    }

    #[test]
    fn malformed_proofs_are_refused_when_decoded() {
        let k = key();
        let m = msgs(6);
        let p = sign_batch(&k, &items(&m)).unwrap().remove(5);
        let mut w = Writer::new();
        p.encode(&mut w);
        let good = w.into_bytes();
        // Every truncation fails; a trailing byte fails at finish.
        for cut in 0..good.len() {
            let mut r = Reader::new(&good[..cut]);
            assert!(
                BatchProof::decode(&mut r).and_then(|_| r.finish()).is_err(),
                "cut {cut}"
            );
        }
        let mut long = good.clone();
        long.push(0);
        let mut r = Reader::new(&long);
        BatchProof::decode(&mut r).unwrap();
        assert!(r.finish().is_err());
        // Index out of range, zero count, inconsistent path length.
        for (at, v) in [(4usize, 6u8), (0, 0)] {
            let mut bad = good.clone();
            bad[at..at + 4].copy_from_slice(&u32::from(v).to_le_bytes());
            assert!(BatchProof::decode(&mut Reader::new(&bad)).is_err());
        }
        assert!(MessageSignature::decode(&mut Reader::new(&[2])).is_err());
        assert_eq!(sign_batch(&k, &[]), Err(CryptoError::BadBatch));
    }

    #[test]
    fn path_lengths() {
        assert_eq!(path_len(0, 1), 0);
        assert_eq!(path_len(0, 2), 1);
        assert_eq!(path_len(2, 3), 1); // promoted at the first level
        assert_eq!(path_len(4, 5), 1);
        assert_eq!(path_len(0, 8), 3);
    }
}
