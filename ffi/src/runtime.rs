//! The concurrent runtime (`kbk_runtime`, DESIGN 2.3/2.4): shards made of
//! existing `kbk_exchange`/`kbk_register`/`kbk_ledger` handles run on
//! their own threads; producers (`kbk_producer`, one per thread) submit
//! signed requests as wire bytes and get batch-signed answers; the host
//! reads best bid/ask and depth lock-free, follows the market event stream
//! (`kbk_subscriber`) and takes the notifications for other parties.

use crate::book::{event_to_c, kbk_event, kbk_level, level_to_c};
use crate::crypto::{decimal, kbk_order_request, order_from_c, side};
use crate::exchange::{
    flatten, kbk_exchange, kbk_ledger, kbk_outgoing, settle_err, ExchangeHandle, LedgerHandle,
};
use crate::identity::identity_err;
use crate::message::{kbk_message, new_message, typed_bytes, wire_err};
use crate::register::{kbk_register, RegisterHandle};
use crate::status::*;
use core::ffi::{c_char, c_void};
use engine::crypto::{Message, Signed};
use engine::exchange::CancelRequest;
use engine::identity::{Attestation, Revocation};
use engine::register::RegisterDoc;
use engine::runtime::marketdata::{DepthSnapshot, Poll, Subscriber};
use engine::runtime::{
    Control, ControlError, ControlHandle, Notification, NotificationSink, Producer, Request,
    Response, ResponseSink, Runtime, RuntimeConfig, RuntimeStats, Shard, SubmitError,
};
use std::cell::Cell;
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, RwLockReadGuard, TryLockError};
use std::time::Duration;

/// `kbk_runtime_config.notifications`: signed and counted, then dropped.
pub const KBK_NOTIFY_DISCARD: u32 = 0;
/// Kept in a bounded queue read with `kbk_runtime_next_notification`.
pub const KBK_NOTIFY_QUEUE: u32 = 1;
/// Handed to `kbk_runtime_config.notify` on the signing thread.
pub const KBK_NOTIFY_CALLBACK: u32 = 2;

/// `kbk_outgoing.kind` of a runtime notification: a certificate the
/// register made at a transfer (the message), for its holder `user`.
pub const KBK_OUT_REGISTER_CERTIFICATE: u32 = 7;
/// An ID-list delta of the register (the message).
pub const KBK_OUT_ID_LIST_DELTA: u32 = 8;

/// Called with each notification item on the runtime's signing thread
/// (keep it short): the item and its message (NULL for
/// `KBK_OUT_RELEASED`), both valid only during the call (copy the bytes
/// with `kbk_message_bytes` to keep them). It must not call
/// `kbk_runtime_shutdown` or `kbk_runtime_free`.
pub type kbk_notification_callback = Option<
    extern "C" fn(userdata: *mut c_void, item: *const kbk_outgoing, message: *const kbk_message),
>;

/// Called with each response of a producer on the runtime's signing
/// thread (keep it short): the response and its answer (NULL in
/// trusted-gateway mode), both valid only during the call. It must not
/// call `kbk_runtime_shutdown` or `kbk_runtime_free`.
pub type kbk_response_callback = Option<
    extern "C" fn(userdata: *mut c_void, response: *const kbk_response, answer: *const kbk_message),
>;

/// How a runtime is built (`kbk_runtime_config_default` fills it in).
/// Every count and capacity is at least 1.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_runtime_config {
    /// Verification worker threads (1..=64; unused in trusted-gateway mode).
    pub verify_workers: usize,
    /// Capacity of each worker's ingress queue (up to 2^24).
    pub ingress_capacity: usize,
    /// Capacity of each shard's sequencer queue (up to 2^24).
    pub shard_capacity: usize,
    /// Capacity of the signing stage's queue (up to 2^24).
    pub sign_capacity: usize,
    /// Most requests verified in one batch (up to 2^16).
    pub verify_batch: usize,
    /// Most requests whose messages share one batch signature (up to 2^16).
    pub sign_batch: usize,
    /// How long a verification worker waits to fill a batch, in
    /// nanoseconds (0: never; at most one second).
    pub verify_window_ns: u64,
    /// How long the signing stage waits to fill a batch (as above).
    pub sign_window_ns: u64,
    /// Price levels published per side and instrument (up to 1024).
    pub depth: usize,
    /// Capacity of each shard's market event ring (up to 2^24).
    pub event_capacity: usize,
    /// Most producers over the runtime's life (up to 2^16).
    pub max_producers: usize,
    /// `KBK_NOTIFY_QUEUE`: how many items the queue holds before the
    /// signing stage waits for the host (up to 2^24). Keep draining it
    /// (`kbk_runtime_next_notification`, from any thread): while it is full
    /// no answer is delivered either. Shutdown never waits for it.
    pub notification_capacity: usize,
    /// `KBK_NOTIFY_CALLBACK`: the callback (required then, else ignored);
    /// it and `notify_userdata` must stay valid until
    /// `kbk_runtime_shutdown` or `kbk_runtime_free` returns.
    pub notify: kbk_notification_callback,
    /// Passed to `notify`.
    pub notify_userdata: *mut c_void,
    /// `KBK_NOTIFY_*`.
    pub notifications: u32,
    /// 1: trusted-gateway mode (no signature checked, answers unsigned:
    /// responses carry no message, see `kbk_response`).
    pub trusted_gateway: u8,
    /// 1: the signing stage has a thread of its own; 0: the verification
    /// workers run it between their batches (fewer threads than cores on
    /// a small machine; callbacks then also run on those threads, or on
    /// the thread calling `kbk_runtime_shutdown`). Trusted-gateway mode
    /// always has the thread.
    pub signing_thread: u8,
    /// 1: record each request's latency inside the runtime, from submit
    /// to its answer being ready (`kbk_runtime_take_latencies`).
    pub record_latency: u8,
    /// Zero.
    pub reserved: [u8; 1],
}

/// The runtime's counters (monotonic).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_runtime_counters {
    /// Requests taken by producers' submit calls.
    pub submitted: u64,
    /// Requests whose signature the verification stage accepted.
    pub verified: u64,
    /// Requests refused by the verification stage.
    pub refused_unverified: u64,
    /// Batch verifications run.
    pub verify_batches: u64,
    /// Batches that failed and were decided one by one.
    pub verify_fallbacks: u64,
    /// Time the verification workers spent working (summed, ns).
    pub verify_busy_ns: u64,
    /// Requests sequenced (global sequence numbers handed out).
    pub sequenced: u64,
    /// Time the sequencers spent working (summed, ns).
    pub sequence_busy_ns: u64,
    /// Messages signed by the signing stage.
    pub signed_messages: u64,
    /// Ed25519 signatures made (one per batch per key).
    pub signatures: u64,
    /// Time the signing stage spent working (ns).
    pub sign_busy_ns: u64,
    /// Responses delivered to producers.
    pub responses: u64,
    /// Notifications delivered (or discarded on request).
    pub notifications: u64,
}

fn stats_to_c(s: RuntimeStats) -> kbk_runtime_counters {
    kbk_runtime_counters {
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

/// The answer to one submitted request.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_response {
    /// The ticket `kbk_producer_submit` gave.
    pub ticket: u64,
    /// The global sequence number (when `has_sequence`; 0 means the
    /// verification stage refused it and nothing changed).
    pub sequence: u64,
    /// The reception number the answer names (0 for none).
    pub reception_number: u64,
    /// 0: accepted (the answer is a reception receipt); otherwise the
    /// error notice's refusal code (see `kbk_refusal_name`).
    pub refusal: u32,
    /// 0 or 1.
    pub has_sequence: u8,
    /// 1 when the answer is signed and given as a message; 0 in
    /// trusted-gateway mode, where answers are not signed.
    pub has_answer: u8,
    /// Zero.
    pub reserved: [u8; 2],
}

/// Best bid and ask of an instrument as last published.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_quote {
    /// Best bid price in ticks (when `has_bid`).
    pub bid_price: i64,
    /// Quantity at the best bid.
    pub bid_qty: u64,
    /// Best ask price in ticks (when `has_ask`).
    pub ask_price: i64,
    /// Quantity at the best ask.
    pub ask_qty: u64,
    /// The global sequence number of the last request reflected (0
    /// before the first publication).
    pub seq: u64,
    /// How many times this book was published so far.
    pub version: u64,
    /// Instrument.
    pub instrument: u32,
    /// 0 or 1.
    pub has_bid: u8,
    /// 0 or 1.
    pub has_ask: u8,
    /// Zero.
    pub reserved: [u8; 2],
}

/// One entry of a shard's market event stream.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_market_event {
    /// Position in the shard's stream (0, 1, 2, ...).
    pub seq: u64,
    /// The book event.
    pub event: kbk_event,
    /// The instrument whose book emitted it.
    pub instrument: u32,
    /// Zero.
    pub reserved: u32,
}

// ---- callbacks ----------------------------------------------------------------

/// A C callback's `userdata`, carried to the runtime's threads.
#[derive(Clone, Copy)]
struct UserData(*mut c_void);

// SAFETY: the header requires callbacks and their `userdata` to be usable
// from the runtime's threads (they are called on the signing thread); this
// library never dereferences the pointer, it only hands it back to C.
unsafe impl Send for UserData {}
// SAFETY: as above.
unsafe impl Sync for UserData {}

impl UserData {
    fn get(self) -> *mut c_void {
        self.0
    }
}

thread_local! {
    /// Set on the signing thread while a C callback runs, so shutdown from
    /// inside it is refused instead of waiting for itself.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

/// Runs one delivery to C on the signing thread: marks the thread as in a
/// callback, and keeps a panic of this library's part from reaching the
/// runtime's thread (the item is then lost, nothing else).
fn in_callback(f: impl FnOnce()) {
    IN_CALLBACK.with(|c| c.set(true));
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    IN_CALLBACK.with(|c| c.set(false));
}

fn not_in_callback() -> Res {
    if IN_CALLBACK.with(Cell::get) {
        return Err(Fail::new(
            KBK_STATUS_RUNTIME_IN_CALLBACK,
            "the runtime would wait for its own callback",
        ));
    }
    Ok(())
}

type Item = (kbk_outgoing, Option<Vec<u8>>);

/// A notification flattened into outbox items (see `kbk_outgoing`).
fn flatten_note(n: Notification, q: &mut VecDeque<Item>) {
    match n {
        Notification::Exchange(o) => flatten(o, q),
        Notification::Register(RegisterDoc::Certificate(c)) => q.push_back((
            kbk_outgoing {
                user: c.body.holder,
                kind: KBK_OUT_REGISTER_CERTIFICATE,
                ..kbk_outgoing::default()
            },
            Some(c.to_bytes()),
        )),
        Notification::Register(RegisterDoc::Delta(d)) => q.push_back((
            kbk_outgoing {
                kind: KBK_OUT_ID_LIST_DELTA,
                ..kbk_outgoing::default()
            },
            Some(d.to_bytes()),
        )),
    }
}

/// A message handle for the duration of a callback (NULL when none).
struct Temp(*mut kbk_message);

impl Temp {
    fn new(bytes: Option<Vec<u8>>) -> Self {
        Temp(
            bytes
                .and_then(|b| new_message(b).ok())
                .unwrap_or(core::ptr::null_mut()),
        )
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        crate::message::kbk_message_free(self.0);
    }
}

/// The notification queue of `KBK_NOTIFY_QUEUE`, owned by the handle so it
/// stays readable after shutdown. When full, the signing stage waits
/// (back-pressure) until the host takes items, except during shutdown.
#[derive(Debug)]
struct NoteQueue {
    items: Mutex<VecDeque<Item>>,
    capacity: usize,
    closing: AtomicBool,
}

impl NoteQueue {
    fn push(&self, n: Notification) {
        let mut add = VecDeque::new();
        flatten_note(n, &mut add);
        loop {
            {
                let mut q = self.items.lock().unwrap_or_else(PoisonError::into_inner);
                if q.len() < self.capacity || self.closing.load(Ordering::Acquire) {
                    q.extend(add);
                    return;
                }
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    fn pop(&self) -> Option<Item> {
        self.items
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
    }
}

fn response_to_c(r: &Response) -> (kbk_response, Option<Vec<u8>>) {
    fn bytes<T: Message>(m: &Signed<T>) -> Option<Vec<u8>> {
        (!m.is_pending()).then(|| m.to_bytes())
    }
    let (reception_number, refusal, b) = match &r.answer {
        Ok(rc) => (rc.body.reception_number, 0, bytes(rc)),
        Err(n) => (n.body.reception_number, u32::from(n.body.reason), bytes(n)),
    };
    (
        kbk_response {
            ticket: r.ticket,
            sequence: r.sequence.unwrap_or(0),
            reception_number,
            refusal,
            has_sequence: u8::from(r.sequence.is_some()),
            has_answer: u8::from(b.is_some()),
            reserved: [0; 2],
        },
        b,
    )
}

// ---- the runtime --------------------------------------------------------------

/// A running runtime (or one that was shut down: it then answers
/// `KBK_STATUS_RUNTIME_CLOSED`, except for `kbk_runtime_stats`, which gives
/// the final counters, and `kbk_runtime_next_notification`, which still
/// gives what is queued).
///
/// Thread safety: thread-safe (`Sync`): every call may be made from any
/// thread at the same time, except `kbk_runtime_free`, which must be the
/// last call on it.
#[derive(Debug)]
pub struct kbk_runtime {
    _private: [u8; 0],
}

enum State {
    Running(Runtime),
    Stopped(RuntimeStats),
}

#[repr(C)]
struct RuntimeHandle {
    header: Header,
    state: RwLock<State>,
    /// The addresses of the lent exchange, register and ledger handles, per
    /// shard (shutdown takes the same ones back).
    lent: Vec<[usize; 3]>,
    notes: Option<Arc<NoteQueue>>,
    /// Trusted-gateway mode.
    trusted: bool,
    /// Latencies taken from the runtime and not yet handed to C.
    latencies: Mutex<VecDeque<u64>>,
}

impl Handle for RuntimeHandle {
    const MAGIC: u64 = 0x6b62_6b5f_7275_6e74; // "kbk_runt"
    fn header(&self) -> &Header {
        &self.header
    }
}

impl Drop for RuntimeHandle {
    fn drop(&mut self) {
        // Dropping a running runtime shuts it down: a full notification
        // queue must not make that wait.
        if let Some(n) = &self.notes {
            n.closing.store(true, Ordering::Release);
        }
    }
}

impl RuntimeHandle {
    /// The state, for reading. On the runtime's own (signing) thread, in a
    /// callback, a shutdown in progress (the only writer, waiting for that
    /// thread) answers `KBK_STATUS_RUNTIME_CLOSED` instead of deadlocking.
    fn read(&self) -> Res<RwLockReadGuard<'_, State>> {
        if IN_CALLBACK.with(Cell::get) {
            return match self.state.try_read() {
                Ok(g) => Ok(g),
                Err(TryLockError::Poisoned(p)) => Ok(p.into_inner()),
                Err(TryLockError::WouldBlock) => Err(closed()),
            };
        }
        Ok(self.state.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn running<R>(&self, f: impl FnOnce(&Runtime) -> Res<R>) -> Res<R> {
        match &*self.read()? {
            State::Running(rt) => f(rt),
            State::Stopped(_) => Err(closed()),
        }
    }
}

impl RuntimeHandle {
    /// The published depth of `instrument`, read without locks.
    fn snapshot(&self, instrument: u32) -> Res<DepthSnapshot> {
        self.running(|rt| {
            rt.depth_reader(instrument)
                .map(|r| r.read())
                .ok_or_else(|| Fail::new(KBK_STATUS_NOT_FOUND, "instrument not listed"))
        })
    }
}

fn closed() -> Fail {
    Fail::new(KBK_STATUS_RUNTIME_CLOSED, "the runtime was shut down")
}

#[inline]
fn rt_ref(rt: *const kbk_runtime, f: impl FnOnce(&RuntimeHandle) -> Res) -> kbk_status {
    with_ref(rt.cast::<RuntimeHandle>(), f)
}

const MAX_CAPACITY: usize = 1 << 24;

fn count(v: usize, max: usize, what: &str) -> Res<usize> {
    if v == 0 || v > max {
        return Err(Fail::arg(format!("{what} must be 1..={max}, got {v}")));
    }
    Ok(v)
}

fn window(ns: u64, what: &str) -> Res<Duration> {
    if ns > 1_000_000_000 {
        return Err(Fail::arg(format!(
            "{what} must be at most 1 s, got {ns} ns"
        )));
    }
    Ok(Duration::from_nanos(ns))
}

/// The engine's configuration from C's (range-checked), and the
/// notification queue when there is one.
// The struct update keeps the build going when the engine adds a setting
// (it then has its default until the C configuration gets it).
#[allow(clippy::needless_update)]
fn config_from(c: &kbk_runtime_config) -> Res<(RuntimeConfig, Option<Arc<NoteQueue>>)> {
    if c.reserved != [0; 1] {
        return Err(Fail::arg("reserved must be zero"));
    }
    let mut notes = None;
    let notifications = match c.notifications {
        KBK_NOTIFY_DISCARD => NotificationSink::Discard,
        KBK_NOTIFY_QUEUE => {
            let q = Arc::new(NoteQueue {
                items: Mutex::new(VecDeque::new()),
                capacity: count(
                    c.notification_capacity,
                    MAX_CAPACITY,
                    "notification_capacity",
                )?,
                closing: AtomicBool::new(false),
            });
            notes = Some(q.clone());
            NotificationSink::Callback(Box::new(move |n| q.push(n)))
        }
        KBK_NOTIFY_CALLBACK => {
            let cb = c
                .notify
                .ok_or_else(|| Fail::null("notify (with KBK_NOTIFY_CALLBACK)"))?;
            let ud = UserData(c.notify_userdata);
            NotificationSink::Callback(Box::new(move |n| {
                let mut items = VecDeque::new();
                flatten_note(n, &mut items);
                for (item, bytes) in items {
                    in_callback(|| {
                        let m = Temp::new(bytes);
                        cb(ud.get(), &item, m.0);
                    });
                }
            }))
        }
        v => return Err(Fail::arg(format!("notifications must be 0..=2, got {v}"))),
    };
    let cfg = RuntimeConfig {
        verify_workers: count(c.verify_workers, 64, "verify_workers")?,
        ingress_capacity: count(c.ingress_capacity, MAX_CAPACITY, "ingress_capacity")?,
        shard_capacity: count(c.shard_capacity, MAX_CAPACITY, "shard_capacity")?,
        sign_capacity: count(c.sign_capacity, MAX_CAPACITY, "sign_capacity")?,
        verify_batch: count(c.verify_batch, 1 << 16, "verify_batch")?,
        sign_batch: count(c.sign_batch, 1 << 16, "sign_batch")?,
        verify_window: window(c.verify_window_ns, "verify_window_ns")?,
        sign_window: window(c.sign_window_ns, "sign_window_ns")?,
        trusted_gateway: flag(c.trusted_gateway, "trusted_gateway")?,
        signing_thread: flag(c.signing_thread, "signing_thread")?,
        record_latency: flag(c.record_latency, "record_latency")?,
        notifications,
        journal: false,
        depth: count(c.depth, 1024, "depth")?,
        event_capacity: count(c.event_capacity, MAX_CAPACITY, "event_capacity")?,
        max_producers: count(c.max_producers, 1 << 16, "max_producers")?,
        ..RuntimeConfig::default()
    };
    Ok((cfg, notes))
}

impl Default for kbk_runtime_config {
    /// The engine's defaults; notifications discarded.
    fn default() -> Self {
        let d = RuntimeConfig::default();
        let ns = |w: Duration| u64::try_from(w.as_nanos()).unwrap_or(u64::MAX);
        kbk_runtime_config {
            verify_workers: d.verify_workers,
            ingress_capacity: d.ingress_capacity,
            shard_capacity: d.shard_capacity,
            sign_capacity: d.sign_capacity,
            verify_batch: d.verify_batch,
            sign_batch: d.sign_batch,
            verify_window_ns: ns(d.verify_window),
            sign_window_ns: ns(d.sign_window),
            depth: d.depth,
            event_capacity: d.event_capacity,
            max_producers: d.max_producers,
            notification_capacity: 4096,
            notify: None,
            notify_userdata: core::ptr::null_mut(),
            notifications: KBK_NOTIFY_DISCARD,
            trusted_gateway: u8::from(d.trusted_gateway),
            signing_thread: u8::from(d.signing_thread),
            record_latency: u8::from(d.record_latency),
            reserved: [0; 1],
        }
    }
}

/// The default configuration into `*out` (notifications discarded; set
/// `notifications` to `KBK_NOTIFY_QUEUE` or `KBK_NOTIFY_CALLBACK` to get
/// them).
#[no_mangle]
pub extern "C" fn kbk_runtime_config_default(out: *mut kbk_runtime_config) -> kbk_status {
    guard(|| {
        crate::status::out(out, "out")?.set(kbk_runtime_config::default());
        Ok(())
    })
}

/// Starts a runtime with `n` shards: shard `i` is `exchanges[i]` with
/// `registers[i]` (the register the exchange was made with) and
/// `ledgers[i]`. The runtime takes their contents: until
/// `kbk_runtime_shutdown` gives them back, every call on those handles
/// answers `KBK_STATUS_IN_USE` (freeing them is allowed, but then they
/// cannot be given back). Each exchange must not have received orders yet,
/// and no instrument may be in two shards (`KBK_STATUS_RUNTIME_START`); a
/// handle given twice, or already lent, is refused. On any failure every
/// handle keeps its contents. Free the runtime with `kbk_runtime_free`.
#[no_mangle]
pub extern "C" fn kbk_runtime_start(
    config: *const kbk_runtime_config,
    exchanges: *const *mut kbk_exchange,
    registers: *const *mut kbk_register,
    ledgers: *const *mut kbk_ledger,
    n: usize,
    out: *mut *mut kbk_runtime,
) -> kbk_status {
    guard(|| {
        let o = crate::status::out(out, "out")?;
        let c = req(config, "config")?;
        let ex = slice(exchanges, n, "exchanges")?;
        let reg = slice(registers, n, "registers")?;
        let led = slice(ledgers, n, "ledgers")?;
        if n == 0 {
            return Err(Fail::new(KBK_STATUS_RUNTIME_START, "no shard"));
        }
        if n > 256 {
            return Err(Fail::arg(format!("at most 256 shards, got {n}")));
        }
        let (cfg, notes) = config_from(c)?;
        let trusted = cfg.trusted_gateway;
        // Exclusive access to every handle first (a handle given twice is
        // refused here), then the engine's start checks, then the taking:
        // a refused start leaves every handle as it was.
        let mut held = Vec::with_capacity(n);
        for i in 0..n {
            held.push((
                exclusive(ex[i].cast::<ExchangeHandle>())?,
                exclusive(reg[i].cast::<RegisterHandle>())?,
                exclusive(led[i].cast::<LedgerHandle>())?,
            ));
        }
        let mut instruments = HashSet::new();
        for (k, (e, _, _)) in held.iter_mut().enumerate() {
            let e = &e.get().ex;
            if e.stats().orders != 0 {
                return Err(Fail::new(
                    KBK_STATUS_RUNTIME_START,
                    format!("shard {k}'s exchange has received orders"),
                ));
            }
            for i in e.instruments() {
                if !instruments.insert(i) {
                    return Err(Fail::new(
                        KBK_STATUS_RUNTIME_START,
                        format!("instrument {i} is in two shards"),
                    ));
                }
            }
        }
        let lent = held
            .iter()
            .map(|(e, r, l)| [e.addr(), r.addr(), l.addr()])
            .collect();
        let mut shards = Vec::with_capacity(n);
        for (e, r, l) in &mut held {
            let (Some(exchange), Some(register), Some(ledger)) =
                (e.get().ex.take(), r.get().reg.take(), l.get().ledger.take())
            else {
                unreachable!("a handle that is not lent has its contents");
            };
            shards.push(Shard {
                exchange,
                register,
                ledger,
            });
        }
        match Runtime::start(cfg, shards) {
            Ok(rt) => {
                for (e, r, l) in &mut held {
                    e.set_lent(true);
                    r.set_lent(true);
                    l.set_lent(true);
                }
                o.set(
                    into_raw(RuntimeHandle {
                        header: Header::new(RuntimeHandle::MAGIC),
                        state: RwLock::new(State::Running(rt)),
                        lent,
                        notes,
                        trusted,
                        latencies: Mutex::new(VecDeque::new()),
                    })
                    .cast::<kbk_runtime>(),
                );
                Ok(())
            }
            // The checks above are the engine's: a refusal here means the
            // engine changed its rules, and the shards are gone with it.
            Err(e) => panic!("runtime refused to start after the checks: {e}"),
        }
    })
}

/// Stops taking requests, drains everything in flight (every accepted
/// request gets its response; queued notifications stay readable), joins
/// the runtime's threads, and gives the shards' contents back to the same
/// handles `kbk_runtime_start` took them from (same order, same `n`),
/// synchronous again. The final counters go to `*out_stats` (after
/// `KBK_STATUS_RUNTIME_SHARD_FAILED`, read them with `kbk_runtime_stats`;
/// the failed shards' handles are poisoned). Afterwards
/// producers' submissions answer `KBK_STATUS_RUNTIME_CLOSED`. Not from a
/// runtime callback (`KBK_STATUS_RUNTIME_IN_CALLBACK`).
#[no_mangle]
pub extern "C" fn kbk_runtime_shutdown(
    runtime: *mut kbk_runtime,
    exchanges: *const *mut kbk_exchange,
    registers: *const *mut kbk_register,
    ledgers: *const *mut kbk_ledger,
    n: usize,
    out_stats: *mut kbk_runtime_counters,
) -> kbk_status {
    rt_ref(runtime, |h| {
        not_in_callback()?;
        let o = crate::status::out(out_stats, "out_stats")?;
        h.running(|_| Ok(()))?;
        let ex = slice(exchanges, n, "exchanges")?;
        let reg = slice(registers, n, "registers")?;
        let led = slice(ledgers, n, "ledgers")?;
        if n != h.lent.len() {
            return Err(Fail::arg(format!(
                "the runtime has {} shards, {n} given",
                h.lent.len()
            )));
        }
        let mut held = Vec::with_capacity(n);
        for (i, want) in h.lent.iter().enumerate() {
            let got = (
                reclaim(ex[i].cast::<ExchangeHandle>())?,
                reclaim(reg[i].cast::<RegisterHandle>())?,
                reclaim(led[i].cast::<LedgerHandle>())?,
            );
            if [got.0.addr(), got.1.addr(), got.2.addr()] != *want {
                return Err(Fail::arg(format!(
                    "shard {i}: not the handles the runtime was started with"
                )));
            }
            held.push(got);
        }
        let mut state = h.state.write().unwrap_or_else(PoisonError::into_inner);
        let State::Running(_) = &*state else {
            return Err(closed());
        };
        if let Some(q) = &h.notes {
            q.closing.store(true, Ordering::Release);
        }
        let State::Running(rt) = std::mem::replace(&mut *state, State::Stopped(Default::default()))
        else {
            unreachable!("checked above");
        };
        let outcome = rt.shutdown();
        *state = State::Stopped(outcome.stats);
        let mut back = outcome.shards.into_iter();
        for (k, (e, r, l)) in held.iter_mut().enumerate() {
            if outcome.failed_shards.contains(&k) {
                e.poison();
                r.poison();
                l.poison();
                continue;
            }
            let Some(s) = back.next() else {
                unreachable!("every shard that did not fail comes back");
            };
            e.get().ex.put(s.exchange);
            r.get().reg.put(s.register);
            l.get().ledger.put(s.ledger);
            e.set_lent(false);
            r.set_lent(false);
            l.set_lent(false);
        }
        if !outcome.failed_shards.is_empty() {
            return Err(Fail::new(
                KBK_STATUS_RUNTIME_SHARD_FAILED,
                format!("failed shards: {:?}", outcome.failed_shards),
            ));
        }
        o.set(stats_to_c(outcome.stats));
        Ok(())
    })
}

/// Whether a shard's sequencer failed (a panic in the engine: a bug) into
/// `*out` (0 or 1); the runtime then takes no more requests: shut it down
/// (`KBK_STATUS_RUNTIME_SHARD_FAILED`). `KBK_STATUS_RUNTIME_CLOSED` after
/// shutdown.
#[no_mangle]
pub extern "C" fn kbk_runtime_failed(runtime: *const kbk_runtime, out: *mut u8) -> kbk_status {
    rt_ref(runtime, |h| {
        let o = crate::status::out(out, "out")?;
        o.set(u8::from(h.running(|rt| Ok(rt.failed()))?));
        Ok(())
    })
}

/// Writes up to `cap` request latencies recorded since the last call (ns,
/// from submit to the answer being ready; with `record_latency` = 1), in
/// delivery order, into `buf`; `*out_n` is the number written (those not
/// written stay for the next call). `KBK_STATUS_RUNTIME_CLOSED` after
/// shutdown.
#[no_mangle]
pub extern "C" fn kbk_runtime_take_latencies(
    runtime: *const kbk_runtime,
    buf: *mut u64,
    cap: usize,
    out_n: *mut usize,
) -> kbk_status {
    rt_ref(runtime, |h| {
        let fresh = h.running(|rt| Ok(rt.take_latencies()))?;
        let mut q = h.latencies.lock().unwrap_or_else(PoisonError::into_inner);
        q.extend(fresh);
        let mut dst = slice_mut(buf, cap, "buf")?;
        let o = crate::status::out(out_n, "out_n")?;
        let n = dst.len().min(q.len());
        for (i, v) in q.drain(..n).enumerate() {
            dst.set(i, v);
        }
        o.set(n);
        Ok(())
    })
}

/// Frees a runtime; NULL is fine. A runtime still running is shut down
/// first, and its shards are dropped: the handles it took stay
/// `KBK_STATUS_IN_USE` (free them). From a runtime callback it does
/// nothing (the runtime would wait for itself).
#[no_mangle]
pub extern "C" fn kbk_runtime_free(runtime: *mut kbk_runtime) {
    if guard(not_in_callback) == KBK_STATUS_OK {
        free(runtime.cast::<RuntimeHandle>());
    }
}

/// Moves the exchange clock forward to `now` (it never goes back).
#[no_mangle]
pub extern "C" fn kbk_runtime_set_time(runtime: *const kbk_runtime, now: u64) -> kbk_status {
    rt_ref(runtime, |h| {
        h.running(|rt| {
            rt.set_time(now);
            Ok(())
        })
    })
}

/// The exchange clock into `*out`.
#[no_mangle]
pub extern "C" fn kbk_runtime_time(runtime: *const kbk_runtime, out: *mut u64) -> kbk_status {
    rt_ref(runtime, |h| {
        let o = crate::status::out(out, "out")?;
        o.set(h.running(|rt| Ok(rt.time()))?);
        Ok(())
    })
}

/// The counters so far into `*out` (the final ones after shutdown).
#[no_mangle]
pub extern "C" fn kbk_runtime_stats(
    runtime: *const kbk_runtime,
    out: *mut kbk_runtime_counters,
) -> kbk_status {
    rt_ref(runtime, |h| {
        let o = crate::status::out(out, "out")?;
        let s = match &*h.read()? {
            State::Running(rt) => rt.stats(),
            State::Stopped(s) => *s,
        };
        o.set(stats_to_c(s));
        Ok(())
    })
}

/// The best bid and ask of `instrument` as last published, read without
/// locks (`KBK_STATUS_NOT_FOUND` for an instrument no shard lists).
#[no_mangle]
pub extern "C" fn kbk_runtime_quote(
    runtime: *const kbk_runtime,
    instrument: u32,
    out: *mut kbk_quote,
) -> kbk_status {
    rt_ref(runtime, |h| {
        let o = crate::status::out(out, "out")?;
        let snap = h.snapshot(instrument)?;
        let (bp, bq) = snap.best_bid().unwrap_or((0, 0));
        let (ap, aq) = snap.best_ask().unwrap_or((0, 0));
        o.set(kbk_quote {
            bid_price: bp,
            bid_qty: bq,
            ask_price: ap,
            ask_qty: aq,
            seq: snap.seq,
            version: snap.version,
            instrument,
            has_bid: u8::from(snap.best_bid().is_some()),
            has_ask: u8::from(snap.best_ask().is_some()),
            reserved: [0; 2],
        });
        Ok(())
    })
}

/// Writes up to `cap` published price levels of `instrument`'s `side`
/// (`KBK_SIDE_*`), best first, into `levels`; `*out_n` is the number
/// written (at most the configured depth).
#[no_mangle]
pub extern "C" fn kbk_runtime_depth(
    runtime: *const kbk_runtime,
    instrument: u32,
    side_v: u8,
    levels: *mut kbk_level,
    cap: usize,
    out_n: *mut usize,
) -> kbk_status {
    rt_ref(runtime, |h| {
        let s = side(side_v)?;
        let snap = h.snapshot(instrument)?;
        let ls = if s as u8 == 0 { snap.bids } else { snap.asks };
        fill(levels, cap, out_n, "levels", ls.into_iter().map(level_to_c))
    })
}

/// Takes the next notification item (queue mode) into `*out` and its
/// message (a new handle the caller frees; NULL for `KBK_OUT_RELEASED`)
/// into `*out_message`. Items are those of `kbk_exchange_next_outgoing`
/// plus `KBK_OUT_REGISTER_CERTIFICATE` and `KBK_OUT_ID_LIST_DELTA`.
/// `KBK_STATUS_NOT_FOUND` when none is waiting; `KBK_STATUS_INVALID_ARGUMENT`
/// when the runtime was not configured with `KBK_NOTIFY_QUEUE`. Still works
/// after shutdown (for what was queued).
#[no_mangle]
pub extern "C" fn kbk_runtime_next_notification(
    runtime: *const kbk_runtime,
    out: *mut kbk_outgoing,
    out_message: *mut *mut kbk_message,
) -> kbk_status {
    rt_ref(runtime, |h| {
        let o = crate::status::out(out, "out")?;
        let om = crate::status::out(out_message, "out_message")?;
        let q = h
            .notes
            .as_ref()
            .ok_or_else(|| Fail::arg("notifications are not queued (KBK_NOTIFY_QUEUE)"))?;
        let (item, bytes) = q
            .pop()
            .ok_or_else(|| Fail::new(KBK_STATUS_NOT_FOUND, "no notification waiting"))?;
        let m = match bytes {
            Some(b) => new_message(b)?,
            None => core::ptr::null_mut(),
        };
        o.set(item);
        om.set(m);
        Ok(())
    })
}

// ---- producers ----------------------------------------------------------------

/// A producer: submits requests to a runtime and receives their answers.
/// Make one per submitting thread.
///
/// Thread safety: `Send`, not `Sync`: use from one thread at a time (it
/// may move between threads). It stays valid after the runtime's shutdown
/// or free (submissions then answer `KBK_STATUS_RUNTIME_CLOSED`).
#[derive(Debug)]
pub struct kbk_producer {
    _private: [u8; 0],
}

#[repr(C)]
struct ProducerHandle {
    header: Header,
    p: Producer,
    callback: bool,
    /// Its runtime is in trusted-gateway mode.
    trusted: bool,
}

impl Handle for ProducerHandle {
    const MAGIC: u64 = 0x6b62_6b5f_7072_6f64; // "kbk_prod"
    fn header(&self) -> &Header {
        &self.header
    }
}

#[inline]
fn prod_mut(p: *mut kbk_producer, f: impl FnOnce(&mut ProducerHandle) -> Res) -> kbk_status {
    with_mut(p.cast::<ProducerHandle>(), f)
}

/// A new producer of `runtime` with at most `capacity` requests in flight
/// (1..=2^20; its back-pressure credit) into `*out`. With `callback` NULL
/// the responses queue up for `kbk_producer_try_recv`; otherwise each goes
/// to `callback(userdata, ...)` on the runtime's signing thread.
/// `KBK_STATUS_RUNTIME_NO_PRODUCER` when the configured maximum was made.
/// Free it with `kbk_producer_free`.
#[no_mangle]
pub extern "C" fn kbk_runtime_producer_new(
    runtime: *const kbk_runtime,
    capacity: usize,
    callback: kbk_response_callback,
    userdata: *mut c_void,
    out: *mut *mut kbk_producer,
) -> kbk_status {
    rt_ref(runtime, |h| {
        let o = crate::status::out(out, "out")?;
        let capacity = count(capacity, 1 << 20, "capacity")?;
        let sink = match callback {
            None => ResponseSink::Queue,
            Some(cb) => {
                let ud = UserData(userdata);
                ResponseSink::Callback(Box::new(move |r| {
                    in_callback(|| {
                        let (c, bytes) = response_to_c(&r);
                        let m = Temp::new(bytes);
                        cb(ud.get(), &c, m.0);
                    });
                }))
            }
        };
        let p = h.running(|rt| {
            rt.producer(capacity, sink).ok_or_else(|| {
                Fail::new(
                    KBK_STATUS_RUNTIME_NO_PRODUCER,
                    "max_producers were made already",
                )
            })
        })?;
        o.set(
            into_raw(ProducerHandle {
                header: Header::new(ProducerHandle::MAGIC),
                p,
                callback: callback.is_some(),
                trusted: h.trusted,
            })
            .cast::<kbk_producer>(),
        );
        Ok(())
    })
}

/// Frees a producer; NULL is fine. Responses not taken yet are dropped;
/// with a callback, responses to requests still in flight are still
/// delivered to it, so keep its `userdata` valid until
/// `kbk_runtime_shutdown` or `kbk_runtime_free` returns.
#[no_mangle]
pub extern "C" fn kbk_producer_free(producer: *mut kbk_producer) {
    free(producer.cast::<ProducerHandle>());
}

/// Submits a signed order, cancel, reduce or modify request (wire bytes);
/// its ticket (echoed by its response) into `*out_ticket`.
/// `KBK_STATUS_RUNTIME_FULL`: a queue is full or `capacity` requests are in
/// flight (take responses, then try again); `KBK_STATUS_RUNTIME_CLOSED`:
/// shut down. With either, nothing was handed over. Bytes that are not a
/// well-formed request get `KBK_STATUS_WIRE_MALFORMED` (another kind:
/// `KBK_STATUS_WIRE_WRONG_KIND`). The signature is checked by the runtime:
/// a bad one is answered with an error notice.
#[no_mangle]
pub extern "C" fn kbk_producer_submit(
    producer: *mut kbk_producer,
    bytes: *const u8,
    len: usize,
    out_ticket: *mut u64,
) -> kbk_status {
    prod_mut(producer, |h| {
        let o = crate::status::out(out_ticket, "out_ticket")?;
        let b = slice(bytes, len, "bytes")?;
        let request = Request::decode(b).map_err(|e| match e {
            engine::crypto::WireError::WrongKind => Fail::new(
                KBK_STATUS_WIRE_WRONG_KIND,
                "an order, cancel, reduce or modify request is needed",
            ),
            e => wire_err(e),
        })?;
        submit(h, request, o)
    })
}

/// Hands `request` over; its ticket into `o`.
fn submit(h: &mut ProducerHandle, request: Request, o: Out<'_, u64>) -> Res {
    match h.p.submit(request) {
        Ok(t) => {
            o.set(t);
            Ok(())
        }
        Err(SubmitError::Full(_)) => Err(Fail::new(
            KBK_STATUS_RUNTIME_FULL,
            "queue full or capacity in flight",
        )),
        Err(SubmitError::Closed(_)) => Err(closed()),
    }
}

/// A trusted request (see `kbk_producer_submit_trusted_order`).
fn submit_trusted(
    producer: *mut kbk_producer,
    out_ticket: *mut u64,
    request: impl FnOnce() -> Res<Request>,
) -> kbk_status {
    prod_mut(producer, |h| {
        let o = crate::status::out(out_ticket, "out_ticket")?;
        if !h.trusted {
            return Err(Fail::arg(
                "unsigned requests only in trusted-gateway mode (trusted_gateway = 1)",
            ));
        }
        submit(h, request()?, o)
    })
}

/// Trusted-gateway mode only (`KBK_STATUS_INVALID_ARGUMENT` otherwise): an
/// order the host authenticated itself, unsigned (as for
/// `kbk_sign_order`: a sell attaches its certificates); its ticket into
/// `*out_ticket`. FULL and CLOSED as for `kbk_producer_submit`.
#[no_mangle]
pub extern "C" fn kbk_producer_submit_trusted_order(
    producer: *mut kbk_producer,
    order: *const kbk_order_request,
    certificates: *const *const kbk_message,
    certificates_len: usize,
    out_ticket: *mut u64,
) -> kbk_status {
    submit_trusted(producer, out_ticket, || {
        order_from_c(order, certificates, certificates_len).map(Request::trusted_order)
    })
}

/// Trusted-gateway mode only: an unsigned cancel of order
/// `reception_number` for `user_id` (see
/// `kbk_producer_submit_trusted_order`).
#[no_mangle]
pub extern "C" fn kbk_producer_submit_trusted_cancel(
    producer: *mut kbk_producer,
    user_id: u64,
    reception_number: u64,
    seq: u64,
    out_ticket: *mut u64,
) -> kbk_status {
    submit_trusted(producer, out_ticket, || {
        Ok(Request::trusted_cancel(CancelRequest {
            user_id,
            reception_number,
            seq,
        }))
    })
}

/// Takes the next response (waiting up to `timeout`) into `*out` and its
/// answer into `*out_answer`.
fn recv(
    producer: *mut kbk_producer,
    timeout: Option<Duration>,
    out: *mut kbk_response,
    out_answer: *mut *mut kbk_message,
) -> kbk_status {
    prod_mut(producer, |h| {
        let o = crate::status::out(out, "out")?;
        let oa = crate::status::out(out_answer, "out_answer")?;
        if h.callback {
            return Err(Fail::arg("this producer's responses go to its callback"));
        }
        let r = match timeout {
            None => h.p.try_recv(),
            Some(t) => h.p.recv_timeout(t),
        }
        .ok_or_else(|| Fail::new(KBK_STATUS_NOT_FOUND, "no response waiting"))?;
        let (c, bytes) = response_to_c(&r);
        let m = match bytes {
            Some(b) => new_message(b)?,
            None => core::ptr::null_mut(),
        };
        o.set(c);
        oa.set(m);
        Ok(())
    })
}

/// Takes the next response, if one has arrived, into `*out` and its
/// answer (a reception receipt or error notice, batch-signed by the
/// exchange: `kbk_message_verify` with the exchange's key accepts it; a
/// new handle the caller frees; NULL in trusted-gateway mode) into
/// `*out_answer`. `KBK_STATUS_NOT_FOUND` when none is waiting;
/// `KBK_STATUS_INVALID_ARGUMENT` for a producer with a callback.
#[no_mangle]
pub extern "C" fn kbk_producer_try_recv(
    producer: *mut kbk_producer,
    out: *mut kbk_response,
    out_answer: *mut *mut kbk_message,
) -> kbk_status {
    recv(producer, None, out, out_answer)
}

/// As `kbk_producer_try_recv`, waiting up to `timeout_ns` nanoseconds (at
/// most one hour) for a response.
#[no_mangle]
pub extern "C" fn kbk_producer_recv_timeout(
    producer: *mut kbk_producer,
    timeout_ns: u64,
    out: *mut kbk_response,
    out_answer: *mut *mut kbk_message,
) -> kbk_status {
    if timeout_ns > 3_600_000_000_000 {
        return guard(|| Err(Fail::arg("timeout_ns must be at most one hour")));
    }
    recv(
        producer,
        Some(Duration::from_nanos(timeout_ns)),
        out,
        out_answer,
    )
}

/// The number of requests submitted whose response was not taken yet (for
/// a callback producer: not delivered yet) into `*out`.
#[no_mangle]
pub extern "C" fn kbk_producer_in_flight(
    producer: *mut kbk_producer,
    out: *mut usize,
) -> kbk_status {
    prod_mut(producer, |h| {
        crate::status::out(out, "out")?.set(h.p.in_flight());
        Ok(())
    })
}

// ---- market events -----------------------------------------------------------

/// A reader of one shard's market event stream (order log and trades),
/// lock-free.
///
/// Thread safety: `Send`, not `Sync`: use from one thread at a time. It
/// stays readable after the runtime's shutdown (what the ring still
/// holds).
#[derive(Debug)]
pub struct kbk_subscriber {
    _private: [u8; 0],
}

#[repr(C)]
struct SubscriberHandle {
    header: Header,
    s: Subscriber,
}

impl Handle for SubscriberHandle {
    const MAGIC: u64 = 0x6b62_6b5f_7375_6273; // "kbk_subs"
    fn header(&self) -> &Header {
        &self.header
    }
}

/// A new subscriber handle for `s`.
pub(crate) fn new_subscriber(s: Subscriber) -> *mut kbk_subscriber {
    into_raw(SubscriberHandle {
        header: Header::new(SubscriberHandle::MAGIC),
        s,
    })
    .cast::<kbk_subscriber>()
}

/// A subscriber to shard `shard`'s market events into `*out`: from the
/// next event, or with `from_oldest` = 1 from the oldest the ring still
/// holds. `KBK_STATUS_NOT_FOUND` for a shard the runtime does not have.
/// Free it with `kbk_subscriber_free`.
#[no_mangle]
pub extern "C" fn kbk_runtime_subscribe(
    runtime: *const kbk_runtime,
    shard: usize,
    from_oldest: u8,
    out: *mut *mut kbk_subscriber,
) -> kbk_status {
    rt_ref(runtime, |h| {
        let o = crate::status::out(out, "out")?;
        let oldest = flag(from_oldest, "from_oldest")?;
        let s = h.running(|rt| {
            if oldest {
                rt.subscribe_from_oldest(shard)
            } else {
                rt.subscribe(shard)
            }
            .ok_or_else(|| Fail::new(KBK_STATUS_NOT_FOUND, format!("no shard {shard}")))
        })?;
        o.set(
            into_raw(SubscriberHandle {
                header: Header::new(SubscriberHandle::MAGIC),
                s,
            })
            .cast::<kbk_subscriber>(),
        );
        Ok(())
    })
}

/// Frees a subscriber; NULL is fine.
#[no_mangle]
pub extern "C" fn kbk_subscriber_free(subscriber: *mut kbk_subscriber) {
    free(subscriber.cast::<SubscriberHandle>());
}

/// The next event into `*out`. `KBK_STATUS_NOT_FOUND`: nothing new yet;
/// `KBK_STATUS_RUNTIME_LAGGED`: the subscriber fell behind and the number
/// of events missed is in the last error (the next poll goes on with the
/// oldest event still held).
#[no_mangle]
pub extern "C" fn kbk_subscriber_poll(
    subscriber: *mut kbk_subscriber,
    out: *mut kbk_market_event,
) -> kbk_status {
    with_mut(subscriber.cast::<SubscriberHandle>(), |h| {
        let o = crate::status::out(out, "out")?;
        match h.s.poll() {
            Poll::Event(e) => {
                o.set(kbk_market_event {
                    seq: e.seq,
                    event: event_to_c(e.event),
                    instrument: e.instrument,
                    reserved: 0,
                });
                Ok(())
            }
            Poll::Empty => Err(Fail::new(KBK_STATUS_NOT_FOUND, "no new event")),
            Poll::Lagged { missed } => Err(Fail::new(
                KBK_STATUS_RUNTIME_LAGGED,
                format!("{missed} events missed"),
            )),
        }
    })
}

// ---- administration ------------------------------------------------------------

/// The outcome of an administrative operation queued on a running runtime
/// (`kbk_runtime_add_party` and the others), read with
/// `kbk_control_wait`.
///
/// Thread safety: thread-safe (`Sync`).
#[derive(Debug)]
pub struct kbk_control {
    _private: [u8; 0],
}

#[repr(C)]
struct ControlHandleC {
    header: Header,
    pending: ControlHandle,
    outcome: OnceLock<Result<(), ControlError>>,
}

impl Handle for ControlHandleC {
    const MAGIC: u64 = 0x6b62_6b5f_6374_726c; // "kbk_ctrl"
    fn header(&self) -> &Header {
        &self.header
    }
}

fn control_err(e: &ControlError) -> Fail {
    match e {
        ControlError::NoSuchShard(s) => Fail::new(KBK_STATUS_NOT_FOUND, format!("no shard {s}")),
        ControlError::Closed => closed(),
        ControlError::BadCredential(e) | ControlError::Identity(e) => identity_err(e),
        ControlError::Settlement(e) => settle_err(e),
    }
}

/// Queues `control` for shard `shard`; the handle into `out`.
fn control(
    runtime: *const kbk_runtime,
    shard: usize,
    out: *mut *mut kbk_control,
    control: impl FnOnce() -> Res<Control>,
) -> kbk_status {
    rt_ref(runtime, |h| {
        let o = crate::status::out(out, "out")?;
        let c = control()?;
        let pending = h.running(|rt| rt.control(shard, c).map_err(|e| control_err(&e)))?;
        o.set(
            into_raw(ControlHandleC {
                header: Header::new(ControlHandleC::MAGIC),
                pending,
                outcome: OnceLock::new(),
            })
            .cast::<kbk_control>(),
        );
        Ok(())
    })
}

/// Adds a party to shard `shard` while the runtime runs (or renews its
/// attestation): the attestation's wire bytes, checked against the shard's
/// CA before anything is queued (a refusal is the identity status); the
/// exchange, the register and (for an investor) the ledger learn the key,
/// in sequence with the requests: every request submitted after this call
/// returns sees it. The pending outcome into `*out` (`kbk_control_wait`;
/// free it with `kbk_control_free`).
#[no_mangle]
pub extern "C" fn kbk_runtime_add_party(
    runtime: *const kbk_runtime,
    shard: usize,
    bytes: *const u8,
    len: usize,
    out: *mut *mut kbk_control,
) -> kbk_status {
    control(runtime, shard, out, || {
        typed_bytes::<Attestation>(bytes, len).map(Control::AddParty)
    })
}

/// Applies a CA revocation (wire bytes, checked before anything is queued)
/// to shard `shard`, as `kbk_runtime_add_party`.
#[no_mangle]
pub extern "C" fn kbk_runtime_revoke(
    runtime: *const kbk_runtime,
    shard: usize,
    bytes: *const u8,
    len: usize,
    out: *mut *mut kbk_control,
) -> kbk_status {
    control(runtime, shard, out, || {
        typed_bytes::<Revocation>(bytes, len).map(Control::Revoke)
    })
}

/// Opens settlement account `account` of `owner` in shard `shard`'s
/// ledger, in sequence with the requests (as `kbk_runtime_add_party`).
#[no_mangle]
pub extern "C" fn kbk_runtime_open_account(
    runtime: *const kbk_runtime,
    shard: usize,
    account: u64,
    owner: u64,
    out: *mut *mut kbk_control,
) -> kbk_status {
    control(runtime, shard, out, || {
        Ok(Control::OpenAccount { account, owner })
    })
}

/// Pays `amount` (a decimal string) into account `account` of shard
/// `shard`'s ledger, in sequence with the requests.
#[no_mangle]
pub extern "C" fn kbk_runtime_deposit(
    runtime: *const kbk_runtime,
    shard: usize,
    account: u64,
    amount: *const c_char,
    out: *mut *mut kbk_control,
) -> kbk_status {
    control(runtime, shard, out, || {
        Ok(Control::Deposit {
            account,
            amount: decimal(amount, "amount")?,
        })
    })
}

/// Ends the trading day of shard `shard` at the exchange clock: day orders
/// expire (their releases come as notifications).
#[no_mangle]
pub extern "C" fn kbk_runtime_end_of_day(
    runtime: *const kbk_runtime,
    shard: usize,
    out: *mut *mut kbk_control,
) -> kbk_status {
    control(runtime, shard, out, || Ok(Control::EndOfDay))
}

/// Waits up to `timeout_ns` nanoseconds (at most one hour) for the
/// control's outcome: `KBK_STATUS_OK` when applied, the refusal's status
/// (identity, settlement) when refused (nothing changed),
/// `KBK_STATUS_RUNTIME_PENDING` when not applied yet. Once known, the
/// outcome is given again by every later call.
#[no_mangle]
pub extern "C" fn kbk_control_wait(control: *const kbk_control, timeout_ns: u64) -> kbk_status {
    with_ref(control.cast::<ControlHandleC>(), |h| {
        if timeout_ns > 3_600_000_000_000 {
            return Err(Fail::arg("timeout_ns must be at most one hour"));
        }
        let r = match h.outcome.get() {
            Some(r) => r,
            // Another thread may take the outcome meanwhile: it is kept.
            None => match h.pending.wait(Duration::from_nanos(timeout_ns)) {
                Some(r) => h.outcome.get_or_init(|| r),
                None => h
                    .outcome
                    .get()
                    .ok_or_else(|| Fail::new(KBK_STATUS_RUNTIME_PENDING, "not applied yet"))?,
            },
        };
        r.clone().map_err(|e| control_err(&e))
    })
}

/// Frees a control handle; NULL is fine (the control still applies).
#[no_mangle]
pub extern "C" fn kbk_control_free(control: *mut kbk_control) {
    free(control.cast::<ControlHandleC>());
}
