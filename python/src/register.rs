//! Certificates and the shareholder register (`kabuken::certs`,
//! `kabuken::register`): [`CertId`], [`Certificate`], [`Register`] (every
//! phase), its records and transfer history, and [`IdListFollower`].

use crate::convert::{crypto_kind, fixed};
use crate::crypto::{signed_arg, KeyPair, Message, PublicKey};
use crate::errors::error;
use crate::identity::{identity_kind, store_register, store_revoke, IdentityStore};
use kabuken::certs as kce;
use kabuken::crypto::Signed;
use kabuken::register as kr;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

// ---- errors ----------------------------------------------------------------

pub fn cert_kind(e: &kce::CertError) -> (&'static str, Option<String>) {
    match e {
        kce::CertError::Expired => ("expired", None),
        kce::CertError::Restricted => ("restricted", None),
        kce::CertError::Crypto(c) => ("crypto", Some(crypto_kind(c).to_owned())),
        kce::CertError::WrongRegister => ("wrong_register", None),
        kce::CertError::NotHolder => ("not_holder", None),
        kce::CertError::WrongCertificate => ("wrong_certificate", None),
        kce::CertError::WrongRecipient => ("wrong_recipient", None),
    }
}

/// `CertificateError(message, kind, detail)`.
pub fn cert_error(py: Python<'_>, e: &kce::CertError) -> PyErr {
    let (kind, detail) = cert_kind(e);
    error(py, "CertificateError", (e.to_string(), kind, detail))
}

pub fn id_state_name(s: kce::IdState) -> &'static str {
    match s {
        kce::IdState::Vacant => "vacant",
        kce::IdState::Live => "live",
        kce::IdState::Reserved(_) => "reserved",
        kce::IdState::Spent => "spent",
    }
}

/// `RegisterError(message, kind, detail)`: `kind` names the engine's
/// variant, `detail` the inner identity / certificate error's kind.
pub fn register_error(py: Python<'_>, e: &kr::RegisterError) -> PyErr {
    let (kind, detail): (&str, Option<String>) = match e {
        kr::RegisterError::Identity(i) => {
            let (k, d) = identity_kind(i);
            (
                "identity",
                Some(d.map_or_else(|| k.to_owned(), |d| format!("{k}: {d}"))),
            )
        }
        kr::RegisterError::Cert(c) => {
            let (k, d) = cert_kind(c);
            (
                "certificate",
                Some(d.map_or_else(|| k.to_owned(), |d| format!("{k}: {d}"))),
            )
        }
        kr::RegisterError::Replay { .. } => ("replay", None),
        kr::RegisterError::UnknownInstrument => ("unknown_instrument", None),
        kr::RegisterError::ForgedId => ("forged_id", None),
        kr::RegisterError::UnknownId => ("unknown_id", None),
        kr::RegisterError::NotLive(s) => ("not_live", Some(id_state_name(*s).to_owned())),
        kr::RegisterError::DigestMismatch => ("digest_mismatch", None),
        kr::RegisterError::WrongHolder => ("wrong_holder", None),
        kr::RegisterError::QuantityMismatch => ("quantity_mismatch", None),
        kr::RegisterError::Mismatch => ("mismatch", None),
        kr::RegisterError::ExceedsAuthorized => ("exceeds_authorized", None),
        kr::RegisterError::UnknownTransfer => ("unknown_transfer", None),
        kr::RegisterError::NotYourTransfer => ("not_your_transfer", None),
        kr::RegisterError::AlreadyClaimed => ("already_claimed", None),
        kr::RegisterError::BadReissue(w) => ("bad_reissue", Some((*w).to_owned())),
        kr::RegisterError::TextTooLong => ("text_too_long", None),
        kr::RegisterError::TableFull => ("table_full", None),
    };
    error(py, "RegisterError", (e.to_string(), kind, detail))
}

fn list_error(py: Python<'_>, e: &kr::ListError) -> PyErr {
    let kind = match e {
        kr::ListError::WrongSigner => "wrong_signer",
        kr::ListError::Crypto(_) => "crypto",
        kr::ListError::WrongInstrument => "wrong_instrument",
        kr::ListError::NoSnapshot => "no_snapshot",
        kr::ListError::Gap { .. } => "gap",
        kr::ListError::Inconsistent => "inconsistent",
        kr::ListError::Stale { .. } => "stale",
    };
    error(py, "IdListError", (e.to_string(), kind))
}

// ---- certificate IDs and certificates --------------------------------------

/// A certificate ID: the register's dense serial plus a 16-byte keyed tag.
#[pyclass(module = "kabuken._native", frozen, eq, hash)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertId {
    pub inner: kce::CertId,
}

impl From<kce::CertId> for CertId {
    fn from(inner: kce::CertId) -> Self {
        CertId { inner }
    }
}

#[pymethods]
impl CertId {
    #[new]
    fn new(serial: u64, tag: &[u8]) -> PyResult<Self> {
        Ok(CertId {
            inner: kce::CertId {
                serial,
                tag: fixed::<16>(tag, "a certificate-ID tag")?,
            },
        })
    }
    #[getter]
    fn serial(&self) -> u64 {
        self.inner.serial
    }
    #[getter]
    fn tag<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.tag)
    }
    fn __str__(&self) -> String {
        self.inner.to_string()
    }
    fn __repr__(&self) -> String {
        format!("CertId({})", self.inner)
    }
}

pub fn share_class_name(c: &kce::ShareClass) -> &'static str {
    match c {
        kce::ShareClass::Common => "common",
        kce::ShareClass::Preferred => "preferred",
        kce::ShareClass::Subordinated => "subordinated",
        kce::ShareClass::Convertible { .. } => "convertible",
    }
}

/// `"common"`, `"preferred"`, `"subordinated"` or `"convertible"` (with terms).
pub fn share_class_arg(name: &str, terms: &str) -> PyResult<kce::ShareClass> {
    Ok(match name {
        "common" => kce::ShareClass::Common,
        "preferred" => kce::ShareClass::Preferred,
        "subordinated" => kce::ShareClass::Subordinated,
        "convertible" => kce::ShareClass::Convertible {
            terms: terms.to_owned(),
        },
        _ => {
            return Err(PyValueError::new_err(format!(
                "share class must be 'common', 'preferred', 'subordinated' or 'convertible', not {name:?}"
            )))
        }
    })
}

pub fn restriction_name(r: kce::TransferRestriction) -> (&'static str, Option<u64>) {
    match r {
        kce::TransferRestriction::Free => ("free", None),
        kce::TransferRestriction::NonTransferable => ("non_transferable", None),
        kce::TransferRestriction::LockedUntil(t) => ("locked_until", Some(t)),
    }
}

fn restriction_arg(name: &str, until: Option<u64>) -> PyResult<kce::TransferRestriction> {
    match (name, until) {
        ("free", None) => Ok(kce::TransferRestriction::Free),
        ("non_transferable", None) => Ok(kce::TransferRestriction::NonTransferable),
        ("locked_until", Some(t)) => Ok(kce::TransferRestriction::LockedUntil(t)),
        ("locked_until", None) => Err(PyValueError::new_err(
            "restriction 'locked_until' needs locked_until=<time>",
        )),
        ("free" | "non_transferable", Some(_)) => Err(PyValueError::new_err(
            "locked_until is only meaningful with restriction='locked_until'",
        )),
        _ => Err(PyValueError::new_err(format!(
            "restriction must be 'free', 'non_transferable' or 'locked_until', not {name:?}"
        ))),
    }
}

/// A register-signed electronic stock certificate.
#[pyclass(module = "kabuken._native", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct Certificate {
    pub inner: Signed<kce::Certificate>,
}

impl From<Signed<kce::Certificate>> for Certificate {
    fn from(inner: Signed<kce::Certificate>) -> Self {
        Certificate { inner }
    }
}

/// A list of signed certificates from `Certificate`s, `Message`s or bytes.
pub fn certificates_arg(items: &Bound<'_, PyAny>) -> PyResult<Vec<Signed<kce::Certificate>>> {
    if items.is_instance_of::<pyo3::types::PyString>() || items.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(
            "certificates must be a sequence of Certificate objects",
        ));
    }
    items.try_iter()?.map(|c| certificate_arg(&c?)).collect()
}

/// One signed certificate from a `Certificate`, a `Message` or bytes.
pub fn certificate_arg(ob: &Bound<'_, PyAny>) -> PyResult<Signed<kce::Certificate>> {
    if let Ok(c) = ob.cast::<Certificate>() {
        return Ok(c.get().inner.clone());
    }
    signed_arg::<kce::Certificate>(ob)
}

#[pymethods]
impl Certificate {
    /// Strictly decodes a signed certificate; raises `DecodeError`.
    #[new]
    fn new(data: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Certificate {
            inner: signed_arg::<kce::Certificate>(data)?,
        })
    }
    #[getter]
    fn id(&self) -> CertId {
        self.inner.body.id.into()
    }
    /// The certificate ID's serial.
    #[getter]
    fn serial(&self) -> u64 {
        self.inner.body.id.serial
    }
    #[getter]
    fn certificate_number(&self) -> u64 {
        self.inner.body.certificate_number
    }
    #[getter]
    fn instrument(&self) -> u32 {
        self.inner.body.instrument
    }
    /// The holder's user id.
    #[getter]
    fn holder(&self) -> u64 {
        self.inner.body.holder
    }
    #[getter]
    fn holder_name(&self) -> &str {
        &self.inner.body.holder_name
    }
    #[getter]
    fn shares(&self) -> u64 {
        self.inner.body.shares
    }
    #[getter]
    fn par_value(&self) -> u64 {
        self.inner.body.par_value
    }
    #[getter]
    fn issue_date(&self) -> u64 {
        self.inner.body.issue_date
    }
    #[getter]
    fn expiry(&self) -> u64 {
        self.inner.body.expiry
    }
    #[getter]
    fn company_name(&self) -> &str {
        &self.inner.body.company_name
    }
    #[getter]
    fn company_founded(&self) -> u32 {
        self.inner.body.company_founded
    }
    #[getter]
    fn share_class(&self) -> &'static str {
        share_class_name(&self.inner.body.class)
    }
    #[getter]
    fn conversion_terms(&self) -> Option<&str> {
        match &self.inner.body.class {
            kce::ShareClass::Convertible { terms } => Some(terms),
            _ => None,
        }
    }
    #[getter]
    fn restriction(&self) -> &'static str {
        restriction_name(self.inner.body.restriction).0
    }
    #[getter]
    fn locked_until(&self) -> Option<u64> {
        restriction_name(self.inner.body.restriction).1
    }
    #[getter]
    fn register_name(&self) -> &str {
        &self.inner.body.register_name
    }
    #[getter]
    fn register_address(&self) -> &str {
        &self.inner.body.register_address
    }
    /// The signing register's user id.
    #[getter]
    fn signer(&self) -> u64 {
        self.inner.signer
    }
    /// BLAKE3 of the wire bytes (32 bytes).
    fn digest<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.digest().0)
    }
    /// BLAKE3 of the signed content without the signature (32 bytes): the
    /// same for the single and the batch-signed form; what the
    /// certificate-ID table stores.
    fn content_digest<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.content_digest().0)
    }
    /// The canonical wire bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }
    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.to_bytes(py)
    }
    fn __hash__(&self) -> u64 {
        crate::crypto::digest_hash(&self.inner.to_bytes())
    }
    /// The certificate as a generic `Message`.
    fn to_message(&self, py: Python<'_>) -> PyResult<Message> {
        Message::of(py, &self.inner)
    }
    /// Checks the register's signature; raises `CertificateError`.
    fn verify(&self, py: Python<'_>, register_id: u64, register_key: &PublicKey) -> PyResult<()> {
        kce::verify_certificate(&self.inner, register_id, &register_key.inner)
            .map_err(|e| cert_error(py, &e))
    }
    /// Whether the certificate may change hands at `now`; raises
    /// `CertificateError` (expired, restricted).
    fn check_transferable(&self, py: Python<'_>, now: u64) -> PyResult<()> {
        self.inner
            .body
            .check_transferable(now)
            .map_err(|e| cert_error(py, &e))
    }
    /// The holder's signed endorsement of this certificate to `recipient`.
    fn endorse(
        &self,
        py: Python<'_>,
        recipient: u64,
        nonce: u64,
        holder_key: &KeyPair,
    ) -> PyResult<Message> {
        Message::of(
            py,
            &kce::endorse(&self.inner, recipient, nonce, holder_key.get()),
        )
    }
    /// The recipient's offline check of an endorsed certificate; raises
    /// `CertificateError`.
    fn verify_endorsed(
        &self,
        py: Python<'_>,
        endorsement: &Bound<'_, PyAny>,
        recipient: u64,
        register_id: u64,
        register_key: &PublicKey,
        holder_key: &PublicKey,
        now: u64,
    ) -> PyResult<()> {
        let e = signed_arg::<kce::Endorsement>(endorsement)?;
        kce::verify_endorsed(
            &self.inner,
            &e,
            recipient,
            register_id,
            &register_key.inner,
            &holder_key.inner,
            now,
        )
        .map_err(|e| cert_error(py, &e))
    }
    fn __repr__(&self) -> String {
        let b = &self.inner.body;
        format!(
            "Certificate(id={}, instrument={}, holder={}, shares={})",
            b.id, b.instrument, b.holder, b.shares
        )
    }
}

// ---- records ----------------------------------------------------------------

/// One shareholder record (drawing 7).
#[pyclass(module = "kabuken._native", frozen, get_all)]
pub struct Record {
    instrument: u32,
    certificate_number: u64,
    cert_id: CertId,
    holder_name_address: String,
    holder: u64,
    shares: u64,
    share_class: &'static str,
    acquired: u64,
    conditions: String,
    dividend_account: String,
    current: bool,
}

impl From<&kr::Record> for Record {
    fn from(r: &kr::Record) -> Self {
        Record {
            instrument: r.instrument,
            certificate_number: r.certificate_number,
            cert_id: r.cert_id.into(),
            holder_name_address: r.holder_name_address.clone(),
            holder: r.holder,
            shares: r.shares,
            share_class: share_class_name(&r.class),
            acquired: r.acquired,
            conditions: r.conditions.clone(),
            dividend_account: r.dividend_account.clone(),
            current: r.current,
        }
    }
}

#[pymethods]
impl Record {
    fn __repr__(&self) -> String {
        format!(
            "Record(cert_id={}, holder={}, shares={}, current={})",
            self.cert_id.inner, self.holder, self.shares, self.current
        )
    }
}

/// One transfer (drawing 16).
#[pyclass(module = "kabuken._native", frozen, get_all)]
pub struct TransferRecord {
    transfer_number: u64,
    instrument: u32,
    old_cert_id: CertId,
    new_cert_id: CertId,
    change_cert_id: Option<CertId>,
    quantity: u64,
    buyer: u64,
    seller: u64,
    buyer_claimed: bool,
    change_claimed: bool,
}

impl From<&kr::TransferRecord> for TransferRecord {
    fn from(t: &kr::TransferRecord) -> Self {
        TransferRecord {
            transfer_number: t.transfer_number,
            instrument: t.instrument,
            old_cert_id: t.old_cert_id.into(),
            new_cert_id: t.new_cert_id.into(),
            change_cert_id: t.change_cert_id.map(Into::into),
            quantity: t.quantity,
            buyer: t.buyer,
            seller: t.seller,
            buyer_claimed: t.buyer_claimed,
            change_claimed: t.change_claimed,
        }
    }
}

#[pymethods]
impl TransferRecord {
    fn __repr__(&self) -> String {
        format!(
            "TransferRecord(transfer_number={}, quantity={}, buyer={}, seller={})",
            self.transfer_number, self.quantity, self.buyer, self.seller
        )
    }
}

// ---- the register ------------------------------------------------------------

/// The shareholder register: the issuing company's list of holders and its
/// transfer agent. Every phase takes a signed request (`Message` or bytes)
/// and the current time, and answers with a signed message or raises
/// `RegisterError`; a refused request changes nothing.
#[pyclass(module = "kabuken._native")]
pub struct Register {
    pub inner: kr::Register,
}

#[pymethods]
impl Register {
    /// A register signing as `user_id` with `key`, checking parties with
    /// `identities` (moved in). `id_secret` (32 bytes) keys the
    /// certificate-ID tags; random when omitted.
    #[new]
    #[pyo3(signature = (user_id, name, address, key, identities, certificate_lifetime=u64::MAX / 4, id_capacity=1 << 20, id_secret=None))]
    fn new(
        user_id: u64,
        name: String,
        address: String,
        key: &KeyPair,
        identities: &mut IdentityStore,
        certificate_lifetime: u64,
        id_capacity: u64,
        id_secret: Option<&[u8]>,
    ) -> PyResult<Self> {
        let id_key = match id_secret {
            Some(s) => kce::CertIdKey::from_bytes(fixed::<32>(s, "an ID secret")?),
            None => kce::CertIdKey::generate(),
        };
        let store = identities.take()?;
        Ok(Register {
            inner: kr::Register::new(
                kr::RegisterConfig {
                    user_id,
                    name,
                    address,
                    certificate_lifetime,
                    id_capacity,
                },
                key.engine(),
                id_key,
                store,
            ),
        })
    }
    #[getter]
    fn user_id(&self) -> u64 {
        self.inner.user_id()
    }
    #[getter]
    fn public_key(&self) -> PublicKey {
        PublicKey {
            inner: self.inner.public_key(),
        }
    }
    /// Registers a CA-signed attestation with the register's identity store.
    fn add_party(&mut self, attestation: &Bound<'_, PyAny>) -> PyResult<()> {
        store_register(self.inner.identities_mut(), attestation)
    }
    /// Applies a CA-signed revocation to the register's identity store.
    fn apply_revocation(&mut self, revocation: &Bound<'_, PyAny>) -> PyResult<()> {
        store_revoke(self.inner.identities_mut(), revocation)
    }
    /// Adds an instrument (issued shares start at zero).
    #[pyo3(signature = (instrument, company_name, company_founded, par_value, authorized, restriction="free", locked_until=None, conditions=""))]
    fn add_instrument(
        &mut self,
        py: Python<'_>,
        instrument: u32,
        company_name: String,
        company_founded: u32,
        par_value: u64,
        authorized: u64,
        restriction: &str,
        locked_until: Option<u64>,
        conditions: &str,
    ) -> PyResult<()> {
        let restriction = restriction_arg(restriction, locked_until)?;
        self.inner
            .add_instrument(kr::InstrumentConfig {
                instrument,
                company_name,
                company_founded,
                par_value,
                authorized,
                restriction,
                conditions: conditions.to_owned(),
            })
            .map_err(|e| register_error(py, &e))
    }
    /// Phase 1: issues new shares on a signed issue request.
    fn issue(
        &mut self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
        now: u64,
    ) -> PyResult<Certificate> {
        let req = signed_arg::<kr::IssueRequest>(request)?;
        let reg = &mut self.inner;
        py.detach(|| reg.issue(&req, now))
            .map(Into::into)
            .map_err(|e| register_error(py, &e))
    }
    /// Phase 3: a transfer on an exchange's signed transfer request;
    /// returns the signed transfer response.
    fn transfer(
        &mut self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
        now: u64,
    ) -> PyResult<Message> {
        let req = signed_arg::<kr::TransferRequest>(request)?;
        let reg = &mut self.inner;
        let r = py
            .detach(|| reg.transfer(&req, now))
            .map_err(|e| register_error(py, &e))?;
        Message::of(py, &r)
    }
    /// Phase 4: the buyer's (or the seller's change) certificate on a
    /// signed certificate request quoting the transfer number.
    fn claim_certificate(
        &mut self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
        now: u64,
    ) -> PyResult<Certificate> {
        let req = signed_arg::<kr::CertificateRequest>(request)?;
        let reg = &mut self.inner;
        py.detach(|| reg.claim_certificate(&req, now))
            .map(Into::into)
            .map_err(|e| register_error(py, &e))
    }
    /// Phase 5: a direct transfer on the recipient's signed request
    /// (endorsed certificate attached); returns the transfer response.
    fn direct_transfer(
        &mut self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
        now: u64,
    ) -> PyResult<Message> {
        let req = signed_arg::<kr::DirectTransferRequest>(request)?;
        let reg = &mut self.inner;
        let r = py
            .detach(|| reg.direct_transfer(&req, now))
            .map_err(|e| register_error(py, &e))?;
        Message::of(py, &r)
    }
    /// Phase 6: answers a signed holdings inquiry.
    fn holdings(
        &mut self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
        now: u64,
    ) -> PyResult<Message> {
        let req = signed_arg::<kr::HoldingsInquiry>(request)?;
        let reg = &mut self.inner;
        let r = py
            .detach(|| reg.holdings(&req, now))
            .map_err(|e| register_error(py, &e))?;
        Message::of(py, &r)
    }
    /// Phase 6: a reissue (lost, split, merge); returns the signed response
    /// carrying the new certificates.
    fn reissue(
        &mut self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
        now: u64,
    ) -> PyResult<Message> {
        let req = signed_arg::<kr::ReissueRequest>(request)?;
        let reg = &mut self.inner;
        let r = py
            .detach(|| reg.reissue(&req, now))
            .map_err(|e| register_error(py, &e))?;
        Message::of(py, &r)
    }
    /// The signed list of every live (certificate ID, holder) of `instrument`.
    fn id_list_snapshot(&self, py: Python<'_>, instrument: u32) -> PyResult<Message> {
        let s = self
            .inner
            .id_list_snapshot(instrument)
            .map_err(|e| register_error(py, &e))?;
        Message::of(py, &s)
    }
    /// The signed deltas of `instrument` after sequence number `after`.
    #[pyo3(signature = (instrument, after=0))]
    fn id_list_deltas(
        &self,
        py: Python<'_>,
        instrument: u32,
        after: u64,
    ) -> PyResult<Vec<Message>> {
        self.inner
            .id_list_deltas(instrument, after)
            .map_err(|e| register_error(py, &e))?
            .iter()
            .map(|d| Message::of(py, d))
            .collect()
    }
    /// The record of a certificate ID (current or retired), or None.
    fn record(&self, cert_id: &CertId) -> Option<Record> {
        self.inner.record(&cert_id.inner).map(Into::into)
    }
    /// The certificate issued under `cert_id` (current or retired), or None.
    fn certificate(&self, cert_id: &CertId) -> Option<Certificate> {
        self.inner
            .certificate(&cert_id.inner)
            .cloned()
            .map(Into::into)
    }
    /// The state of a certificate ID in the shared ID table (``"vacant"``,
    /// ``"live"``, ``"reserved"``, ``"spent"``), or None if never allocated.
    fn id_state(&self, cert_id: &CertId) -> Option<&'static str> {
        self.inner
            .id_table()
            .get(cert_id.inner.serial)
            .map(|(s, _)| id_state_name(s))
    }
    /// The transfer history, in transfer-number order.
    fn transfers(&self) -> Vec<TransferRecord> {
        self.inner.transfers().iter().map(Into::into).collect()
    }
    /// Shares issued so far for `instrument` (None: unknown instrument).
    fn issued(&self, instrument: u32) -> Option<u64> {
        self.inner.issued(instrument)
    }
    /// Checks that live shares equal issued shares per instrument; raises
    /// `RegisterError` (kind ``"audit"``) describing the violation.
    fn audit(&self, py: Python<'_>) -> PyResult<()> {
        self.inner
            .audit()
            .map_err(|m| error(py, "RegisterError", (m, "audit", None::<String>)))
    }
    fn __repr__(&self) -> String {
        format!("Register(user_id={})", self.inner.user_id())
    }
}

/// A remote copy of one instrument's certificate-ID list, kept current from
/// the register's signed snapshot and deltas.
#[pyclass(module = "kabuken._native")]
pub struct IdListFollower {
    inner: kr::IdListFollower,
}

#[pymethods]
impl IdListFollower {
    #[new]
    fn new(instrument: u32, register_id: u64, register_key: &PublicKey) -> Self {
        IdListFollower {
            inner: kr::IdListFollower::new(instrument, register_id, register_key.inner),
        }
    }
    /// Applies a signed snapshot; raises `IdListError`.
    fn apply_snapshot(&mut self, py: Python<'_>, snapshot: &Bound<'_, PyAny>) -> PyResult<()> {
        let s = signed_arg::<kr::IdListSnapshot>(snapshot)?;
        self.inner
            .apply_snapshot(&s)
            .map_err(|e| list_error(py, &e))
    }
    /// Applies the next signed delta; False if it was already included.
    /// Raises `IdListError` (kind ``"gap"`` when one is missing).
    fn apply_delta(&mut self, py: Python<'_>, delta: &Bound<'_, PyAny>) -> PyResult<bool> {
        let d = signed_arg::<kr::IdListDelta>(delta)?;
        self.inner.apply_delta(&d).map_err(|e| list_error(py, &e))
    }
    /// Whether (`cert_id`, `holder`) is live in the list.
    fn contains(&self, cert_id: &CertId, holder: u64) -> bool {
        self.inner.contains(&cert_id.inner, holder)
    }
    /// The last sequence number applied (None before a snapshot).
    #[getter]
    fn seq(&self) -> Option<u64> {
        self.inner.seq()
    }
    /// Live entries in serial order, as (CertId, holder) pairs.
    fn entries(&self) -> Vec<(CertId, u64)> {
        self.inner
            .entries()
            .map(|e| (e.cert_id.into(), e.holder))
            .collect()
    }
    fn __len__(&self) -> usize {
        self.inner.entries().count()
    }
}
