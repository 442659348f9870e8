//! The compact trusted gateway (`kabuken::runtime::gateway`): `Gateway`,
//! the synchronous state machine, and `GatewayRuntime`, the same state on
//! its own sequencer thread fed by `GatewayProducer`s.
//!
//! Orders and reports cross the boundary as numpy structured arrays whose
//! dtypes (`GATEWAY_ORDER_DTYPE`, 56 bytes; `GATEWAY_REPORT_DTYPE`, 64
//! bytes) have exactly the engine's `#[repr(C)]` layout, field names
//! included (the reserved fields are named too: a dtype without holes
//! survives numpy's concatenation and copies unchanged): no Python object
//! per order or report. The arrays
//! are read and written as native-endian 64-bit words (this crate forbids
//! `unsafe`), which the layout makes exact.
//!
//! Bulk applies, waits, document signing and shutdown release the GIL. A
//! `Gateway` is used by one thread at a time (a concurrent call raises
//! `RuntimeError` "already borrowed"); a `GatewayProducer` may be shared
//! by threads (its calls are serialized).

use crate::convert::crypto_error;
use crate::crypto::KeyPair;
use crate::errors::{config_error, error};
use crate::register::{CertId, Certificate};
use crate::runtime::{closed, seconds_arg, DepthSnapshot, Subscriber};
use crate::slot::Slot;
use kabuken::certs::{CertIdKey, IdState};
use kabuken::runtime::gateway as kg;
use kabuken::runtime::marketdata as md;
use kabuken::types::Side;
use numpy::{
    PyArray1, PyArrayDescr, PyArrayDescrMethods, PyReadonlyArray1, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict};
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

pub const GATEWAY_BUY: u8 = 0;
pub const GATEWAY_SELL: u8 = 1;
pub const GATEWAY_CANCEL: u8 = 2;
pub const GATEWAY_TIF_GTC: u8 = kg::TIF_GTC;
pub const GATEWAY_TIF_IOC: u8 = kg::TIF_IOC;
pub const GATEWAY_TIF_FOK: u8 = kg::TIF_FOK;
pub const GATEWAY_TIF_DAY: u8 = kg::TIF_DAY;
pub const GATEWAY_ACCEPTED: u8 = kg::ReportKind::Accepted as u8;
pub const GATEWAY_REFUSED: u8 = kg::ReportKind::Refused as u8;
pub const GATEWAY_FILL: u8 = kg::ReportKind::Fill as u8;
pub const GATEWAY_DONE: u8 = kg::ReportKind::Done as u8;
pub const GATEWAY_DONE_FILLED: u16 = kg::DoneReason::Filled as u16;
pub const GATEWAY_DONE_CANCELLED: u16 = kg::DoneReason::Cancelled as u16;
pub const GATEWAY_DONE_EXPIRED: u16 = kg::DoneReason::Expired as u16;

const ORDER_WORDS: usize = 7;
const REPORT_WORDS: usize = 8;
const _: () = assert!(std::mem::size_of::<kg::GatewayOrder>() == ORDER_WORDS * 8);
const _: () = assert!(std::mem::size_of::<kg::GatewayReport>() == REPORT_WORDS * 8);
const _: () = assert!(std::mem::offset_of!(kg::GatewayOrder, account) == 40);
const _: () = assert!(std::mem::offset_of!(kg::GatewayOrder, instrument) == 44);
const _: () = assert!(std::mem::offset_of!(kg::GatewayOrder, kind) == 48);
const _: () = assert!(std::mem::offset_of!(kg::GatewayOrder, tif) == 49);
const _: () = assert!(std::mem::offset_of!(kg::GatewayReport, matched) == 48);
const _: () = assert!(std::mem::offset_of!(kg::GatewayReport, kind) == 56);
const _: () = assert!(std::mem::offset_of!(kg::GatewayReport, code) == 58);

static ORDER_DTYPE: PyOnceLock<Py<PyArrayDescr>> = PyOnceLock::new();
static REPORT_DTYPE: PyOnceLock<Py<PyArrayDescr>> = PyOnceLock::new();

fn dtype<'py>(
    py: Python<'py>,
    cell: &PyOnceLock<Py<PyArrayDescr>>,
    fields: &[(&str, &str, usize)],
    itemsize: usize,
) -> PyResult<Bound<'py, PyArrayDescr>> {
    cell.get_or_try_init(py, || {
        let d = PyDict::new(py);
        d.set_item("names", fields.iter().map(|f| f.0).collect::<Vec<_>>())?;
        d.set_item("formats", fields.iter().map(|f| f.1).collect::<Vec<_>>())?;
        d.set_item("offsets", fields.iter().map(|f| f.2).collect::<Vec<_>>())?;
        d.set_item("itemsize", itemsize)?;
        PyArrayDescr::new(py, &d).map(Bound::unbind)
    })
    .map(|d| d.bind(py).clone())
}

/// The numpy dtype of one order (the engine's `GatewayOrder`).
pub fn order_dtype(py: Python<'_>) -> PyResult<Bound<'_, PyArrayDescr>> {
    dtype(
        py,
        &ORDER_DTYPE,
        &[
            ("tag", "=u8", 0),
            ("price", "=i8", 8),
            ("qty", "=u8", 16),
            ("cert", "=u8", 24),
            ("order", "=u8", 32),
            ("account", "=u4", 40),
            ("instrument", "=u4", 44),
            ("kind", "u1", 48),
            ("tif", "u1", 49),
            ("reserved", "(6,)u1", 50),
        ],
        56,
    )
}

/// The numpy dtype of one report (the engine's `GatewayReport`).
pub fn report_dtype(py: Python<'_>) -> PyResult<Bound<'_, PyArrayDescr>> {
    dtype(
        py,
        &REPORT_DTYPE,
        &[
            ("tag", "=u8", 0),
            ("seq", "=u8", 8),
            ("order", "=u8", 16),
            ("price", "=i8", 24),
            ("qty", "=u8", 32),
            ("cert", "=u8", 40),
            ("matched", "=u8", 48),
            ("kind", "u1", 56),
            ("reserved", "u1", 57),
            ("code", "=u2", 58),
            ("reserved2", "=u4", 60),
        ],
        64,
    )
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn half(w: u64) -> (u32, u32) {
    let b = w.to_ne_bytes();
    (
        u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
        u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
    )
}

/// The orders of a numpy array of `GATEWAY_ORDER_DTYPE`, checked: a
/// `TypeError` for anything else, a `ValueError` for a kind, time in force
/// or reserved byte out of range (naming the first), before anything is
/// applied or submitted.
pub fn orders_arg(ob: &Bound<'_, PyAny>) -> PyResult<Vec<kg::GatewayOrder>> {
    let py = ob.py();
    let arr = ob.cast::<PyUntypedArray>().map_err(|_| {
        PyTypeError::new_err(format!(
            "orders must be a numpy array of kabuken.GATEWAY_ORDER_DTYPE (see kabuken.gateway_orders), not {}",
            ob.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        ))
    })?;
    let want = order_dtype(py)?;
    if !arr.dtype().is_equiv_to(&want) {
        return Err(PyTypeError::new_err(format!(
            "orders must have dtype kabuken.GATEWAY_ORDER_DTYPE, not {}",
            arr.dtype()
        )));
    }
    if arr.ndim() != 1 {
        return Err(PyValueError::new_err(format!(
            "orders must be one-dimensional, not {}-dimensional",
            arr.ndim()
        )));
    }
    if arr.len() == 0 {
        return Ok(Vec::new());
    }
    let np = py.import("numpy")?;
    let words = np
        .getattr("ascontiguousarray")?
        .call1((arr,))?
        .call_method1("view", (np.getattr("uint64")?,))?;
    let words: PyReadonlyArray1<'_, u64> = words.extract()?;
    let w = words.as_slice()?;
    let mut v = Vec::with_capacity(w.len() / ORDER_WORDS);
    for (i, o) in w.chunks_exact(ORDER_WORDS).enumerate() {
        let (account, instrument) = half(o[5]);
        let tail = o[6].to_ne_bytes();
        let (kind, tif) = (tail[0], tail[1]);
        if kg::OrderKind::from_code(kind).is_none() {
            return Err(PyValueError::new_err(format!(
                "orders[{i}].kind must be 0..=2 (GATEWAY_BUY, GATEWAY_SELL, GATEWAY_CANCEL), got {kind}"
            )));
        }
        if tif > kg::TIF_DAY {
            return Err(PyValueError::new_err(format!(
                "orders[{i}].tif must be 0..=3 (GATEWAY_TIF_GTC, _IOC, _FOK, _DAY), got {tif}"
            )));
        }
        if tail[2..] != [0; 6] {
            return Err(PyValueError::new_err(format!(
                "orders[{i}]: the reserved bytes must be zero"
            )));
        }
        v.push(kg::GatewayOrder {
            tag: o[0],
            price: o[1] as i64,
            qty: o[2],
            cert: o[3],
            order: o[4],
            account,
            instrument,
            kind,
            tif,
            reserved: [0; 6],
        });
    }
    Ok(v)
}

/// Reports as a numpy array of `GATEWAY_REPORT_DTYPE` (one copy into a
/// word vector that numpy then owns).
pub fn reports_array<'py>(
    py: Python<'py>,
    reports: impl ExactSizeIterator<Item = kg::GatewayReport>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut w = Vec::with_capacity(reports.len() * REPORT_WORDS);
    for r in reports {
        let mut tail = [0u8; 8];
        tail[0] = r.kind;
        tail[1] = r.reserved;
        tail[2..4].copy_from_slice(&r.code.to_ne_bytes());
        tail[4..8].copy_from_slice(&r.reserved2.to_ne_bytes());
        w.extend_from_slice(&[
            r.tag,
            r.seq,
            r.order,
            r.price as u64,
            r.qty,
            r.cert,
            r.matched,
            u64::from_ne_bytes(tail),
        ]);
    }
    PyArray1::from_vec(py, w).call_method1("view", (report_dtype(py)?,))
}

fn gateway_error(py: Python<'_>, e: kg::GatewayError) -> PyErr {
    let kind = match e {
        kg::GatewayError::BadInstrument => "bad_instrument",
        kg::GatewayError::DuplicateInstrument => "duplicate_instrument",
        kg::GatewayError::UnknownInstrument => "unknown_instrument",
        kg::GatewayError::UnknownAccount => "unknown_account",
        kg::GatewayError::BadAmount => "bad_amount",
        kg::GatewayError::Overflow => "overflow",
        kg::GatewayError::Full => "full",
    };
    error(py, "GatewayError", (e.to_string(), kind))
}

// ---- typed results -------------------------------------------------------------

/// A cash account (minor currency units).
#[pyclass(module = "kabuken._native", frozen, get_all)]
pub struct GatewayAccount {
    owner: u64,
    cash: i64,
    reserved: i64,
}

#[pymethods]
impl GatewayAccount {
    fn __repr__(&self) -> String {
        format!(
            "GatewayAccount(owner={}, cash={}, reserved={})",
            self.owner, self.cash, self.reserved
        )
    }
}

/// A certificate as the gateway's register holds it. `state`: ``"live"``,
/// ``"reserved"`` (to the sell order `reserved_by`) or ``"spent"``;
/// `origin` the transfer that made it (0: issued).
#[pyclass(module = "kabuken._native", frozen, get_all)]
pub struct GatewayCertificate {
    serial: u64,
    state: &'static str,
    reserved_by: Option<u64>,
    instrument: u32,
    holder: u32,
    shares: u64,
    origin: u64,
}

#[pymethods]
impl GatewayCertificate {
    fn __repr__(&self) -> String {
        format!(
            "GatewayCertificate(serial={}, state={:?}, holder={}, shares={})",
            self.serial, self.state, self.holder, self.shares
        )
    }
}

/// An order as the gateway records it (`side` ``"buy"`` or ``"sell"``;
/// `cert` the certificate reserved to a sell, 0 when none).
#[pyclass(module = "kabuken._native", frozen, get_all)]
pub struct GatewayOrderView {
    number: u64,
    tag: u64,
    producer: u16,
    account: u32,
    instrument: u32,
    side: &'static str,
    price: i64,
    open: u64,
    filled: u64,
    cash_reserved: i64,
    cert: u64,
    done: bool,
}

#[pymethods]
impl GatewayOrderView {
    fn __repr__(&self) -> String {
        format!(
            "GatewayOrderView(number={}, tag={}, side={:?}, price={}, open={}, filled={}, done={})",
            self.number, self.tag, self.side, self.price, self.open, self.filled, self.done
        )
    }
}

/// One register transfer (one per fill): `spent` the seller's certificate,
/// `new` the buyer's, `change` the seller's change (0: none).
#[pyclass(module = "kabuken._native", frozen, get_all)]
pub struct GatewayTransfer {
    number: u64,
    seq: u64,
    instrument: u32,
    buyer: u32,
    seller: u32,
    price: i64,
    quantity: u64,
    spent: u64,
    new: u64,
    change: u64,
    buy_order: u64,
    sell_order: u64,
}

#[pymethods]
impl GatewayTransfer {
    fn __repr__(&self) -> String {
        format!(
            "GatewayTransfer(number={}, buyer={}, seller={}, price={}, quantity={})",
            self.number, self.buyer, self.seller, self.price, self.quantity
        )
    }
}

/// The gateway's counters and sizes.
#[pyclass(module = "kabuken._native", frozen, get_all)]
pub struct GatewayStats {
    requests: u64,
    accepted: u64,
    refused: u64,
    fills: u64,
    shares: u128,
    value: u128,
    accounts: usize,
    instruments: usize,
    certificates: u64,
    orders: u64,
}

#[pymethods]
impl GatewayStats {
    fn __repr__(&self) -> String {
        format!(
            "GatewayStats(requests={}, accepted={}, refused={}, fills={}, shares={}, value={})",
            self.requests, self.accepted, self.refused, self.fills, self.shares, self.value
        )
    }
}

/// A gateway runtime's counters.
#[pyclass(module = "kabuken._native", frozen, get_all)]
pub struct GatewayRuntimeStats {
    orders: u64,
    batches: u64,
    reports: u64,
    busy_ns: u64,
}

impl From<kg::GatewayRuntimeStats> for GatewayRuntimeStats {
    fn from(s: kg::GatewayRuntimeStats) -> Self {
        GatewayRuntimeStats {
            orders: s.orders,
            batches: s.batches,
            reports: s.reports,
            busy_ns: s.busy_ns,
        }
    }
}

#[pymethods]
impl GatewayRuntimeStats {
    fn __repr__(&self) -> String {
        format!(
            "GatewayRuntimeStats(orders={}, batches={}, reports={}, busy_ns={})",
            self.orders, self.batches, self.reports, self.busy_ns
        )
    }
}

// ---- the gateway ---------------------------------------------------------------

/// The trusted gateway's state machine: books, cash accounts and the
/// certificate register of one shard, in fixed-size records. Taken by a
/// `GatewayRuntime` for its run (its methods then raise `RuntimeBusy`) and
/// handed back by `GatewayRuntime.shutdown()`. Use it from one thread at a
/// time (a concurrent call raises `RuntimeError`, "already borrowed").
/// Set-up refusals raise `GatewayError`; orders are refused with a report.
#[pyclass(module = "kabuken._native")]
pub struct Gateway {
    pub inner: Slot<kg::Gateway>,
}

impl Gateway {
    fn g(&self) -> PyResult<&kg::Gateway> {
        self.inner.get()
    }
    fn g_mut(&mut self) -> PyResult<&mut kg::Gateway> {
        self.inner.get_mut()
    }
}

#[pymethods]
impl Gateway {
    /// An empty gateway (it keeps its transfer history).
    #[new]
    fn new() -> Self {
        Gateway {
            inner: Slot::new("Gateway", kg::Gateway::new()),
        }
    }
    /// Reserves (and touches) room for more orders and certificates before
    /// a session (each at most 2**30).
    fn reserve(&mut self, py: Python<'_>, orders: usize, certificates: usize) -> PyResult<()> {
        if orders > 1 << 30 || certificates > 1 << 30 {
            return Err(PyValueError::new_err(
                "orders and certificates must be at most 2**30",
            ));
        }
        let g = self.g_mut()?;
        py.detach(|| g.reserve(orders, certificates));
        Ok(())
    }
    /// Lists instrument `id`; returns its index (what orders name). Raises
    /// `GatewayError` for bad rules (``"bad_instrument"``) or an id listed
    /// already (``"duplicate_instrument"``).
    #[pyo3(signature = (id, *, band_low, band_high, lot_size=1, tick_value=1, max_qty=1_000_000_000))]
    fn add_instrument(
        &mut self,
        py: Python<'_>,
        id: u32,
        band_low: i64,
        band_high: i64,
        lot_size: u64,
        tick_value: i64,
        max_qty: u64,
    ) -> PyResult<u32> {
        self.g_mut()?
            .add_instrument(kg::GatewayInstrument {
                id,
                tick_value,
                lot_size,
                band_low,
                band_high,
                max_qty,
            })
            .map_err(|e| gateway_error(py, e))
    }
    /// The index of instrument `id`, or None.
    fn instrument_index(&self, id: u32) -> PyResult<Option<u32>> {
        Ok(self.g()?.instrument_index(id))
    }
    /// Opens a cash account for user `owner` with `cash` (>= 0) minor
    /// units; returns its index.
    #[pyo3(signature = (owner, cash=0))]
    fn open_account(&mut self, py: Python<'_>, owner: u64, cash: i64) -> PyResult<u32> {
        self.g_mut()?
            .open_account(owner, cash)
            .map_err(|e| gateway_error(py, e))
    }
    /// Pays `amount` (> 0) minor units into account `account`.
    fn deposit(&mut self, py: Python<'_>, account: u32, amount: i64) -> PyResult<()> {
        self.g_mut()?
            .deposit(account, amount)
            .map_err(|e| gateway_error(py, e))
    }
    /// The register's issue phase: a new live certificate of `shares`
    /// shares of instrument index `instrument` for account `holder`;
    /// returns its serial.
    fn issue(
        &mut self,
        py: Python<'_>,
        holder: u32,
        instrument: u32,
        shares: u64,
    ) -> PyResult<u64> {
        self.g_mut()?
            .issue(holder, instrument, shares)
            .map_err(|e| gateway_error(py, e))
    }
    /// Applies `orders` (a numpy array of `GATEWAY_ORDER_DTYPE`) in order,
    /// synchronously, with the GIL released; sequence numbers continue
    /// from the requests applied so far. Returns the reports as a numpy
    /// array of `GATEWAY_REPORT_DTYPE`: every order gets one
    /// ``GATEWAY_ACCEPTED`` or ``GATEWAY_REFUSED`` report first, then
    /// fills and ends of orders. Bad input (another dtype or shape, a kind
    /// or time in force out of range) raises and applies nothing.
    fn apply<'py>(
        &mut self,
        py: Python<'py>,
        orders: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let os = orders_arg(orders)?;
        let g = self.g_mut()?;
        let out = py.detach(move || {
            let mut out: Vec<(u16, kg::GatewayReport)> = Vec::with_capacity(os.len() * 2);
            let seq = g.next_seq();
            g.apply_batch(0, seq, &os, &mut out);
            out
        });
        reports_array(py, out.into_iter().map(|(_, r)| r))
    }
    /// Replays a runtime's journal (``GatewayOutcome.journal``, from a
    /// runtime started with ``journal=True``) synchronously, with the GIL
    /// released: on a gateway in the state that runtime started from, it
    /// gives the same reports (returned, in sequence order) and the same
    /// state hash.
    fn replay<'py>(
        &mut self,
        py: Python<'py>,
        journal: &GatewayJournal,
    ) -> PyResult<Bound<'py, PyAny>> {
        let entries = journal.entries.clone();
        let g = self.g_mut()?;
        let out = py.detach(move || kg::replay(g, &entries));
        reports_array(py, out.into_iter().map(|(_, r)| r))
    }
    /// The end of the trading day: every day order (`GATEWAY_TIF_DAY`)
    /// expires, giving back its cash and certificate; returns the reports
    /// (`GATEWAY_DONE` with code `GATEWAY_DONE_EXPIRED`), as `apply` does.
    fn end_of_day<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let g = self.g_mut()?;
        let mut out: Vec<(u16, kg::GatewayReport)> = Vec::new();
        let seq = g.next_seq();
        g.end_of_day(seq, &mut out);
        reports_array(py, out.into_iter().map(|(_, r)| r))
    }
    /// The sequence number the next order or control gets.
    #[getter]
    fn next_seq(&self) -> PyResult<u64> {
        Ok(self.g()?.next_seq())
    }
    /// Account `account`, or None.
    fn account(&self, account: u32) -> PyResult<Option<GatewayAccount>> {
        Ok(self.g()?.account(account).map(|a| GatewayAccount {
            owner: a.owner,
            cash: a.cash,
            reserved: a.reserved,
        }))
    }
    /// Certificate `serial`, or None.
    fn certificate(&self, serial: u64) -> PyResult<Option<GatewayCertificate>> {
        Ok(self.g()?.certificate(serial).map(|c| {
            let (state, reserved_by) = match c.state {
                IdState::Live => ("live", None),
                IdState::Reserved(o) => ("reserved", Some(o)),
                IdState::Spent => ("spent", None),
                IdState::Vacant => ("vacant", None),
            };
            GatewayCertificate {
                serial: c.serial,
                state,
                reserved_by,
                instrument: c.instrument,
                holder: c.holder,
                shares: c.shares,
                origin: c.origin,
            }
        }))
    }
    /// Order `number`, or None.
    fn order(&self, number: u64) -> PyResult<Option<GatewayOrderView>> {
        Ok(self.g()?.order(number).map(|o| GatewayOrderView {
            number: o.number,
            tag: o.tag,
            producer: o.producer,
            account: o.account,
            instrument: o.instrument,
            side: if o.side == Side::Buy { "buy" } else { "sell" },
            price: o.price,
            open: o.open,
            filled: o.filled,
            cash_reserved: o.cash_reserved,
            cert: o.cert,
            done: o.done,
        }))
    }
    /// The serials of account `account`'s live and reserved certificates.
    fn holdings(&self, py: Python<'_>, account: u32) -> PyResult<Vec<u64>> {
        let g = self.g()?;
        if g.account(account).is_none() {
            return Err(gateway_error(py, kg::GatewayError::UnknownAccount));
        }
        Ok(g.holdings(account).map(|c| c.serial).collect())
    }
    /// Shares of instrument index `instrument` that account `account` holds
    /// (live and reserved certificates).
    fn shares_of(&self, py: Python<'_>, account: u32, instrument: u32) -> PyResult<u128> {
        let g = self.g()?;
        if g.account(account).is_none() {
            return Err(gateway_error(py, kg::GatewayError::UnknownAccount));
        }
        if g.instrument(instrument).is_none() {
            return Err(gateway_error(py, kg::GatewayError::UnknownInstrument));
        }
        Ok(g.shares_of(account, instrument))
    }
    /// The transfer history from `start`, at most `limit` of them (empty
    /// when the history is not kept).
    #[pyo3(signature = (start=0, limit=None))]
    fn transfers(&self, start: usize, limit: Option<usize>) -> PyResult<Vec<GatewayTransfer>> {
        let t = self.g()?.transfers();
        Ok(t.iter()
            .skip(start)
            .take(limit.unwrap_or(usize::MAX))
            .map(|t| GatewayTransfer {
                number: t.number,
                seq: t.seq,
                instrument: t.instrument,
                buyer: t.buyer,
                seller: t.seller,
                price: t.price,
                quantity: t.quantity,
                spent: t.spent,
                new: t.new,
                change: t.change,
                buy_order: t.buy_order,
                sell_order: t.sell_order,
            })
            .collect())
    }
    /// Number of transfers recorded.
    #[getter]
    fn transfer_count(&self) -> PyResult<usize> {
        Ok(self.g()?.transfers().len())
    }
    /// Counters and sizes.
    fn stats(&self) -> PyResult<GatewayStats> {
        let g = self.g()?;
        let s = g.stats();
        Ok(GatewayStats {
            requests: s.requests,
            accepted: s.accepted,
            refused: s.refused,
            fills: s.fills,
            shares: s.shares,
            value: s.value,
            accounts: g.account_count(),
            instruments: g.instrument_count(),
            certificates: g.certificate_count(),
            orders: g.order_count(),
        })
    }
    /// Best bid and ask (price, quantity) of instrument index `instrument`'s
    /// book, each None when that side is empty.
    #[allow(clippy::type_complexity)]
    fn best(
        &self,
        py: Python<'_>,
        instrument: u32,
    ) -> PyResult<(Option<(i64, u64)>, Option<(i64, u64)>)> {
        let b = self
            .g()?
            .book(instrument)
            .ok_or_else(|| gateway_error(py, kg::GatewayError::UnknownInstrument))?;
        Ok((b.best_bid(), b.best_ask()))
    }
    /// Last trade price (None before the first) and volume of instrument
    /// index `instrument`.
    fn last_trade(&self, py: Python<'_>, instrument: u32) -> PyResult<(Option<i64>, u128)> {
        self.g()?
            .last_trade(instrument)
            .ok_or_else(|| gateway_error(py, kg::GatewayError::UnknownInstrument))
    }
    /// Checks every invariant (shares live equal shares issued, every
    /// reservation held by its order, cash conserved and reservations
    /// covered, no crossed book); raises `InvariantViolation`.
    fn check_invariants(&self, py: Python<'_>) -> PyResult<()> {
        let g = self.g()?;
        py.detach(|| g.check_invariants()).map_err(|v| {
            error(
                py,
                "InvariantViolation",
                (format!("{} invariant violation(s)", v.len()), v),
            )
        })
    }
    /// A 32-byte digest of the whole state (equal states, equal hashes).
    fn state_hash<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let g = self.g()?;
        let h = py.detach(|| g.state_hash());
        Ok(PyBytes::new(py, &h))
    }
    /// The ID of certificate `serial` under the register's 32-byte
    /// `id_secret`, or None.
    fn cert_id(&self, serial: u64, id_secret: &[u8]) -> PyResult<Option<CertId>> {
        let ids = CertIdKey::from_bytes(secret(id_secret)?);
        Ok(self.g()?.cert_id(serial, &ids).map(Into::into))
    }
    /// The signed certificate documents of `serials` (live or reserved
    /// certificates; others are skipped), batch-signed by the register's
    /// `key` (one signature over the batch's Merkle root) as register
    /// `register_id`, issued at `issue_date`; IDs minted under the
    /// register's 32-byte `id_secret`; holder names by account index
    /// (others are "account N"). `Certificate.verify(register_id,
    /// key.public_key)` accepts them. GIL released while signing.
    #[pyo3(signature = (serials, *, key, register_id, id_secret, issue_date, register_name, register_address, company_name, company_founded, lifetime, holder_names=Vec::new()))]
    fn documents(
        &self,
        py: Python<'_>,
        serials: Vec<u64>,
        key: &KeyPair,
        register_id: u64,
        id_secret: &[u8],
        issue_date: u64,
        register_name: String,
        register_address: String,
        company_name: String,
        company_founded: u32,
        lifetime: u64,
        holder_names: Vec<String>,
    ) -> PyResult<Vec<Certificate>> {
        let ids = CertIdKey::from_bytes(secret(id_secret)?);
        let info = kg::DocumentInfo {
            register_id,
            register_name,
            register_address,
            company_name,
            company_founded,
            lifetime,
            holder_names,
        };
        let g = self.g()?;
        let k = key.get();
        let docs = py
            .detach(|| g.documents(&serials, &info, &ids, k, issue_date))
            .map_err(|e| crypto_error(py, &e))?;
        Ok(docs.into_iter().map(Certificate::from).collect())
    }
    #[getter]
    fn account_count(&self) -> PyResult<usize> {
        Ok(self.g()?.account_count())
    }
    #[getter]
    fn instrument_count(&self) -> PyResult<usize> {
        Ok(self.g()?.instrument_count())
    }
    #[getter]
    fn certificate_count(&self) -> PyResult<u64> {
        Ok(self.g()?.certificate_count())
    }
    #[getter]
    fn order_count(&self) -> PyResult<u64> {
        Ok(self.g()?.order_count())
    }
    fn __repr__(&self) -> String {
        match self.inner.peek() {
            Some(g) => format!(
                "Gateway(instruments={}, accounts={}, certificates={}, orders={})",
                g.instrument_count(),
                g.account_count(),
                g.certificate_count(),
                g.order_count()
            ),
            None => "Gateway(<owned by a GatewayRuntime>)".to_string(),
        }
    }
}

fn secret(b: &[u8]) -> PyResult<[u8; 32]> {
    <[u8; 32]>::try_from(b)
        .map_err(|_| PyValueError::new_err(format!("id_secret must be 32 bytes, not {}", b.len())))
}

// ---- producers ---------------------------------------------------------------------

fn backpressure(py: Python<'_>, what: &str) -> PyErr {
    error(
        py,
        "Backpressure",
        (format!(
            "{what}: queue full or reports unpolled; nothing was submitted: poll and retry"
        ),),
    )
}

/// A submitting handle of a `GatewayRuntime`: submits arrays of orders and
/// polls the reports about its orders (fills of its resting orders
/// included). Several Python threads may share one (calls are serialized);
/// one per thread avoids the contention.
#[pyclass(module = "kabuken._native", frozen)]
pub struct GatewayProducer {
    inner: Mutex<kg::GatewayProducer>,
    /// Reports taken from the runtime and not yet handed out.
    stash: Mutex<VecDeque<kg::GatewayReport>>,
    /// Orders one submit may carry (batch * queue_batches).
    capacity: usize,
    /// Reports the stash may hold before `submit` pushes back (the
    /// engine's own credit, `report_batches * batch`, no longer sees
    /// reports once they are taken from it).
    stash_limit: usize,
}

impl GatewayProducer {
    fn take_into_stash(&self, p: &mut kg::GatewayProducer) {
        let mut stash = lock(&self.stash);
        p.poll(|r| stash.push_back(*r));
    }
}

#[pymethods]
impl GatewayProducer {
    /// Submits `orders` (a numpy array of `GATEWAY_ORDER_DTYPE`), all or
    /// nothing. Raises `Backpressure` when the queue has no room for all of
    /// them or too many report batches are unpolled (nothing was
    /// submitted: `poll` and retry), `RuntimeClosed` after shutdown,
    /// `ValueError` for more orders than the queue ever holds
    /// (``batch * queue_batches``; `submit_wait` takes any number).
    fn submit(&self, py: Python<'_>, orders: &Bound<'_, PyAny>) -> PyResult<()> {
        let os = orders_arg(orders)?;
        if lock(&self.stash).len() >= self.stash_limit {
            return Err(backpressure(py, "submit (reports waiting in the producer)"));
        }
        match py.detach(|| lock(&self.inner).submit(&os)) {
            Ok(()) => Ok(()),
            Err(kg::GatewaySubmitError::Full) => Err(backpressure(py, "submit")),
            Err(kg::GatewaySubmitError::Closed) => Err(closed(py)),
            Err(e) => Err(PyValueError::new_err(format!(
                "{e} ({} orders at most; submit_wait takes any number)",
                self.capacity
            ))),
        }
    }
    /// Submits `orders`, waiting (GIL released) while the queue is full;
    /// reports that arrive meanwhile are kept for `poll`. Arrays longer
    /// than the queue holds go in parts, in order. With `timeout`
    /// (seconds) raises `Backpressure` when still full then (the message
    /// says how many orders went in); `RuntimeClosed` after shutdown.
    #[pyo3(signature = (orders, timeout=None))]
    fn submit_wait(
        &self,
        py: Python<'_>,
        orders: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        let os = orders_arg(orders)?;
        let end = timeout
            .map(|t| seconds_arg("timeout", t))
            .transpose()?
            .map(|d| Instant::now() + d);
        let mut done = 0;
        while done < os.len() {
            let part = &os[done..(done + self.capacity).min(os.len())];
            let slice = Instant::now() + Duration::from_millis(50);
            let r = py.detach(|| loop {
                let mut p = lock(&self.inner);
                match p.submit(part) {
                    Err(kg::GatewaySubmitError::Full) => {
                        self.take_into_stash(&mut p);
                        drop(p);
                        let now = Instant::now();
                        if now >= slice || end.is_some_and(|e| now >= e) {
                            return None;
                        }
                        std::thread::sleep(Duration::from_micros(50));
                    }
                    other => return Some(other),
                }
            });
            match r {
                Some(Ok(())) => done += part.len(),
                Some(Err(kg::GatewaySubmitError::Closed)) => return Err(closed(py)),
                // The parts fit the queue: cannot happen.
                Some(Err(e)) => return Err(PyValueError::new_err(e.to_string())),
                None => {
                    if end.is_some_and(|e| Instant::now() >= e) {
                        return Err(backpressure(
                            py,
                            &format!("submit_wait timed out after {done} of {} orders", os.len()),
                        ));
                    }
                    py.check_signals()?;
                }
            }
        }
        Ok(())
    }
    /// The reports that have arrived (at most `limit`; the rest stay), as a
    /// numpy array of `GATEWAY_REPORT_DTYPE` (possibly empty). With
    /// `timeout` (seconds), waits up to that long (GIL released) for the
    /// first report when none is there.
    #[pyo3(signature = (timeout=None, limit=None))]
    fn poll<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
        limit: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let end = timeout
            .map(|t| seconds_arg("timeout", t))
            .transpose()?
            .map(|d| Instant::now() + d);
        loop {
            py.detach(|| {
                let mut p = lock(&self.inner);
                self.take_into_stash(&mut p);
                if let Some(e) = end {
                    if lock(&self.stash).is_empty() {
                        let left = e.saturating_duration_since(Instant::now());
                        if p.wait(left.min(Duration::from_millis(50))) {
                            self.take_into_stash(&mut p);
                        }
                    }
                }
            });
            let ready = !lock(&self.stash).is_empty();
            if ready || end.is_none_or(|e| Instant::now() >= e) {
                break;
            }
            py.check_signals()?;
        }
        let taken: Vec<kg::GatewayReport> = {
            let mut s = lock(&self.stash);
            let n = limit.unwrap_or(usize::MAX).min(s.len());
            s.drain(..n).collect()
        };
        reports_array(py, taken.into_iter())
    }
    /// Reports held here that `poll` returns without asking the runtime.
    #[getter]
    fn pending(&self) -> usize {
        lock(&self.stash).len()
    }
    /// Batches submitted that the sequencer has not taken yet.
    #[getter]
    fn queued_batches(&self) -> usize {
        lock(&self.inner).queued_batches()
    }
    /// This producer's index (the `producer` of its orders).
    #[getter]
    fn index(&self) -> usize {
        lock(&self.inner).index()
    }
    fn __repr__(&self) -> String {
        format!(
            "GatewayProducer(index={}, pending={})",
            self.index(),
            self.pending()
        )
    }
}

// ---- the runtime -------------------------------------------------------------------

/// The sequenced input of a gateway runtime started with ``journal=True``:
/// its order batches and controls in the order the sequencer applied them,
/// for `Gateway.replay`.
#[pyclass(module = "kabuken._native", frozen)]
pub struct GatewayJournal {
    entries: Vec<kg::JournalEntry>,
}

#[pymethods]
impl GatewayJournal {
    /// The number of entries (batches, and controls between them).
    fn __len__(&self) -> usize {
        self.entries.len()
    }
    /// Orders in the journal.
    #[getter]
    fn orders(&self) -> usize {
        self.entries.iter().map(|e| e.orders.len()).sum()
    }
    /// Controls in the journal.
    #[getter]
    fn controls(&self) -> usize {
        self.entries.iter().map(|e| e.controls.len()).sum()
    }
    fn __repr__(&self) -> String {
        format!(
            "GatewayJournal(entries={}, orders={}, controls={})",
            self.entries.len(),
            self.orders(),
            self.controls()
        )
    }
}

/// What `GatewayRuntime.shutdown()` hands back: the final counters, the
/// number of journaled orders (0 unless ``journal=True``) and the journal
/// itself, the state hash and the `Gateway` (the object the runtime was
/// started from), synchronous again.
#[pyclass(module = "kabuken._native", frozen, get_all)]
pub struct GatewayOutcome {
    stats: Py<GatewayRuntimeStats>,
    journal_length: usize,
    journal: Py<GatewayJournal>,
    state_hash: Py<PyBytes>,
    gateway: Py<Gateway>,
}

#[pymethods]
impl GatewayOutcome {
    fn __repr__(&self) -> String {
        format!(
            "GatewayOutcome(journal_length={}, stats={})",
            self.journal_length,
            self.stats.get().__repr__()
        )
    }
}

/// The gateway on its own sequencer thread, behind one bounded lock-free
/// queue of order batches per producer. Takes the engine state out of
/// `gateway` (whose methods raise `RuntimeBusy` until `shutdown()` hands it
/// back).
#[pyclass(module = "kabuken._native", frozen)]
pub struct GatewayRuntime {
    inner: RwLock<Option<kg::GatewayRuntime>>,
    owner: Mutex<Option<Py<Gateway>>>,
    readers: Vec<(u32, md::DepthReader)>,
    capacity: usize,
    stash_limit: usize,
    final_stats: Mutex<kg::GatewayRuntimeStats>,
}

impl GatewayRuntime {
    fn running(
        &self,
        py: Python<'_>,
    ) -> PyResult<std::sync::RwLockReadGuard<'_, Option<kg::GatewayRuntime>>> {
        let g = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        if g.is_none() {
            return Err(closed(py));
        }
        Ok(g)
    }
    /// Queues a control and waits for its result (GIL released, in
    /// slices that notice signals).
    fn control(&self, py: Python<'_>, c: kg::GatewayControl, timeout: f64) -> PyResult<u64> {
        let timeout = seconds_arg("timeout", timeout)?;
        let handle = py
            .detach(|| {
                let g = self.inner.read().unwrap_or_else(PoisonError::into_inner);
                g.as_ref().map(|rt| rt.control(c))
            })
            .ok_or_else(|| closed(py))?
            .map_err(|_| closed(py))?;
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match py.detach(|| handle.wait(left.min(Duration::from_millis(50)))) {
                Some(r) => return r.map_err(|e| gateway_error(py, e)),
                None if left.is_zero() => {
                    return Err(error(
                        py,
                        "ControlTimeout",
                        ("the control is queued but was not applied within the timeout",),
                    ))
                }
                None => py.check_signals()?,
            }
        }
    }
    fn reader(&self, py: Python<'_>, instrument: u32) -> PyResult<&md::DepthReader> {
        drop(self.running(py)?);
        self.readers
            .iter()
            .find(|(i, _)| *i == instrument)
            .map(|(_, r)| r)
            .ok_or_else(|| {
                error(
                    py,
                    "MarketError",
                    (
                        format!("instrument {instrument} is not listed (or depth=0)"),
                        instrument,
                    ),
                )
            })
    }
}

impl Drop for GatewayRuntime {
    fn drop(&mut self) {
        let rt = self
            .inner
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(rt) = rt {
            Python::attach(|py| py.detach(move || drop(rt)));
        }
    }
}

/// The owner `Gateway`, mutably. Another thread may be inside one of its
/// methods (each fails at once with `RuntimeBusy` while the runtime holds
/// the state): wait for it with the GIL released instead of panicking.
fn owner_mut<'py>(py: Python<'py>, g: &'py Py<Gateway>) -> PyRefMut<'py, Gateway> {
    loop {
        if let Ok(r) = g.try_borrow_mut(py) {
            return r;
        }
        py.detach(|| std::thread::sleep(Duration::from_micros(50)));
    }
}

#[pymethods]
impl GatewayRuntime {
    #[new]
    #[pyo3(signature = (gateway, *, max_producers=8, queue_batches=64, batch=1024, report_batches=256, depth=5, event_capacity=65536, keep_transfers=true, journal=false))]
    fn new(
        py: Python<'_>,
        gateway: Py<Gateway>,
        max_producers: usize,
        queue_batches: usize,
        batch: usize,
        report_batches: usize,
        depth: usize,
        event_capacity: usize,
        keep_transfers: bool,
        journal: bool,
    ) -> PyResult<Self> {
        for (what, v, lo, hi) in [
            ("max_producers", max_producers, 1, 65_535),
            ("queue_batches", queue_batches, 1, 1 << 24),
            ("batch", batch, 1, 1 << 20),
            ("report_batches", report_batches, 1, 1 << 24),
            ("depth", depth, 0, 1024),
            ("event_capacity", event_capacity, 0, 1 << 24),
        ] {
            if v < lo || v > hi {
                return Err(config_error(
                    py,
                    format!("{what} must be in {lo}..={hi}, got {v}"),
                ));
            }
        }
        let cfg = kg::GatewayConfig {
            max_producers,
            queue_batches,
            batch,
            report_batches,
            journal,
            depth,
            event_capacity,
            keep_transfers,
        };
        let g = gateway.try_borrow_mut(py)?.inner.take()?;
        let ids: Vec<u32> = (0..g.instrument_count() as u32)
            .filter_map(|i| g.instrument(i).map(|s| s.id))
            .collect();
        let rt = match py.detach(move || kg::GatewayRuntime::start(g, cfg)) {
            Ok(rt) => rt,
            // The engine hands the gateway back with its refusal.
            Err(e) => {
                owner_mut(py, &gateway).inner.put(*e.gateway);
                return Err(config_error(py, e.reason));
            }
        };
        let readers = ids
            .iter()
            .filter_map(|id| rt.depth_reader(*id).map(|r| (*id, r)))
            .collect();
        Ok(GatewayRuntime {
            inner: RwLock::new(Some(rt)),
            owner: Mutex::new(Some(gateway)),
            readers,
            capacity: batch * queue_batches,
            stash_limit: batch.saturating_mul(report_batches),
            final_stats: Mutex::new(kg::GatewayRuntimeStats::default()),
        })
    }
    /// A new producer; raises `ConfigError` when `max_producers` were made,
    /// `RuntimeClosed` after shutdown.
    fn producer(&self, py: Python<'_>) -> PyResult<GatewayProducer> {
        let p = self
            .running(py)?
            .as_ref()
            .and_then(kg::GatewayRuntime::producer)
            .ok_or_else(|| config_error(py, "no room for another producer (max_producers)"))?;
        Ok(GatewayProducer {
            inner: Mutex::new(p),
            stash: Mutex::new(VecDeque::new()),
            capacity: self.capacity,
            stash_limit: self.stash_limit,
        })
    }
    /// Best bid and ask (price, quantity) of instrument `id` as last
    /// published, read without locks.
    #[allow(clippy::type_complexity)]
    fn best(&self, py: Python<'_>, id: u32) -> PyResult<(Option<(i64, u64)>, Option<(i64, u64)>)> {
        let s = self.reader(py, id)?.read();
        Ok((s.best_bid(), s.best_ask()))
    }
    /// The published depth of instrument `id`.
    fn depth(&self, py: Python<'_>, id: u32) -> PyResult<DepthSnapshot> {
        Ok(DepthSnapshot::read(id, self.reader(py, id)?))
    }
    /// A subscriber to the market event stream (order log and trades;
    /// `MarketEvent.instrument` is the instrument id), from the next event
    /// on. Raises `ConfigError` with ``event_capacity=0``.
    fn subscribe(&self, py: Python<'_>) -> PyResult<Subscriber> {
        let g = self.running(py)?;
        g.as_ref()
            .and_then(kg::GatewayRuntime::subscribe)
            .map(Subscriber::wrap)
            .ok_or_else(|| config_error(py, "no event stream (event_capacity=0)"))
    }
    /// Opens a cash account while the runtime runs, in sequence with the
    /// orders (every array submitted after this returns sees it); returns
    /// its index. Raises `GatewayError` (nothing changed), `ControlTimeout`
    /// when not applied within `timeout` seconds (it still applies later),
    /// `RuntimeClosed` after shutdown.
    #[pyo3(signature = (owner, cash=0, timeout=10.0))]
    fn open_account(&self, py: Python<'_>, owner: u64, cash: i64, timeout: f64) -> PyResult<u32> {
        let r = self.control(py, kg::GatewayControl::OpenAccount { owner, cash }, timeout)?;
        Ok(u32::try_from(r).expect("an account index is a u32"))
    }
    /// Ends the trading day while the runtime runs, after every array
    /// submitted before and before any submitted after (as
    /// `open_account`): day orders expire, their reports go to their
    /// producers; returns how many expired.
    #[pyo3(signature = (timeout=10.0))]
    fn end_of_day(&self, py: Python<'_>, timeout: f64) -> PyResult<u64> {
        self.control(py, kg::GatewayControl::EndOfDay, timeout)
    }
    /// Pays `amount` into account `account` while the runtime runs, in
    /// sequence with the orders (as `open_account`).
    #[pyo3(signature = (account, amount, timeout=10.0))]
    fn deposit(&self, py: Python<'_>, account: u32, amount: i64, timeout: f64) -> PyResult<()> {
        self.control(py, kg::GatewayControl::Deposit { account, amount }, timeout)
            .map(|_| ())
    }
    /// Issues a certificate while the runtime runs, in sequence with the
    /// orders (as `open_account`); returns its serial.
    #[pyo3(signature = (holder, instrument, shares, timeout=10.0))]
    fn issue(
        &self,
        py: Python<'_>,
        holder: u32,
        instrument: u32,
        shares: u64,
        timeout: f64,
    ) -> PyResult<u64> {
        self.control(
            py,
            kg::GatewayControl::Issue {
                holder,
                instrument,
                shares,
            },
            timeout,
        )
    }
    /// The counters so far (the final ones after shutdown).
    fn stats(&self) -> GatewayRuntimeStats {
        let g = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        match g.as_ref() {
            Some(rt) => rt.stats().into(),
            None => (*lock(&self.final_stats)).into(),
        }
    }
    /// Whether the sequencer failed (an engine bug).
    #[getter]
    fn failed(&self) -> bool {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(kg::GatewayRuntime::failed)
    }
    /// Whether the runtime is still running.
    #[getter(running)]
    fn running_now(&self) -> bool {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }
    /// Stops taking orders, applies everything already submitted, joins
    /// the sequencer (GIL released) and hands the `Gateway` back,
    /// synchronous again. Reports not yet polled stay with their
    /// producers. Raises `RuntimeFailed` (handing nothing back) if the
    /// sequencer failed, `RuntimeClosed` when called twice.
    fn shutdown(&self, py: Python<'_>) -> PyResult<GatewayOutcome> {
        let rt = py
            .detach(|| {
                self.inner
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take()
            })
            .ok_or_else(|| closed(py))?;
        let out = py.detach(move || rt.shutdown());
        *lock(&self.final_stats) = out.stats;
        let owner = lock(&self.owner)
            .take()
            .expect("a running runtime has its owner");
        if out.failed {
            owner_mut(py, &owner).inner.fail();
            return Err(error(
                py,
                "RuntimeFailed",
                ("the gateway's sequencer failed (an engine bug): orders in flight got no answer and the Gateway is not handed back",),
            ));
        }
        let hash = out.gateway.state_hash();
        owner_mut(py, &owner).inner.put(out.gateway);
        Ok(GatewayOutcome {
            stats: Py::new(py, GatewayRuntimeStats::from(out.stats))?,
            journal_length: out.journal.iter().map(|e| e.orders.len()).sum(),
            journal: Py::new(
                py,
                GatewayJournal {
                    entries: out.journal,
                },
            )?,
            state_hash: PyBytes::new(py, &hash).unbind(),
            gateway: owner,
        })
    }
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }
    /// Leaving a ``with`` block shuts the runtime down (if still running).
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        if self.running_now() {
            self.shutdown(py)?;
        }
        Ok(false)
    }
    fn __repr__(&self) -> String {
        format!(
            "GatewayRuntime(instruments={:?}, running={})",
            self.readers.iter().map(|r| r.0).collect::<Vec<_>>(),
            self.running_now()
        )
    }
}

/// Registers the gateway's classes, constants and dtypes.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Gateway>()?;
    m.add_class::<GatewayAccount>()?;
    m.add_class::<GatewayCertificate>()?;
    m.add_class::<GatewayOrderView>()?;
    m.add_class::<GatewayTransfer>()?;
    m.add_class::<GatewayStats>()?;
    m.add_class::<GatewayRuntime>()?;
    m.add_class::<GatewayProducer>()?;
    m.add_class::<GatewayRuntimeStats>()?;
    m.add_class::<GatewayOutcome>()?;
    m.add_class::<GatewayJournal>()?;
    m.add("GATEWAY_ORDER_DTYPE", order_dtype(py)?)?;
    m.add("GATEWAY_REPORT_DTYPE", report_dtype(py)?)?;
    m.add("GATEWAY_BUY", GATEWAY_BUY)?;
    m.add("GATEWAY_SELL", GATEWAY_SELL)?;
    m.add("GATEWAY_CANCEL", GATEWAY_CANCEL)?;
    m.add("GATEWAY_TIF_GTC", GATEWAY_TIF_GTC)?;
    m.add("GATEWAY_TIF_IOC", GATEWAY_TIF_IOC)?;
    m.add("GATEWAY_TIF_FOK", GATEWAY_TIF_FOK)?;
    m.add("GATEWAY_TIF_DAY", GATEWAY_TIF_DAY)?;
    m.add("GATEWAY_ACCEPTED", GATEWAY_ACCEPTED)?;
    m.add("GATEWAY_REFUSED", GATEWAY_REFUSED)?;
    m.add("GATEWAY_FILL", GATEWAY_FILL)?;
    m.add("GATEWAY_DONE", GATEWAY_DONE)?;
    m.add("GATEWAY_DONE_FILLED", GATEWAY_DONE_FILLED)?;
    m.add("GATEWAY_DONE_CANCELLED", GATEWAY_DONE_CANCELLED)?;
    m.add("GATEWAY_DONE_EXPIRED", GATEWAY_DONE_EXPIRED)?;
    Ok(())
}
