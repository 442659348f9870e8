//! Status codes, the thread-local last error, the panic boundary and the
//! pointer helpers. Every `unsafe` block of the crate is in this file.

use core::ffi::{c_char, CStr};
use std::any::Any;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

/// A status code: `KBK_STATUS_OK` (0) or why a call failed. The numbers are
/// stable: codes are only ever added. Ranges: 0..=99 general, 100..=199 the
/// order book and market, 200..=299 out-of-band verification, 300..=399
/// keys, messages, identities, certificates and the register, 400..=499
/// settlement and the exchange; 500..=599 the concurrent runtime; 600..=699
/// the trusted gateway.
pub type kbk_status = u32;

/// Success.
pub const KBK_STATUS_OK: kbk_status = 0;
/// A required pointer argument was NULL.
pub const KBK_STATUS_NULL_ARGUMENT: kbk_status = 1;
/// An integer argument was out of range (an unknown enum value, a flag other
/// than 0 or 1, a misaligned pointer, a length that cannot be).
pub const KBK_STATUS_INVALID_ARGUMENT: kbk_status = 2;
/// A string argument was not valid UTF-8.
pub const KBK_STATUS_INVALID_UTF8: kbk_status = 3;
/// The output buffer is too small; nothing was written.
pub const KBK_STATUS_BUFFER_TOO_SMALL: kbk_status = 4;
/// A Rust panic was caught at the boundary; the handle is now poisoned.
pub const KBK_STATUS_PANIC: kbk_status = 5;
/// The handle was poisoned by an earlier panic; free it.
pub const KBK_STATUS_POISONED: kbk_status = 6;
/// The pointer is not a live handle of the expected type.
pub const KBK_STATUS_INVALID_HANDLE: kbk_status = 7;
/// The thing asked about does not exist (an empty side, an unknown order,
/// an unknown instrument or contractor).
pub const KBK_STATUS_NOT_FOUND: kbk_status = 8;

/// Book: a resting order already has this id.
pub const KBK_STATUS_BOOK_DUPLICATE_ID: kbk_status = 101;
/// Book: no resting order has this id.
pub const KBK_STATUS_BOOK_UNKNOWN_ORDER: kbk_status = 102;
/// Book: quantity zero or above the book's maximum.
pub const KBK_STATUS_BOOK_INVALID_QUANTITY: kbk_status = 103;
/// Book: quantity not a multiple of the lot size.
pub const KBK_STATUS_BOOK_LOT_SIZE: kbk_status = 104;
/// Book: price outside the book's allowed range.
pub const KBK_STATUS_BOOK_PRICE_OUT_OF_RANGE: kbk_status = 105;
/// Book: a post-only order would take liquidity.
pub const KBK_STATUS_BOOK_POST_ONLY_WOULD_CROSS: kbk_status = 106;
/// Book: an impossible combination of order type, time in force and
/// post-only.
pub const KBK_STATUS_BOOK_INVALID_ORDER_TYPE: kbk_status = 107;
/// Book: a GTD order whose expiry is not after the book's time.
pub const KBK_STATUS_BOOK_ALREADY_EXPIRED: kbk_status = 108;
/// Book: the book holds as many resting orders as it may.
pub const KBK_STATUS_BOOK_FULL: kbk_status = 109;
/// Book: the configuration is inconsistent.
pub const KBK_STATUS_BOOK_INVALID_CONFIG: kbk_status = 110;
/// Market: an instrument with this id is already listed.
pub const KBK_STATUS_MARKET_DUPLICATE_INSTRUMENT: kbk_status = 111;

/// Out-of-band: login refused (uniform on purpose).
pub const KBK_STATUS_OOB_AUTHENTICATION_FAILED: kbk_status = 201;
/// Out-of-band: the session is unknown, ended or expired.
pub const KBK_STATUS_OOB_INVALID_SESSION: kbk_status = 202;
/// Out-of-band: the contractor is disabled.
pub const KBK_STATUS_OOB_CONTRACTOR_DISABLED: kbk_status = 203;
/// Out-of-band: the amount exceeds the contractor's maximum.
pub const KBK_STATUS_OOB_ABOVE_MAXIMUM: kbk_status = 204;
/// Out-of-band: the answer confirmed or cancelled nothing (uniform on
/// purpose).
pub const KBK_STATUS_OOB_ANSWER_REJECTED: kbk_status = 205;
/// Out-of-band: the contractor has the maximum number of pending requests.
pub const KBK_STATUS_OOB_TOO_MANY_PENDING: kbk_status = 206;
/// Out-of-band: every callback line is busy.
pub const KBK_STATUS_OOB_NO_FREE_CALLBACK_LINE: kbk_status = 207;
/// Out-of-band: the method needs a biometric verifier and none is set.
pub const KBK_STATUS_OOB_METHOD_UNAVAILABLE: kbk_status = 208;
/// Out-of-band: the random number source failed.
pub const KBK_STATUS_OOB_RANDOMNESS_FAILURE: kbk_status = 209;
/// Out-of-band: a contractor with this user code exists.
pub const KBK_STATUS_OOB_DUPLICATE_USER_CODE: kbk_status = 210;
/// Out-of-band: no contractor with this id.
pub const KBK_STATUS_OOB_UNKNOWN_CONTRACTOR: kbk_status = 211;
/// Out-of-band: the contractor specification is invalid (the last error
/// says which field).
pub const KBK_STATUS_OOB_INVALID_RECORD: kbk_status = 212;
/// Out-of-band: the service configuration is invalid.
pub const KBK_STATUS_OOB_INVALID_CONFIG: kbk_status = 213;
/// Out-of-band: the audit chain is damaged (the last error says where).
pub const KBK_STATUS_OOB_AUDIT_VIOLATION: kbk_status = 214;

/// The public-key bytes are not a valid Ed25519 point.
pub const KBK_STATUS_CRYPTO_BAD_KEY: kbk_status = 301;
/// The public key is of small order (weak); refused.
pub const KBK_STATUS_CRYPTO_WEAK_KEY: kbk_status = 302;
/// The signature does not verify (strictly) for this key and message.
pub const KBK_STATUS_CRYPTO_BAD_SIGNATURE: kbk_status = 303;
/// The bytes are not a well-formed signed message (truncated, trailing
/// bytes, oversize or non-canonical field, unknown version or tag; the last
/// error says which).
pub const KBK_STATUS_WIRE_MALFORMED: kbk_status = 304;
/// A message of another kind was given where a particular kind is needed.
pub const KBK_STATUS_WIRE_WRONG_KIND: kbk_status = 305;
/// The message kind has no such field, or the index is past the field's
/// items (see `kbk_message_field_count`).
pub const KBK_STATUS_MESSAGE_NO_FIELD: kbk_status = 306;
/// The field exists but holds another type than the getter reads.
pub const KBK_STATUS_MESSAGE_FIELD_TYPE: kbk_status = 307;
/// Identity: no attestation is registered for the user id.
pub const KBK_STATUS_IDENTITY_UNKNOWN_PARTY: kbk_status = 310;
/// Identity: the attestation is expired or not yet valid.
pub const KBK_STATUS_IDENTITY_EXPIRED: kbk_status = 311;
/// Identity: the attestation is revoked.
pub const KBK_STATUS_IDENTITY_REVOKED: kbk_status = 312;
/// Identity: not issued (or signed) by the trusted certificate authority.
pub const KBK_STATUS_IDENTITY_BAD_ISSUER: kbk_status = 313;
/// Identity: a user id in the message is not the signer's.
pub const KBK_STATUS_IDENTITY_USER_ID_MISMATCH: kbk_status = 314;
/// Identity: the signer has the wrong role for this message.
pub const KBK_STATUS_IDENTITY_WRONG_ROLE: kbk_status = 315;
/// Identity: the request exceeds the attestation policy (or a name is too
/// long).
pub const KBK_STATUS_IDENTITY_POLICY_VIOLATION: kbk_status = 316;
/// Identity: a newer attestation is registered for the user id.
pub const KBK_STATUS_IDENTITY_SUPERSEDED: kbk_status = 317;
/// Certificate: expired, transfer-restricted, not the register's, or a bad
/// endorsement (the last error says which).
pub const KBK_STATUS_CERT_INVALID: kbk_status = 320;
/// Register: the request's sequence number is not above the signer's last.
pub const KBK_STATUS_REGISTER_REPLAY: kbk_status = 330;
/// Register: the instrument is not kept by this register.
pub const KBK_STATUS_REGISTER_UNKNOWN_INSTRUMENT: kbk_status = 331;
/// Register: the certificate ID's tag is wrong (forged or guessed).
pub const KBK_STATUS_REGISTER_FORGED_ID: kbk_status = 332;
/// Register: no certificate was issued under this ID.
pub const KBK_STATUS_REGISTER_UNKNOWN_ID: kbk_status = 333;
/// Register: the certificate ID is spent or reserved.
pub const KBK_STATUS_REGISTER_NOT_LIVE: kbk_status = 334;
/// Register: the certificate differs from the one the register issued.
pub const KBK_STATUS_REGISTER_DIGEST_MISMATCH: kbk_status = 335;
/// Register: the certificate's holder is not the named party.
pub const KBK_STATUS_REGISTER_WRONG_HOLDER: kbk_status = 336;
/// Register: quantity zero, above the certificate's, or not conserved.
pub const KBK_STATUS_REGISTER_QUANTITY_MISMATCH: kbk_status = 337;
/// Register: request and certificate disagree (ID or instrument).
pub const KBK_STATUS_REGISTER_MISMATCH: kbk_status = 338;
/// Register: issuing would exceed the authorized shares.
pub const KBK_STATUS_REGISTER_EXCEEDS_AUTHORIZED: kbk_status = 339;
/// Register: no such transfer number.
pub const KBK_STATUS_REGISTER_UNKNOWN_TRANSFER: kbk_status = 340;
/// Register: the transfer does not name the requester.
pub const KBK_STATUS_REGISTER_NOT_YOUR_TRANSFER: kbk_status = 341;
/// Register: that certificate was already handed out.
pub const KBK_STATUS_REGISTER_ALREADY_CLAIMED: kbk_status = 342;
/// Register: malformed reissue (too few parts, duplicates, mixed classes).
pub const KBK_STATUS_REGISTER_BAD_REISSUE: kbk_status = 343;
/// Register: a text field is longer than the wire format allows.
pub const KBK_STATUS_REGISTER_TEXT_TOO_LONG: kbk_status = 344;
/// Register: the certificate-ID table is full.
pub const KBK_STATUS_REGISTER_TABLE_FULL: kbk_status = 345;
/// Register: the audit found live shares unequal to issued shares.
pub const KBK_STATUS_REGISTER_AUDIT: kbk_status = 346;
/// ID list: the snapshot or delta was refused (wrong signer or instrument,
/// bad signature, no snapshot yet, a gap, inconsistent, stale; the last
/// error says which).
pub const KBK_STATUS_ID_LIST_REFUSED: kbk_status = 350;
/// Settlement: no such account.
pub const KBK_STATUS_SETTLE_UNKNOWN_ACCOUNT: kbk_status = 401;
/// Settlement: the account exists already.
pub const KBK_STATUS_SETTLE_DUPLICATE_ACCOUNT: kbk_status = 402;
/// Settlement: the account belongs to another party.
pub const KBK_STATUS_SETTLE_NOT_OWNER: kbk_status = 403;
/// Settlement: not enough available cash.
pub const KBK_STATUS_SETTLE_INSUFFICIENT_FUNDS: kbk_status = 404;
/// Settlement: a negative, zero or overflowing amount.
pub const KBK_STATUS_SETTLE_BAD_AMOUNT: kbk_status = 405;
/// Settlement: a request refused for another reason (untrusted signer,
/// bad signature, replay, reservation problem; the last error says which).
pub const KBK_STATUS_SETTLE_REFUSED: kbk_status = 406;
/// Exchange: the instrument specification is invalid or already listed.
pub const KBK_STATUS_EXCHANGE_INVALID_INSTRUMENT: kbk_status = 410;
/// Exchange: `kbk_exchange_check_invariants` found a violation (the last
/// error lists them).
pub const KBK_STATUS_EXCHANGE_INVARIANT: kbk_status = 411;

/// Runtime: the handle's contents run on a `kbk_runtime`; it answers again
/// after `kbk_runtime_shutdown` gives them back.
pub const KBK_STATUS_IN_USE: kbk_status = 500;
/// Runtime: a queue is full or the producer has its capacity in flight
/// (back-pressure); nothing was handed over: try again.
pub const KBK_STATUS_RUNTIME_FULL: kbk_status = 501;
/// Runtime: shut down (or shutting down); nothing was handed over.
pub const KBK_STATUS_RUNTIME_CLOSED: kbk_status = 502;
/// Runtime: could not start (no shard, an exchange that has received
/// orders, an instrument in two shards; the last error says which).
pub const KBK_STATUS_RUNTIME_START: kbk_status = 503;
/// Runtime: the configured maximum number of producers was made already.
pub const KBK_STATUS_RUNTIME_NO_PRODUCER: kbk_status = 504;
/// Runtime: the subscriber fell behind and events were overwritten; it
/// goes on with the oldest event still held (the last error says how
/// many were missed).
pub const KBK_STATUS_RUNTIME_LAGGED: kbk_status = 505;
/// Runtime: called from one of the runtime's own callbacks, where it would
/// wait for itself.
pub const KBK_STATUS_RUNTIME_IN_CALLBACK: kbk_status = 506;
/// Runtime: the control is queued but its sequencer has not applied it
/// yet; wait again.
pub const KBK_STATUS_RUNTIME_PENDING: kbk_status = 507;
/// Runtime: a shard's sequencer failed (a panic in the engine: a bug);
/// the runtime stopped taking requests. At shutdown that shard's handles
/// are poisoned (their state cannot be trusted); the others are given
/// back.
pub const KBK_STATUS_RUNTIME_SHARD_FAILED: kbk_status = 508;

/// Gateway: bad instrument rules (lot, band, tick value must be positive,
/// the band non-empty, the largest quantity at least one lot).
pub const KBK_STATUS_GATEWAY_BAD_INSTRUMENT: kbk_status = 600;
/// Gateway: no instrument with this index.
pub const KBK_STATUS_GATEWAY_UNKNOWN_INSTRUMENT: kbk_status = 601;
/// Gateway: no account with this index.
pub const KBK_STATUS_GATEWAY_UNKNOWN_ACCOUNT: kbk_status = 602;
/// Gateway: a zero or negative quantity or amount.
pub const KBK_STATUS_GATEWAY_BAD_AMOUNT: kbk_status = 603;
/// Gateway: an amount would overflow (an account, or a 64-bit answer).
pub const KBK_STATUS_GATEWAY_OVERFLOW: kbk_status = 604;
/// Gateway: more than 2^32 - 1 accounts, instruments or certificates.
pub const KBK_STATUS_GATEWAY_FULL: kbk_status = 605;
/// Gateway: `kbk_gateway_check_invariants` found a violation (the last
/// error lists them).
pub const KBK_STATUS_GATEWAY_INVARIANT: kbk_status = 606;

/// The static message of a status (never NULL; "unknown status" for codes
/// this library does not know).
pub(crate) fn message(s: kbk_status) -> &'static CStr {
    match s {
        KBK_STATUS_OK => c"ok",
        KBK_STATUS_NULL_ARGUMENT => c"a required pointer argument was NULL",
        KBK_STATUS_INVALID_ARGUMENT => c"an argument was out of range",
        KBK_STATUS_INVALID_UTF8 => c"a string argument was not valid UTF-8",
        KBK_STATUS_BUFFER_TOO_SMALL => c"the output buffer is too small",
        KBK_STATUS_PANIC => c"internal error (panic caught); the handle is poisoned",
        KBK_STATUS_POISONED => c"the handle is poisoned by an earlier panic",
        KBK_STATUS_INVALID_HANDLE => c"not a live handle of the expected type",
        KBK_STATUS_NOT_FOUND => c"not found",
        KBK_STATUS_BOOK_DUPLICATE_ID => c"book: duplicate order id",
        KBK_STATUS_IN_USE => c"runtime: the handle's contents run on a runtime until its shutdown",
        KBK_STATUS_RUNTIME_FULL => {
            c"runtime: queue full (back-pressure), nothing handed over; try again"
        }
        KBK_STATUS_RUNTIME_CLOSED => c"runtime: shut down, nothing handed over",
        KBK_STATUS_RUNTIME_START => c"runtime: could not start",
        KBK_STATUS_RUNTIME_NO_PRODUCER => c"runtime: no more producers may be made",
        KBK_STATUS_RUNTIME_LAGGED => c"runtime: the subscriber fell behind; events were missed",
        KBK_STATUS_RUNTIME_IN_CALLBACK => c"runtime: not allowed from the runtime's own callbacks",
        KBK_STATUS_RUNTIME_PENDING => c"runtime: not applied yet; wait again",
        KBK_STATUS_RUNTIME_SHARD_FAILED => {
            c"runtime: a shard's sequencer failed; its handles are poisoned"
        }
        KBK_STATUS_GATEWAY_BAD_INSTRUMENT => c"gateway: bad instrument rules",
        KBK_STATUS_GATEWAY_UNKNOWN_INSTRUMENT => c"gateway: unknown instrument index",
        KBK_STATUS_GATEWAY_UNKNOWN_ACCOUNT => c"gateway: unknown account index",
        KBK_STATUS_GATEWAY_BAD_AMOUNT => c"gateway: quantity or amount must be positive",
        KBK_STATUS_GATEWAY_OVERFLOW => c"gateway: amount overflows",
        KBK_STATUS_GATEWAY_FULL => c"gateway: too many accounts, instruments or certificates",
        KBK_STATUS_GATEWAY_INVARIANT => c"gateway: invariant violated",
        KBK_STATUS_BOOK_UNKNOWN_ORDER => c"book: unknown order",
        KBK_STATUS_BOOK_INVALID_QUANTITY => c"book: invalid quantity",
        KBK_STATUS_BOOK_LOT_SIZE => c"book: quantity is not a multiple of the lot size",
        KBK_STATUS_BOOK_PRICE_OUT_OF_RANGE => c"book: price out of range",
        KBK_STATUS_BOOK_POST_ONLY_WOULD_CROSS => c"book: post-only order would cross",
        KBK_STATUS_BOOK_INVALID_ORDER_TYPE => c"book: invalid order type",
        KBK_STATUS_BOOK_ALREADY_EXPIRED => c"book: GTD expiry is not in the future",
        KBK_STATUS_BOOK_FULL => c"book: full",
        KBK_STATUS_BOOK_INVALID_CONFIG => c"book: invalid configuration",
        KBK_STATUS_MARKET_DUPLICATE_INSTRUMENT => c"market: instrument already listed",
        KBK_STATUS_OOB_AUTHENTICATION_FAILED => c"oob: authentication failed",
        KBK_STATUS_OOB_INVALID_SESSION => c"oob: invalid session",
        KBK_STATUS_OOB_CONTRACTOR_DISABLED => c"oob: contractor disabled",
        KBK_STATUS_OOB_ABOVE_MAXIMUM => c"oob: amount above the contractor's maximum",
        KBK_STATUS_OOB_ANSWER_REJECTED => c"oob: answer rejected",
        KBK_STATUS_OOB_TOO_MANY_PENDING => c"oob: too many pending requests",
        KBK_STATUS_OOB_NO_FREE_CALLBACK_LINE => c"oob: no free callback line",
        KBK_STATUS_OOB_METHOD_UNAVAILABLE => c"oob: confirmation method unavailable",
        KBK_STATUS_OOB_RANDOMNESS_FAILURE => c"oob: random number source failure",
        KBK_STATUS_OOB_DUPLICATE_USER_CODE => c"oob: duplicate user code",
        KBK_STATUS_OOB_UNKNOWN_CONTRACTOR => c"oob: unknown contractor",
        KBK_STATUS_OOB_INVALID_RECORD => c"oob: invalid contractor record",
        KBK_STATUS_OOB_INVALID_CONFIG => c"oob: invalid configuration",
        KBK_STATUS_OOB_AUDIT_VIOLATION => c"oob: audit chain violation",
        KBK_STATUS_CRYPTO_BAD_KEY => c"crypto: invalid public key",
        KBK_STATUS_CRYPTO_WEAK_KEY => c"crypto: weak (small-order) public key",
        KBK_STATUS_CRYPTO_BAD_SIGNATURE => c"crypto: bad signature",
        KBK_STATUS_WIRE_MALFORMED => c"wire: malformed message",
        KBK_STATUS_WIRE_WRONG_KIND => c"wire: message of the wrong kind",
        KBK_STATUS_MESSAGE_NO_FIELD => c"message: no such field or item",
        KBK_STATUS_MESSAGE_FIELD_TYPE => c"message: field has another type",
        KBK_STATUS_IDENTITY_UNKNOWN_PARTY => c"identity: unknown party",
        KBK_STATUS_IDENTITY_EXPIRED => c"identity: attestation expired or not yet valid",
        KBK_STATUS_IDENTITY_REVOKED => c"identity: attestation revoked",
        KBK_STATUS_IDENTITY_BAD_ISSUER => c"identity: not issued by the trusted CA",
        KBK_STATUS_IDENTITY_USER_ID_MISMATCH => c"identity: user id does not match the signer",
        KBK_STATUS_IDENTITY_WRONG_ROLE => c"identity: wrong role",
        KBK_STATUS_IDENTITY_POLICY_VIOLATION => c"identity: policy violation",
        KBK_STATUS_IDENTITY_SUPERSEDED => c"identity: superseded by a newer attestation",
        KBK_STATUS_CERT_INVALID => c"certificate: invalid certificate or endorsement",
        KBK_STATUS_REGISTER_REPLAY => c"register: replayed request",
        KBK_STATUS_REGISTER_UNKNOWN_INSTRUMENT => c"register: unknown instrument",
        KBK_STATUS_REGISTER_FORGED_ID => c"register: forged certificate ID",
        KBK_STATUS_REGISTER_UNKNOWN_ID => c"register: unknown certificate ID",
        KBK_STATUS_REGISTER_NOT_LIVE => c"register: certificate ID not live",
        KBK_STATUS_REGISTER_DIGEST_MISMATCH => c"register: certificate differs from the register's",
        KBK_STATUS_REGISTER_WRONG_HOLDER => c"register: wrong holder",
        KBK_STATUS_REGISTER_QUANTITY_MISMATCH => c"register: quantity mismatch",
        KBK_STATUS_REGISTER_MISMATCH => c"register: request and certificate disagree",
        KBK_STATUS_REGISTER_EXCEEDS_AUTHORIZED => c"register: exceeds authorized shares",
        KBK_STATUS_REGISTER_UNKNOWN_TRANSFER => c"register: unknown transfer number",
        KBK_STATUS_REGISTER_NOT_YOUR_TRANSFER => c"register: transfer does not name the requester",
        KBK_STATUS_REGISTER_ALREADY_CLAIMED => c"register: certificate already claimed",
        KBK_STATUS_REGISTER_BAD_REISSUE => c"register: bad reissue",
        KBK_STATUS_REGISTER_TEXT_TOO_LONG => c"register: text field too long",
        KBK_STATUS_REGISTER_TABLE_FULL => c"register: certificate-ID table full",
        KBK_STATUS_REGISTER_AUDIT => c"register: audit failed",
        KBK_STATUS_ID_LIST_REFUSED => c"id list: snapshot or delta refused",
        KBK_STATUS_SETTLE_UNKNOWN_ACCOUNT => c"settlement: unknown account",
        KBK_STATUS_SETTLE_DUPLICATE_ACCOUNT => c"settlement: account exists",
        KBK_STATUS_SETTLE_NOT_OWNER => c"settlement: account belongs to another party",
        KBK_STATUS_SETTLE_INSUFFICIENT_FUNDS => c"settlement: insufficient funds",
        KBK_STATUS_SETTLE_BAD_AMOUNT => c"settlement: bad amount",
        KBK_STATUS_SETTLE_REFUSED => c"settlement: request refused",
        KBK_STATUS_EXCHANGE_INVALID_INSTRUMENT => c"exchange: invalid or duplicate instrument",
        KBK_STATUS_EXCHANGE_INVARIANT => c"exchange: invariant violated",
        _ => c"unknown status",
    }
}

/// A failure: its status and the message kept as the last error.
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) status: kbk_status,
    pub(crate) msg: String,
}

impl Fail {
    pub(crate) fn new(status: kbk_status, msg: impl Into<String>) -> Self {
        Fail {
            status,
            msg: msg.into(),
        }
    }
    pub(crate) fn null(what: &str) -> Self {
        Fail::new(KBK_STATUS_NULL_ARGUMENT, format!("{what} is NULL"))
    }
    pub(crate) fn arg(msg: impl Into<String>) -> Self {
        Fail::new(KBK_STATUS_INVALID_ARGUMENT, msg)
    }
}

pub(crate) type Res<T = ()> = Result<T, Fail>;

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

pub(crate) fn set_last_error(status: kbk_status, msg: &str) {
    let text = format!("{}: {msg}", message(status).to_string_lossy());
    LAST_ERROR.with(|e| *e.borrow_mut() = text);
}

pub(crate) fn with_last_error<R>(f: impl FnOnce(&str) -> R) -> R {
    LAST_ERROR.with(|e| f(&e.borrow()))
}

fn panic_text(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

fn finish(r: Res) -> kbk_status {
    match r {
        Ok(()) => KBK_STATUS_OK,
        Err(f) => {
            set_last_error(f.status, &f.msg);
            f.status
        }
    }
}

/// The panic boundary of a call without a handle.
#[inline]
pub(crate) fn guard(f: impl FnOnce() -> Res) -> kbk_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => finish(r),
        Err(p) => {
            set_last_error(KBK_STATUS_PANIC, &panic_text(&*p));
            KBK_STATUS_PANIC
        }
    }
}

/// What every handle starts with: a type tag (to catch a handle of another
/// type, or garbage) and the poisoned flag.
#[derive(Debug)]
pub(crate) struct Header {
    magic: u64,
    poisoned: AtomicBool,
    /// Set while a `with_mut` call runs, so a callback calling back into
    /// the same single-threaded handle is refused instead of aliasing it.
    busy: AtomicBool,
    /// Set while the handle's contents run on a runtime (`Excl::lend`):
    /// every call answers `KBK_STATUS_IN_USE`.
    lent: AtomicBool,
}

impl Header {
    pub(crate) const fn new(magic: u64) -> Self {
        Header {
            magic,
            poisoned: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            lent: AtomicBool::new(false),
        }
    }
}

/// A handle's contents, which a runtime may take away while it runs (the
/// handle then answers `KBK_STATUS_IN_USE` before any access, so the
/// `expect`s below are never reached; if one were, the panic boundary
/// would turn it into `KBK_STATUS_PANIC`).
#[derive(Debug)]
pub(crate) struct Slot<T>(Option<T>);

impl<T> Slot<T> {
    pub(crate) const fn new(v: T) -> Self {
        Slot(Some(v))
    }
    /// Takes the contents out (for a runtime).
    pub(crate) fn take(&mut self) -> Option<T> {
        self.0.take()
    }
    /// Puts the contents back.
    pub(crate) fn put(&mut self, v: T) {
        self.0 = Some(v);
    }
}

impl<T> core::ops::Deref for Slot<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0
            .as_ref()
            .expect("the handle's contents are lent to a runtime")
    }
}

impl<T> core::ops::DerefMut for Slot<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0
            .as_mut()
            .expect("the handle's contents are lent to a runtime")
    }
}

/// An opaque handle type.
pub(crate) trait Handle {
    /// The type tag.
    const MAGIC: u64;
    /// The handle's header (must be the first field, `repr(C)`).
    fn header(&self) -> &Header;
}

/// The header of a handle of type `H` (NULL, misaligned and other types
/// refused), whatever its state.
fn header_of<'a, H: Handle>(h: *const H) -> Res<&'a Header> {
    if h.is_null() {
        return Err(Fail::null("handle"));
    }
    if !h.is_aligned() {
        return Err(Fail::new(KBK_STATUS_INVALID_HANDLE, "misaligned handle"));
    }
    // SAFETY: the C caller's contract (kabuken.h): a handle argument is
    // NULL or a pointer this library returned and that has not been freed.
    // It is non-NULL and aligned here. Every handle is `repr(C)` with the
    // `Header` first, so reading the header is valid for any handle type,
    // which is how a handle of another type is caught.
    let header = unsafe { &*h.cast::<Header>() };
    if header.magic != H::MAGIC {
        return Err(Fail::new(
            KBK_STATUS_INVALID_HANDLE,
            "not a handle of the expected type (or already freed)",
        ));
    }
    Ok(header)
}

fn check_header<'a, H: Handle>(h: *const H) -> Res<&'a Header> {
    let header = header_of(h)?;
    if header.poisoned.load(Ordering::Relaxed) {
        return Err(Fail::new(KBK_STATUS_POISONED, "free the handle"));
    }
    if header.lent.load(Ordering::Acquire) {
        return Err(Fail::new(
            KBK_STATUS_IN_USE,
            "its contents run on a runtime (until its shutdown)",
        ));
    }
    Ok(header)
}

/// The panic boundary of a call on a handle used through `&mut` (single
/// thread at a time): checks the handle, runs `f`, poisons on panic.
#[inline]
pub(crate) fn with_mut<H: Handle>(h: *mut H, f: impl FnOnce(&mut H) -> Res) -> kbk_status {
    let header = match check_header(h) {
        Ok(hd) => hd,
        Err(e) => return finish(Err(e)),
    };
    if header.busy.load(Ordering::Relaxed) {
        return finish(Err(Fail::new(
            KBK_STATUS_INVALID_HANDLE,
            "called from one of this handle's own callbacks",
        )));
    }
    header.busy.store(true, Ordering::Relaxed);
    // SAFETY: checked non-NULL, aligned and of the right type above; the
    // header documents that a handle of this type is used by one thread at
    // a time, and `busy` refuses re-entry from its callbacks, so this is
    // the only reference.
    let r = catch_unwind(AssertUnwindSafe(|| f(unsafe { &mut *h })));
    header.busy.store(false, Ordering::Relaxed);
    after(h, r)
}

/// The panic boundary of a call on a handle shared between threads (`&`).
#[inline]
pub(crate) fn with_ref<H: Handle + Sync>(h: *const H, f: impl FnOnce(&H) -> Res) -> kbk_status {
    if let Err(e) = check_header(h) {
        return finish(Err(e));
    }
    // SAFETY: checked non-NULL, aligned and of the right type above; the
    // type is `Sync`, so shared references from many threads are fine.
    let r = catch_unwind(AssertUnwindSafe(|| f(unsafe { &*h })));
    after(h, r)
}

/// A handle given as a further argument of a call (not the one the call
/// is on), shared: checked like the main handle. For immutable, `Sync`
/// handle types only (messages, keys), so no exclusive access is needed.
#[inline]
pub(crate) fn borrow<'a, H: Handle + Sync>(h: *const H) -> Res<&'a H> {
    check_header(h)?;
    // SAFETY: checked non-NULL, aligned and of the right type; the type is
    // immutable after creation and `Sync`, so a shared reference for the
    // duration of the call is fine (the caller must not free it meanwhile).
    Ok(unsafe { &*h })
}

/// Marks a single-threaded handle busy for the duration of a call that
/// uses several handles at once; clears the flag when dropped.
struct Busy<'a>(&'a Header);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::Relaxed);
    }
}

fn enter<'a, H: Handle>(h: *const H) -> Res<Busy<'a>> {
    let header = check_header(h)?;
    if header.busy.swap(true, Ordering::Relaxed) {
        return Err(Fail::new(
            KBK_STATUS_INVALID_HANDLE,
            "handle already in use by this call or one of its callbacks",
        ));
    }
    Ok(Busy(header))
}

/// Exclusive access to a single-threaded handle that is not the subject of
/// the call (a runtime taking or giving back an exchange's, register's or
/// ledger's contents), held until dropped: the handle is marked busy, so
/// any other call on it meanwhile is refused. A panic while it is held
/// poisons the handle.
pub(crate) struct Excl<'a, H: Handle> {
    h: *mut H,
    _busy: Busy<'a>,
}

impl<H: Handle> Excl<'_, H> {
    /// The handle's address (to recognise it again).
    pub(crate) fn addr(&self) -> usize {
        self.h as usize
    }
    /// The handle.
    pub(crate) fn get(&mut self) -> &mut H {
        // SAFETY: `h` was checked non-NULL, aligned and of type `H` in
        // `exclusive`/`reclaim`; `busy` (held by `self`) refuses every other
        // call on it, and the handle is documented as used by one thread at
        // a time, so this is the only reference while `self` lives.
        unsafe { &mut *self.h }
    }
    /// Poisons the handle (its contents cannot be trusted): every later
    /// call answers `KBK_STATUS_POISONED`.
    pub(crate) fn poison(&mut self) {
        self.get().header().poisoned.store(true, Ordering::Relaxed);
    }
    /// Marks the handle lent (or back): while lent, every call on it
    /// answers `KBK_STATUS_IN_USE`; `kbk_*_free` still frees it.
    pub(crate) fn set_lent(&mut self, lent: bool) {
        self.get().header().lent.store(lent, Ordering::Release);
    }
}

impl<H: Handle> core::fmt::Debug for Excl<'_, H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Excl").field("h", &self.h).finish()
    }
}

impl<H: Handle> Drop for Excl<'_, H> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.get().header().poisoned.store(true, Ordering::Relaxed);
        }
    }
}

/// Exclusive access to a live, not lent handle (see [`Excl`]).
pub(crate) fn exclusive<'a, H: Handle>(h: *mut H) -> Res<Excl<'a, H>> {
    Ok(Excl {
        h,
        _busy: enter(h)?,
    })
}

/// Exclusive access to a handle lent to a runtime (to give its contents
/// back); `KBK_STATUS_INVALID_ARGUMENT` when it is not lent.
pub(crate) fn reclaim<'a, H: Handle>(h: *mut H) -> Res<Excl<'a, H>> {
    let header = header_of(h)?;
    if !header.lent.load(Ordering::Acquire) {
        return Err(Fail::arg("the handle is not lent to a runtime"));
    }
    if header.busy.swap(true, Ordering::Relaxed) {
        return Err(Fail::new(
            KBK_STATUS_INVALID_HANDLE,
            "handle already in use by this call",
        ));
    }
    Ok(Excl {
        h,
        _busy: Busy(header),
    })
}

/// The panic boundary of a call on three single-threaded handles of
/// different types at once (an exchange with its register and ledger):
/// checks all three, runs `f`, poisons all three on a panic (the call may
/// have left any of them half-changed).
pub(crate) fn with_mut3<A: Handle, B: Handle, C: Handle>(
    a: *mut A,
    b: *mut B,
    c: *mut C,
    f: impl FnOnce(&mut A, &mut B, &mut C) -> Res,
) -> kbk_status {
    let busy = match (|| Ok((enter(a)?, enter(b)?, enter(c)?)))() {
        Ok(x) => x,
        Err(e) => return finish(Err(e)),
    };
    // SAFETY: each pointer was checked non-NULL, aligned and of its type;
    // the types differ (distinct magics), so the three references do not
    // alias; `busy` refuses any other use of them during the call, and each
    // handle is documented as used by one thread at a time.
    let r = catch_unwind(AssertUnwindSafe(|| unsafe { f(&mut *a, &mut *b, &mut *c) }));
    drop(busy);
    if r.is_err() {
        // SAFETY: checked valid above; a panic does not free them.
        unsafe { &*b }
            .header()
            .poisoned
            .store(true, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { &*c }
            .header()
            .poisoned
            .store(true, Ordering::Relaxed);
    }
    after(a, r)
}

fn after<H: Handle>(h: *const H, r: std::thread::Result<Res>) -> kbk_status {
    match r {
        Ok(r) => finish(r),
        Err(p) => {
            // SAFETY: `h` was checked valid before the call; a panic does
            // not free it (only `*_free` does).
            unsafe { &*h }
                .header()
                .poisoned
                .store(true, Ordering::Relaxed);
            set_last_error(KBK_STATUS_PANIC, &panic_text(&*p));
            KBK_STATUS_PANIC
        }
    }
}

/// Boxes a new handle for C.
pub(crate) fn into_raw<H>(h: H) -> *mut H {
    Box::into_raw(Box::new(h))
}

/// Frees a handle from `*_new` (NULL, a handle of another type and a
/// poisoned handle are fine). Never unwinds.
pub(crate) fn free<H: Handle>(h: *mut H) {
    if h.is_null() || !h.is_aligned() {
        return;
    }
    // SAFETY: as in `check_header`: non-NULL, aligned, a handle from this
    // library; the header is first in every handle.
    let header = unsafe { &*h.cast::<Header>() };
    if header.magic != H::MAGIC {
        return;
    }
    // SAFETY: the pointer came from `into_raw` (`Box::into_raw`) for this
    // type (the magic says so) and the caller gives up its ownership here.
    let mut b = unsafe { Box::from_raw(h) };
    // Clear the tag before the memory is returned, so a later call with the
    // dangling pointer is more likely to be refused than misused.
    // SAFETY: `b` owns the handle; the header is its first field.
    unsafe { (*(&mut *b as *mut H).cast::<Header>()).magic = 0 };
    let _ = catch_unwind(AssertUnwindSafe(move || drop(b)));
}

// ---- pointer helpers ------------------------------------------------------
//
// The C caller's contract, stated in kabuken.h: every non-NULL pointer
// argument points to valid, initialised memory of the documented type and
// length for the duration of the call, and output pointers are writable.
// The helpers below check what can be checked (NULL, alignment, length
// overflow, UTF-8) and rely on that contract for the rest.

/// A required input object.
#[inline]
pub(crate) fn req<'a, T>(p: *const T, what: &str) -> Res<&'a T> {
    if p.is_null() {
        return Err(Fail::null(what));
    }
    if !p.is_aligned() {
        return Err(Fail::arg(format!("{what} is misaligned")));
    }
    // SAFETY: non-NULL and aligned; valid by the C caller's contract.
    Ok(unsafe { &*p })
}

/// An optional input object (NULL gives `None`).
#[inline]
pub(crate) fn opt<'a, T>(p: *const T, what: &str) -> Res<Option<&'a T>> {
    if p.is_null() {
        Ok(None)
    } else {
        req(p, what).map(Some)
    }
}

/// An output object, written once on success through a raw pointer (the
/// memory behind it may be uninitialised, so no reference to it is made).
#[derive(Debug)]
pub(crate) struct Out<'a, T>(*mut T, core::marker::PhantomData<&'a mut T>);

impl<T> Out<'_, T> {
    /// Writes the result.
    #[inline]
    pub(crate) fn set(self, v: T) {
        // SAFETY: checked non-NULL and aligned in `out`; writable by the C
        // caller's contract. `write` does not read or drop the old bytes.
        unsafe { self.0.write(v) }
    }
}

/// A required output object: checked before any work, written (with
/// [`Out::set`]) only on success.
#[inline]
pub(crate) fn out<'a, T>(p: *mut T, what: &str) -> Res<Out<'a, T>> {
    if p.is_null() {
        return Err(Fail::null(what));
    }
    if !p.is_aligned() {
        return Err(Fail::arg(format!("{what} is misaligned")));
    }
    Ok(Out(p, core::marker::PhantomData))
}

/// An output array, written element by element through a raw pointer.
#[derive(Debug)]
pub(crate) struct OutSlice<'a, T> {
    p: *mut T,
    n: usize,
    _m: core::marker::PhantomData<&'a mut T>,
}

impl<T> OutSlice<'_, T> {
    /// Capacity in elements.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.n
    }
    /// Writes element `i` (`i` must be below [`Self::len`]; checked).
    #[inline]
    pub(crate) fn set(&mut self, i: usize, v: T) {
        assert!(i < self.n, "output index out of bounds");
        // SAFETY: `i < n`, and `p` is valid for `n` writable elements
        // (checked non-NULL, aligned, size fits; C caller's contract).
        unsafe { self.p.add(i).write(v) }
    }
}

fn check_len<T>(p: *const T, n: usize, what: &str) -> Res<bool> {
    if n == 0 {
        return Ok(false);
    }
    if p.is_null() {
        return Err(Fail::null(what));
    }
    if !p.is_aligned() {
        return Err(Fail::arg(format!("{what} is misaligned")));
    }
    if n.checked_mul(core::mem::size_of::<T>().max(1))
        .is_none_or(|b| b > isize::MAX as usize)
    {
        return Err(Fail::arg(format!("{what}: length {n} is too large")));
    }
    Ok(true)
}

/// An input array of `n` elements (`p` may be NULL when `n` is 0).
#[inline]
pub(crate) fn slice<'a, T>(p: *const T, n: usize, what: &str) -> Res<&'a [T]> {
    if !check_len(p, n, what)? {
        return Ok(&[]);
    }
    // SAFETY: non-NULL, aligned, length checked to fit in `isize`; `n`
    // initialised elements by the C caller's contract.
    Ok(unsafe { core::slice::from_raw_parts(p, n) })
}

/// An output array of `n` elements (`p` may be NULL when `n` is 0).
#[inline]
pub(crate) fn slice_mut<'a, T>(p: *mut T, n: usize, what: &str) -> Res<OutSlice<'a, T>> {
    let n = if check_len(p, n, what)? { n } else { 0 };
    Ok(OutSlice {
        p,
        n,
        _m: core::marker::PhantomData,
    })
}

/// Writes up to `cap` items into the array `p` and the number written
/// into `*out_n` (argument checks first: `p` may be NULL when `cap` is 0).
pub(crate) fn fill<T>(
    p: *mut T,
    cap: usize,
    out_n: *mut usize,
    what: &str,
    items: impl IntoIterator<Item = T>,
) -> Res {
    let mut dst = slice_mut(p, cap, what)?;
    let o = out(out_n, "out_n")?;
    let mut n = 0;
    for x in items.into_iter().take(dst.len()) {
        dst.set(n, x);
        n += 1;
    }
    o.set(n);
    Ok(())
}

/// A required NUL-terminated UTF-8 string.
#[inline]
pub(crate) fn string<'a>(p: *const c_char, what: &str) -> Res<&'a str> {
    if p.is_null() {
        return Err(Fail::null(what));
    }
    // SAFETY: non-NULL; a NUL-terminated string by the C caller's contract.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str()
        .map_err(|_| Fail::new(KBK_STATUS_INVALID_UTF8, format!("{what} is not UTF-8")))
}

/// A fixed-size byte array behind a pointer.
#[inline]
pub(crate) fn bytes32<'a>(p: *const u8, what: &str) -> Res<&'a [u8; 32]> {
    req(p.cast::<[u8; 32]>(), what)
}

/// A 0/1 flag from C.
#[inline]
pub(crate) fn flag(v: u8, what: &str) -> Res<bool> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(Fail::arg(format!("{what} must be 0 or 1, got {v}"))),
    }
}

/// Copies `s` and a NUL into `buf` of `cap` bytes (only if it fits).
pub(crate) fn write_cstr(s: &str, buf: *mut c_char, cap: usize, out_len: *mut usize) -> Res {
    let out_len = out(out_len, "out_len")?;
    let mut dst = slice_mut(buf.cast::<u8>(), cap, "buf")?;
    if s.len() >= cap {
        return Err(Fail::new(
            KBK_STATUS_BUFFER_TOO_SMALL,
            format!("{} bytes needed (with the NUL), {cap} given", s.len() + 1),
        ));
    }
    for (i, b) in s.bytes().enumerate() {
        dst.set(i, b);
    }
    dst.set(s.len(), 0);
    out_len.set(s.len());
    Ok(())
}

pub(crate) fn set_last_error_raw(text: String) {
    LAST_ERROR.with(|e| *e.borrow_mut() = text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C)]
    struct T {
        header: Header,
        v: u32,
    }
    impl Handle for T {
        const MAGIC: u64 = 42;
        fn header(&self) -> &Header {
            &self.header
        }
    }

    #[test]
    fn a_panic_poisons_the_handle_and_never_unwinds() {
        let h = into_raw(T {
            header: Header::new(T::MAGIC),
            v: 1,
        });
        assert_eq!(
            with_mut(h, |t| {
                t.v = 2;
                Ok(())
            }),
            KBK_STATUS_OK
        );
        assert_eq!(with_mut(h, |_| panic!("boom")), KBK_STATUS_PANIC);
        assert!(with_last_error(|e| e.contains("boom")));
        assert_eq!(with_mut(h, |_| Ok(())), KBK_STATUS_POISONED);
        assert_eq!(guard(|| panic!("free-standing")), KBK_STATUS_PANIC);
        free(h);
        free::<T>(core::ptr::null_mut());
        assert_eq!(
            with_mut::<T>(core::ptr::null_mut(), |_| Ok(())),
            KBK_STATUS_NULL_ARGUMENT
        );
    }

    macro_rules! handle_type {
        ($name:ident, $magic:expr) => {
            #[repr(C)]
            struct $name {
                header: Header,
            }
            impl Handle for $name {
                const MAGIC: u64 = $magic;
                fn header(&self) -> &Header {
                    &self.header
                }
            }
        };
    }
    handle_type!(A, 1);
    handle_type!(B, 2);
    handle_type!(C, 3);

    #[test]
    fn a_panic_in_a_three_handle_call_poisons_all_three() {
        let a = into_raw(A {
            header: Header::new(A::MAGIC),
        });
        let b = into_raw(B {
            header: Header::new(B::MAGIC),
        });
        let c = into_raw(C {
            header: Header::new(C::MAGIC),
        });
        assert_eq!(with_mut3(a, b, c, |_, _, _| Ok(())), KBK_STATUS_OK);
        // A handle of the wrong type in any place is refused, nothing runs.
        assert_eq!(
            with_mut3(a, b, a.cast::<C>(), |_, _, _| panic!("not run")),
            KBK_STATUS_INVALID_HANDLE
        );
        // The refused call left no handle busy.
        assert_eq!(with_mut(b, |_| Ok(())), KBK_STATUS_OK);
        assert_eq!(
            with_mut3(a, b, c, |_, _, _| panic!("boom")),
            KBK_STATUS_PANIC
        );
        assert_eq!(with_mut(a, |_| Ok(())), KBK_STATUS_POISONED);
        assert_eq!(with_mut(b, |_| Ok(())), KBK_STATUS_POISONED);
        assert_eq!(with_mut(c, |_| Ok(())), KBK_STATUS_POISONED);
        free(a);
        free(b);
        free(c);
    }

    #[test]
    fn a_lent_handle_answers_in_use_until_reclaimed() {
        let h = into_raw(T {
            header: Header::new(T::MAGIC),
            v: 1,
        });
        // Not lent: nothing to reclaim.
        assert_eq!(
            reclaim(h).err().map(|f| f.status),
            Some(KBK_STATUS_INVALID_ARGUMENT)
        );
        {
            let mut x = exclusive(h).expect("exclusive");
            // Held: any other call, and a second hold, are refused.
            assert_eq!(with_mut(h, |_| Ok(())), KBK_STATUS_INVALID_HANDLE);
            assert!(exclusive(h).is_err());
            x.get().v = 2;
            x.set_lent(true);
        }
        assert_eq!(with_mut(h, |_| Ok(())), KBK_STATUS_IN_USE);
        assert!(exclusive(h).is_err());
        {
            let mut x = reclaim(h).expect("reclaim");
            assert_eq!(x.get().v, 2);
            x.set_lent(false);
        }
        assert_eq!(with_mut(h, |_| Ok(())), KBK_STATUS_OK);
        // A lent handle may still be freed.
        exclusive(h).expect("exclusive").set_lent(true);
        free(h);
        assert_eq!(
            reclaim::<T>(core::ptr::null_mut()).err().map(|f| f.status),
            Some(KBK_STATUS_NULL_ARGUMENT)
        );
    }

    #[test]
    fn a_slot_hands_its_contents_out_and_back() {
        let mut s = Slot::new(5u32);
        *s += 1;
        assert_eq!(s.take(), Some(6));
        assert!(std::panic::catch_unwind(AssertUnwindSafe(|| *s)).is_err());
        s.put(7);
        assert_eq!(*s, 7);
    }

    #[test]
    fn every_status_has_a_message() {
        for s in 0..700 {
            assert!(!message(s).to_bytes().is_empty());
        }
        // Every named status has its own message, and the numbers differ.
        let mut seen = std::collections::BTreeSet::new();
        for line in include_str!("status.rs").lines() {
            let Some(rest) = line.strip_prefix("pub const KBK_STATUS_") else {
                continue;
            };
            let n: kbk_status = rest
                .split("= ")
                .nth(1)
                .and_then(|v| v.trim_end_matches(';').parse().ok())
                .expect("a number");
            assert!(seen.insert(n), "status {n} twice");
            assert_ne!(message(n), c"unknown status", "status {n}");
        }
        assert!(seen.len() > 70);
        assert_eq!(message(KBK_STATUS_OK), c"ok");
    }
}
