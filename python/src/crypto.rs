//! Keys, signatures and signed messages (`kabuken::crypto`): [`KeyPair`],
//! [`PublicKey`], [`MsgKind`] and [`Message`], the decoded form of any
//! signed message of any party (`kabuken::exchange::AnyMessage`).

use crate::convert::{crypto_error, fixed, wire_error};
use kabuken::crypto as kc;
use kabuken::crypto::merkle;
use kabuken::crypto::{Decode as _, Encode as _};
use kabuken::exchange::AnyMessage;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

/// An Ed25519 key pair. The binding keeps the 32-byte seed so the key can
/// be handed to engine objects that own their key (CA, register, ledger,
/// exchange); the seed is never exposed to Python.
#[pyclass(module = "kabuken._native", frozen)]
pub struct KeyPair {
    seed: [u8; 32],
    inner: kc::KeyPair,
}

impl KeyPair {
    /// A fresh engine key pair equal to this one (for owners of a key).
    pub fn engine(&self) -> kc::KeyPair {
        kc::KeyPair::from_seed(&self.seed)
    }
    /// The engine key pair.
    pub fn get(&self) -> &kc::KeyPair {
        &self.inner
    }
}

#[pymethods]
impl KeyPair {
    /// The deterministic key pair of a 32-byte seed.
    #[new]
    fn new(seed: &[u8]) -> PyResult<Self> {
        let seed = fixed::<32>(seed, "a key seed")?;
        Ok(KeyPair {
            seed,
            inner: kc::KeyPair::from_seed(&seed),
        })
    }
    /// A fresh key pair from the operating system's random source.
    #[staticmethod]
    fn generate() -> Self {
        let seed = kc::random_bytes::<32>();
        KeyPair {
            seed,
            inner: kc::KeyPair::from_seed(&seed),
        }
    }
    /// The public half.
    #[getter]
    fn public_key(&self) -> PublicKey {
        PublicKey {
            inner: self.inner.public(),
        }
    }
    /// Signs `label(kind) || data` (64 bytes).
    fn sign<'py>(&self, py: Python<'py>, kind: MsgKind, data: &[u8]) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.sign(kind.engine(), data).0)
    }
    /// Signs raw bytes, no domain label (64 bytes).
    fn sign_raw<'py>(&self, py: Python<'py>, data: &[u8]) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.sign_raw(data).0)
    }
    fn __repr__(&self) -> String {
        format!(
            "KeyPair(public_key={})",
            hex(&self.inner.public().to_bytes())
        )
    }
}

/// A hash for Python of wire bytes: the first 8 bytes of their BLAKE3.
pub fn digest_hash(bytes: &[u8]) -> u64 {
    let d = kc::Digest::of(bytes).0;
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A parsed Ed25519 public key; invalid points and weak (small-order) keys
/// are refused with `CryptoError`.
#[pyclass(module = "kabuken._native", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct PublicKey {
    pub inner: kc::PublicKey,
}

#[pymethods]
impl PublicKey {
    #[new]
    fn new(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let b = fixed::<32>(data, "a public key")?;
        kc::PublicKey::from_bytes(&b)
            .map(|inner| PublicKey { inner })
            .map_err(|e| crypto_error(py, &e))
    }
    /// The 32-byte encoding.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }
    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.to_bytes(py)
    }
    fn __hash__(&self) -> u64 {
        let b = self.inner.to_bytes();
        u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }
    /// Strict verification of `label(kind) || data`; raises `CryptoError`.
    fn verify(&self, py: Python<'_>, kind: MsgKind, data: &[u8], signature: &[u8]) -> PyResult<()> {
        let sig = kc::Signature(fixed::<64>(signature, "a signature")?);
        self.inner
            .verify(kind.engine(), data, &sig)
            .map_err(|e| crypto_error(py, &e))
    }
    /// Strict verification of raw bytes (no domain label); raises `CryptoError`.
    fn verify_raw(&self, py: Python<'_>, data: &[u8], signature: &[u8]) -> PyResult<()> {
        let sig = kc::Signature(fixed::<64>(signature, "a signature")?);
        self.inner
            .verify_raw(data, &sig)
            .map_err(|e| crypto_error(py, &e))
    }
    fn __repr__(&self) -> String {
        format!("PublicKey({})", hex(&self.inner.to_bytes()))
    }
}

/// BLAKE3-256 of `data` (32 bytes): the digest receipts echo
/// (`Message.digest()` is this over the wire bytes).
#[pyfunction]
pub fn blake3(py: Python<'_>, data: &[u8]) -> Py<PyBytes> {
    PyBytes::new(py, &kc::Digest::of(data).0).unbind()
}

/// One item of `verify_batch`: key, kind, data (without the label), signature.
type BatchArg<'py> = (PyRef<'py, PublicKey>, MsgKind, Vec<u8>, Vec<u8>);

/// Verifies many domain-labelled signatures at once: each item is
/// `(public_key, kind, data, signature)`. Raises `CryptoError` with kind
/// ``"batch_failed"`` and `indices` naming every bad item.
#[pyfunction]
pub fn verify_batch(py: Python<'_>, items: Vec<BatchArg<'_>>) -> PyResult<()> {
    let mut keys = Vec::with_capacity(items.len());
    let mut inputs = Vec::with_capacity(items.len());
    let mut sigs = Vec::with_capacity(items.len());
    for (key, kind, data, sig) in &items {
        keys.push(key.inner);
        inputs.push(kc::domain_input(kind.engine(), data));
        sigs.push(kc::Signature(fixed::<64>(sig, "a signature")?));
    }
    let batch: Vec<kc::BatchItem<'_>> = keys
        .iter()
        .zip(&inputs)
        .zip(&sigs)
        .map(|((k, i), s)| (k, i.as_slice(), s))
        .collect();
    py.detach(|| kc::verify_batch(&batch))
        .map_err(|e| crypto_error(py, &e))
}

/// A message's membership in a batch signed once over its BLAKE3 Merkle
/// root (`kabuken::crypto::merkle`).
#[pyclass(module = "kabuken._native", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct BatchProof {
    inner: merkle::BatchProof,
}

#[pymethods]
impl BatchProof {
    /// Strictly decodes a proof's wire bytes; raises `DecodeError`.
    #[new]
    fn new(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let mut r = kc::Reader::new(data);
        let inner = merkle::BatchProof::decode(&mut r)
            .and_then(|p| r.finish().map(|()| p))
            .map_err(|e| wire_error(py, e))?;
        Ok(BatchProof { inner })
    }
    /// Messages in the batch.
    #[getter]
    fn count(&self) -> u32 {
        self.inner.count
    }
    /// This message's position.
    #[getter]
    fn index(&self) -> u32 {
        self.inner.index
    }
    /// Sibling hashes from the leaf level up (32 bytes each).
    #[getter]
    fn path<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
        self.inner
            .path
            .iter()
            .map(|d| PyBytes::new(py, &d.0))
            .collect()
    }
    /// The signature over the root (64 bytes).
    #[getter]
    fn root_signature<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.root_signature.0)
    }
    /// The root this proof claims for `data` of `kind`, or None when the
    /// proof's shape is inconsistent.
    fn root<'py>(
        &self,
        py: Python<'py>,
        kind: MsgKind,
        data: &[u8],
    ) -> Option<Bound<'py, PyBytes>> {
        self.inner
            .root(kind.engine(), data)
            .map(|d| PyBytes::new(py, &d.0))
    }
    /// Verifies that `public_key` signed a batch holding `data` of `kind`
    /// at this position; raises `CryptoError`.
    fn verify(
        &self,
        py: Python<'_>,
        public_key: &PublicKey,
        kind: MsgKind,
        data: &[u8],
    ) -> PyResult<()> {
        self.inner
            .verify(&public_key.inner, kind.engine(), data)
            .map_err(|e| crypto_error(py, &e))
    }
    /// The wire encoding.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let mut w = kc::Writer::new();
        self.inner.encode(&mut w);
        PyBytes::new(py, w.as_bytes())
    }
    fn __repr__(&self) -> String {
        format!(
            "BatchProof(index={}, count={}, path={} hashes)",
            self.inner.index,
            self.inner.count,
            self.inner.path.len()
        )
    }
}

/// Signs a batch of `(kind, data)` items with one signature over their
/// Merkle root; returns each item's proof, in order. Raises `CryptoError`
/// (kind ``"bad_batch"``) for an empty or oversized batch.
#[pyfunction]
pub fn sign_batch(
    py: Python<'_>,
    key: &KeyPair,
    items: Vec<(MsgKind, Vec<u8>)>,
) -> PyResult<Vec<BatchProof>> {
    let refs: Vec<(kc::MsgKind, &[u8])> = items
        .iter()
        .map(|(k, d)| (k.engine(), d.as_slice()))
        .collect();
    let keypair = &key.inner;
    let proofs = py
        .detach(|| merkle::sign_batch(keypair, &refs))
        .map_err(|e| crypto_error(py, &e))?;
    Ok(proofs
        .into_iter()
        .map(|inner| BatchProof { inner })
        .collect())
}

/// Defines the Python `MsgKind` with one variant per engine kind (same
/// wire byte) and the conversions both ways.
macro_rules! msg_kinds {
    ($($variant:ident = $byte:literal as $name:literal),* $(,)?) => {
        /// The kind of a signed message (its wire byte, 1..=25).
        #[pyclass(module = "kabuken._native", eq, eq_int, hash, frozen)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum MsgKind {
            $(
                #[pyo3(name = $name)]
                $variant = $byte,
            )*
        }

        impl MsgKind {
            pub fn engine(self) -> kc::MsgKind {
                match self {
                    $(MsgKind::$variant => kc::MsgKind::$variant,)*
                }
            }
            pub fn from_engine(k: kc::MsgKind) -> Self {
                match k {
                    $(kc::MsgKind::$variant => MsgKind::$variant,)*
                }
            }
        }
    };
}

msg_kinds! {
    Attestation = 1 as "ATTESTATION",
    Revocation = 2 as "REVOCATION",
    Certificate = 3 as "CERTIFICATE",
    IssueRequest = 4 as "ISSUE_REQUEST",
    TransferRequest = 5 as "TRANSFER_REQUEST",
    TransferResponse = 6 as "TRANSFER_RESPONSE",
    CertificateRequest = 7 as "CERTIFICATE_REQUEST",
    Endorsement = 8 as "ENDORSEMENT",
    DirectTransferRequest = 9 as "DIRECT_TRANSFER_REQUEST",
    HoldingsInquiry = 10 as "HOLDINGS_INQUIRY",
    HoldingsAnswer = 11 as "HOLDINGS_ANSWER",
    ReissueRequest = 12 as "REISSUE_REQUEST",
    ReissueResponse = 13 as "REISSUE_RESPONSE",
    IdListSnapshot = 14 as "ID_LIST_SNAPSHOT",
    IdListDelta = 15 as "ID_LIST_DELTA",
    OrderRequest = 16 as "ORDER_REQUEST",
    CancelRequest = 17 as "CANCEL_REQUEST",
    ReduceRequest = 18 as "REDUCE_REQUEST",
    ModifyRequest = 19 as "MODIFY_REQUEST",
    ReceptionReceipt = 20 as "RECEPTION_RECEIPT",
    ErrorNotice = 21 as "ERROR_NOTICE",
    CompletionNotice = 22 as "COMPLETION_NOTICE",
    SettlementRequest = 23 as "SETTLEMENT_REQUEST",
    AccountInquiry = 24 as "ACCOUNT_INQUIRY",
    AccountAnswer = 25 as "ACCOUNT_ANSWER",
}

#[pymethods]
impl MsgKind {
    /// The signature's domain label of this kind.
    #[getter]
    fn label<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.engine().label())
    }
}

/// Any signed message, strictly decoded (the signature is not checked
/// until `verify`).
#[pyclass(module = "kabuken._native", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct Message {
    pub inner: AnyMessage,
    pub bytes: Vec<u8>,
}

impl Message {
    /// Wraps an engine message (its wire bytes are decoded back once).
    pub fn of<T: kc::Message>(py: Python<'_>, s: &kc::Signed<T>) -> PyResult<Self> {
        Self::decode(py, s.to_bytes())
    }
    pub fn decode(py: Python<'_>, bytes: Vec<u8>) -> PyResult<Self> {
        let inner = AnyMessage::decode(&bytes).map_err(|e| wire_error(py, e))?;
        Ok(Message { inner, bytes })
    }
}

/// A `Signed<T>` from a `Message` or wire bytes; `DecodeError` when it is
/// malformed or of another kind, `TypeError` for other objects.
pub fn signed_arg<T: kc::Message>(ob: &Bound<'_, PyAny>) -> PyResult<kc::Signed<T>> {
    let py = ob.py();
    let parsed = if let Ok(m) = ob.cast::<Message>() {
        kc::Signed::<T>::from_bytes(&m.get().bytes)
    } else if let Ok(b) = ob.extract::<&[u8]>() {
        kc::Signed::<T>::from_bytes(b)
    } else {
        return Err(PyTypeError::new_err(format!(
            "expected a kabuken.Message or bytes, not {}",
            ob.get_type().name()?
        )));
    };
    parsed.map_err(|e| wire_error(py, e))
}

#[pymethods]
impl Message {
    /// Strictly decodes wire bytes; raises `DecodeError`.
    #[new]
    fn new(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        Self::decode(py, data.to_vec())
    }
    /// Same as the constructor.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        Self::decode(py, data.to_vec())
    }
    #[getter]
    fn kind(&self) -> MsgKind {
        // Decoding checked the kind byte.
        kc::MsgKind::from_u8(self.bytes[1]).map_or(MsgKind::Attestation, MsgKind::from_engine)
    }
    /// The signer's user id.
    #[getter]
    fn signer(&self) -> u64 {
        self.inner.signer()
    }
    /// BLAKE3 of the wire bytes (32 bytes): what receipts echo.
    fn digest<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &kc::Digest::of(&self.bytes).0)
    }
    /// The canonical wire bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.bytes)
    }
    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.bytes)
    }
    fn __len__(&self) -> usize {
        self.bytes.len()
    }
    fn __hash__(&self) -> u64 {
        digest_hash(&self.bytes)
    }
    /// Checks the signature strictly against `public_key`; raises `CryptoError`.
    fn verify(&self, py: Python<'_>, public_key: &PublicKey) -> PyResult<()> {
        let key = public_key.inner;
        py.detach(|| self.inner.verify(&key))
            .map_err(|e| crypto_error(py, &e))
    }
    /// The body's fields as a dict (names as in `docs/wire-format.md`).
    fn body<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        crate::messages::body(py, &self.inner)
    }
    fn __repr__(&self) -> String {
        format!(
            "Message(kind={:?}, signer={}, {} bytes)",
            self.kind(),
            self.inner.signer(),
            self.bytes.len()
        )
    }
}
