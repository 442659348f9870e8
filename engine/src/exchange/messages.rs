//! The signed messages of the trading phase (seed 001 drawings 12, 13 and
//! 18, plus cancel, reduce, modify and the signed refusal), with their
//! canonical encodings, and [`AnyMessage`], the decoder of every kind.

use rust_decimal::Decimal;

use crate::book::TimeInForce;
use crate::certs::{CertId, Certificate, MAX_TEXT};
use crate::crypto::{
    decode_seq, encode_seq, CryptoError, Decode, Digest, Encode, Message, MsgKind, PublicKey,
    Reader, Signed, UserId, WireError, Writer,
};
use crate::register;
use crate::settle::SettlementRequest;
use crate::settle::{get_decimal, put_decimal, AccountAnswer, AccountId, AccountInquiry};
use crate::types::{InstrumentId, Qty, Side, Ticks};

/// Most certificates attached to one sell order.
pub const MAX_CERTS: usize = 64;

fn put_side(w: &mut Writer, s: Side) {
    w.u8(s as u8);
}
fn get_side(r: &mut Reader<'_>) -> Result<Side, WireError> {
    Side::from_u8(r.u8()?).ok_or(WireError::BadTag)
}
fn put_tif(w: &mut Writer, t: TimeInForce) {
    match t {
        TimeInForce::Gtc => w.u8(0),
        TimeInForce::Ioc => w.u8(1),
        TimeInForce::Fok => w.u8(2),
        TimeInForce::Day => w.u8(3),
        TimeInForce::Gtd(at) => {
            w.u8(4);
            w.u64(at);
        }
    }
}
fn get_tif(r: &mut Reader<'_>) -> Result<TimeInForce, WireError> {
    Ok(match r.u8()? {
        0 => TimeInForce::Gtc,
        1 => TimeInForce::Ioc,
        2 => TimeInForce::Fok,
        3 => TimeInForce::Day,
        4 => TimeInForce::Gtd(r.u64()?),
        _ => return Err(WireError::BadTag),
    })
}
fn put_opt_i64(w: &mut Writer, v: Option<i64>) {
    match v {
        None => w.u8(0),
        Some(x) => {
            w.u8(1);
            w.i64(x);
        }
    }
}
fn get_opt_i64(r: &mut Reader<'_>) -> Result<Option<i64>, WireError> {
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(r.i64()?)),
        _ => Err(WireError::BadTag),
    }
}

/// Phase 2: an investor's order (drawing 12).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRequest {
    /// The investor's user id (must equal the signer).
    pub user_id: UserId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Share-class code (0 common, 1 preferred, 2 subordinated, 3 convertible).
    pub class: u8,
    /// Buy or sell.
    pub side: Side,
    /// Limit price in ticks of the instrument's published tick size;
    /// `None` for a market order.
    pub price: Option<Ticks>,
    /// Shares.
    pub quantity: Qty,
    /// Validity period (time in force; market orders take IOC or FOK).
    pub tif: TimeInForce,
    /// Refuse instead of taking liquidity.
    pub post_only: bool,
    /// The certificates sold (sell orders; empty for a buy).
    pub certificates: Vec<Signed<Certificate>>,
    /// Buyer's name and address (for the register; may be empty for a sell).
    pub name_address: String,
    /// Settlement account (pays for a buy, is paid for a sell).
    pub account: AccountId,
    /// Market buy: the most cash the order may reserve (its worst case at
    /// the top of the daily band must not exceed it).
    pub cash_cap: Option<Decimal>,
    /// Signer's sequence number.
    pub seq: u64,
}

impl Encode for OrderRequest {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.user_id);
        w.u32(self.instrument);
        w.u8(self.class);
        put_side(w, self.side);
        put_opt_i64(w, self.price);
        w.u64(self.quantity);
        put_tif(w, self.tif);
        w.bool(self.post_only);
        encode_seq(w, &self.certificates);
        w.str(&self.name_address);
        w.u64(self.account);
        match self.cash_cap {
            None => w.u8(0),
            Some(c) => {
                w.u8(1);
                put_decimal(w, c);
            }
        }
        w.u64(self.seq);
    }
}
impl Decode for OrderRequest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(OrderRequest {
            user_id: r.u64()?,
            instrument: r.u32()?,
            class: r.u8()?,
            side: get_side(r)?,
            price: get_opt_i64(r)?,
            quantity: r.u64()?,
            tif: get_tif(r)?,
            post_only: r.bool()?,
            certificates: decode_seq(r, MAX_CERTS)?,
            name_address: r.str(MAX_TEXT)?,
            account: r.u64()?,
            cash_cap: match r.u8()? {
                0 => None,
                1 => Some(get_decimal(r)?),
                _ => return Err(WireError::BadTag),
            },
            seq: r.u64()?,
        })
    }
}
impl Message for OrderRequest {
    const KIND: MsgKind = MsgKind::OrderRequest;
}

/// Cancel an open order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelRequest {
    /// Owner's user id (must equal the signer).
    pub user_id: UserId,
    /// The order's reception number.
    pub reception_number: u64,
    /// Signer's sequence number.
    pub seq: u64,
}

impl Encode for CancelRequest {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.user_id);
        w.u64(self.reception_number);
        w.u64(self.seq);
    }
}
impl Decode for CancelRequest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(CancelRequest {
            user_id: r.u64()?,
            reception_number: r.u64()?,
            seq: r.u64()?,
        })
    }
}
impl Message for CancelRequest {
    const KIND: MsgKind = MsgKind::CancelRequest;
}

/// Reduce an open order by `by` shares (keeps its priority).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReduceRequest {
    /// Owner's user id (must equal the signer).
    pub user_id: UserId,
    /// The order's reception number.
    pub reception_number: u64,
    /// Shares to remove.
    pub by: Qty,
    /// Signer's sequence number.
    pub seq: u64,
}

impl Encode for ReduceRequest {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.user_id);
        w.u64(self.reception_number);
        w.u64(self.by);
        w.u64(self.seq);
    }
}
impl Decode for ReduceRequest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(ReduceRequest {
            user_id: r.u64()?,
            reception_number: r.u64()?,
            by: r.u64()?,
            seq: r.u64()?,
        })
    }
}
impl Message for ReduceRequest {
    const KIND: MsgKind = MsgKind::ReduceRequest;
}

/// Give an open order a new limit price and open quantity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModifyRequest {
    /// Owner's user id (must equal the signer).
    pub user_id: UserId,
    /// The order's reception number.
    pub reception_number: u64,
    /// New limit price (ticks).
    pub price: Ticks,
    /// New open quantity.
    pub quantity: Qty,
    /// Signer's sequence number.
    pub seq: u64,
}

impl Encode for ModifyRequest {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.user_id);
        w.u64(self.reception_number);
        w.i64(self.price);
        w.u64(self.quantity);
        w.u64(self.seq);
    }
}
impl Decode for ModifyRequest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(ModifyRequest {
            user_id: r.u64()?,
            reception_number: r.u64()?,
            price: r.i64()?,
            quantity: r.u64()?,
            seq: r.u64()?,
        })
    }
}
impl Message for ModifyRequest {
    const KIND: MsgKind = MsgKind::ModifyRequest;
}

/// The exchange's signed receipt of an accepted request (drawing 13).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceptionReceipt {
    /// The requester.
    pub user_id: UserId,
    /// The order's reception number.
    pub reception_number: u64,
    /// What was accepted: 0 order, 1 cancel, 2 reduce, 3 modify.
    pub request_kind: u8,
    /// BLAKE3 of the signed request's wire bytes.
    pub request_hash: Digest,
}

impl Encode for ReceptionReceipt {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.user_id);
        w.u64(self.reception_number);
        w.u8(self.request_kind);
        self.request_hash.encode(w);
    }
}
impl Decode for ReceptionReceipt {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let v = ReceptionReceipt {
            user_id: r.u64()?,
            reception_number: r.u64()?,
            request_kind: r.u8()?,
            request_hash: Digest::decode(r)?,
        };
        if v.request_kind > 3 {
            return Err(WireError::BadTag);
        }
        Ok(v)
    }
}
impl Message for ReceptionReceipt {
    const KIND: MsgKind = MsgKind::ReceptionReceipt;
}

/// A signed refusal: the request (by hash) and the reason code
/// (`exchange::Refusal::code`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorNotice {
    /// The party told.
    pub user_id: UserId,
    /// BLAKE3 of the refused request (zero when the refusal concerns an
    /// order already received, e.g. its certificate refused at transfer).
    pub request_hash: Digest,
    /// The order concerned (0: none).
    pub reception_number: u64,
    /// Reason code.
    pub reason: u16,
}

impl Encode for ErrorNotice {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.user_id);
        self.request_hash.encode(w);
        w.u64(self.reception_number);
        w.u16(self.reason);
    }
}
impl Decode for ErrorNotice {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(ErrorNotice {
            user_id: r.u64()?,
            request_hash: Digest::decode(r)?,
            reception_number: r.u64()?,
            reason: r.u16()?,
        })
    }
}
impl Message for ErrorNotice {
    const KIND: MsgKind = MsgKind::ErrorNotice;
}

/// Phase 3: the signed notice of a completed trade to each party
/// (drawing 18); the buyer quotes the transfer number to claim its
/// certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletionNotice {
    /// The party told.
    pub party: UserId,
    /// The party's order.
    pub reception_number: u64,
    /// The party's side.
    pub side: Side,
    /// Match number.
    pub match_number: u64,
    /// The register's transfer number.
    pub transfer_number: u64,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Shares.
    pub quantity: Qty,
    /// Price in ticks.
    pub price: Ticks,
    /// The buyer's new certificate ID.
    pub new_cert_id: CertId,
    /// The seller's change certificate ID, if the certificate was split.
    pub change_cert_id: Option<CertId>,
}

impl Encode for CompletionNotice {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.party);
        w.u64(self.reception_number);
        put_side(w, self.side);
        w.u64(self.match_number);
        w.u64(self.transfer_number);
        w.u32(self.instrument);
        w.u64(self.quantity);
        w.i64(self.price);
        self.new_cert_id.encode(w);
        match &self.change_cert_id {
            None => w.u8(0),
            Some(id) => {
                w.u8(1);
                id.encode(w);
            }
        }
    }
}
impl Decode for CompletionNotice {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(CompletionNotice {
            party: r.u64()?,
            reception_number: r.u64()?,
            side: get_side(r)?,
            match_number: r.u64()?,
            transfer_number: r.u64()?,
            instrument: r.u32()?,
            quantity: r.u64()?,
            price: r.i64()?,
            new_cert_id: CertId::decode(r)?,
            change_cert_id: match r.u8()? {
                0 => None,
                1 => Some(CertId::decode(r)?),
                _ => return Err(WireError::BadTag),
            },
        })
    }
}
impl Message for CompletionNotice {
    const KIND: MsgKind = MsgKind::CompletionNotice;
}

/// Any signed message of any party, decoded by its kind byte.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs, clippy::large_enum_variant)]
pub enum AnyMessage {
    /// A register-phase (or identity) message.
    Register(register::AnyMessage),
    OrderRequest(Signed<OrderRequest>),
    CancelRequest(Signed<CancelRequest>),
    ReduceRequest(Signed<ReduceRequest>),
    ModifyRequest(Signed<ModifyRequest>),
    ReceptionReceipt(Signed<ReceptionReceipt>),
    ErrorNotice(Signed<ErrorNotice>),
    CompletionNotice(Signed<CompletionNotice>),
    SettlementRequest(Signed<SettlementRequest>),
    AccountInquiry(Signed<AccountInquiry>),
    AccountAnswer(Signed<AccountAnswer>),
}

macro_rules! each_any {
    ($self:expr, $r:ident => $re:expr, $m:ident => $e:expr) => {
        match $self {
            AnyMessage::Register($r) => $re,
            AnyMessage::OrderRequest($m) => $e,
            AnyMessage::CancelRequest($m) => $e,
            AnyMessage::ReduceRequest($m) => $e,
            AnyMessage::ModifyRequest($m) => $e,
            AnyMessage::ReceptionReceipt($m) => $e,
            AnyMessage::ErrorNotice($m) => $e,
            AnyMessage::CompletionNotice($m) => $e,
            AnyMessage::SettlementRequest($m) => $e,
            AnyMessage::AccountInquiry($m) => $e,
            AnyMessage::AccountAnswer($m) => $e,
        }
    };
}

impl AnyMessage {
    /// Strictly decodes any signed message (does not verify signatures).
    pub fn decode(bytes: &[u8]) -> Result<AnyMessage, WireError> {
        let kind = bytes
            .get(1)
            .copied()
            .and_then(MsgKind::from_u8)
            .ok_or(WireError::BadTag)?;
        Ok(match kind {
            MsgKind::OrderRequest => AnyMessage::OrderRequest(Signed::from_bytes(bytes)?),
            MsgKind::CancelRequest => AnyMessage::CancelRequest(Signed::from_bytes(bytes)?),
            MsgKind::ReduceRequest => AnyMessage::ReduceRequest(Signed::from_bytes(bytes)?),
            MsgKind::ModifyRequest => AnyMessage::ModifyRequest(Signed::from_bytes(bytes)?),
            MsgKind::ReceptionReceipt => AnyMessage::ReceptionReceipt(Signed::from_bytes(bytes)?),
            MsgKind::ErrorNotice => AnyMessage::ErrorNotice(Signed::from_bytes(bytes)?),
            MsgKind::CompletionNotice => AnyMessage::CompletionNotice(Signed::from_bytes(bytes)?),
            MsgKind::SettlementRequest => AnyMessage::SettlementRequest(Signed::from_bytes(bytes)?),
            MsgKind::AccountInquiry => AnyMessage::AccountInquiry(Signed::from_bytes(bytes)?),
            MsgKind::AccountAnswer => AnyMessage::AccountAnswer(Signed::from_bytes(bytes)?),
            _ => AnyMessage::Register(register::AnyMessage::decode(bytes)?),
        })
    }

    /// The signer's user id.
    #[must_use]
    pub fn signer(&self) -> UserId {
        each_any!(self, r => r.signer(), m => m.signer)
    }

    /// Checks the signature strictly against `key`.
    pub fn verify(&self, key: &PublicKey) -> Result<(), CryptoError> {
        each_any!(self, r => r.verify(key), m => m.verify(key))
    }

    /// The canonical wire bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        each_any!(self, r => r.to_bytes(), m => m.to_bytes())
    }
}
