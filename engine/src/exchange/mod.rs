//! The exchange: signed orders through reception, matching, transfer,
//! completion and settlement (seed 001 phases 2-4, DESIGN.md 1.4 and 1.5).
//!
//! An [`Exchange`] owns its key, an [`IdentityStore`] of the parties, one
//! [`Book`] per instrument ([`InstrumentSpec`]: tick, lot, daily band), the
//! certificate-ID table shared with the register (`Arc<IdTable>`), the
//! order records keyed by reception number (= the book's order id), the
//! match list (drawing 14) and an outbox of signed notices.
//!
//! - **Reception** ([`Exchange::submit`]) runs every check of DESIGN.md 1.4
//!   phase 2 in the seed's order (see [`Exchange::submit`]); any failure is
//!   a signed [`ErrorNotice`] with a [`Refusal`] code and changes nothing.
//!   On success the order gets a reception number and a signed
//!   [`ReceptionReceipt`] echoing the order's BLAKE3 hash.
//! - **Matching** goes through [`Book`]. The book's events are collected
//!   per command, then every trade is carried out in order, in the same
//!   step: for each certificate portion a signed `TransferRequest` goes to
//!   the register through a [`RegisterLink`] (which spends the seller's
//!   certificate and creates the buyer's and the change certificates), the
//!   signed response is checked, the match is recorded, both parties get a
//!   signed [`CompletionNotice`], and a signed `SettlementRequest` is paid
//!   through a [`SettlementLink`].
//! - **Register refusal**: the sell order is cancelled (its certificates
//!   released), the seller gets an [`ErrorNotice`] with
//!   [`Refusal::CertificateInvalid`], and the refused quantity goes back to
//!   the buy order (back into the book if it may rest).
//!
//! Architecture invariant: `exchange` uses `book`, `certs`, `identity`,
//! `register`, `settle` and `crypto` only through their public interfaces;
//! the register and the settlement service are reached only through the
//! [`RegisterLink`] and [`SettlementLink`] traits and signed messages, so
//! nothing assumes they share the process.
//! Architecture invariant: a resting sell order's reserved certificates
//! always cover its open quantity; a resting buy order's reserved cash
//! always equals its worst case (limit, or the band's top for a market buy,
//! times open quantity) ([`Exchange::check_invariants`]).
//! Architecture invariant: a refused request changes nothing (everything
//! reserved before the failing step is released).
#![forbid(unsafe_code)]

pub mod messages;
pub mod oob_gate;
pub mod sim;

use core::fmt;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use rustc_hash::FxHashMap;
use std::sync::Arc;

use rust_decimal::Decimal;

pub use messages::*;

use crate::book::{
    Book, BookConfig, CancelReason, Event, LevelInfo, NewOrder, RejectReason, StpMode, TimeInForce,
};
use crate::certs::{CertError, CertId, Certificate, IdState, IdTable, MAX_TEXT};
use crate::crypto::{Digest, KeyPair, PublicKey, Signed, Signer, UserId};
use crate::identity::{IdentityError, IdentityStore, Role};
use crate::register::{Register, RegisterError, TransferRequest, TransferResponse};
use crate::settle::{AccountId, Ledger, SettleError, SettlementRequest};
use crate::types::{InstrumentId, OrderId, PriceScale, Qty, Side, Ticks, Timestamp};

/// Why a request was refused (the code travels in [`ErrorNotice::reason`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
#[allow(missing_docs)]
pub enum Refusal {
    BadSignature = 1,
    UnknownParty = 2,
    AttestationExpired = 3,
    AttestationRevoked = 4,
    UserIdMismatch = 5,
    WrongRole = 6,
    Replay = 7,
    UnknownInstrument = 8,
    TextTooLong = 9,
    CertificatesOnBuy = 10,
    CertificateNotRecognised = 11,
    DuplicateCertificate = 12,
    CertificateExpired = 13,
    TransferRestricted = 14,
    CertificateMismatch = 15,
    PolicyQuantity = 16,
    PolicyValue = 17,
    InsufficientCertificates = 18,
    NotHolder = 19,
    CertificateSpent = 20,
    CertificateInUse = 21,
    InvalidQuantity = 22,
    LotSize = 23,
    PriceOutOfBand = 24,
    InvalidOrderType = 25,
    CashCapExceeded = 26,
    InsufficientFunds = 27,
    UnknownAccount = 28,
    NotAccountOwner = 29,
    PostOnlyWouldCross = 30,
    AlreadyExpired = 31,
    BookFull = 32,
    BookRejected = 33,
    UnknownOrder = 34,
    CertificateInvalid = 35,
    Overflow = 36,
    OutOfBand = 37,
}

impl Refusal {
    /// The wire code.
    #[must_use]
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// A short stable name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Refusal::BadSignature => "bad_signature",
            Refusal::UnknownParty => "unknown_party",
            Refusal::AttestationExpired => "attestation_expired",
            Refusal::AttestationRevoked => "attestation_revoked",
            Refusal::UserIdMismatch => "user_id_mismatch",
            Refusal::WrongRole => "wrong_role",
            Refusal::Replay => "replay",
            Refusal::UnknownInstrument => "unknown_instrument",
            Refusal::TextTooLong => "text_too_long",
            Refusal::CertificatesOnBuy => "certificates_on_buy",
            Refusal::CertificateNotRecognised => "certificate_not_recognised",
            Refusal::DuplicateCertificate => "duplicate_certificate",
            Refusal::CertificateExpired => "certificate_expired",
            Refusal::TransferRestricted => "transfer_restricted",
            Refusal::CertificateMismatch => "certificate_mismatch",
            Refusal::PolicyQuantity => "policy_quantity",
            Refusal::PolicyValue => "policy_value",
            Refusal::InsufficientCertificates => "insufficient_certificates",
            Refusal::NotHolder => "not_holder",
            Refusal::CertificateSpent => "certificate_spent",
            Refusal::CertificateInUse => "certificate_in_use",
            Refusal::InvalidQuantity => "invalid_quantity",
            Refusal::LotSize => "lot_size",
            Refusal::PriceOutOfBand => "price_out_of_band",
            Refusal::InvalidOrderType => "invalid_order_type",
            Refusal::CashCapExceeded => "cash_cap_exceeded",
            Refusal::InsufficientFunds => "insufficient_funds",
            Refusal::UnknownAccount => "unknown_account",
            Refusal::NotAccountOwner => "not_account_owner",
            Refusal::PostOnlyWouldCross => "post_only_would_cross",
            Refusal::AlreadyExpired => "already_expired",
            Refusal::BookFull => "book_full",
            Refusal::BookRejected => "book_rejected",
            Refusal::UnknownOrder => "unknown_order",
            Refusal::CertificateInvalid => "certificate_invalid",
            Refusal::Overflow => "overflow",
            Refusal::OutOfBand => "out_of_band_refused",
        }
    }

    /// The refusal for a code, if any.
    #[must_use]
    pub fn from_code(code: u16) -> Option<Refusal> {
        ALL_REFUSALS.iter().copied().find(|r| r.code() == code)
    }
}

/// Every refusal, in code order.
pub const ALL_REFUSALS: [Refusal; 37] = [
    Refusal::BadSignature,
    Refusal::UnknownParty,
    Refusal::AttestationExpired,
    Refusal::AttestationRevoked,
    Refusal::UserIdMismatch,
    Refusal::WrongRole,
    Refusal::Replay,
    Refusal::UnknownInstrument,
    Refusal::TextTooLong,
    Refusal::CertificatesOnBuy,
    Refusal::CertificateNotRecognised,
    Refusal::DuplicateCertificate,
    Refusal::CertificateExpired,
    Refusal::TransferRestricted,
    Refusal::CertificateMismatch,
    Refusal::PolicyQuantity,
    Refusal::PolicyValue,
    Refusal::InsufficientCertificates,
    Refusal::NotHolder,
    Refusal::CertificateSpent,
    Refusal::CertificateInUse,
    Refusal::InvalidQuantity,
    Refusal::LotSize,
    Refusal::PriceOutOfBand,
    Refusal::InvalidOrderType,
    Refusal::CashCapExceeded,
    Refusal::InsufficientFunds,
    Refusal::UnknownAccount,
    Refusal::NotAccountOwner,
    Refusal::PostOnlyWouldCross,
    Refusal::AlreadyExpired,
    Refusal::BookFull,
    Refusal::BookRejected,
    Refusal::UnknownOrder,
    Refusal::CertificateInvalid,
    Refusal::Overflow,
    Refusal::OutOfBand,
];

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<IdentityError> for Refusal {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::UnknownParty(_) | IdentityError::BadIssuer => Refusal::UnknownParty,
            IdentityError::Expired | IdentityError::Superseded => Refusal::AttestationExpired,
            IdentityError::Revoked => Refusal::AttestationRevoked,
            IdentityError::Crypto(_) => Refusal::BadSignature,
            IdentityError::UserIdMismatch => Refusal::UserIdMismatch,
            IdentityError::WrongRole => Refusal::WrongRole,
            IdentityError::PolicyViolation(_) => Refusal::PolicyValue,
        }
    }
}

impl From<SettleError> for Refusal {
    fn from(e: SettleError) -> Self {
        match e {
            SettleError::UnknownAccount => Refusal::UnknownAccount,
            SettleError::NotOwner | SettleError::AccountMismatch => Refusal::NotAccountOwner,
            SettleError::Overflow => Refusal::Overflow,
            _ => Refusal::InsufficientFunds,
        }
    }
}

impl From<RejectReason> for Refusal {
    fn from(r: RejectReason) -> Self {
        match r {
            RejectReason::PostOnlyWouldCross => Refusal::PostOnlyWouldCross,
            RejectReason::AlreadyExpired => Refusal::AlreadyExpired,
            RejectReason::BookFull => Refusal::BookFull,
            RejectReason::UnknownOrder => Refusal::UnknownOrder,
            RejectReason::InvalidQuantity => Refusal::InvalidQuantity,
            RejectReason::LotSize => Refusal::LotSize,
            RejectReason::PriceOutOfRange => Refusal::PriceOutOfBand,
            RejectReason::InvalidOrderType => Refusal::InvalidOrderType,
            RejectReason::DuplicateId => Refusal::BookRejected,
        }
    }
}

/// The answer to a request: a signed receipt, or a signed refusal.
pub type Answer = Result<Signed<ReceptionReceipt>, Box<Signed<ErrorNotice>>>;

/// The exchange's side of the register: transfers after a match, and the
/// certificates it signed (to attach a change certificate to the next
/// transfer of the same sell order). Implemented in-process for
/// [`Register`]; a remote register implements it over the wire with the
/// same signed messages.
pub trait RegisterLink {
    /// Sends a signed transfer request; returns the register's signed
    /// response or its refusal.
    fn transfer(
        &mut self,
        req: &Signed<TransferRequest>,
        now: Timestamp,
    ) -> Result<Signed<TransferResponse>, RegisterError>;
    /// The same transfer from an exchange in the same process whose
    /// request's signature is still pending (deferred signing in a
    /// runtime). A register that cannot trust its caller this way keeps
    /// the default, which insists on the signature.
    fn transfer_in_process(
        &mut self,
        req: &Signed<TransferRequest>,
        now: Timestamp,
    ) -> Result<Signed<TransferResponse>, RegisterError> {
        self.transfer(req, now)
    }
    /// The register-signed certificate with this ID, if the register issued
    /// it.
    fn certificate(&self, id: &CertId) -> Option<Signed<Certificate>>;
}

impl RegisterLink for Register {
    fn transfer(
        &mut self,
        req: &Signed<TransferRequest>,
        now: Timestamp,
    ) -> Result<Signed<TransferResponse>, RegisterError> {
        Register::transfer(self, req, now)
    }
    fn transfer_in_process(
        &mut self,
        req: &Signed<TransferRequest>,
        now: Timestamp,
    ) -> Result<Signed<TransferResponse>, RegisterError> {
        Register::transfer_in_process(self, req, now)
    }
    fn certificate(&self, id: &CertId) -> Option<Signed<Certificate>> {
        Register::certificate(self, id).cloned()
    }
}

/// The exchange's side of the settlement service: cash reservations for
/// buy orders, releases, and signed settlement requests. Implemented
/// in-process for [`Ledger`].
pub trait SettlementLink {
    /// Checks that `account` exists and belongs to `owner`.
    fn check_account(&self, account: AccountId, owner: UserId) -> Result<(), SettleError>;
    /// Reserves `amount` of `owner`'s `account` for `order`.
    fn reserve(
        &mut self,
        order: u64,
        account: AccountId,
        owner: UserId,
        amount: Decimal,
    ) -> Result<(), SettleError>;
    /// Releases `amount` of `order`'s reservation.
    fn release(&mut self, order: u64, amount: Decimal) -> Result<(), SettleError>;
    /// Pays one match on a signed request.
    fn settle(&mut self, req: &Signed<SettlementRequest>) -> Result<(), SettleError>;
    /// Pays one match on a request from an exchange in the same process,
    /// its signature still pending (deferred signing). Defaults to
    /// [`SettlementLink::settle`], which insists on the signature.
    fn settle_in_process(&mut self, req: &Signed<SettlementRequest>) -> Result<(), SettleError> {
        self.settle(req)
    }
}

impl SettlementLink for Ledger {
    fn check_account(&self, account: AccountId, owner: UserId) -> Result<(), SettleError> {
        match self.account(account) {
            None => Err(SettleError::UnknownAccount),
            Some(a) if a.owner != owner => Err(SettleError::NotOwner),
            Some(_) => Ok(()),
        }
    }
    fn reserve(
        &mut self,
        order: u64,
        account: AccountId,
        owner: UserId,
        amount: Decimal,
    ) -> Result<(), SettleError> {
        Ledger::reserve(self, order, account, owner, amount)
    }
    fn release(&mut self, order: u64, amount: Decimal) -> Result<(), SettleError> {
        Ledger::release(self, order, amount)
    }
    fn settle(&mut self, req: &Signed<SettlementRequest>) -> Result<(), SettleError> {
        Ledger::settle(self, req).map(|_| ())
    }
    fn settle_in_process(&mut self, req: &Signed<SettlementRequest>) -> Result<(), SettleError> {
        Ledger::settle_in_process(self, req).map(|_| ())
    }
}

/// The seam where out-of-band verification (`kabuken::oob`) plugs into
/// reception: called after every check and every reservation, just before
/// the order enters the book. A refusal releases everything and answers
/// [`Refusal::OutOfBand`].
pub trait ReceptionHook {
    /// Whether the order may go to the book now.
    fn admit(
        &mut self,
        order: &Signed<OrderRequest>,
        reception_number: u64,
        now: Timestamp,
    ) -> bool;

    /// The full decision: go to the book now, hold (received, reservations
    /// kept, not in the book until a later [`HeldDecision`]), or refuse.
    /// `worst` is the price per share the reservation assumes (the limit,
    /// or the band's top for a market order). Defaults to [`Self::admit`].
    fn reception(
        &mut self,
        order: &Signed<OrderRequest>,
        reception_number: u64,
        worst: Ticks,
        now: Timestamp,
    ) -> Admission {
        let _ = worst;
        if self.admit(order, reception_number, now) {
            Admission::Admit
        } else {
            Admission::Refuse
        }
    }

    /// Decisions about held orders reached since the last call (the hook
    /// may also let time pass to `now`, e.g. expire pending requests).
    /// Called by [`Exchange::poll_held`] and [`Exchange::advance_time`].
    fn decisions(&mut self, now: Timestamp) -> Vec<HeldDecision> {
        let _ = now;
        Vec::new()
    }
}

/// What [`ReceptionHook::reception`] decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Admission {
    /// To the book now.
    Admit,
    /// Received and reserved, held out of the book.
    Hold,
    /// Refused ([`Refusal::OutOfBand`]); everything released.
    Refuse,
}

/// A later decision about a held order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeldDecision {
    /// Enter the book now (same reception number).
    Release(u64),
    /// Voided: reservations released, the order ends in this state
    /// ([`OrderState::Cancelled`] or [`OrderState::Expired`]).
    Void(u64, OrderState),
}

struct HeldOrder {
    rec: OrderRecord,
    order: NewOrder,
}

/// One instrument's trading rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstrumentSpec {
    /// Instrument id (the register's).
    pub instrument: InstrumentId,
    /// Tick size (prices in orders are in these ticks).
    pub tick: PriceScale,
    /// Quantities are multiples of this.
    pub lot_size: Qty,
    /// Lowest price of the daily band (ticks, inclusive).
    pub band_low: Ticks,
    /// Highest price of the daily band (ticks, inclusive).
    pub band_high: Ticks,
    /// Largest quantity of one order.
    pub max_qty: Qty,
}

/// The exchange's own description.
#[derive(Clone, Debug)]
pub struct ExchangeConfig {
    /// The exchange's user id (signer of its messages).
    pub user_id: UserId,
    /// The register's user id (signer of certificates and responses).
    pub register_id: UserId,
    /// The value of one minor currency unit (attestation limits are in
    /// minor units), e.g. `0.01`.
    pub minor_unit: Decimal,
}

/// Where an order stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderState {
    /// Resting (or being processed).
    Open,
    /// Completely filled.
    Filled,
    /// Cancelled (by request, IOC/FOK remainder, self-trade prevention, or
    /// its certificate refused at transfer).
    Cancelled,
    /// Day or GTD expiry.
    Expired,
}

/// One received order.
#[derive(Clone, Debug)]
pub struct OrderRecord {
    /// Reception number (the book's order id).
    pub reception_number: u64,
    /// Owner.
    pub user: UserId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side.
    pub side: Side,
    /// Limit price (`None`: market).
    pub price: Option<Ticks>,
    /// The price the cash reservation assumes per share (buy): the limit,
    /// or the top of the band for a market buy.
    pub worst: Ticks,
    /// Quantity received.
    pub quantity: Qty,
    /// Open quantity.
    pub open: Qty,
    /// Filled (transferred) quantity.
    pub filled: Qty,
    /// State.
    pub state: OrderState,
    /// Time in force.
    pub tif: TimeInForce,
    /// Post-only.
    pub post_only: bool,
    /// Settlement account.
    pub account: AccountId,
    /// Buyer's name and address.
    pub name_address: String,
    /// BLAKE3 of the signed order.
    pub request_hash: Digest,
    /// Cash reserved for this buy order.
    pub cash_reserved: Decimal,
    /// Certificates reserved to this sell order, in the order they are sold.
    pub certificates: VecDeque<Signed<Certificate>>,
    end: Option<CancelReason>,
    refused: bool,
}

impl OrderRecord {
    /// Shares of the certificates reserved to this order.
    #[must_use]
    pub fn certificate_shares(&self) -> u128 {
        self.certificates
            .iter()
            .map(|c| u128::from(c.body.shares))
            .sum()
    }
}

/// One match (drawing 14), with its transfer and settlement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchRecord {
    /// Match number.
    pub match_number: u64,
    /// Buy order's reception number.
    pub buy_order: u64,
    /// Sell order's reception number.
    pub sell_order: u64,
    /// Instrument.
    pub instrument: InstrumentId,
    /// The sold certificate's ID.
    pub cert_id: CertId,
    /// Shares.
    pub quantity: Qty,
    /// Price (ticks).
    pub price: Ticks,
    /// Buyer.
    pub buyer: UserId,
    /// Seller.
    pub seller: UserId,
    /// The register's transfer number.
    pub transfer_number: u64,
    /// The buyer's new certificate ID.
    pub new_cert_id: CertId,
    /// The seller's change certificate ID.
    pub change_cert_id: Option<CertId>,
    /// Amount paid.
    pub amount: Decimal,
}

/// What the exchange sends out (drained by the host with
/// [`Exchange::drain_outbox`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// A signed refusal (of a request, or of a certificate at transfer).
    Error(Signed<ErrorNotice>),
    /// A signed completion notice.
    Completion(Signed<CompletionNotice>),
    /// With deferred signing only: a transfer request the matching thread
    /// made and the register's answer, both to be signed by the signing
    /// stage (which also fills the response's `request_hash` from the
    /// signed request).
    Transfer {
        /// The request (exchange-signed).
        request: Box<Signed<TransferRequest>>,
        /// The response (register-signed).
        response: Box<Signed<TransferResponse>>,
    },
    /// With deferred signing only: a settlement request, to be signed.
    Settlement(Signed<SettlementRequest>),
    /// An order ended; its unsold certificates are live again and handed
    /// back to the owner.
    Released {
        /// Owner.
        user: UserId,
        /// The order.
        reception_number: u64,
        /// How it ended.
        state: OrderState,
        /// The certificates released (register-signed).
        certificates: Vec<Signed<Certificate>>,
    },
}

/// Counters for reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExchangeStats {
    /// Orders received (accepted or not).
    pub orders: u64,
    /// Orders accepted.
    pub accepted: u64,
    /// Cancel, reduce and modify requests received.
    pub amendments: u64,
    /// Refusals by reason.
    pub refusals: BTreeMap<Refusal, u64>,
    /// Book trades.
    pub trades: u64,
    /// Matches (one per certificate portion) transferred and settled.
    pub matches: u64,
    /// Transfers refused by the register.
    pub register_refusals: u64,
    /// Signatures made by the exchange.
    pub signed: u64,
    /// Signatures verified by the exchange.
    pub verified: u64,
    /// Shares transferred.
    pub shares: u128,
    /// Cash settled.
    pub settled: Decimal,
    /// Internal inconsistencies seen (must stay empty).
    pub anomalies: Vec<String>,
}

/// One certificate in [`Exchange::holdings_of`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holding {
    /// The certificate ID's serial.
    pub serial: u64,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Shares.
    pub shares: Qty,
    /// The sell order it is reserved to, if any.
    pub reserved_to: Option<u64>,
}

/// Market data of one book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketData {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Best bid (price, quantity).
    pub best_bid: Option<(Ticks, Qty)>,
    /// Best ask (price, quantity).
    pub best_ask: Option<(Ticks, Qty)>,
    /// Top bid levels.
    pub bids: Vec<LevelInfo>,
    /// Top ask levels.
    pub asks: Vec<LevelInfo>,
    /// Last trade price.
    pub last_price: Option<Ticks>,
    /// Shares traded.
    pub volume: u128,
}

struct Market {
    spec: InstrumentSpec,
    book: Book,
    last_price: Option<Ticks>,
    volume: u128,
}

enum Followup {
    CancelSell(u64),
    Restore(u64, Qty),
}

/// What a book command is.
#[derive(Clone, Copy)]
enum BookCmd {
    Cancel(OrderId),
    Reduce(OrderId, Qty),
    Modify(OrderId, Ticks, Qty),
}

/// The exchange.
pub struct Exchange {
    cfg: ExchangeConfig,
    signer: Signer,
    verified_upstream: bool,
    identities: IdentityStore,
    ids: Arc<IdTable>,
    markets: BTreeMap<InstrumentId, Market>,
    orders: FxHashMap<u64, OrderRecord>,
    matches: Vec<MatchRecord>,
    next_reception: u64,
    reception_stride: u64,
    next_match: u64,
    out_seq: u64,
    last_seq: FxHashMap<UserId, u64>,
    open_buy_value: FxHashMap<UserId, Decimal>,
    outbox: Vec<Outgoing>,
    stats: ExchangeStats,
    hook: Option<Box<dyn ReceptionHook + Send>>,
    held: BTreeMap<u64, HeldOrder>,
    tap: Option<Vec<(InstrumentId, Event)>>,
}

impl fmt::Debug for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exchange")
            .field("user_id", &self.cfg.user_id)
            .field("instruments", &self.markets.len())
            .field("orders", &self.orders.len())
            .field("matches", &self.matches.len())
            .finish()
    }
}

fn dec(spec: &InstrumentSpec, ticks: Ticks, qty: Qty) -> Result<Decimal, Refusal> {
    spec.tick
        .to_decimal(ticks)
        .ok()
        .and_then(|p| p.checked_mul(Decimal::from(qty)))
        .ok_or(Refusal::Overflow)
}

impl Exchange {
    /// An exchange with its key, the parties it knows and the register's
    /// certificate-ID table.
    #[must_use]
    pub fn new(
        cfg: ExchangeConfig,
        key: KeyPair,
        identities: IdentityStore,
        ids: Arc<IdTable>,
    ) -> Self {
        Self {
            cfg,
            signer: Signer::new(key),
            verified_upstream: false,
            identities,
            ids,
            markets: BTreeMap::new(),
            orders: FxHashMap::default(),
            matches: Vec::new(),
            next_reception: 1,
            reception_stride: 1,
            next_match: 1,
            out_seq: 0,
            last_seq: FxHashMap::default(),
            open_buy_value: FxHashMap::default(),
            outbox: Vec::new(),
            stats: ExchangeStats::default(),
            hook: None,
            held: BTreeMap::new(),
            tap: None,
        }
    }

    /// Lists an instrument.
    ///
    /// # Errors
    /// A description of an inconsistent specification.
    pub fn add_instrument(&mut self, spec: InstrumentSpec) -> Result<(), &'static str> {
        if spec.band_low <= 0 || spec.band_low > spec.band_high {
            return Err("band must be positive and low <= high");
        }
        let cfg = BookConfig {
            lot_size: spec.lot_size,
            max_qty: spec.max_qty,
            min_price: spec.band_low,
            max_price: spec.band_high,
            ..BookConfig::default()
        };
        let book = Book::try_new(cfg)?;
        self.markets.insert(
            spec.instrument,
            Market {
                spec,
                book,
                last_price: None,
                volume: 0,
            },
        );
        Ok(())
    }

    /// Installs the out-of-band seam (see [`ReceptionHook`]).
    pub fn set_reception_hook(&mut self, hook: Box<dyn ReceptionHook + Send>) {
        self.hook = Some(hook);
    }

    /// The exchange's user id.
    #[must_use]
    pub fn user_id(&self) -> UserId {
        self.cfg.user_id
    }
    /// The exchange's public key.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        self.signer.key().public()
    }
    /// The identity store (to register attestations and revocations).
    pub fn identities_mut(&mut self) -> &mut IdentityStore {
        &mut self.identities
    }
    /// The trading rules of an instrument.
    #[must_use]
    pub fn spec(&self, instrument: InstrumentId) -> Option<&InstrumentSpec> {
        self.markets.get(&instrument).map(|m| &m.spec)
    }
    /// The book of an instrument.
    #[must_use]
    pub fn book(&self, instrument: InstrumentId) -> Option<&Book> {
        self.markets.get(&instrument).map(|m| &m.book)
    }
    /// Every listed instrument.
    pub fn instruments(&self) -> impl Iterator<Item = InstrumentId> + '_ {
        self.markets.keys().copied()
    }
    /// Order status by reception number.
    #[must_use]
    pub fn order(&self, reception_number: u64) -> Option<&OrderRecord> {
        self.orders.get(&reception_number)
    }
    /// The match list (drawing 14).
    #[must_use]
    pub fn matches(&self) -> &[MatchRecord] {
        &self.matches
    }
    /// An investor's trades (as buyer or seller).
    pub fn trades_of(&self, user: UserId) -> impl Iterator<Item = &MatchRecord> {
        self.matches
            .iter()
            .filter(move |m| m.buyer == user || m.seller == user)
    }
    /// An investor's holdings as the exchange's ID list shows them: every
    /// live or reserved certificate ID held by `user`, with its instrument,
    /// shares and the order it is reserved to (a scan of the ID table).
    #[must_use]
    pub fn holdings_of(&self, user: UserId) -> Vec<Holding> {
        (0..self.ids.allocated())
            .filter_map(|s| self.ids.get(s).map(|(st, f)| (s, st, f)))
            .filter(|(_, st, f)| {
                f.holder == user && matches!(st, IdState::Live | IdState::Reserved(_))
            })
            .map(|(serial, st, f)| Holding {
                serial,
                instrument: f.instrument,
                shares: f.quantity,
                reserved_to: match st {
                    IdState::Reserved(o) => Some(o),
                    _ => None,
                },
            })
            .collect()
    }
    /// An investor's open orders.
    pub fn open_orders_of(&self, user: UserId) -> impl Iterator<Item = &OrderRecord> {
        self.orders
            .values()
            .filter(move |o| o.user == user && o.state == OrderState::Open)
    }
    /// Counters.
    #[must_use]
    pub fn stats(&self) -> &ExchangeStats {
        &self.stats
    }
    /// Takes every message sent since the last call.
    pub fn drain_outbox(&mut self) -> Vec<Outgoing> {
        std::mem::take(&mut self.outbox)
    }
    /// Market data of one book (`depth` levels per side).
    #[must_use]
    pub fn market_data(&self, instrument: InstrumentId, depth: usize) -> Option<MarketData> {
        let m = self.markets.get(&instrument)?;
        let mut bids = Vec::new();
        let mut asks = Vec::new();
        m.book.top_levels(Side::Buy, depth, &mut bids);
        m.book.top_levels(Side::Sell, depth, &mut asks);
        Some(MarketData {
            instrument,
            best_bid: m.book.best_bid(),
            best_ask: m.book.best_ask(),
            bids,
            asks,
            last_price: m.last_price,
            volume: m.volume,
        })
    }

    fn sign<T: crate::crypto::Message>(&mut self, body: T) -> Signed<T> {
        self.stats.signed += 1;
        self.signer.sign(body, self.cfg.user_id)
    }

    /// Deferred signing (for [`crate::runtime`]): every message the
    /// exchange makes gets a pending signature, to be signed off the
    /// matching thread by the runtime's signing stage; transfers and
    /// settlements use the in-process links ([`RegisterLink::transfer_in_process`],
    /// [`SettlementLink::settle_in_process`]) and are reported in the outbox
    /// ([`Outgoing::Transfer`], [`Outgoing::Settlement`]) for signing.
    pub fn set_deferred_signing(&mut self, on: bool) {
        self.signer.set_deferred(on);
    }

    /// Whether signing is deferred.
    #[must_use]
    pub fn deferred_signing(&self) -> bool {
        self.signer.is_deferred()
    }

    /// Request signatures verified upstream (for [`crate::runtime`]): a
    /// verification stage has checked each request's signature against
    /// the key this exchange's identity store holds for its signer, so
    /// reception checks everything else (attestation valid, role, user id,
    /// replay, ...) but not the signature again.
    pub fn set_verified_upstream(&mut self, on: bool) {
        self.verified_upstream = on;
    }

    /// The exchange's signing key (shared with a runtime's signing stage).
    #[must_use]
    pub fn signing_key(&self) -> Arc<KeyPair> {
        self.signer.shared_key()
    }

    /// Numbers orders `first`, `first + stride`, ... instead of 1, 2, ...
    /// (a runtime with several shards gives shard `k` of `n` the numbers
    /// `k + 1 + i * n`, so a reception number names its shard). Only before
    /// the first order.
    ///
    /// # Errors
    /// When orders were received already, or `first` or `stride` is zero.
    pub fn set_reception_numbering(&mut self, first: u64, stride: u64) -> Result<(), &'static str> {
        if first == 0 || stride == 0 {
            return Err("first and stride must be positive");
        }
        if self.next_reception != 1 || !self.orders.is_empty() || !self.held.is_empty() {
            return Err("orders were received already");
        }
        self.next_reception = first;
        self.reception_stride = stride;
        Ok(())
    }

    /// Replaces every pending certificate held by an open order (a change
    /// certificate made while signing was deferred) with the register's
    /// signed copy, once the signing stage has signed it. Returns how many
    /// remain pending.
    pub fn refresh_certificates(&mut self, reg: &dyn RegisterLink) -> usize {
        let mut left = 0;
        let held = self.held.values_mut().map(|h| &mut h.rec);
        for rec in self.orders.values_mut().chain(held) {
            for c in &mut rec.certificates {
                if c.is_pending() {
                    match reg.certificate(&c.body.id) {
                        Some(s) if !s.is_pending() && s.body == c.body => *c = s,
                        _ => left += 1,
                    }
                }
            }
        }
        left
    }

    /// Keeps every book event (order log and trades, per instrument) for
    /// [`Exchange::take_book_events`]: a runtime publishes them as market
    /// data.
    pub fn set_event_tap(&mut self, on: bool) {
        self.tap = on.then(Vec::new);
    }

    /// The book events kept since the last call (empty without the tap).
    pub fn take_book_events(&mut self) -> Vec<(InstrumentId, Event)> {
        self.tap.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// The parties the exchange knows.
    #[must_use]
    pub fn identities(&self) -> &IdentityStore {
        &self.identities
    }

    /// The attestation checks of a request, and its signature unless a
    /// verification stage checked it already.
    fn authenticate<T: crate::crypto::Message>(
        &mut self,
        req: &Signed<T>,
        user: UserId,
        now: Timestamp,
    ) -> Result<crate::identity::Policy, Refusal> {
        let p = if self.verified_upstream {
            self.identities
                .party_as(req.signer, Role::Investor, user, now)?
        } else {
            self.stats.verified += 1;
            self.identities.verify_as(req, Role::Investor, user, now)?
        };
        Ok(p.attestation.body.policy)
    }

    fn refuse(
        &mut self,
        user: UserId,
        request_hash: Digest,
        reception_number: u64,
        why: Refusal,
    ) -> Box<Signed<ErrorNotice>> {
        *self.stats.refusals.entry(why).or_insert(0) += 1;
        Box::new(self.sign(ErrorNotice {
            user_id: user,
            request_hash,
            reception_number,
            reason: why.code(),
        }))
    }

    fn check_seq(&self, signer: UserId, seq: u64) -> Result<(), Refusal> {
        match self.last_seq.get(&signer) {
            Some(&last) if seq <= last => Err(Refusal::Replay),
            _ => Ok(()),
        }
    }

    fn add_open_buy(&mut self, user: UserId, delta: Decimal, add: bool) {
        let v = self.open_buy_value.entry(user).or_default();
        if add {
            *v += delta;
        } else {
            *v -= delta;
        }
    }

    /// Phase 2: receives a signed order.
    ///
    /// Checks, in this order (DESIGN.md 1.4 phase 2): the order's signature
    /// (signer's attestation valid, unexpired, unrevoked, investor role, user
    /// id = signer) and its sequence number (replay); the instrument; each
    /// attached certificate (register-signed: checked by BLAKE3 digest
    /// against the ID table the register filled when it signed it; no
    /// duplicates); each certificate's expiry and transfer restriction and
    /// that it is of this instrument and class; the attestation policy
    /// (shares per order, value of this and of all open buy orders, a sell
    /// covered by its certificates: no short sale); that each certificate's
    /// holder is the seller; that each (certificate ID, user ID) is live in
    /// the ID list; the instrument's lot, band and order type; the
    /// settlement account; the cash reservation of a buy; the reservation
    /// of each certificate of a sell (one CAS each: of two orders with a
    /// copied certificate exactly one wins); the out-of-band seam; the
    /// book. On success: a reception number and a signed receipt, then
    /// matching, transfers, completion notices and settlement. On failure:
    /// a signed [`ErrorNotice`] and nothing changed.
    pub fn submit(
        &mut self,
        req: &Signed<OrderRequest>,
        now: Timestamp,
        reg: &mut dyn RegisterLink,
        cash: &mut dyn SettlementLink,
    ) -> Answer {
        self.stats.orders += 1;
        let hash = req.digest();
        let user = req.body.user_id;
        let reception = self.next_reception;
        let (rec, hold) = match self.receive(req, reception, hash, now, cash) {
            Ok(r) => r,
            Err(why) => {
                let n = self.refuse(user, hash, 0, why);
                return Err(n);
            }
        };
        let b = &req.body;
        let o = NewOrder {
            id: reception,
            side: b.side,
            price: b.price,
            qty: b.quantity,
            tif: b.tif,
            post_only: b.post_only,
            owner: user,
            stp: StpMode::CancelNewest,
        };
        if hold {
            // Received and reserved, held out of the book until the hook
            // decides (see [`Exchange::poll_held`]).
            self.next_reception += self.reception_stride;
            self.last_seq.insert(req.signer, b.seq);
            self.stats.accepted += 1;
            if rec.side == Side::Buy {
                self.add_open_buy(user, rec.cash_reserved, true);
            }
            self.held.insert(reception, HeldOrder { rec, order: o });
            return Ok(self.sign(ReceptionReceipt {
                user_id: user,
                reception_number: reception,
                request_kind: 0,
                request_hash: hash,
            }));
        }
        // Time moves only for an order that passed reception (a refused
        // request changes nothing): GTD orders due by now expire first.
        if self
            .markets
            .get(&b.instrument)
            .is_some_and(|m| now > m.book.now())
        {
            self.advance_books(now, reg, cash);
        }
        let inst = b.instrument;
        let mut events = Vec::new();
        let booked = match self.markets.get_mut(&inst) {
            Some(m) => m.book.submit(&o, &mut events),
            None => Err(RejectReason::UnknownOrder),
        };
        if let Err(reason) = booked {
            self.unreserve(&rec, cash);
            let n = self.refuse(user, hash, 0, reason.into());
            return Err(n);
        }
        // Accepted: commit.
        self.next_reception += self.reception_stride;
        self.last_seq.insert(req.signer, b.seq);
        self.stats.accepted += 1;
        if rec.side == Side::Buy {
            self.add_open_buy(user, rec.cash_reserved, true);
        }
        self.orders.insert(reception, rec);
        let receipt = self.sign(ReceptionReceipt {
            user_id: user,
            reception_number: reception,
            request_kind: 0,
            request_hash: hash,
        });
        self.run(inst, events, now, reg, cash);
        Ok(receipt)
    }

    /// Releases what reception reserved for a refused order.
    fn unreserve(&self, rec: &OrderRecord, cash: &mut dyn SettlementLink) {
        if rec.cash_reserved > Decimal::ZERO {
            let _ = cash.release(rec.reception_number, rec.cash_reserved);
        }
        for c in &rec.certificates {
            let _ = self.ids.release(c.body.id.serial, rec.reception_number);
        }
    }

    fn receive(
        &mut self,
        req: &Signed<OrderRequest>,
        reception: u64,
        hash: Digest,
        now: Timestamp,
        cash: &mut dyn SettlementLink,
    ) -> Result<(OrderRecord, bool), Refusal> {
        let b = &req.body;
        // 1. The order's signature and its signer's attestation.
        let policy = self.authenticate(req, b.user_id, now)?;
        self.check_seq(req.signer, b.seq)?;
        let spec = self
            .markets
            .get(&b.instrument)
            .map(|m| m.spec)
            .ok_or(Refusal::UnknownInstrument)?;
        if b.name_address.len() > MAX_TEXT {
            return Err(Refusal::TextTooLong);
        }
        if b.side == Side::Buy && !b.certificates.is_empty() {
            return Err(Refusal::CertificatesOnBuy);
        }
        // 1b. Each attached certificate: the register's, byte for byte.
        let mut states = Vec::with_capacity(b.certificates.len());
        let mut seen = HashSet::with_capacity(b.certificates.len());
        for c in &b.certificates {
            if c.signer != self.cfg.register_id {
                return Err(Refusal::CertificateNotRecognised);
            }
            let (state, facts) = self
                .ids
                .check_presented(c.body.id.serial, &c.content_digest())
                .map_err(|_| Refusal::CertificateNotRecognised)?;
            if !seen.insert(c.body.id.serial) {
                return Err(Refusal::DuplicateCertificate);
            }
            states.push((state, facts));
        }
        // 2. Expiry and transfer restrictions (and instrument/class).
        for c in &b.certificates {
            c.body.check_transferable(now).map_err(|e| match e {
                CertError::Expired => Refusal::CertificateExpired,
                _ => Refusal::TransferRestricted,
            })?;
            if c.body.instrument != b.instrument || c.body.class.code() != b.class {
                return Err(Refusal::CertificateMismatch);
            }
        }
        // 3. The attestation policy.
        if b.quantity > policy.per_order_max {
            return Err(Refusal::PolicyQuantity);
        }
        let worst = match (b.side, b.price) {
            (_, Some(p)) => p,
            (_, None) => spec.band_high,
        };
        let value = if b.side == Side::Buy {
            let v = dec(&spec, worst, b.quantity)?;
            let limit = Decimal::from(policy.usage_limit)
                .checked_mul(self.cfg.minor_unit)
                .ok_or(Refusal::Overflow)?;
            let open = self
                .open_buy_value
                .get(&b.user_id)
                .copied()
                .unwrap_or_default();
            if v > limit || open.checked_add(v).is_none_or(|t| t > limit) {
                return Err(Refusal::PolicyValue);
            }
            v
        } else {
            let total: u128 = b
                .certificates
                .iter()
                .map(|c| u128::from(c.body.shares))
                .sum();
            if total < u128::from(b.quantity) {
                return Err(Refusal::InsufficientCertificates);
            }
            Decimal::ZERO
        };
        // 4. Each certificate's holder is the seller.
        for c in &b.certificates {
            if c.body.holder != b.user_id {
                return Err(Refusal::NotHolder);
            }
        }
        // 5. Each (certificate ID, user ID) is live in the ID list.
        for (state, facts) in &states {
            if facts.holder != b.user_id {
                return Err(Refusal::NotHolder);
            }
            match state {
                IdState::Live => {}
                IdState::Reserved(_) => return Err(Refusal::CertificateInUse),
                IdState::Spent => return Err(Refusal::CertificateSpent),
                IdState::Vacant => return Err(Refusal::CertificateNotRecognised),
            }
        }
        // 6. Instrument rules.
        if b.quantity == 0 || b.quantity > spec.max_qty {
            return Err(Refusal::InvalidQuantity);
        }
        if b.quantity % spec.lot_size != 0 {
            return Err(Refusal::LotSize);
        }
        match b.price {
            Some(p) if p < spec.band_low || p > spec.band_high => {
                return Err(Refusal::PriceOutOfBand)
            }
            Some(_) => {}
            None => {
                if b.post_only || !matches!(b.tif, TimeInForce::Ioc | TimeInForce::Fok) {
                    return Err(Refusal::InvalidOrderType);
                }
                if b.side == Side::Buy && b.cash_cap.is_some_and(|cap| value > cap) {
                    return Err(Refusal::CashCapExceeded);
                }
            }
        }
        if b.post_only && !b.tif.rests() {
            return Err(Refusal::InvalidOrderType);
        }
        cash.check_account(b.account, b.user_id)?;
        // 7. Cash for a buy.
        if b.side == Side::Buy {
            cash.reserve(reception, b.account, b.user_id, value)?;
        }
        let mut rec = OrderRecord {
            reception_number: reception,
            user: b.user_id,
            instrument: b.instrument,
            side: b.side,
            price: b.price,
            worst,
            quantity: b.quantity,
            open: b.quantity,
            filled: 0,
            state: OrderState::Open,
            tif: b.tif,
            post_only: b.post_only,
            account: b.account,
            name_address: b.name_address.clone(),
            request_hash: hash,
            cash_reserved: value,
            certificates: VecDeque::new(),
            end: None,
            refused: false,
        };
        // 8. Certificates for a sell: one CAS each.
        for c in &b.certificates {
            if self.ids.reserve(c.body.id.serial, reception).is_err() {
                self.unreserve(&rec, cash);
                return Err(Refusal::CertificateInUse);
            }
            rec.certificates.push_back(c.clone());
        }
        // 9. The out-of-band seam.
        let admission = match self.hook.as_mut() {
            Some(h) => h.reception(req, reception, worst, now),
            None => Admission::Admit,
        };
        match admission {
            Admission::Admit => Ok((rec, false)),
            Admission::Hold => Ok((rec, true)),
            Admission::Refuse => {
                self.unreserve(&rec, cash);
                Err(Refusal::OutOfBand)
            }
        }
    }

    /// Orders held by the reception seam, by reception number.
    pub fn held_orders(&self) -> impl Iterator<Item = &OrderRecord> {
        self.held.values().map(|h| &h.rec)
    }

    /// Asks the reception seam for its decisions about held orders (and
    /// lets it see the time) and carries them out.
    pub fn poll_held(
        &mut self,
        now: Timestamp,
        reg: &mut dyn RegisterLink,
        cash: &mut dyn SettlementLink,
    ) {
        let decisions = match self.hook.as_mut() {
            Some(h) => h.decisions(now),
            None => return,
        };
        for d in decisions {
            let done = match d {
                HeldDecision::Release(n) => self.release_held(n, now, reg, cash),
                HeldDecision::Void(n, state) => self.void_held(n, state, cash),
            };
            if !done {
                self.anomaly(format!("held decision {d:?} for no held order"));
            }
        }
    }

    /// A held order enters the book (through the normal path after
    /// reception, same reception number). If the book refuses it now, its
    /// reservations are released and the owner gets an [`ErrorNotice`].
    /// Returns whether the order was held.
    pub fn release_held(
        &mut self,
        reception: u64,
        now: Timestamp,
        reg: &mut dyn RegisterLink,
        cash: &mut dyn SettlementLink,
    ) -> bool {
        let Some(h) = self.held.remove(&reception) else {
            return false;
        };
        let HeldOrder { rec, order } = h;
        let inst = rec.instrument;
        if self.markets.get(&inst).is_some_and(|m| now > m.book.now()) {
            self.advance_books(now, reg, cash);
        }
        let mut events = Vec::new();
        let booked = match self.markets.get_mut(&inst) {
            Some(m) => m.book.submit(&order, &mut events),
            None => Err(RejectReason::UnknownOrder),
        };
        if let Err(reason) = booked {
            let (user, hash) = (rec.user, rec.request_hash);
            self.end_held(rec, OrderState::Cancelled, cash);
            let n = self.refuse(user, hash, reception, reason.into());
            self.outbox.push(Outgoing::Error(*n));
            return true;
        }
        self.orders.insert(reception, rec);
        self.run(inst, events, now, reg, cash);
        true
    }

    /// A held order is voided: its reservations are released and it ends
    /// in `state`. Returns whether the order was held.
    pub fn void_held(
        &mut self,
        reception: u64,
        state: OrderState,
        cash: &mut dyn SettlementLink,
    ) -> bool {
        let Some(h) = self.held.remove(&reception) else {
            return false;
        };
        self.end_held(h.rec, state, cash);
        true
    }

    fn end_held(&mut self, mut rec: OrderRecord, state: OrderState, cash: &mut dyn SettlementLink) {
        self.unreserve(&rec, cash);
        if rec.side == Side::Buy {
            self.add_open_buy(rec.user, rec.cash_reserved, false);
        }
        rec.cash_reserved = Decimal::ZERO;
        rec.open = 0;
        rec.state = state;
        let certificates: Vec<Signed<Certificate>> = rec.certificates.drain(..).collect();
        let (user, id) = (rec.user, rec.reception_number);
        self.orders.insert(id, rec);
        if !certificates.is_empty() {
            self.outbox.push(Outgoing::Released {
                user,
                reception_number: id,
                state,
                certificates,
            });
        }
    }

    /// Verifies an amendment and finds the order; returns its instrument.
    fn amendment<T: crate::crypto::Message>(
        &mut self,
        req: &Signed<T>,
        user: UserId,
        seq: u64,
        reception: u64,
        now: Timestamp,
    ) -> Result<InstrumentId, Refusal> {
        self.stats.amendments += 1;
        self.authenticate(req, user, now)?;
        self.check_seq(req.signer, seq)?;
        let rec = self.orders.get(&reception).ok_or(Refusal::UnknownOrder)?;
        if rec.user != user || rec.state != OrderState::Open {
            return Err(Refusal::UnknownOrder);
        }
        let inst = rec.instrument;
        let resting = self
            .markets
            .get(&inst)
            .is_some_and(|m| m.book.order(reception).is_some());
        if !resting {
            return Err(Refusal::UnknownOrder);
        }
        Ok(inst)
    }

    fn ack(
        &mut self,
        user: UserId,
        seq_signer: UserId,
        seq: u64,
        reception: u64,
        kind: u8,
        hash: Digest,
    ) -> Signed<ReceptionReceipt> {
        self.last_seq.insert(seq_signer, seq);
        self.sign(ReceptionReceipt {
            user_id: user,
            reception_number: reception,
            request_kind: kind,
            request_hash: hash,
        })
    }

    fn book_cmd(
        &mut self,
        inst: InstrumentId,
        cmd: BookCmd,
        events: &mut Vec<Event>,
    ) -> Result<(), RejectReason> {
        let Some(m) = self.markets.get_mut(&inst) else {
            return Err(RejectReason::UnknownOrder);
        };
        match cmd {
            BookCmd::Cancel(id) => m.book.cancel(id, events),
            BookCmd::Reduce(id, by) => m.book.reduce(id, by, events),
            BookCmd::Modify(id, p, q) => m.book.modify(id, p, q, events),
        }
    }

    /// A verified amendment applied to the book as `cmd`: acknowledged with
    /// a receipt of `kind`, its events run; any refusal is a signed notice.
    #[allow(clippy::too_many_arguments)]
    fn amend<T: crate::crypto::Message>(
        &mut self,
        req: &Signed<T>,
        user: UserId,
        seq: u64,
        reception: u64,
        cmd: BookCmd,
        kind: u8,
        now: Timestamp,
        reg: &mut dyn RegisterLink,
        cash: &mut dyn SettlementLink,
    ) -> Answer {
        let hash = req.digest();
        let inst = match self.amendment(req, user, seq, reception, now) {
            Ok(i) => i,
            Err(why) => return Err(self.refuse(user, hash, reception, why)),
        };
        let mut events = Vec::new();
        if let Err(r) = self.book_cmd(inst, cmd, &mut events) {
            return Err(self.refuse(user, hash, reception, r.into()));
        }
        let ack = self.ack(user, req.signer, seq, reception, kind, hash);
        self.run(inst, events, now, reg, cash);
        Ok(ack)
    }

    /// Cancels an open order on its owner's signed request.
    pub fn cancel(
        &mut self,
        req: &Signed<CancelRequest>,
        now: Timestamp,
        reg: &mut dyn RegisterLink,
        cash: &mut dyn SettlementLink,
    ) -> Answer {
        let b = &req.body;
        let cmd = BookCmd::Cancel(b.reception_number);
        self.amend(
            req,
            b.user_id,
            b.seq,
            b.reception_number,
            cmd,
            1,
            now,
            reg,
            cash,
        )
    }

    /// Reduces an open order by `by` shares (keeps priority; at or above the
    /// open quantity cancels it).
    pub fn reduce(
        &mut self,
        req: &Signed<ReduceRequest>,
        now: Timestamp,
        reg: &mut dyn RegisterLink,
        cash: &mut dyn SettlementLink,
    ) -> Answer {
        let b = &req.body;
        let cmd = BookCmd::Reduce(b.reception_number, b.by);
        self.amend(
            req,
            b.user_id,
            b.seq,
            b.reception_number,
            cmd,
            2,
            now,
            reg,
            cash,
        )
    }

    /// Gives an open order a new price and open quantity. A buy order's
    /// cash reservation is raised first (refused if the cash or the policy
    /// does not allow it) and lowered after; a sell order's new quantity
    /// must stay covered by its reserved certificates.
    pub fn modify(
        &mut self,
        req: &Signed<ModifyRequest>,
        now: Timestamp,
        reg: &mut dyn RegisterLink,
        cash: &mut dyn SettlementLink,
    ) -> Answer {
        let b = &req.body;
        let hash = req.digest();
        let id = b.reception_number;
        let checked = self
            .amendment(req, b.user_id, b.seq, id, now)
            .and_then(|inst| self.modify_checks(inst, b, now, cash).map(|x| (inst, x)));
        let (inst, extra) = match checked {
            Ok(x) => x,
            Err(why) => return Err(self.refuse(b.user_id, hash, id, why)),
        };
        let mut events = Vec::new();
        if let Err(r) = self.book_cmd(inst, BookCmd::Modify(id, b.price, b.quantity), &mut events) {
            if extra > Decimal::ZERO {
                let _ = cash.release(id, extra);
                if let Some(rec) = self.orders.get_mut(&id) {
                    rec.cash_reserved -= extra;
                }
                self.add_open_buy(b.user_id, extra, false);
            }
            return Err(self.refuse(b.user_id, hash, id, r.into()));
        }
        let ack = self.ack(b.user_id, req.signer, b.seq, id, 3, hash);
        self.run(inst, events, now, reg, cash);
        Ok(ack)
    }

    /// Checks a modify and reserves extra cash for a buy; returns the extra.
    fn modify_checks(
        &mut self,
        inst: InstrumentId,
        b: &ModifyRequest,
        now: Timestamp,
        cash: &mut dyn SettlementLink,
    ) -> Result<Decimal, Refusal> {
        let spec = self
            .markets
            .get(&inst)
            .map(|m| m.spec)
            .ok_or(Refusal::UnknownInstrument)?;
        if b.quantity == 0 || b.quantity > spec.max_qty {
            return Err(Refusal::InvalidQuantity);
        }
        if b.quantity % spec.lot_size != 0 {
            return Err(Refusal::LotSize);
        }
        if b.price < spec.band_low || b.price > spec.band_high {
            return Err(Refusal::PriceOutOfBand);
        }
        let party = self.identities.party(b.user_id, now)?;
        let policy = party.attestation.body.policy;
        if b.quantity > policy.per_order_max {
            return Err(Refusal::PolicyQuantity);
        }
        let rec = self
            .orders
            .get(&b.reception_number)
            .ok_or(Refusal::UnknownOrder)?;
        if rec.side == Side::Sell {
            if rec.certificate_shares() < u128::from(b.quantity) {
                return Err(Refusal::InsufficientCertificates);
            }
            return Ok(Decimal::ZERO);
        }
        let need = dec(&spec, b.price, b.quantity)?;
        if need <= rec.cash_reserved {
            return Ok(Decimal::ZERO);
        }
        let extra = need - rec.cash_reserved;
        let limit = Decimal::from(policy.usage_limit)
            .checked_mul(self.cfg.minor_unit)
            .ok_or(Refusal::Overflow)?;
        let open = self
            .open_buy_value
            .get(&b.user_id)
            .copied()
            .unwrap_or_default();
        if open.checked_add(extra).is_none_or(|t| t > limit) {
            return Err(Refusal::PolicyValue);
        }
        let (account, user) = (rec.account, rec.user);
        cash.reserve(b.reception_number, account, user, extra)?;
        if let Some(rec) = self.orders.get_mut(&b.reception_number) {
            rec.cash_reserved += extra;
        }
        self.add_open_buy(user, extra, true);
        Ok(extra)
    }

    /// Advances every book's time to `now`, expiring GTD orders due, and
    /// lets the reception seam see the time ([`Self::poll_held`]: e.g.
    /// pending out-of-band requests expire).
    pub fn advance_time(
        &mut self,
        now: Timestamp,
        reg: &mut dyn RegisterLink,
        cash: &mut dyn SettlementLink,
    ) {
        self.advance_books(now, reg, cash);
        self.poll_held(now, reg, cash);
    }

    fn advance_books(
        &mut self,
        now: Timestamp,
        reg: &mut dyn RegisterLink,
        cash: &mut dyn SettlementLink,
    ) {
        let insts: Vec<InstrumentId> = self.markets.keys().copied().collect();
        for inst in insts {
            let mut events = Vec::new();
            if let Some(m) = self.markets.get_mut(&inst) {
                m.book.advance_time(now, &mut events);
            }
            if !events.is_empty() {
                self.run(inst, events, now, reg, cash);
            }
        }
    }

    /// Expires every day order (end of the trading day).
    pub fn expire_day(
        &mut self,
        now: Timestamp,
        reg: &mut dyn RegisterLink,
        cash: &mut dyn SettlementLink,
    ) {
        let insts: Vec<InstrumentId> = self.markets.keys().copied().collect();
        for inst in insts {
            let mut events = Vec::new();
            if let Some(m) = self.markets.get_mut(&inst) {
                m.book.expire_day(&mut events);
            }
            if !events.is_empty() {
                self.run(inst, events, now, reg, cash);
            }
        }
    }

    fn anomaly(&mut self, what: String) {
        self.stats.anomalies.push(what);
    }

    /// Carries out a book command's events, then the follow-ups of any
    /// register refusal, then finalizes the orders that left the book.
    fn run(
        &mut self,
        inst: InstrumentId,
        first: Vec<Event>,
        now: Timestamp,
        reg: &mut dyn RegisterLink,
        cash: &mut dyn SettlementLink,
    ) {
        let mut events = first;
        let mut touched: Vec<u64> = Vec::new();
        loop {
            let mut follow: Vec<Followup> = Vec::new();
            for e in std::mem::take(&mut events) {
                if let Some(t) = self.tap.as_mut() {
                    t.push((inst, e));
                }
                self.on_event(inst, e, now, reg, cash, &mut follow, &mut touched);
            }
            if follow.is_empty() {
                break;
            }
            // Cancel refused sell orders first, then give the buyers back
            // their quantity.
            follow.sort_by_key(|f| matches!(f, Followup::Restore(..)));
            for f in follow {
                match f {
                    Followup::CancelSell(id) => {
                        if let Some(r) = self.orders.get_mut(&id) {
                            r.refused = true;
                        }
                        touched.push(id);
                        let resting = self
                            .markets
                            .get(&inst)
                            .is_some_and(|m| m.book.order(id).is_some());
                        if resting {
                            let _ = self.book_cmd(inst, BookCmd::Cancel(id), &mut events);
                        }
                    }
                    Followup::Restore(id, q) => {
                        touched.push(id);
                        self.restore(inst, id, q, &mut events);
                    }
                }
            }
            if events.is_empty() {
                break;
            }
        }
        touched.sort_unstable();
        touched.dedup();
        for id in touched {
            self.maybe_finalize(inst, id, cash);
        }
    }

    /// Puts `q` refused shares back into a buy order.
    fn restore(&mut self, inst: InstrumentId, id: u64, q: Qty, events: &mut Vec<Event>) {
        let Some(rec) = self.orders.get(&id) else {
            return;
        };
        let (price, tif, post_only, user) = (rec.price, rec.tif, rec.post_only, rec.user);
        let Some(m) = self.markets.get_mut(&inst) else {
            return;
        };
        if let Some(info) = m.book.order(id) {
            // Still resting: grow it back (a larger size loses priority).
            let _ = m.book.modify(id, info.price, info.qty + q, events);
        } else if let (true, Some(p)) = (tif.rests(), price) {
            let o = NewOrder {
                id,
                side: Side::Buy,
                price: Some(p),
                qty: q,
                tif,
                post_only,
                owner: user,
                stp: StpMode::CancelNewest,
            };
            if let Some(r) = self.orders.get_mut(&id) {
                r.open += q;
            }
            let Some(m) = self.markets.get_mut(&inst) else {
                return;
            };
            if m.book.submit(&o, events).is_err() {
                if let Some(r) = self.orders.get_mut(&id) {
                    r.open -= q;
                }
            }
        }
        // An order that cannot rest (IOC, FOK, market): the refused shares
        // are cancelled; their cash is released when it is finalized.
    }

    #[allow(clippy::too_many_arguments)]
    fn on_event(
        &mut self,
        inst: InstrumentId,
        e: Event,
        now: Timestamp,
        reg: &mut dyn RegisterLink,
        cash: &mut dyn SettlementLink,
        follow: &mut Vec<Followup>,
        touched: &mut Vec<u64>,
    ) {
        match e {
            Event::Accepted { .. } | Event::Rejected { .. } => {}
            Event::Trade {
                maker_id,
                taker_id,
                taker_side,
                price,
                qty,
                ..
            } => {
                let (buy, sell) = match taker_side {
                    Side::Buy => (taker_id, maker_id),
                    Side::Sell => (maker_id, taker_id),
                };
                touched.push(buy);
                touched.push(sell);
                self.stats.trades += 1;
                if let Some(m) = self.markets.get_mut(&inst) {
                    m.last_price = Some(price);
                    m.volume += u128::from(qty);
                }
                self.fill(inst, buy, sell, price, qty, now, reg, cash, follow);
            }
            Event::Cancelled {
                id, qty, reason, ..
            } => {
                touched.push(id);
                self.shrink_open(id, qty, cash);
                if let Some(r) = self.orders.get_mut(&id) {
                    r.end = Some(reason);
                }
            }
            Event::Reduced { id, qty, .. } => {
                touched.push(id);
                self.shrink_open(id, qty, cash);
            }
            Event::Modified { id, price, qty, .. } => {
                touched.push(id);
                let Some(r) = self.orders.get_mut(&id) else {
                    return;
                };
                r.open = qty;
                r.price = Some(price);
                if r.side == Side::Sell {
                    return;
                }
                r.worst = price;
                let (user, reserved) = (r.user, r.cash_reserved);
                let need = match self.markets.get(&inst) {
                    Some(m) => dec(&m.spec, price, qty).unwrap_or(reserved),
                    None => reserved,
                };
                if need > reserved {
                    self.anomaly(format!("order {id}: modify not covered by cash"));
                } else if need < reserved {
                    self.release_cash(id, user, reserved - need, cash);
                }
            }
        }
    }

    fn release_cash(
        &mut self,
        id: u64,
        user: UserId,
        amount: Decimal,
        cash: &mut dyn SettlementLink,
    ) {
        if amount <= Decimal::ZERO {
            return;
        }
        if cash.release(id, amount).is_err() {
            self.anomaly(format!("order {id}: release of {amount} refused"));
            return;
        }
        if let Some(r) = self.orders.get_mut(&id) {
            r.cash_reserved -= amount;
        }
        self.add_open_buy(user, amount, false);
    }

    /// `qty` shares of order `id` left the book without trading.
    fn shrink_open(&mut self, id: u64, qty: Qty, cash: &mut dyn SettlementLink) {
        let Some(r) = self.orders.get_mut(&id) else {
            return;
        };
        if r.open < qty {
            let msg = format!("order {id}: open {} below cancelled {qty}", r.open);
            self.anomaly(msg);
            return;
        }
        r.open -= qty;
        if r.side == Side::Buy {
            let (user, inst, worst) = (r.user, r.instrument, r.worst);
            let amount = self
                .markets
                .get(&inst)
                .and_then(|m| dec(&m.spec, worst, qty).ok())
                .unwrap_or_default();
            self.release_cash(id, user, amount, cash);
        }
    }

    /// One book trade: transfer certificate portion by portion, record,
    /// notify, settle.
    #[allow(clippy::too_many_arguments)]
    fn fill(
        &mut self,
        inst: InstrumentId,
        buy: u64,
        sell: u64,
        price: Ticks,
        qty: Qty,
        now: Timestamp,
        reg: &mut dyn RegisterLink,
        cash: &mut dyn SettlementLink,
        follow: &mut Vec<Followup>,
    ) {
        let Some(spec) = self.markets.get(&inst).map(|m| m.spec) else {
            return;
        };
        let (Some(b), Some(s)) = (self.orders.get(&buy), self.orders.get(&sell)) else {
            self.anomaly(format!("trade {buy}/{sell}: unknown order"));
            return;
        };
        let (buyer, buyer_name, buyer_account, worst) =
            (b.user, b.name_address.clone(), b.account, b.worst);
        let (seller, seller_account, poisoned) = (s.user, s.account, s.refused);
        if b.open < qty || s.open < qty {
            self.anomaly(format!("trade {buy}/{sell}: more than open"));
            return;
        }
        if let Some(b) = self.orders.get_mut(&buy) {
            b.open -= qty;
        }
        if let Some(s) = self.orders.get_mut(&sell) {
            s.open -= qty;
        }
        if poisoned {
            follow.push(Followup::Restore(buy, qty));
            return;
        }
        let mut left = qty;
        while left > 0 {
            // The sell order's next certificate goes into the transfer
            // request (taken, not copied); it is put back if the register
            // refuses the transfer.
            let Some(cert) = self
                .orders
                .get_mut(&sell)
                .and_then(|s| s.certificates.pop_front())
            else {
                self.anomaly(format!(
                    "sell order {sell}: no certificate for {left} shares"
                ));
                follow.push(Followup::Restore(buy, left));
                return;
            };
            let cert_id = cert.body.id;
            let portion = left.min(cert.body.shares);
            let match_number = self.next_match;
            self.out_seq += 1;
            let treq = self.sign(TransferRequest {
                exchange: self.cfg.user_id,
                match_number,
                instrument: inst,
                cert_id,
                quantity: portion,
                buyer,
                seller,
                sell_order: Some(sell),
                buyer_name_address: buyer_name.clone(),
                certificate: cert,
                seq: self.out_seq,
            });
            let deferred = self.signer.is_deferred();
            let sent = if deferred {
                reg.transfer_in_process(&treq, now)
            } else {
                reg.transfer(&treq, now)
            };
            let resp = match sent {
                Ok(r) => r,
                Err(_) => {
                    self.stats.register_refusals += 1;
                    if let Some(s) = self.orders.get_mut(&sell) {
                        s.refused = true;
                        s.certificates.push_front(treq.body.certificate);
                    }
                    follow.push(Followup::CancelSell(sell));
                    follow.push(Followup::Restore(buy, left));
                    let n =
                        self.refuse(seller, Digest::default(), sell, Refusal::CertificateInvalid);
                    self.outbox.push(Outgoing::Error(*n));
                    return;
                }
            };
            self.check_response(&treq, &resp, now);
            let (transfer_number, new_cert_id, change) = (
                resp.body.transfer_number,
                resp.body.new_cert_id,
                resp.body.change_cert_id,
            );
            if deferred {
                self.outbox.push(Outgoing::Transfer {
                    request: Box::new(treq),
                    response: Box::new(resp),
                });
            }
            self.next_match += 1;
            let change_cert = change.and_then(|id| reg.certificate(&id));
            if change.is_some() && change_cert.is_none() {
                self.anomaly(format!(
                    "match {match_number}: change certificate unavailable"
                ));
            }
            if let Some(s) = self.orders.get_mut(&sell) {
                if let Some(c) = change_cert {
                    s.certificates.push_front(c);
                }
                s.filled += portion;
            }
            // Settlement: pay at the trade price, release the improvement.
            let (amount, release) = match (dec(&spec, price, portion), dec(&spec, worst, portion)) {
                (Ok(a), Ok(w)) => (a, w - a),
                _ => {
                    self.anomaly(format!("match {match_number}: amount overflow"));
                    (Decimal::ZERO, Decimal::ZERO)
                }
            };
            self.out_seq += 1;
            let sreq = self.sign(SettlementRequest {
                exchange: self.cfg.user_id,
                match_number,
                buy_order: buy,
                amount,
                release,
                buyer_account,
                seller_account,
                seq: self.out_seq,
            });
            let paid = if deferred {
                let r = cash.settle_in_process(&sreq);
                self.outbox.push(Outgoing::Settlement(sreq));
                r
            } else {
                cash.settle(&sreq)
            };
            match paid {
                Ok(()) => {
                    if let Some(b) = self.orders.get_mut(&buy) {
                        b.cash_reserved -= amount + release;
                        b.filled += portion;
                    }
                    self.add_open_buy(buyer, amount + release, false);
                    self.stats.settled += amount;
                }
                Err(e) => self.anomaly(format!("match {match_number}: settlement refused: {e}")),
            }
            self.matches.push(MatchRecord {
                match_number,
                buy_order: buy,
                sell_order: sell,
                instrument: inst,
                cert_id,
                quantity: portion,
                price,
                buyer,
                seller,
                transfer_number,
                new_cert_id,
                change_cert_id: change,
                amount,
            });
            self.stats.matches += 1;
            self.stats.shares += u128::from(portion);
            for (party, order, side) in [(buyer, buy, Side::Buy), (seller, sell, Side::Sell)] {
                let n = self.sign(CompletionNotice {
                    party,
                    reception_number: order,
                    side,
                    match_number,
                    transfer_number,
                    instrument: inst,
                    quantity: portion,
                    price,
                    new_cert_id,
                    change_cert_id: change,
                });
                self.outbox.push(Outgoing::Completion(n));
            }
            left -= portion;
        }
    }

    /// Checks the register's signed response against the request.
    fn check_response(
        &mut self,
        req: &Signed<TransferRequest>,
        resp: &Signed<TransferResponse>,
        now: Timestamp,
    ) {
        // Deferred: both signatures are still pending (the signing stage
        // makes them and fills in the hash of the signed request).
        let deferred = self.signer.is_deferred();
        if !deferred {
            self.stats.verified += 1;
        }
        let ok = resp.signer == self.cfg.register_id
            && self
                .identities
                .party(self.cfg.register_id, now)
                .ok()
                .is_some_and(|p| deferred || resp.verify(&p.key).is_ok())
            && (deferred || resp.body.request_hash == req.digest())
            && resp.body.match_number == req.body.match_number;
        if !ok {
            self.anomaly(format!(
                "match {}: register response does not check",
                req.body.match_number
            ));
        }
    }

    /// Ends an order that left the book: releases its remaining cash and
    /// certificates and tells the owner.
    fn maybe_finalize(&mut self, inst: InstrumentId, id: u64, cash: &mut dyn SettlementLink) {
        let resting = self
            .markets
            .get(&inst)
            .is_some_and(|m| m.book.order(id).is_some());
        let Some(r) = self.orders.get(&id) else {
            return;
        };
        if resting || r.state != OrderState::Open {
            return;
        }
        let (user, left, open) = (r.user, r.cash_reserved, r.open);
        if open != 0 {
            self.anomaly(format!("order {id}: left the book with {open} open"));
        }
        if left > Decimal::ZERO {
            self.release_cash(id, user, left, cash);
        }
        let Some(r) = self.orders.get_mut(&id) else {
            return;
        };
        r.state = match (r.refused, r.end) {
            (true, _) => OrderState::Cancelled,
            (false, Some(CancelReason::Expired)) => OrderState::Expired,
            (false, Some(_)) => OrderState::Cancelled,
            (false, None) => OrderState::Filled,
        };
        let state = r.state;
        let certs: Vec<Signed<Certificate>> = r.certificates.drain(..).collect();
        let mut bad = Vec::new();
        for c in &certs {
            if self.ids.release(c.body.id.serial, id).is_err() {
                bad.push(c.body.id);
            }
        }
        for b in bad {
            // A certificate the register refused may no longer be ours.
            if !matches!(self.ids.state(b.serial), IdState::Live | IdState::Spent) {
                self.anomaly(format!("order {id}: could not release {b:?}"));
            }
        }
        if !certs.is_empty() {
            self.outbox.push(Outgoing::Released {
                user,
                reception_number: id,
                state,
                certificates: certs,
            });
        }
    }

    /// Checks DESIGN.md section 3 across the exchange, the register and the
    /// ledger; returns every violation found.
    pub fn check_invariants(&self, reg: &Register, ledger: &Ledger) -> Result<(), Vec<String>> {
        let mut errs: Vec<String> = self.stats.anomalies.clone();
        // 2. Shares conserved per instrument (register records = issued =
        // live + reserved IDs).
        if let Err(e) = reg.audit() {
            errs.push(format!("register audit: {e}"));
        }
        // 5. Cash conserved, nothing negative.
        if let Err(e) = ledger.check_conservation() {
            errs.push(format!("ledger: {e}"));
        }
        // 3 and 5: every open order covered; nothing reserved twice.
        let mut owner_of: HashMap<u64, u64> = HashMap::new();
        let mut open_buy: HashMap<UserId, Decimal> = HashMap::new();
        let all = self
            .orders
            .iter()
            .map(|(id, r)| (id, r, false))
            .chain(self.held.iter().map(|(id, h)| (id, &h.rec, true)));
        for (id, r, held) in all {
            let m = self.markets.get(&r.instrument);
            let resting = m.and_then(|m| m.book.order(*id));
            if held && (r.state != OrderState::Open || self.orders.contains_key(id)) {
                errs.push(format!("order {id}: held but not open, or recorded twice"));
            }
            match r.state {
                OrderState::Open => {
                    if held {
                        if resting.is_some() {
                            errs.push(format!("order {id}: held but in the book"));
                        }
                        if r.open != r.quantity {
                            errs.push(format!("order {id}: held with {} open", r.open));
                        }
                    } else {
                        let Some(info) = resting else {
                            errs.push(format!("order {id}: open but not in the book"));
                            continue;
                        };
                        if info.qty != r.open {
                            errs.push(format!(
                                "order {id}: book {} vs record {}",
                                info.qty, r.open
                            ));
                        }
                    }
                    if r.side == Side::Sell {
                        if r.certificate_shares() < u128::from(r.open) {
                            errs.push(format!("sell {id}: certificates do not cover {}", r.open));
                        }
                    } else {
                        let need = m.and_then(|m| dec(&m.spec, r.worst, r.open).ok());
                        if need != Some(r.cash_reserved) {
                            errs.push(format!(
                                "buy {id}: reserved {} for {need:?}",
                                r.cash_reserved
                            ));
                        }
                        let held = ledger.reserved_for(*id).unwrap_or_default();
                        if held != r.cash_reserved {
                            errs.push(format!("buy {id}: ledger holds {held}"));
                        }
                        *open_buy.entry(r.user).or_default() += r.cash_reserved;
                    }
                }
                _ => {
                    if resting.is_some() {
                        errs.push(format!("order {id}: closed but in the book"));
                    }
                    if !r.certificates.is_empty() || ledger.reserved_for(*id).is_some() {
                        errs.push(format!("order {id}: closed but still holds reservations"));
                    }
                }
            }
            for c in &r.certificates {
                if let Some(other) = owner_of.insert(c.body.id.serial, *id) {
                    errs.push(format!(
                        "certificate {:?} held by {other} and {id}",
                        c.body.id
                    ));
                }
                if self.ids.state(c.body.id.serial) != IdState::Reserved(*id) {
                    errs.push(format!("certificate {:?} not reserved to {id}", c.body.id));
                }
                if c.body.holder != r.user {
                    errs.push(format!("certificate {:?} not the seller's", c.body.id));
                }
            }
        }
        for (u, v) in &self.open_buy_value {
            if open_buy.get(u).copied().unwrap_or_default() != *v {
                errs.push(format!("user {u}: open buy value {v} out of step"));
            }
        }
        // The ID table agrees: every reserved ID belongs to an open order
        // that holds it (or to the register, momentarily: never here).
        for s in 0..self.ids.allocated() {
            if let IdState::Reserved(o) = self.ids.state(s) {
                if owner_of.get(&s) != Some(&o) {
                    errs.push(format!(
                        "serial {s} reserved to {o}, which does not hold it"
                    ));
                }
            }
        }
        // The register, the ID list and the match list agree.
        for m in &self.matches {
            if self.ids.state(m.cert_id.serial) != IdState::Spent {
                errs.push(format!(
                    "match {}: sold certificate not spent",
                    m.match_number
                ));
            }
            match self.ids.get(m.new_cert_id.serial) {
                Some((_, f)) if f.holder == m.buyer && f.quantity == m.quantity => {}
                _ => errs.push(format!(
                    "match {}: buyer's certificate wrong",
                    m.match_number
                )),
            }
            if reg
                .transfers()
                .get(usize::try_from(m.transfer_number.wrapping_sub(1)).unwrap_or(usize::MAX))
                .is_none_or(|t| t.old_cert_id != m.cert_id || t.buyer != m.buyer)
            {
                errs.push(format!(
                    "match {}: register has no such transfer",
                    m.match_number
                ));
            }
        }
        // 6. No crossed book.
        for (i, m) in &self.markets {
            if let (Some((b, _)), Some((a, _))) = (m.book.best_bid(), m.book.best_ask()) {
                if b >= a {
                    errs.push(format!("instrument {i}: book crossed {b} >= {a}"));
                }
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}
