//! Parties and attestations (`kabuken::identity`): [`Role`], [`Policy`],
//! the [`CertificateAuthority`], the relying party's [`IdentityStore`] and
//! [`Party`] (a registered attestation).

use crate::convert::crypto_kind;
use crate::crypto::{signed_arg, KeyPair, Message, PublicKey};
use crate::errors::error;
use kabuken::crypto::Validity;
use kabuken::identity as ki;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// The stable name of an identity error and its detail (a crypto error's
/// kind, a policy violation's text).
pub fn identity_kind(e: &ki::IdentityError) -> (&'static str, Option<String>) {
    match e {
        ki::IdentityError::UnknownParty(_) => ("unknown_party", None),
        ki::IdentityError::Expired => ("expired", None),
        ki::IdentityError::Revoked => ("revoked", None),
        ki::IdentityError::BadIssuer => ("bad_issuer", None),
        ki::IdentityError::Crypto(c) => ("crypto", Some(crypto_kind(c).to_owned())),
        ki::IdentityError::UserIdMismatch => ("user_id_mismatch", None),
        ki::IdentityError::WrongRole => ("wrong_role", None),
        ki::IdentityError::PolicyViolation(w) => ("policy_violation", Some((*w).to_owned())),
        ki::IdentityError::Superseded => ("superseded", None),
    }
}

/// `IdentityError(message, kind, detail)`.
pub fn identity_error(py: Python<'_>, e: &ki::IdentityError) -> PyErr {
    let (kind, detail) = identity_kind(e);
    error(py, "IdentityError", (e.to_string(), kind, detail))
}

/// The role a party plays.
#[pyclass(module = "kabuken._native", eq, eq_int, hash, frozen)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    #[pyo3(name = "INVESTOR")]
    Investor = 0,
    #[pyo3(name = "REGISTER")]
    Register = 1,
    #[pyo3(name = "EXCHANGE")]
    Exchange = 2,
    #[pyo3(name = "SETTLEMENT")]
    Settlement = 3,
}

impl Role {
    pub fn engine(self) -> ki::Role {
        match self {
            Role::Investor => ki::Role::Investor,
            Role::Register => ki::Role::Register,
            Role::Exchange => ki::Role::Exchange,
            Role::Settlement => ki::Role::Settlement,
        }
    }
    pub fn from_engine(r: ki::Role) -> Self {
        match r {
            ki::Role::Investor => Role::Investor,
            ki::Role::Register => Role::Register,
            ki::Role::Exchange => Role::Exchange,
            ki::Role::Settlement => Role::Settlement,
        }
    }
}

/// The limits an attestation places on its holder.
#[pyclass(module = "kabuken._native", frozen, eq)]
#[derive(Clone, Copy, PartialEq)]
pub struct Policy {
    pub inner: ki::Policy,
}

#[pymethods]
impl Policy {
    #[new]
    #[pyo3(signature = (usage_limit=u64::MAX, per_order_max=u64::MAX, short_sale_ban=true))]
    fn new(usage_limit: u64, per_order_max: u64, short_sale_ban: bool) -> Self {
        Policy {
            inner: ki::Policy {
                usage_limit,
                per_order_max,
                short_sale_ban,
            },
        }
    }
    /// Maximum value (minor units) of open buy orders and of one issue.
    #[getter]
    fn usage_limit(&self) -> u64 {
        self.inner.usage_limit
    }
    /// Maximum shares in one order or issue request.
    #[getter]
    fn per_order_max(&self) -> u64 {
        self.inner.per_order_max
    }
    #[getter]
    fn short_sale_ban(&self) -> bool {
        self.inner.short_sale_ban
    }
    /// Checks one request for `quantity` shares worth `value`; raises
    /// `IdentityError` (kind ``"policy_violation"``).
    #[pyo3(signature = (quantity, value=None))]
    fn check(&self, py: Python<'_>, quantity: u64, value: Option<u64>) -> PyResult<()> {
        self.inner
            .check(quantity, value)
            .map_err(|e| identity_error(py, &e))
    }
    fn __repr__(&self) -> String {
        format!(
            "Policy(usage_limit={}, per_order_max={}, short_sale_ban={})",
            self.inner.usage_limit,
            self.inner.per_order_max,
            if self.inner.short_sale_ban {
                "True"
            } else {
                "False"
            }
        )
    }
}

/// A certificate authority: issues attestations and revocations.
#[pyclass(module = "kabuken._native")]
pub struct CertificateAuthority {
    inner: ki::CertificateAuthority,
}

#[pymethods]
impl CertificateAuthority {
    #[new]
    fn new(user_id: u64, name: &str, key: &KeyPair) -> Self {
        CertificateAuthority {
            inner: ki::CertificateAuthority::new(user_id, name, key.engine()),
        }
    }
    #[getter]
    fn user_id(&self) -> u64 {
        self.inner.user_id()
    }
    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }
    #[getter]
    fn public_key(&self) -> PublicKey {
        PublicKey {
            inner: self.inner.public_key(),
        }
    }
    /// Issues a signed attestation (serials 1, 2, ...); raises
    /// `IdentityError` for a name longer than 256 bytes and `ValueError`
    /// when `not_after < not_before`.
    #[pyo3(signature = (user_id, name, public_key, not_before, not_after, role, policy=None))]
    fn issue(
        &mut self,
        py: Python<'_>,
        user_id: u64,
        name: &str,
        public_key: &PublicKey,
        not_before: u64,
        not_after: u64,
        role: Role,
        policy: Option<Policy>,
    ) -> PyResult<Message> {
        if not_after < not_before {
            return Err(PyValueError::new_err(
                "not_after must not precede not_before",
            ));
        }
        let validity = Validity {
            not_before,
            not_after,
        };
        let policy = policy.map_or(ki::Policy::UNLIMITED, |p| p.inner);
        let att = self
            .inner
            .issue(
                user_id,
                name,
                &public_key.inner,
                validity,
                role.engine(),
                policy,
            )
            .map_err(|e| identity_error(py, &e))?;
        Message::of(py, &att)
    }
    /// Signs a revocation of attestation serials, effective `at`.
    fn revoke(&self, py: Python<'_>, serials: Vec<u64>, at: u64) -> PyResult<Message> {
        if serials.len() > ki::MAX_REVOKED {
            return Err(PyValueError::new_err(format!(
                "at most {} serials per revocation",
                ki::MAX_REVOKED
            )));
        }
        Message::of(py, &self.inner.revoke(&serials, at))
    }
    fn __repr__(&self) -> String {
        format!(
            "CertificateAuthority(user_id={}, name={:?})",
            self.inner.user_id(),
            self.inner.name()
        )
    }
}

/// A registered party: its attestation's facts.
#[pyclass(module = "kabuken._native", frozen)]
pub struct Party {
    inner: ki::Party,
}

#[pymethods]
impl Party {
    #[getter]
    fn user_id(&self) -> u64 {
        self.inner.attestation.body.user_id
    }
    #[getter]
    fn name(&self) -> &str {
        &self.inner.attestation.body.name
    }
    #[getter]
    fn serial(&self) -> u64 {
        self.inner.attestation.body.serial
    }
    #[getter]
    fn issuer(&self) -> &str {
        &self.inner.attestation.body.issuer
    }
    #[getter]
    fn role(&self) -> Role {
        Role::from_engine(self.inner.attestation.body.role)
    }
    #[getter]
    fn policy(&self) -> Policy {
        Policy {
            inner: self.inner.attestation.body.policy,
        }
    }
    #[getter]
    fn not_before(&self) -> u64 {
        self.inner.attestation.body.validity.not_before
    }
    #[getter]
    fn not_after(&self) -> u64 {
        self.inner.attestation.body.validity.not_after
    }
    #[getter]
    fn public_key(&self) -> PublicKey {
        PublicKey {
            inner: self.inner.key,
        }
    }
    /// The CA-signed attestation.
    #[getter]
    fn attestation(&self, py: Python<'_>) -> PyResult<Message> {
        Message::of(py, &self.inner.attestation)
    }
    fn __repr__(&self) -> String {
        let b = &self.inner.attestation.body;
        format!(
            "Party(user_id={}, name={:?}, role={:?}, serial={})",
            b.user_id, b.name, b.role, b.serial
        )
    }
}

/// Registers a CA-signed attestation in `store`.
pub fn store_register(store: &mut ki::IdentityStore, att: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = att.py();
    let att = signed_arg::<ki::Attestation>(att)?;
    store.register(&att).map_err(|e| identity_error(py, &e))
}

/// Applies a CA-signed revocation to `store`.
pub fn store_revoke(store: &mut ki::IdentityStore, rev: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = rev.py();
    let rev = signed_arg::<ki::Revocation>(rev)?;
    store
        .apply_revocation(&rev)
        .map_err(|e| identity_error(py, &e))
}

/// What a relying party (register, exchange) knows about identities: the
/// trusted CA, the accepted attestations, the revoked serials. A store is
/// moved into the `Register` or `Exchange` built with it; afterwards use
/// that object's `add_party` / `apply_revocation`.
#[pyclass(module = "kabuken._native")]
pub struct IdentityStore {
    inner: Option<ki::IdentityStore>,
}

impl IdentityStore {
    fn store(&mut self) -> PyResult<&mut ki::IdentityStore> {
        self.inner.as_mut().ok_or_else(moved)
    }
    /// Moves the store out (into a register or an exchange).
    pub fn take(&mut self) -> PyResult<ki::IdentityStore> {
        self.inner.take().ok_or_else(moved)
    }
}

fn moved() -> PyErr {
    PyValueError::new_err("this IdentityStore was moved into a Register or an Exchange")
}

#[pymethods]
impl IdentityStore {
    /// A store trusting the CA `ca_user_id` named `ca_name` with `ca_public_key`.
    #[new]
    fn new(ca_user_id: u64, ca_name: &str, ca_public_key: &PublicKey) -> Self {
        IdentityStore {
            inner: Some(ki::IdentityStore::new(
                ca_user_id,
                ca_name,
                ca_public_key.inner,
            )),
        }
    }
    /// Checks and registers a CA-signed attestation (`Message` or bytes);
    /// raises `IdentityError` (bad issuer, revoked, superseded, weak key).
    fn register(&mut self, attestation: &Bound<'_, PyAny>) -> PyResult<()> {
        store_register(self.store()?, attestation)
    }
    /// Applies a CA-signed revocation.
    fn apply_revocation(&mut self, revocation: &Bound<'_, PyAny>) -> PyResult<()> {
        store_revoke(self.store()?, revocation)
    }
    /// The party `user_id` if its attestation is valid at `now`; raises
    /// `IdentityError` (unknown, expired, revoked).
    fn party(&mut self, py: Python<'_>, user_id: u64, now: u64) -> PyResult<Party> {
        let p = self
            .store()?
            .party(user_id, now)
            .map_err(|e| identity_error(py, &e))?;
        Ok(Party { inner: p.clone() })
    }
    /// The gate for incoming messages: the signer's attestation is valid at
    /// `now` and the signature verifies. Returns the signer.
    fn verify(&mut self, py: Python<'_>, message: &Message, now: u64) -> PyResult<Party> {
        let store = self.store()?;
        let signer = message.inner.signer();
        let p = store
            .party(signer, now)
            .map_err(|e| identity_error(py, &e))?;
        message
            .inner
            .verify(&p.key)
            .map_err(|e| identity_error(py, &ki::IdentityError::Crypto(e)))?;
        Ok(Party { inner: p.clone() })
    }
    /// Whether the store was moved into a register or an exchange.
    #[getter]
    fn moved(&self) -> bool {
        self.inner.is_none()
    }
    fn __repr__(&self) -> String {
        if self.inner.is_some() {
            "IdentityStore(...)".to_owned()
        } else {
            "IdentityStore(<moved>)".to_owned()
        }
    }
}
