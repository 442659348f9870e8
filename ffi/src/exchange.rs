//! Settlement (`kbk_ledger`: cash accounts) and the exchange
//! (`kbk_exchange`: reception, matching, transfers through a
//! `kbk_register`, settlement through a `kbk_ledger`, the outbox, and the
//! queries).

use crate::book::{kbk_level, level_to_c};
use crate::crypto::{decimal, kbk_keypair, key_arg, side};
use crate::identity::{add_attestation, add_revocation, kbk_trust, store_from};
use crate::message::*;
use crate::oob::{
    kbk_oob, kbk_oob_config, kbk_oob_hooks, kbk_oob_session, new_gated, session_from_c,
};
use crate::register::{kbk_register, RegisterHandle};
use crate::status::*;
use core::ffi::{c_char, CStr};
use engine::crypto::{Message, MsgKind, Signed};
use engine::exchange::oob_gate::{GateHost, OobGate};
use engine::exchange::{
    Admission, Answer, CancelRequest, Exchange, ExchangeConfig, HeldDecision, InstrumentSpec,
    MatchRecord, ModifyRequest, OrderRequest, OrderState, Outgoing, ReceptionHook, ReduceRequest,
    RegisterLink, SettlementLink, ALL_REFUSALS,
};
use engine::register::Register;
use engine::settle::{AccountInquiry, Ledger, SettleError};
use engine::types::{PriceScale, Timestamp};
use rust_decimal::Decimal;
use std::collections::VecDeque;
use std::ffi::CString;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// Room for a decimal amount as text with its NUL (`kbk_match.amount`...).
pub const KBK_DECIMAL_LEN: usize = 48;

/// `kbk_ledger_balance`: the available cash.
pub const KBK_BALANCE_AVAILABLE: u32 = 0;
/// The cash reserved for open buy orders.
pub const KBK_BALANCE_RESERVED: u32 = 1;

/// `kbk_order_status.state`: resting (or held).
pub const KBK_ORDER_STATE_OPEN: u32 = 0;
/// Completely filled.
pub const KBK_ORDER_STATE_FILLED: u32 = 1;
/// Cancelled (by request, IOC/FOK remainder, self-trade prevention, or its
/// certificate refused at transfer).
pub const KBK_ORDER_STATE_CANCELLED: u32 = 2;
/// Day or GTD expiry.
pub const KBK_ORDER_STATE_EXPIRED: u32 = 3;

/// `kbk_outgoing.kind`: a signed error notice (the message) for `user`.
pub const KBK_OUT_ERROR: u32 = 0;
/// A signed completion notice (the message) for `user`; a buyer claims its
/// certificate with the notice's transfer number.
pub const KBK_OUT_COMPLETION: u32 = 1;
/// An order of `user` ended in `state`; `certificates` items of kind
/// `KBK_OUT_RELEASED_CERTIFICATE` follow (no message).
pub const KBK_OUT_RELEASED: u32 = 2;
/// One certificate handed back to `user` (the message) from order
/// `reception_number`.
pub const KBK_OUT_RELEASED_CERTIFICATE: u32 = 3;
/// A transfer request of the exchange to the register (the message), for
/// the match's seller `user`; a `KBK_OUT_TRANSFER_RESPONSE` follows. Only
/// from an exchange running on the concurrent runtime.
pub const KBK_OUT_TRANSFER_REQUEST: u32 = 4;
/// The register's response to the transfer request before it (the message).
pub const KBK_OUT_TRANSFER_RESPONSE: u32 = 5;
/// A settlement request of the exchange (the message). Only from an
/// exchange running on the concurrent runtime.
pub const KBK_OUT_SETTLEMENT: u32 = 6;

/// The exchange's own description (`kbk_exchange_new`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_exchange_config {
    /// The exchange's user id (signer of its messages).
    pub user_id: u64,
    /// The register's user id (signer of certificates).
    pub register_id: u64,
    /// The value of one minor currency unit as a decimal string (attestation
    /// limits are in minor units), e.g. "0.01".
    pub minor_unit: *const c_char,
}

/// One instrument's trading rules (`kbk_exchange_add_instrument`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_instrument_spec {
    /// Quantities are multiples of this.
    pub lot_size: u64,
    /// Lowest price of the daily band (ticks, inclusive, positive).
    pub band_low: i64,
    /// Highest price of the daily band (ticks, inclusive).
    pub band_high: i64,
    /// Largest quantity of one order.
    pub max_qty: u64,
    /// The tick size as a decimal string, e.g. "0.01".
    pub tick: *const c_char,
    /// Instrument id (the register's).
    pub instrument: u32,
    /// Zero.
    pub reserved: u32,
}

/// One item of the exchange's outbox (`kbk_exchange_next_outgoing`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_outgoing {
    /// The party concerned.
    pub user: u64,
    /// The order concerned (0: none).
    pub reception_number: u64,
    /// RELEASED: the number of certificate items that follow.
    pub certificates: u64,
    /// `KBK_OUT_*`.
    pub kind: u32,
    /// RELEASED: how the order ended, `KBK_ORDER_STATE_*`.
    pub state: u32,
}

/// An order as the exchange records it (from `kbk_exchange_order`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_order_status {
    /// Reception number.
    pub reception_number: u64,
    /// Owner.
    pub user: u64,
    /// Limit price in ticks (when `has_price`).
    pub price: i64,
    /// The price per share the cash reservation assumes (buy).
    pub worst: i64,
    /// Quantity received.
    pub quantity: u64,
    /// Open quantity.
    pub open: u64,
    /// Filled (transferred) quantity.
    pub filled: u64,
    /// Settlement account.
    pub account: u64,
    /// Certificates reserved to this sell order.
    pub certificates: u64,
    /// Instrument.
    pub instrument: u32,
    /// `KBK_ORDER_STATE_*`.
    pub state: u32,
    /// `KBK_SIDE_*`.
    pub side: u8,
    /// 1 for a limit order.
    pub has_price: u8,
    /// 0 or 1.
    pub post_only: u8,
    /// 1 while held by out-of-band verification (received, not in the
    /// book).
    pub held: u8,
    /// Zero.
    pub reserved: [u8; 4],
    /// BLAKE3 of the signed order.
    pub request_hash: [u8; 32],
    /// Cash reserved for this buy order (decimal text, NUL-terminated).
    pub cash_reserved: [c_char; KBK_DECIMAL_LEN],
}

/// One match (drawing 14) with its transfer and settlement.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_match {
    /// Match number.
    pub match_number: u64,
    /// Buy order's reception number.
    pub buy_order: u64,
    /// Sell order's reception number.
    pub sell_order: u64,
    /// Shares.
    pub quantity: u64,
    /// Price in ticks.
    pub price: i64,
    /// Buyer.
    pub buyer: u64,
    /// Seller.
    pub seller: u64,
    /// The register's transfer number.
    pub transfer_number: u64,
    /// The sold (now retired) certificate ID.
    pub cert_id: kbk_cert_id,
    /// The buyer's new certificate ID.
    pub new_cert_id: kbk_cert_id,
    /// The seller's change certificate ID (when `has_change`).
    pub change_cert_id: kbk_cert_id,
    /// Instrument.
    pub instrument: u32,
    /// 1 when the certificate was split.
    pub has_change: u8,
    /// Zero.
    pub reserved: [u8; 3],
    /// Amount paid (decimal text, NUL-terminated).
    pub amount: [c_char; KBK_DECIMAL_LEN],
}

impl Default for kbk_match {
    fn default() -> Self {
        let id = kbk_cert_id::default();
        kbk_match {
            match_number: 0,
            buy_order: 0,
            sell_order: 0,
            quantity: 0,
            price: 0,
            buyer: 0,
            seller: 0,
            transfer_number: 0,
            cert_id: id,
            new_cert_id: id,
            change_cert_id: id,
            instrument: 0,
            has_change: 0,
            reserved: [0; 3],
            amount: [0; KBK_DECIMAL_LEN],
        }
    }
}

/// One certificate an investor holds, as the exchange's ID table shows it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_holding {
    /// The certificate ID's serial.
    pub serial: u64,
    /// Shares.
    pub shares: u64,
    /// The sell order it is reserved to (when `is_reserved`).
    pub reserved_to: u64,
    /// Instrument.
    pub instrument: u32,
    /// 1 when reserved to an order.
    pub is_reserved: u8,
    /// Zero.
    pub reserved: [u8; 3],
}

/// Market data of one book.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_market_data {
    /// Best bid price (when `has_bid`).
    pub bid_price: i64,
    /// Quantity at the best bid.
    pub bid_qty: u64,
    /// Best ask price (when `has_ask`).
    pub ask_price: i64,
    /// Quantity at the best ask.
    pub ask_qty: u64,
    /// Last trade price (when `has_last`).
    pub last_price: i64,
    /// Shares traded (saturating).
    pub volume: u64,
    /// Instrument.
    pub instrument: u32,
    /// 0 or 1.
    pub has_bid: u8,
    /// 0 or 1.
    pub has_ask: u8,
    /// 0 or 1.
    pub has_last: u8,
    /// Zero.
    pub reserved: u8,
}

/// The exchange's counters.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_exchange_counters {
    /// Orders received (accepted or not).
    pub orders: u64,
    /// Orders accepted.
    pub accepted: u64,
    /// Cancel, reduce and modify requests received.
    pub amendments: u64,
    /// Requests refused (all reasons).
    pub refused: u64,
    /// Book trades.
    pub trades: u64,
    /// Matches transferred and settled.
    pub matches: u64,
    /// Transfers refused by the register.
    pub register_refusals: u64,
    /// Signatures made.
    pub signed: u64,
    /// Signatures verified.
    pub verified: u64,
    /// Shares transferred (saturating).
    pub shares: u64,
    /// Internal inconsistencies seen (must stay 0).
    pub anomalies: u64,
    /// Cash settled (decimal text, NUL-terminated).
    pub settled: [c_char; KBK_DECIMAL_LEN],
}

fn dec_to_c(d: Decimal) -> [c_char; KBK_DECIMAL_LEN] {
    let mut out = [0 as c_char; KBK_DECIMAL_LEN];
    // A Decimal prints in at most 31 bytes (28 digits, sign, point).
    for (o, b) in out
        .iter_mut()
        .zip(d.to_string().bytes().take(KBK_DECIMAL_LEN - 1))
    {
        *o = b as c_char;
    }
    out
}

fn state_to_c(s: OrderState) -> u32 {
    match s {
        OrderState::Open => KBK_ORDER_STATE_OPEN,
        OrderState::Filled => KBK_ORDER_STATE_FILLED,
        OrderState::Cancelled => KBK_ORDER_STATE_CANCELLED,
        OrderState::Expired => KBK_ORDER_STATE_EXPIRED,
    }
}

pub(crate) fn settle_err(e: &SettleError) -> Fail {
    let status = match e {
        SettleError::UnknownAccount => KBK_STATUS_SETTLE_UNKNOWN_ACCOUNT,
        SettleError::DuplicateAccount => KBK_STATUS_SETTLE_DUPLICATE_ACCOUNT,
        SettleError::NotOwner => KBK_STATUS_SETTLE_NOT_OWNER,
        SettleError::InsufficientFunds => KBK_STATUS_SETTLE_INSUFFICIENT_FUNDS,
        SettleError::BadAmount | SettleError::Overflow => KBK_STATUS_SETTLE_BAD_AMOUNT,
        _ => KBK_STATUS_SETTLE_REFUSED,
    };
    Fail::new(status, e.to_string())
}

// ---- the ledger -------------------------------------------------------------------

/// The settlement service's cash ledger: accounts, reservations of buy
/// orders, delivery versus payment.
///
/// Thread safety: not thread-safe; use from one thread at a time (and not
/// during a call on an exchange it is passed to).
#[derive(Debug)]
pub struct kbk_ledger {
    _private: [u8; 0],
}

#[repr(C)]
pub(crate) struct LedgerHandle {
    header: Header,
    pub(crate) ledger: Slot<Ledger>,
}

impl Handle for LedgerHandle {
    const MAGIC: u64 = 0x6b62_6b5f_6c65_6467; // "kbk_ledg"
    fn header(&self) -> &Header {
        &self.header
    }
}

#[inline]
fn ledger_mut(l: *mut kbk_ledger, f: impl FnOnce(&mut Ledger) -> Res) -> kbk_status {
    with_mut(l.cast::<LedgerHandle>(), |h| f(&mut h.ledger))
}

/// An empty ledger of the settlement service `user_id`, signing with (a
/// copy of) `key`, into `*out`. Free it with `kbk_ledger_free`.
#[no_mangle]
pub extern "C" fn kbk_ledger_new(
    user_id: u64,
    key: *const kbk_keypair,
    out: *mut *mut kbk_ledger,
) -> kbk_status {
    guard(|| {
        let o = crate::status::out(out, "out")?;
        let k = key_arg(key)?;
        o.set(
            into_raw(LedgerHandle {
                header: Header::new(LedgerHandle::MAGIC),
                ledger: Slot::new(Ledger::new(user_id, k.copy())),
            })
            .cast::<kbk_ledger>(),
        );
        Ok(())
    })
}

/// Frees a ledger. NULL is fine.
#[no_mangle]
pub extern "C" fn kbk_ledger_free(ledger: *mut kbk_ledger) {
    free(ledger.cast::<LedgerHandle>());
}

/// Trusts the exchange `exchange_id` (whose attestation the host checked)
/// to send settlement requests signed with the 32-byte `key`.
#[no_mangle]
pub extern "C" fn kbk_ledger_trust_exchange(
    ledger: *mut kbk_ledger,
    exchange_id: u64,
    key: *const u8,
) -> kbk_status {
    ledger_mut(ledger, |l| {
        l.trust_exchange(exchange_id, public_key(key, "key")?);
        Ok(())
    })
}

/// Registers investor `user_id`'s 32-byte `key` for account inquiries.
#[no_mangle]
pub extern "C" fn kbk_ledger_register_investor(
    ledger: *mut kbk_ledger,
    user_id: u64,
    key: *const u8,
) -> kbk_status {
    ledger_mut(ledger, |l| {
        l.register_investor(user_id, public_key(key, "key")?);
        Ok(())
    })
}

/// Opens the empty account `account` for `owner`.
#[no_mangle]
pub extern "C" fn kbk_ledger_open_account(
    ledger: *mut kbk_ledger,
    account: u64,
    owner: u64,
) -> kbk_status {
    ledger_mut(ledger, |l| {
        l.open_account(account, owner).map_err(|e| settle_err(&e))
    })
}

/// Pays `amount` (a positive decimal string, e.g. "1000000.00") into
/// `account`.
#[no_mangle]
pub extern "C" fn kbk_ledger_deposit(
    ledger: *mut kbk_ledger,
    account: u64,
    amount: *const c_char,
) -> kbk_status {
    ledger_mut(ledger, |l| {
        let a = decimal(amount, "amount")?;
        l.deposit(account, a).map_err(|e| settle_err(&e))
    })
}

/// Pays `amount` out of `account`'s available balance.
#[no_mangle]
pub extern "C" fn kbk_ledger_withdraw(
    ledger: *mut kbk_ledger,
    account: u64,
    amount: *const c_char,
) -> kbk_status {
    ledger_mut(ledger, |l| {
        let a = decimal(amount, "amount")?;
        l.withdraw(account, a).map_err(|e| settle_err(&e))
    })
}

/// The owner of `account`.
#[no_mangle]
pub extern "C" fn kbk_ledger_owner(
    ledger: *mut kbk_ledger,
    account: u64,
    out: *mut u64,
) -> kbk_status {
    ledger_mut(ledger, |l| {
        let o = crate::status::out(out, "out")?;
        let a = l
            .account(account)
            .ok_or_else(|| settle_err(&SettleError::UnknownAccount))?;
        o.set(a.owner);
        Ok(())
    })
}

/// A balance of `account` (`KBK_BALANCE_*`) as decimal text with a NUL in
/// `buf` of `cap` bytes (`KBK_DECIMAL_LEN` always suffices); its length
/// into `*out_len`.
#[no_mangle]
pub extern "C" fn kbk_ledger_balance(
    ledger: *mut kbk_ledger,
    account: u64,
    which: u32,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> kbk_status {
    ledger_mut(ledger, |l| {
        let a = l
            .account(account)
            .ok_or_else(|| settle_err(&SettleError::UnknownAccount))?;
        let d = match which {
            KBK_BALANCE_AVAILABLE => a.available,
            KBK_BALANCE_RESERVED => a.reserved,
            v => return Err(Fail::arg(format!("which must be 0 or 1, got {v}"))),
        };
        write_cstr(&d.to_string(), buf, cap, out_len)
    })
}

/// The cash reserved for buy order `order` (its reception number) as
/// decimal text in `buf` of `cap` bytes (`KBK_STATUS_NOT_FOUND` when the
/// order holds no reservation).
#[no_mangle]
pub extern "C" fn kbk_ledger_reserved_for(
    ledger: *mut kbk_ledger,
    order: u64,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> kbk_status {
    ledger_mut(ledger, |l| {
        let d = l
            .reserved_for(order)
            .ok_or_else(|| Fail::new(KBK_STATUS_NOT_FOUND, "no reservation for that order"))?;
        write_cstr(&d.to_string(), buf, cap, out_len)
    })
}

/// Answers a signed account inquiry (wire bytes) from a registered
/// investor; the signed account answer into `*out`.
#[no_mangle]
pub extern "C" fn kbk_ledger_inquiry(
    ledger: *mut kbk_ledger,
    bytes: *const u8,
    len: usize,
    out: *mut *mut kbk_message,
) -> kbk_status {
    ledger_mut(ledger, |l| {
        let o = crate::status::out(out, "out")?;
        let req = typed_bytes::<AccountInquiry>(bytes, len)?;
        emit(&l.inquiry(&req).map_err(|e| settle_err(&e))?, o)
    })
}

/// Checks that cash is conserved (deposits - withdrawals = balances;
/// reservations match): `KBK_STATUS_EXCHANGE_INVARIANT` otherwise.
#[no_mangle]
pub extern "C" fn kbk_ledger_check(ledger: *mut kbk_ledger) -> kbk_status {
    ledger_mut(ledger, |l| {
        l.check_conservation()
            .map_err(|e| Fail::new(KBK_STATUS_EXCHANGE_INVARIANT, e))
    })
}

// ---- the exchange -------------------------------------------------------------------

/// The exchange: order reception (every check of seed 001, in order),
/// matching, certificate-ID invalidation, transfers through its register
/// and settlement through its ledger.
///
/// The register and ledger are passed to every call that may trade; they
/// must be the same ones each time (the exchange shares the register's
/// certificate-ID table from `kbk_exchange_new` on).
///
/// Thread safety: not thread-safe; use from one thread at a time, and do
/// not use its register or ledger on another thread during a call.
#[derive(Debug)]
pub struct kbk_exchange {
    _private: [u8; 0],
}

#[repr(C)]
pub(crate) struct ExchangeHandle {
    header: Header,
    pub(crate) ex: Slot<Exchange>,
    /// The outbox, flattened for C.
    outbox: VecDeque<(kbk_outgoing, Option<Vec<u8>>)>,
    /// The out-of-band reception gate, when enabled (shared with the
    /// exchange's reception hook, so investors can be bound later).
    gate: Option<Arc<Mutex<OobGate>>>,
}

/// The exchange's reception hook: the shared gate.
struct SharedGate(Arc<Mutex<OobGate>>);

impl SharedGate {
    fn gate(&self) -> std::sync::MutexGuard<'_, OobGate> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ReceptionHook for SharedGate {
    fn admit(
        &mut self,
        order: &Signed<OrderRequest>,
        reception_number: u64,
        now: Timestamp,
    ) -> bool {
        self.gate().admit(order, reception_number, now)
    }
    fn reception(
        &mut self,
        order: &Signed<OrderRequest>,
        reception_number: u64,
        worst: engine::types::Ticks,
        now: Timestamp,
    ) -> Admission {
        self.gate().reception(order, reception_number, worst, now)
    }
    fn decisions(&mut self, now: Timestamp) -> Vec<HeldDecision> {
        self.gate().decisions(now)
    }
}

impl Handle for ExchangeHandle {
    const MAGIC: u64 = 0x6b62_6b5f_6578_6368; // "kbk_exch"
    fn header(&self) -> &Header {
        &self.header
    }
}

#[inline]
fn ex_mut(e: *mut kbk_exchange, f: impl FnOnce(&mut ExchangeHandle) -> Res) -> kbk_status {
    with_mut(e.cast::<ExchangeHandle>(), f)
}

/// A call that may trade: the exchange with its register and ledger.
#[inline]
fn ex_trade(
    e: *mut kbk_exchange,
    r: *mut kbk_register,
    l: *mut kbk_ledger,
    f: impl FnOnce(&mut Exchange, &mut Register, &mut Ledger) -> Res,
) -> kbk_status {
    with_mut3(
        e.cast::<ExchangeHandle>(),
        r.cast::<RegisterHandle>(),
        l.cast::<LedgerHandle>(),
        |e, r, l| f(&mut e.ex, &mut r.reg, &mut l.ledger),
    )
}

/// An exchange described by `config`, signing with (a copy of) `key`,
/// trusting the CA `trust` names, and sharing `register`'s certificate-ID
/// table, into `*out`. Free it with `kbk_exchange_free`.
#[no_mangle]
pub extern "C" fn kbk_exchange_new(
    config: *const kbk_exchange_config,
    key: *const kbk_keypair,
    trust: *const kbk_trust,
    register: *mut kbk_register,
    out: *mut *mut kbk_exchange,
) -> kbk_status {
    with_mut(register.cast::<RegisterHandle>(), |r| {
        let o = crate::status::out(out, "out")?;
        let c = req(config, "config")?;
        let k = key_arg(key)?;
        let ids = store_from(trust)?;
        let cfg = ExchangeConfig {
            user_id: c.user_id,
            register_id: c.register_id,
            minor_unit: decimal(c.minor_unit, "minor_unit")?,
        };
        let ex = Exchange::new(cfg, k.copy(), ids, r.reg.id_table());
        o.set(
            into_raw(ExchangeHandle {
                header: Header::new(ExchangeHandle::MAGIC),
                ex: Slot::new(ex),
                outbox: VecDeque::new(),
                gate: None,
            })
            .cast::<kbk_exchange>(),
        );
        Ok(())
    })
}

/// Frees an exchange. NULL is fine.
#[no_mangle]
pub extern "C" fn kbk_exchange_free(exchange: *mut kbk_exchange) {
    free(exchange.cast::<ExchangeHandle>());
}

/// Enables out-of-band verification at order reception (DESIGN 1.6): a new
/// service with `config` and `hooks` into `*out` (use it with the
/// `kbk_oob_*` calls: register contractors, log them in, answer, sweep;
/// free it with `kbk_oob_free` when done with it, the exchange keeps its
/// own reference). The service's hold, forward and release decisions go to
/// the exchange, so those hooks are not called and may be NULL; `deliver`
/// and `alarm` are required; `random`, when set, also serves the gate.
/// Orders of investors bound with `kbk_exchange_oob_bind` are checked: at
/// or above the contractor's threshold an order is held (receipt given,
/// certificates and cash reserved, not in the book) until the holder
/// answers; `kbk_exchange_poll_held` (after an answer) and
/// `kbk_exchange_advance_time` carry out the decisions. Once per exchange.
#[no_mangle]
pub extern "C" fn kbk_exchange_enable_oob(
    exchange: *mut kbk_exchange,
    config: *const kbk_oob_config,
    hooks: *const kbk_oob_hooks,
    out: *mut *mut kbk_oob,
) -> kbk_status {
    ex_mut(exchange, |h| {
        let o = crate::status::out(out, "out")?;
        if h.gate.is_some() {
            return Err(Fail::arg("out-of-band verification is already enabled"));
        }
        let host = GateHost::new();
        let (handle, service, rng) = new_gated(config, hooks, host.clone())?;
        let gate = Arc::new(Mutex::new(OobGate::new(service, host, Box::new(rng))));
        h.ex.set_reception_hook(Box::new(SharedGate(gate.clone())));
        h.gate = Some(gate);
        o.set(handle);
        Ok(())
    })
}

/// Binds investor `user` to an out-of-band session (`kbk_oob_login` on
/// the service from `kbk_exchange_enable_oob`): that investor's orders are
/// checked from now on (`KBK_STATUS_NOT_FOUND` when out-of-band
/// verification is not enabled).
#[no_mangle]
pub extern "C" fn kbk_exchange_oob_bind(
    exchange: *mut kbk_exchange,
    user: u64,
    session: *const kbk_oob_session,
) -> kbk_status {
    ex_mut(exchange, |h| {
        let s = session_from_c(req(session, "session")?);
        let gate = h.gate.as_ref().ok_or_else(|| {
            Fail::new(
                KBK_STATUS_NOT_FOUND,
                "out-of-band verification is not enabled",
            )
        })?;
        gate.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bind(user, s);
        Ok(())
    })
}

/// Carries out the out-of-band decisions reached since the last call at
/// time `now`: confirmed orders enter the book (same reception number),
/// cancelled, refused or expired ones are voided and their reservations
/// released (see the outbox).
#[no_mangle]
pub extern "C" fn kbk_exchange_poll_held(
    exchange: *mut kbk_exchange,
    register: *mut kbk_register,
    ledger: *mut kbk_ledger,
    now: u64,
) -> kbk_status {
    time_step(exchange, register, ledger, now, Exchange::poll_held)
}

/// Writes up to `cap` reception numbers of held orders (by number) into
/// `orders`; `*out_n` is the number written.
#[no_mangle]
pub extern "C" fn kbk_exchange_held_orders(
    exchange: *mut kbk_exchange,
    orders: *mut u64,
    cap: usize,
    out_n: *mut usize,
) -> kbk_status {
    ex_mut(exchange, |h| {
        let numbers = h.ex.held_orders().map(|r| r.reception_number);
        fill(orders, cap, out_n, "orders", numbers)
    })
}

/// Lists an instrument with its trading rules.
#[no_mangle]
pub extern "C" fn kbk_exchange_add_instrument(
    exchange: *mut kbk_exchange,
    spec: *const kbk_instrument_spec,
) -> kbk_status {
    ex_mut(exchange, |h| {
        let s = req(spec, "spec")?;
        let tick = PriceScale::new(decimal(s.tick, "tick")?)
            .map_err(|e| Fail::arg(format!("tick: {e}")))?;
        if h.ex.spec(s.instrument).is_some() {
            return Err(Fail::new(
                KBK_STATUS_EXCHANGE_INVALID_INSTRUMENT,
                "instrument already listed",
            ));
        }
        h.ex.add_instrument(InstrumentSpec {
            instrument: s.instrument,
            tick,
            lot_size: s.lot_size,
            band_low: s.band_low,
            band_high: s.band_high,
            max_qty: s.max_qty,
        })
        .map_err(|e| Fail::new(KBK_STATUS_EXCHANGE_INVALID_INSTRUMENT, e))
    })
}

/// Registers a party's attestation (wire bytes) with the exchange.
#[no_mangle]
pub extern "C" fn kbk_exchange_add_attestation(
    exchange: *mut kbk_exchange,
    bytes: *const u8,
    len: usize,
) -> kbk_status {
    ex_mut(exchange, |h| {
        add_attestation(h.ex.identities_mut(), bytes, len)
    })
}

/// Applies a CA revocation (wire bytes) to the exchange's parties.
#[no_mangle]
pub extern "C" fn kbk_exchange_revoke(
    exchange: *mut kbk_exchange,
    bytes: *const u8,
    len: usize,
) -> kbk_status {
    ex_mut(exchange, |h| {
        add_revocation(h.ex.identities_mut(), bytes, len)
    })
}

/// The exchange's 32-byte public key into `out` (give it to
/// `kbk_ledger_trust_exchange`).
#[no_mangle]
pub extern "C" fn kbk_exchange_public_key(exchange: *mut kbk_exchange, out: *mut u8) -> kbk_status {
    ex_mut(exchange, |h| {
        crate::status::out(out.cast::<[u8; 32]>(), "out")?.set(h.ex.public_key().to_bytes());
        Ok(())
    })
}

/// A call that lets time pass on the exchange.
type TimeStep = fn(&mut Exchange, Timestamp, &mut dyn RegisterLink, &mut dyn SettlementLink);

fn time_step(
    exchange: *mut kbk_exchange,
    register: *mut kbk_register,
    ledger: *mut kbk_ledger,
    now: u64,
    step: TimeStep,
) -> kbk_status {
    ex_trade(exchange, register, ledger, |e, r, l| {
        step(e, now, r, l);
        Ok(())
    })
}

type Handler<T> = fn(
    &mut Exchange,
    &Signed<T>,
    Timestamp,
    &mut dyn RegisterLink,
    &mut dyn SettlementLink,
) -> Answer;

/// Decodes a request of kind `T` and runs `handler`: the answer and its
/// refusal code (0 when accepted).
fn answer<T: Message>(
    bytes: &[u8],
    handler: Handler<T>,
    e: &mut Exchange,
    now: Timestamp,
    r: &mut Register,
    l: &mut Ledger,
) -> Res<(Vec<u8>, u32)> {
    let req = Signed::<T>::from_bytes(bytes).map_err(wire_err)?;
    Ok(match handler(e, &req, now, r, l) {
        Ok(receipt) => (receipt.to_bytes(), 0),
        Err(notice) => (notice.to_bytes(), u32::from(notice.body.reason)),
    })
}

/// Receives a signed request (wire bytes) at time `now`: an order
/// (`KBK_KIND_ORDER_REQUEST`: every reception check, then matching,
/// transfers through `register`, settlement through `ledger`), or a
/// cancel, reduce or modify request for an open order. The exchange's
/// signed answer goes to `*out_answer`: a reception receipt (and
/// `*out_refusal` = 0) or an error notice (and `*out_refusal` = its
/// refusal code, see `kbk_refusal_name`). Both are `KBK_STATUS_OK`; a
/// status other than OK means the bytes were not a well-formed request of
/// those four kinds (`KBK_STATUS_WIRE_WRONG_KIND` for another kind), or a
/// bad argument, and nothing was answered. Notices for the other parties
/// go to the outbox (`kbk_exchange_next_outgoing`).
#[no_mangle]
pub extern "C" fn kbk_exchange_submit(
    exchange: *mut kbk_exchange,
    register: *mut kbk_register,
    ledger: *mut kbk_ledger,
    bytes: *const u8,
    len: usize,
    now: u64,
    out_answer: *mut *mut kbk_message,
    out_refusal: *mut u32,
) -> kbk_status {
    ex_trade(exchange, register, ledger, |e, r, l| {
        let oa = crate::status::out(out_answer, "out_answer")?;
        let or = crate::status::out(out_refusal, "out_refusal")?;
        let b = slice(bytes, len, "bytes")?;
        let (answer, code) = match b.get(1).copied().and_then(MsgKind::from_u8) {
            Some(MsgKind::OrderRequest) => {
                answer::<OrderRequest>(b, Exchange::submit, e, now, r, l)
            }
            Some(MsgKind::CancelRequest) => {
                answer::<CancelRequest>(b, Exchange::cancel, e, now, r, l)
            }
            Some(MsgKind::ReduceRequest) => {
                answer::<ReduceRequest>(b, Exchange::reduce, e, now, r, l)
            }
            Some(MsgKind::ModifyRequest) => {
                answer::<ModifyRequest>(b, Exchange::modify, e, now, r, l)
            }
            Some(k) => Err(Fail::new(
                KBK_STATUS_WIRE_WRONG_KIND,
                format!(
                    "an order, cancel, reduce or modify request is needed, got kind {}",
                    k as u8
                ),
            )),
            None => Err(wire_err(engine::crypto::WireError::BadTag)),
        }?;
        oa.set(new_message(answer)?);
        or.set(code);
        Ok(())
    })
}

/// Advances every book's time to `now`, expiring GTD orders due.
#[no_mangle]
pub extern "C" fn kbk_exchange_advance_time(
    exchange: *mut kbk_exchange,
    register: *mut kbk_register,
    ledger: *mut kbk_ledger,
    now: u64,
) -> kbk_status {
    time_step(exchange, register, ledger, now, Exchange::advance_time)
}

/// Expires every day order (end of the trading day) at time `now`.
#[no_mangle]
pub extern "C" fn kbk_exchange_expire_day(
    exchange: *mut kbk_exchange,
    register: *mut kbk_register,
    ledger: *mut kbk_ledger,
    now: u64,
) -> kbk_status {
    time_step(exchange, register, ledger, now, Exchange::expire_day)
}

pub(crate) fn flatten(o: Outgoing, q: &mut VecDeque<(kbk_outgoing, Option<Vec<u8>>)>) {
    let item = |kind, user, reception_number| kbk_outgoing {
        user,
        reception_number,
        certificates: 0,
        kind,
        state: 0,
    };
    match o {
        Outgoing::Error(n) => q.push_back((
            item(KBK_OUT_ERROR, n.body.user_id, n.body.reception_number),
            Some(n.to_bytes()),
        )),
        Outgoing::Completion(n) => q.push_back((
            item(KBK_OUT_COMPLETION, n.body.party, n.body.reception_number),
            Some(n.to_bytes()),
        )),
        Outgoing::Released {
            user,
            reception_number,
            state,
            certificates,
        } => {
            let mut head = item(KBK_OUT_RELEASED, user, reception_number);
            head.state = state_to_c(state);
            head.certificates = certificates.len() as u64;
            q.push_back((head, None));
            for c in certificates {
                q.push_back((
                    item(KBK_OUT_RELEASED_CERTIFICATE, user, reception_number),
                    Some(c.to_bytes()),
                ));
            }
        }
        Outgoing::Transfer { request, response } => {
            let (seller, order) = (request.body.seller, request.body.sell_order.unwrap_or(0));
            q.push_back((
                item(KBK_OUT_TRANSFER_REQUEST, seller, order),
                Some(request.to_bytes()),
            ));
            q.push_back((
                item(KBK_OUT_TRANSFER_RESPONSE, seller, order),
                Some(response.to_bytes()),
            ));
        }
        Outgoing::Settlement(s) => q.push_back((
            item(KBK_OUT_SETTLEMENT, 0, s.body.buy_order),
            Some(s.to_bytes()),
        )),
    }
}

/// Takes the next item of the outbox into `*out` and its message (a new
/// handle; NULL for `KBK_OUT_RELEASED`) into `*out_message`;
/// `KBK_STATUS_NOT_FOUND` when the outbox is empty.
#[no_mangle]
pub extern "C" fn kbk_exchange_next_outgoing(
    exchange: *mut kbk_exchange,
    out: *mut kbk_outgoing,
    out_message: *mut *mut kbk_message,
) -> kbk_status {
    ex_mut(exchange, |h| {
        let o = crate::status::out(out, "out")?;
        let om = crate::status::out(out_message, "out_message")?;
        if h.outbox.is_empty() {
            for x in h.ex.drain_outbox() {
                flatten(x, &mut h.outbox);
            }
        }
        let Some((item, bytes)) = h.outbox.front() else {
            return Err(Fail::new(KBK_STATUS_NOT_FOUND, "the outbox is empty"));
        };
        let m = match bytes {
            Some(b) => new_message(b.clone())?,
            None => core::ptr::null_mut(),
        };
        o.set(*item);
        om.set(m);
        h.outbox.pop_front();
        Ok(())
    })
}

/// Order `reception_number`, booked or held (`KBK_STATUS_NOT_FOUND` when
/// unknown).
#[no_mangle]
pub extern "C" fn kbk_exchange_order(
    exchange: *mut kbk_exchange,
    reception_number: u64,
    out: *mut kbk_order_status,
) -> kbk_status {
    ex_mut(exchange, |h| {
        let o = crate::status::out(out, "out")?;
        let booked = h.ex.order(reception_number);
        let r = booked
            .or_else(|| {
                h.ex.held_orders()
                    .find(|r| r.reception_number == reception_number)
            })
            .ok_or_else(|| Fail::new(KBK_STATUS_NOT_FOUND, "no order with that number"))?;
        o.set(kbk_order_status {
            reception_number: r.reception_number,
            user: r.user,
            price: r.price.unwrap_or(0),
            worst: r.worst,
            quantity: r.quantity,
            open: r.open,
            filled: r.filled,
            account: r.account,
            certificates: r.certificates.len() as u64,
            instrument: r.instrument,
            state: state_to_c(r.state),
            side: r.side as u8,
            has_price: u8::from(r.price.is_some()),
            post_only: u8::from(r.post_only),
            held: u8::from(booked.is_none()),
            reserved: [0; 4],
            request_hash: r.request_hash.0,
            cash_reserved: dec_to_c(r.cash_reserved),
        });
        Ok(())
    })
}

fn match_to_c(m: &MatchRecord) -> kbk_match {
    let (change_cert_id, has_change) = opt_cert_id_to_c(m.change_cert_id.as_ref());
    kbk_match {
        match_number: m.match_number,
        buy_order: m.buy_order,
        sell_order: m.sell_order,
        quantity: m.quantity,
        price: m.price,
        buyer: m.buyer,
        seller: m.seller,
        transfer_number: m.transfer_number,
        cert_id: cert_id_to_c(&m.cert_id),
        new_cert_id: cert_id_to_c(&m.new_cert_id),
        change_cert_id,
        instrument: m.instrument,
        has_change,
        reserved: [0; 3],
        amount: dec_to_c(m.amount),
    }
}

/// The number of matches so far.
#[no_mangle]
pub extern "C" fn kbk_exchange_match_count(
    exchange: *mut kbk_exchange,
    out: *mut usize,
) -> kbk_status {
    ex_mut(exchange, |h| {
        crate::status::out(out, "out")?.set(h.ex.matches().len());
        Ok(())
    })
}

/// Match `index` (0-based, in match-number order; `KBK_STATUS_NOT_FOUND`
/// past the end).
#[no_mangle]
pub extern "C" fn kbk_exchange_match(
    exchange: *mut kbk_exchange,
    index: usize,
    out: *mut kbk_match,
) -> kbk_status {
    ex_mut(exchange, |h| {
        let o = crate::status::out(out, "out")?;
        let m =
            h.ex.matches()
                .get(index)
                .ok_or_else(|| Fail::new(KBK_STATUS_NOT_FOUND, "no match at that index"))?;
        o.set(match_to_c(m));
        Ok(())
    })
}

/// Writes up to `cap` of `user`'s trades (as buyer or seller, in match
/// order) into `matches`; `*out_n` is the number written.
#[no_mangle]
pub extern "C" fn kbk_exchange_trades_of(
    exchange: *mut kbk_exchange,
    user: u64,
    matches: *mut kbk_match,
    cap: usize,
    out_n: *mut usize,
) -> kbk_status {
    ex_mut(exchange, |h| {
        fill(
            matches,
            cap,
            out_n,
            "matches",
            h.ex.trades_of(user).map(match_to_c),
        )
    })
}

/// Writes up to `cap` of `user`'s live or reserved certificates (by
/// serial) into `holdings`; `*out_n` is the number written.
#[no_mangle]
pub extern "C" fn kbk_exchange_holdings_of(
    exchange: *mut kbk_exchange,
    user: u64,
    holdings: *mut kbk_holding,
    cap: usize,
    out_n: *mut usize,
) -> kbk_status {
    ex_mut(exchange, |h| {
        let items = h.ex.holdings_of(user).into_iter().map(|x| kbk_holding {
            serial: x.serial,
            shares: x.shares,
            reserved_to: x.reserved_to.unwrap_or(0),
            instrument: x.instrument,
            is_reserved: u8::from(x.reserved_to.is_some()),
            reserved: [0; 3],
        });
        fill(holdings, cap, out_n, "holdings", items)
    })
}

/// Writes up to `cap` reception numbers of `user`'s open orders (in no
/// particular order) into `orders`; `*out_n` is the number written.
#[no_mangle]
pub extern "C" fn kbk_exchange_open_orders_of(
    exchange: *mut kbk_exchange,
    user: u64,
    orders: *mut u64,
    cap: usize,
    out_n: *mut usize,
) -> kbk_status {
    ex_mut(exchange, |h| {
        let numbers = h.ex.open_orders_of(user).map(|r| r.reception_number);
        fill(orders, cap, out_n, "orders", numbers)
    })
}

fn unknown_instrument() -> Fail {
    Fail::new(KBK_STATUS_NOT_FOUND, "instrument not listed")
}

/// Market data of `instrument`: best bid and ask, last price, volume.
#[no_mangle]
pub extern "C" fn kbk_exchange_market_data(
    exchange: *mut kbk_exchange,
    instrument: u32,
    out: *mut kbk_market_data,
) -> kbk_status {
    ex_mut(exchange, |h| {
        let o = crate::status::out(out, "out")?;
        let md =
            h.ex.market_data(instrument, 0)
                .ok_or_else(unknown_instrument)?;
        let (bp, bq) = md.best_bid.unwrap_or((0, 0));
        let (ap, aq) = md.best_ask.unwrap_or((0, 0));
        o.set(kbk_market_data {
            bid_price: bp,
            bid_qty: bq,
            ask_price: ap,
            ask_qty: aq,
            last_price: md.last_price.unwrap_or(0),
            volume: u64::try_from(md.volume).unwrap_or(u64::MAX),
            instrument,
            has_bid: u8::from(md.best_bid.is_some()),
            has_ask: u8::from(md.best_ask.is_some()),
            has_last: u8::from(md.last_price.is_some()),
            reserved: 0,
        });
        Ok(())
    })
}

/// Writes up to `cap` price levels of `instrument`'s `side`, best first,
/// into `levels`; `*out_n` is the number written.
#[no_mangle]
pub extern "C" fn kbk_exchange_depth(
    exchange: *mut kbk_exchange,
    instrument: u32,
    side_v: u8,
    levels: *mut kbk_level,
    cap: usize,
    out_n: *mut usize,
) -> kbk_status {
    ex_mut(exchange, |h| {
        let s = side(side_v)?;
        let mut dst = slice_mut(levels, cap, "levels")?;
        let o = crate::status::out(out_n, "out_n")?;
        let md =
            h.ex.market_data(instrument, dst.len())
                .ok_or_else(unknown_instrument)?;
        let ls = if s as u8 == 0 { md.bids } else { md.asks };
        for (i, l) in ls.iter().enumerate() {
            dst.set(i, level_to_c(*l));
        }
        o.set(ls.len());
        Ok(())
    })
}

/// The exchange's counters.
#[no_mangle]
pub extern "C" fn kbk_exchange_stats(
    exchange: *mut kbk_exchange,
    out: *mut kbk_exchange_counters,
) -> kbk_status {
    ex_mut(exchange, |h| {
        let o = crate::status::out(out, "out")?;
        let s = h.ex.stats();
        o.set(kbk_exchange_counters {
            orders: s.orders,
            accepted: s.accepted,
            amendments: s.amendments,
            refused: s.refusals.values().sum(),
            trades: s.trades,
            matches: s.matches,
            register_refusals: s.register_refusals,
            signed: s.signed,
            verified: s.verified,
            shares: u64::try_from(s.shares).unwrap_or(u64::MAX),
            anomalies: s.anomalies.len() as u64,
            settled: dec_to_c(s.settled),
        });
        Ok(())
    })
}

/// Checks the design's invariants across the exchange, its register and
/// its ledger: `KBK_STATUS_EXCHANGE_INVARIANT` with every violation in the
/// last error when any fails.
#[no_mangle]
pub extern "C" fn kbk_exchange_check_invariants(
    exchange: *mut kbk_exchange,
    register: *mut kbk_register,
    ledger: *mut kbk_ledger,
) -> kbk_status {
    ex_trade(exchange, register, ledger, |e, r, l| {
        e.check_invariants(r, l)
            .map_err(|v| Fail::new(KBK_STATUS_EXCHANGE_INVARIANT, v.join("; ")))
    })
}

/// The stable name of a refusal code (`KBK_FIELD_REASON`,
/// `kbk_exchange_submit`'s `out_refusal`), e.g. "insufficient_funds"; a
/// static NUL-terminated string, "unknown" for codes this library does not
/// know, "accepted" for 0. Never NULL.
#[no_mangle]
pub extern "C" fn kbk_refusal_name(code: u32) -> *const c_char {
    static NAMES: OnceLock<Vec<(u32, CString)>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        ALL_REFUSALS
            .iter()
            .map(|r| {
                (
                    u32::from(r.code()),
                    CString::new(r.as_str()).unwrap_or_default(),
                )
            })
            .collect()
    });
    if code == 0 {
        return c"accepted".as_ptr();
    }
    let found: Option<&CStr> = names
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, s)| s.as_c_str());
    found.unwrap_or(c"unknown").as_ptr()
}
