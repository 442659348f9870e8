//! The order book: enums, configuration, events as small typed objects, the
//! `Book` class and the multi-instrument `Market`. Each method converts its
//! arguments, forwards to `kabuken::book`, and converts the outcome.

use crate::errors::{config_error, error};
use kabuken::book as kb;
use kabuken::types::Side as KSide;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};

// ---- enums ---------------------------------------------------------------

/// Buy or sell.
#[pyclass(module = "kabuken._native", eq, eq_int, hash, frozen)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    #[pyo3(name = "BUY")]
    Buy = 0,
    #[pyo3(name = "SELL")]
    Sell = 1,
}

impl From<KSide> for Side {
    fn from(s: KSide) -> Self {
        match s {
            KSide::Buy => Side::Buy,
            KSide::Sell => Side::Sell,
        }
    }
}

impl From<Side> for KSide {
    fn from(s: Side) -> Self {
        match s {
            Side::Buy => KSide::Buy,
            Side::Sell => KSide::Sell,
        }
    }
}

/// Accepts `Side.BUY`/`Side.SELL` or the strings `"buy"`/`"sell"`.
pub fn side_arg(ob: &Bound<'_, PyAny>) -> PyResult<KSide> {
    if let Ok(s) = ob.cast::<Side>() {
        return Ok((*s.get()).into());
    }
    if let Ok(s) = ob.cast::<PyString>() {
        return match &*s.to_cow()? {
            "buy" | "BUY" | "Buy" => Ok(KSide::Buy),
            "sell" | "SELL" | "Sell" => Ok(KSide::Sell),
            other => Err(PyValueError::new_err(format!(
                "side must be 'buy' or 'sell', not {other:?}"
            ))),
        };
    }
    Err(PyTypeError::new_err(format!(
        "side must be a kabuken.Side or 'buy'/'sell', not {}",
        ob.get_type().name()?
    )))
}

/// Time in force.
#[pyclass(module = "kabuken._native", eq, eq_int, hash, frozen)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeInForce {
    #[pyo3(name = "GTC")]
    Gtc = 0,
    #[pyo3(name = "IOC")]
    Ioc = 1,
    #[pyo3(name = "FOK")]
    Fok = 2,
    #[pyo3(name = "DAY")]
    Day = 3,
    #[pyo3(name = "GTD")]
    Gtd = 4,
}

/// Self-trade prevention mode.
#[pyclass(module = "kabuken._native", eq, eq_int, hash, frozen)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StpMode {
    #[pyo3(name = "OFF")]
    Off = 0,
    #[pyo3(name = "CANCEL_NEWEST")]
    CancelNewest = 1,
    #[pyo3(name = "CANCEL_OLDEST")]
    CancelOldest = 2,
    #[pyo3(name = "CANCEL_BOTH")]
    CancelBoth = 3,
    #[pyo3(name = "DECREMENT")]
    Decrement = 4,
}

impl StpMode {
    fn engine(self) -> kb::StpMode {
        kb::StpMode::from_u8(self as u8).unwrap_or_default()
    }
    fn from_engine(m: kb::StpMode) -> Self {
        match m {
            kb::StpMode::Off => StpMode::Off,
            kb::StpMode::CancelNewest => StpMode::CancelNewest,
            kb::StpMode::CancelOldest => StpMode::CancelOldest,
            kb::StpMode::CancelBoth => StpMode::CancelBoth,
            kb::StpMode::Decrement => StpMode::Decrement,
        }
    }
}

/// Why an order (or part of it) left the book without trading.
#[pyclass(module = "kabuken._native", eq, eq_int, hash, frozen)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CancelReason {
    #[pyo3(name = "REQUESTED")]
    Requested = 0,
    #[pyo3(name = "UNFILLED")]
    Unfilled = 1,
    #[pyo3(name = "FILL_OR_KILL")]
    FillOrKill = 2,
    #[pyo3(name = "EXPIRED")]
    Expired = 3,
    #[pyo3(name = "SELF_TRADE")]
    SelfTrade = 4,
}

impl From<kb::CancelReason> for CancelReason {
    fn from(r: kb::CancelReason) -> Self {
        match r {
            kb::CancelReason::Requested => CancelReason::Requested,
            kb::CancelReason::Unfilled => CancelReason::Unfilled,
            kb::CancelReason::FillOrKill => CancelReason::FillOrKill,
            kb::CancelReason::Expired => CancelReason::Expired,
            kb::CancelReason::SelfTrade => CancelReason::SelfTrade,
        }
    }
}

/// Why a command was refused.
#[pyclass(module = "kabuken._native", eq, eq_int, hash, frozen)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    #[pyo3(name = "DUPLICATE_ID")]
    DuplicateId = 1,
    #[pyo3(name = "UNKNOWN_ORDER")]
    UnknownOrder = 2,
    #[pyo3(name = "INVALID_QUANTITY")]
    InvalidQuantity = 3,
    #[pyo3(name = "LOT_SIZE")]
    LotSize = 4,
    #[pyo3(name = "PRICE_OUT_OF_RANGE")]
    PriceOutOfRange = 5,
    #[pyo3(name = "POST_ONLY_WOULD_CROSS")]
    PostOnlyWouldCross = 6,
    #[pyo3(name = "INVALID_ORDER_TYPE")]
    InvalidOrderType = 7,
    #[pyo3(name = "ALREADY_EXPIRED")]
    AlreadyExpired = 8,
    #[pyo3(name = "BOOK_FULL")]
    BookFull = 9,
}

impl From<kb::RejectReason> for RejectReason {
    fn from(r: kb::RejectReason) -> Self {
        match r {
            kb::RejectReason::DuplicateId => RejectReason::DuplicateId,
            kb::RejectReason::UnknownOrder => RejectReason::UnknownOrder,
            kb::RejectReason::InvalidQuantity => RejectReason::InvalidQuantity,
            kb::RejectReason::LotSize => RejectReason::LotSize,
            kb::RejectReason::PriceOutOfRange => RejectReason::PriceOutOfRange,
            kb::RejectReason::PostOnlyWouldCross => RejectReason::PostOnlyWouldCross,
            kb::RejectReason::InvalidOrderType => RejectReason::InvalidOrderType,
            kb::RejectReason::AlreadyExpired => RejectReason::AlreadyExpired,
            kb::RejectReason::BookFull => RejectReason::BookFull,
        }
    }
}

/// Which kind of command a rejection answers.
#[pyclass(module = "kabuken._native", eq, eq_int, hash, frozen)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommandKind {
    #[pyo3(name = "NEW")]
    New = 0,
    #[pyo3(name = "CANCEL")]
    Cancel = 1,
    #[pyo3(name = "REDUCE")]
    Reduce = 2,
    #[pyo3(name = "MODIFY")]
    Modify = 3,
}

impl From<kb::CommandKind> for CommandKind {
    fn from(c: kb::CommandKind) -> Self {
        match c {
            kb::CommandKind::New => CommandKind::New,
            kb::CommandKind::Cancel => CommandKind::Cancel,
            kb::CommandKind::Reduce => CommandKind::Reduce,
            kb::CommandKind::Modify => CommandKind::Modify,
        }
    }
}

fn command_name(c: kb::CommandKind) -> &'static str {
    match c {
        kb::CommandKind::New => "new",
        kb::CommandKind::Cancel => "cancel",
        kb::CommandKind::Reduce => "reduce",
        kb::CommandKind::Modify => "modify",
    }
}

/// Whether a same-price, not-larger modify keeps priority.
#[pyclass(module = "kabuken._native", eq, eq_int, hash, frozen)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModifyPriority {
    #[pyo3(name = "KEEP_ON_DECREASE")]
    KeepOnDecrease = 0,
    #[pyo3(name = "ALWAYS_LOSE")]
    AlwaysLose = 1,
}

// ---- configuration -------------------------------------------------------

/// A book's fixed rules (see `kabuken::book::BookConfig`).
#[pyclass(module = "kabuken._native", frozen, get_all)]
#[derive(Clone, Debug)]
pub struct BookConfig {
    pub lot_size: u64,
    pub max_qty: u64,
    pub min_price: i64,
    pub max_price: i64,
    pub modify_priority: ModifyPriority,
    pub max_orders: u32,
    pub direct_id_limit: u64,
}

impl BookConfig {
    pub fn engine(&self) -> kb::BookConfig {
        kb::BookConfig {
            lot_size: self.lot_size,
            max_qty: self.max_qty,
            min_price: self.min_price,
            max_price: self.max_price,
            modify_priority: match self.modify_priority {
                ModifyPriority::KeepOnDecrease => kb::ModifyPriority::KeepOnDecrease,
                ModifyPriority::AlwaysLose => kb::ModifyPriority::AlwaysLose,
            },
            max_orders: self.max_orders,
            direct_id_limit: self.direct_id_limit,
        }
    }

    pub fn from_engine(c: &kb::BookConfig) -> Self {
        BookConfig {
            lot_size: c.lot_size,
            max_qty: c.max_qty,
            min_price: c.min_price,
            max_price: c.max_price,
            modify_priority: match c.modify_priority {
                kb::ModifyPriority::KeepOnDecrease => ModifyPriority::KeepOnDecrease,
                kb::ModifyPriority::AlwaysLose => ModifyPriority::AlwaysLose,
            },
            max_orders: c.max_orders,
            direct_id_limit: c.direct_id_limit,
        }
    }
}

/// The engine configuration for an optional Python `BookConfig`.
pub fn engine_config(c: Option<&BookConfig>) -> kb::BookConfig {
    c.map_or_else(kb::BookConfig::default, BookConfig::engine)
}

#[pymethods]
impl BookConfig {
    #[new]
    #[pyo3(signature = (*, lot_size=1, max_qty=u64::MAX / 2, min_price=i64::MIN + 1, max_price=i64::MAX, modify_priority=ModifyPriority::KeepOnDecrease, max_orders=u32::MAX - 1, direct_id_limit=1 << 22))]
    fn new(
        py: Python<'_>,
        lot_size: u64,
        max_qty: u64,
        min_price: i64,
        max_price: i64,
        modify_priority: ModifyPriority,
        max_orders: u32,
        direct_id_limit: u64,
    ) -> PyResult<Self> {
        let c = BookConfig {
            lot_size,
            max_qty,
            min_price,
            max_price,
            modify_priority,
            max_orders,
            direct_id_limit,
        };
        c.engine().validate().map_err(|e| config_error(py, e))?;
        Ok(c)
    }

    /// The rules the Flash conformance workloads assume.
    #[staticmethod]
    fn flash() -> Self {
        BookConfig::from_engine(&kb::BookConfig::flash())
    }

    fn __repr__(&self) -> String {
        format!(
            "BookConfig(lot_size={}, max_qty={}, min_price={}, max_price={}, modify_priority={}, max_orders={}, direct_id_limit={})",
            self.lot_size, self.max_qty, self.min_price, self.max_price, py_enum("ModifyPriority", &self.modify_priority), self.max_orders, self.direct_id_limit
        )
    }
}

// ---- events --------------------------------------------------------------

/// A new order was accepted (before any fill).
#[pyclass(module = "kabuken._native", frozen, get_all, eq)]
#[derive(Clone, Debug, PartialEq)]
pub struct Accepted {
    pub id: u64,
    pub side: Side,
    pub price: Option<i64>,
    pub qty: u64,
}

/// A fill between an incoming (taker) and a resting (maker) order.
#[pyclass(module = "kabuken._native", frozen, get_all, eq)]
#[derive(Clone, Debug, PartialEq)]
pub struct Trade {
    pub maker_id: u64,
    pub taker_id: u64,
    pub taker_side: Side,
    pub price: i64,
    pub qty: u64,
    pub maker_remaining: u64,
    pub taker_remaining: u64,
}

/// An order ended without (further) trading; `qty` shares were cancelled.
#[pyclass(module = "kabuken._native", frozen, get_all, eq)]
#[derive(Clone, Debug, PartialEq)]
pub struct Cancelled {
    pub id: u64,
    pub side: Side,
    pub price: Option<i64>,
    pub qty: u64,
    pub reason: CancelReason,
}

/// An order's open quantity shrank by `qty` and it stays live.
#[pyclass(module = "kabuken._native", frozen, get_all, eq)]
#[derive(Clone, Debug, PartialEq)]
pub struct Reduced {
    pub id: u64,
    pub side: Side,
    pub qty: u64,
    pub remaining: u64,
    pub reason: CancelReason,
}

/// A modify was accepted; fills (as taker) may follow.
#[pyclass(module = "kabuken._native", frozen, get_all, eq)]
#[derive(Clone, Debug, PartialEq)]
pub struct Modified {
    pub id: u64,
    pub side: Side,
    pub price: i64,
    pub qty: u64,
}

/// A command was refused; nothing changed. (Only the bulk path and
/// `Book.apply_quiet` report it as an event; single calls raise `BookError`.)
#[pyclass(module = "kabuken._native", frozen, get_all, eq)]
#[derive(Clone, Debug, PartialEq)]
pub struct Rejected {
    pub id: u64,
    pub command: CommandKind,
    pub reason: RejectReason,
}

/// `CamelCase` (a Rust variant's Debug name) as Python's `Class.UPPER_SNAKE`.
fn py_enum(class: &str, variant: &dyn core::fmt::Debug) -> String {
    let name = format!("{variant:?}");
    let mut out = String::with_capacity(class.len() + name.len() + 4);
    out.push_str(class);
    out.push('.');
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

fn opt(p: Option<i64>) -> String {
    p.map_or_else(|| "None".to_owned(), |p| p.to_string())
}

#[pymethods]
impl Accepted {
    fn __repr__(&self) -> String {
        format!(
            "Accepted(id={}, side={}, price={}, qty={})",
            self.id,
            py_enum("Side", &self.side),
            opt(self.price),
            self.qty
        )
    }
}

#[pymethods]
impl Trade {
    fn __repr__(&self) -> String {
        format!(
            "Trade(maker_id={}, taker_id={}, taker_side={}, price={}, qty={}, maker_remaining={}, taker_remaining={})",
            self.maker_id, self.taker_id, py_enum("Side", &self.taker_side), self.price, self.qty, self.maker_remaining, self.taker_remaining
        )
    }
}

#[pymethods]
impl Cancelled {
    fn __repr__(&self) -> String {
        format!(
            "Cancelled(id={}, side={}, price={}, qty={}, reason={})",
            self.id,
            py_enum("Side", &self.side),
            opt(self.price),
            self.qty,
            py_enum("CancelReason", &self.reason)
        )
    }
}

#[pymethods]
impl Reduced {
    fn __repr__(&self) -> String {
        format!(
            "Reduced(id={}, side={}, qty={}, remaining={}, reason={})",
            self.id,
            py_enum("Side", &self.side),
            self.qty,
            self.remaining,
            py_enum("CancelReason", &self.reason)
        )
    }
}

#[pymethods]
impl Modified {
    fn __repr__(&self) -> String {
        format!(
            "Modified(id={}, side={}, price={}, qty={})",
            self.id,
            py_enum("Side", &self.side),
            self.price,
            self.qty
        )
    }
}

#[pymethods]
impl Rejected {
    fn __repr__(&self) -> String {
        format!(
            "Rejected(id={}, command={}, reason={})",
            self.id,
            py_enum("CommandKind", &self.command),
            py_enum("RejectReason", &self.reason)
        )
    }
}

/// One engine event as its Python object.
pub fn event_object<'py>(py: Python<'py>, e: kb::Event) -> PyResult<Bound<'py, PyAny>> {
    Ok(match e {
        kb::Event::Accepted {
            id,
            side,
            price,
            qty,
        } => Bound::new(
            py,
            Accepted {
                id,
                side: side.into(),
                price,
                qty,
            },
        )?
        .into_any(),
        kb::Event::Trade {
            maker_id,
            taker_id,
            taker_side,
            price,
            qty,
            maker_remaining,
            taker_remaining,
        } => Bound::new(
            py,
            Trade {
                maker_id,
                taker_id,
                taker_side: taker_side.into(),
                price,
                qty,
                maker_remaining,
                taker_remaining,
            },
        )?
        .into_any(),
        kb::Event::Cancelled {
            id,
            side,
            price,
            qty,
            reason,
        } => Bound::new(
            py,
            Cancelled {
                id,
                side: side.into(),
                price,
                qty,
                reason: reason.into(),
            },
        )?
        .into_any(),
        kb::Event::Reduced {
            id,
            side,
            qty,
            remaining,
            reason,
        } => Bound::new(
            py,
            Reduced {
                id,
                side: side.into(),
                qty,
                remaining,
                reason: reason.into(),
            },
        )?
        .into_any(),
        kb::Event::Modified {
            id,
            side,
            price,
            qty,
        } => Bound::new(
            py,
            Modified {
                id,
                side: side.into(),
                price,
                qty,
            },
        )?
        .into_any(),
        kb::Event::Rejected {
            id,
            command,
            reason,
        } => Bound::new(
            py,
            Rejected {
                id,
                command: command.into(),
                reason: reason.into(),
            },
        )?
        .into_any(),
    })
}

// ---- query results -------------------------------------------------------

/// One price level.
#[pyclass(module = "kabuken._native", frozen, get_all, eq)]
#[derive(Clone, Debug, PartialEq)]
pub struct LevelInfo {
    pub price: i64,
    pub qty: u64,
    pub orders: u32,
}

#[pymethods]
impl LevelInfo {
    fn __repr__(&self) -> String {
        format!(
            "LevelInfo(price={}, qty={}, orders={})",
            self.price, self.qty, self.orders
        )
    }
}

impl From<kb::LevelInfo> for LevelInfo {
    fn from(l: kb::LevelInfo) -> Self {
        LevelInfo {
            price: l.price,
            qty: l.qty,
            orders: l.orders,
        }
    }
}

/// One resting order.
#[pyclass(module = "kabuken._native", frozen, get_all, eq)]
#[derive(Clone, Debug, PartialEq)]
pub struct OrderInfo {
    pub id: u64,
    pub side: Side,
    pub price: i64,
    pub qty: u64,
    pub owner: u64,
    pub stp: StpMode,
    pub tif: TimeInForce,
    pub expire_at: Option<u64>,
    pub post_only: bool,
    pub priority: u64,
}

#[pymethods]
impl OrderInfo {
    fn __repr__(&self) -> String {
        format!(
            "OrderInfo(id={}, side={}, price={}, qty={}, owner={}, tif={}, post_only={}, priority={})",
            self.id,
            py_enum("Side", &self.side),
            self.price,
            self.qty,
            self.owner,
            py_enum("TimeInForce", &self.tif),
            if self.post_only { "True" } else { "False" },
            self.priority
        )
    }
}

impl From<kb::OrderInfo> for OrderInfo {
    fn from(o: kb::OrderInfo) -> Self {
        let (tif, expire_at) = match o.tif {
            kb::TimeInForce::Gtc => (TimeInForce::Gtc, None),
            kb::TimeInForce::Ioc => (TimeInForce::Ioc, None),
            kb::TimeInForce::Fok => (TimeInForce::Fok, None),
            kb::TimeInForce::Day => (TimeInForce::Day, None),
            kb::TimeInForce::Gtd(t) => (TimeInForce::Gtd, Some(t)),
        };
        OrderInfo {
            id: o.id,
            side: o.side.into(),
            price: o.price,
            qty: o.qty,
            owner: o.owner,
            stp: StpMode::from_engine(o.stp),
            tif,
            expire_at,
            post_only: o.post_only,
            priority: o.priority,
        }
    }
}

// ---- the book ------------------------------------------------------------

/// Builds an engine order from the Python arguments.
pub fn new_order(
    id: u64,
    side: KSide,
    qty: u64,
    price: Option<i64>,
    tif: Option<TimeInForce>,
    expire_at: Option<u64>,
    post_only: bool,
    owner: u64,
    stp: StpMode,
) -> PyResult<kb::NewOrder> {
    let tif = match (tif, expire_at) {
        (Some(TimeInForce::Gtd), Some(t)) => kb::TimeInForce::Gtd(t),
        (Some(TimeInForce::Gtd), None) => {
            return Err(PyValueError::new_err("tif=GTD needs expire_at"))
        }
        (_, Some(_)) => return Err(PyValueError::new_err("expire_at is only for tif=GTD")),
        (Some(TimeInForce::Gtc), None) => kb::TimeInForce::Gtc,
        (Some(TimeInForce::Ioc), None) => kb::TimeInForce::Ioc,
        (Some(TimeInForce::Fok), None) => kb::TimeInForce::Fok,
        (Some(TimeInForce::Day), None) => kb::TimeInForce::Day,
        (None, None) if price.is_some() => kb::TimeInForce::Gtc,
        (None, None) => kb::TimeInForce::Ioc,
    };
    Ok(kb::NewOrder {
        id,
        side,
        price,
        qty,
        tif,
        post_only,
        owner,
        stp: stp.engine(),
    })
}

/// `BookError` for a refused command (its `Rejected` event).
pub fn book_error(
    py: Python<'_>,
    id: u64,
    command: kb::CommandKind,
    reason: kb::RejectReason,
) -> PyErr {
    let cmd = command_name(command);
    error(
        py,
        "BookError",
        (
            format!("{cmd} of order {id} refused: {reason}"),
            reason.as_str(),
            reason as u8,
            cmd,
            id,
        ),
    )
}

/// Turns the events of one call into a list, or raises `BookError` when the
/// call was refused.
pub fn outcome<'py>(
    py: Python<'py>,
    events: &[kb::Event],
    result: Result<(), kb::RejectReason>,
) -> PyResult<Bound<'py, PyList>> {
    if let Err(reason) = result {
        let (id, command) = events
            .iter()
            .find_map(|e| match *e {
                kb::Event::Rejected { id, command, .. } => Some((id, command)),
                _ => None,
            })
            .unwrap_or((0, kb::CommandKind::New));
        return Err(book_error(py, id, command, reason));
    }
    PyList::new(py, events.iter().map(|e| Ev(*e)))
}

/// An engine event on its way to Python.
struct Ev(kb::Event);

impl<'py> IntoPyObject<'py> for Ev {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        event_object(py, self.0)
    }
}

/// A single-instrument price-time order book.
#[pyclass(module = "kabuken._native")]
pub struct Book {
    pub inner: kb::Book,
    buf: Vec<kb::Event>,
}

impl Book {
    pub fn wrap(inner: kb::Book) -> Self {
        Book {
            inner,
            buf: Vec::with_capacity(16),
        }
    }

    fn run<'py>(
        &mut self,
        py: Python<'py>,
        f: impl FnOnce(&mut kb::Book, &mut Vec<kb::Event>) -> Result<(), kb::RejectReason>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.buf.clear();
        let r = f(&mut self.inner, &mut self.buf);
        outcome(py, &self.buf, r)
    }
}

pub fn levels_list<'py>(
    py: Python<'py>,
    book: &kb::Book,
    side: KSide,
    n: Option<usize>,
) -> PyResult<Bound<'py, PyList>> {
    let it = book.levels(side).take(n.unwrap_or(usize::MAX));
    PyList::new(py, it.map(LevelInfo::from).collect::<Vec<_>>())
}

pub fn orders_list<'py>(
    py: Python<'py>,
    it: impl Iterator<Item = kb::OrderInfo>,
) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, it.map(OrderInfo::from).collect::<Vec<_>>())
}

#[pymethods]
impl Book {
    #[new]
    #[pyo3(signature = (config=None))]
    fn new(py: Python<'_>, config: Option<PyRef<'_, BookConfig>>) -> PyResult<Self> {
        let cfg = engine_config(config.as_deref());
        let inner = kb::Book::try_new(cfg).map_err(|e| config_error(py, e))?;
        Ok(Book::wrap(inner))
    }

    /// Submits a new order; returns its events. Raises `BookError` when
    /// refused (the book is unchanged).
    #[pyo3(signature = (id, side, qty, price=None, *, tif=None, expire_at=None, post_only=false, owner=0, stp=StpMode::Off))]
    fn submit<'py>(
        &mut self,
        py: Python<'py>,
        id: u64,
        side: &Bound<'py, PyAny>,
        qty: u64,
        price: Option<i64>,
        tif: Option<TimeInForce>,
        expire_at: Option<u64>,
        post_only: bool,
        owner: u64,
        stp: StpMode,
    ) -> PyResult<Bound<'py, PyList>> {
        let o = new_order(
            id,
            side_arg(side)?,
            qty,
            price,
            tif,
            expire_at,
            post_only,
            owner,
            stp,
        )?;
        self.run(py, |b, s| b.submit(&o, s))
    }

    /// Cancels a resting order.
    fn cancel<'py>(&mut self, py: Python<'py>, id: u64) -> PyResult<Bound<'py, PyList>> {
        self.run(py, |b, s| b.cancel(id, s))
    }

    /// Reduces a resting order's open quantity by `by`, keeping priority.
    fn reduce<'py>(&mut self, py: Python<'py>, id: u64, by: u64) -> PyResult<Bound<'py, PyList>> {
        self.run(py, |b, s| b.reduce(id, by, s))
    }

    /// Gives a resting order a new price and open quantity.
    fn modify<'py>(
        &mut self,
        py: Python<'py>,
        id: u64,
        price: i64,
        qty: u64,
    ) -> PyResult<Bound<'py, PyList>> {
        self.run(py, |b, s| b.modify(id, price, qty, s))
    }

    /// Advances the book's time, expiring GTD orders due at or before `now`.
    fn advance_time<'py>(&mut self, py: Python<'py>, now: u64) -> PyResult<Bound<'py, PyList>> {
        self.run(py, |b, s| {
            b.advance_time(now, s);
            Ok(())
        })
    }

    /// Expires every day order.
    fn expire_day<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.run(py, |b, s| {
            b.expire_day(s);
            Ok(())
        })
    }

    /// Removes every order (no events) and resets the time.
    fn clear(&mut self) {
        self.inner.clear();
    }

    /// Best bid as `(price, qty)`, or None.
    fn best_bid(&self) -> Option<(i64, u64)> {
        self.inner.best_bid()
    }

    /// Best ask as `(price, qty)`, or None.
    fn best_ask(&self) -> Option<(i64, u64)> {
        self.inner.best_ask()
    }

    /// The best level of `side`.
    fn best_level(&self, side: &Bound<'_, PyAny>) -> PyResult<Option<LevelInfo>> {
        Ok(self.inner.best_level(side_arg(side)?).map(Into::into))
    }

    /// The level of `side` at `price`, if any order rests there.
    fn depth_at(&self, side: &Bound<'_, PyAny>, price: i64) -> PyResult<Option<LevelInfo>> {
        Ok(self.inner.depth_at(side_arg(side)?, price).map(Into::into))
    }

    /// The levels of `side`, best first (at most `n`).
    #[pyo3(signature = (side, n=None))]
    fn levels<'py>(
        &self,
        py: Python<'py>,
        side: &Bound<'py, PyAny>,
        n: Option<usize>,
    ) -> PyResult<Bound<'py, PyList>> {
        levels_list(py, &self.inner, side_arg(side)?, n)
    }

    /// A resting order by id.
    fn order(&self, id: u64) -> Option<OrderInfo> {
        self.inner.order(id).map(Into::into)
    }

    /// Every resting order of `side`, best level first, in time priority.
    fn orders<'py>(
        &self,
        py: Python<'py>,
        side: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        orders_list(py, self.inner.orders(side_arg(side)?))
    }

    /// The orders resting at `price` on `side`, in time priority.
    fn level_orders<'py>(
        &self,
        py: Python<'py>,
        side: &Bound<'py, PyAny>,
        price: i64,
    ) -> PyResult<Bound<'py, PyList>> {
        orders_list(py, self.inner.level_orders(side_arg(side)?, price))
    }

    /// BLAKE3 over a canonical walk of the book (32 bytes).
    fn state_hash<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.state_hash())
    }

    /// Heap bytes held by the book.
    fn heap_bytes(&self) -> usize {
        self.inner.heap_bytes()
    }

    /// The book's current time.
    #[getter]
    fn now(&self) -> u64 {
        self.inner.now()
    }

    /// The configuration.
    #[getter]
    fn config(&self) -> BookConfig {
        BookConfig::from_engine(self.inner.config())
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "Book(orders={}, best_bid={:?}, best_ask={:?})",
            self.inner.len(),
            self.inner.best_bid(),
            self.inner.best_ask()
        )
    }
}

// ---- market --------------------------------------------------------------

/// Books keyed by instrument (the engine's `Market`).
#[pyclass(module = "kabuken._native")]
pub struct Market {
    inner: kb::Market,
    buf: Vec<kb::Event>,
}

fn market_error(py: Python<'_>, e: &kb::MarketError, instrument: u32) -> PyErr {
    match e {
        kb::MarketError::InvalidConfig(why) => config_error(py, *why),
        _ => error(py, "MarketError", (e.to_string(), instrument)),
    }
}

impl Market {
    fn run<'py>(
        &mut self,
        py: Python<'py>,
        instrument: u32,
        f: impl FnOnce(&mut kb::Book, &mut Vec<kb::Event>) -> Result<(), kb::RejectReason>,
    ) -> PyResult<Bound<'py, PyList>> {
        let book = self.inner.book_mut(instrument).ok_or_else(|| {
            market_error(
                py,
                &kb::MarketError::UnknownInstrument(instrument),
                instrument,
            )
        })?;
        self.buf.clear();
        let r = f(book, &mut self.buf);
        outcome(py, &self.buf, r)
    }

    fn get(&self, py: Python<'_>, instrument: u32) -> PyResult<&kb::Book> {
        self.inner.book(instrument).ok_or_else(|| {
            market_error(
                py,
                &kb::MarketError::UnknownInstrument(instrument),
                instrument,
            )
        })
    }
}

#[pymethods]
impl Market {
    #[new]
    fn new() -> Self {
        Market {
            inner: kb::Market::new(),
            buf: Vec::with_capacity(16),
        }
    }

    /// Lists an instrument with an empty book.
    #[pyo3(signature = (instrument, config=None))]
    fn add_instrument(
        &mut self,
        py: Python<'_>,
        instrument: u32,
        config: Option<PyRef<'_, BookConfig>>,
    ) -> PyResult<()> {
        let cfg = engine_config(config.as_deref());
        self.inner
            .add_instrument(instrument, cfg)
            .map_err(|e| market_error(py, &e, instrument))
    }

    /// Delists an instrument, returning its book.
    fn remove_instrument(&mut self, py: Python<'_>, instrument: u32) -> PyResult<Book> {
        self.inner
            .remove_instrument(instrument)
            .map(Book::wrap)
            .map_err(|e| market_error(py, &e, instrument))
    }

    /// Listed instruments, ascending.
    fn instruments(&self) -> Vec<u32> {
        self.inner.instruments()
    }

    /// Submits a new order to the instrument's book (arguments as `Book.submit`).
    #[pyo3(signature = (instrument, id, side, qty, price=None, *, tif=None, expire_at=None, post_only=false, owner=0, stp=StpMode::Off))]
    fn submit<'py>(
        &mut self,
        py: Python<'py>,
        instrument: u32,
        id: u64,
        side: &Bound<'py, PyAny>,
        qty: u64,
        price: Option<i64>,
        tif: Option<TimeInForce>,
        expire_at: Option<u64>,
        post_only: bool,
        owner: u64,
        stp: StpMode,
    ) -> PyResult<Bound<'py, PyList>> {
        let o = new_order(
            id,
            side_arg(side)?,
            qty,
            price,
            tif,
            expire_at,
            post_only,
            owner,
            stp,
        )?;
        self.run(py, instrument, |b, s| b.submit(&o, s))
    }

    /// Cancels a resting order of the instrument's book.
    fn cancel<'py>(
        &mut self,
        py: Python<'py>,
        instrument: u32,
        id: u64,
    ) -> PyResult<Bound<'py, PyList>> {
        self.run(py, instrument, |b, s| b.cancel(id, s))
    }

    /// Reduces a resting order of the instrument's book.
    fn reduce<'py>(
        &mut self,
        py: Python<'py>,
        instrument: u32,
        id: u64,
        by: u64,
    ) -> PyResult<Bound<'py, PyList>> {
        self.run(py, instrument, |b, s| b.reduce(id, by, s))
    }

    /// Modifies a resting order of the instrument's book.
    fn modify<'py>(
        &mut self,
        py: Python<'py>,
        instrument: u32,
        id: u64,
        price: i64,
        qty: u64,
    ) -> PyResult<Bound<'py, PyList>> {
        self.run(py, instrument, |b, s| b.modify(id, price, qty, s))
    }

    /// Advances the time of the instrument's book.
    fn advance_time<'py>(
        &mut self,
        py: Python<'py>,
        instrument: u32,
        now: u64,
    ) -> PyResult<Bound<'py, PyList>> {
        self.run(py, instrument, |b, s| {
            b.advance_time(now, s);
            Ok(())
        })
    }

    /// Expires the day orders of the instrument's book.
    fn expire_day<'py>(
        &mut self,
        py: Python<'py>,
        instrument: u32,
    ) -> PyResult<Bound<'py, PyList>> {
        self.run(py, instrument, |b, s| {
            b.expire_day(s);
            Ok(())
        })
    }

    /// Best bid of the instrument's book.
    fn best_bid(&self, py: Python<'_>, instrument: u32) -> PyResult<Option<(i64, u64)>> {
        Ok(self.get(py, instrument)?.best_bid())
    }

    /// Best ask of the instrument's book.
    fn best_ask(&self, py: Python<'_>, instrument: u32) -> PyResult<Option<(i64, u64)>> {
        Ok(self.get(py, instrument)?.best_ask())
    }

    /// The levels of `side` of the instrument's book (at most `n`).
    #[pyo3(signature = (instrument, side, n=None))]
    fn levels<'py>(
        &self,
        py: Python<'py>,
        instrument: u32,
        side: &Bound<'py, PyAny>,
        n: Option<usize>,
    ) -> PyResult<Bound<'py, PyList>> {
        let side = side_arg(side)?;
        levels_list(py, self.get(py, instrument)?, side, n)
    }

    /// A resting order of the instrument's book.
    fn order(&self, py: Python<'_>, instrument: u32, id: u64) -> PyResult<Option<OrderInfo>> {
        Ok(self.get(py, instrument)?.order(id).map(Into::into))
    }

    /// Resting orders in the instrument's book.
    fn order_count(&self, py: Python<'_>, instrument: u32) -> PyResult<usize> {
        Ok(self.get(py, instrument)?.len())
    }

    /// BLAKE3 over every book's state hash in instrument order.
    fn state_hash<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.state_hash())
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __repr__(&self) -> String {
        format!("Market(instruments={:?})", self.inner.instruments())
    }
}
