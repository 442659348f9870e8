//! Keys, signatures, digests and the canonical wire encoding.
//!
//! - Ed25519 through `ed25519-dalek`: [`KeyPair`] signs, [`PublicKey`]
//!   verifies with `verify_strict`. Weak (small-order) public keys are refused
//!   when a key is parsed, so no [`PublicKey`] value is ever weak.
//! - Every signature covers a per-message-kind domain label
//!   ([`MsgKind::label`]) followed by the message's canonical bytes, so a
//!   signature made for one kind of message never verifies as another.
//! - [`Signed<T>`] wraps any [`Message`] with its signer's user id and the
//!   signature; its encoding is specified in `docs/wire-format.md`.
//! - [`verify_batch`] checks many signatures at once and, when the batch
//!   fails, falls back to single strict verification to name the culprits.
//! - [`Digest`] is BLAKE3; [`KeyCache`] keeps parsed keys so a key's point
//!   decompression is paid once.
//!
//! Architecture invariant: this module depends only on `types`; it knows
//! message kinds (for domain separation) but not their contents.
#![forbid(unsafe_code)]

pub mod merkle;
pub mod wire;

pub use merkle::{BatchProof, MessageSignature};

use core::fmt;
use std::collections::HashMap;

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

pub use wire::{
    decode_seq, decode_seq_u64, encode_seq, Decode, Encode, Reader, WireError, Writer, WIRE_VERSION,
};

use crate::types::Timestamp;

/// A party's user id (as named in attestation certificates and messages).
pub type UserId = u64;

/// Why a cryptographic check failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CryptoError {
    /// The public-key bytes are not a valid curve point.
    BadKey,
    /// The public key is of small order (weak); refused.
    WeakKey,
    /// The signature does not verify (strictly) for this key and message.
    BadSignature,
    /// A batch failed; these indices hold the bad signatures.
    BatchFailed(Vec<usize>),
    /// The batch inputs were inconsistent (e.g. empty).
    BadBatch,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CryptoError::BadKey => f.write_str("invalid public key"),
            CryptoError::WeakKey => f.write_str("weak (small-order) public key"),
            CryptoError::BadSignature => f.write_str("bad signature"),
            CryptoError::BatchFailed(i) => write!(f, "bad signatures at {i:?}"),
            CryptoError::BadBatch => f.write_str("malformed batch"),
        }
    }
}

impl std::error::Error for CryptoError {}

/// Every kind of signed message. The byte is the message-kind byte of the
/// wire format; the label is the signature's domain separator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum MsgKind {
    Attestation = 1,
    Revocation = 2,
    Certificate = 3,
    IssueRequest = 4,
    TransferRequest = 5,
    TransferResponse = 6,
    CertificateRequest = 7,
    Endorsement = 8,
    DirectTransferRequest = 9,
    HoldingsInquiry = 10,
    HoldingsAnswer = 11,
    ReissueRequest = 12,
    ReissueResponse = 13,
    IdListSnapshot = 14,
    IdListDelta = 15,
    OrderRequest = 16,
    CancelRequest = 17,
    ReduceRequest = 18,
    ModifyRequest = 19,
    ReceptionReceipt = 20,
    ErrorNotice = 21,
    CompletionNotice = 22,
    SettlementRequest = 23,
    AccountInquiry = 24,
    AccountAnswer = 25,
}

impl MsgKind {
    /// All kinds, in byte order.
    pub const ALL: [MsgKind; 25] = [
        MsgKind::Attestation,
        MsgKind::Revocation,
        MsgKind::Certificate,
        MsgKind::IssueRequest,
        MsgKind::TransferRequest,
        MsgKind::TransferResponse,
        MsgKind::CertificateRequest,
        MsgKind::Endorsement,
        MsgKind::DirectTransferRequest,
        MsgKind::HoldingsInquiry,
        MsgKind::HoldingsAnswer,
        MsgKind::ReissueRequest,
        MsgKind::ReissueResponse,
        MsgKind::IdListSnapshot,
        MsgKind::IdListDelta,
        MsgKind::OrderRequest,
        MsgKind::CancelRequest,
        MsgKind::ReduceRequest,
        MsgKind::ModifyRequest,
        MsgKind::ReceptionReceipt,
        MsgKind::ErrorNotice,
        MsgKind::CompletionNotice,
        MsgKind::SettlementRequest,
        MsgKind::AccountInquiry,
        MsgKind::AccountAnswer,
    ];

    /// The kind for a wire byte.
    #[must_use]
    pub fn from_u8(b: u8) -> Option<MsgKind> {
        MsgKind::ALL.get(usize::from(b).wrapping_sub(1)).copied()
    }

    /// The domain label that prefixes the signature input of this kind.
    #[must_use]
    pub const fn label(self) -> &'static [u8] {
        match self {
            MsgKind::Attestation => b"kabuken/v1/attestation\0",
            MsgKind::Revocation => b"kabuken/v1/revocation\0",
            MsgKind::Certificate => b"kabuken/v1/certificate\0",
            MsgKind::IssueRequest => b"kabuken/v1/issue-request\0",
            MsgKind::TransferRequest => b"kabuken/v1/transfer-request\0",
            MsgKind::TransferResponse => b"kabuken/v1/transfer-response\0",
            MsgKind::CertificateRequest => b"kabuken/v1/certificate-request\0",
            MsgKind::Endorsement => b"kabuken/v1/endorsement\0",
            MsgKind::DirectTransferRequest => b"kabuken/v1/direct-transfer-request\0",
            MsgKind::HoldingsInquiry => b"kabuken/v1/holdings-inquiry\0",
            MsgKind::HoldingsAnswer => b"kabuken/v1/holdings-answer\0",
            MsgKind::ReissueRequest => b"kabuken/v1/reissue-request\0",
            MsgKind::ReissueResponse => b"kabuken/v1/reissue-response\0",
            MsgKind::IdListSnapshot => b"kabuken/v1/id-list-snapshot\0",
            MsgKind::IdListDelta => b"kabuken/v1/id-list-delta\0",
            MsgKind::OrderRequest => b"kabuken/v1/order-request\0",
            MsgKind::CancelRequest => b"kabuken/v1/cancel-request\0",
            MsgKind::ReduceRequest => b"kabuken/v1/reduce-request\0",
            MsgKind::ModifyRequest => b"kabuken/v1/modify-request\0",
            MsgKind::ReceptionReceipt => b"kabuken/v1/reception-receipt\0",
            MsgKind::ErrorNotice => b"kabuken/v1/error-notice\0",
            MsgKind::CompletionNotice => b"kabuken/v1/completion-notice\0",
            MsgKind::SettlementRequest => b"kabuken/v1/settlement-request\0",
            MsgKind::AccountInquiry => b"kabuken/v1/account-inquiry\0",
            MsgKind::AccountAnswer => b"kabuken/v1/account-answer\0",
        }
    }
}

/// A BLAKE3-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// BLAKE3 of `data`.
    #[must_use]
    pub fn of(data: &[u8]) -> Digest {
        Digest(*blake3::hash(data).as_bytes())
    }
    /// Keyed BLAKE3 (a MAC) of `data` under `key`.
    #[must_use]
    pub fn keyed(key: &[u8; 32], data: &[u8]) -> Digest {
        Digest(*blake3::keyed_hash(key, data).as_bytes())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…")
    }
}

impl Encode for Digest {
    fn encode(&self, w: &mut Writer) {
        w.array(&self.0);
    }
}
impl Decode for Digest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Digest(r.array()?))
    }
}

/// Constant-time equality of two byte strings of the same length.
#[must_use]
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut acc = 0u8;
    for (x, y) in a.iter().zip(b) {
        acc |= x ^ y;
    }
    core::hint::black_box(acc) == 0
}

/// An Ed25519 signature (64 bytes, R || s).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

impl Encode for Signature {
    fn encode(&self, w: &mut Writer) {
        w.array(&self.0);
    }
}
impl Decode for Signature {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Signature(r.array()?))
    }
}

/// A parsed, non-weak Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0.as_bytes();
        write!(
            f,
            "PublicKey({:02x}{:02x}{:02x}{:02x}…)",
            b[0], b[1], b[2], b[3]
        )
    }
}

impl PublicKey {
    /// Parses 32 bytes; invalid points and weak (small-order) keys are refused.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, CryptoError> {
        let vk = VerifyingKey::from_bytes(bytes).map_err(|_| CryptoError::BadKey)?;
        if vk.is_weak() {
            return Err(CryptoError::WeakKey);
        }
        Ok(PublicKey(vk))
    }
    /// The 32-byte encoding.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
    /// Strict verification of a raw message (no domain label). Used for
    /// conformance vectors; protocol code uses [`PublicKey::verify`].
    pub fn verify_raw(&self, msg: &[u8], sig: &Signature) -> Result<(), CryptoError> {
        let s = ed25519_dalek::Signature::from_bytes(&sig.0);
        self.0
            .verify_strict(msg, &s)
            .map_err(|_| CryptoError::BadSignature)
    }
    /// Strict verification of `label(kind) || bytes`.
    pub fn verify(&self, kind: MsgKind, bytes: &[u8], sig: &Signature) -> Result<(), CryptoError> {
        self.verify_raw(&domain_input(kind, bytes), sig)
    }
}

/// `label(kind) || bytes`: the exact input of every protocol signature.
#[must_use]
pub fn domain_input(kind: MsgKind, bytes: &[u8]) -> Vec<u8> {
    let label = kind.label();
    let mut v = Vec::with_capacity(label.len() + bytes.len());
    v.extend_from_slice(label);
    v.extend_from_slice(bytes);
    v
}

/// Strict verification of raw bytes against a raw key (parse, weak-key
/// refusal, `verify_strict`).
pub fn verify_raw(public_key: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> Result<(), CryptoError> {
    PublicKey::from_bytes(public_key)?.verify_raw(msg, &Signature(*sig))
}

/// An Ed25519 signing key pair.
pub struct KeyPair(SigningKey);

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPair({:?})", self.public())
    }
}

impl KeyPair {
    /// A fresh key pair from the operating system's random source.
    #[must_use]
    pub fn generate() -> KeyPair {
        KeyPair(SigningKey::generate(&mut rand_core::OsRng))
    }
    /// A deterministic key pair from a 32-byte seed (tests, fixtures).
    #[must_use]
    pub fn from_seed(seed: &[u8; 32]) -> KeyPair {
        KeyPair(SigningKey::from_bytes(seed))
    }
    /// The public half.
    #[must_use]
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }
    /// Signs raw bytes (no domain label).
    #[must_use]
    pub fn sign_raw(&self, msg: &[u8]) -> Signature {
        Signature(self.0.sign(msg).to_bytes())
    }
    /// Signs `label(kind) || bytes`.
    #[must_use]
    pub fn sign(&self, kind: MsgKind, bytes: &[u8]) -> Signature {
        self.sign_raw(&domain_input(kind, bytes))
    }
}

/// How a party signs what it sends: now, with its key (the synchronous
/// API), or later, in a runtime's signing stage. Deferred, [`Signer::sign`]
/// returns the message with a pending signature (a ticket); the stage signs
/// it, usually in a Merkle batch, before it leaves the process. The logic
/// that produces the message is the same in both modes.
#[derive(Debug)]
pub struct Signer {
    key: std::sync::Arc<KeyPair>,
    deferred: bool,
    next_ticket: u64,
    made: u64,
}

impl Signer {
    /// Signs now with `key`.
    #[must_use]
    pub fn new(key: KeyPair) -> Self {
        Self {
            key: std::sync::Arc::new(key),
            deferred: false,
            next_ticket: 1,
            made: 0,
        }
    }
    /// Switches between signing now and leaving signatures pending.
    pub fn set_deferred(&mut self, deferred: bool) {
        self.deferred = deferred;
    }
    /// Whether signatures are left pending.
    #[must_use]
    pub fn is_deferred(&self) -> bool {
        self.deferred
    }
    /// The key.
    #[must_use]
    pub fn key(&self) -> &KeyPair {
        &self.key
    }
    /// The key, shared (for a signing stage on another thread).
    #[must_use]
    pub fn shared_key(&self) -> std::sync::Arc<KeyPair> {
        std::sync::Arc::clone(&self.key)
    }
    /// Messages signed or left pending so far.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.made
    }
    /// `body` as `signer`: signed now, or pending.
    pub fn sign<T: Message>(&mut self, body: T, signer: UserId) -> Signed<T> {
        self.made += 1;
        if self.deferred {
            let t = self.next_ticket;
            self.next_ticket += 1;
            Signed::pending(body, signer, t)
        } else {
            Signed::sign(body, signer, &self.key)
        }
    }
}

/// Fresh random bytes from the operating system.
#[must_use]
pub fn random_bytes<const N: usize>() -> [u8; N] {
    use rand_core::RngCore as _;
    let mut b = [0u8; N];
    rand_core::OsRng.fill_bytes(&mut b);
    b
}

/// One item of a batch: key, full signature input (domain label included),
/// signature.
pub type BatchItem<'a> = (&'a PublicKey, &'a [u8], &'a Signature);

/// Verifies many signatures at once. On failure every item is checked with
/// strict single verification and the indices of the bad ones are returned
/// in [`CryptoError::BatchFailed`].
///
/// The batch equation is cofactored; a batch that passes is accepted as is
/// (keys are never weak, `s` is range-checked). A failing batch is decided
/// item by item with `verify_strict`.
pub fn verify_batch(items: &[BatchItem<'_>]) -> Result<(), CryptoError> {
    if items.is_empty() {
        return Ok(());
    }
    let msgs: Vec<&[u8]> = items.iter().map(|i| i.1).collect();
    let sigs: Vec<ed25519_dalek::Signature> = items
        .iter()
        .map(|i| ed25519_dalek::Signature::from_bytes(&i.2 .0))
        .collect();
    let keys: Vec<VerifyingKey> = items.iter().map(|i| i.0 .0).collect();
    if ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok() {
        return Ok(());
    }
    let bad: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, (k, m, s))| k.verify_raw(m, s).is_err())
        .map(|(i, _)| i)
        .collect();
    if bad.is_empty() {
        // The batch failed but every single strict check passed: cannot
        // happen for strict-valid input; refuse all to stay on the safe side.
        return Err(CryptoError::BatchFailed((0..items.len()).collect()));
    }
    Err(CryptoError::BatchFailed(bad))
}

/// A cache of parsed public keys, so a key's decompression and weak-key
/// check are paid once per key.
#[derive(Debug, Default)]
pub struct KeyCache {
    keys: HashMap<[u8; 32], PublicKey>,
}

impl KeyCache {
    /// An empty cache.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
    /// The parsed key for `bytes`, parsing (and caching) it on first use.
    pub fn get(&mut self, bytes: &[u8; 32]) -> Result<PublicKey, CryptoError> {
        if let Some(k) = self.keys.get(bytes) {
            return Ok(*k);
        }
        let k = PublicKey::from_bytes(bytes)?;
        self.keys.insert(*bytes, k);
        Ok(k)
    }
    /// Number of cached keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }
    /// Whether the cache is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// A message body with a canonical encoding and a message kind.
pub trait Message: Encode + Decode {
    /// The kind byte and domain label of this message.
    const KIND: MsgKind;
}

/// Maximum encoded length of one nested signed message.
pub const MAX_NESTED: usize = 64 * 1024;

/// A message body signed by `signer`.
///
/// Wire form (docs/wire-format.md section 2 and 4a): `form u8 | kind u8 |
/// signer u64 | body | signature`, where `form` 1 is a single Ed25519
/// signature (`[64]`) and `form` 2 a batch signature ([`BatchProof`]). In
/// both forms the signature covers `label(kind) || 1 | kind | signer |
/// body` (the version byte is always 1 there), so the same message has the
/// same [`Signed::content_digest`] whichever way it was signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed<T> {
    /// The message.
    pub body: T,
    /// The signer's user id.
    pub signer: UserId,
    /// The signature, single or batch (or pending inside a runtime).
    pub signature: MessageSignature,
}

/// Frame byte of a batch-signed message.
pub const FORM_BATCH: u8 = 2;
/// Frame byte of a message whose signature is still pending (never valid
/// on the wire: every decoder refuses it).
const FORM_PENDING: u8 = 0;

impl<T: Message> Signed<T> {
    fn unsigned_bytes(body: &T, signer: UserId) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(WIRE_VERSION);
        w.u8(T::KIND as u8);
        w.u64(signer);
        body.encode(&mut w);
        w.into_bytes()
    }

    /// Signs `body` as `signer` with `key`.
    #[must_use]
    pub fn sign(body: T, signer: UserId, key: &KeyPair) -> Self {
        let sig = key.sign(T::KIND, &Self::unsigned_bytes(&body, signer));
        Signed {
            body,
            signer,
            signature: MessageSignature::Single(sig),
        }
    }

    /// `body` as `signer`, its signature still to be made by a signing
    /// stage (see [`Signer`]): it verifies nowhere and cannot be decoded.
    #[must_use]
    pub fn pending(body: T, signer: UserId, ticket: u64) -> Self {
        Signed {
            body,
            signer,
            signature: MessageSignature::Pending(ticket),
        }
    }

    /// Whether the signature is still pending.
    #[must_use]
    pub fn is_pending(&self) -> bool {
        matches!(self.signature, MessageSignature::Pending(_))
    }

    /// Signs many messages of this kind with one batch signature (one
    /// Ed25519 signature over their Merkle root; see [`merkle`]).
    ///
    /// # Errors
    /// [`CryptoError::BadBatch`] for an empty batch or one over
    /// [`merkle::MAX_BATCH`].
    pub fn sign_batch(
        bodies: Vec<T>,
        signer: UserId,
        key: &KeyPair,
    ) -> Result<Vec<Self>, CryptoError> {
        let bytes: Vec<Vec<u8>> = bodies
            .iter()
            .map(|b| Self::unsigned_bytes(b, signer))
            .collect();
        let items: Vec<(MsgKind, &[u8])> = bytes.iter().map(|b| (T::KIND, b.as_slice())).collect();
        let proofs = merkle::sign_batch(key, &items)?;
        Ok(bodies
            .into_iter()
            .zip(proofs)
            .map(|(body, p)| Signed {
                body,
                signer,
                signature: MessageSignature::Batch(p),
            })
            .collect())
    }

    /// The bytes the signature covers, without the domain label.
    #[must_use]
    pub fn signed_bytes(&self) -> Vec<u8> {
        Self::unsigned_bytes(&self.body, self.signer)
    }

    /// The full signature input (domain label included), for batching.
    #[must_use]
    pub fn signature_input(&self) -> Vec<u8> {
        domain_input(T::KIND, &self.signed_bytes())
    }

    /// Checks the signature strictly against `key`.
    pub fn verify(&self, key: &PublicKey) -> Result<(), CryptoError> {
        self.signature.verify(key, T::KIND, &self.signed_bytes())
    }

    /// The canonical wire bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = self.signed_bytes();
        match &self.signature {
            MessageSignature::Single(s) => b.extend_from_slice(&s.0),
            MessageSignature::Batch(p) => {
                b[0] = FORM_BATCH;
                let mut w = Writer::new();
                p.encode(&mut w);
                b.extend_from_slice(w.as_bytes());
            }
            MessageSignature::Pending(t) => {
                b[0] = FORM_PENDING;
                b.extend_from_slice(&t.to_le_bytes());
            }
        }
        b
    }

    /// BLAKE3 of the signed content (`1 | kind | signer | body`, without
    /// the signature): the same for the single and the batch form of a
    /// message, and known before the signature is made. The certificate-ID
    /// table stores this digest of each certificate.
    #[must_use]
    pub fn content_digest(&self) -> Digest {
        let mut h = blake3::Hasher::new();
        h.update(T::KIND.label());
        h.update(&self.signed_bytes());
        Digest(*h.finalize().as_bytes())
    }

    /// Strictly decodes the wire bytes (does not verify the signature).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let s = Self::decode_from(&mut r)?;
        r.finish()?;
        Ok(s)
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let form = r.u8()?;
        if form != WIRE_VERSION && form != FORM_BATCH {
            return Err(WireError::BadVersion);
        }
        if r.u8()? != T::KIND as u8 {
            return Err(WireError::WrongKind);
        }
        let signer = r.u64()?;
        let body = T::decode(r)?;
        let signature = if form == FORM_BATCH {
            MessageSignature::Batch(BatchProof::decode(r)?)
        } else {
            MessageSignature::Single(Signature::decode(r)?)
        };
        Ok(Signed {
            body,
            signer,
            signature,
        })
    }

    /// BLAKE3 of the wire bytes: the message's identity (receipts echo it,
    /// the certificate-ID table stores it).
    #[must_use]
    pub fn digest(&self) -> Digest {
        Digest::of(&self.to_bytes())
    }
}

/// Nested form: a u32 length prefix, then the wire bytes.
impl<T: Message> Encode for Signed<T> {
    fn encode(&self, w: &mut Writer) {
        w.bytes(&self.to_bytes());
    }
}

impl<T: Message> Decode for Signed<T> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let inner = r.bytes(MAX_NESTED)?;
        Signed::from_bytes(inner)
    }
}

/// A validity window `[not_before, not_after]` (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// First instant of validity.
    pub not_before: Timestamp,
    /// Last instant of validity.
    pub not_after: Timestamp,
}

impl Validity {
    /// Whether `now` lies inside the window.
    #[must_use]
    pub fn contains(&self, now: Timestamp) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

impl Encode for Validity {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.not_before);
        w.u64(self.not_after);
    }
}
impl Decode for Validity {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let not_before = r.u64()?;
        let not_after = r.u64()?;
        if not_after < not_before {
            return Err(WireError::NonCanonical);
        }
        Ok(Validity {
            not_before,
            not_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Ping(u64);
    impl Encode for Ping {
        fn encode(&self, w: &mut Writer) {
            w.u64(self.0);
        }
    }
    impl Decode for Ping {
        fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
            r.u64().map(Ping)
        }
    }
    impl Message for Ping {
        const KIND: MsgKind = MsgKind::HoldingsInquiry;
    }
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Pong(u64);
    impl Encode for Pong {
        fn encode(&self, w: &mut Writer) {
            w.u64(self.0);
        }
    }
    impl Decode for Pong {
        fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
            r.u64().map(Pong)
        }
    }
    impl Message for Pong {
        const KIND: MsgKind = MsgKind::CertificateRequest;
    }

    #[test]
    fn kinds_roundtrip_and_labels_unique() {
        let mut labels = std::collections::HashSet::new();
        for k in MsgKind::ALL {
            assert_eq!(MsgKind::from_u8(k as u8), Some(k));
            assert!(labels.insert(k.label()));
        }
        assert_eq!(MsgKind::from_u8(0), None);
        assert_eq!(MsgKind::from_u8(26), None);
    }

    #[test]
    fn sign_verify_tamper() {
        let k = KeyPair::from_seed(&[7; 32]);
        let s = Signed::sign(Ping(5), 42, &k);
        assert_eq!(s.verify(&k.public()), Ok(()));
        let bytes = s.to_bytes();
        assert_eq!(Signed::<Ping>::from_bytes(&bytes), Ok(s.clone()));
        // tampered body
        let mut t = s.clone();
        t.body.0 = 6;
        assert_eq!(t.verify(&k.public()), Err(CryptoError::BadSignature));
        // tampered signer
        let mut t = s.clone();
        t.signer = 43;
        assert_eq!(t.verify(&k.public()), Err(CryptoError::BadSignature));
        // wrong key
        let other = KeyPair::from_seed(&[8; 32]);
        assert_eq!(s.verify(&other.public()), Err(CryptoError::BadSignature));
        // trailing byte, truncation, wrong version
        let mut b = bytes.clone();
        b.push(0);
        assert_eq!(
            Signed::<Ping>::from_bytes(&b),
            Err(WireError::TrailingBytes)
        );
        assert_eq!(
            Signed::<Ping>::from_bytes(&bytes[..bytes.len() - 1]),
            Err(WireError::Truncated)
        );
        let mut b = bytes.clone();
        b[0] = 3;
        assert_eq!(Signed::<Ping>::from_bytes(&b), Err(WireError::BadVersion));
        // A single signature presented as the batch form does not parse.
        let mut b = bytes.clone();
        b[0] = FORM_BATCH;
        assert!(Signed::<Ping>::from_bytes(&b).is_err());
    }

    #[test]
    fn signature_of_one_kind_is_not_valid_as_another() {
        let k = KeyPair::from_seed(&[7; 32]);
        let ping = Signed::sign(Ping(5), 42, &k);
        // Same body bytes, other kind, same signature.
        let pong = Signed {
            body: Pong(5),
            signer: 42,
            signature: ping.signature.clone(),
        };
        assert_eq!(pong.verify(&k.public()), Err(CryptoError::BadSignature));
        // The wire bytes of one kind do not decode as another.
        assert_eq!(
            Signed::<Pong>::from_bytes(&ping.to_bytes()),
            Err(WireError::WrongKind)
        );
        // Relabelled bytes decode but do not verify.
        let mut b = ping.to_bytes();
        b[1] = MsgKind::CertificateRequest as u8;
        let relabelled = Signed::<Pong>::from_bytes(&b).expect("decodes");
        assert_eq!(
            relabelled.verify(&k.public()),
            Err(CryptoError::BadSignature)
        );
    }

    #[test]
    fn weak_and_invalid_keys_refused() {
        // The identity point (small order).
        let mut id = [0u8; 32];
        id[0] = 1;
        assert_eq!(PublicKey::from_bytes(&id), Err(CryptoError::WeakKey));
        // y = 2 is not on the curve.
        let mut bad = [0u8; 32];
        bad[0] = 2;
        assert_eq!(PublicKey::from_bytes(&bad), Err(CryptoError::BadKey));
        let mut cache = KeyCache::new();
        assert!(cache.get(&id).is_err());
        assert!(cache.is_empty());
        let k = KeyPair::from_seed(&[1; 32]).public();
        assert_eq!(cache.get(&k.to_bytes()), Ok(k));
        assert_eq!(cache.get(&k.to_bytes()), Ok(k));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn batch_signed_messages_verify_alone_and_refuse_tampering() {
        let k = KeyPair::from_seed(&[9; 32]);
        let other = KeyPair::from_seed(&[10; 32]);
        let signed = Signed::sign_batch((0..7).map(Ping).collect(), 42, &k).expect("batch");
        for (i, m) in signed.iter().enumerate() {
            assert_eq!(m.verify(&k.public()), Ok(()), "message {i}");
            assert_eq!(m.verify(&other.public()), Err(CryptoError::BadSignature));
            // Round trip through the wire (form byte 2), same content
            // digest as the single-signed form of the same message.
            let back = Signed::<Ping>::from_bytes(&m.to_bytes()).expect("decodes");
            assert_eq!(&back, m);
            assert_eq!(m.to_bytes()[0], FORM_BATCH);
            let single = Signed::sign(Ping(i as u64), 42, &k);
            assert_eq!(single.content_digest(), m.content_digest());
            assert_ne!(single.digest(), m.digest());
        }
        // Tampered message.
        let mut t = signed[3].clone();
        t.body.0 = 99;
        assert_eq!(t.verify(&k.public()), Err(CryptoError::BadSignature));
        // Wrong proof: another message's proof.
        let mut t = signed[3].clone();
        t.signature = signed[4].signature.clone();
        assert_eq!(t.verify(&k.public()), Err(CryptoError::BadSignature));
        // Reordered: the right path, claimed at another index.
        let mut t = signed[2].clone();
        if let MessageSignature::Batch(p) = &mut t.signature {
            p.index = 3;
        }
        assert_eq!(t.verify(&k.public()), Err(CryptoError::BadSignature));
        // A tampered sibling hash.
        let mut t = signed[5].clone();
        if let MessageSignature::Batch(p) = &mut t.signature {
            p.path[0].0[0] ^= 1;
        }
        assert_eq!(t.verify(&k.public()), Err(CryptoError::BadSignature));
        // Pending signatures never verify and never decode.
        let p = Signed::pending(Ping(1), 42, 7);
        assert!(p.is_pending());
        assert_eq!(p.verify(&k.public()), Err(CryptoError::BadSignature));
        assert_eq!(
            Signed::<Ping>::from_bytes(&p.to_bytes()),
            Err(WireError::BadVersion)
        );
        let mut signer = Signer::new(KeyPair::from_seed(&[9; 32]));
        assert_eq!(signer.sign(Ping(1), 42).verify(&k.public()), Ok(()));
        signer.set_deferred(true);
        assert!(signer.sign(Ping(1), 42).is_pending());
        assert_eq!(signer.count(), 2);
        assert!(Signed::<Ping>::sign_batch(Vec::new(), 42, &k).is_err());
    }

    #[test]
    fn batch_names_culprits() {
        let keys: Vec<KeyPair> = (0..8u8).map(|i| KeyPair::from_seed(&[i; 32])).collect();
        let pubs: Vec<PublicKey> = keys.iter().map(KeyPair::public).collect();
        let msgs: Vec<Vec<u8>> = (0..8u8)
            .map(|i| domain_input(MsgKind::IssueRequest, &[i]))
            .collect();
        let mut sigs: Vec<Signature> = keys.iter().zip(&msgs).map(|(k, m)| k.sign_raw(m)).collect();
        let items = |sigs: &[Signature]| -> Result<(), CryptoError> {
            let v: Vec<BatchItem<'_>> = (0..8)
                .map(|i| (&pubs[i], msgs[i].as_slice(), &sigs[i]))
                .collect();
            verify_batch(&v)
        };
        assert_eq!(items(&sigs), Ok(()));
        sigs[2].0[5] ^= 1;
        sigs[6] = sigs[5];
        assert_eq!(items(&sigs), Err(CryptoError::BatchFailed(vec![2, 6])));
        assert_eq!(verify_batch(&[]), Ok(()));
    }

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
