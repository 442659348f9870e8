//! The tiny internal seam to the cryptographic primitives: BLAKE3 digests
//! with a domain label, keyed BLAKE3 tags, and the Ed25519 "electronic seal"
//! check (`verify_strict`). When `kabuken::crypto` lands, only this file
//! changes.
//!
//! Architecture invariant: nothing else in `oob` names `blake3` or
//! `ed25519_dalek` directly.

use ed25519_dalek::{Signature, VerifyingKey};

/// A 32-byte digest or tag.
pub(crate) type Hash32 = [u8; 32];

/// BLAKE3 key derivation: `context` is a hard-coded, globally unique label.
pub(crate) fn derive_key(context: &str, material: &[&[u8]]) -> Hash32 {
    let mut h = blake3::Hasher::new_derive_key(context);
    for m in material {
        h.update(m);
    }
    *h.finalize().as_bytes()
}

/// Keyed BLAKE3 over the concatenation of `parts`.
pub(crate) fn keyed(key: &Hash32, parts: &[&[u8]]) -> Hash32 {
    let mut h = blake3::Hasher::new_keyed(key);
    for p in parts {
        h.update(p);
    }
    *h.finalize().as_bytes()
}

/// A parsed, non-weak Ed25519 public key of a holder's device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SealKey(VerifyingKey);

impl SealKey {
    /// Parses a compressed public key; refuses invalid and weak (small-order)
    /// keys.
    pub(crate) fn parse(bytes: &[u8; 32]) -> Option<SealKey> {
        let k = VerifyingKey::from_bytes(bytes).ok()?;
        if k.is_weak() {
            return None;
        }
        Some(SealKey(k))
    }

    /// Strict Ed25519 verification (no malleable or small-order forms).
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let sig = Signature::from_bytes(signature);
        self.0.verify_strict(message, &sig).is_ok()
    }
}
