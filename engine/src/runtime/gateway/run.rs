//! [`GatewayRuntime`]: the [`Gateway`] on its own sequencer thread, behind
//! one bounded lock-free ingress queue of order batches per producer.
//!
//! Architecture invariant: the sequencer thread never blocks on a
//! producer. Ingress is bounded (a full queue is
//! [`GatewaySubmitError::Full`], or a wait in
//! [`GatewayProducer::submit_wait`]); reports go into an unbounded
//! lock-free queue per producer, whose growth a producer bounds by polling:
//! past [`GatewayConfig::report_batches`] unpolled report batches its
//! submits are refused as full. Reports about a producer's resting orders
//! caused by other producers are bounded by those orders' quantity.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_queue::{ArrayQueue, SegQueue};

use super::engine::{Gateway, GatewayControl, GatewayError, ReportSink};
use super::{GatewayOrder, GatewayReport};
use crate::runtime::marketdata::{
    depth_channel, event_ring, DepthPublisher, DepthReader, Subscriber,
};
use crate::runtime::pipeline::{Idle, Waker};
use crate::types::InstrumentId;

/// How a [`GatewayRuntime`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GatewayConfig {
    /// Most producers at once (at least 1, at most 65,535).
    pub max_producers: usize,
    /// Ingress capacity per producer, in batches (at least 1).
    pub queue_batches: usize,
    /// Most orders in one batch (at least 1); longer submits are split.
    pub batch: usize,
    /// Unpolled report batches a producer may have before its submits are
    /// refused as full (at least 1).
    pub report_batches: usize,
    /// Keep the sequenced input ([`GatewayOutcome::journal`]) for
    /// [`replay`].
    pub journal: bool,
    /// Depth levels published per instrument after every batch that
    /// touched it (0: no depth publication).
    pub depth: usize,
    /// Capacity of the market event stream (order log and trades; 0: no
    /// stream).
    pub event_capacity: usize,
    /// Keep the register's transfer history ([`Gateway::transfers`]).
    pub keep_transfers: bool,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            max_producers: 8,
            // 8 batches in flight per producer keep full throughput (the
            // same as 64, measured) with a seventh of the queueing delay.
            queue_batches: 8,
            batch: 1024,
            report_batches: 256,
            journal: false,
            depth: 5,
            event_capacity: 1 << 16,
            keep_transfers: true,
        }
    }
}

/// Why a submit did not go in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatewaySubmitError {
    /// The ingress queue is full, or too many reports are unpolled:
    /// nothing of this call went in; poll and retry.
    Full,
    /// The runtime is shutting down: nothing of this call went in.
    Closed,
    /// More orders than the queue can ever hold at once
    /// ([`GatewayConfig::batch`] times [`GatewayConfig::queue_batches`]):
    /// nothing went in; submit fewer, or use
    /// [`GatewayProducer::submit_wait`], which takes any number.
    TooLarge,
}

impl std::fmt::Display for GatewaySubmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GatewaySubmitError::Full => {
                "gateway queue full (or reports unpolled): nothing was submitted, poll and retry"
            }
            GatewaySubmitError::Closed => "gateway is shutting down: nothing was submitted",
            GatewaySubmitError::TooLarge => {
                "more orders than the gateway queue holds at once (batch x queue_batches): nothing was submitted"
            }
        })
    }
}

impl std::error::Error for GatewaySubmitError {}

/// One step of the sequenced input: the controls applied (in order, each
/// with its sequence number), then the orders of `producer` (possibly
/// none), numbered from `first_seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    /// Controls applied before the orders, with their sequence numbers.
    pub controls: Vec<(u64, GatewayControl)>,
    /// The producer.
    pub producer: u16,
    /// Sequence number of the first order.
    pub first_seq: u64,
    /// The orders.
    pub orders: Vec<GatewayOrder>,
}

/// Replays a journal through `gateway` synchronously (the runtime's
/// determinism: the same reports, in sequence order, the same control
/// results, and the same state).
pub fn replay(gateway: &mut Gateway, journal: &[JournalEntry]) -> Vec<(u16, GatewayReport)> {
    let mut out = Vec::new();
    for e in journal {
        for (seq, c) in &e.controls {
            let _ = gateway.apply_control(*seq, c, &mut out);
        }
        gateway.apply_batch(e.producer, e.first_seq, &e.orders, &mut out);
    }
    out
}

type ControlResult = Result<u64, GatewayError>;

/// A control on its way to the sequencer: applied once the sequencer has
/// taken `after[k]` batches from each producer `k` (every batch submitted
/// before it was queued).
#[derive(Debug)]
struct QueuedControl {
    control: GatewayControl,
    result: Arc<ArrayQueue<ControlResult>>,
    after: Box<[u64]>,
}

/// The outcome of a control queued with [`GatewayRuntime::control`].
#[derive(Debug)]
pub struct GatewayControlHandle {
    result: Arc<ArrayQueue<ControlResult>>,
}

impl GatewayControlHandle {
    /// Waits up to `timeout` for the control to be applied; `None` on
    /// timeout (it is still applied later).
    #[must_use]
    pub fn wait(&self, timeout: Duration) -> Option<Result<u64, GatewayError>> {
        let deadline = Instant::now() + timeout;
        let mut idle = Idle::new();
        loop {
            if let Some(r) = self.result.pop() {
                return Some(r);
            }
            if Instant::now() >= deadline {
                return None;
            }
            idle.wait();
        }
    }
}

/// Why [`GatewayRuntime::start`] did not start, with the gateway handed
/// back unchanged.
#[derive(Debug)]
pub struct GatewayStartError {
    /// The gateway, as it was given.
    pub gateway: Box<Gateway>,
    /// What was wrong (a configuration value out of range, or no thread).
    pub reason: &'static str,
}

impl std::fmt::Display for GatewayStartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason)
    }
}

impl std::error::Error for GatewayStartError {}

/// Counters of a running gateway.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GatewayRuntimeStats {
    /// Orders sequenced.
    pub orders: u64,
    /// Batches sequenced.
    pub batches: u64,
    /// Reports delivered.
    pub reports: u64,
    /// Time the sequencer spent applying batches, ns.
    pub busy_ns: u64,
}

/// What [`GatewayRuntime::shutdown`] hands back.
#[derive(Debug)]
pub struct GatewayOutcome {
    /// The gateway, synchronous again.
    pub gateway: Gateway,
    /// The sequenced input (when [`GatewayConfig::journal`] was on).
    pub journal: Vec<JournalEntry>,
    /// Final counters.
    pub stats: GatewayRuntimeStats,
    /// Whether the sequencer failed (a panic in the engine): its state is
    /// not trusted, and `gateway` is then empty.
    pub failed: bool,
}

#[derive(Debug)]
struct Slot {
    ingress: ArrayQueue<Vec<GatewayOrder>>,
    free: ArrayQueue<Vec<GatewayOrder>>,
    reports: SegQueue<Vec<GatewayReport>>,
    report_free: ArrayQueue<Vec<GatewayReport>>,
    unpolled: AtomicUsize,
    waker: Waker,
    taken: AtomicBool,
    /// The producer was dropped: its reports are discarded.
    gone: AtomicBool,
    /// Batches pushed so far (after each push).
    pushed: AtomicU64,
}

#[derive(Debug)]
struct Shared {
    cfg: GatewayConfig,
    slots: Box<[Slot]>,
    controls: SegQueue<QueuedControl>,
    closing: AtomicBool,
    submitting: AtomicUsize,
    waker: Waker,
    orders: AtomicU64,
    batches: AtomicU64,
    reports: AtomicU64,
    busy_ns: AtomicU64,
    failed: AtomicBool,
}

impl Shared {
    fn stats(&self) -> GatewayRuntimeStats {
        GatewayRuntimeStats {
            orders: self.orders.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            reports: self.reports.load(Ordering::Relaxed),
            busy_ns: self.busy_ns.load(Ordering::Relaxed),
        }
    }
}

/// The gateway running on its own sequencer thread.
#[derive(Debug)]
pub struct GatewayRuntime {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<(Option<Gateway>, Vec<JournalEntry>)>>,
    readers: Vec<(InstrumentId, DepthReader)>,
    events: Option<Subscriber>,
}

/// A handle for one producing thread (`Send`, not `Clone`).
#[derive(Debug)]
pub struct GatewayProducer {
    shared: Arc<Shared>,
    index: usize,
}

impl GatewayRuntime {
    /// Starts the sequencer thread on `gateway`. Sequence numbers continue
    /// from [`Gateway::next_seq`].
    ///
    /// # Errors
    /// A configuration value out of range (named in the message), or no
    /// thread to be had: the gateway comes back unchanged in the error.
    pub fn start(gateway: Gateway, cfg: GatewayConfig) -> Result<Self, GatewayStartError> {
        let bad = |gateway: Gateway, reason| GatewayStartError {
            gateway: Box::new(gateway),
            reason,
        };
        if cfg.max_producers == 0 || cfg.max_producers > usize::from(u16::MAX) {
            return Err(bad(gateway, "max_producers must be 1..=65535"));
        }
        if cfg.queue_batches == 0 || cfg.batch == 0 || cfg.report_batches == 0 {
            return Err(bad(
                gateway,
                "queue_batches, batch and report_batches must be at least 1",
            ));
        }
        if cfg.depth > 1024 {
            return Err(bad(gateway, "depth must be at most 1024"));
        }
        let mut gateway = gateway;
        let slots: Box<[Slot]> = (0..cfg.max_producers)
            .map(|_| Slot {
                ingress: ArrayQueue::new(cfg.queue_batches),
                free: ArrayQueue::new(cfg.queue_batches + 1),
                reports: SegQueue::new(),
                report_free: ArrayQueue::new(cfg.report_batches + 1),
                unpolled: AtomicUsize::new(0),
                waker: Waker::default(),
                taken: AtomicBool::new(false),
                gone: AtomicBool::new(false),
                pushed: AtomicU64::new(0),
            })
            .collect();
        let shared = Arc::new(Shared {
            cfg,
            slots,
            controls: SegQueue::new(),
            closing: AtomicBool::new(false),
            submitting: AtomicUsize::new(0),
            waker: Waker::default(),
            orders: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            reports: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            failed: AtomicBool::new(false),
        });
        gateway.set_keep_transfers(cfg.keep_transfers);
        let mut publishers = Vec::new();
        let mut readers = Vec::new();
        if cfg.depth > 0 {
            for i in 0..gateway.instrument_count() as u32 {
                let (p, r) = depth_channel(cfg.depth);
                let id = gateway.instrument(i).map_or(0, |s| s.id);
                publishers.push(p);
                readers.push((id, r));
            }
        }
        let events = if cfg.event_capacity > 0 {
            let ring = event_ring(cfg.event_capacity);
            let sub = ring.subscribe();
            gateway.set_event_publisher(Some(ring));
            Some(sub)
        } else {
            gateway.set_event_publisher(None);
            None
        };
        let sh = Arc::clone(&shared);
        // The gateway travels to the thread through a slot, so that it can
        // be handed back if the thread cannot be made.
        let slot = Arc::new(parking_lot::Mutex::new(Some(gateway)));
        let theirs = Arc::clone(&slot);
        let spawned = std::thread::Builder::new()
            .name("kabuken-gateway".into())
            .spawn(move || {
                let g = theirs.lock().take();
                match g {
                    Some(g) => sequencer(&sh, g, publishers),
                    None => (None, Vec::new()),
                }
            });
        let thread = match spawned {
            Ok(t) => t,
            Err(_) => {
                let g = slot.lock().take().unwrap_or_default();
                return Err(bad(g, "could not start the sequencer thread"));
            }
        };
        Ok(GatewayRuntime {
            shared,
            thread: Some(thread),
            readers,
            events,
        })
    }

    /// A producer handle, or `None` when [`GatewayConfig::max_producers`]
    /// have been made (a slot is not reused after its producer is dropped)
    /// or the runtime is shutting down.
    #[must_use]
    pub fn producer(&self) -> Option<GatewayProducer> {
        if self.shared.closing.load(Ordering::Acquire) {
            return None;
        }
        let index = self.shared.slots.iter().position(|s| {
            s.taken
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        })?;
        Some(GatewayProducer {
            shared: Arc::clone(&self.shared),
            index,
        })
    }

    /// The depth reader of instrument `id` (lock-free, any thread).
    #[must_use]
    pub fn depth_reader(&self, id: InstrumentId) -> Option<DepthReader> {
        self.readers
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, r)| r.clone())
    }

    /// A subscriber to the market event stream (order log and trades),
    /// from the next event on.
    #[must_use]
    pub fn subscribe(&self) -> Option<Subscriber> {
        self.events.as_ref().map(|s| {
            let mut s = s.clone();
            s.skip_to_end();
            s
        })
    }

    /// Queues an administrative change for the sequencer, which applies
    /// it with the next sequence number (and journals it) after every batch
    /// submitted before this call and before any batch submitted after it
    /// returns; the handle gives its result, and
    /// the reports it causes (orders expired at the end of the day) go to
    /// their producers.
    ///
    /// # Errors
    /// [`GatewaySubmitError::Closed`]: the runtime is shutting down.
    pub fn control(
        &self,
        control: GatewayControl,
    ) -> Result<GatewayControlHandle, GatewaySubmitError> {
        let shared = &*self.shared;
        // Counts as a submission while it is queued, so shutdown cannot
        // finish between the check and the push.
        shared.submitting.fetch_add(1, Ordering::AcqRel);
        if shared.closing.load(Ordering::Acquire) {
            shared.submitting.fetch_sub(1, Ordering::AcqRel);
            return Err(GatewaySubmitError::Closed);
        }
        let result = Arc::new(ArrayQueue::new(1));
        let after = shared
            .slots
            .iter()
            .map(|s| s.pushed.load(Ordering::Acquire))
            .collect();
        shared.controls.push(QueuedControl {
            control,
            result: Arc::clone(&result),
            after,
        });
        shared.submitting.fetch_sub(1, Ordering::AcqRel);
        shared.waker.wake();
        Ok(GatewayControlHandle { result })
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> GatewayRuntimeStats {
        self.shared.stats()
    }

    /// Whether the sequencer failed.
    #[must_use]
    pub fn failed(&self) -> bool {
        self.shared.failed.load(Ordering::Acquire)
    }

    /// Stops taking orders, applies everything already submitted, and
    /// hands the gateway back. Reports not yet polled stay with their
    /// producers.
    #[must_use]
    pub fn shutdown(mut self) -> GatewayOutcome {
        self.shared.closing.store(true, Ordering::Release);
        self.shared.waker.wake();
        let joined = self.thread.take().map(JoinHandle::join);
        let (gateway, journal, failed) = match joined {
            Some(Ok((Some(g), j))) => (g, j, false),
            _ => (Gateway::new(), Vec::new(), true),
        };
        for s in self.shared.slots.iter() {
            s.waker.wake();
        }
        GatewayOutcome {
            gateway,
            journal,
            stats: self.shared.stats(),
            failed,
        }
    }
}

impl Drop for GatewayRuntime {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.shared.closing.store(true, Ordering::Release);
            self.shared.waker.wake();
            let _ = t.join();
        }
    }
}

/// The sequencer's report sink: one buffer per producer, flushed after
/// each batch.
struct Outboxes<'a> {
    shared: &'a Shared,
    bufs: Vec<Vec<GatewayReport>>,
    count: u64,
}

impl ReportSink for Outboxes<'_> {
    #[inline]
    fn report(&mut self, producer: u16, report: GatewayReport) {
        let b = &mut self.bufs[usize::from(producer)];
        if b.capacity() == 0 {
            *b = self.shared.slots[usize::from(producer)]
                .report_free
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(REPORT_BUF));
        }
        b.push(report);
    }
}

impl Outboxes<'_> {
    fn flush(&mut self) {
        for (k, b) in self.bufs.iter_mut().enumerate() {
            if b.is_empty() {
                continue;
            }
            self.count += b.len() as u64;
            let slot = &self.shared.slots[k];
            if slot.gone.load(Ordering::Acquire) {
                b.clear();
                continue;
            }
            slot.unpolled.fetch_add(1, Ordering::AcqRel);
            slot.reports.push(std::mem::take(b));
            slot.waker.wake();
        }
    }
}

/// The sequencer hands out reports after this many orders of a batch.
const FLUSH_EVERY: usize = 64;
/// Room for the reports of one flush (about 3.3 per order in a flow where
/// half the orders cross; a buffer grows when a sweep needs more).
const REPORT_BUF: usize = 8 * FLUSH_EVERY;

fn sequencer(
    shared: &Shared,
    gateway: Gateway,
    mut depth: Vec<DepthPublisher>,
) -> (Option<Gateway>, Vec<JournalEntry>) {
    shared.waker.register();
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let mut gateway = gateway;
        let cfg = shared.cfg;
        let mut journal = Vec::new();
        let mut out = Outboxes {
            shared,
            bufs: (0..cfg.max_producers).map(|_| Vec::new()).collect(),
            count: 0,
        };
        let mut touched = vec![false; gateway.instrument_count()];
        let mut idle = Idle::new();
        // Batches taken from each producer so far, and the control waiting
        // for the batches submitted before it.
        let mut popped = vec![0u64; shared.slots.len()];
        let mut pending: Option<QueuedControl> = None;
        let mut controls: Vec<(u64, GatewayControl)> = Vec::new();
        loop {
            let mut did = false;
            // Controls, in order, each once every batch submitted before it
            // was queued has been applied.
            loop {
                if pending.is_none() {
                    pending = shared.controls.pop();
                }
                let Some(q) = pending.take() else { break };
                if !q.after.iter().zip(&popped).all(|(a, p)| p >= a) {
                    pending = Some(q);
                    break;
                }
                did = true;
                let seq = gateway.next_seq();
                let _ = q
                    .result
                    .push(gateway.apply_control(seq, &q.control, &mut out));
                out.flush();
                if q.control == GatewayControl::EndOfDay {
                    // Every book may have changed.
                    for (i, d) in depth.iter_mut().enumerate() {
                        if let Some(b) = gateway.book(i as u32) {
                            d.publish_book(seq, b);
                        }
                    }
                }
                if cfg.journal {
                    controls.push((seq, q.control));
                }
            }
            for (k, slot) in shared.slots.iter().enumerate() {
                // A batch submitted after the waiting control waits for it.
                if pending.as_ref().is_some_and(|q| popped[k] >= q.after[k]) {
                    continue;
                }
                let Some(mut batch) = slot.ingress.pop() else {
                    continue;
                };
                popped[k] += 1;
                did = true;
                let t0 = Instant::now();
                let n = batch.len() as u64;
                let first = gateway.next_seq();
                // Reports leave every FLUSH_EVERY orders, so the first
                // orders of a long batch are not answered only after its
                // last.
                let mut at = first;
                for part in batch.chunks(FLUSH_EVERY) {
                    gateway.apply_batch(k as u16, at, part, &mut out);
                    at += part.len() as u64;
                    out.flush();
                }
                if !depth.is_empty() {
                    for o in &batch {
                        if let Some(t) = touched.get_mut(o.instrument as usize) {
                            *t = true;
                        }
                        if o.kind == super::OrderKind::Cancel as u8 {
                            if let Some(v) = gateway.order(o.order) {
                                touched[v.instrument as usize] = true;
                            }
                        }
                    }
                    let last = first + n - 1;
                    for (i, t) in touched.iter_mut().enumerate() {
                        if std::mem::take(t) {
                            if let Some(b) = gateway.book(i as u32) {
                                depth[i].publish_book(last, b);
                            }
                        }
                    }
                }
                if cfg.journal {
                    journal.push(JournalEntry {
                        controls: std::mem::take(&mut controls),
                        producer: k as u16,
                        first_seq: first,
                        orders: batch,
                    });
                } else {
                    batch.clear();
                    let _ = slot.free.push(batch);
                }
                shared.orders.fetch_add(n, Ordering::Relaxed);
                shared.batches.fetch_add(1, Ordering::Relaxed);
                shared.reports.store(out.count, Ordering::Relaxed);
                shared.busy_ns.fetch_add(
                    u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX),
                    Ordering::Relaxed,
                );
            }
            if did {
                idle.reset();
                continue;
            }
            if shared.closing.load(Ordering::Acquire)
                && shared.submitting.load(Ordering::Acquire) == 0
                && pending.is_none()
                && shared.controls.is_empty()
                && shared.slots.iter().all(|s| s.ingress.is_empty())
            {
                break;
            }
            idle.wait_on(&shared.waker, || {
                shared.closing.load(Ordering::Acquire)
                    || !shared.controls.is_empty()
                    || shared.slots.iter().any(|s| !s.ingress.is_empty())
            });
        }
        if !controls.is_empty() {
            journal.push(JournalEntry {
                controls,
                producer: 0,
                first_seq: gateway.next_seq(),
                orders: Vec::new(),
            });
        }
        gateway.set_event_publisher(None);
        (gateway, journal)
    }));
    match run {
        Ok((g, j)) => (Some(g), j),
        Err(_) => {
            shared.failed.store(true, Ordering::Release);
            (None, Vec::new())
        }
    }
}

impl GatewayProducer {
    fn slot(&self) -> &Slot {
        &self.shared.slots[self.index]
    }

    /// This producer's index (the `producer` of its journal entries).
    #[must_use]
    pub fn index(&self) -> usize {
        self.index
    }

    /// Submits `orders` (in batches of at most [`GatewayConfig::batch`]).
    /// All or nothing: either every batch went in, or none did.
    ///
    /// # Errors
    /// [`GatewaySubmitError::Full`] (poll, then retry),
    /// [`GatewaySubmitError::Closed`] or [`GatewaySubmitError::TooLarge`];
    /// nothing was submitted.
    pub fn submit(&mut self, orders: &[GatewayOrder]) -> Result<(), GatewaySubmitError> {
        if orders.is_empty() {
            return Ok(());
        }
        let shared = &*self.shared;
        let slot = &shared.slots[self.index];
        shared.submitting.fetch_add(1, Ordering::AcqRel);
        let r = (|| {
            if shared.closing.load(Ordering::Acquire) {
                return Err(GatewaySubmitError::Closed);
            }
            let batches = orders.len().div_ceil(shared.cfg.batch);
            if batches > slot.ingress.capacity() {
                return Err(GatewaySubmitError::TooLarge);
            }
            // Only this producer pushes into its queue, so room seen here
            // is still there below.
            if slot.ingress.capacity() - slot.ingress.len() < batches
                || slot.unpolled.load(Ordering::Acquire) >= shared.cfg.report_batches
            {
                return Err(GatewaySubmitError::Full);
            }
            for chunk in orders.chunks(shared.cfg.batch) {
                let mut b = slot
                    .free
                    .pop()
                    .unwrap_or_else(|| Vec::with_capacity(shared.cfg.batch));
                b.extend_from_slice(chunk);
                if slot.ingress.push(b).is_err() {
                    // Cannot happen (room checked above, one pusher).
                    return Err(GatewaySubmitError::Full);
                }
                slot.pushed.fetch_add(1, Ordering::AcqRel);
            }
            Ok(())
        })();
        shared.submitting.fetch_sub(1, Ordering::AcqRel);
        if r.is_ok() {
            shared.waker.wake();
        }
        r
    }

    /// Submits `orders`, waiting while the queue is full and handing every
    /// report that arrives meanwhile to `on_report`.
    ///
    /// # Errors
    /// [`GatewaySubmitError::Closed`]: the runtime is shutting down; the
    /// orders not yet in were not submitted.
    pub fn submit_wait(
        &mut self,
        orders: &[GatewayOrder],
        mut on_report: impl FnMut(&GatewayReport),
    ) -> Result<(), GatewaySubmitError> {
        let cap = self.shared.cfg.batch * self.shared.cfg.queue_batches;
        for part in orders.chunks(cap) {
            let mut idle = Idle::new();
            loop {
                match self.submit(part) {
                    Ok(()) => break,
                    Err(GatewaySubmitError::Full) => {
                        if self.poll(&mut on_report) == 0 {
                            idle.wait();
                        } else {
                            idle.reset();
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Hands every report that has arrived to `f`; returns how many.
    pub fn poll(&mut self, mut f: impl FnMut(&GatewayReport)) -> usize {
        let slot = self.slot();
        let mut n = 0;
        while let Some(mut b) = slot.reports.pop() {
            slot.unpolled.fetch_sub(1, Ordering::AcqRel);
            n += b.len();
            for r in &b {
                f(r);
            }
            b.clear();
            let _ = slot.report_free.push(b);
        }
        n
    }

    /// Like [`GatewayProducer::poll`], waiting up to `timeout` for the
    /// first report.
    pub fn poll_timeout(&mut self, timeout: Duration, mut f: impl FnMut(&GatewayReport)) -> usize {
        let n = self.poll(&mut f);
        if n > 0 || !self.wait(timeout) {
            return n;
        }
        self.poll(f)
    }

    /// Waits up to `timeout` until a report is there to poll; returns
    /// whether one is.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let slot = &self.shared.slots[self.index];
        slot.waker.register();
        let mut idle = Idle::new();
        while slot.reports.is_empty() {
            if Instant::now() >= deadline {
                return false;
            }
            idle.wait_on(&slot.waker, || !slot.reports.is_empty());
        }
        true
    }

    /// Orders submitted but not yet sequenced (in batches).
    #[must_use]
    pub fn queued_batches(&self) -> usize {
        self.slot().ingress.len()
    }
}

impl Drop for GatewayProducer {
    fn drop(&mut self) {
        // Reports about this producer's orders are discarded from now on.
        // The slot is not handed to another producer: reports about the
        // orders still resting would reach the wrong one.
        let slot = &self.shared.slots[self.index];
        slot.gone.store(true, Ordering::Release);
        while slot.reports.pop().is_some() {
            slot.unpolled.fetch_sub(1, Ordering::AcqRel);
        }
    }
}
