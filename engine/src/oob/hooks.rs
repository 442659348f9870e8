//! The seams to the host: the exchange (forward or release a held request),
//! the second-channel delivery, the duress alarm and the biometric verifier.
//! The service calls them outside its locks, exactly once per outcome.

use super::contractor::{ConfirmMethod, Device};
use super::tx::{seconds_until, spell_digits, Transaction, TxDigest};
use super::{ContractorId, LineId, RequestRef};
use crate::types::Timestamp;

/// A request the service has decided about, as the host sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingRequest {
    /// The service's reference for it.
    pub request_ref: RequestRef,
    /// Whose.
    pub contractor: ContractorId,
    /// What.
    pub transaction: Transaction,
    /// The digest the confirmation was bound to; the host forwards only a
    /// transaction with this digest.
    pub tx_digest: TxDigest,
    /// How it is (or was not) confirmed.
    pub method: ConfirmMethod,
    /// When it was submitted.
    pub submitted_at: Timestamp,
    /// When it expires if unanswered (equals `submitted_at` for requests
    /// forwarded without confirmation).
    pub expires_at: Timestamp,
}

impl PendingRequest {
    /// Whether `tx` is exactly the transaction that was confirmed.
    #[must_use]
    pub fn matches(&self, tx: &Transaction) -> bool {
        tx.digest() == self.tx_digest
    }
}

/// Why a held request's reservations are released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReleaseReason {
    /// The holder answered with the cancel code.
    Cancelled,
    /// The holder answered with a duress code. The host must not let this
    /// reach the terminal: the answer there was "accepted".
    Duress,
    /// Too many wrong answers (this request or, after the contractor was
    /// locked out, one of its other pending requests).
    LockedOut,
    /// Unanswered past its lifetime.
    Expired,
    /// The operator disabled the contractor while it was pending.
    Disabled,
}

/// The exchange side of the integration: called at order reception's end.
///
/// Contract: for every request the service answered with
/// [`super::Disposition::HoldPending`] the host reserves the order's
/// certificates and cash in [`Self::hold`]; later the service calls exactly one of
/// [`Self::forward`] (confirmed: the reservations go with the order to the
/// exchange) or [`Self::release`] (voided or cancelled: release them), once.
/// Requests answered with [`super::Disposition::ForwardNow`] never come
/// back here.
pub trait Forward: Send + Sync {
    /// The request entered the pending store: reserve its certificates and
    /// cash. Called before any confirmation information is delivered, so it
    /// always precedes the matching [`Self::forward`] or [`Self::release`].
    fn hold(&self, request: &PendingRequest);
    /// Confirmed: send it to the exchange.
    fn forward(&self, request: &PendingRequest);
    /// Finished without confirmation: release its reservations.
    fn release(&self, request: &PendingRequest, reason: ReleaseReason);
}

/// What a duress answer reports to the alarm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DuressReport {
    /// The request that was voided.
    pub request: PendingRequest,
    /// The contractor's user code.
    pub user_code: String,
    /// The callback line the answer came on, if lines are used.
    pub line: Option<LineId>,
    /// When the answer arrived.
    pub at: Timestamp,
    /// Whether the duress code came with the cancel code (the request is then
    /// reported cancelled to the caller) rather than the confirmation code.
    pub with_cancel: bool,
}

/// Raised on a duress answer (the seed calls the police). Keep it fast or
/// hand the report to another thread: it runs inside the answer call, and a
/// slow alarm would make the duress answer slower than a normal one.
pub trait DuressAlarm: Send + Sync {
    /// The holder signalled coercion.
    fn raise(&self, report: &DuressReport);
}

/// A pluggable biometric check (fingerprint, face) on the holder's device.
pub trait BiometricVerifier: Send + Sync {
    /// Whether `sample` is the contractor's, for this `challenge` (a digest
    /// binding the request and its transaction).
    fn verify(&self, contractor: ContractorId, challenge: &[u8; 32], sample: &[u8]) -> bool;
}

/// Confirmation information for the holder's devices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfirmationInfo {
    /// The request to answer.
    pub request_ref: RequestRef,
    /// Whose request.
    pub contractor: ContractorId,
    /// The confirmation code (exactly the configured number of digits).
    pub code: String,
    /// The code that cancels instead.
    pub cancel_code: String,
    /// The callback line to answer on, when the service uses lines.
    pub line: Option<LineId>,
    /// The transaction.
    pub transaction: Transaction,
    /// Its digest (an app shows the summary and signs over this).
    pub tx_digest: TxDigest,
    /// What the answer must carry beyond the codes.
    pub method: ConfirmMethod,
    /// When the request was made.
    pub issued_at: Timestamp,
    /// When the code stops working.
    pub expires_at: Timestamp,
}

impl ConfirmationInfo {
    /// A pager/SMS line, e.g.
    /// `KBK#12 BUY 7203 x100 @2150 =215000 OK 04291734 NO 55120983 L3 300s`.
    #[must_use]
    pub fn short_text(&self) -> String {
        let mut s = format!(
            "KBK#{} {} OK {} NO {}",
            self.request_ref.0,
            self.transaction.short_summary(),
            self.code,
            self.cancel_code
        );
        if let Some(l) = self.line {
            s.push_str(&format!(" L{l}"));
        }
        s.push_str(&format!(
            " {}s",
            seconds_until(self.issued_at, self.expires_at)
        ));
        s
    }

    /// What a voice channel reads out.
    #[must_use]
    pub fn spoken_text(&self) -> String {
        let mut s = format!(
            "Request {} asks to {}. To confirm, say your second code and the code {}. \
             To cancel, use the code {}.",
            self.request_ref.0,
            self.transaction.spoken_summary(),
            spell_digits(&self.code),
            spell_digits(&self.cancel_code)
        );
        if let Some(l) = self.line {
            s.push_str(&format!(" Answer on line {l}."));
        }
        s.push_str(&format!(
            " The code is valid for {} seconds.",
            seconds_until(self.issued_at, self.expires_at)
        ));
        s
    }
}

/// Something the service sends over the second channel.
#[derive(Clone, Copy, Debug)]
pub enum Notice<'a> {
    /// Please confirm this request.
    Confirmation(&'a ConfirmationInfo),
    /// Too many wrong answers: the request was voided and the contractor
    /// disabled.
    LockedOut {
        /// The request that reached the limit.
        request_ref: RequestRef,
        /// When.
        at: Timestamp,
    },
}

/// A delivery the host could not make.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeliveryFailed;

/// The second channel, implemented by the host (pager gateway, SMS, app
/// push, voice call).
pub trait DeliveryChannel: Send + Sync {
    /// Sends `notice` to `device`.
    ///
    /// # Errors
    /// [`DeliveryFailed`] when it could not be sent; in sequential mode the
    /// service then moves on to the next device.
    fn deliver(&self, device: &Device, notice: &Notice<'_>) -> Result<(), DeliveryFailed>;
}
