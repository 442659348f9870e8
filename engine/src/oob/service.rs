//! The service: contractors, sessions, the pending store and the state
//! machine of a request.
//!
//! Concurrency: the service is `Sync`. Each contractor's pending store sits
//! behind its own mutex; a request's state changes only under that mutex, so
//! of any number of racing answers exactly one finishes it. Lock order is
//! contractor -> callback lines -> audit; host hooks run after every lock is
//! released.

use super::audit::{pending_detail, AuditHead, AuditKind, AuditLog, AuditRecord, AuditViolation};
use super::contractor::{ConfirmMethod, ContractorRecord, ContractorSpec, DeliveryMode, Purpose};
use super::error::OobError;
use super::hooks::{
    BiometricVerifier, ConfirmationInfo, DeliveryChannel, DuressAlarm, DuressReport, Forward,
    Notice, PendingRequest, ReleaseReason,
};
use super::seam::{derive_key, keyed, Hash32};
use super::secret::{
    ct_eq32, parse_code, random_code, random_index, render_code, PinHash, MAX_DRAWS,
};
use super::tx::{Amount, Transaction, TxDigest};
use super::{ContractorId, LineId, OobConfig, OobStats, RequestRef};
use crate::types::Timestamp;
use parking_lot::{Mutex, RwLock};
use rand_core::CryptoRngCore;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A login session: an id and a 256-bit secret. Present it with every
/// request.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken {
    /// The session's id (not secret).
    pub id: u64,
    /// The secret (compared in constant time).
    pub secret: [u8; 32],
}

impl core::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionToken")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// What the host does with a submitted request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// No confirmation needed: send it to the exchange now.
    ForwardNow,
    /// Held pending confirmation: [`Forward::hold`] was called before any
    /// confirmation information went out; exactly one of
    /// [`Forward::forward`] or [`Forward::release`] follows.
    HoldPending,
}

/// The answer to [`OobService::submit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submission {
    /// The request.
    pub request: PendingRequest,
    /// What to do with it.
    pub disposition: Disposition,
}

/// What the answering party is told. A duress answer gets exactly the value
/// (and the bytes) a normal confirmation gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfirmResponse {
    /// Confirmed (or so it must seem).
    Accepted {
        /// The request.
        request_ref: RequestRef,
    },
    /// Cancelled.
    Cancelled {
        /// The request.
        request_ref: RequestRef,
    },
}

impl ConfirmResponse {
    /// Wire form: a tag byte (1 accepted, 2 cancelled) and the request
    /// reference, little-endian.
    #[must_use]
    pub fn encode(&self) -> [u8; 9] {
        let (tag, r) = match self {
            ConfirmResponse::Accepted { request_ref } => (1u8, request_ref.0),
            ConfirmResponse::Cancelled { request_ref } => (2u8, request_ref.0),
        };
        let mut b = [0u8; 9];
        b[0] = tag;
        b[1..].copy_from_slice(&r.to_le_bytes());
        b
    }
}

/// The extra proof an answer carries for the seal and biometric methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proof<'a> {
    /// Nothing beyond the codes.
    None,
    /// An Ed25519 signature over [`seal_message`] by a device's seal key.
    Seal([u8; 64]),
    /// A biometric sample for the host's verifier, bound to
    /// [`biometric_challenge`].
    Biometric(&'a [u8]),
}

/// The holder's answer over the second channel. Its `Debug` form hides the
/// codes.
#[derive(Clone, Copy)]
pub struct Answer<'a> {
    /// The contractor's user code.
    pub user_code: &'a str,
    /// The request answered.
    pub request_ref: RequestRef,
    /// The confirmation code (or the cancel code), as digits.
    pub code: &'a str,
    /// One of the contractor's second codes.
    pub second_code: &'a str,
    /// The digest of the transaction the holder is answering for (as shown on
    /// the device); a code is valid only with the digest it was issued for.
    pub tx_digest: TxDigest,
    /// The callback line the answer came on (checked when lines are used).
    pub line: Option<LineId>,
    /// Signature or biometric sample when the method needs one.
    pub proof: Proof<'a>,
}

impl core::fmt::Debug for Answer<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Answer")
            .field("user_code", &self.user_code)
            .field("request_ref", &self.request_ref)
            .field("tx_digest", &self.tx_digest)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

/// What [`OobService::sweep`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SweepReport {
    /// Pending requests expired (reservations released).
    pub expired: usize,
    /// Sequential deliveries moved on to the next device.
    pub fallbacks: usize,
    /// Finished requests forgotten.
    pub purged: usize,
    /// Sessions ended by age.
    pub sessions_ended: usize,
}

const SEAL_DOMAIN: &[u8] = b"kabuken/2026/oob/seal/v1\0";
const TAG_CONTEXT: &str = "kabuken 2026 oob code tag v1";
const BIO_CONTEXT: &str = "kabuken 2026 oob biometric challenge v1";
const TAG_CONFIRM: u8 = 1;
const TAG_CANCEL: u8 = 2;

/// The bytes a device's seal signs: a domain label, the request reference,
/// the transaction digest and the confirmation code digits.
#[must_use]
pub fn seal_message(request_ref: RequestRef, tx_digest: &TxDigest, code: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(SEAL_DOMAIN.len() + 8 + 32 + code.len());
    m.extend_from_slice(SEAL_DOMAIN);
    m.extend_from_slice(&request_ref.0.to_le_bytes());
    m.extend_from_slice(&tx_digest.0);
    m.extend_from_slice(code.as_bytes());
    m
}

/// The challenge a biometric check is bound to.
#[must_use]
pub fn biometric_challenge(request_ref: RequestRef, tx_digest: &TxDigest) -> [u8; 32] {
    derive_key(BIO_CONTEXT, &[&request_ref.0.to_le_bytes(), &tx_digest.0])
}

/// The host's hooks.
#[derive(Clone)]
pub struct Hooks {
    /// The exchange side.
    pub forward: Arc<dyn Forward>,
    /// The second channel.
    pub channel: Arc<dyn DeliveryChannel>,
    /// Raised on duress.
    pub alarm: Arc<dyn DuressAlarm>,
    /// For the biometric method; without it that method is unavailable.
    pub biometric: Option<Arc<dyn BiometricVerifier>>,
}

impl core::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Hooks")
            .field("biometric", &self.biometric.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Pending,
    Confirmed,
    Duress,
    Cancelled,
    LockedOut,
    Expired,
    Disabled,
}

#[derive(Debug)]
struct Req {
    info: PendingRequest,
    state: State,
    code: u64,
    cancel_code: u64,
    confirm_tag: Hash32,
    cancel_tag: Hash32,
    failures: u32,
    line: Option<LineId>,
    next_device: usize,
    next_delivery_at: Option<Timestamp>,
}

#[derive(Debug)]
struct Slot {
    id: ContractorId,
    record: Arc<ContractorRecord>,
    disabled: bool,
    login_failures: u32,
    /// Wrong answers across this contractor's requests since its last
    /// successful answer (so spreading guesses over many requests does not
    /// escape the limit).
    wrong_streak: u32,
    reqs: HashMap<u64, Req>,
    pending: Vec<u64>,
    codes_in_use: HashMap<u64, u64>,
    finished: VecDeque<(Timestamp, u64)>,
    rolling: VecDeque<(Timestamp, Amount, u64)>,
    rolling_sum: u128,
}

#[derive(Debug)]
struct Session {
    contractor: ContractorId,
    secret: [u8; 32],
    expires_at: Timestamp,
}

/// Side effects decided under a lock, carried out after it.
enum Effect {
    Hold(PendingRequest),
    Forward(PendingRequest),
    Release(PendingRequest, ReleaseReason),
    Alarm(DuressReport),
    Deliver {
        slot: Arc<Mutex<Slot>>,
        record: Arc<ContractorRecord>,
        info: Box<ConfirmationInfo>,
        start: usize,
    },
    NotifyLockout {
        record: Arc<ContractorRecord>,
        request_ref: RequestRef,
        at: Timestamp,
    },
}

#[derive(Debug, Default)]
struct Counters {
    confirmed: AtomicU64,
    cancelled: AtomicU64,
    wrong_answers: AtomicU64,
    locked_out: AtomicU64,
    expired: AtomicU64,
    duress: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The out-of-band verification service. `Sync`: share it between threads
/// behind an `Arc`.
pub struct OobService {
    config: OobConfig,
    hooks: Hooks,
    code_key: Hash32,
    dummy_pin: PinHash,
    index: RwLock<HashMap<String, ContractorId>>,
    slots: RwLock<Vec<Arc<Mutex<Slot>>>>,
    sessions: RwLock<HashMap<u64, Session>>,
    busy_lines: Mutex<Vec<bool>>,
    audit: Mutex<AuditLog>,
    next_ref: AtomicU64,
    next_session: AtomicU64,
    counters: Counters,
}

impl core::fmt::Debug for OobService {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OobService")
            .field("contractors", &self.slots.read().len())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl OobService {
    /// A service with `config` and the host's `hooks`.
    ///
    /// # Errors
    /// [`OobError::InvalidConfig`].
    pub fn new(config: OobConfig, hooks: Hooks) -> Result<Self, OobError> {
        config.validate()?;
        let code_key = derive_key(TAG_CONTEXT, &[&config.pepper]);
        // Unknown user codes are checked against this, so they cost as much
        // as a wrong PIN.
        let dummy_pin = PinHash::new(config.argon2, [0x5a; 16], b"kabuken-oob-dummy-pin")?;
        let lines = vec![false; config.callback_lines.len()];
        Ok(OobService {
            config,
            hooks,
            code_key,
            dummy_pin,
            index: RwLock::new(HashMap::new()),
            slots: RwLock::new(Vec::new()),
            sessions: RwLock::new(HashMap::new()),
            busy_lines: Mutex::new(lines),
            audit: Mutex::new(AuditLog::new()),
            next_ref: AtomicU64::new(1),
            next_session: AtomicU64::new(1),
            counters: Counters::default(),
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &OobConfig {
        &self.config
    }

    fn audit(
        &self,
        at: Timestamp,
        kind: AuditKind,
        contractor: Option<ContractorId>,
        request: Option<RequestRef>,
        detail: u64,
    ) {
        self.audit
            .lock()
            .append(at, kind, contractor, request, detail);
    }

    fn slot(&self, id: ContractorId) -> Option<Arc<Mutex<Slot>>> {
        self.slots.read().get(id as usize).cloned()
    }

    fn slot_by_code(&self, user_code: &str) -> Option<Arc<Mutex<Slot>>> {
        let id = *self.index.read().get(user_code)?;
        self.slot(id)
    }

    // ----- contractors ---------------------------------------------------

    /// Registers a contractor (pays one argon2id hash).
    ///
    /// # Errors
    /// [`OobError::InvalidRecord`], [`OobError::DuplicateUserCode`].
    pub fn register_contractor<R: CryptoRngCore + ?Sized>(
        &self,
        spec: &ContractorSpec,
        now: Timestamp,
        rng: &mut R,
    ) -> Result<ContractorId, OobError> {
        if self.index.read().contains_key(&spec.user_code) {
            return Err(OobError::DuplicateUserCode);
        }
        let record =
            ContractorRecord::from_spec(spec, self.config.argon2, &self.config.pepper, rng)?;
        let mut index = self.index.write();
        if index.contains_key(&spec.user_code) {
            return Err(OobError::DuplicateUserCode);
        }
        let mut slots = self.slots.write();
        let id = ContractorId::try_from(slots.len()).map_err(|_| OobError::UnknownContractor)?;
        let disabled = record.disabled;
        slots.push(Arc::new(Mutex::new(Slot {
            id,
            record: Arc::new(record),
            disabled,
            login_failures: 0,
            wrong_streak: 0,
            reqs: HashMap::new(),
            pending: Vec::new(),
            codes_in_use: HashMap::new(),
            finished: VecDeque::new(),
            rolling: VecDeque::new(),
            rolling_sum: 0,
        })));
        index.insert(spec.user_code.clone(), id);
        drop(slots);
        drop(index);
        self.audit(now, AuditKind::ContractorRegistered, Some(id), None, 0);
        Ok(id)
    }

    /// The id of the contractor with `user_code`.
    #[must_use]
    pub fn contractor_id(&self, user_code: &str) -> Option<ContractorId> {
        self.index.read().get(user_code).copied()
    }

    /// Whether the contractor is disabled (`None` if unknown).
    #[must_use]
    pub fn is_disabled(&self, id: ContractorId) -> Option<bool> {
        self.slot(id).map(|s| s.lock().disabled)
    }

    /// The contractor's pending requests (`None` if unknown).
    #[must_use]
    pub fn pending_count(&self, id: ContractorId) -> Option<usize> {
        self.slot(id).map(|s| s.lock().pending.len())
    }

    /// Disables a contractor (operator action); its pending requests are
    /// voided and released.
    ///
    /// # Errors
    /// [`OobError::UnknownContractor`].
    pub fn disable_contractor(&self, id: ContractorId, now: Timestamp) -> Result<(), OobError> {
        let slot = self.slot(id).ok_or(OobError::UnknownContractor)?;
        let mut effects = Vec::new();
        {
            let mut g = slot.lock();
            if !g.disabled {
                g.disabled = true;
                self.audit(now, AuditKind::ContractorDisabled, Some(id), None, 1);
            }
            self.void_all(&mut g, State::Disabled, now, &mut effects);
        }
        self.run(effects, now);
        Ok(())
    }

    /// Re-enables a contractor and clears its login failures (operator
    /// action).
    ///
    /// # Errors
    /// [`OobError::UnknownContractor`].
    pub fn enable_contractor(&self, id: ContractorId, now: Timestamp) -> Result<(), OobError> {
        let slot = self.slot(id).ok_or(OobError::UnknownContractor)?;
        let mut g = slot.lock();
        g.disabled = false;
        g.login_failures = 0;
        g.wrong_streak = 0;
        self.audit(now, AuditKind::ContractorEnabled, Some(id), None, 0);
        Ok(())
    }

    // ----- sessions ------------------------------------------------------

    /// First authentication: user code and PIN, once per session. Pays one
    /// argon2id whatever the outcome (also for an unknown user code).
    ///
    /// # Errors
    /// [`OobError::AuthenticationFailed`], uniformly, for an unknown user
    /// code, a wrong PIN, or a disabled contractor. After
    /// `max_login_failures` consecutive wrong PINs the contractor is
    /// disabled.
    pub fn login<R: CryptoRngCore + ?Sized>(
        &self,
        user_code: &str,
        pin: &str,
        now: Timestamp,
        rng: &mut R,
    ) -> Result<SessionToken, OobError> {
        let Some(slot) = self.slot_by_code(user_code) else {
            let _ = self.dummy_pin.verify(pin.as_bytes());
            self.audit(now, AuditKind::LoginFailed, None, None, 0);
            return Err(OobError::AuthenticationFailed);
        };
        let record = slot.lock().record.clone();
        let ok = record.pin.verify(pin.as_bytes());
        let mut g = slot.lock();
        let id = g.id;
        if !ok {
            g.login_failures = g.login_failures.saturating_add(1);
            self.audit(
                now,
                AuditKind::LoginFailed,
                Some(id),
                None,
                u64::from(g.login_failures),
            );
            if g.login_failures >= self.config.max_login_failures && !g.disabled {
                g.disabled = true;
                self.audit(now, AuditKind::ContractorDisabled, Some(id), None, 2);
                let mut effects = Vec::new();
                self.void_all(&mut g, State::Disabled, now, &mut effects);
                drop(g);
                self.run(effects, now);
            }
            return Err(OobError::AuthenticationFailed);
        }
        if g.disabled {
            self.audit(now, AuditKind::LoginFailed, Some(id), None, 0);
            return Err(OobError::AuthenticationFailed);
        }
        g.login_failures = 0;
        drop(g);
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let sid = self.next_session.fetch_add(1, Ordering::Relaxed);
        self.sessions.write().insert(
            sid,
            Session {
                contractor: id,
                secret,
                expires_at: now.saturating_add(self.config.session_ttl),
            },
        );
        self.audit(now, AuditKind::LoginSucceeded, Some(id), None, sid);
        Ok(SessionToken { id: sid, secret })
    }

    /// Ends a session (idempotent).
    pub fn logout(&self, token: &SessionToken, now: Timestamp) {
        let mut sessions = self.sessions.write();
        let valid = sessions
            .get(&token.id)
            .is_some_and(|s| bool::from(ct_eq32(&s.secret, &token.secret)));
        if valid {
            if let Some(s) = sessions.remove(&token.id) {
                drop(sessions);
                self.audit(
                    now,
                    AuditKind::SessionEnded,
                    Some(s.contractor),
                    None,
                    token.id,
                );
            }
        }
    }

    fn session_contractor(
        &self,
        token: &SessionToken,
        now: Timestamp,
    ) -> Result<ContractorId, OobError> {
        let sessions = self.sessions.read();
        let s = sessions.get(&token.id).ok_or(OobError::InvalidSession)?;
        if !bool::from(ct_eq32(&s.secret, &token.secret)) || now >= s.expires_at {
            return Err(OobError::InvalidSession);
        }
        Ok(s.contractor)
    }

    // ----- requests ------------------------------------------------------

    fn tag(&self, kind: u8, request_ref: RequestRef, digest: &TxDigest, code: u64) -> Hash32 {
        keyed(
            &self.code_key,
            &[
                &[kind],
                &request_ref.0.to_le_bytes(),
                &digest.0,
                &code.to_le_bytes(),
            ],
        )
    }

    /// A request from an authenticated session: disabled check, maximum
    /// check, threshold and method selection, and either
    /// [`Disposition::ForwardNow`] or a pending request whose confirmation
    /// information goes to the contractor's devices.
    ///
    /// # Errors
    /// [`OobError::InvalidSession`], [`OobError::ContractorDisabled`],
    /// [`OobError::AboveMaximum`], [`OobError::TooManyPending`],
    /// [`OobError::NoFreeCallbackLine`], [`OobError::MethodUnavailable`],
    /// [`OobError::RandomnessFailure`]; the
    /// pending store is unchanged on every error.
    pub fn submit<R: CryptoRngCore + ?Sized>(
        &self,
        session: &SessionToken,
        tx: &Transaction,
        now: Timestamp,
        rng: &mut R,
    ) -> Result<Submission, OobError> {
        let cid = self.session_contractor(session, now)?;
        let slot = self.slot(cid).ok_or(OobError::InvalidSession)?;
        let mut effects = Vec::new();
        let result = {
            let mut g = slot.lock();
            self.submit_locked(&mut g, &slot, tx, now, rng, &mut effects)
        };
        self.run(effects, now);
        result
    }

    fn submit_locked<R: CryptoRngCore + ?Sized>(
        &self,
        g: &mut Slot,
        slot: &Arc<Mutex<Slot>>,
        tx: &Transaction,
        now: Timestamp,
        rng: &mut R,
        effects: &mut Vec<Effect>,
    ) -> Result<Submission, OobError> {
        let cid = g.id;
        let rec = g.record.clone();
        if g.disabled {
            self.audit(now, AuditKind::RejectedDisabled, Some(cid), None, tx.amount);
            return Err(OobError::ContractorDisabled);
        }
        if tx.amount > rec.max_amount {
            self.audit(now, AuditKind::RejectedMaximum, Some(cid), None, tx.amount);
            return Err(OobError::AboveMaximum);
        }
        let effective = match rec.rolling_window {
            Some(w) => {
                prune_rolling(g, now, w);
                let total = g.rolling_sum + u128::from(tx.amount);
                Amount::try_from(total).unwrap_or(Amount::MAX)
            }
            None => tx.amount,
        };
        let method = rec.methods.select(rec.threshold, effective);
        let digest = tx.digest();
        if method == ConfirmMethod::None {
            let request_ref = RequestRef(self.next_ref.fetch_add(1, Ordering::Relaxed));
            if rec.rolling_window.is_some() {
                push_rolling(g, now, tx.amount, request_ref);
            }
            self.audit(
                now,
                AuditKind::ForwardedDirect,
                Some(cid),
                Some(request_ref),
                tx.amount,
            );
            return Ok(Submission {
                request: PendingRequest {
                    request_ref,
                    contractor: cid,
                    transaction: *tx,
                    tx_digest: digest,
                    method,
                    submitted_at: now,
                    expires_at: now,
                },
                disposition: Disposition::ForwardNow,
            });
        }
        if g.pending.len() >= self.config.max_pending_per_contractor {
            self.audit(now, AuditKind::RejectedCapacity, Some(cid), None, tx.amount);
            return Err(OobError::TooManyPending);
        }
        if method == ConfirmMethod::Biometric && self.hooks.biometric.is_none() {
            self.audit(now, AuditKind::RejectedCapacity, Some(cid), None, tx.amount);
            return Err(OobError::MethodUnavailable);
        }
        // Codes, unique among this contractor's pending requests (confirm and
        // cancel codes together).
        let digits = self.config.code_digits;
        let mut fresh = |g: &Slot, other: Option<u64>| {
            (0..MAX_DRAWS)
                .map_while(|_| random_code(rng, digits))
                .find(|c| !g.codes_in_use.contains_key(c) && Some(*c) != other)
                .ok_or(OobError::RandomnessFailure)
        };
        let codes = fresh(g, None).and_then(|c| Ok((c, fresh(g, Some(c))?)));
        let (code, cancel_code) = match codes {
            Ok(c) => c,
            Err(e) => {
                self.audit(now, AuditKind::RejectedCapacity, Some(cid), None, tx.amount);
                return Err(e);
            }
        };
        let line = if self.config.callback_lines.is_empty() {
            None
        } else {
            let mut busy = self.busy_lines.lock();
            let free: Vec<usize> = (0..busy.len()).filter(|&i| !busy[i]).collect();
            if free.is_empty() {
                drop(busy);
                self.audit(now, AuditKind::RejectedCapacity, Some(cid), None, tx.amount);
                return Err(OobError::NoFreeCallbackLine);
            }
            let Some(i) = random_index(rng, free.len()).map(|k| free[k]) else {
                drop(busy);
                self.audit(now, AuditKind::RejectedCapacity, Some(cid), None, tx.amount);
                return Err(OobError::RandomnessFailure);
            };
            busy[i] = true;
            Some(self.config.callback_lines[i])
        };
        let request_ref = RequestRef(self.next_ref.fetch_add(1, Ordering::Relaxed));
        let info = PendingRequest {
            request_ref,
            contractor: cid,
            transaction: *tx,
            tx_digest: digest,
            method,
            submitted_at: now,
            expires_at: now.saturating_add(self.config.request_ttl),
        };
        let (next_delivery_at, start) = match rec.delivery {
            DeliveryMode::Broadcast => (None, 0),
            DeliveryMode::Sequential { fallback_after } => {
                (Some(now.saturating_add(fallback_after)), 0)
            }
        };
        let req = Req {
            info: info.clone(),
            state: State::Pending,
            code,
            cancel_code,
            confirm_tag: self.tag(TAG_CONFIRM, request_ref, &digest, code),
            cancel_tag: self.tag(TAG_CANCEL, request_ref, &digest, cancel_code),
            failures: 0,
            line,
            next_device: 1,
            next_delivery_at,
        };
        let cinfo = self.confirmation_info(&req);
        g.codes_in_use.insert(code, request_ref.0);
        g.codes_in_use.insert(cancel_code, request_ref.0);
        g.pending.push(request_ref.0);
        g.reqs.insert(request_ref.0, req);
        if rec.rolling_window.is_some() {
            push_rolling(g, now, tx.amount, request_ref);
        }
        self.audit(
            now,
            AuditKind::Pending,
            Some(cid),
            Some(request_ref),
            pending_detail(method as u8, tx.amount),
        );
        effects.push(Effect::Hold(info.clone()));
        effects.push(Effect::Deliver {
            slot: slot.clone(),
            record: rec,
            info: Box::new(cinfo),
            start,
        });
        Ok(Submission {
            request: info,
            disposition: Disposition::HoldPending,
        })
    }

    fn confirmation_info(&self, req: &Req) -> ConfirmationInfo {
        let d = self.config.code_digits;
        ConfirmationInfo {
            request_ref: req.info.request_ref,
            contractor: req.info.contractor,
            code: render_code(req.code, d),
            cancel_code: render_code(req.cancel_code, d),
            line: req.line,
            transaction: req.info.transaction,
            tx_digest: req.info.tx_digest,
            method: req.info.method,
            issued_at: req.info.submitted_at,
            expires_at: req.info.expires_at,
        }
    }

    /// Moves a pending request to a final state under the contractor's lock;
    /// returns its public form.
    fn finish(&self, g: &mut Slot, r: u64, state: State, now: Timestamp) -> Option<PendingRequest> {
        let req = g.reqs.get_mut(&r)?;
        if req.state != State::Pending {
            return None;
        }
        req.state = state;
        req.next_delivery_at = None;
        let (code, cancel, line, info) = (req.code, req.cancel_code, req.line, req.info.clone());
        g.codes_in_use.remove(&code);
        g.codes_in_use.remove(&cancel);
        if let Some(p) = g.pending.iter().position(|&x| x == r) {
            g.pending.swap_remove(p);
        }
        if let Some(l) = line {
            if let Some(i) = self.config.callback_lines.iter().position(|&x| x == l) {
                if let Some(b) = self.busy_lines.lock().get_mut(i) {
                    *b = false;
                }
            }
        }
        if state != State::Confirmed {
            unroll(g, RequestRef(r));
        }
        g.finished.push_back((now, r));
        Some(info)
    }

    fn void_all(&self, g: &mut Slot, state: State, now: Timestamp, effects: &mut Vec<Effect>) {
        let reason = match state {
            State::LockedOut => ReleaseReason::LockedOut,
            _ => ReleaseReason::Disabled,
        };
        let kind = match state {
            State::LockedOut => AuditKind::LockedOut,
            _ => AuditKind::VoidedDisabled,
        };
        let cid = g.id;
        for r in g.pending.clone() {
            if let Some(info) = self.finish(g, r, state, now) {
                self.audit(now, kind, Some(cid), Some(info.request_ref), 0);
                effects.push(Effect::Release(info, reason));
            }
        }
    }

    // ----- answers -------------------------------------------------------

    /// The holder's answer over the second channel. Exactly one answer
    /// finishes a request; repeating a successful answer gets the same
    /// response again.
    ///
    /// A normal second code with the right confirmation code confirms (the
    /// request goes to [`Forward::forward`]); a duress second code gets the
    /// identical response, but the request is released and the alarm raised;
    /// the cancel code cancels.
    ///
    /// # Errors
    /// [`OobError::AnswerRejected`], uniformly, for an unknown user code or
    /// request, a finished or expired request, and every wrong answer (which
    /// counts towards the lockout).
    pub fn answer(&self, ans: &Answer<'_>, now: Timestamp) -> Result<ConfirmResponse, OobError> {
        let rejected = Err(OobError::AnswerRejected);
        let Some(slot) = self.slot_by_code(ans.user_code) else {
            self.audit(
                now,
                AuditKind::AnswerRejected,
                None,
                Some(ans.request_ref),
                0,
            );
            return rejected;
        };
        // Everything that does not depend on the request's state is checked
        // before the lock (and a host verifier never runs under it).
        let (cid, record, method) = {
            let g = slot.lock();
            let method = g.reqs.get(&ans.request_ref.0).map(|q| q.info.method);
            (g.id, g.record.clone(), method)
        };
        let Some(method) = method else {
            self.audit(
                now,
                AuditKind::AnswerRejected,
                Some(cid),
                Some(ans.request_ref),
                0,
            );
            return rejected;
        };
        let purpose = record.second_code_purpose(&self.config.pepper, ans.second_code.as_bytes());
        let code = parse_code(ans.code, self.config.code_digits);
        // A request's method never changes, so a proof checked here stays
        // valid under the lock below; only the method's own proof is checked.
        let proof_ok = match (method, &ans.proof, &self.hooks.biometric) {
            (ConfirmMethod::Code | ConfirmMethod::None, _, _) => true,
            (ConfirmMethod::Seal, Proof::Seal(sig), _) => {
                let msg = seal_message(ans.request_ref, &ans.tx_digest, ans.code);
                record.seal_keys.iter().any(|k| k.verify(&msg, sig))
            }
            (ConfirmMethod::Biometric, Proof::Biometric(sample), Some(v)) => v.verify(
                cid,
                &biometric_challenge(ans.request_ref, &ans.tx_digest),
                sample,
            ),
            _ => false,
        };
        let confirm_tag = code.map(|c| self.tag(TAG_CONFIRM, ans.request_ref, &ans.tx_digest, c));
        let cancel_tag = code.map(|c| self.tag(TAG_CANCEL, ans.request_ref, &ans.tx_digest, c));

        let mut effects = Vec::new();
        let result = {
            let mut g = slot.lock();
            let r = ans.request_ref.0;
            let Some(req) = g.reqs.get(&r) else {
                drop(g);
                self.audit(
                    now,
                    AuditKind::AnswerRejected,
                    Some(cid),
                    Some(ans.request_ref),
                    0,
                );
                return rejected;
            };
            let confirm_ok = confirm_tag.is_some_and(|t| bool::from(ct_eq32(&t, &req.confirm_tag)));
            let cancel_ok = cancel_tag.is_some_and(|t| bool::from(ct_eq32(&t, &req.cancel_tag)));
            let line_ok = req.line.is_none() || ans.line == req.line;
            let accepted = ConfirmResponse::Accepted {
                request_ref: ans.request_ref,
            };
            let cancelled = ConfirmResponse::Cancelled {
                request_ref: ans.request_ref,
            };
            match req.state {
                State::Pending => {}
                // A finished duress request answers exactly like a confirmed
                // one.
                State::Confirmed | State::Duress
                    if confirm_ok && line_ok && proof_ok && purpose.is_some() =>
                {
                    self.audit(
                        now,
                        AuditKind::DuplicateAnswer,
                        Some(cid),
                        Some(ans.request_ref),
                        1,
                    );
                    return Ok(accepted);
                }
                State::Cancelled if cancel_ok && line_ok && purpose.is_some() => {
                    self.audit(
                        now,
                        AuditKind::DuplicateAnswer,
                        Some(cid),
                        Some(ans.request_ref),
                        1,
                    );
                    return Ok(cancelled);
                }
                _ => {
                    self.audit(
                        now,
                        AuditKind::AnswerRejected,
                        Some(cid),
                        Some(ans.request_ref),
                        0,
                    );
                    return rejected;
                }
            }
            let expires_at = req.info.expires_at;
            let line = req.line;
            if now >= expires_at {
                if let Some(info) = self.finish(&mut g, r, State::Expired, now) {
                    bump(&self.counters.expired);
                    self.audit(
                        now,
                        AuditKind::Expired,
                        Some(cid),
                        Some(info.request_ref),
                        0,
                    );
                    effects.push(Effect::Release(info, ReleaseReason::Expired));
                }
                Err(OobError::AnswerRejected)
            } else if let (true, true, Some(p)) = (cancel_ok, line_ok, purpose) {
                g.wrong_streak = 0;
                if let Some(info) = self.finish(&mut g, r, State::Cancelled, now) {
                    bump(&self.counters.cancelled);
                    self.audit(
                        now,
                        AuditKind::Cancelled,
                        Some(cid),
                        Some(info.request_ref),
                        0,
                    );
                    if p == Purpose::Duress {
                        bump(&self.counters.duress);
                        self.audit(now, AuditKind::Duress, Some(cid), Some(info.request_ref), 2);
                        effects.push(Effect::Alarm(DuressReport {
                            request: info.clone(),
                            user_code: record.user_code.clone(),
                            line,
                            at: now,
                            with_cancel: true,
                        }));
                    }
                    effects.push(Effect::Release(info, ReleaseReason::Cancelled));
                }
                Ok(cancelled)
            } else if let (true, true, true, Some(p)) = (confirm_ok, line_ok, proof_ok, purpose) {
                // One response value for both purposes; only the effect
                // differs.
                let state = match p {
                    Purpose::Normal => State::Confirmed,
                    Purpose::Duress => State::Duress,
                };
                g.wrong_streak = 0;
                if let Some(info) = self.finish(&mut g, r, state, now) {
                    match p {
                        Purpose::Normal => {
                            bump(&self.counters.confirmed);
                            self.audit(
                                now,
                                AuditKind::Confirmed,
                                Some(cid),
                                Some(info.request_ref),
                                0,
                            );
                            effects.push(Effect::Forward(info));
                        }
                        Purpose::Duress => {
                            bump(&self.counters.duress);
                            self.audit(
                                now,
                                AuditKind::Duress,
                                Some(cid),
                                Some(info.request_ref),
                                1,
                            );
                            effects.push(Effect::Alarm(DuressReport {
                                request: info.clone(),
                                user_code: record.user_code.clone(),
                                line,
                                at: now,
                                with_cancel: false,
                            }));
                            effects.push(Effect::Release(info, ReleaseReason::Duress));
                        }
                    }
                }
                Ok(accepted)
            } else {
                self.wrong_answer(&mut g, r, &record, now, &mut effects);
                Err(OobError::AnswerRejected)
            }
        };
        self.run(effects, now);
        result
    }

    fn wrong_answer(
        &self,
        g: &mut Slot,
        r: u64,
        record: &Arc<ContractorRecord>,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) {
        let cid = g.id;
        let Some(req) = g.reqs.get_mut(&r) else {
            return;
        };
        req.failures = req.failures.saturating_add(1);
        g.wrong_streak = g.wrong_streak.saturating_add(1);
        let failures = req.failures.max(g.wrong_streak);
        bump(&self.counters.wrong_answers);
        self.audit(
            now,
            AuditKind::WrongAnswer,
            Some(cid),
            Some(RequestRef(r)),
            u64::from(failures),
        );
        if failures < self.config.max_wrong_answers {
            return;
        }
        if let Some(info) = self.finish(g, r, State::LockedOut, now) {
            bump(&self.counters.locked_out);
            self.audit(
                now,
                AuditKind::LockedOut,
                Some(cid),
                Some(info.request_ref),
                u64::from(failures),
            );
            effects.push(Effect::Release(info, ReleaseReason::LockedOut));
        }
        if !g.disabled {
            g.disabled = true;
            self.audit(now, AuditKind::ContractorDisabled, Some(cid), None, 3);
        }
        self.void_all(g, State::LockedOut, now, effects);
        effects.push(Effect::NotifyLockout {
            record: record.clone(),
            request_ref: RequestRef(r),
            at: now,
        });
    }

    // ----- time ----------------------------------------------------------

    /// Housekeeping at `now`: expires pending requests past their lifetime
    /// (released), moves sequential deliveries on to the next device, forgets
    /// finished requests older than `finished_ttl`, ends old sessions. Call it
    /// periodically.
    pub fn sweep(&self, now: Timestamp) -> SweepReport {
        let mut report = SweepReport::default();
        let slots: Vec<_> = self.slots.read().clone();
        let mut effects = Vec::new();
        for slot in &slots {
            let mut guard = slot.lock();
            let g = &mut *guard;
            let cid = g.id;
            for r in g.pending.clone() {
                let Some(req) = g.reqs.get_mut(&r) else {
                    continue;
                };
                if now >= req.info.expires_at {
                    if let Some(info) = self.finish(g, r, State::Expired, now) {
                        bump(&self.counters.expired);
                        report.expired += 1;
                        self.audit(
                            now,
                            AuditKind::Expired,
                            Some(cid),
                            Some(info.request_ref),
                            0,
                        );
                        effects.push(Effect::Release(info, ReleaseReason::Expired));
                    }
                    continue;
                }
                if let (Some(at), DeliveryMode::Sequential { .. }) =
                    (req.next_delivery_at, g.record.delivery)
                {
                    if now >= at && req.next_device < g.record.devices.len() {
                        let start = req.next_device;
                        req.next_delivery_at = None;
                        let info = Box::new(self.confirmation_info(req));
                        report.fallbacks += 1;
                        effects.push(Effect::Deliver {
                            slot: slot.clone(),
                            record: g.record.clone(),
                            info,
                            start,
                        });
                    }
                }
            }
            let ttl = self.config.finished_ttl;
            while let Some(&(t, r)) = g.finished.front() {
                if t.saturating_add(ttl) > now {
                    break;
                }
                g.finished.pop_front();
                g.reqs.remove(&r);
                report.purged += 1;
            }
            if let Some(w) = g.record.rolling_window {
                prune_rolling(g, now, w);
            }
        }
        {
            let mut sessions = self.sessions.write();
            let before = sessions.len();
            sessions.retain(|_, s| s.expires_at > now);
            report.sessions_ended = before - sessions.len();
        }
        self.run(effects, now);
        report
    }

    // ----- effects -------------------------------------------------------

    fn run(&self, effects: Vec<Effect>, now: Timestamp) {
        for e in effects {
            match e {
                Effect::Hold(info) => self.hooks.forward.hold(&info),
                Effect::Forward(info) => self.hooks.forward.forward(&info),
                Effect::Release(info, why) => self.hooks.forward.release(&info, why),
                Effect::Alarm(report) => self.hooks.alarm.raise(&report),
                Effect::Deliver {
                    slot,
                    record,
                    info,
                    start,
                } => self.deliver(&slot, &record, &info, start, now),
                Effect::NotifyLockout {
                    record,
                    request_ref,
                    at,
                } => {
                    let notice = Notice::LockedOut { request_ref, at };
                    for (i, d) in record.devices.iter().enumerate() {
                        let ok = self.hooks.channel.deliver(d, &notice).is_ok();
                        self.audit(
                            now,
                            if ok {
                                AuditKind::Delivered
                            } else {
                                AuditKind::DeliveryFailed
                            },
                            None,
                            Some(request_ref),
                            i as u64,
                        );
                    }
                }
            }
        }
    }

    /// Broadcast: every device. Sequential: from `start` until one delivery
    /// succeeds; the fallback timer then waits for an answer.
    fn deliver(
        &self,
        slot: &Arc<Mutex<Slot>>,
        record: &ContractorRecord,
        info: &ConfirmationInfo,
        start: usize,
        now: Timestamp,
    ) {
        let notice = Notice::Confirmation(info);
        let r = info.request_ref;
        let cid = Some(info.contractor);
        match record.delivery {
            DeliveryMode::Broadcast => {
                for (i, d) in record.devices.iter().enumerate() {
                    let ok = self.hooks.channel.deliver(d, &notice).is_ok();
                    let kind = if ok {
                        AuditKind::Delivered
                    } else {
                        AuditKind::DeliveryFailed
                    };
                    self.audit(now, kind, cid, Some(r), i as u64);
                }
            }
            DeliveryMode::Sequential { fallback_after } => {
                let mut i = start;
                while i < record.devices.len() {
                    if self
                        .hooks
                        .channel
                        .deliver(&record.devices[i], &notice)
                        .is_ok()
                    {
                        self.audit(now, AuditKind::Delivered, cid, Some(r), i as u64);
                        break;
                    }
                    self.audit(now, AuditKind::DeliveryFailed, cid, Some(r), i as u64);
                    i += 1;
                }
                let mut g = slot.lock();
                if let Some(req) = g.reqs.get_mut(&r.0) {
                    if req.state == State::Pending {
                        req.next_device = i + 1;
                        req.next_delivery_at = (req.next_device < record.devices.len())
                            .then(|| now.saturating_add(fallback_after));
                    }
                }
            }
        }
    }

    // ----- reporting -----------------------------------------------------

    /// Outcome counters so far.
    #[must_use]
    pub fn stats(&self) -> OobStats {
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        OobStats {
            confirmed: l(&c.confirmed),
            cancelled: l(&c.cancelled),
            wrong_answers: l(&c.wrong_answers),
            locked_out: l(&c.locked_out),
            expired: l(&c.expired),
            duress: l(&c.duress),
        }
    }

    /// The head of the audit chain (anchor it outside the process).
    #[must_use]
    pub fn audit_head(&self) -> AuditHead {
        self.audit.lock().head()
    }

    /// A copy of the retained audit records.
    #[must_use]
    pub fn audit_records(&self) -> Vec<AuditRecord> {
        self.audit.lock().records().to_vec()
    }

    /// Moves the retained audit records out for the host to persist; returns
    /// the head they start from and the records.
    pub fn drain_audit(&self) -> (AuditHead, Vec<AuditRecord>) {
        let mut a = self.audit.lock();
        let base = a.base();
        (base, a.drain())
    }

    /// Verifies the retained audit records against the chain head.
    ///
    /// # Errors
    /// The first [`AuditViolation`].
    pub fn verify_audit(&self) -> Result<(), AuditViolation> {
        self.audit.lock().verify()
    }
}

fn prune_rolling(g: &mut Slot, now: Timestamp, window: Timestamp) {
    while let Some(&(t, a, _)) = g.rolling.front() {
        if t.saturating_add(window) > now {
            break;
        }
        g.rolling.pop_front();
        g.rolling_sum -= u128::from(a);
    }
}

fn push_rolling(g: &mut Slot, now: Timestamp, amount: Amount, r: RequestRef) {
    g.rolling.push_back((now, amount, r.0));
    g.rolling_sum += u128::from(amount);
}

/// Takes a voided or cancelled request's amount out of the rolling total.
fn unroll(g: &mut Slot, r: RequestRef) {
    // Refs are allocated under the contractor's lock, so the deque is sorted
    // by ref.
    if let Ok(i) = g.rolling.binary_search_by_key(&r.0, |e| e.2) {
        let a = g.rolling[i].1;
        g.rolling[i].1 = 0;
        g.rolling_sum -= u128::from(a);
    }
}
