//! The exchange and its queries (`kabuken::exchange`): signed orders
//! through reception, matching, transfer at the [`Register`], completion
//! and settlement at the [`Ledger`]. The register and the ledger are the
//! in-process `RegisterLink` and `SettlementLink` of every call that may
//! trade.

use crate::book::{LevelInfo, Side, TimeInForce};
use crate::convert::{decimal_arg, decimal_out};
use crate::crypto::{signed_arg, KeyPair, Message, PublicKey};
use crate::errors::{config_error, error};
use crate::identity::{store_register, store_revoke, IdentityStore};
use crate::register::{CertId, Certificate, Register};
use crate::settle::Ledger;
use kabuken::book::TimeInForce as KTif;
use kabuken::exchange as ke;
use kabuken::types::PriceScale;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyString};
use std::sync::{Mutex, PoisonError};

fn state_name(s: ke::OrderState) -> &'static str {
    match s {
        ke::OrderState::Open => "open",
        ke::OrderState::Filled => "filled",
        ke::OrderState::Cancelled => "cancelled",
        ke::OrderState::Expired => "expired",
    }
}

/// The answer as a receipt, or `RequestRefused(message, code, reason,
/// reception_number, notice)` carrying the signed refusal.
fn answer(py: Python<'_>, a: ke::Answer) -> PyResult<Message> {
    match a {
        Ok(receipt) => Message::of(py, &receipt),
        Err(notice) => {
            let code = notice.body.reason;
            let reason = ke::Refusal::from_code(code).map_or("unknown", ke::Refusal::as_str);
            let msg = Message::of(py, notice.as_ref())?;
            Err(error(
                py,
                "RequestRefused",
                (
                    format!("request refused: {reason} ({code})"),
                    code,
                    reason,
                    notice.body.reception_number,
                    msg,
                ),
            ))
        }
    }
}

/// Every refusal code and its stable name.
#[pyfunction]
pub fn refusal_codes() -> Vec<(u16, &'static str)> {
    ke::ALL_REFUSALS
        .iter()
        .map(|r| (r.code(), r.as_str()))
        .collect()
}

/// One received order.
#[pyclass(module = "kabuken._native", frozen, get_all)]
pub struct OrderRecord {
    reception_number: u64,
    user: u64,
    instrument: u32,
    side: Side,
    price: Option<i64>,
    worst: i64,
    quantity: u64,
    open: u64,
    filled: u64,
    state: &'static str,
    tif: TimeInForce,
    expire_at: Option<u64>,
    post_only: bool,
    account: u64,
    name_address: String,
    request_hash: Py<PyBytes>,
    cash_reserved: Py<PyAny>,
    certificates: Vec<Certificate>,
}

impl OrderRecord {
    fn new(py: Python<'_>, o: &ke::OrderRecord) -> PyResult<Self> {
        let (tif, expire_at) = match o.tif {
            KTif::Gtc => (TimeInForce::Gtc, None),
            KTif::Ioc => (TimeInForce::Ioc, None),
            KTif::Fok => (TimeInForce::Fok, None),
            KTif::Day => (TimeInForce::Day, None),
            KTif::Gtd(t) => (TimeInForce::Gtd, Some(t)),
        };
        Ok(OrderRecord {
            reception_number: o.reception_number,
            user: o.user,
            instrument: o.instrument,
            side: o.side.into(),
            price: o.price,
            worst: o.worst,
            quantity: o.quantity,
            open: o.open,
            filled: o.filled,
            state: state_name(o.state),
            tif,
            expire_at,
            post_only: o.post_only,
            account: o.account,
            name_address: o.name_address.clone(),
            request_hash: PyBytes::new(py, &o.request_hash.0).unbind(),
            cash_reserved: decimal_out(py, o.cash_reserved)?.unbind(),
            certificates: o.certificates.iter().cloned().map(Into::into).collect(),
        })
    }
}

#[pymethods]
impl OrderRecord {
    fn __repr__(&self) -> String {
        format!(
            "OrderRecord(reception_number={}, user={}, side={:?}, quantity={}, open={}, state={:?})",
            self.reception_number, self.user, self.side, self.quantity, self.open, self.state
        )
    }
}

/// One match (drawing 14), with its transfer and settlement.
#[pyclass(module = "kabuken._native", frozen, get_all)]
pub struct MatchRecord {
    match_number: u64,
    buy_order: u64,
    sell_order: u64,
    instrument: u32,
    cert_id: CertId,
    quantity: u64,
    price: i64,
    buyer: u64,
    seller: u64,
    transfer_number: u64,
    new_cert_id: CertId,
    change_cert_id: Option<CertId>,
    amount: Py<PyAny>,
}

impl MatchRecord {
    pub fn new(py: Python<'_>, m: &ke::MatchRecord) -> PyResult<Self> {
        Ok(MatchRecord {
            match_number: m.match_number,
            buy_order: m.buy_order,
            sell_order: m.sell_order,
            instrument: m.instrument,
            cert_id: m.cert_id.into(),
            quantity: m.quantity,
            price: m.price,
            buyer: m.buyer,
            seller: m.seller,
            transfer_number: m.transfer_number,
            new_cert_id: m.new_cert_id.into(),
            change_cert_id: m.change_cert_id.map(Into::into),
            amount: decimal_out(py, m.amount)?.unbind(),
        })
    }
}

#[pymethods]
impl MatchRecord {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "MatchRecord(match_number={}, buyer={}, seller={}, quantity={}, price={}, amount={})",
            self.match_number,
            self.buyer,
            self.seller,
            self.quantity,
            self.price,
            self.amount.bind(py)
        )
    }
}

/// One certificate in `Exchange.holdings_of`.
#[pyclass(module = "kabuken._native", frozen, get_all)]
pub struct Holding {
    serial: u64,
    instrument: u32,
    shares: u64,
    reserved_to: Option<u64>,
}

#[pymethods]
impl Holding {
    fn __repr__(&self) -> String {
        format!(
            "Holding(serial={}, instrument={}, shares={}, reserved_to={:?})",
            self.serial, self.instrument, self.shares, self.reserved_to
        )
    }
}

/// Market data of one book.
#[pyclass(module = "kabuken._native", frozen, get_all)]
pub struct MarketData {
    instrument: u32,
    best_bid: Option<(i64, u64)>,
    best_ask: Option<(i64, u64)>,
    bids: Vec<LevelInfo>,
    asks: Vec<LevelInfo>,
    last_price: Option<i64>,
    volume: u128,
}

impl From<ke::MarketData> for MarketData {
    fn from(m: ke::MarketData) -> Self {
        MarketData {
            instrument: m.instrument,
            best_bid: m.best_bid,
            best_ask: m.best_ask,
            bids: m.bids.into_iter().map(Into::into).collect(),
            asks: m.asks.into_iter().map(Into::into).collect(),
            last_price: m.last_price,
            volume: m.volume,
        }
    }
}

/// The exchange's counters as a dict.
pub fn stats_dict<'py>(py: Python<'py>, s: &ke::ExchangeStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("orders", s.orders)?;
    d.set_item("accepted", s.accepted)?;
    d.set_item("amendments", s.amendments)?;
    let refusals = PyDict::new(py);
    for (r, n) in &s.refusals {
        refusals.set_item(r.as_str(), *n)?;
    }
    d.set_item("refusals", refusals)?;
    d.set_item("trades", s.trades)?;
    d.set_item("matches", s.matches)?;
    d.set_item("register_refusals", s.register_refusals)?;
    d.set_item("signed", s.signed)?;
    d.set_item("verified", s.verified)?;
    d.set_item("shares", s.shares)?;
    d.set_item("settled", decimal_out(py, s.settled)?)?;
    d.set_item("anomalies", s.anomalies.clone())?;
    Ok(d)
}

/// `InvariantViolation(message, violations)`.
pub fn invariant_violation(py: Python<'_>, v: Vec<String>) -> PyErr {
    error(
        py,
        "InvariantViolation",
        (format!("{} invariant violation(s)", v.len()), v),
    )
}

#[pymethods]
impl MarketData {
    fn __repr__(&self) -> String {
        format!(
            "MarketData(instrument={}, best_bid={:?}, best_ask={:?}, last_price={:?}, volume={})",
            self.instrument, self.best_bid, self.best_ask, self.last_price, self.volume
        )
    }
}

/// One message the exchange sends out: ``kind`` is ``"error"`` (a signed
/// refusal), ``"completion"`` (a signed completion notice), ``"released"``
/// (an order ended; its unsold certificates go back). ``"transfer"``
/// (`message` the transfer request, `response` the register's answer) and
/// ``"settlement"`` (`message` the settlement request) come only from an
/// exchange with deferred signing (the runtime's), which Python does not
/// create; they are mapped so the conversion stays total.
#[pyclass(module = "kabuken._native", frozen, get_all)]
pub struct Outgoing {
    kind: &'static str,
    message: Option<Message>,
    response: Option<Message>,
    user: u64,
    reception_number: u64,
    state: Option<&'static str>,
    certificates: Vec<Certificate>,
}

impl Outgoing {
    fn new(py: Python<'_>, o: &ke::Outgoing) -> PyResult<Self> {
        Ok(match o {
            ke::Outgoing::Error(n) => Outgoing {
                kind: "error",
                message: Some(Message::of(py, n)?),
                response: None,
                user: n.body.user_id,
                reception_number: n.body.reception_number,
                state: None,
                certificates: Vec::new(),
            },
            ke::Outgoing::Completion(n) => Outgoing {
                kind: "completion",
                message: Some(Message::of(py, n)?),
                response: None,
                user: n.body.party,
                reception_number: n.body.reception_number,
                state: None,
                certificates: Vec::new(),
            },
            ke::Outgoing::Transfer { request, response } => Outgoing {
                kind: "transfer",
                message: Some(Message::of(py, request.as_ref())?),
                response: Some(Message::of(py, response.as_ref())?),
                user: request.body.seller,
                reception_number: request.body.sell_order.unwrap_or(0),
                state: None,
                certificates: Vec::new(),
            },
            ke::Outgoing::Settlement(r) => Outgoing {
                kind: "settlement",
                message: Some(Message::of(py, r)?),
                response: None,
                user: 0,
                reception_number: r.body.buy_order,
                state: None,
                certificates: Vec::new(),
            },
            ke::Outgoing::Released {
                user,
                reception_number,
                state,
                certificates,
            } => Outgoing {
                kind: "released",
                message: None,
                response: None,
                user: *user,
                reception_number: *reception_number,
                state: Some(state_name(*state)),
                certificates: certificates.iter().cloned().map(Into::into).collect(),
            },
        })
    }
}

#[pymethods]
impl Outgoing {
    fn __repr__(&self) -> String {
        format!(
            "Outgoing(kind={:?}, user={}, reception_number={})",
            self.kind, self.user, self.reception_number
        )
    }
}

// ---- the reception seam as Python callables ----------------------------------

/// The host's reception seam: `reception(order, reception_number, worst,
/// now)` decides, `decisions(now)` reports decisions about held orders.
/// Called with the GIL re-acquired; an exception or a bad answer is
/// reported through `sys.unraisablehook` and counts as a refusal (no
/// decision).
struct PyReceptionHook {
    reception: Py<PyAny>,
    decisions: Option<Py<PyAny>>,
}

fn admission_arg(ob: &Bound<'_, PyAny>) -> PyResult<ke::Admission> {
    if let Ok(b) = ob.cast::<PyBool>() {
        return Ok(if b.is_true() {
            ke::Admission::Admit
        } else {
            ke::Admission::Refuse
        });
    }
    match ob.cast::<PyString>()?.to_cow()?.as_ref() {
        "admit" => Ok(ke::Admission::Admit),
        "hold" => Ok(ke::Admission::Hold),
        "refuse" => Ok(ke::Admission::Refuse),
        other => Err(PyValueError::new_err(format!(
            "a reception hook answers 'admit', 'hold', 'refuse' or a bool, not {other:?}"
        ))),
    }
}

fn end_state_arg(s: &str) -> PyResult<ke::OrderState> {
    match s {
        "cancelled" => Ok(ke::OrderState::Cancelled),
        "expired" => Ok(ke::OrderState::Expired),
        _ => Err(PyValueError::new_err(format!(
            "a voided order ends 'cancelled' or 'expired', not {s:?}"
        ))),
    }
}

fn decision_arg(ob: &Bound<'_, PyAny>) -> PyResult<ke::HeldDecision> {
    let (what, n, state): (String, u64, Option<String>) = match ob.extract::<(String, u64)>() {
        Ok((w, n)) => (w, n, None),
        Err(_) => {
            let (w, n, s) = ob.extract::<(String, u64, String)>()?;
            (w, n, Some(s))
        }
    };
    match (what.as_str(), state) {
        ("release", None) => Ok(ke::HeldDecision::Release(n)),
        ("void", None) => Ok(ke::HeldDecision::Void(n, ke::OrderState::Cancelled)),
        ("void", Some(s)) => Ok(ke::HeldDecision::Void(n, end_state_arg(&s)?)),
        _ => Err(PyTypeError::new_err(
            "a decision is ('release', n), ('void', n) or ('void', n, 'cancelled'|'expired')",
        )),
    }
}

impl ke::ReceptionHook for PyReceptionHook {
    fn admit(
        &mut self,
        order: &kabuken::crypto::Signed<ke::OrderRequest>,
        reception_number: u64,
        now: u64,
    ) -> bool {
        self.reception(order, reception_number, 0, now) == ke::Admission::Admit
    }

    fn reception(
        &mut self,
        order: &kabuken::crypto::Signed<ke::OrderRequest>,
        reception_number: u64,
        worst: i64,
        now: u64,
    ) -> ke::Admission {
        Python::attach(|py| {
            let hook = self.reception.bind(py);
            let answer = Message::of(py, order)
                .and_then(|m| hook.call1((m, reception_number, worst, now)))
                .and_then(|a| admission_arg(&a));
            answer.unwrap_or_else(|e| {
                e.write_unraisable(py, Some(hook));
                ke::Admission::Refuse
            })
        })
    }

    fn decisions(&mut self, now: u64) -> Vec<ke::HeldDecision> {
        let Some(h) = &self.decisions else {
            return Vec::new();
        };
        Python::attach(|py| {
            let hook = h.bind(py);
            let got = hook.call1((now,)).and_then(|list| {
                list.try_iter()?
                    .map(|d| decision_arg(&d?))
                    .collect::<PyResult<Vec<_>>>()
            });
            got.unwrap_or_else(|e| {
                e.write_unraisable(py, Some(hook));
                Vec::new()
            })
        })
    }
}

/// The exchange: reception, matching, transfer, completion, settlement.
/// Calls that may trade take the `Register` and the `Ledger` (the
/// in-process register and settlement links) and release the GIL while
/// the engine works.
#[pyclass(module = "kabuken._native")]
pub struct Exchange {
    // `Exchange` is `Send` but not `Sync` (its reception hook); the mutex
    // makes the Python object shareable, `&mut self` access never blocks.
    inner: Mutex<ke::Exchange>,
}

impl Exchange {
    fn ex(&mut self) -> &mut ke::Exchange {
        self.inner.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
    fn view(&self) -> std::sync::MutexGuard<'_, ke::Exchange> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The signature of the engine's request-taking calls.
type Call<T> = fn(
    &mut ke::Exchange,
    &kabuken::crypto::Signed<T>,
    u64,
    &mut dyn ke::RegisterLink,
    &mut dyn ke::SettlementLink,
) -> ke::Answer;

impl Exchange {
    fn request<T: kabuken::crypto::Message + Send + Sync>(
        &mut self,
        py: Python<'_>,
        call: Call<T>,
        request: &Bound<'_, PyAny>,
        now: u64,
        mut register: PyRefMut<'_, Register>,
        mut ledger: PyRefMut<'_, Ledger>,
    ) -> PyResult<Message> {
        let req = signed_arg::<T>(request)?;
        let ex = self.ex();
        let (reg, cash) = (&mut register.inner, &mut ledger.inner);
        let a = py.detach(move || call(ex, &req, now, reg, cash));
        answer(py, a)
    }
}

#[pymethods]
impl Exchange {
    /// An exchange signing as `user_id` with `key`, trusting certificates
    /// signed by `register` (whose certificate-ID table it shares), with
    /// `identities` moved in. `minor_unit` is the value of one minor
    /// currency unit of the attestation limits.
    #[new]
    #[pyo3(signature = (user_id, key, identities, register, minor_unit=None))]
    fn new(
        user_id: u64,
        key: &KeyPair,
        identities: &mut IdentityStore,
        register: &Register,
        minor_unit: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let minor_unit = match minor_unit {
            Some(m) => decimal_arg(m)?,
            None => rust_decimal::Decimal::new(1, 2),
        };
        let store = identities.take()?;
        Ok(Exchange {
            inner: Mutex::new(ke::Exchange::new(
                ke::ExchangeConfig {
                    user_id,
                    register_id: register.inner.user_id(),
                    minor_unit,
                },
                key.engine(),
                store,
                register.inner.id_table(),
            )),
        })
    }
    #[getter]
    fn user_id(&self) -> u64 {
        self.view().user_id()
    }
    #[getter]
    fn public_key(&self) -> PublicKey {
        PublicKey {
            inner: self.view().public_key(),
        }
    }
    /// Registers a CA-signed attestation with the exchange's identity store.
    fn add_party(&mut self, attestation: &Bound<'_, PyAny>) -> PyResult<()> {
        store_register(self.ex().identities_mut(), attestation)
    }
    /// Applies a CA-signed revocation to the exchange's identity store.
    fn apply_revocation(&mut self, revocation: &Bound<'_, PyAny>) -> PyResult<()> {
        store_revoke(self.ex().identities_mut(), revocation)
    }
    /// Lists an instrument: tick size (int, str or Decimal), lot size,
    /// daily band in ticks, largest order. Raises `ConfigError`.
    fn add_instrument(
        &mut self,
        py: Python<'_>,
        instrument: u32,
        tick: &Bound<'_, PyAny>,
        lot_size: u64,
        band_low: i64,
        band_high: i64,
        max_qty: u64,
    ) -> PyResult<()> {
        let tick =
            PriceScale::new(decimal_arg(tick)?).map_err(|e| config_error(py, e.to_string()))?;
        self.ex()
            .add_instrument(ke::InstrumentSpec {
                instrument,
                tick,
                lot_size,
                band_low,
                band_high,
                max_qty,
            })
            .map_err(|e| config_error(py, e))
    }
    /// Phase 2: receives a signed order (`Message` or bytes); returns the
    /// signed reception receipt, or raises `RequestRefused` carrying the
    /// signed refusal (nothing changed). Matching, transfers at `register`
    /// and settlement at `ledger` happen in the same call.
    fn submit(
        &mut self,
        py: Python<'_>,
        order: &Bound<'_, PyAny>,
        now: u64,
        register: PyRefMut<'_, Register>,
        ledger: PyRefMut<'_, Ledger>,
    ) -> PyResult<Message> {
        self.request(py, ke::Exchange::submit, order, now, register, ledger)
    }
    /// Cancels an open order on its owner's signed request; receipt or
    /// `RequestRefused`.
    fn cancel(
        &mut self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
        now: u64,
        register: PyRefMut<'_, Register>,
        ledger: PyRefMut<'_, Ledger>,
    ) -> PyResult<Message> {
        self.request(py, ke::Exchange::cancel, request, now, register, ledger)
    }
    /// Reduces an open order by `by` shares (keeps priority); receipt or
    /// `RequestRefused`.
    fn reduce(
        &mut self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
        now: u64,
        register: PyRefMut<'_, Register>,
        ledger: PyRefMut<'_, Ledger>,
    ) -> PyResult<Message> {
        self.request(py, ke::Exchange::reduce, request, now, register, ledger)
    }
    /// Modifies an open order's price and quantity (loses priority; may
    /// trade at once); receipt or `RequestRefused`.
    fn modify(
        &mut self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
        now: u64,
        register: PyRefMut<'_, Register>,
        ledger: PyRefMut<'_, Ledger>,
    ) -> PyResult<Message> {
        self.request(py, ke::Exchange::modify, request, now, register, ledger)
    }
    /// The trading rules of an instrument (``tick`` as a Decimal,
    /// ``lot_size``, ``band_low``, ``band_high``, ``max_qty``), or None.
    fn spec<'py>(&self, py: Python<'py>, instrument: u32) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(s) = self.view().spec(instrument).copied() else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("instrument", s.instrument)?;
        d.set_item("tick", decimal_out(py, s.tick.tick())?)?;
        d.set_item("lot_size", s.lot_size)?;
        d.set_item("band_low", s.band_low)?;
        d.set_item("band_high", s.band_high)?;
        d.set_item("max_qty", s.max_qty)?;
        Ok(Some(d))
    }
    /// Installs the reception seam (where out-of-band verification plugs
    /// in): `reception(order: Message, reception_number, worst, now)` is
    /// called after every check and reservation, just before the order
    /// enters the book, and answers ``"admit"``, ``"hold"`` (received and
    /// reserved, kept out of the book until released) or ``"refuse"``
    /// (`RequestRefused` with reason ``"out_of_band_refused"``), or a bool.
    /// `decisions(now)` (optional) returns decisions about held orders:
    /// ``("release", n)``, ``("void", n)`` or ``("void", n, "expired")``;
    /// `poll_held` and `advance_time` ask for them. An exception in a hook
    /// goes to `sys.unraisablehook` and counts as a refusal.
    #[pyo3(signature = (reception, decisions=None))]
    fn set_reception_hook(&mut self, reception: Py<PyAny>, decisions: Option<Py<PyAny>>) {
        self.ex().set_reception_hook(Box::new(PyReceptionHook {
            reception,
            decisions,
        }));
    }
    /// Orders held by the reception seam, by reception number.
    fn held_orders(&self, py: Python<'_>) -> PyResult<Vec<OrderRecord>> {
        self.view()
            .held_orders()
            .map(|o| OrderRecord::new(py, o))
            .collect()
    }
    /// Asks the reception seam for its decisions about held orders and
    /// carries them out.
    fn poll_held(
        &mut self,
        py: Python<'_>,
        now: u64,
        mut register: PyRefMut<'_, Register>,
        mut ledger: PyRefMut<'_, Ledger>,
    ) {
        let ex = self.ex();
        let (reg, cash) = (&mut register.inner, &mut ledger.inner);
        py.detach(move || ex.poll_held(now, reg, cash));
    }
    /// A held order enters the book (same reception number); False if no
    /// such order is held.
    fn release_held(
        &mut self,
        py: Python<'_>,
        reception_number: u64,
        now: u64,
        mut register: PyRefMut<'_, Register>,
        mut ledger: PyRefMut<'_, Ledger>,
    ) -> bool {
        let ex = self.ex();
        let (reg, cash) = (&mut register.inner, &mut ledger.inner);
        py.detach(move || ex.release_held(reception_number, now, reg, cash))
    }
    /// A held order is voided (reservations released); it ends in `state`
    /// (``"cancelled"`` or ``"expired"``). False if no such order is held.
    #[pyo3(signature = (reception_number, ledger, state="cancelled"))]
    fn void_held(
        &mut self,
        reception_number: u64,
        mut ledger: PyRefMut<'_, Ledger>,
        state: &str,
    ) -> PyResult<bool> {
        let state = end_state_arg(state)?;
        Ok(self
            .ex()
            .void_held(reception_number, state, &mut ledger.inner))
    }
    /// Every listed instrument.
    fn instruments(&self) -> Vec<u32> {
        self.view().instruments().collect()
    }
    /// Advances every book's time to `now` (GTD expiry, held orders).
    fn advance_time(
        &mut self,
        py: Python<'_>,
        now: u64,
        mut register: PyRefMut<'_, Register>,
        mut ledger: PyRefMut<'_, Ledger>,
    ) {
        let ex = self.ex();
        let (reg, cash) = (&mut register.inner, &mut ledger.inner);
        py.detach(move || ex.advance_time(now, reg, cash));
    }
    /// Expires every day order (end of the trading day).
    fn expire_day(
        &mut self,
        py: Python<'_>,
        now: u64,
        mut register: PyRefMut<'_, Register>,
        mut ledger: PyRefMut<'_, Ledger>,
    ) {
        let ex = self.ex();
        let (reg, cash) = (&mut register.inner, &mut ledger.inner);
        py.detach(move || ex.expire_day(now, reg, cash));
    }
    /// Takes every message sent since the last call.
    fn drain_outbox(&mut self, py: Python<'_>) -> PyResult<Vec<Outgoing>> {
        self.ex()
            .drain_outbox()
            .iter()
            .map(|o| Outgoing::new(py, o))
            .collect()
    }
    /// An order by reception number, or None.
    fn order(&self, py: Python<'_>, reception_number: u64) -> PyResult<Option<OrderRecord>> {
        self.view()
            .order(reception_number)
            .map(|o| OrderRecord::new(py, o))
            .transpose()
    }
    /// An investor's open orders.
    fn open_orders_of(&self, py: Python<'_>, user: u64) -> PyResult<Vec<OrderRecord>> {
        let ex = self.view();
        let mut v: Vec<&ke::OrderRecord> = ex.open_orders_of(user).collect();
        v.sort_by_key(|o| o.reception_number);
        v.into_iter().map(|o| OrderRecord::new(py, o)).collect()
    }
    /// The match list (drawing 14).
    fn matches(&self, py: Python<'_>) -> PyResult<Vec<MatchRecord>> {
        self.view()
            .matches()
            .iter()
            .map(|m| MatchRecord::new(py, m))
            .collect()
    }
    /// An investor's trades (as buyer or seller).
    fn trades_of(&self, py: Python<'_>, user: u64) -> PyResult<Vec<MatchRecord>> {
        self.view()
            .trades_of(user)
            .map(|m| MatchRecord::new(py, m))
            .collect()
    }
    /// An investor's live or reserved certificates as the ID table shows them.
    fn holdings_of(&self, user: u64) -> Vec<Holding> {
        self.view()
            .holdings_of(user)
            .into_iter()
            .map(|h| Holding {
                serial: h.serial,
                instrument: h.instrument,
                shares: h.shares,
                reserved_to: h.reserved_to,
            })
            .collect()
    }
    /// Market data of one book (`depth` levels per side), or None.
    #[pyo3(signature = (instrument, depth=5))]
    fn market_data(&self, instrument: u32, depth: usize) -> Option<MarketData> {
        self.view()
            .market_data(instrument, depth)
            .map(|m| MarketData {
                instrument: m.instrument,
                best_bid: m.best_bid,
                best_ask: m.best_ask,
                bids: m.bids.into_iter().map(Into::into).collect(),
                asks: m.asks.into_iter().map(Into::into).collect(),
                last_price: m.last_price,
                volume: m.volume,
            })
    }
    /// Counters: orders, accepted, amendments, refusals (by name), trades,
    /// matches, register_refusals, signed, verified, shares, settled
    /// (Decimal), anomalies.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, self.view().stats())
    }
    /// Checks DESIGN.md section 3 across the exchange, the register and the
    /// ledger; raises `InvariantViolation` listing every violation.
    fn check_invariants(
        &mut self,
        py: Python<'_>,
        register: &Register,
        ledger: &Ledger,
    ) -> PyResult<()> {
        let ex = self.ex();
        let (reg, cash) = (&register.inner, &ledger.inner);
        py.detach(move || ex.check_invariants(reg, cash))
            .map_err(|v| {
                error(
                    py,
                    "InvariantViolation",
                    (format!("{} invariant violation(s)", v.len()), v),
                )
            })
    }
    fn __repr__(&self) -> String {
        format!("Exchange(user_id={})", self.view().user_id())
    }
}
