//! Out-of-band verification (seed 002, DESIGN.md section 1.6): large requests
//! authenticated only by a terminal's user code and PIN are confirmed over a
//! second channel the holder carries (pager, SMS, app, voice).
//!
//! The flow:
//! 1. The host registers contractors ([`ContractorSpec`]): user code, PIN
//!    (kept only as an argon2id hash), devices, second codes with purposes
//!    (normal or duress; kept hashed), threshold, maximum, a method table by
//!    amount, an optional rolling window, a delivery mode.
//! 2. [`OobService::login`] checks user code and PIN once per session (the
//!    slow hash is paid per login); the error is uniform and failures are
//!    limited.
//! 3. [`OobService::submit`] checks the session, the disabled flag, the
//!    maximum, selects the method from the (optionally rolling) amount, and
//!    either says [`Disposition::ForwardNow`] or holds the request pending:
//!    [`Forward::hold`] (the host reserves), then a random code bound to the
//!    transaction's digest, a cancel code and optionally a callback line go to
//!    the devices through the host's [`DeliveryChannel`].
//! 4. [`OobService::answer`] compares in constant time and finishes the
//!    request exactly once: confirmed ([`Forward::forward`]), cancelled,
//!    duress (voided, [`DuressAlarm::raise`], and an answer identical to a
//!    success), wrong (counted; at the limit voided, contractor disabled,
//!    holder notified), or expired ([`OobService::sweep`] or a late answer).
//! 5. Every decision is appended to a BLAKE3 hash chain ([`AuditLog`]).
//!
//! ```
//! use kabuken::oob::*;
//! use kabuken::types::Side;
//! use rand_chacha::{rand_core::SeedableRng, ChaCha20Rng};
//! use std::sync::{Arc, Mutex};
//!
//! /// A host that keeps the last confirmation it was asked to deliver.
//! #[derive(Default)]
//! struct Host(Mutex<Option<ConfirmationInfo>>);
//! impl Forward for Host {
//!     fn hold(&self, _: &PendingRequest) { /* reserve certificates and cash */ }
//!     fn forward(&self, _: &PendingRequest) { /* send to the exchange */ }
//!     fn release(&self, _: &PendingRequest, _: ReleaseReason) { /* release */ }
//! }
//! impl DuressAlarm for Host {
//!     fn raise(&self, _: &DuressReport) { /* call for help, quietly */ }
//! }
//! impl DeliveryChannel for Host {
//!     fn deliver(&self, _: &Device, n: &Notice<'_>) -> Result<(), DeliveryFailed> {
//!         if let Notice::Confirmation(i) = n {
//!             *self.0.lock().unwrap() = Some((*i).clone());
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let host = Arc::new(Host::default());
//! let mut config = OobConfig::new([7; 32]);
//! config.argon2 = Argon2Params::INSECURE_FAST; // tests only
//! let hooks = Hooks {
//!     forward: host.clone(),
//!     channel: host.clone(),
//!     alarm: host.clone(),
//!     biometric: None,
//! };
//! let oob = OobService::new(config, hooks)?;
//! let mut rng = ChaCha20Rng::seed_from_u64(1);
//! oob.register_contractor(
//!     &ContractorSpec {
//!         user_code: "alice".into(),
//!         pin: "2468".into(),
//!         devices: vec![Device {
//!             address: "+81-90-0000-0000".into(),
//!             kind: DeviceKind::Sms,
//!             seal_key: None,
//!         }],
//!         second_codes: vec![("4711".into(), Purpose::Normal), ("1147".into(), Purpose::Duress)],
//!         threshold: 1_000_000,
//!         max_amount: 50_000_000,
//!         methods: MethodTable::code_only(),
//!         rolling_window: Some(24 * 3600 * SECOND),
//!         delivery: DeliveryMode::Broadcast,
//!         disabled: false,
//!     },
//!     0,
//!     &mut rng,
//! )?;
//! let session = oob.login("alice", "2468", 0, &mut rng)?;
//! let tx = Transaction { instrument: 7203, side: Side::Buy, quantity: 1_000, limit: Some(2_150), amount: 2_150_000 };
//! let sub = oob.submit(&session, &tx, SECOND, &mut rng)?;
//! assert_eq!(sub.disposition, Disposition::HoldPending);
//!
//! // The holder reads the SMS and answers with the code and a second code.
//! let info = host.0.lock().unwrap().take().unwrap();
//! let answer = Answer {
//!     user_code: "alice",
//!     request_ref: info.request_ref,
//!     code: &info.code,
//!     second_code: "4711",
//!     tx_digest: tx.digest(),
//!     line: info.line,
//!     proof: Proof::None,
//! };
//! let response = oob.answer(&answer, 30 * SECOND)?;
//! assert_eq!(response, ConfirmResponse::Accepted { request_ref: info.request_ref });
//! assert_eq!(oob.stats().confirmed, 1);
//! # Ok::<(), OobError>(())
//! ```
//!
//! Time and randomness are injected: every call takes the caller's
//! [`Timestamp`], and calls that draw randomness take the host's CSPRNG.
//!
//! Architecture invariant: `oob` never reads a clock, never creates its own
//! randomness, never calls a host hook while holding one of its locks, and
//! never reveals to the answering or requesting party which check failed or
//! whether a duress code was used.

mod audit;
mod contractor;
mod error;
mod hooks;
mod seam;
mod secret;
mod service;
mod tx;

pub use audit::{
    genesis, verify_segment, AuditEntry, AuditHead, AuditKind, AuditLog, AuditRecord,
    AuditViolation, ViolationKind,
};
pub use contractor::{
    ConfirmMethod, ContractorSpec, DeliveryMode, Device, DeviceKind, MethodTable, Purpose,
};
pub use error::{ConfigError, OobError, RecordError};
pub use hooks::{
    BiometricVerifier, ConfirmationInfo, DeliveryChannel, DeliveryFailed, DuressAlarm,
    DuressReport, Forward, Notice, PendingRequest, ReleaseReason,
};
pub use secret::Argon2Params;
pub use service::{
    biometric_challenge, seal_message, Answer, ConfirmResponse, Disposition, Hooks, OobService,
    Proof, SessionToken, Submission, SweepReport,
};
pub use tx::{Amount, Transaction, TxDigest, TX_ENCODED_LEN};

use crate::types::Timestamp;

/// A registered contractor (dense, from 0).
pub type ContractorId = u32;
/// A callback line of the service (the seed's telephone numbers to answer on).
pub type LineId = u16;

/// The service's reference for a request (unique, increasing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestRef(pub u64);

/// One second in [`Timestamp`] units (nanoseconds).
pub const SECOND: Timestamp = 1_000_000_000;

/// Service-wide settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OobConfig {
    /// argon2id cost for PINs (default [`Argon2Params::PRODUCTION`]).
    pub argon2: Argon2Params,
    /// A host secret mixed into second-code hashes and code tags, kept apart
    /// from the contractor records (so a copy of the records alone does not
    /// allow an offline search of the second codes).
    pub pepper: [u8; 32],
    /// Digits of confirmation and cancel codes, 6..=12 (default 8: a code
    /// space of 10^8).
    pub code_digits: u8,
    /// Lifetime of a pending request (default 5 minutes).
    pub request_ttl: Timestamp,
    /// Wrong answers before the request answered is voided, the contractor
    /// disabled (its other pending requests voided too) and the holder
    /// notified (default 5). Counted per request and across the
    /// contractor's requests since its last successful answer, so guesses
    /// spread over many requests reach the limit as fast as guesses at one.
    pub max_wrong_answers: u32,
    /// Consecutive failed logins before the contractor is disabled
    /// (default 5).
    pub max_login_failures: u32,
    /// Lifetime of a session (default 8 hours).
    pub session_ttl: Timestamp,
    /// Callback lines; empty means lines are not used.
    pub callback_lines: Vec<LineId>,
    /// Pending requests one contractor may have at once (default 64).
    pub max_pending_per_contractor: usize,
    /// How long a finished request is remembered so duplicate answers stay
    /// idempotent (default 1 hour).
    pub finished_ttl: Timestamp,
}

impl OobConfig {
    /// Defaults with the given pepper.
    #[must_use]
    pub fn new(pepper: [u8; 32]) -> Self {
        OobConfig {
            argon2: Argon2Params::PRODUCTION,
            pepper,
            code_digits: 8,
            request_ttl: 300 * SECOND,
            max_wrong_answers: 5,
            max_login_failures: 5,
            session_ttl: 8 * 3600 * SECOND,
            callback_lines: Vec::new(),
            max_pending_per_contractor: 64,
            finished_ttl: 3600 * SECOND,
        }
    }

    fn validate(&self) -> Result<(), OobError> {
        let bad = |e| Err(OobError::InvalidConfig(e));
        if !(6..=12).contains(&self.code_digits) {
            return bad(ConfigError::CodeDigits);
        }
        self.argon2.validate()?;
        if self.request_ttl == 0
            || self.max_wrong_answers == 0
            || self.max_login_failures == 0
            || self.session_ttl == 0
            || self.max_pending_per_contractor == 0
        {
            return bad(ConfigError::Zero);
        }
        // Codes are drawn until unused among the contractor's pending
        // requests (two codes each): keep that set below 1% of the space so
        // a draw almost never repeats.
        let space = 10u64.pow(u32::from(self.code_digits));
        let in_use = (self.max_pending_per_contractor as u64).saturating_mul(2);
        if in_use > space / 100 {
            return bad(ConfigError::PendingLimit);
        }
        let mut lines = self.callback_lines.clone();
        lines.sort_unstable();
        if lines.windows(2).any(|w| w[0] == w[1]) {
            return bad(ConfigError::DuplicateLine);
        }
        Ok(())
    }
}

/// Outcome counters, as the simulator reports them (`oob` object of the
/// `--json` report).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct OobStats {
    /// Requests confirmed with a normal second code and forwarded.
    pub confirmed: u64,
    /// Requests cancelled with the cancel code.
    pub cancelled: u64,
    /// Wrong answers to pending requests.
    pub wrong_answers: u64,
    /// Requests voided because their wrong answers reached the limit.
    pub locked_out: u64,
    /// Requests voided unanswered past their lifetime.
    pub expired: u64,
    /// Duress answers (request voided, alarm raised). A duress code given
    /// with the cancel code counts here and in `cancelled`.
    pub duress: u64,
}

impl OobStats {
    /// The counters as a JSON object, for the simulator's `--json` report:
    /// `{"confirmed":1,"cancelled":0,...}`.
    #[must_use]
    pub fn to_json(&self) -> String {
        format!(
            "{{\"confirmed\":{},\"cancelled\":{},\"wrong_answers\":{},\"locked_out\":{},\"expired\":{},\"duress\":{}}}",
            self.confirmed, self.cancelled, self.wrong_answers, self.locked_out, self.expired, self.duress
        )
    }
}

#[cfg(test)]
mod tests;
