//! What producers hand in and what comes back.

use crate::crypto::{Digest, Message, MessageSignature, MsgKind, Signed, UserId, WireError};
use crate::exchange::{
    Answer, AnyMessage, CancelRequest, ModifyRequest, OrderRequest, Outgoing, ReduceRequest,
};
use crate::register::RegisterDoc;
use crate::types::{InstrumentId, Timestamp};

/// A request to the exchange, as a producer hands it in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// A new order (phase 2).
    Order(Signed<OrderRequest>),
    /// A cancel.
    Cancel(Signed<CancelRequest>),
    /// A reduce.
    Reduce(Signed<ReduceRequest>),
    /// A modify.
    Modify(Signed<ModifyRequest>),
}

/// Calls `$e` with the inner `Signed<_>` of a [`Request`].
macro_rules! each_request {
    ($self:expr, $m:ident => $e:expr) => {
        match $self {
            Request::Order($m) => $e,
            Request::Cancel($m) => $e,
            Request::Reduce($m) => $e,
            Request::Modify($m) => $e,
        }
    };
}

impl Request {
    /// Strictly decodes a signed order, cancel, reduce or modify request.
    ///
    /// # Errors
    /// The decoder's error, or [`WireError::WrongKind`] for any other kind
    /// of message.
    pub fn decode(bytes: &[u8]) -> Result<Request, WireError> {
        match AnyMessage::decode(bytes)? {
            AnyMessage::OrderRequest(m) => Ok(Request::Order(m)),
            AnyMessage::CancelRequest(m) => Ok(Request::Cancel(m)),
            AnyMessage::ReduceRequest(m) => Ok(Request::Reduce(m)),
            AnyMessage::ModifyRequest(m) => Ok(Request::Modify(m)),
            _ => Err(WireError::WrongKind),
        }
    }

    /// For a trusted gateway that authenticated the session itself: the
    /// order without a signature (its signature stays pending; only a
    /// runtime in trusted-gateway mode accepts it).
    #[must_use]
    pub fn trusted_order(body: OrderRequest) -> Request {
        let user = body.user_id;
        Request::Order(Signed::pending(body, user, 0))
    }

    /// A trusted cancel (see [`Request::trusted_order`]).
    #[must_use]
    pub fn trusted_cancel(body: CancelRequest) -> Request {
        let user = body.user_id;
        Request::Cancel(Signed::pending(body, user, 0))
    }

    /// The signer.
    #[must_use]
    pub fn signer(&self) -> UserId {
        each_request!(self, m => m.signer)
    }

    /// The message kind.
    #[must_use]
    pub fn kind(&self) -> MsgKind {
        match self {
            Request::Order(_) => OrderRequest::KIND,
            Request::Cancel(_) => CancelRequest::KIND,
            Request::Reduce(_) => ReduceRequest::KIND,
            Request::Modify(_) => ModifyRequest::KIND,
        }
    }

    /// The user id the request is made for.
    #[must_use]
    pub fn user(&self) -> UserId {
        match self {
            Request::Order(m) => m.body.user_id,
            Request::Cancel(m) => m.body.user_id,
            Request::Reduce(m) => m.body.user_id,
            Request::Modify(m) => m.body.user_id,
        }
    }

    /// BLAKE3 of the wire bytes (what receipts and notices echo).
    #[must_use]
    pub fn digest(&self) -> Digest {
        each_request!(self, m => m.digest())
    }

    /// The bytes the signature covers (without the domain label).
    #[must_use]
    pub fn signed_bytes(&self) -> Vec<u8> {
        each_request!(self, m => m.signed_bytes())
    }

    /// The signature.
    #[must_use]
    pub fn signature(&self) -> &MessageSignature {
        each_request!(self, m => &m.signature)
    }

    /// The canonical wire bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        each_request!(self, m => m.to_bytes())
    }

    /// The instrument of an order.
    #[must_use]
    pub fn instrument(&self) -> Option<InstrumentId> {
        match self {
            Request::Order(m) => Some(m.body.instrument),
            _ => None,
        }
    }

    /// The order an amendment names.
    #[must_use]
    pub fn reception_number(&self) -> Option<u64> {
        match self {
            Request::Order(_) => None,
            Request::Cancel(m) => Some(m.body.reception_number),
            Request::Reduce(m) => Some(m.body.reception_number),
            Request::Modify(m) => Some(m.body.reception_number),
        }
    }
}

/// The answer to one submitted request, delivered to its producer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The producer's running number of the request (returned by
    /// [`super::Producer::submit`]).
    pub ticket: u64,
    /// The global sequence number, when the request reached a sequencer
    /// (`None`: refused by the verification stage, nothing changed).
    pub sequence: Option<u64>,
    /// The signed receipt or refusal. Batch-signed by the exchange; in
    /// trusted-gateway mode the answer is not signed (its signature is
    /// [`MessageSignature::Pending`]): the gateway authenticates its
    /// sessions itself.
    pub answer: Answer,
}

/// Messages for parties other than the producer, and the register's
/// documents: what the signing stage releases after signing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notification {
    /// A message of the exchange (completion notices, refusals of
    /// certificates at transfer, released certificates, transfer and
    /// settlement messages), signed.
    Exchange(Outgoing),
    /// A certificate or an ID-list delta, signed by the register.
    Register(RegisterDoc),
}

/// One input as the sequencer ordered it: replayed through the synchronous
/// [`crate::exchange::Exchange`] it reproduces the runtime's decisions and
/// state ([`super::replay_journal`]).
// Nearly every entry is a request: boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sequenced {
    /// The shard numbers orders `first`, `first + stride`, ... (the
    /// journal's first entry).
    Numbering {
        /// First reception number.
        first: u64,
        /// Step between reception numbers (the number of shards).
        stride: u64,
    },
    /// An administrative operation, applied at exchange time `now`.
    Control {
        /// Exchange time.
        now: Timestamp,
        /// The operation.
        control: super::Control,
    },
    /// The exchange clock moved to this time (GTD expiry, held orders).
    Time(Timestamp),
    /// A request, with its global sequence number and the time it was
    /// applied at.
    Request {
        /// Global sequence number.
        sequence: u64,
        /// Exchange time.
        now: Timestamp,
        /// The request.
        request: Request,
    },
}
