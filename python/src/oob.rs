//! Out-of-band verification (`kabuken::oob`): contractors, sessions,
//! requests, confirmations, the audit chain. The host's hooks (hold,
//! forward, release, deliver, alarm, biometric) are Python callables, called
//! with the GIL re-acquired while the service itself runs with it released.
//! An exception in a hook is reported through `sys.unraisablehook` (the
//! service's contract is that hooks do not fail); a failing `deliver` counts
//! as a failed delivery.

use crate::book::{side_arg, Side};
use crate::errors::error;
use kabuken::oob as ko;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, OsRng, RngCore};
use std::sync::{Arc, Mutex};

fn oob_error(py: Python<'_>, e: ko::OobError) -> PyErr {
    let (class, kind) = match e {
        ko::OobError::AuthenticationFailed => ("AuthenticationFailed", "authentication_failed"),
        ko::OobError::InvalidSession => ("InvalidSession", "invalid_session"),
        ko::OobError::ContractorDisabled => ("ContractorDisabled", "contractor_disabled"),
        ko::OobError::AboveMaximum => ("AboveMaximum", "above_maximum"),
        ko::OobError::AnswerRejected => ("AnswerRejected", "answer_rejected"),
        ko::OobError::TooManyPending => ("TooManyPending", "too_many_pending"),
        ko::OobError::NoFreeCallbackLine => ("NoFreeCallbackLine", "no_free_callback_line"),
        ko::OobError::MethodUnavailable => ("MethodUnavailable", "method_unavailable"),
        ko::OobError::RandomnessFailure => ("RandomnessFailure", "randomness_failure"),
        ko::OobError::DuplicateUserCode => ("DuplicateUserCode", "duplicate_user_code"),
        ko::OobError::UnknownContractor => ("UnknownContractor", "unknown_contractor"),
        ko::OobError::InvalidRecord(_) => ("InvalidRecord", "invalid_record"),
        ko::OobError::InvalidConfig(_) => ("InvalidOobConfig", "invalid_config"),
    };
    error(py, class, (e.to_string(), kind))
}

fn digest_arg(b: &[u8]) -> PyResult<ko::TxDigest> {
    let a: [u8; 32] = b
        .try_into()
        .map_err(|_| PyValueError::new_err("a transaction digest is 32 bytes"))?;
    Ok(ko::TxDigest(a))
}

fn method_name(m: ko::ConfirmMethod) -> &'static str {
    match m {
        ko::ConfirmMethod::None => "none",
        ko::ConfirmMethod::Code => "code",
        ko::ConfirmMethod::Seal => "seal",
        ko::ConfirmMethod::Biometric => "biometric",
    }
}

fn method_arg(s: &str) -> PyResult<ko::ConfirmMethod> {
    Ok(match s {
        "none" => ko::ConfirmMethod::None,
        "code" => ko::ConfirmMethod::Code,
        "seal" => ko::ConfirmMethod::Seal,
        "biometric" => ko::ConfirmMethod::Biometric,
        _ => {
            return Err(PyValueError::new_err(format!(
                "method must be 'none', 'code', 'seal' or 'biometric', not {s:?}"
            )))
        }
    })
}

// ---- plain values ----------------------------------------------------------

/// The transaction to confirm: what the summary shows and the code is bound to.
#[pyclass(module = "kabuken._native", frozen, eq)]
#[derive(Clone, Debug, PartialEq)]
pub struct Transaction {
    inner: ko::Transaction,
}

#[pymethods]
impl Transaction {
    #[new]
    #[pyo3(signature = (instrument, side, quantity, amount, limit=None))]
    fn new(
        instrument: u32,
        side: &Bound<'_, PyAny>,
        quantity: u64,
        amount: u64,
        limit: Option<i64>,
    ) -> PyResult<Self> {
        Ok(Transaction {
            inner: ko::Transaction {
                instrument,
                side: side_arg(side)?,
                quantity,
                limit,
                amount,
            },
        })
    }
    #[getter]
    fn instrument(&self) -> u32 {
        self.inner.instrument
    }
    #[getter]
    fn side(&self) -> Side {
        self.inner.side.into()
    }
    #[getter]
    fn quantity(&self) -> u64 {
        self.inner.quantity
    }
    #[getter]
    fn limit(&self) -> Option<i64> {
        self.inner.limit
    }
    #[getter]
    fn amount(&self) -> u64 {
        self.inner.amount
    }
    /// The BLAKE3 digest of the canonical encoding (32 bytes).
    fn digest<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.digest().0)
    }
    /// The canonical, versioned encoding.
    fn encode<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.encode())
    }
    /// The summary for short text channels.
    fn short_summary(&self) -> String {
        self.inner.short_summary()
    }
    /// The summary as read out by a voice channel.
    fn spoken_summary(&self) -> String {
        self.inner.spoken_summary()
    }
    fn __repr__(&self) -> String {
        format!(
            "Transaction(instrument={}, side={}, quantity={}, amount={}, limit={})",
            self.inner.instrument,
            if self.inner.side == kabuken::types::Side::Buy {
                "Side.BUY"
            } else {
                "Side.SELL"
            },
            self.inner.quantity,
            self.inner.amount,
            self.inner
                .limit
                .map_or_else(|| "None".to_owned(), |l| l.to_string())
        )
    }
}

/// One second-channel device of a contractor.
#[pyclass(module = "kabuken._native", frozen, eq)]
#[derive(Clone, Debug, PartialEq)]
pub struct Device {
    inner: ko::Device,
}

fn device_kind_name(k: ko::DeviceKind) -> &'static str {
    match k {
        ko::DeviceKind::Pager => "pager",
        ko::DeviceKind::Sms => "sms",
        ko::DeviceKind::AppPush => "app_push",
        ko::DeviceKind::Voice => "voice",
    }
}

#[pymethods]
impl Device {
    #[new]
    #[pyo3(signature = (address, kind="sms", seal_key=None))]
    fn new(address: String, kind: &str, seal_key: Option<&[u8]>) -> PyResult<Self> {
        let kind = match kind {
            "pager" => ko::DeviceKind::Pager,
            "sms" => ko::DeviceKind::Sms,
            "app_push" => ko::DeviceKind::AppPush,
            "voice" => ko::DeviceKind::Voice,
            _ => {
                return Err(PyValueError::new_err(format!(
                    "device kind must be 'pager', 'sms', 'app_push' or 'voice', not {kind:?}"
                )))
            }
        };
        let seal_key = match seal_key {
            None => None,
            Some(k) => Some(<[u8; 32]>::try_from(k).map_err(|_| {
                PyValueError::new_err("a seal key is a 32-byte Ed25519 public key")
            })?),
        };
        Ok(Device {
            inner: ko::Device {
                address,
                kind,
                seal_key,
            },
        })
    }
    #[getter]
    fn address(&self) -> &str {
        &self.inner.address
    }
    #[getter]
    fn kind(&self) -> &'static str {
        device_kind_name(self.inner.kind)
    }
    #[getter]
    fn seal_key<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.inner.seal_key.map(|k| PyBytes::new(py, &k))
    }
    fn __repr__(&self) -> String {
        format!(
            "Device(address={:?}, kind={:?}, seal_key={})",
            self.inner.address,
            device_kind_name(self.inner.kind),
            if self.inner.seal_key.is_some() {
                "<32 bytes>"
            } else {
                "None"
            }
        )
    }
}

/// A request as the host sees it.
#[pyclass(module = "kabuken._native", frozen)]
#[derive(Clone, Debug)]
pub struct PendingRequest {
    inner: ko::PendingRequest,
}

#[pymethods]
impl PendingRequest {
    #[getter]
    fn request_ref(&self) -> u64 {
        self.inner.request_ref.0
    }
    #[getter]
    fn contractor(&self) -> u32 {
        self.inner.contractor
    }
    #[getter]
    fn transaction(&self) -> Transaction {
        Transaction {
            inner: self.inner.transaction,
        }
    }
    #[getter]
    fn tx_digest<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.tx_digest.0)
    }
    #[getter]
    fn method(&self) -> &'static str {
        method_name(self.inner.method)
    }
    #[getter]
    fn submitted_at(&self) -> u64 {
        self.inner.submitted_at
    }
    #[getter]
    fn expires_at(&self) -> u64 {
        self.inner.expires_at
    }
    /// Whether `tx` is exactly the transaction that was confirmed.
    fn matches(&self, tx: PyRef<'_, Transaction>) -> bool {
        self.inner.matches(&tx.inner)
    }
    fn __repr__(&self) -> String {
        format!(
            "PendingRequest(request_ref={}, contractor={}, method={:?})",
            self.inner.request_ref.0,
            self.inner.contractor,
            method_name(self.inner.method)
        )
    }
}

/// The answer to `OobService.submit`.
#[pyclass(module = "kabuken._native", frozen, get_all)]
#[derive(Debug)]
pub struct Submission {
    request: Py<PendingRequest>,
    /// `"forward_now"` or `"hold_pending"`.
    disposition: &'static str,
}

#[pymethods]
impl Submission {
    fn __repr__(&self) -> String {
        format!("Submission(disposition={:?})", self.disposition)
    }
}

/// Confirmation information for the holder's devices.
#[pyclass(module = "kabuken._native", frozen)]
#[derive(Clone, Debug)]
pub struct ConfirmationInfo {
    inner: ko::ConfirmationInfo,
}

#[pymethods]
impl ConfirmationInfo {
    #[getter]
    fn request_ref(&self) -> u64 {
        self.inner.request_ref.0
    }
    #[getter]
    fn contractor(&self) -> u32 {
        self.inner.contractor
    }
    #[getter]
    fn code(&self) -> &str {
        &self.inner.code
    }
    #[getter]
    fn cancel_code(&self) -> &str {
        &self.inner.cancel_code
    }
    #[getter]
    fn line(&self) -> Option<u16> {
        self.inner.line
    }
    #[getter]
    fn transaction(&self) -> Transaction {
        Transaction {
            inner: self.inner.transaction,
        }
    }
    #[getter]
    fn tx_digest<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.tx_digest.0)
    }
    #[getter]
    fn method(&self) -> &'static str {
        method_name(self.inner.method)
    }
    #[getter]
    fn issued_at(&self) -> u64 {
        self.inner.issued_at
    }
    #[getter]
    fn expires_at(&self) -> u64 {
        self.inner.expires_at
    }
    /// A pager/SMS line.
    fn short_text(&self) -> String {
        self.inner.short_text()
    }
    /// What a voice channel reads out.
    fn spoken_text(&self) -> String {
        self.inner.spoken_text()
    }
    fn __repr__(&self) -> String {
        format!(
            "ConfirmationInfo(request_ref={}, contractor={}, method={:?})",
            self.inner.request_ref.0,
            self.inner.contractor,
            method_name(self.inner.method)
        )
    }
}

/// Sent to the devices when wrong answers locked the contractor out.
#[pyclass(module = "kabuken._native", frozen, get_all)]
#[derive(Clone, Debug)]
pub struct LockedOutNotice {
    request_ref: u64,
    at: u64,
}

#[pymethods]
impl LockedOutNotice {
    fn __repr__(&self) -> String {
        format!(
            "LockedOutNotice(request_ref={}, at={})",
            self.request_ref, self.at
        )
    }
}

/// What a duress answer reports to the alarm.
#[pyclass(module = "kabuken._native", frozen, get_all)]
#[derive(Debug)]
pub struct DuressReport {
    request: Py<PendingRequest>,
    user_code: String,
    line: Option<u16>,
    at: u64,
    with_cancel: bool,
}

/// What the answering party is told (a duress answer gets exactly what a
/// confirmation gets).
#[pyclass(module = "kabuken._native", frozen, eq)]
#[derive(Clone, Debug, PartialEq)]
pub struct ConfirmResponse {
    inner: ko::ConfirmResponse,
}

#[pymethods]
impl ConfirmResponse {
    /// `"accepted"` or `"cancelled"`.
    #[getter]
    fn kind(&self) -> &'static str {
        match self.inner {
            ko::ConfirmResponse::Accepted { .. } => "accepted",
            ko::ConfirmResponse::Cancelled { .. } => "cancelled",
        }
    }
    #[getter]
    fn request_ref(&self) -> u64 {
        match self.inner {
            ko::ConfirmResponse::Accepted { request_ref }
            | ko::ConfirmResponse::Cancelled { request_ref } => request_ref.0,
        }
    }
    /// Wire form (9 bytes).
    fn encode<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.encode())
    }
    fn __repr__(&self) -> String {
        format!(
            "ConfirmResponse(kind={:?}, request_ref={})",
            self.kind(),
            self.request_ref()
        )
    }
}

/// A login session. Its `repr` hides the secret.
#[pyclass(module = "kabuken._native", frozen)]
#[derive(Clone)]
pub struct SessionToken {
    inner: ko::SessionToken,
}

#[pymethods]
impl SessionToken {
    #[new]
    fn new(id: u64, secret: &[u8]) -> PyResult<Self> {
        let secret: [u8; 32] = secret
            .try_into()
            .map_err(|_| PyValueError::new_err("a session secret is 32 bytes"))?;
        Ok(SessionToken {
            inner: ko::SessionToken { id, secret },
        })
    }
    #[getter]
    fn id(&self) -> u64 {
        self.inner.id
    }
    /// The 32-byte secret (to hand the token to a terminal).
    #[getter]
    fn secret<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.secret)
    }
    fn __repr__(&self) -> String {
        format!("SessionToken(id={}, secret=<hidden>)", self.inner.id)
    }
}

// ---- configuration -----------------------------------------------------------

fn argon2_arg(argon2: &Bound<'_, PyAny>) -> PyResult<ko::Argon2Params> {
    if let Ok(s) = argon2.cast::<PyString>() {
        return match &*s.to_cow()? {
            "production" => Ok(ko::Argon2Params::PRODUCTION),
            "insecure_fast" => Ok(ko::Argon2Params::INSECURE_FAST),
            other => Err(PyValueError::new_err(format!(
                "argon2 must be 'production', 'insecure_fast' or (m_cost_kib, t_cost, p_cost), not {other:?}"
            ))),
        };
    }
    if let Ok((m, t, p)) = argon2.extract::<(u32, u32, u32)>() {
        return Ok(ko::Argon2Params {
            m_cost_kib: m,
            t_cost: t,
            p_cost: p,
        });
    }
    Err(PyTypeError::new_err(
        "argon2 must be 'production', 'insecure_fast' or a (m_cost_kib, t_cost, p_cost) tuple",
    ))
}

/// Service-wide settings (checked when the service is created).
#[pyclass(module = "kabuken._native", frozen)]
#[derive(Clone, Debug)]
pub struct OobConfig {
    inner: ko::OobConfig,
}

#[pymethods]
impl OobConfig {
    #[new]
    #[pyo3(signature = (pepper, *, argon2=None, code_digits=8, request_ttl=300 * ko::SECOND, max_wrong_answers=5, max_login_failures=5, session_ttl=8 * 3600 * ko::SECOND, callback_lines=Vec::new(), max_pending_per_contractor=64, finished_ttl=3600 * ko::SECOND))]
    fn new(
        pepper: &[u8],
        argon2: Option<&Bound<'_, PyAny>>,
        code_digits: u8,
        request_ttl: u64,
        max_wrong_answers: u32,
        max_login_failures: u32,
        session_ttl: u64,
        callback_lines: Vec<u16>,
        max_pending_per_contractor: usize,
        finished_ttl: u64,
    ) -> PyResult<Self> {
        let pepper: [u8; 32] = pepper
            .try_into()
            .map_err(|_| PyValueError::new_err("the pepper is 32 bytes"))?;
        let argon2 = if let Some(a) = argon2 {
            argon2_arg(a)?
        } else {
            ko::Argon2Params::PRODUCTION
        };
        let mut inner = ko::OobConfig::new(pepper);
        inner.argon2 = argon2;
        inner.code_digits = code_digits;
        inner.request_ttl = request_ttl;
        inner.max_wrong_answers = max_wrong_answers;
        inner.max_login_failures = max_login_failures;
        inner.session_ttl = session_ttl;
        inner.callback_lines = callback_lines;
        inner.max_pending_per_contractor = max_pending_per_contractor;
        inner.finished_ttl = finished_ttl;
        Ok(OobConfig { inner })
    }

    #[getter]
    fn code_digits(&self) -> u8 {
        self.inner.code_digits
    }
    #[getter]
    fn request_ttl(&self) -> u64 {
        self.inner.request_ttl
    }
    #[getter]
    fn callback_lines(&self) -> Vec<u16> {
        self.inner.callback_lines.clone()
    }
    fn __repr__(&self) -> String {
        format!(
            "OobConfig(code_digits={}, request_ttl={}, max_wrong_answers={}, callback_lines={:?})",
            self.inner.code_digits,
            self.inner.request_ttl,
            self.inner.max_wrong_answers,
            self.inner.callback_lines
        )
    }
}

// ---- hooks ---------------------------------------------------------------------

#[derive(Default)]
struct PyHooks {
    hold: Option<Py<PyAny>>,
    forward: Option<Py<PyAny>>,
    release: Option<Py<PyAny>>,
    deliver: Option<Py<PyAny>>,
    alarm: Option<Py<PyAny>>,
}

fn report(py: Python<'_>, e: PyErr, hook: &Py<PyAny>) {
    e.write_unraisable(py, Some(hook.bind(py)));
}

fn pending(py: Python<'_>, r: &ko::PendingRequest) -> PyResult<Py<PendingRequest>> {
    Py::new(py, PendingRequest { inner: r.clone() })
}

fn release_name(r: ko::ReleaseReason) -> &'static str {
    match r {
        ko::ReleaseReason::Cancelled => "cancelled",
        ko::ReleaseReason::Duress => "duress",
        ko::ReleaseReason::LockedOut => "locked_out",
        ko::ReleaseReason::Expired => "expired",
        ko::ReleaseReason::Disabled => "disabled",
    }
}

impl PyHooks {
    fn call(
        &self,
        hook: &Option<Py<PyAny>>,
        args: impl FnOnce(Python<'_>) -> PyResult<Bound<'_, PyTuple>>,
    ) {
        if let Some(h) = hook {
            Python::attach(|py| {
                if let Err(e) = args(py).and_then(|a| h.call1(py, a)) {
                    report(py, e, h);
                }
            });
        }
    }
}

impl ko::Forward for PyHooks {
    fn hold(&self, request: &ko::PendingRequest) {
        self.call(&self.hold, |py| PyTuple::new(py, [pending(py, request)?]));
    }
    fn forward(&self, request: &ko::PendingRequest) {
        self.call(&self.forward, |py| {
            PyTuple::new(py, [pending(py, request)?])
        });
    }
    fn release(&self, request: &ko::PendingRequest, reason: ko::ReleaseReason) {
        self.call(&self.release, |py| {
            let p = pending(py, request)?.into_any();
            let r = PyString::new(py, release_name(reason)).into_any().unbind();
            PyTuple::new(py, [p, r])
        });
    }
}

impl ko::DuressAlarm for PyHooks {
    fn raise(&self, r: &ko::DuressReport) {
        self.call(&self.alarm, |py| {
            let report = Py::new(
                py,
                DuressReport {
                    request: pending(py, &r.request)?,
                    user_code: r.user_code.clone(),
                    line: r.line,
                    at: r.at,
                    with_cancel: r.with_cancel,
                },
            )?;
            PyTuple::new(py, [report])
        });
    }
}

impl ko::DeliveryChannel for PyHooks {
    fn deliver(
        &self,
        device: &ko::Device,
        notice: &ko::Notice<'_>,
    ) -> Result<(), ko::DeliveryFailed> {
        let Some(h) = &self.deliver else {
            return Ok(());
        };
        Python::attach(|py| {
            let call = || -> PyResult<bool> {
                let dev = Py::new(
                    py,
                    Device {
                        inner: device.clone(),
                    },
                )?
                .into_any();
                let n = match notice {
                    ko::Notice::Confirmation(i) => Py::new(
                        py,
                        ConfirmationInfo {
                            inner: (*i).clone(),
                        },
                    )?
                    .into_any(),
                    ko::Notice::LockedOut { request_ref, at } => Py::new(
                        py,
                        LockedOutNotice {
                            request_ref: request_ref.0,
                            at: *at,
                        },
                    )?
                    .into_any(),
                };
                let r = h.call1(py, (dev, n))?;
                // None (no return value) counts as delivered.
                Ok(r.is_none(py) || r.is_truthy(py)?)
            };
            match call() {
                Ok(true) => Ok(()),
                Ok(false) => Err(ko::DeliveryFailed),
                Err(e) => {
                    report(py, e, h);
                    Err(ko::DeliveryFailed)
                }
            }
        })
    }
}

struct PyBiometric(Py<PyAny>);

impl ko::BiometricVerifier for PyBiometric {
    fn verify(&self, contractor: u32, challenge: &[u8; 32], sample: &[u8]) -> bool {
        Python::attach(|py| {
            let r = self
                .0
                .call1(
                    py,
                    (
                        contractor,
                        PyBytes::new(py, challenge),
                        PyBytes::new(py, sample),
                    ),
                )
                .and_then(|r| r.is_truthy(py));
            match r {
                Ok(v) => v,
                Err(e) => {
                    report(py, e, &self.0);
                    false
                }
            }
        })
    }
}

// ---- randomness ------------------------------------------------------------------

enum Rng {
    Os(OsRng),
    Seeded(Box<ChaCha20Rng>),
}

impl RngCore for Rng {
    fn next_u32(&mut self) -> u32 {
        match self {
            Rng::Os(r) => r.next_u32(),
            Rng::Seeded(r) => r.next_u32(),
        }
    }
    fn next_u64(&mut self) -> u64 {
        match self {
            Rng::Os(r) => r.next_u64(),
            Rng::Seeded(r) => r.next_u64(),
        }
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        match self {
            Rng::Os(r) => r.fill_bytes(dest),
            Rng::Seeded(r) => r.fill_bytes(dest),
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        match self {
            Rng::Os(r) => r.try_fill_bytes(dest),
            Rng::Seeded(r) => r.try_fill_bytes(dest),
        }
    }
}

impl CryptoRng for Rng {}

// ---- the service -------------------------------------------------------------------

/// The out-of-band verification service.
#[pyclass(module = "kabuken._native", frozen)]
pub struct OobService {
    inner: ko::OobService,
    rng: Mutex<Rng>,
}

impl OobService {
    fn with_rng<T>(&self, f: impl FnOnce(&mut Rng) -> T) -> T {
        let mut g = self
            .rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut g)
    }
}

fn purpose_arg(s: &str) -> PyResult<ko::Purpose> {
    match s {
        "normal" => Ok(ko::Purpose::Normal),
        "duress" => Ok(ko::Purpose::Duress),
        _ => Err(PyValueError::new_err(format!(
            "a second code's purpose is 'normal' or 'duress', not {s:?}"
        ))),
    }
}

#[pymethods]
impl OobService {
    #[new]
    #[pyo3(signature = (config, *, hold=None, forward=None, release=None, deliver=None, alarm=None, biometric=None, seed=None))]
    fn new(
        py: Python<'_>,
        config: PyRef<'_, OobConfig>,
        hold: Option<Py<PyAny>>,
        forward: Option<Py<PyAny>>,
        release: Option<Py<PyAny>>,
        deliver: Option<Py<PyAny>>,
        alarm: Option<Py<PyAny>>,
        biometric: Option<Py<PyAny>>,
        seed: Option<u64>,
    ) -> PyResult<Self> {
        for (name, h) in [
            ("hold", &hold),
            ("forward", &forward),
            ("release", &release),
            ("deliver", &deliver),
            ("alarm", &alarm),
            ("biometric", &biometric),
        ] {
            if let Some(h) = h {
                if !h.bind(py).is_callable() {
                    return Err(PyTypeError::new_err(format!("{name} must be callable")));
                }
            }
        }
        let bio: Option<Arc<dyn ko::BiometricVerifier>> =
            biometric.map(|b| Arc::new(PyBiometric(b)) as Arc<dyn ko::BiometricVerifier>);
        let hooks = Arc::new(PyHooks {
            hold,
            forward,
            release,
            deliver,
            alarm,
        });
        let inner = ko::OobService::new(
            config.inner.clone(),
            ko::Hooks {
                forward: hooks.clone(),
                channel: hooks.clone(),
                alarm: hooks,
                biometric: bio,
            },
        )
        .map_err(|e| oob_error(py, e))?;
        let rng = match seed {
            Some(s) => Rng::Seeded(Box::new(ChaCha20Rng::seed_from_u64(s))),
            None => Rng::Os(OsRng),
        };
        Ok(OobService {
            inner,
            rng: Mutex::new(rng),
        })
    }

    /// Registers a contractor (pays one argon2id hash); returns its id.
    #[pyo3(signature = (user_code, pin, devices, second_codes, *, threshold, max_amount, methods=None, rolling_window=None, delivery="broadcast", fallback_after=None, disabled=false, now=0))]
    fn register_contractor(
        &self,
        py: Python<'_>,
        user_code: String,
        pin: String,
        devices: Vec<PyRef<'_, Device>>,
        second_codes: Vec<(String, String)>,
        threshold: u64,
        max_amount: u64,
        methods: Option<Vec<(u64, String)>>,
        rolling_window: Option<u64>,
        delivery: &str,
        fallback_after: Option<u64>,
        disabled: bool,
        now: u64,
    ) -> PyResult<u32> {
        let delivery = match (delivery, fallback_after) {
            ("broadcast", None) => ko::DeliveryMode::Broadcast,
            ("sequential", Some(f)) => ko::DeliveryMode::Sequential { fallback_after: f },
            ("sequential", None) => {
                return Err(PyValueError::new_err(
                    "delivery='sequential' needs fallback_after",
                ))
            }
            ("broadcast", Some(_)) => {
                return Err(PyValueError::new_err(
                    "fallback_after is only for delivery='sequential'",
                ))
            }
            (other, _) => {
                return Err(PyValueError::new_err(format!(
                    "delivery must be 'broadcast' or 'sequential', not {other:?}"
                )))
            }
        };
        let methods = match methods {
            None => ko::MethodTable::code_only(),
            Some(rows) => ko::MethodTable {
                rows: rows
                    .into_iter()
                    .map(|(from, m)| Ok((from, method_arg(&m)?)))
                    .collect::<PyResult<_>>()?,
            },
        };
        let spec = ko::ContractorSpec {
            user_code,
            pin,
            devices: devices.iter().map(|d| d.inner.clone()).collect(),
            second_codes: second_codes
                .into_iter()
                .map(|(c, p)| Ok((c, purpose_arg(&p)?)))
                .collect::<PyResult<_>>()?,
            threshold,
            max_amount,
            methods,
            rolling_window,
            delivery,
            disabled,
        };
        py.detach(|| self.with_rng(|rng| self.inner.register_contractor(&spec, now, rng)))
            .map_err(|e| oob_error(py, e))
    }

    /// The id of the contractor with `user_code`.
    fn contractor_id(&self, user_code: &str) -> Option<u32> {
        self.inner.contractor_id(user_code)
    }

    /// Whether the contractor is disabled (None if unknown).
    fn is_disabled(&self, contractor: u32) -> Option<bool> {
        self.inner.is_disabled(contractor)
    }

    /// The contractor's pending requests (None if unknown).
    fn pending_count(&self, contractor: u32) -> Option<usize> {
        self.inner.pending_count(contractor)
    }

    /// Disables a contractor; its pending requests are voided and released.
    fn disable_contractor(&self, py: Python<'_>, contractor: u32, now: u64) -> PyResult<()> {
        py.detach(|| self.inner.disable_contractor(contractor, now))
            .map_err(|e| oob_error(py, e))
    }

    /// Re-enables a contractor.
    fn enable_contractor(&self, py: Python<'_>, contractor: u32, now: u64) -> PyResult<()> {
        py.detach(|| self.inner.enable_contractor(contractor, now))
            .map_err(|e| oob_error(py, e))
    }

    /// User code and PIN, once per session. Raises `AuthenticationFailed`.
    fn login(
        &self,
        py: Python<'_>,
        user_code: &str,
        pin: &str,
        now: u64,
    ) -> PyResult<SessionToken> {
        let (u, p) = (user_code.to_owned(), pin.to_owned());
        py.detach(|| self.with_rng(|rng| self.inner.login(&u, &p, now, rng)))
            .map(|inner| SessionToken { inner })
            .map_err(|e| oob_error(py, e))
    }

    /// Ends a session.
    fn logout(&self, py: Python<'_>, session: PyRef<'_, SessionToken>, now: u64) {
        let t = session.inner.clone();
        py.detach(|| self.inner.logout(&t, now));
    }

    /// Submits a request: forwarded now, or held pending confirmation.
    fn submit(
        &self,
        py: Python<'_>,
        session: PyRef<'_, SessionToken>,
        transaction: PyRef<'_, Transaction>,
        now: u64,
    ) -> PyResult<Submission> {
        let (t, tx) = (session.inner.clone(), transaction.inner);
        let sub = py
            .detach(|| self.with_rng(|rng| self.inner.submit(&t, &tx, now, rng)))
            .map_err(|e| oob_error(py, e))?;
        Ok(Submission {
            request: Py::new(py, PendingRequest { inner: sub.request })?,
            disposition: match sub.disposition {
                ko::Disposition::ForwardNow => "forward_now",
                ko::Disposition::HoldPending => "hold_pending",
            },
        })
    }

    /// The holder's answer over the second channel. Raises `AnswerRejected`
    /// (uniformly) when it confirms or cancels nothing.
    #[pyo3(signature = (user_code, request_ref, code, second_code, tx_digest, now, *, line=None, seal=None, biometric=None))]
    fn answer(
        &self,
        py: Python<'_>,
        user_code: &str,
        request_ref: u64,
        code: &str,
        second_code: &str,
        tx_digest: &[u8],
        now: u64,
        line: Option<u16>,
        seal: Option<&[u8]>,
        biometric: Option<&[u8]>,
    ) -> PyResult<ConfirmResponse> {
        let proof = match (seal, biometric) {
            (None, None) => ko::Proof::None,
            (Some(s), None) => ko::Proof::Seal(
                s.try_into()
                    .map_err(|_| PyValueError::new_err("a seal signature is 64 bytes"))?,
            ),
            (None, Some(b)) => ko::Proof::Biometric(b),
            (Some(_), Some(_)) => {
                return Err(PyValueError::new_err(
                    "give a seal or a biometric sample, not both",
                ))
            }
        };
        let ans = ko::Answer {
            user_code,
            request_ref: ko::RequestRef(request_ref),
            code,
            second_code,
            tx_digest: digest_arg(tx_digest)?,
            line,
            proof,
        };
        py.detach(|| self.inner.answer(&ans, now))
            .map(|inner| ConfirmResponse { inner })
            .map_err(|e| oob_error(py, e))
    }

    /// Expires unanswered requests, moves sequential deliveries on, forgets
    /// old finished requests and sessions.
    fn sweep<'py>(&self, py: Python<'py>, now: u64) -> PyResult<Bound<'py, PyDict>> {
        let r = py.detach(|| self.inner.sweep(now));
        let d = PyDict::new(py);
        d.set_item("expired", r.expired)?;
        d.set_item("fallbacks", r.fallbacks)?;
        d.set_item("purged", r.purged)?;
        d.set_item("sessions_ended", r.sessions_ended)?;
        Ok(d)
    }

    /// Outcome counters.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("confirmed", s.confirmed)?;
        d.set_item("cancelled", s.cancelled)?;
        d.set_item("wrong_answers", s.wrong_answers)?;
        d.set_item("locked_out", s.locked_out)?;
        d.set_item("expired", s.expired)?;
        d.set_item("duress", s.duress)?;
        Ok(d)
    }

    /// The audit chain's head: (entries, hash of the last entry).
    fn audit_head<'py>(&self, py: Python<'py>) -> (u64, Bound<'py, PyBytes>) {
        let h = self.inner.audit_head();
        (h.count, PyBytes::new(py, &h.hash))
    }

    /// The audit records kept in memory, as dicts.
    fn audit_records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for r in self.inner.audit_records() {
            let d = PyDict::new(py);
            d.set_item("seq", r.entry.seq)?;
            d.set_item("at", r.entry.at)?;
            d.set_item("kind", format!("{:?}", r.entry.kind))?;
            d.set_item("contractor", r.entry.contractor)?;
            d.set_item("request", r.entry.request.map(|q| q.0))?;
            d.set_item("detail", r.entry.detail)?;
            d.set_item("hash", PyBytes::new(py, &r.hash))?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// Whether the in-memory audit chain is intact.
    fn verify_audit(&self) -> bool {
        self.inner.verify_audit().is_ok()
    }

    fn __repr__(&self) -> String {
        format!("OobService(stats={:?})", self.inner.stats())
    }
}

/// The bytes a device's seal signs for a request.
#[pyfunction]
fn seal_message<'py>(
    py: Python<'py>,
    request_ref: u64,
    tx_digest: &[u8],
    code: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let d = digest_arg(tx_digest)?;
    Ok(PyBytes::new(
        py,
        &ko::seal_message(ko::RequestRef(request_ref), &d, code),
    ))
}

/// The challenge a biometric check is bound to.
#[pyfunction]
fn biometric_challenge<'py>(
    py: Python<'py>,
    request_ref: u64,
    tx_digest: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let d = digest_arg(tx_digest)?;
    Ok(PyBytes::new(
        py,
        &ko::biometric_challenge(ko::RequestRef(request_ref), &d),
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("SECOND", ko::SECOND)?;
    m.add_class::<Transaction>()?;
    m.add_class::<Device>()?;
    m.add_class::<PendingRequest>()?;
    m.add_class::<Submission>()?;
    m.add_class::<ConfirmationInfo>()?;
    m.add_class::<LockedOutNotice>()?;
    m.add_class::<DuressReport>()?;
    m.add_class::<ConfirmResponse>()?;
    m.add_class::<SessionToken>()?;
    m.add_class::<OobConfig>()?;
    m.add_class::<OobService>()?;
    m.add_function(wrap_pyfunction!(seal_message, m)?)?;
    m.add_function(wrap_pyfunction!(biometric_challenge, m)?)?;
    Ok(())
}
