//! The concurrent runtime (`kabuken::runtime`): producers on any Python
//! thread submit signed requests into lock-free queues; verification
//! workers, one sequencer per shard and the signing stage run on their own
//! threads; answers come back batch-signed.
//!
//! The `Exchange`, `Register` and `Ledger` objects a runtime starts from
//! are taken out of their Python objects for the run (their methods raise
//! `RuntimeBusy` meanwhile) and put back by `Runtime.shutdown()`.
//! Every call that may wait (submit_wait, recv, shutdown) releases the GIL.
//! A `Producer` serializes its callers with a lock taken with the GIL
//! released, so several Python threads may share one.

use crate::book::{event_object, LevelInfo};
use crate::convert::{decimal_arg, wire_error};
use crate::crypto::{signed_arg, Message, PublicKey};
use crate::errors::{config_error, error};
use crate::exchange::{Exchange, Outgoing};
use crate::identity::identity_error;
use crate::register::Register;
use crate::settle::settle_error;
use crate::settle::Ledger;
use kabuken::crypto as kc;
use kabuken::exchange as ke;
use kabuken::identity as ki;
use kabuken::register as kreg;
use kabuken::runtime as kr;
use kabuken::runtime::marketdata as md;
use numpy::PyArray1;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

/// A best price and its quantity, if any.
type Level = Option<(i64, u64)>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub fn closed(py: Python<'_>) -> PyErr {
    error(
        py,
        "RuntimeClosed",
        ("the runtime is shut down: no more requests",),
    )
}

fn control_error(py: Python<'_>, e: &kr::ControlError) -> PyErr {
    match e {
        kr::ControlError::Closed => closed(py),
        kr::ControlError::NoSuchShard(_) => PyValueError::new_err(e.to_string()),
        kr::ControlError::BadCredential(i) | kr::ControlError::Identity(i) => identity_error(py, i),
        kr::ControlError::Settlement(s) => settle_error(py, s),
    }
}

fn backpressure(py: Python<'_>, what: &str) -> PyErr {
    error(
        py,
        "Backpressure",
        (format!(
            "{what}: queue full or response credit used up; receive responses and retry"
        ),),
    )
}

/// Seconds (float) as a `Duration`; `ValueError` when negative or not finite.
pub fn seconds_arg(what: &str, s: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| {
        PyValueError::new_err(format!("{what} must be a finite number of seconds >= 0"))
    })
}

/// A request from a `Message` or wire bytes (order, cancel, reduce or
/// modify); `DecodeError` otherwise, `TypeError` for other objects.
fn request_arg(ob: &Bound<'_, PyAny>) -> PyResult<kr::Request> {
    let py = ob.py();
    let r = if let Ok(m) = ob.cast::<Message>() {
        kr::Request::decode(&m.get().bytes)
    } else if let Ok(b) = ob.extract::<&[u8]>() {
        kr::Request::decode(b)
    } else {
        return Err(PyTypeError::new_err(format!(
            "expected a kabuken.Message or bytes, not {}",
            ob.get_type().name()?
        )));
    };
    r.map_err(|e| wire_error(py, e))
}

// ---- typed results -------------------------------------------------------------

/// The runtime's counters (monotonic).
#[pyclass(module = "kabuken._native", frozen, get_all)]
pub struct RuntimeStats {
    submitted: u64,
    verified: u64,
    refused_unverified: u64,
    verify_batches: u64,
    verify_fallbacks: u64,
    verify_busy_ns: u64,
    sequenced: u64,
    sequence_busy_ns: u64,
    signed_messages: u64,
    signatures: u64,
    sign_busy_ns: u64,
    responses: u64,
    notifications: u64,
}

impl From<kr::RuntimeStats> for RuntimeStats {
    fn from(s: kr::RuntimeStats) -> Self {
        RuntimeStats {
            submitted: s.submitted,
            verified: s.verified,
            refused_unverified: s.refused_unverified,
            verify_batches: s.verify_batches,
            verify_fallbacks: s.verify_fallbacks,
            verify_busy_ns: s.verify_busy_ns,
            sequenced: s.sequenced,
            sequence_busy_ns: s.sequence_busy_ns,
            signed_messages: s.signed_messages,
            signatures: s.signatures,
            sign_busy_ns: s.sign_busy_ns,
            responses: s.responses,
            notifications: s.notifications,
        }
    }
}

#[pymethods]
impl RuntimeStats {
    fn __repr__(&self) -> String {
        format!(
            "RuntimeStats(submitted={}, verified={}, refused_unverified={}, sequenced={}, signatures={}, responses={}, notifications={})",
            self.submitted,
            self.verified,
            self.refused_unverified,
            self.sequenced,
            self.signatures,
            self.responses,
            self.notifications
        )
    }
}

/// The answer to one submitted request. `accepted`: a reception receipt
/// (else a refusal with `code` and `reason`). `message` is the answer as a
/// `Message` (batch-signed by the exchange; None in trusted-gateway mode,
/// where answers are not signed). `sequence` is None when the verification
/// stage refused the request (nothing changed).
#[pyclass(module = "kabuken._native", frozen, get_all)]
pub struct Response {
    ticket: u64,
    sequence: Option<u64>,
    accepted: bool,
    reception_number: u64,
    code: Option<u16>,
    reason: Option<&'static str>,
    signed: bool,
    message: Option<Message>,
}

impl Response {
    fn new(py: Python<'_>, r: &kr::Response) -> PyResult<Self> {
        let (accepted, reception_number, code, signed, message) = match &r.answer {
            Ok(receipt) => {
                let signed = !receipt.is_pending();
                let m = if signed {
                    Some(Message::of(py, receipt)?)
                } else {
                    None
                };
                (true, receipt.body.reception_number, None, signed, m)
            }
            Err(notice) => {
                let signed = !notice.is_pending();
                let m = if signed {
                    Some(Message::of(py, notice.as_ref())?)
                } else {
                    None
                };
                let n = &notice.body;
                (false, n.reception_number, Some(n.reason), signed, m)
            }
        };
        Ok(Response {
            ticket: r.ticket,
            sequence: r.sequence,
            accepted,
            reception_number,
            code,
            reason: code.map(|c| ke::Refusal::from_code(c).map_or("unknown", ke::Refusal::as_str)),
            signed,
            message,
        })
    }
}

#[pymethods]
impl Response {
    fn __repr__(&self) -> String {
        format!(
            "Response(ticket={}, sequence={:?}, accepted={}, reception_number={}, reason={:?})",
            self.ticket, self.sequence, self.accepted, self.reception_number, self.reason
        )
    }
}

/// A message for a party other than the producer, or a register document,
/// released by the signing stage. `source` is ``"exchange"`` (then
/// `outgoing` is set and `kind` is its kind: ``"error"``, ``"completion"``,
/// ``"transfer"``, ``"settlement"``, ``"released"``) or ``"register"``
/// (`kind` ``"certificate"`` or ``"id_list_delta"``). `message` is the
/// signed message when there is one.
#[pyclass(module = "kabuken._native", frozen, get_all)]
pub struct Notification {
    source: &'static str,
    kind: &'static str,
    message: Option<Message>,
    outgoing: Option<Py<Outgoing>>,
}

impl Notification {
    fn new(py: Python<'_>, n: &kr::Notification) -> PyResult<Self> {
        Ok(match n {
            kr::Notification::Exchange(o) => {
                let out = Outgoing::new(py, o)?;
                let (kind, message) = (out.kind(), out.message());
                Notification {
                    source: "exchange",
                    kind,
                    message,
                    outgoing: Some(Py::new(py, out)?),
                }
            }
            kr::Notification::Register(kreg::RegisterDoc::Certificate(c)) => Notification {
                source: "register",
                kind: "certificate",
                message: Some(Message::of(py, c)?),
                outgoing: None,
            },
            kr::Notification::Register(kreg::RegisterDoc::Delta(d)) => Notification {
                source: "register",
                kind: "id_list_delta",
                message: Some(Message::of(py, d)?),
                outgoing: None,
            },
        })
    }
}

#[pymethods]
impl Notification {
    fn __repr__(&self) -> String {
        format!(
            "Notification(source={:?}, kind={:?})",
            self.source, self.kind
        )
    }
}

/// A consistent copy of one book's published depth.
#[pyclass(module = "kabuken._native", frozen, get_all)]
pub struct DepthSnapshot {
    instrument: u32,
    seq: u64,
    version: u64,
    best_bid: Option<(i64, u64)>,
    best_ask: Option<(i64, u64)>,
    bids: Vec<LevelInfo>,
    asks: Vec<LevelInfo>,
}

impl DepthSnapshot {
    /// The snapshot of `instrument` read from a depth channel.
    pub fn read(instrument: u32, reader: &md::DepthReader) -> Self {
        let s = reader.read();
        DepthSnapshot {
            instrument,
            seq: s.seq,
            version: s.version,
            best_bid: s.best_bid(),
            best_ask: s.best_ask(),
            bids: s.bids.into_iter().map(Into::into).collect(),
            asks: s.asks.into_iter().map(Into::into).collect(),
        }
    }
}

#[pymethods]
impl DepthSnapshot {
    fn __repr__(&self) -> String {
        format!(
            "DepthSnapshot(instrument={}, seq={}, best_bid={:?}, best_ask={:?})",
            self.instrument, self.seq, self.best_bid, self.best_ask
        )
    }
}

/// One entry of a shard's market event stream: `event` is the book event
/// (`Accepted`, `Trade`, `Cancelled`, ...).
#[pyclass(module = "kabuken._native", frozen, get_all)]
pub struct MarketEvent {
    seq: u64,
    instrument: u32,
    event: Py<PyAny>,
}

#[pymethods]
impl MarketEvent {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "MarketEvent(seq={}, instrument={}, event={})",
            self.seq,
            self.instrument,
            self.event.bind(py)
        )
    }
}

/// The subscriber fell behind: `missed` events were overwritten; it goes
/// on with the oldest event still held.
#[pyclass(module = "kabuken._native", frozen, get_all)]
pub struct Lagged {
    missed: u64,
}

#[pymethods]
impl Lagged {
    fn __repr__(&self) -> String {
        format!("Lagged(missed={})", self.missed)
    }
}

/// A reader of one shard's market event stream.
#[pyclass(module = "kabuken._native", frozen)]
pub struct Subscriber {
    inner: Mutex<md::Subscriber>,
}

impl Subscriber {
    /// Wraps an engine subscriber.
    pub fn wrap(s: md::Subscriber) -> Self {
        Subscriber {
            inner: Mutex::new(s),
        }
    }
}

fn poll_object(py: Python<'_>, p: md::Poll) -> PyResult<Option<Py<PyAny>>> {
    Ok(match p {
        md::Poll::Empty => None,
        md::Poll::Lagged { missed } => Some(Py::new(py, Lagged { missed })?.into_any()),
        md::Poll::Event(e) => Some(
            Py::new(
                py,
                MarketEvent {
                    seq: e.seq,
                    instrument: e.instrument,
                    event: event_object(py, e.event)?.unbind(),
                },
            )?
            .into_any(),
        ),
    })
}

#[pymethods]
impl Subscriber {
    /// The next event (`MarketEvent`), `Lagged` when events were missed,
    /// or None when there is nothing new.
    fn poll(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let p = lock(&self.inner).poll();
        poll_object(py, p)
    }
    /// Up to `limit` pending entries (as `poll` returns them).
    #[pyo3(signature = (limit=4096))]
    fn drain(&self, py: Python<'_>, limit: usize) -> PyResult<Vec<Py<PyAny>>> {
        let mut got = Vec::new();
        {
            let mut s = lock(&self.inner);
            while got.len() < limit {
                match s.poll() {
                    md::Poll::Empty => break,
                    p => got.push(p),
                }
            }
        }
        got.into_iter()
            .filter_map(|p| poll_object(py, p).transpose())
            .collect()
    }
    /// The sequence number of the next event this subscriber reads.
    #[getter]
    fn position(&self) -> u64 {
        lock(&self.inner).position()
    }
}

/// What `Runtime.shutdown()` hands back: the final counters, the length
/// of the journal (0 unless ``journal=True``), the shard's state hash and
/// the exchange, register and ledger, synchronous again (the objects the
/// runtime was started from, or new ones for `Runtime.simulated`).
#[pyclass(module = "kabuken._native", frozen, get_all)]
pub struct RuntimeOutcome {
    stats: Py<RuntimeStats>,
    journal_length: usize,
    state_hash: Py<PyBytes>,
    exchange: Py<Exchange>,
    register: Py<Register>,
    ledger: Py<Ledger>,
}

#[pymethods]
impl RuntimeOutcome {
    fn __repr__(&self) -> String {
        format!(
            "RuntimeOutcome(journal_length={}, stats={})",
            self.journal_length,
            self.stats.get().__repr__()
        )
    }
}

// ---- producers -------------------------------------------------------------------

/// A submitting handle. Responses (with the default queue sink) are read
/// with `try_recv` / `recv`; several Python threads may share one
/// producer (calls are serialized), though one producer per thread avoids
/// the contention.
#[pyclass(module = "kabuken._native", frozen)]
pub struct Producer {
    inner: Mutex<kr::Producer>,
    // Responses taken while `submit_wait` waited for room, handed out first.
    stash: Mutex<VecDeque<kr::Response>>,
    callback: bool,
}

impl Producer {
    fn next(&self) -> Option<kr::Response> {
        if let Some(r) = lock(&self.stash).pop_front() {
            return Some(r);
        }
        lock(&self.inner).try_recv()
    }
}

#[pymethods]
impl Producer {
    /// Submits a signed order, cancel, reduce or modify (`Message` or wire
    /// bytes); returns its ticket (echoed by its `Response`). Raises
    /// `Backpressure` when the queue is full or `capacity` requests are in
    /// flight (nothing was taken: receive responses and retry),
    /// `RuntimeClosed` after shutdown, `DecodeError` for malformed bytes.
    fn submit(&self, py: Python<'_>, request: &Bound<'_, PyAny>) -> PyResult<u64> {
        let req = request_arg(request)?;
        let r = py.detach(|| lock(&self.inner).submit(req));
        match r {
            Ok(t) => Ok(t),
            Err(kr::SubmitError::Full(_)) => Err(backpressure(py, "submit")),
            Err(kr::SubmitError::Closed(_)) => Err(closed(py)),
        }
    }
    /// Submits, waiting (GIL released) while the queue is full; responses
    /// that arrive meanwhile are kept for `try_recv`/`recv`. With
    /// `timeout` (seconds), raises `Backpressure` when still full then.
    #[pyo3(signature = (request, timeout=None))]
    fn submit_wait(
        &self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<u64> {
        let mut slot = Some(request_arg(request)?);
        let end = timeout
            .map(|t| seconds_arg("timeout", t))
            .transpose()?
            .map(|d| Instant::now() + d);
        loop {
            // Wait in slices so Ctrl-C (a pending signal) is noticed.
            let slice = Instant::now() + Duration::from_millis(50);
            let r = py.detach(|| loop {
                let req = slot.take()?;
                let mut p = lock(&self.inner);
                match p.submit(req) {
                    Err(kr::SubmitError::Full(back)) => {
                        slot = Some(*back);
                        if !self.callback {
                            let mut stash = lock(&self.stash);
                            while let Some(resp) = p.try_recv() {
                                stash.push_back(resp);
                            }
                        }
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
                Some(Ok(t)) => return Ok(t),
                Some(Err(kr::SubmitError::Closed(_))) => return Err(closed(py)),
                Some(Err(kr::SubmitError::Full(_))) => unreachable!("handled in the loop"),
                None => {
                    if end.is_some_and(|e| Instant::now() >= e) {
                        return Err(backpressure(py, "submit_wait timed out"));
                    }
                    py.check_signals()?;
                }
            }
        }
    }
    /// The next response, or None if none has arrived.
    fn try_recv(&self, py: Python<'_>) -> PyResult<Option<Response>> {
        self.next().map(|r| Response::new(py, &r)).transpose()
    }
    /// The next response, waiting up to `timeout` seconds (GIL released);
    /// None on timeout.
    #[pyo3(signature = (timeout=1.0))]
    fn recv(&self, py: Python<'_>, timeout: f64) -> PyResult<Option<Response>> {
        let end = Instant::now() + seconds_arg("timeout", timeout)?;
        loop {
            let slice = (Instant::now() + Duration::from_millis(50)).min(end);
            let got = py.detach(|| loop {
                if let Some(r) = self.next() {
                    return Some(r);
                }
                if Instant::now() >= slice {
                    return None;
                }
                std::thread::sleep(Duration::from_micros(50));
            });
            if let Some(r) = got {
                return Response::new(py, &r).map(Some);
            }
            if Instant::now() >= end {
                return Ok(None);
            }
            py.check_signals()?;
        }
    }
    /// Every response that has arrived (possibly none).
    fn drain(&self, py: Python<'_>) -> PyResult<Vec<Response>> {
        let mut v = Vec::new();
        while let Some(r) = self.next() {
            v.push(Response::new(py, &r)?);
        }
        Ok(v)
    }
    /// Requests submitted whose response has not been taken yet.
    #[getter]
    fn in_flight(&self) -> usize {
        lock(&self.inner).in_flight() + lock(&self.stash).len()
    }
    fn __repr__(&self) -> String {
        format!("Producer(in_flight={})", self.in_flight())
    }
}

// ---- the runtime ---------------------------------------------------------------

/// The shard's Python objects (None for `Runtime.simulated`).
struct Owners {
    exchange: Py<Exchange>,
    register: Py<Register>,
    ledger: Py<Ledger>,
}

/// The concurrent runtime over one shard (exchange, register, ledger).
#[pyclass(module = "kabuken._native", frozen)]
pub struct Runtime {
    inner: RwLock<Option<kr::Runtime>>,
    owners: Mutex<Option<Owners>>,
    readers: HashMap<u32, md::DepthReader>,
    instruments: Vec<u32>,
    exchange_key: kc::PublicKey,
    register_key: kc::PublicKey,
    trusted: bool,
    depth: usize,
    notes: Option<Arc<NoteQueue>>,
}

/// The notification queue (``notifications=<capacity>``): bounded, the
/// signing stage waits while it is full (back-pressure, never a loss). It
/// outlives the runtime, so what is left at shutdown can still be read;
/// once shutdown begins the bound is lifted, so a host that does not drain
/// while shutting down cannot hang it.
struct NoteQueue {
    queue: Mutex<VecDeque<kr::Notification>>,
    capacity: usize,
    closing: AtomicBool,
}

impl NoteQueue {
    fn push(&self, n: kr::Notification) {
        let mut n = Some(n);
        loop {
            {
                let mut q = lock(&self.queue);
                if q.len() < self.capacity || self.closing.load(Ordering::Acquire) {
                    q.extend(n.take());
                    return;
                }
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}

/// The configuration keywords, validated.
struct Config {
    cfg: kr::RuntimeConfig,
    notes: Option<Arc<NoteQueue>>,
}

impl Config {
    #[allow(clippy::too_many_arguments, clippy::needless_update)]
    fn new(
        py: Python<'_>,
        verify_workers: usize,
        ingress_capacity: usize,
        shard_capacity: usize,
        sign_capacity: usize,
        verify_batch: usize,
        sign_batch: usize,
        verify_window: f64,
        sign_window: f64,
        signing_thread: bool,
        record_latency: bool,
        trusted_gateway: bool,
        notifications: Option<usize>,
        on_notification: Option<Py<PyAny>>,
        journal: bool,
        depth: usize,
        event_capacity: usize,
        max_producers: usize,
    ) -> PyResult<Self> {
        for (what, v) in [
            ("verify_workers", verify_workers),
            ("ingress_capacity", ingress_capacity),
            ("shard_capacity", shard_capacity),
            ("sign_capacity", sign_capacity),
            ("verify_batch", verify_batch),
            ("sign_batch", sign_batch),
            ("depth", depth),
            ("event_capacity", event_capacity),
            ("max_producers", max_producers),
            ("notifications", notifications.unwrap_or(1)),
        ] {
            if v == 0 {
                return Err(config_error(py, format!("{what} must be at least 1")));
            }
        }
        // Sizes far beyond any machine: refuse before allocating.
        for (what, v) in [
            ("verify_workers", verify_workers),
            ("max_producers", max_producers),
        ] {
            if v > 1 << 16 {
                return Err(config_error(py, format!("{what} must be at most 65536")));
            }
        }
        for (what, v) in [
            ("ingress_capacity", ingress_capacity),
            ("shard_capacity", shard_capacity),
            ("sign_capacity", sign_capacity),
            ("event_capacity", event_capacity),
            ("notifications", notifications.unwrap_or(1)),
            ("depth", depth),
        ] {
            if v > 1 << 24 {
                return Err(config_error(py, format!("{what} must be at most 2**24")));
            }
        }
        let mut notes = None;
        let notifications = match (notifications, on_notification) {
            (Some(_), Some(_)) => {
                return Err(PyValueError::new_err(
                    "give notifications (a queue capacity) or on_notification, not both",
                ))
            }
            (Some(n), None) => {
                let q = Arc::new(NoteQueue {
                    queue: Mutex::new(VecDeque::new()),
                    capacity: n,
                    closing: AtomicBool::new(false),
                });
                notes = Some(Arc::clone(&q));
                kr::NotificationSink::Callback(Box::new(move |n| q.push(n)))
            }
            (None, Some(f)) => kr::NotificationSink::Callback(Box::new(move |n| {
                Python::attach(|py| {
                    let f = f.bind(py);
                    if let Err(e) = Notification::new(py, &n).and_then(|n| f.call1((n,))) {
                        e.write_unraisable(py, Some(f));
                    }
                });
            })),
            (None, None) => kr::NotificationSink::Discard,
        };
        Ok(Config {
            cfg: kr::RuntimeConfig {
                verify_workers,
                ingress_capacity,
                shard_capacity,
                sign_capacity,
                verify_batch,
                sign_batch,
                verify_window: seconds_arg("verify_window", verify_window)?,
                sign_window: seconds_arg("sign_window", sign_window)?,
                signing_thread,
                record_latency,
                trusted_gateway,
                notifications,
                journal,
                depth,
                event_capacity,
                max_producers,
                // Settings the engine adds later keep their defaults until
                // they are bound here (no build break when one is added).
                ..kr::RuntimeConfig::default()
            },
            notes,
        })
    }
}

impl Runtime {
    fn start(
        py: Python<'_>,
        cfg: Config,
        shard: kr::Shard,
        owners: Option<Owners>,
    ) -> PyResult<Self> {
        let exchange_key = shard.exchange.public_key();
        let register_key = shard.register.public_key();
        let instruments: Vec<u32> = shard.exchange.instruments().collect();
        let (trusted, depth, notes) = (cfg.cfg.trusted_gateway, cfg.cfg.depth, cfg.notes);
        let rt = py
            .detach(move || kr::Runtime::start(cfg.cfg, vec![shard]))
            // Checked before the shard was taken; kept total all the same.
            .map_err(|e| config_error(py, e.to_string()))?;
        let readers = instruments
            .iter()
            .filter_map(|i| rt.depth_reader(*i).map(|r| (*i, r)))
            .collect();
        Ok(Runtime {
            inner: RwLock::new(Some(rt)),
            owners: Mutex::new(owners),
            readers,
            instruments,
            exchange_key,
            register_key,
            trusted,
            depth,
            notes,
        })
    }

    fn running(&self, py: Python<'_>) -> PyResult<RwLockReadGuard<'_, Option<kr::Runtime>>> {
        let g = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        if g.is_none() {
            return Err(closed(py));
        }
        Ok(g)
    }

    /// Queues a control for the shard's sequencer and waits for its
    /// outcome (GIL released, in slices that notice signals).
    fn control(&self, py: Python<'_>, control: kr::Control, timeout: f64) -> PyResult<()> {
        let timeout = seconds_arg("timeout", timeout)?;
        // Attestations and revocations are checked here: no GIL. The lock
        // is taken and released without the GIL (never hold it while
        // taking the GIL: `shutdown` waits for it).
        let handle = py
            .detach(|| {
                let g = self.inner.read().unwrap_or_else(PoisonError::into_inner);
                g.as_ref().map(|rt| rt.control(0, control))
            })
            .ok_or_else(|| closed(py))?
            .map_err(|e| control_error(py, &e))?;
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let got = py.detach(|| handle.wait(left.min(Duration::from_millis(50))));
            match got {
                Some(r) => return r.map_err(|e| control_error(py, &e)),
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
        self.readers.get(&instrument).ok_or_else(|| {
            error(
                py,
                "MarketError",
                (format!("instrument {instrument} is not listed"), instrument),
            )
        })
    }
}

impl Runtime {
    /// Lifts the notification queue's bound (shutdown begins).
    fn unbound_notes(&self) {
        if let Some(q) = &self.notes {
            q.closing.store(true, Ordering::Release);
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.unbound_notes();
        // Dropping a running runtime joins its threads; a notification
        // callback on them may want the GIL, so release it meanwhile.
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

#[pymethods]
impl Runtime {
    /// Starts the runtime over `exchange`, `register` and `ledger`, which
    /// it owns until `shutdown()` (their methods raise `RuntimeBusy`
    /// meanwhile). The exchange must not have received orders. Windows
    /// are in seconds. `signing_thread=False` runs the signing stage on the
    /// verification workers between their batches. `notifications`: a queue capacity (drain it with
    /// `next_notification`), or `on_notification(Notification)` called on
    /// the signing thread, or neither (discarded). Raises `ConfigError`.
    #[new]
    #[pyo3(signature = (exchange, register, ledger, *, verify_workers=1, ingress_capacity=4096, shard_capacity=4096, sign_capacity=4096, verify_batch=64, sign_batch=512, verify_window=0.0001, sign_window=0.0001, signing_thread=true, record_latency=false, trusted_gateway=false, notifications=None, on_notification=None, journal=false, depth=10, event_capacity=65536, max_producers=1024))]
    fn new(
        py: Python<'_>,
        exchange: Py<Exchange>,
        register: Py<Register>,
        ledger: Py<Ledger>,
        verify_workers: usize,
        ingress_capacity: usize,
        shard_capacity: usize,
        sign_capacity: usize,
        verify_batch: usize,
        sign_batch: usize,
        verify_window: f64,
        sign_window: f64,
        signing_thread: bool,
        record_latency: bool,
        trusted_gateway: bool,
        notifications: Option<usize>,
        on_notification: Option<Py<PyAny>>,
        journal: bool,
        depth: usize,
        event_capacity: usize,
        max_producers: usize,
    ) -> PyResult<Self> {
        let cfg = Config::new(
            py,
            verify_workers,
            ingress_capacity,
            shard_capacity,
            sign_capacity,
            verify_batch,
            sign_batch,
            verify_window,
            sign_window,
            signing_thread,
            record_latency,
            trusted_gateway,
            notifications,
            on_notification,
            journal,
            depth,
            event_capacity,
            max_producers,
        )?;
        // Check everything before taking anything out.
        {
            let (ex, reg, led) = (
                exchange.try_borrow_mut(py)?,
                register.try_borrow_mut(py)?,
                ledger.try_borrow_mut(py)?,
            );
            reg.inner.get()?;
            led.inner.get()?;
            if ex.orders_received()? != 0 {
                return Err(config_error(
                    py,
                    "the exchange has received orders: a runtime starts from a fresh exchange",
                ));
            }
        }
        let shard = kr::Shard {
            exchange: exchange.borrow_mut(py).take()?,
            register: register.borrow_mut(py).inner.take()?,
            ledger: ledger.borrow_mut(py).inner.take()?,
        };
        Runtime::start(
            py,
            cfg,
            shard,
            Some(Owners {
                exchange,
                register,
                ledger,
            }),
        )
    }

    /// A whole market on the runtime (`kabuken::runtime::sim`): the
    /// simulated world's parties and certificates in one shard, and a
    /// pre-signed order flow, one list of wire bytes per producer (investor
    /// `i` belongs to producer `i % producers`, so each signer's orders
    /// stay in one list, in order). Returns ``(runtime, flows)``.
    #[staticmethod]
    #[pyo3(signature = (*, seed=1, investors=8, instruments=1, orders=1000, producers=1, first_instrument=100, verify_workers=1, ingress_capacity=4096, shard_capacity=4096, sign_capacity=4096, verify_batch=64, sign_batch=512, verify_window=0.0001, sign_window=0.0001, signing_thread=true, record_latency=false, trusted_gateway=false, notifications=None, on_notification=None, journal=false, depth=10, event_capacity=65536, max_producers=1024))]
    fn simulated(
        py: Python<'_>,
        seed: u64,
        investors: u32,
        instruments: u32,
        orders: usize,
        producers: usize,
        first_instrument: u32,
        verify_workers: usize,
        ingress_capacity: usize,
        shard_capacity: usize,
        sign_capacity: usize,
        verify_batch: usize,
        sign_batch: usize,
        verify_window: f64,
        sign_window: f64,
        signing_thread: bool,
        record_latency: bool,
        trusted_gateway: bool,
        notifications: Option<usize>,
        on_notification: Option<Py<PyAny>>,
        journal: bool,
        depth: usize,
        event_capacity: usize,
        max_producers: usize,
    ) -> PyResult<(Self, Vec<Vec<Py<PyBytes>>>)> {
        if !(2..=10_000).contains(&investors)
            || !(1..=1_000).contains(&instruments)
            || orders > 10_000_000
            || !(1..=1024).contains(&producers)
            || first_instrument.checked_add(instruments).is_none()
        {
            return Err(PyValueError::new_err(
                "a simulated market has 2..=10000 investors, 1..=1000 instruments, at most 10**7 orders and 1..=1024 producers",
            ));
        }
        let cfg = Config::new(
            py,
            verify_workers,
            ingress_capacity,
            shard_capacity,
            sign_capacity,
            verify_batch,
            sign_batch,
            verify_window,
            sign_window,
            signing_thread,
            record_latency,
            trusted_gateway,
            notifications,
            on_notification,
            journal,
            depth,
            event_capacity,
            max_producers,
        )?;
        let (shard, flows) = py.detach(move || {
            let mut m = kr::sim::market(&kr::sim::MarketConfig {
                seed,
                investors,
                instruments,
                orders,
                first_instrument,
            });
            // Always signed: a trusted-gateway runtime takes signed
            // requests too (it just does not check them).
            let flows = kr::sim::flow(
                &mut m.clients,
                &m.instruments,
                orders,
                producers,
                seed,
                false,
            );
            let bytes: Vec<Vec<Vec<u8>>> = flows
                .iter()
                .map(|f| f.iter().map(kr::Request::to_bytes).collect())
                .collect();
            (m.shard, bytes)
        });
        let flows = flows
            .into_iter()
            .map(|f| {
                f.into_iter()
                    .map(|b| PyBytes::new(py, &b).unbind())
                    .collect()
            })
            .collect();
        Ok((Runtime::start(py, cfg, shard, None)?, flows))
    }

    /// A producer with at most `capacity` requests in flight (its
    /// back-pressure credit). With `on_response`, responses are handed to
    /// that callable on the signing thread instead of the queue. Raises
    /// `ValueError` for capacity 0, `ConfigError` past `max_producers`.
    #[pyo3(signature = (capacity=1024, on_response=None))]
    fn producer(
        &self,
        py: Python<'_>,
        capacity: usize,
        on_response: Option<Py<PyAny>>,
    ) -> PyResult<Producer> {
        if capacity == 0 || capacity > 1 << 24 {
            return Err(PyValueError::new_err("capacity must be in 1..=2**24"));
        }
        let callback = on_response.is_some();
        let sink = match on_response {
            None => kr::ResponseSink::Queue,
            Some(f) => kr::ResponseSink::Callback(Box::new(move |r| {
                Python::attach(|py| {
                    let f = f.bind(py);
                    if let Err(e) = Response::new(py, &r).and_then(|r| f.call1((r,))) {
                        e.write_unraisable(py, Some(f));
                    }
                });
            })),
        };
        let g = self.running(py)?;
        let p = g
            .as_ref()
            .and_then(|rt| rt.producer(capacity, sink))
            .ok_or_else(|| config_error(py, "no room for another producer (max_producers)"))?;
        Ok(Producer {
            inner: Mutex::new(p),
            stash: Mutex::new(VecDeque::new()),
            callback,
        })
    }

    /// Moves the exchange clock forward (it never goes back).
    fn set_time(&self, py: Python<'_>, now: u64) -> PyResult<()> {
        if let Some(rt) = self.running(py)?.as_ref() {
            rt.set_time(now);
        }
        Ok(())
    }
    /// The exchange clock.
    #[getter]
    fn time(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.running(py)?.as_ref().map_or(0, kr::Runtime::time))
    }
    /// The counters so far.
    fn stats(&self, py: Python<'_>) -> PyResult<RuntimeStats> {
        Ok(self
            .running(py)?
            .as_ref()
            .map(kr::Runtime::stats)
            .unwrap_or_default()
            .into())
    }
    /// Best bid and best ask of `instrument` as ``(price, qty)`` or None,
    /// read lock-free from the published market data. Raises `MarketError`.
    fn best(&self, py: Python<'_>, instrument: u32) -> PyResult<(Level, Level)> {
        let s = self.reader(py, instrument)?.read();
        Ok((s.best_bid(), s.best_ask()))
    }
    /// The published depth of `instrument` (up to the `depth` levels per
    /// side the runtime was started with). Raises `MarketError`.
    fn depth(&self, py: Python<'_>, instrument: u32) -> PyResult<DepthSnapshot> {
        let s = self.reader(py, instrument)?.read();
        Ok(DepthSnapshot {
            instrument,
            seq: s.seq,
            version: s.version,
            best_bid: s.best_bid(),
            best_ask: s.best_ask(),
            bids: s.bids.into_iter().map(Into::into).collect(),
            asks: s.asks.into_iter().map(Into::into).collect(),
        })
    }
    /// A subscriber to the shard's market events from the next one (or
    /// from the oldest still held, with ``from_oldest=True``).
    #[pyo3(signature = (from_oldest=false))]
    fn subscribe(&self, py: Python<'_>, from_oldest: bool) -> PyResult<Subscriber> {
        let g = self.running(py)?;
        let s = g.as_ref().and_then(|rt| {
            if from_oldest {
                rt.subscribe_from_oldest(0)
            } else {
                rt.subscribe(0)
            }
        });
        s.map(|s| Subscriber {
            inner: Mutex::new(s),
        })
        .ok_or_else(|| closed(py))
    }
    /// The next notification (with ``notifications=<capacity>``), or None;
    /// still readable after shutdown.
    fn next_notification(&self, py: Python<'_>) -> PyResult<Option<Notification>> {
        let n = self.notes.as_ref().and_then(|q| lock(&q.queue).pop_front());
        n.map(|n| Notification::new(py, &n)).transpose()
    }
    /// A party joins (or renews its attestation) while the runtime runs:
    /// the exchange and the register learn its key and role, the ledger an
    /// investor's key. The sequencer applies it in sequence with the
    /// requests (before any request submitted after this returns); waits up
    /// to `timeout` seconds (GIL released). Raises `IdentityError`,
    /// `DecodeError`, `ControlTimeout`, `RuntimeClosed`.
    #[pyo3(signature = (attestation, timeout=10.0))]
    fn add_party(
        &self,
        py: Python<'_>,
        attestation: &Bound<'_, PyAny>,
        timeout: f64,
    ) -> PyResult<()> {
        let att = signed_arg::<ki::Attestation>(attestation)?;
        self.control(py, kr::Control::AddParty(att), timeout)
    }
    /// The CA revokes attestations (as `add_party`).
    #[pyo3(signature = (revocation, timeout=10.0))]
    fn apply_revocation(
        &self,
        py: Python<'_>,
        revocation: &Bound<'_, PyAny>,
        timeout: f64,
    ) -> PyResult<()> {
        let rev = signed_arg::<ki::Revocation>(revocation)?;
        self.control(py, kr::Control::Revoke(rev), timeout)
    }
    /// Opens a settlement account (as `add_party`); `SettlementError`.
    #[pyo3(signature = (account, owner, timeout=10.0))]
    fn open_account(&self, py: Python<'_>, account: u64, owner: u64, timeout: f64) -> PyResult<()> {
        self.control(py, kr::Control::OpenAccount { account, owner }, timeout)
    }
    /// Pays a positive amount (int, str or Decimal) into an account (as
    /// `add_party`); `SettlementError`.
    #[pyo3(signature = (account, amount, timeout=10.0))]
    fn deposit(
        &self,
        py: Python<'_>,
        account: u64,
        amount: &Bound<'_, PyAny>,
        timeout: f64,
    ) -> PyResult<()> {
        let amount = decimal_arg(amount)?;
        self.control(py, kr::Control::Deposit { account, amount }, timeout)
    }
    /// End of the trading day at the exchange clock: day orders expire (as
    /// `add_party`).
    #[pyo3(signature = (timeout=10.0))]
    fn end_of_day(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        self.control(py, kr::Control::EndOfDay, timeout)
    }
    /// Requests and jobs waiting in the queues now: ``(ingress, sequencer,
    /// signing)``. For monitoring.
    fn queue_depths(&self, py: Python<'_>) -> PyResult<(usize, usize, usize)> {
        Ok(self
            .running(py)?
            .as_ref()
            .map_or((0, 0, 0), kr::Runtime::queue_depths))
    }
    /// The latencies recorded since the last call (ns, from `submit` to
    /// the answer being ready for the producer, in delivery order; empty
    /// unless ``record_latency=True``), as a numpy ``uint64`` array.
    fn take_latencies<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<u64>>> {
        let v = self
            .running(py)?
            .as_ref()
            .map(kr::Runtime::take_latencies)
            .unwrap_or_default();
        Ok(PyArray1::from_vec(py, v))
    }
    /// The listed instruments.
    #[getter]
    fn instruments(&self) -> Vec<u32> {
        self.instruments.clone()
    }
    /// The exchange's public key (answers and notices verify with it).
    #[getter]
    fn exchange_public_key(&self) -> PublicKey {
        PublicKey {
            inner: self.exchange_key,
        }
    }
    /// The register's public key (its certificates and deltas).
    #[getter]
    fn register_public_key(&self) -> PublicKey {
        PublicKey {
            inner: self.register_key,
        }
    }
    /// Whether the runtime runs in trusted-gateway mode.
    #[getter]
    fn trusted_gateway(&self) -> bool {
        self.trusted
    }
    /// Whether the sequencer failed (an engine bug); the runtime then takes
    /// no more requests and `shutdown()` raises `RuntimeFailed`.
    #[getter]
    fn failed(&self) -> bool {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(kr::Runtime::failed)
    }
    /// Whether the runtime is still running (not shut down).
    #[getter(running)]
    fn running_now(&self) -> bool {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }
    /// Stops taking requests, drains every stage (each accepted request
    /// gets its response), joins the threads (GIL released) and hands the
    /// exchange, register and ledger back, synchronous again (raises
    /// `RuntimeFailed`, handing nothing back, if the sequencer failed). The
    /// notifications left are kept for `next_notification` (the queue's
    /// bound is lifted while draining). Raises `RuntimeClosed` when called
    /// twice.
    fn shutdown(&self, py: Python<'_>) -> PyResult<RuntimeOutcome> {
        // Taken without the GIL (a reader may be about to need it), and
        // released at once: the shutdown itself runs without the lock.
        let rt = py
            .detach(|| {
                self.inner
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take()
            })
            .ok_or_else(|| closed(py))?;
        self.unbound_notes();
        let out = py.detach(move || rt.shutdown());
        let kr::Outcome {
            mut shards,
            journal,
            failed_shards,
            stats,
            ..
        } = out;
        let Some(shard) = shards.pop() else {
            // The sequencer failed (an engine bug): its state is not handed
            // back, it cannot be trusted.
            if let Some(o) = lock(&self.owners).take() {
                o.exchange.borrow_mut(py).fail();
                o.register.borrow_mut(py).inner.fail();
                o.ledger.borrow_mut(py).inner.fail();
            }
            return Err(error(
                py,
                "RuntimeFailed",
                (format!(
                    "the sequencer of shard {failed_shards:?} failed (an engine bug): requests in flight got no answer and the exchange, register and ledger are not handed back"
                ),),
            ));
        };
        let state_hash = PyBytes::new(py, &shard.state_hash()).unbind();
        let (exchange, register, ledger) = match lock(&self.owners).take() {
            Some(o) => {
                o.exchange.borrow_mut(py).put(shard.exchange);
                o.register.borrow_mut(py).inner.put(shard.register);
                o.ledger.borrow_mut(py).inner.put(shard.ledger);
                (o.exchange, o.register, o.ledger)
            }
            None => (
                Py::new(py, Exchange::wrap(shard.exchange))?,
                Py::new(py, Register::wrap(shard.register))?,
                Py::new(py, Ledger::wrap(shard.ledger))?,
            ),
        };
        Ok(RuntimeOutcome {
            stats: Py::new(py, RuntimeStats::from(stats))?,
            journal_length: journal.iter().map(Vec::len).sum(),
            state_hash,
            exchange,
            register,
            ledger,
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
            "Runtime(instruments={:?}, trusted_gateway={}, depth={}, running={})",
            self.instruments,
            self.trusted,
            self.depth,
            self.running_now()
        )
    }
}
