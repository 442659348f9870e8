//! Out-of-band verification (`kbk_oob`): contractors, sessions, requests,
//! confirmations, and the host's hooks as C callbacks.

use crate::status::*;
use core::ffi::{c_char, c_void};
use engine::oob::{
    biometric_challenge, seal_message, Answer, Argon2Params, BiometricVerifier, ConfirmMethod,
    ConfirmResponse, ContractorSpec, DeliveryChannel, DeliveryFailed, DeliveryMode, Device,
    DeviceKind, Disposition, DuressAlarm, DuressReport, Forward, Hooks, MethodTable, Notice,
    OobConfig, OobError, OobService, PendingRequest, Proof, Purpose, ReleaseReason, RequestRef,
    SessionToken, Transaction, TxDigest,
};
use engine::types::Side;
use rand_core::{CryptoRng, RngCore};
use std::ffi::CString;
use std::sync::Arc;

/// `kbk_oob_device.kind`: a pager (short text).
pub const KBK_OOB_DEVICE_PAGER: u32 = 0;
/// A phone receiving SMS (short text).
pub const KBK_OOB_DEVICE_SMS: u32 = 1;
/// An app (full summary; may hold a seal key).
pub const KBK_OOB_DEVICE_APP_PUSH: u32 = 2;
/// A voice call (spoken text).
pub const KBK_OOB_DEVICE_VOICE: u32 = 3;

/// A second code meaning "yes, this is me".
pub const KBK_OOB_PURPOSE_NORMAL: u32 = 0;
/// A second code meaning "I am being forced".
pub const KBK_OOB_PURPOSE_DURESS: u32 = 1;

/// No confirmation.
pub const KBK_OOB_METHOD_NONE: u32 = 0;
/// A code over the second channel and a second code.
pub const KBK_OOB_METHOD_CODE: u32 = 1;
/// As CODE plus a seal signature by a device key.
pub const KBK_OOB_METHOD_SEAL: u32 = 2;
/// As CODE plus a biometric check by the host's verifier.
pub const KBK_OOB_METHOD_BIOMETRIC: u32 = 3;

/// Confirmation goes to every device at once.
pub const KBK_OOB_DELIVERY_BROADCAST: u32 = 0;
/// To one device after another (`fallback_after`).
pub const KBK_OOB_DELIVERY_SEQUENTIAL: u32 = 1;

/// No confirmation needed: send the request to the exchange now.
pub const KBK_OOB_FORWARD_NOW: u32 = 0;
/// Held pending confirmation (`hold` was called; `forward` or `release`
/// follows exactly once).
pub const KBK_OOB_HOLD_PENDING: u32 = 1;

/// Released: the holder cancelled.
pub const KBK_OOB_RELEASE_CANCELLED: u32 = 0;
/// Released: duress (never let the terminal learn this).
pub const KBK_OOB_RELEASE_DURESS: u32 = 1;
/// Released: too many wrong answers.
pub const KBK_OOB_RELEASE_LOCKED_OUT: u32 = 2;
/// Released: unanswered past its lifetime.
pub const KBK_OOB_RELEASE_EXPIRED: u32 = 3;
/// Released: the operator disabled the contractor.
pub const KBK_OOB_RELEASE_DISABLED: u32 = 4;

/// `kbk_oob_notice.kind`: please confirm (`confirmation` is set).
pub const KBK_OOB_NOTICE_CONFIRMATION: u32 = 0;
/// Too many wrong answers: the request was voided, the contractor disabled.
pub const KBK_OOB_NOTICE_LOCKED_OUT: u32 = 1;

/// An answer with no proof beyond the codes.
pub const KBK_OOB_PROOF_NONE: u32 = 0;
/// An answer with a seal signature (`seal_signature`).
pub const KBK_OOB_PROOF_SEAL: u32 = 1;
/// An answer with a biometric sample (`biometric_sample`).
pub const KBK_OOB_PROOF_BIOMETRIC: u32 = 2;

/// `kbk_oob_response.kind`: confirmed (or so it must seem).
pub const KBK_OOB_RESPONSE_ACCEPTED: u32 = 1;
/// Cancelled.
pub const KBK_OOB_RESPONSE_CANCELLED: u32 = 2;

/// Service settings. Start from `kbk_oob_config_default`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_oob_config {
    /// Host secret mixed into second-code hashes and code tags.
    pub pepper: [u8; 32],
    /// Callback line ids (may be NULL when `callback_lines_len` is 0: lines
    /// not used). Copied by `kbk_oob_new`.
    pub callback_lines: *const u16,
    /// Number of callback lines.
    pub callback_lines_len: usize,
    /// Lifetime of a pending request (ns).
    pub request_ttl: u64,
    /// Lifetime of a session (ns).
    pub session_ttl: u64,
    /// How long finished requests are remembered (ns).
    pub finished_ttl: u64,
    /// Pending requests one contractor may have.
    pub max_pending_per_contractor: usize,
    /// argon2id memory in KiB (production 19456).
    pub argon2_m_cost_kib: u32,
    /// argon2id passes (production 2).
    pub argon2_t_cost: u32,
    /// argon2id lanes (production 1).
    pub argon2_p_cost: u32,
    /// Wrong answers before lockout.
    pub max_wrong_answers: u32,
    /// Failed logins before the contractor is disabled.
    pub max_login_failures: u32,
    /// Digits of codes, 6..=12.
    pub code_digits: u8,
    /// Zero.
    pub reserved: [u8; 3],
}

/// A transaction to confirm.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_oob_transaction {
    /// Shares.
    pub quantity: u64,
    /// Limit price in ticks (when `has_limit`).
    pub limit: i64,
    /// Value in the smallest currency unit.
    pub amount: u64,
    /// Instrument id.
    pub instrument: u32,
    /// `KBK_SIDE_*`.
    pub side: u8,
    /// 1 for a limit order, 0 for a market order.
    pub has_limit: u8,
    /// Zero.
    pub reserved: [u8; 2],
}

/// A request the service decided about.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_oob_request {
    /// The service's reference.
    pub request_ref: u64,
    /// The transaction.
    pub transaction: kbk_oob_transaction,
    /// The digest the confirmation is bound to.
    pub tx_digest: [u8; 32],
    /// When submitted.
    pub submitted_at: u64,
    /// When it expires unanswered.
    pub expires_at: u64,
    /// The contractor.
    pub contractor: u32,
    /// `KBK_OOB_METHOD_*`.
    pub method: u32,
}

/// The answer to `kbk_oob_submit`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_oob_submission {
    /// The request.
    pub request: kbk_oob_request,
    /// `KBK_OOB_FORWARD_NOW` or `KBK_OOB_HOLD_PENDING`.
    pub disposition: u32,
    /// Zero.
    pub reserved: u32,
}

/// A login session; present it with every request.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_oob_session {
    /// Session id (not secret).
    pub id: u64,
    /// Secret.
    pub secret: [u8; 32],
}

/// A second-channel device.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_oob_device {
    /// Address (NUL-terminated UTF-8).
    pub address: *const c_char,
    /// Ed25519 public key of the device's seal (when `has_seal_key`).
    pub seal_key: [u8; 32],
    /// `KBK_OOB_DEVICE_*`.
    pub kind: u32,
    /// 0 or 1.
    pub has_seal_key: u8,
    /// Zero.
    pub reserved: [u8; 3],
}

/// A second code and its purpose.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_oob_second_code {
    /// The code (NUL-terminated UTF-8).
    pub code: *const c_char,
    /// `KBK_OOB_PURPOSE_*`.
    pub purpose: u32,
    /// Zero.
    pub reserved: u32,
}

/// A method table row: amounts from `from` on use `method`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_oob_method_row {
    /// Inclusive lower bound of the amount.
    pub from: u64,
    /// `KBK_OOB_METHOD_*`.
    pub method: u32,
    /// Zero.
    pub reserved: u32,
}

/// What the host registers for a contractor (secrets in clear; only hashes
/// are kept). Everything is copied during the call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_oob_contractor_spec {
    /// User code, unique.
    pub user_code: *const c_char,
    /// PIN (4..=64 bytes).
    pub pin: *const c_char,
    /// Devices (at least one).
    pub devices: *const kbk_oob_device,
    /// Number of devices.
    pub devices_len: usize,
    /// Second codes (at least one normal).
    pub second_codes: *const kbk_oob_second_code,
    /// Number of second codes.
    pub second_codes_len: usize,
    /// Method table rows (may be NULL when `methods_len` is 0).
    pub methods: *const kbk_oob_method_row,
    /// Number of rows.
    pub methods_len: usize,
    /// Amounts above this need confirmation.
    pub threshold: u64,
    /// Amounts above this are refused.
    pub max_amount: u64,
    /// Rolling window in ns (0: none).
    pub rolling_window: u64,
    /// For sequential delivery: ns before the next device.
    pub fallback_after: u64,
    /// `KBK_OOB_DELIVERY_*`.
    pub delivery: u32,
    /// 0 or 1: start disabled.
    pub disabled: u8,
    /// Zero.
    pub reserved: [u8; 3],
}

/// Confirmation information for the holder's devices (strings valid during
/// the callback only).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_oob_confirmation {
    /// The request to answer.
    pub request_ref: u64,
    /// The transaction.
    pub transaction: kbk_oob_transaction,
    /// Its digest.
    pub tx_digest: [u8; 32],
    /// When issued.
    pub issued_at: u64,
    /// When the code stops working.
    pub expires_at: u64,
    /// The confirmation code (digits).
    pub code: *const c_char,
    /// The cancel code.
    pub cancel_code: *const c_char,
    /// Pager/SMS rendering.
    pub short_text: *const c_char,
    /// Voice rendering.
    pub spoken_text: *const c_char,
    /// The contractor.
    pub contractor: u32,
    /// `KBK_OOB_METHOD_*`.
    pub method: u32,
    /// Callback line to answer on (when `has_line`).
    pub line: u16,
    /// 0 or 1.
    pub has_line: u8,
    /// Zero.
    pub reserved: u8,
}

/// Something sent over the second channel.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_oob_notice {
    /// `KBK_OOB_NOTICE_*`.
    pub kind: u32,
    /// Zero.
    pub reserved: u32,
    /// The request.
    pub request_ref: u64,
    /// For LOCKED_OUT: when.
    pub at: u64,
    /// For CONFIRMATION: the information (NULL otherwise).
    pub confirmation: *const kbk_oob_confirmation,
}

/// What a duress answer reports to the alarm.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_oob_duress {
    /// The voided request.
    pub request: kbk_oob_request,
    /// The contractor's user code (valid during the callback).
    pub user_code: *const c_char,
    /// When the answer arrived.
    pub at: u64,
    /// The callback line it came on (when `has_line`).
    pub line: u16,
    /// 0 or 1.
    pub has_line: u8,
    /// 1 when the duress code came with the cancel code.
    pub with_cancel: u8,
}

/// The holder's answer.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_oob_answer_params {
    /// User code.
    pub user_code: *const c_char,
    /// The confirmation or cancel code.
    pub code: *const c_char,
    /// A second code.
    pub second_code: *const c_char,
    /// Biometric sample (PROOF_BIOMETRIC; may be NULL when its length is 0).
    pub biometric_sample: *const u8,
    /// Its length.
    pub biometric_len: usize,
    /// The request answered.
    pub request_ref: u64,
    /// The digest shown on the device.
    pub tx_digest: [u8; 32],
    /// Ed25519 signature over `kbk_oob_seal_message` (PROOF_SEAL).
    pub seal_signature: [u8; 64],
    /// `KBK_OOB_PROOF_*`.
    pub proof: u32,
    /// The line the answer came on (when `has_line`).
    pub line: u16,
    /// 0 or 1.
    pub has_line: u8,
    /// Zero.
    pub reserved: u8,
}

/// What the answering party is told (a duress answer gets exactly what a
/// confirmation gets).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_oob_response {
    /// The request.
    pub request_ref: u64,
    /// `KBK_OOB_RESPONSE_*`.
    pub kind: u32,
    /// Wire form: tag byte and the little-endian reference.
    pub encoded: [u8; 9],
    /// Zero.
    pub reserved: [u8; 3],
}

/// What `kbk_oob_sweep` did.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_oob_sweep_report {
    /// Pending requests expired.
    pub expired: u64,
    /// Sequential deliveries moved on.
    pub fallbacks: u64,
    /// Finished requests forgotten.
    pub purged: u64,
    /// Sessions ended by age.
    pub sessions_ended: u64,
}

/// Outcome counters.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_oob_stats {
    /// Confirmed and forwarded.
    pub confirmed: u64,
    /// Cancelled.
    pub cancelled: u64,
    /// Wrong answers.
    pub wrong_answers: u64,
    /// Voided by lockout.
    pub locked_out: u64,
    /// Voided by expiry.
    pub expired: u64,
    /// Duress answers.
    pub duress: u64,
}

/// The audit chain's head (anchor it outside the process).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_oob_audit_head {
    /// Entries so far.
    pub count: u64,
    /// Hash of the last entry.
    pub hash: [u8; 32],
}

/// Hold: reserve the request's certificates and cash.
pub type kbk_oob_request_callback =
    Option<extern "C" fn(userdata: *mut c_void, request: *const kbk_oob_request)>;
/// Release: finished without confirmation (`reason`: `KBK_OOB_RELEASE_*`).
pub type kbk_oob_release_callback =
    Option<extern "C" fn(userdata: *mut c_void, request: *const kbk_oob_request, reason: u32)>;
/// Deliver `notice` to `device`; return 0 when sent, non-zero when not.
pub type kbk_oob_deliver_callback = Option<
    extern "C" fn(
        userdata: *mut c_void,
        device: *const kbk_oob_device,
        notice: *const kbk_oob_notice,
    ) -> i32,
>;
/// The duress alarm (keep it fast).
pub type kbk_oob_alarm_callback =
    Option<extern "C" fn(userdata: *mut c_void, report: *const kbk_oob_duress)>;
/// Biometric check: return 1 when `sample` is the contractor's for the
/// 32-byte `challenge`, 0 otherwise.
pub type kbk_oob_biometric_callback = Option<
    extern "C" fn(
        userdata: *mut c_void,
        contractor: u32,
        challenge: *const u8,
        sample: *const u8,
        sample_len: usize,
    ) -> i32,
>;
/// Fill `len` bytes at `buf` from a CSPRNG; return 0 on success.
pub type kbk_oob_random_callback =
    Option<extern "C" fn(userdata: *mut c_void, buf: *mut u8, len: usize) -> i32>;

/// The host's hooks. `hold`, `forward`, `release`, `deliver` and `alarm`
/// are required; `biometric` may be NULL (that method is then unavailable);
/// `random` may be NULL (the operating system's CSPRNG is used). The
/// callbacks run on whichever thread calls into the service, outside its
/// locks, so they and `userdata` must be safe to use from any thread, and
/// they may call back into the same `kbk_oob`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_oob_hooks {
    /// Passed first to every callback.
    pub userdata: *mut c_void,
    /// A request entered the pending store.
    pub hold: kbk_oob_request_callback,
    /// Confirmed: send to the exchange.
    pub forward: kbk_oob_request_callback,
    /// Finished without confirmation.
    pub release: kbk_oob_release_callback,
    /// The second channel.
    pub deliver: kbk_oob_deliver_callback,
    /// The duress alarm.
    pub alarm: kbk_oob_alarm_callback,
    /// Optional biometric verifier.
    pub biometric: kbk_oob_biometric_callback,
    /// Optional random source.
    pub random: kbk_oob_random_callback,
}

// ---- conversions --------------------------------------------------------------

fn side(v: u8) -> Res<Side> {
    Side::from_u8(v).ok_or_else(|| Fail::arg(format!("side must be 0 or 1, got {v}")))
}

fn tx_from_c(t: &kbk_oob_transaction) -> Res<Transaction> {
    Ok(Transaction {
        instrument: t.instrument,
        side: side(t.side)?,
        quantity: t.quantity,
        limit: flag(t.has_limit, "has_limit")?.then_some(t.limit),
        amount: t.amount,
    })
}

fn tx_to_c(t: &Transaction) -> kbk_oob_transaction {
    kbk_oob_transaction {
        quantity: t.quantity,
        limit: t.limit.unwrap_or(0),
        amount: t.amount,
        instrument: t.instrument,
        side: t.side as u8,
        has_limit: u8::from(t.limit.is_some()),
        reserved: [0; 2],
    }
}

fn method_to_c(m: ConfirmMethod) -> u32 {
    m as u32
}

fn method_from_c(v: u32) -> Res<ConfirmMethod> {
    Ok(match v {
        KBK_OOB_METHOD_NONE => ConfirmMethod::None,
        KBK_OOB_METHOD_CODE => ConfirmMethod::Code,
        KBK_OOB_METHOD_SEAL => ConfirmMethod::Seal,
        KBK_OOB_METHOD_BIOMETRIC => ConfirmMethod::Biometric,
        _ => return Err(Fail::arg(format!("method must be 0..=3, got {v}"))),
    })
}

fn request_to_c(r: &PendingRequest) -> kbk_oob_request {
    kbk_oob_request {
        request_ref: r.request_ref.0,
        transaction: tx_to_c(&r.transaction),
        tx_digest: r.tx_digest.0,
        submitted_at: r.submitted_at,
        expires_at: r.expires_at,
        contractor: r.contractor,
        method: method_to_c(r.method),
    }
}

fn device_kind(v: u32) -> Res<DeviceKind> {
    Ok(match v {
        KBK_OOB_DEVICE_PAGER => DeviceKind::Pager,
        KBK_OOB_DEVICE_SMS => DeviceKind::Sms,
        KBK_OOB_DEVICE_APP_PUSH => DeviceKind::AppPush,
        KBK_OOB_DEVICE_VOICE => DeviceKind::Voice,
        _ => return Err(Fail::arg(format!("device kind must be 0..=3, got {v}"))),
    })
}

fn device_kind_to_c(k: DeviceKind) -> u32 {
    match k {
        DeviceKind::Pager => KBK_OOB_DEVICE_PAGER,
        DeviceKind::Sms => KBK_OOB_DEVICE_SMS,
        DeviceKind::AppPush => KBK_OOB_DEVICE_APP_PUSH,
        DeviceKind::Voice => KBK_OOB_DEVICE_VOICE,
    }
}

fn release_to_c(r: ReleaseReason) -> u32 {
    match r {
        ReleaseReason::Cancelled => KBK_OOB_RELEASE_CANCELLED,
        ReleaseReason::Duress => KBK_OOB_RELEASE_DURESS,
        ReleaseReason::LockedOut => KBK_OOB_RELEASE_LOCKED_OUT,
        ReleaseReason::Expired => KBK_OOB_RELEASE_EXPIRED,
        ReleaseReason::Disabled => KBK_OOB_RELEASE_DISABLED,
    }
}

fn cstring(s: &str) -> CString {
    // Strings here came from C (no NUL inside) or from the engine's
    // renderings (digits and ASCII); drop NULs rather than fail.
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

fn oob_err(e: OobError) -> Fail {
    let status = match e {
        OobError::AuthenticationFailed => KBK_STATUS_OOB_AUTHENTICATION_FAILED,
        OobError::InvalidSession => KBK_STATUS_OOB_INVALID_SESSION,
        OobError::ContractorDisabled => KBK_STATUS_OOB_CONTRACTOR_DISABLED,
        OobError::AboveMaximum => KBK_STATUS_OOB_ABOVE_MAXIMUM,
        OobError::AnswerRejected => KBK_STATUS_OOB_ANSWER_REJECTED,
        OobError::TooManyPending => KBK_STATUS_OOB_TOO_MANY_PENDING,
        OobError::NoFreeCallbackLine => KBK_STATUS_OOB_NO_FREE_CALLBACK_LINE,
        OobError::MethodUnavailable => KBK_STATUS_OOB_METHOD_UNAVAILABLE,
        OobError::RandomnessFailure => KBK_STATUS_OOB_RANDOMNESS_FAILURE,
        OobError::DuplicateUserCode => KBK_STATUS_OOB_DUPLICATE_USER_CODE,
        OobError::UnknownContractor => KBK_STATUS_OOB_UNKNOWN_CONTRACTOR,
        OobError::InvalidRecord(_) => KBK_STATUS_OOB_INVALID_RECORD,
        OobError::InvalidConfig(_) => KBK_STATUS_OOB_INVALID_CONFIG,
    };
    Fail::new(status, e.to_string())
}

fn config_from_c(c: &kbk_oob_config) -> Res<OobConfig> {
    let lines = slice(c.callback_lines, c.callback_lines_len, "callback_lines")?;
    let mut cfg = OobConfig::new(c.pepper);
    cfg.argon2 = Argon2Params {
        m_cost_kib: c.argon2_m_cost_kib,
        t_cost: c.argon2_t_cost,
        p_cost: c.argon2_p_cost,
    };
    cfg.code_digits = c.code_digits;
    cfg.request_ttl = c.request_ttl;
    cfg.max_wrong_answers = c.max_wrong_answers;
    cfg.max_login_failures = c.max_login_failures;
    cfg.session_ttl = c.session_ttl;
    cfg.callback_lines = lines.to_vec();
    cfg.max_pending_per_contractor = c.max_pending_per_contractor;
    cfg.finished_ttl = c.finished_ttl;
    Ok(cfg)
}

fn spec_from_c(s: &kbk_oob_contractor_spec) -> Res<ContractorSpec> {
    let devices = slice(s.devices, s.devices_len, "devices")?
        .iter()
        .enumerate()
        .map(|(i, d)| {
            Ok(Device {
                address: string(d.address, &format!("devices[{i}].address"))?.to_owned(),
                kind: device_kind(d.kind)?,
                seal_key: flag(d.has_seal_key, "has_seal_key")?.then_some(d.seal_key),
            })
        })
        .collect::<Res<Vec<_>>>()?;
    let second_codes = slice(s.second_codes, s.second_codes_len, "second_codes")?
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let purpose = match c.purpose {
                KBK_OOB_PURPOSE_NORMAL => Purpose::Normal,
                KBK_OOB_PURPOSE_DURESS => Purpose::Duress,
                v => return Err(Fail::arg(format!("purpose must be 0 or 1, got {v}"))),
            };
            Ok((
                string(c.code, &format!("second_codes[{i}].code"))?.to_owned(),
                purpose,
            ))
        })
        .collect::<Res<Vec<_>>>()?;
    let rows = slice(s.methods, s.methods_len, "methods")?
        .iter()
        .map(|r| Ok((r.from, method_from_c(r.method)?)))
        .collect::<Res<Vec<_>>>()?;
    let delivery = match s.delivery {
        KBK_OOB_DELIVERY_BROADCAST => DeliveryMode::Broadcast,
        KBK_OOB_DELIVERY_SEQUENTIAL => DeliveryMode::Sequential {
            fallback_after: s.fallback_after,
        },
        v => return Err(Fail::arg(format!("delivery must be 0 or 1, got {v}"))),
    };
    Ok(ContractorSpec {
        user_code: string(s.user_code, "user_code")?.to_owned(),
        pin: string(s.pin, "pin")?.to_owned(),
        devices,
        second_codes,
        threshold: s.threshold,
        max_amount: s.max_amount,
        methods: MethodTable { rows },
        rolling_window: (s.rolling_window != 0).then_some(s.rolling_window),
        delivery,
        disabled: flag(s.disabled, "disabled")?,
    })
}

pub(crate) fn session_from_c(s: &kbk_oob_session) -> SessionToken {
    SessionToken {
        id: s.id,
        secret: s.secret,
    }
}

// ---- hooks ---------------------------------------------------------------------

/// The C hooks behind the engine's traits.
#[derive(Debug)]
struct CHooks(kbk_oob_hooks);

// SAFETY: the header requires the callbacks and `userdata` to be usable
// from any thread (the service calls hooks on its callers' threads); the
// struct holds nothing else.
unsafe impl Send for CHooks {}
// SAFETY: as above; the callbacks are only called, never mutated.
unsafe impl Sync for CHooks {}

impl Forward for CHooks {
    fn hold(&self, request: &PendingRequest) {
        if let Some(cb) = self.0.hold {
            cb(self.0.userdata, &request_to_c(request));
        }
    }
    fn forward(&self, request: &PendingRequest) {
        if let Some(cb) = self.0.forward {
            cb(self.0.userdata, &request_to_c(request));
        }
    }
    fn release(&self, request: &PendingRequest, reason: ReleaseReason) {
        if let Some(cb) = self.0.release {
            cb(
                self.0.userdata,
                &request_to_c(request),
                release_to_c(reason),
            );
        }
    }
}

impl DuressAlarm for CHooks {
    fn raise(&self, report: &DuressReport) {
        if let Some(cb) = self.0.alarm {
            let user_code = cstring(&report.user_code);
            let c = kbk_oob_duress {
                request: request_to_c(&report.request),
                user_code: user_code.as_ptr(),
                at: report.at,
                line: report.line.unwrap_or(0),
                has_line: u8::from(report.line.is_some()),
                with_cancel: u8::from(report.with_cancel),
            };
            cb(self.0.userdata, &c);
        }
    }
}

impl DeliveryChannel for CHooks {
    fn deliver(&self, device: &Device, notice: &Notice<'_>) -> Result<(), DeliveryFailed> {
        let Some(cb) = self.0.deliver else {
            return Err(DeliveryFailed);
        };
        let address = cstring(&device.address);
        let dev = kbk_oob_device {
            address: address.as_ptr(),
            seal_key: device.seal_key.unwrap_or([0; 32]),
            kind: device_kind_to_c(device.kind),
            has_seal_key: u8::from(device.seal_key.is_some()),
            reserved: [0; 3],
        };
        let rc = match notice {
            Notice::Confirmation(i) => {
                let code = cstring(&i.code);
                let cancel = cstring(&i.cancel_code);
                let short = cstring(&i.short_text());
                let spoken = cstring(&i.spoken_text());
                let conf = kbk_oob_confirmation {
                    request_ref: i.request_ref.0,
                    transaction: tx_to_c(&i.transaction),
                    tx_digest: i.tx_digest.0,
                    issued_at: i.issued_at,
                    expires_at: i.expires_at,
                    code: code.as_ptr(),
                    cancel_code: cancel.as_ptr(),
                    short_text: short.as_ptr(),
                    spoken_text: spoken.as_ptr(),
                    contractor: i.contractor,
                    method: method_to_c(i.method),
                    line: i.line.unwrap_or(0),
                    has_line: u8::from(i.line.is_some()),
                    reserved: 0,
                };
                let n = kbk_oob_notice {
                    kind: KBK_OOB_NOTICE_CONFIRMATION,
                    reserved: 0,
                    request_ref: i.request_ref.0,
                    at: i.issued_at,
                    confirmation: &conf,
                };
                cb(self.0.userdata, &dev, &n)
            }
            Notice::LockedOut { request_ref, at } => {
                let n = kbk_oob_notice {
                    kind: KBK_OOB_NOTICE_LOCKED_OUT,
                    reserved: 0,
                    request_ref: request_ref.0,
                    at: *at,
                    confirmation: core::ptr::null(),
                };
                cb(self.0.userdata, &dev, &n)
            }
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(DeliveryFailed)
        }
    }
}

impl BiometricVerifier for CHooks {
    fn verify(&self, contractor: u32, challenge: &[u8; 32], sample: &[u8]) -> bool {
        match self.0.biometric {
            Some(cb) => {
                cb(
                    self.0.userdata,
                    contractor,
                    challenge.as_ptr(),
                    sample.as_ptr(),
                    sample.len(),
                ) == 1
            }
            None => false,
        }
    }
}

/// The host's random source, or the operating system's.
struct Rng<'a>(&'a kbk_oob_hooks);

impl RngCore for Rng<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        // A failing source yields zeros, which the service detects as a
        // randomness failure (it refuses repeated draws).
        if self.try_fill_bytes(dest).is_err() {
            dest.fill(0);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        match self.0.random {
            Some(cb) => {
                if cb(self.0.userdata, dest.as_mut_ptr(), dest.len()) == 0 {
                    Ok(())
                } else {
                    Err(rand_core::Error::new("host random source failed"))
                }
            }
            None => rand_core::OsRng.try_fill_bytes(dest),
        }
    }
}

impl CryptoRng for Rng<'_> {}

// ---- the handle ------------------------------------------------------------------

/// The out-of-band verification service.
///
/// Thread safety: thread-safe. Any number of threads may call `kbk_oob_*`
/// on one service at once (except `kbk_oob_free`, which must be the last
/// call); hooks run on the calling thread.
#[derive(Debug)]
pub struct kbk_oob {
    _private: [u8; 0],
}

#[repr(C)]
struct OobHandle {
    header: Header,
    /// Shared with an exchange's reception gate when made by
    /// `kbk_exchange_enable_oob`.
    service: Arc<OobService>,
    hooks: Arc<CHooks>,
}

impl Handle for OobHandle {
    const MAGIC: u64 = 0x6b62_6b5f_6f6f_6221; // "kbk_oob!"
    fn header(&self) -> &Header {
        &self.header
    }
}

fn oob_ref(o: *const kbk_oob, f: impl FnOnce(&OobHandle) -> Res) -> kbk_status {
    with_ref(o.cast::<OobHandle>(), f)
}

/// Writes the default settings (production argon2id, 8-digit codes, 5 min
/// requests, 8 h sessions, no callback lines) with `pepper` (32 bytes) into
/// `*out`.
#[no_mangle]
pub extern "C" fn kbk_oob_config_default(
    pepper: *const u8,
    out: *mut kbk_oob_config,
) -> kbk_status {
    guard(|| {
        let p = bytes32(pepper, "pepper")?;
        let o = crate::status::out(out, "out")?;
        let c = OobConfig::new(*p);
        o.set(kbk_oob_config {
            pepper: c.pepper,
            callback_lines: core::ptr::null(),
            callback_lines_len: 0,
            request_ttl: c.request_ttl,
            session_ttl: c.session_ttl,
            finished_ttl: c.finished_ttl,
            max_pending_per_contractor: c.max_pending_per_contractor,
            argon2_m_cost_kib: c.argon2.m_cost_kib,
            argon2_t_cost: c.argon2.t_cost,
            argon2_p_cost: c.argon2.p_cost,
            max_wrong_answers: c.max_wrong_answers,
            max_login_failures: c.max_login_failures,
            code_digits: c.code_digits,
            reserved: [0; 3],
        });
        Ok(())
    })
}

/// Creates a service with `config` and `hooks` (both copied) into `*out`.
/// Free it with `kbk_oob_free`.
#[no_mangle]
pub extern "C" fn kbk_oob_new(
    config: *const kbk_oob_config,
    hooks: *const kbk_oob_hooks,
    out: *mut *mut kbk_oob,
) -> kbk_status {
    guard(|| {
        let cfg = config_from_c(req(config, "config")?)?;
        let hk = *req(hooks, "hooks")?;
        let o = crate::status::out(out, "out")?;
        if hk.hold.is_none()
            || hk.forward.is_none()
            || hk.release.is_none()
            || hk.deliver.is_none()
            || hk.alarm.is_none()
        {
            return Err(Fail::null(
                "a required hook (hold, forward, release, deliver, alarm)",
            ));
        }
        let c = Arc::new(CHooks(hk));
        let (h, _) = new_service(cfg, c.clone(), c)?;
        o.set(h);
        Ok(())
    })
}

/// A service whose decisions go to `forward`, the rest to the C hooks.
fn new_service(
    cfg: OobConfig,
    forward: Arc<dyn Forward + Send + Sync>,
    c: Arc<CHooks>,
) -> Res<(*mut kbk_oob, Arc<OobService>)> {
    let service = Arc::new(
        OobService::new(
            cfg,
            Hooks {
                forward,
                channel: c.clone(),
                alarm: c.clone(),
                biometric: c
                    .0
                    .biometric
                    .is_some()
                    .then(|| c.clone() as Arc<dyn BiometricVerifier>),
            },
        )
        .map_err(oob_err)?,
    );
    let h = into_raw(OobHandle {
        header: Header::new(OobHandle::MAGIC),
        service: service.clone(),
        hooks: c,
    })
    .cast::<kbk_oob>();
    Ok((h, service))
}

/// The host's random source, owned (for an exchange's reception gate).
pub(crate) struct OwnedRng(Arc<CHooks>);

impl RngCore for OwnedRng {
    fn next_u32(&mut self) -> u32 {
        Rng(&self.0 .0).next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        Rng(&self.0 .0).next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        Rng(&self.0 .0).fill_bytes(dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        Rng(&self.0 .0).try_fill_bytes(dest)
    }
}

impl CryptoRng for OwnedRng {}

/// A service for an exchange's reception seam (`kbk_exchange_enable_oob`):
/// its hold/forward/release decisions go to `forward` (the exchange's
/// gate), so those C hooks are not used and may be NULL; `deliver` and
/// `alarm` are required. Returns the new handle, the shared service and
/// the host's random source for the gate.
pub(crate) fn new_gated(
    config: *const kbk_oob_config,
    hooks: *const kbk_oob_hooks,
    forward: Arc<dyn Forward + Send + Sync>,
) -> Res<(*mut kbk_oob, Arc<OobService>, OwnedRng)> {
    let cfg = config_from_c(req(config, "config")?)?;
    let hk = *req(hooks, "hooks")?;
    if hk.deliver.is_none() || hk.alarm.is_none() {
        return Err(Fail::null("a required hook (deliver, alarm)"));
    }
    let c = Arc::new(CHooks(hk));
    let (h, service) = new_service(cfg, forward, c.clone())?;
    Ok((h, service, OwnedRng(c)))
}

/// Frees a service. NULL is fine.
#[no_mangle]
pub extern "C" fn kbk_oob_free(oob: *mut kbk_oob) {
    free(oob.cast::<OobHandle>());
}

/// Registers a contractor (pays one argon2id hash); its id into `*out_id`.
#[no_mangle]
pub extern "C" fn kbk_oob_register_contractor(
    oob: *const kbk_oob,
    spec: *const kbk_oob_contractor_spec,
    now: u64,
    out_id: *mut u32,
) -> kbk_status {
    oob_ref(oob, |h| {
        let spec = spec_from_c(req(spec, "spec")?)?;
        let o = crate::status::out(out_id, "out_id")?;
        let id = h
            .service
            .register_contractor(&spec, now, &mut Rng(&h.hooks.0))
            .map_err(oob_err)?;
        o.set(id);
        Ok(())
    })
}

/// The id of the contractor with `user_code` (`KBK_STATUS_NOT_FOUND` if none).
#[no_mangle]
pub extern "C" fn kbk_oob_contractor_id(
    oob: *const kbk_oob,
    user_code: *const c_char,
    out_id: *mut u32,
) -> kbk_status {
    oob_ref(oob, |h| {
        let code = string(user_code, "user_code")?;
        let o = crate::status::out(out_id, "out_id")?;
        let id = h
            .service
            .contractor_id(code)
            .ok_or_else(|| Fail::new(KBK_STATUS_NOT_FOUND, "no contractor with that user code"))?;
        o.set(id);
        Ok(())
    })
}

/// Whether contractor `id` is disabled (`KBK_STATUS_OOB_UNKNOWN_CONTRACTOR`).
#[no_mangle]
pub extern "C" fn kbk_oob_is_disabled(oob: *const kbk_oob, id: u32, out: *mut bool) -> kbk_status {
    oob_ref(oob, |h| {
        let o = crate::status::out(out, "out")?;
        let d = h
            .service
            .is_disabled(id)
            .ok_or_else(|| oob_err(OobError::UnknownContractor))?;
        o.set(d);
        Ok(())
    })
}

/// The number of pending requests of contractor `id`.
#[no_mangle]
pub extern "C" fn kbk_oob_pending_count(
    oob: *const kbk_oob,
    id: u32,
    out: *mut usize,
) -> kbk_status {
    oob_ref(oob, |h| {
        let o = crate::status::out(out, "out")?;
        let n = h
            .service
            .pending_count(id)
            .ok_or_else(|| oob_err(OobError::UnknownContractor))?;
        o.set(n);
        Ok(())
    })
}

/// Disables contractor `id`; its pending requests are released.
#[no_mangle]
pub extern "C" fn kbk_oob_disable_contractor(oob: *const kbk_oob, id: u32, now: u64) -> kbk_status {
    oob_ref(oob, |h| {
        h.service.disable_contractor(id, now).map_err(oob_err)
    })
}

/// Re-enables contractor `id` and clears its failure counters.
#[no_mangle]
pub extern "C" fn kbk_oob_enable_contractor(oob: *const kbk_oob, id: u32, now: u64) -> kbk_status {
    oob_ref(oob, |h| {
        h.service.enable_contractor(id, now).map_err(oob_err)
    })
}

/// Checks user code and PIN; the session into `*out`.
#[no_mangle]
pub extern "C" fn kbk_oob_login(
    oob: *const kbk_oob,
    user_code: *const c_char,
    pin: *const c_char,
    now: u64,
    out: *mut kbk_oob_session,
) -> kbk_status {
    oob_ref(oob, |h| {
        let code = string(user_code, "user_code")?;
        let pin = string(pin, "pin")?;
        let o = crate::status::out(out, "out")?;
        let t = h
            .service
            .login(code, pin, now, &mut Rng(&h.hooks.0))
            .map_err(oob_err)?;
        o.set(kbk_oob_session {
            id: t.id,
            secret: t.secret,
        });
        Ok(())
    })
}

/// Ends a session (unknown sessions are ignored).
#[no_mangle]
pub extern "C" fn kbk_oob_logout(
    oob: *const kbk_oob,
    session: *const kbk_oob_session,
    now: u64,
) -> kbk_status {
    oob_ref(oob, |h| {
        let s = session_from_c(req(session, "session")?);
        h.service.logout(&s, now);
        Ok(())
    })
}

/// Submits a request: forward now, or held pending confirmation (hooks
/// `hold` then `deliver` have run when this returns).
#[no_mangle]
pub extern "C" fn kbk_oob_submit(
    oob: *const kbk_oob,
    session: *const kbk_oob_session,
    transaction: *const kbk_oob_transaction,
    now: u64,
    out: *mut kbk_oob_submission,
) -> kbk_status {
    oob_ref(oob, |h| {
        let s = session_from_c(req(session, "session")?);
        let tx = tx_from_c(req(transaction, "transaction")?)?;
        let o = crate::status::out(out, "out")?;
        let sub = h
            .service
            .submit(&s, &tx, now, &mut Rng(&h.hooks.0))
            .map_err(oob_err)?;
        o.set(kbk_oob_submission {
            request: request_to_c(&sub.request),
            disposition: match sub.disposition {
                Disposition::ForwardNow => KBK_OOB_FORWARD_NOW,
                Disposition::HoldPending => KBK_OOB_HOLD_PENDING,
            },
            reserved: 0,
        });
        Ok(())
    })
}

/// The holder's answer over the second channel.
#[no_mangle]
pub extern "C" fn kbk_oob_answer(
    oob: *const kbk_oob,
    answer: *const kbk_oob_answer_params,
    now: u64,
    out: *mut kbk_oob_response,
) -> kbk_status {
    oob_ref(oob, |h| {
        let a = req(answer, "answer")?;
        let o = crate::status::out(out, "out")?;
        let proof = match a.proof {
            KBK_OOB_PROOF_NONE => Proof::None,
            KBK_OOB_PROOF_SEAL => Proof::Seal(a.seal_signature),
            KBK_OOB_PROOF_BIOMETRIC => Proof::Biometric(slice(
                a.biometric_sample,
                a.biometric_len,
                "biometric_sample",
            )?),
            v => return Err(Fail::arg(format!("proof must be 0..=2, got {v}"))),
        };
        let ans = Answer {
            user_code: string(a.user_code, "user_code")?,
            request_ref: RequestRef(a.request_ref),
            code: string(a.code, "code")?,
            second_code: string(a.second_code, "second_code")?,
            tx_digest: TxDigest(a.tx_digest),
            line: flag(a.has_line, "has_line")?.then_some(a.line),
            proof,
        };
        let r = h.service.answer(&ans, now).map_err(oob_err)?;
        let (kind, rr) = match r {
            ConfirmResponse::Accepted { request_ref } => (KBK_OOB_RESPONSE_ACCEPTED, request_ref),
            ConfirmResponse::Cancelled { request_ref } => (KBK_OOB_RESPONSE_CANCELLED, request_ref),
        };
        o.set(kbk_oob_response {
            request_ref: rr.0,
            kind,
            encoded: r.encode(),
            reserved: [0; 3],
        });
        Ok(())
    })
}

/// Housekeeping at `now` (expiry, sequential fallback, purging, old
/// sessions); what it did into `*out`. Call it periodically.
#[no_mangle]
pub extern "C" fn kbk_oob_sweep(
    oob: *const kbk_oob,
    now: u64,
    out: *mut kbk_oob_sweep_report,
) -> kbk_status {
    oob_ref(oob, |h| {
        let o = crate::status::out(out, "out")?;
        let r = h.service.sweep(now);
        o.set(kbk_oob_sweep_report {
            expired: r.expired as u64,
            fallbacks: r.fallbacks as u64,
            purged: r.purged as u64,
            sessions_ended: r.sessions_ended as u64,
        });
        Ok(())
    })
}

/// Outcome counters so far.
#[no_mangle]
pub extern "C" fn kbk_oob_get_stats(oob: *const kbk_oob, out: *mut kbk_oob_stats) -> kbk_status {
    oob_ref(oob, |h| {
        let o = crate::status::out(out, "out")?;
        let s = h.service.stats();
        o.set(kbk_oob_stats {
            confirmed: s.confirmed,
            cancelled: s.cancelled,
            wrong_answers: s.wrong_answers,
            locked_out: s.locked_out,
            expired: s.expired,
            duress: s.duress,
        });
        Ok(())
    })
}

/// The audit chain's head.
#[no_mangle]
pub extern "C" fn kbk_oob_get_audit_head(
    oob: *const kbk_oob,
    out: *mut kbk_oob_audit_head,
) -> kbk_status {
    oob_ref(oob, |h| {
        let o = crate::status::out(out, "out")?;
        let a = h.service.audit_head();
        o.set(kbk_oob_audit_head {
            count: a.count,
            hash: a.hash,
        });
        Ok(())
    })
}

/// Verifies the retained audit records (`KBK_STATUS_OOB_AUDIT_VIOLATION`
/// with the place in the last error when damaged).
#[no_mangle]
pub extern "C" fn kbk_oob_verify_audit(oob: *const kbk_oob) -> kbk_status {
    oob_ref(oob, |h| {
        h.service.verify_audit().map_err(|v| {
            Fail::new(
                KBK_STATUS_OOB_AUDIT_VIOLATION,
                format!("record {}: {:?}", v.index, v.kind),
            )
        })
    })
}

/// The 32-byte digest a confirmation is bound to, into `out`.
#[no_mangle]
pub extern "C" fn kbk_oob_transaction_digest(
    transaction: *const kbk_oob_transaction,
    out: *mut u8,
) -> kbk_status {
    guard(|| {
        let tx = tx_from_c(req(transaction, "transaction")?)?;
        crate::status::out(out.cast::<[u8; 32]>(), "out")?.set(tx.digest().0);
        Ok(())
    })
}

/// The bytes a device's seal signs for a request (copied into `buf` of
/// `cap` bytes; `*out_len` its length; `KBK_STATUS_BUFFER_TOO_SMALL` when it
/// does not fit).
#[no_mangle]
pub extern "C" fn kbk_oob_seal_message(
    request_ref: u64,
    tx_digest: *const u8,
    code: *const c_char,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> kbk_status {
    guard(|| {
        let d = bytes32(tx_digest, "tx_digest")?;
        let code = string(code, "code")?;
        let mut dst = slice_mut(buf, cap, "buf")?;
        let ol = crate::status::out(out_len, "out_len")?;
        let m = seal_message(RequestRef(request_ref), &TxDigest(*d), code);
        if m.len() > dst.len() {
            return Err(Fail::new(
                KBK_STATUS_BUFFER_TOO_SMALL,
                format!("{} bytes needed, {cap} given", m.len()),
            ));
        }
        for (i, b) in m.iter().enumerate() {
            dst.set(i, *b);
        }
        ol.set(m.len());
        Ok(())
    })
}

/// The 32-byte challenge a biometric check is bound to, into `out`.
#[no_mangle]
pub extern "C" fn kbk_oob_biometric_challenge(
    request_ref: u64,
    tx_digest: *const u8,
    out: *mut u8,
) -> kbk_status {
    guard(|| {
        let d = bytes32(tx_digest, "tx_digest")?;
        let o = crate::status::out(out.cast::<[u8; 32]>(), "out")?;
        o.set(biometric_challenge(RequestRef(request_ref), &TxDigest(*d)));
        Ok(())
    })
}
