//! The compact trusted-gateway runtime (`kabuken::runtime::gateway`):
//! `kbk_gateway`, the synchronous state machine (set-up, `apply` of arrays
//! of fixed-size orders, queries, batch-signed certificate documents), and
//! `kbk_gateway_runtime`, the same state on its own sequencer thread behind
//! bounded lock-free queues, fed by `kbk_gateway_producer`s.
//!
//! `kbk_gateway_order` and `kbk_gateway_report` have exactly the layout of
//! the engine's `GatewayOrder` (56 bytes) and `GatewayReport` (64 bytes):
//! the compile-time checks below compare sizes, alignments and every
//! field's offset.

use crate::book::{kbk_level, level_to_c};
use crate::crypto::{key_arg, side};
use crate::message::{cert_id_to_c, kbk_cert_id, new_message};
use crate::runtime::{kbk_quote, kbk_subscriber, new_subscriber};
use crate::status::*;
use core::ffi::{c_char, c_void};
use core::mem::{align_of, offset_of, size_of};
use engine::certs::{CertIdKey, IdState};
use engine::runtime::gateway::{
    DocumentInfo, Gateway, GatewayConfig, GatewayControl, GatewayControlHandle, GatewayError,
    GatewayInstrument, GatewayOrder, GatewayReport, GatewayRuntime, GatewayRuntimeStats,
    GatewaySubmitError, OrderKind, ReportSink, TIF_DAY,
};
use engine::runtime::marketdata::{DepthReader, DepthSnapshot};
use engine::types::Side;
use std::collections::VecDeque;
use std::sync::{OnceLock, PoisonError, RwLock};
use std::time::Duration;

// ---- constants -------------------------------------------------------------------

/// `kbk_gateway_order.kind`: a limit buy.
pub const KBK_GATEWAY_BUY: u8 = 0;
/// `kbk_gateway_order.kind`: a limit sell covered by certificate `cert`.
pub const KBK_GATEWAY_SELL: u8 = 1;
/// `kbk_gateway_order.kind`: cancel order `order`.
pub const KBK_GATEWAY_CANCEL: u8 = 2;
/// `kbk_gateway_order.tif`: good till cancelled.
pub const KBK_GATEWAY_TIF_GTC: u8 = 0;
/// `kbk_gateway_order.tif`: immediate or cancel.
pub const KBK_GATEWAY_TIF_IOC: u8 = 1;
/// `kbk_gateway_order.tif`: fill or kill.
pub const KBK_GATEWAY_TIF_FOK: u8 = 2;
/// Time in force: day order (expires at `kbk_gateway_end_of_day` /
/// `kbk_gateway_runtime_end_of_day`).
pub const KBK_GATEWAY_TIF_DAY: u8 = 3;
/// `kbk_gateway_report.kind`: the request was accepted (`order` is the new
/// order's number; for a cancel, the cancelled order's).
pub const KBK_GATEWAY_ACCEPTED: u8 = 0;
/// `kbk_gateway_report.kind`: refused, nothing changed; `code` is the
/// refusal code (`kbk_refusal_name`).
pub const KBK_GATEWAY_REFUSED: u8 = 1;
/// `kbk_gateway_report.kind`: a fill of `order`: `qty` at `price`,
/// transfer number `matched`; `cert` is the certificate the party holds now
/// (the buyer's new one; the seller's change, 0 when none).
pub const KBK_GATEWAY_FILL: u8 = 2;
/// `kbk_gateway_report.kind`: `order` left the book; `code` is
/// `KBK_GATEWAY_DONE_*`, `qty` the shares cancelled, `cert` the certificate
/// released to live (0: none).
pub const KBK_GATEWAY_DONE: u8 = 3;
/// `kbk_gateway_report.code` of a done report: completely filled.
pub const KBK_GATEWAY_DONE_FILLED: u16 = 0;
/// `kbk_gateway_report.code` of a done report: cancelled (by request, or
/// an IOC/FOK remainder).
pub const KBK_GATEWAY_DONE_CANCELLED: u16 = 1;
/// `KBK_GATEWAY_DONE` code: a day order expired at the end of the day.
pub const KBK_GATEWAY_DONE_EXPIRED: u16 = 2;
/// `kbk_gateway_cert_info.state`: live (may be sold).
pub const KBK_GATEWAY_CERT_LIVE: u8 = 1;
/// `kbk_gateway_cert_info.state`: reserved to the sell order `reserved_by`.
pub const KBK_GATEWAY_CERT_RESERVED: u8 = 2;
/// `kbk_gateway_cert_info.state`: spent by a transfer.
pub const KBK_GATEWAY_CERT_SPENT: u8 = 3;

// ---- records -------------------------------------------------------------------------

/// One request of a trusted gateway, 56 bytes, the engine's layout (pass
/// arrays of it as they are). Unused fields are zero.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct kbk_gateway_order {
    /// The caller's tag, echoed in every report about this order.
    pub tag: u64,
    /// Limit price in ticks (buy, sell).
    pub price: i64,
    /// Quantity in shares (buy, sell).
    pub qty: u64,
    /// Sell: serial of the certificate that covers it (reserved to the
    /// order until it is done); 0 otherwise.
    pub cert: u64,
    /// Cancel: the order number to cancel; 0 otherwise.
    pub order: u64,
    /// Account index: the owner of the order, its cash and certificates.
    pub account: u32,
    /// Instrument index (buy, sell).
    pub instrument: u32,
    /// `KBK_GATEWAY_BUY`, `KBK_GATEWAY_SELL` or `KBK_GATEWAY_CANCEL`.
    pub kind: u8,
    /// `KBK_GATEWAY_TIF_*`.
    pub tif: u8,
    /// Zero.
    pub reserved: [u8; 6],
}

/// One answer of the gateway, 64 bytes, the engine's layout. Every request
/// gets exactly one `KBK_GATEWAY_ACCEPTED` or `KBK_GATEWAY_REFUSED` report,
/// first; fills and the end of an order follow.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct kbk_gateway_report {
    /// The tag of the order this is about.
    pub tag: u64,
    /// Sequence number of the request that caused it.
    pub seq: u64,
    /// Order number (0 when refused).
    pub order: u64,
    /// Price (accepted, fill).
    pub price: i64,
    /// Quantity (accepted: submitted; fill: traded; done: cancelled).
    pub qty: u64,
    /// Certificate serial (fill, done).
    pub cert: u64,
    /// Transfer number of a fill.
    pub matched: u64,
    /// `KBK_GATEWAY_ACCEPTED`, `_REFUSED`, `_FILL` or `_DONE`.
    pub kind: u8,
    /// Zero.
    pub reserved: u8,
    /// Refusal code (refused) or `KBK_GATEWAY_DONE_*` (done).
    pub code: u16,
    /// Zero.
    pub reserved2: u32,
}

macro_rules! same_layout {
    ($c:ty, $e:ty, $($f:ident),*) => {
        const _: () = assert!(size_of::<$c>() == size_of::<$e>());
        const _: () = assert!(align_of::<$c>() == align_of::<$e>());
        $(const _: () = assert!(offset_of!($c, $f) == offset_of!($e, $f));)*
    };
}
same_layout!(
    kbk_gateway_order,
    GatewayOrder,
    tag,
    price,
    qty,
    cert,
    order,
    account,
    instrument,
    kind,
    tif,
    reserved
);
same_layout!(
    kbk_gateway_report,
    GatewayReport,
    tag,
    seq,
    order,
    price,
    qty,
    cert,
    matched,
    kind,
    reserved,
    code,
    reserved2
);
const _: () = assert!(size_of::<kbk_gateway_order>() == 56);
const _: () = assert!(size_of::<kbk_gateway_report>() == 64);

fn order_from_c(o: &kbk_gateway_order) -> GatewayOrder {
    GatewayOrder {
        tag: o.tag,
        price: o.price,
        qty: o.qty,
        cert: o.cert,
        order: o.order,
        account: o.account,
        instrument: o.instrument,
        kind: o.kind,
        tif: o.tif,
        reserved: o.reserved,
    }
}

pub(crate) fn report_to_c(r: &GatewayReport) -> kbk_gateway_report {
    kbk_gateway_report {
        tag: r.tag,
        seq: r.seq,
        order: r.order,
        price: r.price,
        qty: r.qty,
        cert: r.cert,
        matched: r.matched,
        kind: r.kind,
        reserved: r.reserved,
        code: r.code,
        reserved2: r.reserved2,
    }
}

/// The orders of a C array, checked: every kind, time in force and reserved
/// field in range (else `KBK_STATUS_INVALID_ARGUMENT` naming the first bad
/// one, and nothing is applied or submitted).
fn orders_arg(p: *const kbk_gateway_order, n: usize) -> Res<Vec<GatewayOrder>> {
    if n > MAX_ORDERS {
        return Err(Fail::arg(format!(
            "at most {MAX_ORDERS} orders per call, got {n}"
        )));
    }
    let s = slice(p, n, "orders")?;
    let mut v = Vec::with_capacity(n);
    for (i, o) in s.iter().enumerate() {
        if OrderKind::from_code(o.kind).is_none() {
            return Err(Fail::arg(format!(
                "orders[{i}].kind must be 0..=2, got {}",
                o.kind
            )));
        }
        if o.tif > TIF_DAY {
            return Err(Fail::arg(format!(
                "orders[{i}].tif must be 0..=3, got {}",
                o.tif
            )));
        }
        if o.reserved != [0; 6] {
            return Err(Fail::arg(format!("orders[{i}].reserved must be zero")));
        }
        v.push(order_from_c(o));
    }
    Ok(v)
}

/// Most orders in one apply or submit call.
const MAX_ORDERS: usize = 1 << 24;

/// The rules of one instrument (`kbk_gateway_add_instrument`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_gateway_instrument {
    /// Cash value of one tick of price for one share, minor units (>= 1).
    pub tick_value: i64,
    /// Quantities are multiples of this (>= 1).
    pub lot_size: u64,
    /// Lowest price of the band, ticks, inclusive (>= 1).
    pub band_low: i64,
    /// Highest price of the band, ticks, inclusive (>= band_low).
    pub band_high: i64,
    /// Largest quantity of one order (>= lot_size).
    pub max_qty: u64,
    /// Instrument id (the register's).
    pub id: u32,
    /// Zero.
    pub reserved: u32,
}

/// A cash account (minor currency units).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_gateway_account_info {
    /// The owner's user id.
    pub owner: u64,
    /// Cash held, reserved part included.
    pub cash: i64,
    /// Cash reserved by open buy orders.
    pub reserved: i64,
}

/// A certificate as the gateway's register holds it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_gateway_cert_info {
    /// Serial (from 1).
    pub serial: u64,
    /// Shares.
    pub shares: u64,
    /// The transfer that created it (0: issued).
    pub origin: u64,
    /// The sell order it is reserved to (state `KBK_GATEWAY_CERT_RESERVED`;
    /// 0 otherwise).
    pub reserved_by: u64,
    /// Instrument index.
    pub instrument: u32,
    /// Holder's account index.
    pub holder: u32,
    /// `KBK_GATEWAY_CERT_*`.
    pub state: u8,
    /// Zero.
    pub reserved: [u8; 7],
}

/// An order as the gateway records it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_gateway_order_info {
    /// Order number (from 1).
    pub number: u64,
    /// The caller's tag.
    pub tag: u64,
    /// Limit price.
    pub price: i64,
    /// Open (unfilled, not cancelled) quantity.
    pub open: u64,
    /// Filled quantity.
    pub filled: u64,
    /// Cash still reserved (buy).
    pub cash_reserved: i64,
    /// The certificate reserved to it (sell; 0: none).
    pub cert: u64,
    /// Account index.
    pub account: u32,
    /// Instrument index.
    pub instrument: u32,
    /// The producer that submitted it (0 for `kbk_gateway_apply`).
    pub producer: u16,
    /// `KBK_SIDE_*`.
    pub side: u8,
    /// 1 when it has left the book (filled, cancelled).
    pub done: u8,
    /// Zero.
    pub reserved: u32,
}

/// One register transfer (one per fill).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_gateway_transfer_info {
    /// Transfer number = match number (from 1).
    pub number: u64,
    /// Sequence number of the request that caused it.
    pub seq: u64,
    /// Trade price (the maker's).
    pub price: i64,
    /// Shares transferred.
    pub quantity: u64,
    /// The seller's certificate, spent.
    pub spent: u64,
    /// The buyer's new certificate.
    pub new_cert: u64,
    /// The seller's change certificate (0: none).
    pub change: u64,
    /// The buy order.
    pub buy_order: u64,
    /// The sell order.
    pub sell_order: u64,
    /// Instrument index.
    pub instrument: u32,
    /// Buyer's account index.
    pub buyer: u32,
    /// Seller's account index.
    pub seller: u32,
    /// Zero.
    pub reserved: u32,
}

/// The gateway's counters and sizes. 128-bit totals come as low and high
/// 64-bit halves.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_gateway_counters {
    /// Orders and cancels applied.
    pub requests: u64,
    /// Accepted.
    pub accepted: u64,
    /// Refused.
    pub refused: u64,
    /// Fills (= transfers).
    pub fills: u64,
    /// Shares traded, low 64 bits.
    pub shares_lo: u64,
    /// Shares traded, high 64 bits.
    pub shares_hi: u64,
    /// Cash paid for shares (minor units), low 64 bits.
    pub value_lo: u64,
    /// Cash paid for shares, high 64 bits.
    pub value_hi: u64,
    /// Certificates ever made (live, reserved, spent).
    pub certificates: u64,
    /// Orders received.
    pub orders: u64,
    /// Accounts.
    pub accounts: u64,
    /// Instruments.
    pub instruments: u64,
}

/// What certificate documents say besides the certificate's facts
/// (`kbk_gateway_documents`). The strings must be valid UTF-8.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_gateway_document_info {
    /// The register's user id (the signer).
    pub register_id: u64,
    /// Certificate lifetime from the issue date.
    pub lifetime: u64,
    /// Register name.
    pub register_name: *const c_char,
    /// Register address.
    pub register_address: *const c_char,
    /// Company name.
    pub company_name: *const c_char,
    /// Holder names by account index (`holder_names_len` of them; NULL
    /// when 0); accounts past the end are named "account N".
    pub holder_names: *const *const c_char,
    /// Number of `holder_names`.
    pub holder_names_len: usize,
    /// Company founding date, YYYYMMDD.
    pub company_founded: u32,
    /// Zero.
    pub reserved: u32,
    /// The register's secret keying certificate-ID tags (32 bytes).
    pub id_secret: [u8; 32],
}

fn gateway_err(e: GatewayError) -> Fail {
    let s = match e {
        GatewayError::BadInstrument => KBK_STATUS_GATEWAY_BAD_INSTRUMENT,
        GatewayError::DuplicateInstrument => KBK_STATUS_MARKET_DUPLICATE_INSTRUMENT,
        GatewayError::UnknownInstrument => KBK_STATUS_GATEWAY_UNKNOWN_INSTRUMENT,
        GatewayError::UnknownAccount => KBK_STATUS_GATEWAY_UNKNOWN_ACCOUNT,
        GatewayError::BadAmount => KBK_STATUS_GATEWAY_BAD_AMOUNT,
        GatewayError::Overflow => KBK_STATUS_GATEWAY_OVERFLOW,
        GatewayError::Full => KBK_STATUS_GATEWAY_FULL,
    };
    Fail::new(s, e.to_string())
}

fn lo_hi(v: u128) -> (u64, u64) {
    (v as u64, (v >> 64) as u64)
}

// ---- the gateway -----------------------------------------------------------------

/// The trusted gateway's state machine: books, cash accounts and the
/// certificate register of one shard, driven synchronously
/// (`kbk_gateway_apply`) or lent to a `kbk_gateway_runtime`.
///
/// Thread safety: not thread-safe; use from one thread at a time. While a
/// `kbk_gateway_runtime` runs on it every call answers `KBK_STATUS_IN_USE`.
#[derive(Debug)]
pub struct kbk_gateway {
    _private: [u8; 0],
}

#[repr(C)]
pub(crate) struct GatewayHandle {
    header: Header,
    pub(crate) gw: Slot<Gateway>,
    /// Reports of `kbk_gateway_apply` not yet handed out.
    pending: VecDeque<GatewayReport>,
}

impl Handle for GatewayHandle {
    const MAGIC: u64 = 0x6b62_6b5f_6777_6179; // "kbk_gway"
    fn header(&self) -> &Header {
        &self.header
    }
}

#[inline]
fn gw_mut(g: *mut kbk_gateway, f: impl FnOnce(&mut GatewayHandle) -> Res) -> kbk_status {
    with_mut(g.cast::<GatewayHandle>(), f)
}

/// A new, empty gateway into `*out` (it keeps its transfer history). Free
/// it with `kbk_gateway_free`.
#[no_mangle]
pub extern "C" fn kbk_gateway_new(out: *mut *mut kbk_gateway) -> kbk_status {
    guard(|| {
        crate::status::out(out, "out")?.set(
            into_raw(GatewayHandle {
                header: Header::new(GatewayHandle::MAGIC),
                gw: Slot::new(Gateway::new()),
                pending: VecDeque::new(),
            })
            .cast::<kbk_gateway>(),
        );
        Ok(())
    })
}

/// Frees a gateway; NULL is fine (also while lent to a runtime: its
/// state then cannot be given back).
#[no_mangle]
pub extern "C" fn kbk_gateway_free(gateway: *mut kbk_gateway) {
    free(gateway.cast::<GatewayHandle>());
}

/// Reserves (and touches) room for `orders` more orders and
/// `certificates` more certificates before a session (each at most 2^30).
#[no_mangle]
pub extern "C" fn kbk_gateway_reserve(
    gateway: *mut kbk_gateway,
    orders: usize,
    certificates: usize,
) -> kbk_status {
    gw_mut(gateway, |h| {
        if orders > 1 << 30 || certificates > 1 << 30 {
            return Err(Fail::arg("orders and certificates must be at most 2^30"));
        }
        h.gw.reserve(orders, certificates);
        Ok(())
    })
}

/// Lists an instrument; its index (what orders name) into `*out_index`.
/// `KBK_STATUS_GATEWAY_BAD_INSTRUMENT` for bad rules,
/// `KBK_STATUS_MARKET_DUPLICATE_INSTRUMENT` for an id already listed.
#[no_mangle]
pub extern "C" fn kbk_gateway_add_instrument(
    gateway: *mut kbk_gateway,
    instrument: *const kbk_gateway_instrument,
    out_index: *mut u32,
) -> kbk_status {
    gw_mut(gateway, |h| {
        let o = crate::status::out(out_index, "out_index")?;
        let s = req(instrument, "instrument")?;
        if s.reserved != 0 {
            return Err(Fail::arg("reserved must be zero"));
        }
        let i =
            h.gw.add_instrument(GatewayInstrument {
                id: s.id,
                tick_value: s.tick_value,
                lot_size: s.lot_size,
                band_low: s.band_low,
                band_high: s.band_high,
                max_qty: s.max_qty,
            })
            .map_err(gateway_err)?;
        o.set(i);
        Ok(())
    })
}

/// The index of instrument `id` into `*out_index` (`KBK_STATUS_NOT_FOUND`
/// when not listed).
#[no_mangle]
pub extern "C" fn kbk_gateway_instrument_index(
    gateway: *mut kbk_gateway,
    id: u32,
    out_index: *mut u32,
) -> kbk_status {
    gw_mut(gateway, |h| {
        let o = crate::status::out(out_index, "out_index")?;
        o.set(
            h.gw.instrument_index(id)
                .ok_or_else(|| Fail::new(KBK_STATUS_NOT_FOUND, "instrument not listed"))?,
        );
        Ok(())
    })
}

/// Opens a cash account for user `owner` holding `cash` minor units
/// (>= 0); its index into `*out_index`.
#[no_mangle]
pub extern "C" fn kbk_gateway_open_account(
    gateway: *mut kbk_gateway,
    owner: u64,
    cash: i64,
    out_index: *mut u32,
) -> kbk_status {
    gw_mut(gateway, |h| {
        let o = crate::status::out(out_index, "out_index")?;
        o.set(h.gw.open_account(owner, cash).map_err(gateway_err)?);
        Ok(())
    })
}

/// Pays `amount` (> 0) minor units into account `account`.
#[no_mangle]
pub extern "C" fn kbk_gateway_deposit(
    gateway: *mut kbk_gateway,
    account: u32,
    amount: i64,
) -> kbk_status {
    gw_mut(gateway, |h| {
        h.gw.deposit(account, amount).map_err(gateway_err)
    })
}

/// The register's issue phase: a new live certificate of `shares` (> 0)
/// shares of instrument index `instrument` for account `holder`; its serial
/// into `*out_serial`.
#[no_mangle]
pub extern "C" fn kbk_gateway_issue(
    gateway: *mut kbk_gateway,
    holder: u32,
    instrument: u32,
    shares: u64,
    out_serial: *mut u64,
) -> kbk_status {
    gw_mut(gateway, |h| {
        let o = crate::status::out(out_serial, "out_serial")?;
        o.set(
            h.gw.issue(holder, instrument, shares)
                .map_err(gateway_err)?,
        );
        Ok(())
    })
}

struct Pending<'a>(&'a mut VecDeque<GatewayReport>);

impl ReportSink for Pending<'_> {
    fn report(&mut self, _producer: u16, report: GatewayReport) {
        self.0.push_back(report);
    }
}

/// Applies `n` orders (at most 2^24 per call) in order (sequence numbers
/// continue from `kbk_gateway_next_seq`), synchronously. Their reports join the
/// gateway's report queue; up to `cap` of the queue's oldest reports are
/// written into `reports` and their number into `*out_n`; the rest stay
/// queued for `kbk_gateway_take_reports` (`kbk_gateway_pending_reports`
/// says how many). Orders with a kind, time in force or reserved field out
/// of range get `KBK_STATUS_INVALID_ARGUMENT` and nothing is applied;
/// business refusals (unknown account, no cash, a certificate not live...)
/// are `KBK_GATEWAY_REFUSED` reports.
#[no_mangle]
pub extern "C" fn kbk_gateway_apply(
    gateway: *mut kbk_gateway,
    orders: *const kbk_gateway_order,
    n: usize,
    reports: *mut kbk_gateway_report,
    cap: usize,
    out_n: *mut usize,
) -> kbk_status {
    gw_mut(gateway, |h| {
        let os = orders_arg(orders, n)?;
        let dst = slice_mut(reports, cap, "reports")?;
        let o = crate::status::out(out_n, "out_n")?;
        let seq = h.gw.next_seq();
        h.gw.apply_batch(0, seq, &os, &mut Pending(&mut h.pending));
        take_into(&mut h.pending, dst, o);
        Ok(())
    })
}

fn take_into(
    q: &mut VecDeque<GatewayReport>,
    mut dst: OutSlice<'_, kbk_gateway_report>,
    o: Out<'_, usize>,
) {
    let k = dst.len().min(q.len());
    for (i, r) in q.drain(..k).enumerate() {
        dst.set(i, report_to_c(&r));
    }
    o.set(k);
}

/// Called with each report of `kbk_gateway_apply_callback`, on the calling
/// thread, while the gateway works (calls on the same gateway from inside
/// it are refused); the report is valid only during the call.
pub type kbk_gateway_report_callback =
    Option<extern "C" fn(userdata: *mut c_void, report: *const kbk_gateway_report)>;

struct Callback {
    cb: extern "C" fn(*mut c_void, *const kbk_gateway_report),
    ud: *mut c_void,
}

impl ReportSink for Callback {
    fn report(&mut self, _producer: u16, report: GatewayReport) {
        let c = report_to_c(&report);
        (self.cb)(self.ud, &c);
    }
}

/// As `kbk_gateway_apply`, handing each report of these orders to
/// `callback(userdata, report)` as it is made (reports queued by earlier
/// `kbk_gateway_apply` calls stay queued).
#[no_mangle]
pub extern "C" fn kbk_gateway_apply_callback(
    gateway: *mut kbk_gateway,
    orders: *const kbk_gateway_order,
    n: usize,
    callback: kbk_gateway_report_callback,
    userdata: *mut c_void,
) -> kbk_status {
    gw_mut(gateway, |h| {
        let cb = callback.ok_or_else(|| Fail::null("callback"))?;
        let os = orders_arg(orders, n)?;
        let seq = h.gw.next_seq();
        h.gw.apply_batch(0, seq, &os, &mut Callback { cb, ud: userdata });
        Ok(())
    })
}

/// The end of the trading day: every day order (`KBK_GATEWAY_TIF_DAY`)
/// expires, giving back its cash and certificate; their
/// `KBK_GATEWAY_DONE` reports (code `KBK_GATEWAY_DONE_EXPIRED`) join the
/// report queue (`kbk_gateway_take_reports`); how many expired into
/// `*out_expired`.
#[no_mangle]
pub extern "C" fn kbk_gateway_end_of_day(
    gateway: *mut kbk_gateway,
    out_expired: *mut u64,
) -> kbk_status {
    gw_mut(gateway, |h| {
        let o = crate::status::out(out_expired, "out_expired")?;
        let seq = h.gw.next_seq();
        let n = h.gw.end_of_day(seq, &mut Pending(&mut h.pending));
        o.set(n);
        Ok(())
    })
}

/// The sequence number the next order or control gets (1 at first; a
/// runtime started on the gateway continues from it).
#[no_mangle]
pub extern "C" fn kbk_gateway_next_seq(gateway: *mut kbk_gateway, out: *mut u64) -> kbk_status {
    gw_mut(gateway, |h| {
        let o = crate::status::out(out, "out")?;
        o.set(h.gw.next_seq());
        Ok(())
    })
}

/// Writes up to `cap` queued reports of `kbk_gateway_apply`, oldest first,
/// into `reports`; their number into `*out_n`.
#[no_mangle]
pub extern "C" fn kbk_gateway_take_reports(
    gateway: *mut kbk_gateway,
    reports: *mut kbk_gateway_report,
    cap: usize,
    out_n: *mut usize,
) -> kbk_status {
    gw_mut(gateway, |h| {
        let dst = slice_mut(reports, cap, "reports")?;
        let o = crate::status::out(out_n, "out_n")?;
        take_into(&mut h.pending, dst, o);
        Ok(())
    })
}

/// The number of queued reports (see `kbk_gateway_apply`) into `*out`.
#[no_mangle]
pub extern "C" fn kbk_gateway_pending_reports(
    gateway: *mut kbk_gateway,
    out: *mut usize,
) -> kbk_status {
    gw_mut(gateway, |h| {
        crate::status::out(out, "out")?.set(h.pending.len());
        Ok(())
    })
}

/// Account `account` into `*out` (`KBK_STATUS_GATEWAY_UNKNOWN_ACCOUNT`).
#[no_mangle]
pub extern "C" fn kbk_gateway_account(
    gateway: *mut kbk_gateway,
    account: u32,
    out: *mut kbk_gateway_account_info,
) -> kbk_status {
    gw_mut(gateway, |h| {
        let o = crate::status::out(out, "out")?;
        let a =
            h.gw.account(account)
                .ok_or_else(|| gateway_err(GatewayError::UnknownAccount))?;
        o.set(kbk_gateway_account_info {
            owner: a.owner,
            cash: a.cash,
            reserved: a.reserved,
        });
        Ok(())
    })
}

/// Certificate `serial` into `*out` (`KBK_STATUS_NOT_FOUND`).
#[no_mangle]
pub extern "C" fn kbk_gateway_certificate(
    gateway: *mut kbk_gateway,
    serial: u64,
    out: *mut kbk_gateway_cert_info,
) -> kbk_status {
    gw_mut(gateway, |h| {
        let o = crate::status::out(out, "out")?;
        let c = h
            .gw
            .certificate(serial)
            .ok_or_else(|| Fail::new(KBK_STATUS_NOT_FOUND, "no certificate with that serial"))?;
        let (state, reserved_by) = match c.state {
            IdState::Live => (KBK_GATEWAY_CERT_LIVE, 0),
            IdState::Reserved(o) => (KBK_GATEWAY_CERT_RESERVED, o),
            IdState::Spent => (KBK_GATEWAY_CERT_SPENT, 0),
            IdState::Vacant => (0, 0),
        };
        o.set(kbk_gateway_cert_info {
            serial: c.serial,
            shares: c.shares,
            origin: c.origin,
            reserved_by,
            instrument: c.instrument,
            holder: c.holder,
            state,
            reserved: [0; 7],
        });
        Ok(())
    })
}

/// Order `number` into `*out` (`KBK_STATUS_NOT_FOUND`).
#[no_mangle]
pub extern "C" fn kbk_gateway_order_by_number(
    gateway: *mut kbk_gateway,
    number: u64,
    out: *mut kbk_gateway_order_info,
) -> kbk_status {
    gw_mut(gateway, |h| {
        let o = crate::status::out(out, "out")?;
        let v =
            h.gw.order(number)
                .ok_or_else(|| Fail::new(KBK_STATUS_NOT_FOUND, "no order with that number"))?;
        o.set(kbk_gateway_order_info {
            number: v.number,
            tag: v.tag,
            price: v.price,
            open: v.open,
            filled: v.filled,
            cash_reserved: v.cash_reserved,
            cert: v.cert,
            account: v.account,
            instrument: v.instrument,
            producer: v.producer,
            side: u8::from(v.side == Side::Sell),
            done: u8::from(v.done),
            reserved: 0,
        });
        Ok(())
    })
}

/// The shares of instrument index `instrument` that account `holder` holds
/// (live and reserved certificates) into `*out`
/// (`KBK_STATUS_GATEWAY_UNKNOWN_ACCOUNT`, `_UNKNOWN_INSTRUMENT`;
/// `KBK_STATUS_GATEWAY_OVERFLOW` above 2^64 - 1).
#[no_mangle]
pub extern "C" fn kbk_gateway_shares_of(
    gateway: *mut kbk_gateway,
    holder: u32,
    instrument: u32,
    out: *mut u64,
) -> kbk_status {
    gw_mut(gateway, |h| {
        let o = crate::status::out(out, "out")?;
        if h.gw.account(holder).is_none() {
            return Err(gateway_err(GatewayError::UnknownAccount));
        }
        if h.gw.instrument(instrument).is_none() {
            return Err(gateway_err(GatewayError::UnknownInstrument));
        }
        let s = u64::try_from(h.gw.shares_of(holder, instrument))
            .map_err(|_| gateway_err(GatewayError::Overflow))?;
        o.set(s);
        Ok(())
    })
}

/// The serials of account `holder`'s live and reserved certificates, in
/// serial order, into `serials` (room for `cap`); their number into
/// `*out_n`. `KBK_STATUS_BUFFER_TOO_SMALL` (nothing written; the last error
/// says how many) when they do not fit.
#[no_mangle]
pub extern "C" fn kbk_gateway_holdings(
    gateway: *mut kbk_gateway,
    holder: u32,
    serials: *mut u64,
    cap: usize,
    out_n: *mut usize,
) -> kbk_status {
    gw_mut(gateway, |h| {
        let mut dst = slice_mut(serials, cap, "serials")?;
        let o = crate::status::out(out_n, "out_n")?;
        if h.gw.account(holder).is_none() {
            return Err(gateway_err(GatewayError::UnknownAccount));
        }
        let v: Vec<u64> = h.gw.holdings(holder).map(|c| c.serial).collect();
        if v.len() > dst.len() {
            return Err(Fail::new(
                KBK_STATUS_BUFFER_TOO_SMALL,
                format!("{} serials, room for {}", v.len(), dst.len()),
            ));
        }
        for (i, s) in v.iter().enumerate() {
            dst.set(i, *s);
        }
        o.set(v.len());
        Ok(())
    })
}

/// The number of transfers recorded into `*out` (0 when the history is not
/// kept: `kbk_gateway_runtime_config.keep_transfers`).
#[no_mangle]
pub extern "C" fn kbk_gateway_transfer_count(
    gateway: *mut kbk_gateway,
    out: *mut usize,
) -> kbk_status {
    gw_mut(gateway, |h| {
        crate::status::out(out, "out")?.set(h.gw.transfers().len());
        Ok(())
    })
}

/// Transfer `i` (0-based, in order) of the history into `*out`
/// (`KBK_STATUS_NOT_FOUND` past the end).
#[no_mangle]
pub extern "C" fn kbk_gateway_transfer(
    gateway: *mut kbk_gateway,
    i: usize,
    out: *mut kbk_gateway_transfer_info,
) -> kbk_status {
    gw_mut(gateway, |h| {
        let o = crate::status::out(out, "out")?;
        let t =
            h.gw.transfers()
                .get(i)
                .ok_or_else(|| Fail::new(KBK_STATUS_NOT_FOUND, "no transfer with that index"))?;
        o.set(kbk_gateway_transfer_info {
            number: t.number,
            seq: t.seq,
            price: t.price,
            quantity: t.quantity,
            spent: t.spent,
            new_cert: t.new,
            change: t.change,
            buy_order: t.buy_order,
            sell_order: t.sell_order,
            instrument: t.instrument,
            buyer: t.buyer,
            seller: t.seller,
            reserved: 0,
        });
        Ok(())
    })
}

/// The counters and sizes into `*out`.
#[no_mangle]
pub extern "C" fn kbk_gateway_stats(
    gateway: *mut kbk_gateway,
    out: *mut kbk_gateway_counters,
) -> kbk_status {
    gw_mut(gateway, |h| {
        let o = crate::status::out(out, "out")?;
        let s = h.gw.stats();
        let (shares_lo, shares_hi) = lo_hi(s.shares);
        let (value_lo, value_hi) = lo_hi(s.value);
        o.set(kbk_gateway_counters {
            requests: s.requests,
            accepted: s.accepted,
            refused: s.refused,
            fills: s.fills,
            shares_lo,
            shares_hi,
            value_lo,
            value_hi,
            certificates: h.gw.certificate_count(),
            orders: h.gw.order_count(),
            accounts: h.gw.account_count() as u64,
            instruments: h.gw.instrument_count() as u64,
        });
        Ok(())
    })
}

/// The best bid and ask of instrument index `instrument`'s book into
/// `*out` (`seq` is the number of requests applied, `version` 0;
/// `KBK_STATUS_GATEWAY_UNKNOWN_INSTRUMENT`).
#[no_mangle]
pub extern "C" fn kbk_gateway_quote(
    gateway: *mut kbk_gateway,
    instrument: u32,
    out: *mut kbk_quote,
) -> kbk_status {
    gw_mut(gateway, |h| {
        let o = crate::status::out(out, "out")?;
        let b =
            h.gw.book(instrument)
                .ok_or_else(|| gateway_err(GatewayError::UnknownInstrument))?;
        let (bid, ask) = (b.best_bid(), b.best_ask());
        let id = h.gw.instrument(instrument).map_or(0, |s| s.id);
        o.set(quote(id, bid, ask, h.gw.stats().requests, 0));
        Ok(())
    })
}

fn quote(
    instrument: u32,
    bid: Option<(i64, u64)>,
    ask: Option<(i64, u64)>,
    seq: u64,
    version: u64,
) -> kbk_quote {
    let (bp, bq) = bid.unwrap_or((0, 0));
    let (ap, aq) = ask.unwrap_or((0, 0));
    kbk_quote {
        bid_price: bp,
        bid_qty: bq,
        ask_price: ap,
        ask_qty: aq,
        seq,
        version,
        instrument,
        has_bid: u8::from(bid.is_some()),
        has_ask: u8::from(ask.is_some()),
        reserved: [0; 2],
    }
}

/// Checks every invariant (shares live equal shares issued, every
/// reservation held by its order, cash conserved and reservations covered,
/// no crossed book): `KBK_STATUS_OK`, or `KBK_STATUS_GATEWAY_INVARIANT`
/// with every violation in the last error.
#[no_mangle]
pub extern "C" fn kbk_gateway_check_invariants(gateway: *mut kbk_gateway) -> kbk_status {
    gw_mut(gateway, |h| {
        h.gw.check_invariants()
            .map_err(|v| Fail::new(KBK_STATUS_GATEWAY_INVARIANT, v.join("; ")))
    })
}

/// The 32-byte digest of the whole state into `out` (equal states, equal
/// hashes).
#[no_mangle]
pub extern "C" fn kbk_gateway_state_hash(gateway: *mut kbk_gateway, out: *mut u8) -> kbk_status {
    gw_mut(gateway, |h| {
        let o = crate::status::out(out.cast::<[u8; 32]>(), "out")?;
        o.set(h.gw.state_hash());
        Ok(())
    })
}

/// The ID of certificate `serial` under the register's 32-byte
/// `id_secret` into `*out` (`KBK_STATUS_NOT_FOUND`).
#[no_mangle]
pub extern "C" fn kbk_gateway_cert_id(
    gateway: *mut kbk_gateway,
    serial: u64,
    id_secret: *const u8,
    out: *mut kbk_cert_id,
) -> kbk_status {
    gw_mut(gateway, |h| {
        let o = crate::status::out(out, "out")?;
        let ids = CertIdKey::from_bytes(*bytes32(id_secret, "id_secret")?);
        let id = h
            .gw
            .cert_id(serial, &ids)
            .ok_or_else(|| Fail::new(KBK_STATUS_NOT_FOUND, "no certificate with that serial"))?;
        o.set(cert_id_to_c(&id));
        Ok(())
    })
}

/// The signed certificate documents of the `n` certificates `serials`
/// (live or reserved ones; others are skipped), batch-signed by the
/// register with `key` (one signature over the batch's Merkle root),
/// issued at `issue_date`: new `kbk_message` handles (certificates,
/// `kbk_certificate_verify` with the register's id and key accepts them;
/// the caller frees each) into `out` (room for `cap`, at least `n`:
/// `KBK_STATUS_BUFFER_TOO_SMALL` otherwise), in the order of `serials`;
/// their number into `*out_n`.
#[no_mangle]
pub extern "C" fn kbk_gateway_documents(
    gateway: *mut kbk_gateway,
    info: *const kbk_gateway_document_info,
    key: *const crate::crypto::kbk_keypair,
    serials: *const u64,
    n: usize,
    issue_date: u64,
    out: *mut *mut crate::message::kbk_message,
    cap: usize,
    out_n: *mut usize,
) -> kbk_status {
    gw_mut(gateway, |h| {
        let i = req(info, "info")?;
        let k = key_arg(key)?;
        let ss = slice(serials, n, "serials")?;
        let mut dst = slice_mut(out, cap, "out")?;
        let o = crate::status::out(out_n, "out_n")?;
        if dst.len() < n {
            return Err(Fail::new(
                KBK_STATUS_BUFFER_TOO_SMALL,
                format!("room for {n} documents needed, {cap} given"),
            ));
        }
        if i.reserved != 0 {
            return Err(Fail::arg("info.reserved must be zero"));
        }
        let names = slice(i.holder_names, i.holder_names_len, "info.holder_names")?
            .iter()
            .enumerate()
            .map(|(k, p)| string(*p, &format!("info.holder_names[{k}]")).map(str::to_owned))
            .collect::<Res<Vec<String>>>()?;
        let di = DocumentInfo {
            register_id: i.register_id,
            register_name: string(i.register_name, "info.register_name")?.to_owned(),
            register_address: string(i.register_address, "info.register_address")?.to_owned(),
            company_name: string(i.company_name, "info.company_name")?.to_owned(),
            company_founded: i.company_founded,
            lifetime: i.lifetime,
            holder_names: names,
        };
        let ids = CertIdKey::from_bytes(i.id_secret);
        let docs =
            h.gw.documents(ss, &di, &ids, &k.key, issue_date)
                .map_err(|e| crate::message::crypto_err(&e))?;
        // Every handle is made before any is written, so a failure leaves
        // `out` untouched and leaks nothing.
        let mut made = Vec::with_capacity(docs.len());
        for d in &docs {
            match new_message(d.to_bytes()) {
                Ok(m) => made.push(m),
                Err(e) => {
                    for m in made {
                        crate::message::kbk_message_free(m);
                    }
                    return Err(e);
                }
            }
        }
        let count = made.len();
        for (j, m) in made.into_iter().enumerate() {
            dst.set(j, m);
        }
        o.set(count);
        Ok(())
    })
}

// ---- the runtime -----------------------------------------------------------------

/// How a gateway runtime runs (`kbk_gateway_runtime_config_default`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_gateway_runtime_config {
    /// Most producers over the runtime's life (1..=65535).
    pub max_producers: usize,
    /// Ingress capacity per producer, in batches (1..=2^24).
    pub queue_batches: usize,
    /// Most orders in one batch (1..=2^20); longer submits are split.
    pub batch: usize,
    /// Unpolled report batches a producer may have before its submits are
    /// refused as full (1..=2^24).
    pub report_batches: usize,
    /// Depth levels published per instrument (0: none; at most 1024).
    pub depth: usize,
    /// Capacity of the market event stream (0: none; at most 2^24).
    pub event_capacity: usize,
    /// 1: keep the transfer history (`kbk_gateway_transfer`).
    pub keep_transfers: u8,
    /// Zero.
    pub reserved: [u8; 7],
}

impl Default for kbk_gateway_runtime_config {
    fn default() -> Self {
        let d = GatewayConfig::default();
        kbk_gateway_runtime_config {
            max_producers: d.max_producers,
            queue_batches: d.queue_batches,
            batch: d.batch,
            report_batches: d.report_batches,
            depth: d.depth,
            event_capacity: d.event_capacity,
            keep_transfers: u8::from(d.keep_transfers),
            reserved: [0; 7],
        }
    }
}

fn in_range(v: usize, lo: usize, hi: usize, what: &str) -> Res<usize> {
    if v < lo || v > hi {
        return Err(Fail::arg(format!("{what} must be {lo}..={hi}, got {v}")));
    }
    Ok(v)
}

// The struct update keeps the build going when the engine adds a setting.
#[allow(clippy::needless_update)]
fn gateway_config(c: &kbk_gateway_runtime_config) -> Res<GatewayConfig> {
    if c.reserved != [0; 7] {
        return Err(Fail::arg("reserved must be zero"));
    }
    Ok(GatewayConfig {
        max_producers: in_range(c.max_producers, 1, 65_535, "max_producers")?,
        queue_batches: in_range(c.queue_batches, 1, 1 << 24, "queue_batches")?,
        batch: in_range(c.batch, 1, 1 << 20, "batch")?,
        report_batches: in_range(c.report_batches, 1, 1 << 24, "report_batches")?,
        depth: in_range(c.depth, 0, 1024, "depth")?,
        event_capacity: in_range(c.event_capacity, 0, 1 << 24, "event_capacity")?,
        keep_transfers: flag(c.keep_transfers, "keep_transfers")?,
        journal: false,
        ..GatewayConfig::default()
    })
}

/// The engine's defaults into `*out`.
#[no_mangle]
pub extern "C" fn kbk_gateway_runtime_config_default(
    out: *mut kbk_gateway_runtime_config,
) -> kbk_status {
    guard(|| {
        crate::status::out(out, "out")?.set(kbk_gateway_runtime_config::default());
        Ok(())
    })
}

/// The runtime's counters.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_gateway_runtime_counters {
    /// Orders sequenced.
    pub orders: u64,
    /// Batches sequenced.
    pub batches: u64,
    /// Reports delivered.
    pub reports: u64,
    /// Time the sequencer spent applying batches, ns.
    pub busy_ns: u64,
}

fn rt_stats_to_c(s: GatewayRuntimeStats) -> kbk_gateway_runtime_counters {
    kbk_gateway_runtime_counters {
        orders: s.orders,
        batches: s.batches,
        reports: s.reports,
        busy_ns: s.busy_ns,
    }
}

/// A gateway running on its own sequencer thread (or one that was shut
/// down: it then answers `KBK_STATUS_RUNTIME_CLOSED`, except for
/// `kbk_gateway_runtime_stats`, which gives the final counters).
///
/// Thread safety: thread-safe: every call may be made from any thread at
/// the same time, except `kbk_gateway_runtime_free`, which must be the
/// last call on it.
#[derive(Debug)]
pub struct kbk_gateway_runtime {
    _private: [u8; 0],
}

enum RtState {
    Running(GatewayRuntime),
    Stopped(GatewayRuntimeStats),
}

#[repr(C)]
struct GatewayRuntimeHandle {
    header: Header,
    state: RwLock<RtState>,
    /// The lent gateway handle's address (shutdown takes the same one).
    lent: usize,
    /// Depth readers by instrument id.
    readers: Vec<(u32, DepthReader)>,
    /// `report_batches` x `batch` (see `GatewayProducerHandle`).
    stash_limit: usize,
}

impl Handle for GatewayRuntimeHandle {
    const MAGIC: u64 = 0x6b62_6b5f_6772_746d; // "kbk_grtm"
    fn header(&self) -> &Header {
        &self.header
    }
}

fn closed() -> Fail {
    Fail::new(
        KBK_STATUS_RUNTIME_CLOSED,
        "the gateway runtime was shut down",
    )
}

impl GatewayRuntimeHandle {
    fn running<R>(&self, f: impl FnOnce(&GatewayRuntime) -> Res<R>) -> Res<R> {
        match &*self.state.read().unwrap_or_else(PoisonError::into_inner) {
            RtState::Running(rt) => f(rt),
            RtState::Stopped(_) => Err(closed()),
        }
    }

    fn snapshot(&self, instrument: u32) -> Res<DepthSnapshot> {
        self.running(|_| Ok(()))?;
        self.readers
            .iter()
            .find(|(i, _)| *i == instrument)
            .map(|(_, r)| r.read())
            .ok_or_else(|| Fail::new(KBK_STATUS_NOT_FOUND, "instrument not listed (or depth = 0)"))
    }
}

#[inline]
fn grt_ref(
    rt: *const kbk_gateway_runtime,
    f: impl FnOnce(&GatewayRuntimeHandle) -> Res,
) -> kbk_status {
    with_ref(rt.cast::<GatewayRuntimeHandle>(), f)
}

/// Starts a runtime on `gateway`'s state with `config` into `*out`. The
/// runtime takes the state: until `kbk_gateway_runtime_shutdown` gives it
/// back, every call on `gateway` answers `KBK_STATUS_IN_USE` (freeing it
/// is allowed, but then the state cannot be given back). Reports still
/// queued in `gateway` (`kbk_gateway_take_reports`) stay there. On any
/// failure (a configuration value out of range: `KBK_STATUS_INVALID_ARGUMENT`)
/// the gateway keeps its state. Free the runtime with
/// `kbk_gateway_runtime_free`.
#[no_mangle]
pub extern "C" fn kbk_gateway_runtime_start(
    gateway: *mut kbk_gateway,
    config: *const kbk_gateway_runtime_config,
    out: *mut *mut kbk_gateway_runtime,
) -> kbk_status {
    guard(|| {
        let o = crate::status::out(out, "out")?;
        let cfg = gateway_config(req(config, "config")?)?;
        let mut held = exclusive(gateway.cast::<GatewayHandle>())?;
        let lent = held.addr();
        let Some(g) = held.get().gw.take() else {
            unreachable!("a handle that is not lent has its contents");
        };
        let ids: Vec<u32> = (0..g.instrument_count() as u32)
            .filter_map(|i| g.instrument(i).map(|s| s.id))
            .collect();
        let stash_limit = cfg.report_batches.saturating_mul(cfg.batch);
        match GatewayRuntime::start(g, cfg) {
            Ok(rt) => {
                held.set_lent(true);
                let readers = ids
                    .iter()
                    .filter_map(|id| rt.depth_reader(*id).map(|r| (*id, r)))
                    .collect();
                o.set(
                    into_raw(GatewayRuntimeHandle {
                        header: Header::new(GatewayRuntimeHandle::MAGIC),
                        state: RwLock::new(RtState::Running(rt)),
                        lent,
                        readers,
                        stash_limit,
                    })
                    .cast::<kbk_gateway_runtime>(),
                );
                Ok(())
            }
            // The engine hands the gateway back with its refusal.
            Err(e) => {
                held.get().gw.put(*e.gateway);
                Err(Fail::new(KBK_STATUS_INVALID_ARGUMENT, e.reason))
            }
        }
    })
}

/// Stops taking orders, applies everything already submitted, joins the
/// sequencer thread and gives the state back to `gateway` (the handle the
/// runtime was started from), synchronous again; the final counters into
/// `*out_stats`. Reports not yet polled stay with their producers.
/// `KBK_STATUS_RUNTIME_SHARD_FAILED` when the sequencer failed (a panic in
/// the engine: a bug): `gateway` is then poisoned.
#[no_mangle]
pub extern "C" fn kbk_gateway_runtime_shutdown(
    runtime: *mut kbk_gateway_runtime,
    gateway: *mut kbk_gateway,
    out_stats: *mut kbk_gateway_runtime_counters,
) -> kbk_status {
    grt_ref(runtime, |h| {
        let o = crate::status::out(out_stats, "out_stats")?;
        h.running(|_| Ok(()))?;
        let mut back = reclaim(gateway.cast::<GatewayHandle>())?;
        if back.addr() != h.lent {
            return Err(Fail::arg("not the gateway the runtime was started from"));
        }
        let mut state = h.state.write().unwrap_or_else(PoisonError::into_inner);
        let RtState::Running(_) = &*state else {
            return Err(closed());
        };
        let RtState::Running(rt) = std::mem::replace(
            &mut *state,
            RtState::Stopped(GatewayRuntimeStats::default()),
        ) else {
            unreachable!("checked above");
        };
        let outcome = rt.shutdown();
        *state = RtState::Stopped(outcome.stats);
        if outcome.failed {
            back.poison();
            return Err(Fail::new(
                KBK_STATUS_RUNTIME_SHARD_FAILED,
                "the gateway's sequencer failed; the gateway is poisoned",
            ));
        }
        back.get().gw.put(outcome.gateway);
        back.set_lent(false);
        o.set(rt_stats_to_c(outcome.stats));
        Ok(())
    })
}

/// Frees a gateway runtime; NULL is fine. A runtime still running is shut
/// down first and its state dropped: the gateway it took stays
/// `KBK_STATUS_IN_USE` (free it).
#[no_mangle]
pub extern "C" fn kbk_gateway_runtime_free(runtime: *mut kbk_gateway_runtime) {
    free(runtime.cast::<GatewayRuntimeHandle>());
}

/// The counters so far into `*out` (the final ones after shutdown).
#[no_mangle]
pub extern "C" fn kbk_gateway_runtime_stats(
    runtime: *const kbk_gateway_runtime,
    out: *mut kbk_gateway_runtime_counters,
) -> kbk_status {
    grt_ref(runtime, |h| {
        let o = crate::status::out(out, "out")?;
        let s = match &*h.state.read().unwrap_or_else(PoisonError::into_inner) {
            RtState::Running(rt) => rt.stats(),
            RtState::Stopped(s) => *s,
        };
        o.set(rt_stats_to_c(s));
        Ok(())
    })
}

/// Whether the sequencer failed (a panic in the engine: a bug) into
/// `*out` (0 or 1); shut the runtime down then.
#[no_mangle]
pub extern "C" fn kbk_gateway_runtime_failed(
    runtime: *const kbk_gateway_runtime,
    out: *mut u8,
) -> kbk_status {
    grt_ref(runtime, |h| {
        let o = crate::status::out(out, "out")?;
        o.set(u8::from(h.running(|rt| Ok(rt.failed()))?));
        Ok(())
    })
}

/// The best bid and ask of instrument `id` as last published, read without
/// locks, into `*out` (`KBK_STATUS_NOT_FOUND` for an instrument not listed
/// or with `depth` = 0).
#[no_mangle]
pub extern "C" fn kbk_gateway_runtime_quote(
    runtime: *const kbk_gateway_runtime,
    id: u32,
    out: *mut kbk_quote,
) -> kbk_status {
    grt_ref(runtime, |h| {
        let o = crate::status::out(out, "out")?;
        let s = h.snapshot(id)?;
        o.set(quote(id, s.best_bid(), s.best_ask(), s.seq, s.version));
        Ok(())
    })
}

/// Writes up to `cap` published price levels of instrument `id`'s `side`
/// (`KBK_SIDE_*`), best first, into `levels`; their number into `*out_n`.
#[no_mangle]
pub extern "C" fn kbk_gateway_runtime_depth(
    runtime: *const kbk_gateway_runtime,
    id: u32,
    side_v: u8,
    levels: *mut kbk_level,
    cap: usize,
    out_n: *mut usize,
) -> kbk_status {
    grt_ref(runtime, |h| {
        let s = side(side_v)?;
        let snap = h.snapshot(id)?;
        let ls = if s == Side::Buy { snap.bids } else { snap.asks };
        fill(levels, cap, out_n, "levels", ls.into_iter().map(level_to_c))
    })
}

/// A subscriber to the market event stream (order log and trades; the
/// events' `instrument` is the instrument id), from the next event, into
/// `*out`; read it with `kbk_subscriber_poll`, free it with
/// `kbk_subscriber_free`. `KBK_STATUS_NOT_FOUND` with `event_capacity` = 0.
#[no_mangle]
pub extern "C" fn kbk_gateway_runtime_subscribe(
    runtime: *const kbk_gateway_runtime,
    out: *mut *mut kbk_subscriber,
) -> kbk_status {
    grt_ref(runtime, |h| {
        let o = crate::status::out(out, "out")?;
        let s = h.running(|rt| {
            rt.subscribe().ok_or_else(|| {
                Fail::new(KBK_STATUS_NOT_FOUND, "no event stream (event_capacity = 0)")
            })
        })?;
        o.set(new_subscriber(s));
        Ok(())
    })
}

// ---- producers -------------------------------------------------------------------

/// A producer of a gateway runtime: submits arrays of orders and polls the
/// reports about its orders (fills of its resting orders included). Make
/// one per submitting thread.
///
/// Thread safety: `Send`, not `Sync`: use from one thread at a time (it
/// may move between threads). It stays valid after the runtime's shutdown
/// or free (submissions then answer `KBK_STATUS_RUNTIME_CLOSED`; reports
/// that arrived stay pollable).
#[derive(Debug)]
pub struct kbk_gateway_producer {
    _private: [u8; 0],
}

#[repr(C)]
struct GatewayProducerHandle {
    header: Header,
    p: engine::runtime::gateway::GatewayProducer,
    /// Reports taken from the runtime and not yet handed to C.
    stash: VecDeque<GatewayReport>,
    /// Reports the stash may hold before a submit answers FULL (the
    /// engine's credit, `report_batches` x `batch`, no longer counts
    /// reports once they are taken from it).
    stash_limit: usize,
}

impl Handle for GatewayProducerHandle {
    const MAGIC: u64 = 0x6b62_6b5f_6770_7264; // "kbk_gprd"
    fn header(&self) -> &Header {
        &self.header
    }
}

#[inline]
fn gp_mut(
    p: *mut kbk_gateway_producer,
    f: impl FnOnce(&mut GatewayProducerHandle) -> Res,
) -> kbk_status {
    with_mut(p.cast::<GatewayProducerHandle>(), f)
}

/// A new producer of `runtime` into `*out`
/// (`KBK_STATUS_RUNTIME_NO_PRODUCER` when `max_producers` were made).
/// Free it with `kbk_gateway_producer_free`.
#[no_mangle]
pub extern "C" fn kbk_gateway_runtime_producer_new(
    runtime: *const kbk_gateway_runtime,
    out: *mut *mut kbk_gateway_producer,
) -> kbk_status {
    grt_ref(runtime, |h| {
        let o = crate::status::out(out, "out")?;
        let p = h.running(|rt| {
            rt.producer().ok_or_else(|| {
                Fail::new(
                    KBK_STATUS_RUNTIME_NO_PRODUCER,
                    "max_producers were made already",
                )
            })
        })?;
        o.set(
            into_raw(GatewayProducerHandle {
                header: Header::new(GatewayProducerHandle::MAGIC),
                p,
                stash: VecDeque::new(),
                stash_limit: h.stash_limit,
            })
            .cast::<kbk_gateway_producer>(),
        );
        Ok(())
    })
}

/// Frees a producer; NULL is fine. Reports about its orders are discarded
/// from then on.
#[no_mangle]
pub extern "C" fn kbk_gateway_producer_free(producer: *mut kbk_gateway_producer) {
    free(producer.cast::<GatewayProducerHandle>());
}

fn submit_err(e: GatewaySubmitError) -> Fail {
    match e {
        GatewaySubmitError::Full => Fail::new(KBK_STATUS_RUNTIME_FULL, e.to_string()),
        GatewaySubmitError::Closed => Fail::new(KBK_STATUS_RUNTIME_CLOSED, e.to_string()),
        GatewaySubmitError::TooLarge => Fail::arg(e.to_string()),
    }
}

/// Submits `n` orders (in batches of at most `batch`), all or nothing:
/// `KBK_STATUS_RUNTIME_FULL` when the queue has no room for all of them or
/// too many reports are unpolled (poll, then retry);
/// `KBK_STATUS_RUNTIME_CLOSED` after shutdown; `KBK_STATUS_INVALID_ARGUMENT`
/// for more orders than the queue ever holds (`batch` x `queue_batches`:
/// use `kbk_gateway_producer_submit_wait`) or orders out of range as for
/// `kbk_gateway_apply`. With any of them nothing was submitted.
#[no_mangle]
pub extern "C" fn kbk_gateway_producer_submit(
    producer: *mut kbk_gateway_producer,
    orders: *const kbk_gateway_order,
    n: usize,
) -> kbk_status {
    gp_mut(producer, |h| {
        let os = orders_arg(orders, n)?;
        if h.stash.len() >= h.stash_limit {
            return Err(Fail::new(
                KBK_STATUS_RUNTIME_FULL,
                "reports are waiting in the producer: poll, then retry",
            ));
        }
        h.p.submit(&os).map_err(submit_err)
    })
}

/// Submits `n` orders, waiting while the queue is full; reports that arrive
/// meanwhile are kept for `kbk_gateway_producer_poll`.
/// `KBK_STATUS_RUNTIME_CLOSED`: shut down (the orders not yet in were not
/// submitted).
#[no_mangle]
pub extern "C" fn kbk_gateway_producer_submit_wait(
    producer: *mut kbk_gateway_producer,
    orders: *const kbk_gateway_order,
    n: usize,
) -> kbk_status {
    gp_mut(producer, |h| {
        let os = orders_arg(orders, n)?;
        let stash = &mut h.stash;
        h.p.submit_wait(&os, |r| stash.push_back(*r))
            .map_err(submit_err)
    })
}

/// Writes up to `cap` reports that have arrived, oldest first, into
/// `reports`; their number (possibly 0) into `*out_n`. Those that do not
/// fit stay for the next poll.
#[no_mangle]
pub extern "C" fn kbk_gateway_producer_poll(
    producer: *mut kbk_gateway_producer,
    reports: *mut kbk_gateway_report,
    cap: usize,
    out_n: *mut usize,
) -> kbk_status {
    poll(producer, None, reports, cap, out_n)
}

/// As `kbk_gateway_producer_poll`, waiting up to `timeout_ns` nanoseconds
/// (at most one hour) for a report when none is there.
#[no_mangle]
pub extern "C" fn kbk_gateway_producer_poll_timeout(
    producer: *mut kbk_gateway_producer,
    timeout_ns: u64,
    reports: *mut kbk_gateway_report,
    cap: usize,
    out_n: *mut usize,
) -> kbk_status {
    if timeout_ns > 3_600_000_000_000 {
        return guard(|| Err(Fail::arg("timeout_ns must be at most one hour")));
    }
    poll(
        producer,
        Some(Duration::from_nanos(timeout_ns)),
        reports,
        cap,
        out_n,
    )
}

fn poll(
    producer: *mut kbk_gateway_producer,
    timeout: Option<Duration>,
    reports: *mut kbk_gateway_report,
    cap: usize,
    out_n: *mut usize,
) -> kbk_status {
    gp_mut(producer, |h| {
        let dst = slice_mut(reports, cap, "reports")?;
        let o = crate::status::out(out_n, "out_n")?;
        let stash = &mut h.stash;
        h.p.poll(|r| stash.push_back(*r));
        if let (true, Some(t)) = (stash.is_empty(), timeout) {
            h.p.poll_timeout(t, |r| stash.push_back(*r));
        }
        take_into(stash, dst, o);
        Ok(())
    })
}

/// The number of reports this producer holds that a poll would return
/// now (already taken from the runtime) into `*out`; call
/// `kbk_gateway_producer_poll` for those still in the runtime.
#[no_mangle]
pub extern "C" fn kbk_gateway_producer_pending(
    producer: *mut kbk_gateway_producer,
    out: *mut usize,
) -> kbk_status {
    gp_mut(producer, |h| {
        crate::status::out(out, "out")?.set(h.stash.len());
        Ok(())
    })
}

/// The number of batches this producer submitted that the sequencer has
/// not taken yet into `*out`.
#[no_mangle]
pub extern "C" fn kbk_gateway_producer_queued_batches(
    producer: *mut kbk_gateway_producer,
    out: *mut usize,
) -> kbk_status {
    gp_mut(producer, |h| {
        crate::status::out(out, "out")?.set(h.p.queued_batches());
        Ok(())
    })
}

// ---- administration while running --------------------------------------------------

/// The outcome of an administrative change queued on a running gateway
/// runtime (`kbk_gateway_runtime_open_account`, `_deposit`, `_issue`),
/// read with `kbk_gateway_control_wait`.
///
/// Thread safety: thread-safe.
#[derive(Debug)]
pub struct kbk_gateway_control {
    _private: [u8; 0],
}

#[repr(C)]
struct GatewayControlC {
    header: Header,
    pending: GatewayControlHandle,
    outcome: OnceLock<Result<u64, GatewayError>>,
}

impl Handle for GatewayControlC {
    const MAGIC: u64 = 0x6b62_6b5f_6763_746c; // "kbk_gctl"
    fn header(&self) -> &Header {
        &self.header
    }
}

fn control(
    runtime: *const kbk_gateway_runtime,
    c: GatewayControl,
    out: *mut *mut kbk_gateway_control,
) -> kbk_status {
    grt_ref(runtime, |h| {
        let o = crate::status::out(out, "out")?;
        let pending = h.running(|rt| rt.control(c).map_err(submit_err))?;
        o.set(
            into_raw(GatewayControlC {
                header: Header::new(GatewayControlC::MAGIC),
                pending,
                outcome: OnceLock::new(),
            })
            .cast::<kbk_gateway_control>(),
        );
        Ok(())
    })
}

/// Opens a cash account (as `kbk_gateway_open_account`) on a running
/// gateway, in sequence with the orders: every batch submitted after this
/// call returns sees it. The pending outcome (the account index) into
/// `*out` (`kbk_gateway_control_wait`; free it with
/// `kbk_gateway_control_free`).
#[no_mangle]
pub extern "C" fn kbk_gateway_runtime_open_account(
    runtime: *const kbk_gateway_runtime,
    owner: u64,
    cash: i64,
    out: *mut *mut kbk_gateway_control,
) -> kbk_status {
    control(runtime, GatewayControl::OpenAccount { owner, cash }, out)
}

/// Ends the trading day on a running gateway (as `kbk_gateway_end_of_day`),
/// in sequence with the orders (outcome: how many day orders expired; their
/// reports go to the producers of the orders).
#[no_mangle]
pub extern "C" fn kbk_gateway_runtime_end_of_day(
    runtime: *const kbk_gateway_runtime,
    out: *mut *mut kbk_gateway_control,
) -> kbk_status {
    control(runtime, GatewayControl::EndOfDay, out)
}

/// Pays `amount` into account `account` of a running gateway (as
/// `kbk_gateway_deposit`), in sequence with the orders (outcome 0).
#[no_mangle]
pub extern "C" fn kbk_gateway_runtime_deposit(
    runtime: *const kbk_gateway_runtime,
    account: u32,
    amount: i64,
    out: *mut *mut kbk_gateway_control,
) -> kbk_status {
    control(runtime, GatewayControl::Deposit { account, amount }, out)
}

/// Issues a certificate on a running gateway (as `kbk_gateway_issue`), in
/// sequence with the orders (outcome: the serial).
#[no_mangle]
pub extern "C" fn kbk_gateway_runtime_issue(
    runtime: *const kbk_gateway_runtime,
    holder: u32,
    instrument: u32,
    shares: u64,
    out: *mut *mut kbk_gateway_control,
) -> kbk_status {
    control(
        runtime,
        GatewayControl::Issue {
            holder,
            instrument,
            shares,
        },
        out,
    )
}

/// Waits up to `timeout_ns` nanoseconds (at most one hour) for the
/// control's outcome: `KBK_STATUS_OK` with its result (account index, 0,
/// or serial) in `*out_result`; the gateway's status when refused (nothing
/// changed); `KBK_STATUS_RUNTIME_PENDING` when not applied yet. Once
/// known, the outcome is given again by every later call.
#[no_mangle]
pub extern "C" fn kbk_gateway_control_wait(
    control: *const kbk_gateway_control,
    timeout_ns: u64,
    out_result: *mut u64,
) -> kbk_status {
    with_ref(control.cast::<GatewayControlC>(), |h| {
        let o = crate::status::out(out_result, "out_result")?;
        if timeout_ns > 3_600_000_000_000 {
            return Err(Fail::arg("timeout_ns must be at most one hour"));
        }
        let r = match h.outcome.get() {
            Some(r) => *r,
            None => match h.pending.wait(Duration::from_nanos(timeout_ns)) {
                Some(r) => *h.outcome.get_or_init(|| r),
                // Another thread may have taken the outcome meanwhile.
                None => *h
                    .outcome
                    .get()
                    .ok_or_else(|| Fail::new(KBK_STATUS_RUNTIME_PENDING, "not applied yet"))?,
            },
        };
        o.set(r.map_err(gateway_err)?);
        Ok(())
    })
}

/// Frees a control handle; NULL is fine (the control still applies).
#[no_mangle]
pub extern "C" fn kbk_gateway_control_free(control: *mut kbk_gateway_control) {
    free(control.cast::<GatewayControlC>());
}
