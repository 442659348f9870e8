//! The threads and queues of the runtime.
//!
//! ```text
//! producers --(ingress, one bounded queue per verification worker,
//!              chosen by signer so each signer's requests stay in order)-->
//!   verification workers (decode, batch verify, single-verify fallback)
//!     --(bounded queue per shard)--> sequencer (one thread per shard)
//!       --(bounded queue)--> signing stage (Merkle batch signatures)
//!         --> each producer's response queue or callback
//!         --> notifications (other parties' messages, register documents)
//!         --> back to the shard's register (its signed documents)
//! ```
//!
//! In trusted-gateway mode producers hand requests straight to the
//! sequencer's queue (no verification), and answers are not signed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_queue::{ArrayQueue, SegQueue};
use crossbeam_utils::Backoff;

use super::marketdata::{
    depth_channel, event_ring, DepthPublisher, DepthReader, EventPublisher, Subscriber,
};
use super::request::{Notification, Request, Response, Sequenced};
use super::signing::{Job, ShardKeys, SigningCounters, SigningStage};
use crate::crypto::{
    domain_input, verify_batch, CryptoError, MessageSignature, PublicKey, Signature, Signed, UserId,
};
use crate::exchange::{ErrorNotice, Exchange, Refusal};
use crate::identity::{
    check_attestation, check_revocation, Attestation, IdentityError, Revocation, Role,
};
use crate::register::{Register, RegisterDoc};
use crate::settle::Ledger;
use crate::settle::{AccountId, SettleError};
use crate::types::{InstrumentId, Timestamp};
use parking_lot::{Mutex, RwLock};

/// One shard: the instruments of one exchange, with their register and the
/// settlement ledger, owned by one sequencer thread while the runtime runs.
#[derive(Debug)]
pub struct Shard {
    /// The exchange (its instruments are this shard's).
    pub exchange: Exchange,
    /// The register of those instruments.
    pub register: Register,
    /// The settlement ledger of this shard's trades.
    pub ledger: Ledger,
}

impl Shard {
    /// BLAKE3 over the shard's state: every book's state hash, every match
    /// (with its transfer and certificates), the ledger's totals and the
    /// register's ID-table allocation. Equal for a runtime's shard and the
    /// synchronous replay of its journal.
    #[must_use]
    pub fn state_hash(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        for inst in self.exchange.instruments() {
            if let Some(b) = self.exchange.book(inst) {
                h.update(&inst.to_le_bytes());
                h.update(&b.state_hash());
            }
        }
        for m in self.exchange.matches() {
            for v in [
                m.match_number,
                m.buy_order,
                m.sell_order,
                u64::from(m.instrument),
                m.cert_id.serial,
                m.quantity,
                m.price as u64,
                m.buyer,
                m.seller,
                m.transfer_number,
                m.new_cert_id.serial,
                m.change_cert_id.map_or(0, |c| c.serial),
            ] {
                h.update(&v.to_le_bytes());
            }
            h.update(m.amount.to_string().as_bytes());
        }
        let t = self.ledger.totals();
        for d in [t.deposited, t.withdrawn, t.settled, t.released] {
            h.update(d.to_string().as_bytes());
        }
        h.update(&t.settlements.to_le_bytes());
        h.update(&self.register.id_table().allocated().to_le_bytes());
        *h.finalize().as_bytes()
    }
}

/// Where responses to a producer go.
pub enum ResponseSink {
    /// Its own bounded queue, read with [`Producer::try_recv`] and friends.
    Queue,
    /// A callback, called on the signing stage's thread (keep it short).
    Callback(Box<dyn Fn(Response) + Send + Sync>),
}

impl core::fmt::Debug for ResponseSink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ResponseSink::Queue => "Queue",
            ResponseSink::Callback(_) => "Callback",
        })
    }
}

/// Where notifications (messages for other parties, the register's signed
/// documents) go.
pub enum NotificationSink {
    /// A bounded queue the host drains with [`Runtime::next_notification`];
    /// when it is full the signing stage waits (back-pressure), it never
    /// drops.
    Queue(usize),
    /// A callback on the signing stage's thread.
    Callback(Box<dyn Fn(Notification) + Send + Sync>),
    /// The host does not want them (benchmarks): they are signed and
    /// counted, then dropped.
    Discard,
}

impl core::fmt::Debug for NotificationSink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NotificationSink::Queue(n) => write!(f, "Queue({n})"),
            NotificationSink::Callback(_) => f.write_str("Callback"),
            NotificationSink::Discard => f.write_str("Discard"),
        }
    }
}

/// How the runtime is built.
#[derive(Debug)]
pub struct RuntimeConfig {
    /// Verification worker threads (at least 1; unused in trusted-gateway
    /// mode).
    pub verify_workers: usize,
    /// Capacity of each worker's ingress queue.
    pub ingress_capacity: usize,
    /// Capacity of each shard's sequencer queue.
    pub shard_capacity: usize,
    /// Capacity of the signing stage's queue.
    pub sign_capacity: usize,
    /// Most requests verified in one batch.
    pub verify_batch: usize,
    /// Most requests whose messages are signed under one batch signature.
    pub sign_batch: usize,
    /// How long a verification worker holding a partial batch waits for
    /// more requests (batch verification pays per signature only in
    /// batches of a few dozen); zero: never wait.
    pub verify_window: Duration,
    /// How long the signing stage holding a partial batch waits for more
    /// (one Ed25519 signature per batch per key); zero: never wait.
    pub sign_window: Duration,
    /// The signing stage has a thread of its own. When false, the
    /// verification workers run it between their batches (on a machine
    /// with few cores, fewer threads than cores keeps every stage
    /// running). A trusted-gateway runtime, which has no verification
    /// workers, always has the thread.
    pub signing_thread: bool,
    /// Record each request's latency inside the runtime, from `submit` to
    /// its answer being ready for the producer ([`Runtime::take_latencies`]).
    pub record_latency: bool,
    /// Trusted-gateway mode: requests arrive authenticated, no signature is
    /// checked and answers are not signed.
    pub trusted_gateway: bool,
    /// Where notifications go.
    pub notifications: NotificationSink,
    /// Keep the sequenced input ([`Outcome::journal`]) for replay.
    pub journal: bool,
    /// Depth of the published market data per instrument.
    pub depth: usize,
    /// Capacity of each shard's market event ring.
    pub event_capacity: usize,
    /// Most producers over the runtime's life.
    pub max_producers: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            verify_workers: 1,
            ingress_capacity: 4096,
            shard_capacity: 4096,
            sign_capacity: 4096,
            verify_batch: 64,
            sign_batch: 512,
            verify_window: Duration::from_micros(100),
            sign_window: Duration::from_micros(100),
            signing_thread: true,
            record_latency: false,
            trusted_gateway: false,
            notifications: NotificationSink::Discard,
            journal: false,
            depth: 10,
            event_capacity: 1 << 16,
            max_producers: 1024,
        }
    }
}

/// Why the runtime could not start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartError {
    /// No shard.
    NoShards,
    /// A zero capacity, batch size or worker count.
    BadConfig(&'static str),
    /// Two shards list the same instrument.
    SharedInstrument(InstrumentId),
    /// The shard's exchange has received orders already.
    NotFresh(usize),
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StartError::NoShards => f.write_str("no shard"),
            StartError::BadConfig(w) => write!(f, "bad configuration: {w}"),
            StartError::SharedInstrument(i) => write!(f, "instrument {i} is in two shards"),
            StartError::NotFresh(s) => write!(f, "shard {s}'s exchange has received orders"),
        }
    }
}

impl std::error::Error for StartError {}

/// Why a submission was not taken. The request is handed back: nothing is
/// lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubmitError {
    /// The queue is full or the producer has as many requests in flight as
    /// its response capacity: try again later (or use
    /// [`Producer::submit_wait`]).
    Full(Box<Request>),
    /// The runtime is shutting down.
    Closed(Box<Request>),
}

impl SubmitError {
    /// The request, back.
    #[must_use]
    pub fn into_request(self) -> Request {
        match self {
            SubmitError::Full(r) | SubmitError::Closed(r) => *r,
        }
    }
}

impl core::fmt::Display for SubmitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SubmitError::Full(_) => f.write_str("queue full (back-pressure): try again"),
            SubmitError::Closed(_) => f.write_str("the runtime is shutting down"),
        }
    }
}

impl std::error::Error for SubmitError {}

/// Counters per stage (monotonic; read any time with [`Runtime::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    /// Requests taken by producers' submit calls.
    pub submitted: u64,
    /// Requests whose signature the verification stage accepted.
    pub verified: u64,
    /// Requests refused by the verification stage (bad signature, unknown
    /// signer).
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
    /// Ed25519 signatures the signing stage made (one per batch per key).
    pub signatures: u64,
    /// Time the signing stage spent working (ns).
    pub sign_busy_ns: u64,
    /// Responses delivered to producers.
    pub responses: u64,
    /// Notifications delivered (or discarded on request).
    pub notifications: u64,
}

#[derive(Debug, Default)]
struct Counters {
    submitted: AtomicU64,
    verified: AtomicU64,
    refused_unverified: AtomicU64,
    verify_batches: AtomicU64,
    verify_fallbacks: AtomicU64,
    verify_busy_ns: AtomicU64,
    sequenced: AtomicU64,
    sequence_busy_ns: AtomicU64,
    signed_messages: AtomicU64,
    signatures: AtomicU64,
    sign_busy_ns: AtomicU64,
    responses: AtomicU64,
    notifications: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> RuntimeStats {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RuntimeStats {
            submitted: l(&self.submitted),
            verified: l(&self.verified),
            refused_unverified: l(&self.refused_unverified),
            verify_batches: l(&self.verify_batches),
            verify_fallbacks: l(&self.verify_fallbacks),
            verify_busy_ns: l(&self.verify_busy_ns),
            sequenced: l(&self.sequenced),
            sequence_busy_ns: l(&self.sequence_busy_ns),
            signed_messages: l(&self.signed_messages),
            signatures: l(&self.signatures),
            sign_busy_ns: l(&self.sign_busy_ns),
            responses: l(&self.responses),
            notifications: l(&self.notifications),
        }
    }
}

fn add(a: &AtomicU64, v: u64) {
    a.fetch_add(v, Ordering::Relaxed);
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

struct Envelope {
    producer: u32,
    ticket: u64,
    shard: usize,
    request: Request,
    /// The key the verification stage checked the signature with.
    key: Option<PublicKey>,
    submitted: Instant,
}

/// An administrative operation, applied by a shard's sequencer in sequence
/// with the requests (and journalled), through [`Runtime::control`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    /// A party joins (or renews its attestation): the exchange and the
    /// register learn its key and role; an investor's key is also given to
    /// the ledger (for signed account inquiries).
    AddParty(Signed<Attestation>),
    /// The CA revokes attestations.
    Revoke(Signed<Revocation>),
    /// A settlement account opens.
    OpenAccount {
        /// Account id.
        account: AccountId,
        /// Owner.
        owner: UserId,
    },
    /// Cash is paid into an account.
    Deposit {
        /// Account id.
        account: AccountId,
        /// Amount (positive).
        amount: rust_decimal::Decimal,
    },
    /// End of the trading day at the exchange clock: day orders expire.
    EndOfDay,
}

/// Why a control was refused (nothing changed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlError {
    /// No such shard.
    NoSuchShard(usize),
    /// The runtime is shutting down.
    Closed,
    /// The attestation or revocation is not the shard CA's, or the key is
    /// unusable (checked before anything is queued).
    BadCredential(IdentityError),
    /// The identity stores refused it.
    Identity(IdentityError),
    /// The ledger refused it.
    Settlement(SettleError),
}

impl core::fmt::Display for ControlError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ControlError::NoSuchShard(s) => write!(f, "no shard {s}"),
            ControlError::Closed => f.write_str("the runtime is shutting down"),
            ControlError::BadCredential(e) => write!(f, "credential refused: {e}"),
            ControlError::Identity(e) => write!(f, "identity: {e}"),
            ControlError::Settlement(e) => write!(f, "settlement: {e}"),
        }
    }
}

impl std::error::Error for ControlError {}

struct ControlEnvelope {
    control: Control,
    result: Arc<ArrayQueue<Result<(), ControlError>>>,
}

/// The outcome of a control, once its sequencer has applied it.
#[derive(Debug)]
pub struct ControlHandle {
    result: Arc<ArrayQueue<Result<(), ControlError>>>,
}

impl ControlHandle {
    /// The outcome, waiting up to `timeout` (`None`: not applied yet).
    pub fn wait(&self, timeout: Duration) -> Option<Result<(), ControlError>> {
        let end = Instant::now() + timeout;
        let mut idle = Idle::new();
        loop {
            if let Some(r) = self.result.pop() {
                return Some(r);
            }
            if Instant::now() >= end {
                return None;
            }
            idle.wait();
        }
    }
}

struct ProducerSlot {
    sink: ResponseSink,
    queue: ArrayQueue<Response>,
    in_flight: AtomicUsize,
    capacity: usize,
}

/// Routing: which shard an instrument or a reception number belongs to.
#[derive(Debug)]
struct Routes {
    shards: usize,
    instruments: HashMap<InstrumentId, usize>,
}

impl Routes {
    fn shard_of(&self, r: &Request) -> usize {
        if self.shards == 1 {
            return 0;
        }
        if let Some(i) = r.instrument() {
            return self.instruments.get(&i).copied().unwrap_or(0);
        }
        let n = r.reception_number().unwrap_or(1).max(1);
        usize::try_from((n - 1) % self.shards as u64).unwrap_or(0)
    }
}

struct Inner {
    trusted: bool,
    routes: Routes,
    ingress: Vec<ArrayQueue<Envelope>>,
    shard_queues: Vec<ArrayQueue<Envelope>>,
    sign_queue: ArrayQueue<Job>,
    back: Vec<SegQueue<Vec<RegisterDoc>>>,
    controls: Vec<SegQueue<ControlEnvelope>>,
    cas: Vec<(UserId, String, PublicKey)>,
    notify: Option<ArrayQueue<Notification>>,
    notify_cb: Option<Box<dyn Fn(Notification) + Send + Sync>>,
    producers: Box<[OnceLock<ProducerSlot>]>,
    next_producer: AtomicUsize,
    closing: AtomicBool,
    failed: AtomicBool,
    submitting: AtomicUsize,
    verifiers_done: AtomicBool,
    sequencers_left: AtomicUsize,
    clock: AtomicU64,
    sequence: AtomicU64,
    counters: Counters,
    directory: Vec<RwLock<HashMap<UserId, PublicKey>>>,
    /// The attestation serial behind each directory key (only `control`
    /// reads or writes it): a key is replaced only by a newer attestation.
    directory_serials: Vec<Mutex<HashMap<UserId, u64>>>,
    exchange_ids: Vec<UserId>,
    depth_readers: HashMap<InstrumentId, DepthReader>,
    verify_batch: usize,
    sign_batch: usize,
    verify_window: Duration,
    sign_window: Duration,
    signing: Mutex<SigningState>,
    workers_sign: bool,
    verify_wakers: Vec<Waker>,
    seq_wakers: Vec<Waker>,
    sign_waker: Waker,
    record_latency: bool,
}

impl Inner {
    /// Wakes whoever runs the signing stage.
    fn wake_signers(&self) {
        if self.workers_sign {
            for w in &self.verify_wakers {
                w.wake();
            }
        } else {
            self.sign_waker.wake();
        }
    }
}

/// The signing stage's state, owned by whichever thread runs a signing
/// round (the signing thread, a verification worker, or `shutdown`); taken
/// with `try_lock` only, so nobody waits for it.
struct SigningState {
    stage: SigningStage,
    jobs: Vec<Job>,
    latencies: Vec<u64>,
}

/// Pushes into a bounded queue, waiting while it is full (back-pressure
/// inside the pipeline: a stage waits for the next, nothing is dropped).
fn push_wait<T>(q: &ArrayQueue<T>, mut v: T) {
    let mut idle = Idle::new();
    while let Err(back) = q.push(v) {
        v = back;
        idle.wait();
    }
}

/// A verification worker's push: waits while the queue is full, running
/// signing rounds meanwhile when the workers are the signing stage (the
/// stages downstream may be waiting for exactly that), and gives up once
/// `stop` is set (a failed sequencer).
fn push_helping<T>(
    inner: &Inner,
    q: &ArrayQueue<T>,
    mut v: T,
    stop: Option<&AtomicBool>,
    wake: impl Fn(),
) {
    let mut idle = Idle::new();
    loop {
        match q.push(v) {
            Ok(()) => {
                wake();
                return;
            }
            Err(back) => {
                v = back;
                if stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
                    return;
                }
                if inner.workers_sign && sign_round(inner, Duration::ZERO) {
                    idle.reset();
                } else {
                    idle.wait();
                }
            }
        }
    }
}

/// Fills `batch` from `q` up to `max`: what is there now, then, when that
/// was at least `busy` items (the stage is under load, batching pays),
/// whatever arrives within `window` (unless shutting down). Under light
/// load nothing waits, so latency stays low.
fn collect<T>(
    q: &ArrayQueue<T>,
    batch: &mut Vec<T>,
    max: usize,
    window: Duration,
    busy: usize,
    closing: &AtomicBool,
) {
    let mut first: Option<Instant> = None;
    loop {
        while batch.len() < max {
            match q.pop() {
                Some(e) => batch.push(e),
                None => break,
            }
        }
        if batch.is_empty() || batch.len() >= max || window.is_zero() {
            return;
        }
        if first.is_none() && batch.len() < busy.min(max) {
            return;
        }
        let t0 = *first.get_or_insert_with(Instant::now);
        let waited = t0.elapsed();
        if waited >= window || closing.load(Ordering::Relaxed) {
            return;
        }
        // Sleep rather than yield: on a machine with fewer cores than busy
        // threads, a yield loop takes time from the stages upstream that
        // are about to fill this batch.
        std::thread::sleep((window - waited).min(Duration::from_micros(20)));
    }
}

/// Wakes a parked stage thread when work arrives for it. The waiter
/// announces that it parks, re-checks its queue, then parks (with a
/// timeout); whoever pushes work checks the announcement after pushing, so
/// one of the two always sees the other (both use sequentially consistent
/// atomics) and no wake-up is lost. Unparking costs a system call only when
/// the thread really is parked.
#[derive(Debug, Default)]
pub(crate) struct Waker {
    thread: OnceLock<std::thread::Thread>,
    parked: AtomicBool,
}

impl Waker {
    /// Called once by the thread that waits on this waker.
    pub(crate) fn register(&self) {
        let _ = self.thread.set(std::thread::current());
    }
    pub(crate) fn wake(&self) {
        if self.parked.load(Ordering::SeqCst) {
            if let Some(t) = self.thread.get() {
                t.unpark();
            }
        }
    }
    pub(crate) fn park(&self, max: Duration, ready: impl Fn() -> bool) {
        self.parked.store(true, Ordering::SeqCst);
        if !ready() {
            std::thread::park_timeout(max);
        }
        self.parked.store(false, Ordering::SeqCst);
    }
}

/// A verification worker that finds at least this many requests waiting
/// holds its batch open for [`RuntimeConfig::verify_window`]: batch
/// verification costs about 40 us per signature alone, 16 us in batches
/// of 8, 14 us in batches of 64 (measured on the 2-core VM).
const VERIFY_BUSY: usize = 8;
/// The signing stage, finding at least this many jobs waiting, holds its
/// batch open for [`RuntimeConfig::sign_window`] (each round costs one
/// Ed25519 signature per key).
const SIGN_BUSY: usize = 4;

/// Waits a little for work: spins, then yields, then sleeps briefly.
pub(crate) struct Idle {
    spins: u32,
}

impl Idle {
    pub(crate) fn new() -> Self {
        Self { spins: 0 }
    }
    pub(crate) fn reset(&mut self) {
        self.spins = 0;
    }
    pub(crate) fn wait(&mut self) {
        self.spins = self.spins.saturating_add(1);
        if self.spins < 64 {
            std::hint::spin_loop();
        } else if self.spins < 72 {
            std::thread::yield_now();
        } else {
            // Idle: give the core to the stages that have work (on a
            // machine with fewer cores than threads, yielding in a loop
            // would steal their time).
            std::thread::sleep(Duration::from_micros(20));
        }
    }
    /// Waits for work announced through `waker`: spins briefly, then parks
    /// until woken (or 1 ms, to re-check the exit conditions).
    pub(crate) fn wait_on(&mut self, waker: &Waker, ready: impl Fn() -> bool) {
        self.spins = self.spins.saturating_add(1);
        if self.spins < 64 {
            std::hint::spin_loop();
        } else if self.spins < 72 {
            std::thread::yield_now();
        } else {
            waker.park(Duration::from_millis(1), ready);
        }
    }
}

/// A handle for submitting requests from one thread (`Send`, not `Clone`:
/// make one per producing thread with [`Runtime::producer`]).
pub struct Producer {
    id: u32,
    inner: Arc<Inner>,
    next_ticket: u64,
}

impl core::fmt::Debug for Producer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Producer")
            .field("id", &self.id)
            .field("next_ticket", &self.next_ticket)
            .finish()
    }
}

impl Producer {
    fn slot(&self) -> &ProducerSlot {
        // Set before the handle was made.
        self.inner.producers[self.id as usize]
            .get()
            .expect("producer slot is set")
    }

    /// Submits a request; returns its ticket (echoed by its [`Response`]).
    ///
    /// # Errors
    /// [`SubmitError::Full`] when the queue is full or this producer has
    /// its response capacity in flight; [`SubmitError::Closed`] after
    /// shutdown began. Either way the request is handed back.
    pub fn submit(&mut self, request: Request) -> Result<u64, SubmitError> {
        let inner = Arc::clone(&self.inner);
        inner.submitting.fetch_add(1, Ordering::SeqCst);
        let r = self.submit_inner(request);
        inner.submitting.fetch_sub(1, Ordering::SeqCst);
        r
    }

    fn submit_inner(&mut self, request: Request) -> Result<u64, SubmitError> {
        let inner = &*self.inner;
        if inner.closing.load(Ordering::SeqCst) {
            return Err(SubmitError::Closed(Box::new(request)));
        }
        let slot = self.slot();
        if slot.in_flight.load(Ordering::Acquire) >= slot.capacity {
            return Err(SubmitError::Full(Box::new(request)));
        }
        let shard = inner.routes.shard_of(&request);
        let ticket = self.next_ticket;
        let env = Envelope {
            producer: self.id,
            ticket,
            shard,
            request,
            key: None,
            submitted: Instant::now(),
        };
        let (q, waker) = if inner.trusted {
            (&inner.shard_queues[shard], &inner.seq_wakers[shard])
        } else {
            let w = usize::try_from(env.request.signer() % inner.ingress.len() as u64).unwrap_or(0);
            (&inner.ingress[w], &inner.verify_wakers[w])
        };
        slot.in_flight.fetch_add(1, Ordering::AcqRel);
        match q.push(env) {
            Ok(()) => {
                waker.wake();
                self.next_ticket += 1;
                add(&inner.counters.submitted, 1);
                Ok(ticket)
            }
            Err(env) => {
                slot.in_flight.fetch_sub(1, Ordering::AcqRel);
                Err(SubmitError::Full(Box::new(env.request)))
            }
        }
    }

    /// Submits, waiting while the queue is full; with a queue sink, also
    /// hands the responses that arrive meanwhile to `on_response` (so a
    /// producer that waits for room never blocks its own responses).
    ///
    /// # Errors
    /// [`SubmitError::Closed`] after shutdown began.
    pub fn submit_wait(
        &mut self,
        mut request: Request,
        mut on_response: impl FnMut(Response),
    ) -> Result<u64, SubmitError> {
        let b = Backoff::new();
        loop {
            match self.submit(request) {
                Ok(t) => return Ok(t),
                Err(SubmitError::Full(r)) => {
                    request = *r;
                    let mut got = false;
                    while let Some(resp) = self.try_recv() {
                        on_response(resp);
                        got = true;
                    }
                    if !got {
                        if b.is_completed() {
                            std::thread::yield_now();
                        } else {
                            b.snooze();
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The next response, if one has arrived (queue sink).
    pub fn try_recv(&mut self) -> Option<Response> {
        let slot = self.slot();
        let r = slot.queue.pop();
        if r.is_some() {
            slot.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
        r
    }

    /// The next response, waiting up to `timeout`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Response> {
        let end = Instant::now() + timeout;
        let mut idle = Idle::new();
        loop {
            if let Some(r) = self.try_recv() {
                return Some(r);
            }
            if Instant::now() >= end {
                return None;
            }
            idle.wait();
        }
    }

    /// Requests submitted whose response this producer has not taken yet.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.slot().in_flight.load(Ordering::Acquire)
    }
}

/// Everything the runtime hands back at shutdown.
#[derive(Debug)]
pub struct Outcome {
    /// The shards, synchronous again (signing immediate, signatures
    /// verified by the exchange itself), every document signed.
    pub shards: Vec<Shard>,
    /// Per shard, the sequenced input (empty unless
    /// [`RuntimeConfig::journal`]).
    pub journal: Vec<Vec<Sequenced>>,
    /// Shards whose sequencer failed (a panic in the engine: a bug). Their
    /// state is not handed back (it cannot be trusted), the runtime stopped
    /// taking requests, and requests in flight to them got no answer; the
    /// other shards are complete.
    pub failed_shards: Vec<usize>,
    /// Final counters.
    pub stats: RuntimeStats,
}

/// The running runtime. Dropping it without [`Runtime::shutdown`] shuts it
/// down too (and discards the outcome).
pub struct Runtime {
    inner: Arc<Inner>,
    verifiers: Vec<JoinHandle<()>>,
    sequencers: Vec<JoinHandle<Option<ShardDone>>>,
    signer: Option<JoinHandle<()>>,
    running: bool,
    subscribers: Vec<Subscriber>,
}

impl core::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Runtime")
            .field("shards", &self.inner.shard_queues.len())
            .field("trusted", &self.inner.trusted)
            .field("stats", &self.inner.counters.snapshot())
            .finish()
    }
}

/// What a sequencer hands back: its shard and its journal (`None` when it
/// failed).
type ShardDone = (Shard, Vec<Sequenced>);

struct ShardRun {
    shard: Shard,
    index: usize,
    depth: HashMap<InstrumentId, DepthPublisher>,
    events: EventPublisher,
    journal: Option<Vec<Sequenced>>,
    now: Timestamp,
}

impl Runtime {
    /// Starts the threads: `cfg.verify_workers` verification workers (none
    /// in trusted-gateway mode), one sequencer per shard, one signing
    /// stage. Each shard's exchange and register switch to deferred
    /// signing until [`Runtime::shutdown`].
    ///
    /// # Errors
    /// [`StartError`] for a bad configuration or shards that overlap.
    pub fn start(cfg: RuntimeConfig, mut shards: Vec<Shard>) -> Result<Runtime, StartError> {
        if shards.is_empty() {
            return Err(StartError::NoShards);
        }
        for (what, v) in [
            ("verify_workers", cfg.verify_workers),
            ("ingress_capacity", cfg.ingress_capacity),
            ("shard_capacity", cfg.shard_capacity),
            ("sign_capacity", cfg.sign_capacity),
            ("verify_batch", cfg.verify_batch),
            ("sign_batch", cfg.sign_batch),
            ("depth", cfg.depth),
            ("event_capacity", cfg.event_capacity),
            ("max_producers", cfg.max_producers),
        ] {
            if v == 0 {
                return Err(StartError::BadConfig(what));
            }
        }
        if let NotificationSink::Queue(0) = cfg.notifications {
            return Err(StartError::BadConfig("notification queue capacity"));
        }
        let n = shards.len();
        let mut instruments = HashMap::new();
        for (k, s) in shards.iter().enumerate() {
            if s.exchange.stats().orders != 0 {
                return Err(StartError::NotFresh(k));
            }
            for i in s.exchange.instruments() {
                if instruments.insert(i, k).is_some() {
                    return Err(StartError::SharedInstrument(i));
                }
            }
        }
        let mut runs = Vec::with_capacity(n);
        let mut depth_readers = HashMap::new();
        let mut subscribers = Vec::new();
        let mut keys = Vec::new();
        let mut directory = Vec::new();
        let mut directory_serials = Vec::new();
        let mut exchange_ids = Vec::new();
        let mut cas = Vec::new();
        for (k, mut s) in shards.drain(..).enumerate() {
            s.exchange
                .set_reception_numbering(k as u64 + 1, n as u64)
                .map_err(|_| StartError::NotFresh(k))?;
            s.exchange.set_deferred_signing(true);
            s.exchange.set_verified_upstream(true);
            s.exchange.set_event_tap(true);
            s.register.set_deferred_signing(true);
            keys.push(ShardKeys {
                exchange: s.exchange.signing_key(),
                register: s.register.signing_key(),
            });
            directory.push(RwLock::new(s.exchange.identities().keys().collect()));
            directory_serials.push(Mutex::new(
                s.exchange
                    .identities()
                    .parties()
                    .map(|p| (p.attestation.body.user_id, p.attestation.body.serial))
                    .collect(),
            ));
            let (ca_id, ca_name, ca_key) = s.exchange.identities().ca();
            cas.push((ca_id, ca_name.to_owned(), ca_key));
            exchange_ids.push(s.exchange.user_id());
            let mut depth = HashMap::new();
            for i in s.exchange.instruments().collect::<Vec<_>>() {
                let (p, r) = depth_channel(cfg.depth);
                depth.insert(i, p);
                depth_readers.insert(i, r);
            }
            let events = event_ring(cfg.event_capacity);
            subscribers.push(events.subscribe());
            runs.push(ShardRun {
                shard: s,
                index: k,
                depth,
                events,
                journal: cfg.journal.then(|| {
                    vec![Sequenced::Numbering {
                        first: k as u64 + 1,
                        stride: n as u64,
                    }]
                }),
                now: 0,
            });
        }
        let workers = if cfg.trusted_gateway {
            0
        } else {
            cfg.verify_workers
        };
        let (notify, notify_cb) = match cfg.notifications {
            NotificationSink::Queue(c) => (Some(ArrayQueue::new(c)), None),
            NotificationSink::Callback(f) => (None, Some(f)),
            NotificationSink::Discard => (None, None),
        };
        let inner = Arc::new(Inner {
            trusted: cfg.trusted_gateway,
            routes: Routes {
                shards: n,
                instruments,
            },
            ingress: (0..workers.max(1))
                .map(|_| ArrayQueue::new(cfg.ingress_capacity))
                .collect(),
            shard_queues: (0..n)
                .map(|_| ArrayQueue::new(cfg.shard_capacity))
                .collect(),
            sign_queue: ArrayQueue::new(cfg.sign_capacity),
            back: (0..n).map(|_| SegQueue::new()).collect(),
            controls: (0..n).map(|_| SegQueue::new()).collect(),
            cas,
            notify,
            notify_cb,
            producers: (0..cfg.max_producers).map(|_| OnceLock::new()).collect(),
            next_producer: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            submitting: AtomicUsize::new(0),
            verifiers_done: AtomicBool::new(workers == 0),
            sequencers_left: AtomicUsize::new(n),
            clock: AtomicU64::new(0),
            sequence: AtomicU64::new(0),
            counters: Counters::default(),
            directory,
            directory_serials,
            exchange_ids,
            depth_readers,
            verify_batch: cfg.verify_batch,
            sign_batch: cfg.sign_batch,
            verify_window: cfg.verify_window,
            sign_window: cfg.sign_window,
            signing: Mutex::new(SigningState {
                stage: SigningStage::new(keys, !cfg.trusted_gateway),
                jobs: Vec::with_capacity(cfg.sign_batch),
                latencies: Vec::new(),
            }),
            workers_sign: !(cfg.signing_thread || cfg.trusted_gateway),
            verify_wakers: (0..workers.max(1)).map(|_| Waker::default()).collect(),
            seq_wakers: (0..n).map(|_| Waker::default()).collect(),
            sign_waker: Waker::default(),
            record_latency: cfg.record_latency,
        });
        let verifiers = (0..workers)
            .map(|w| {
                let inner = Arc::clone(&inner);
                std::thread::Builder::new()
                    .name(format!("kabuken-verify-{w}"))
                    .spawn(move || verify_worker(&inner, w))
                    .expect("spawn verification worker")
            })
            .collect();
        let sequencers = runs
            .into_iter()
            .map(|run| {
                let inner = Arc::clone(&inner);
                std::thread::Builder::new()
                    .name(format!("kabuken-seq-{}", run.index))
                    .spawn(move || {
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            sequencer(&inner, run)
                        }));
                        if r.is_err() {
                            // A bug in the engine: the shard's state cannot
                            // be trusted. Stop taking requests; let the other
                            // stages finish.
                            inner.failed.store(true, Ordering::SeqCst);
                            inner.closing.store(true, Ordering::SeqCst);
                            inner.sequencers_left.fetch_sub(1, Ordering::SeqCst);
                        }
                        r.ok()
                    })
                    .expect("spawn sequencer")
            })
            .collect();
        let signer = (!inner.workers_sign).then(|| {
            let inner = Arc::clone(&inner);
            std::thread::Builder::new()
                .name("kabuken-sign".into())
                .spawn(move || signing_stage(&inner))
                .expect("spawn signing stage")
        });
        Ok(Runtime {
            inner,
            verifiers,
            sequencers,
            signer,
            running: true,
            subscribers,
        })
    }

    /// A producer whose responses go to `sink`; at most `capacity`
    /// requests in flight (its back-pressure credit). `None` when
    /// [`RuntimeConfig::max_producers`] were made already or `capacity` is 0.
    pub fn producer(&self, capacity: usize, sink: ResponseSink) -> Option<Producer> {
        if capacity == 0 {
            return None;
        }
        let id = self.inner.next_producer.fetch_add(1, Ordering::AcqRel);
        let cell = self.inner.producers.get(id)?;
        let queue_cap = match sink {
            ResponseSink::Queue => capacity,
            ResponseSink::Callback(_) => 1,
        };
        let _ = cell.set(ProducerSlot {
            sink,
            queue: ArrayQueue::new(queue_cap),
            in_flight: AtomicUsize::new(0),
            capacity,
        });
        Some(Producer {
            id: u32::try_from(id).ok()?,
            inner: Arc::clone(&self.inner),
            next_ticket: 1,
        })
    }

    /// Moves the exchange clock forward (it never goes back). Sequencers
    /// apply the new time before their next request.
    pub fn set_time(&self, now: Timestamp) {
        self.inner.clock.fetch_max(now, Ordering::AcqRel);
    }

    /// The exchange clock.
    #[must_use]
    pub fn time(&self) -> Timestamp {
        self.inner.clock.load(Ordering::Acquire)
    }

    /// A lock-free reader of an instrument's best bid/ask and depth.
    #[must_use]
    pub fn depth_reader(&self, instrument: InstrumentId) -> Option<DepthReader> {
        self.inner.depth_readers.get(&instrument).cloned()
    }

    /// A subscriber to shard `shard`'s market event stream (order log and
    /// trades, sequence-numbered), starting at the next event.
    #[must_use]
    pub fn subscribe(&self, shard: usize) -> Option<Subscriber> {
        self.subscribers.get(shard).map(|s| {
            let mut s = s.clone();
            s.skip_to_end();
            s
        })
    }

    /// A subscriber from the oldest event still in shard `shard`'s ring.
    #[must_use]
    pub fn subscribe_from_oldest(&self, shard: usize) -> Option<Subscriber> {
        self.subscribers.get(shard).cloned()
    }

    /// Queues an administrative operation for shard `shard`'s sequencer,
    /// which applies it in sequence with the requests (before any request
    /// submitted after this call returns). Attestations and revocations are
    /// checked against the shard's CA here, so the sequencer never
    /// verifies; a new party's key reaches the verification workers before
    /// this returns.
    ///
    /// # Errors
    /// [`ControlError::NoSuchShard`], [`ControlError::Closed`],
    /// [`ControlError::BadCredential`]; later refusals arrive through the
    /// handle.
    pub fn control(&self, shard: usize, control: Control) -> Result<ControlHandle, ControlError> {
        let inner = &*self.inner;
        // Counted like a submission, so the stages cannot finish between
        // the check below and the push (shutdown waits for it).
        inner.submitting.fetch_add(1, Ordering::SeqCst);
        let r = self.control_inner(shard, control);
        inner.submitting.fetch_sub(1, Ordering::SeqCst);
        r
    }

    fn control_inner(&self, shard: usize, control: Control) -> Result<ControlHandle, ControlError> {
        let inner = &*self.inner;
        let Some((ca_id, ca_name, ca_key)) = inner.cas.get(shard) else {
            return Err(ControlError::NoSuchShard(shard));
        };
        if inner.closing.load(Ordering::SeqCst) {
            return Err(ControlError::Closed);
        }
        match &control {
            Control::AddParty(att) => {
                check_attestation(*ca_id, ca_name, ca_key, att)
                    .map_err(ControlError::BadCredential)?;
                let key = PublicKey::from_bytes(&att.body.public_key)
                    .map_err(|e| ControlError::BadCredential(IdentityError::Crypto(e)))?;
                let mut serials = inner.directory_serials[shard].lock();
                let newer = serials
                    .get(&att.body.user_id)
                    .is_none_or(|&s| s < att.body.serial);
                if newer {
                    serials.insert(att.body.user_id, att.body.serial);
                    inner.directory[shard].write().insert(att.body.user_id, key);
                }
            }
            Control::Revoke(rev) => {
                check_revocation(*ca_id, ca_key, rev).map_err(ControlError::BadCredential)?;
            }
            _ => {}
        }
        let result = Arc::new(ArrayQueue::new(1));
        inner.controls[shard].push(ControlEnvelope {
            control,
            result: Arc::clone(&result),
        });
        inner.seq_wakers[shard].wake();
        Ok(ControlHandle { result })
    }

    /// The next notification (with [`NotificationSink::Queue`]).
    pub fn next_notification(&self) -> Option<Notification> {
        self.inner.notify.as_ref().and_then(ArrayQueue::pop)
    }

    /// The latencies recorded since the last call (ns, from `submit` to the
    /// answer being ready for the producer; with
    /// [`RuntimeConfig::record_latency`]), in delivery order.
    pub fn take_latencies(&self) -> Vec<u64> {
        std::mem::take(&mut self.inner.signing.lock().latencies)
    }

    /// Requests and jobs waiting in the queues now: (ingress, all shards'
    /// sequencer queues, the signing stage's queue). For monitoring.
    #[must_use]
    pub fn queue_depths(&self) -> (usize, usize, usize) {
        let i = &*self.inner;
        (
            i.ingress.iter().map(ArrayQueue::len).sum(),
            i.shard_queues.iter().map(ArrayQueue::len).sum(),
            i.sign_queue.len(),
        )
    }

    /// Whether a sequencer failed (see [`Outcome::failed_shards`]); the
    /// runtime then takes no more requests.
    #[must_use]
    pub fn failed(&self) -> bool {
        self.inner.failed.load(Ordering::SeqCst)
    }

    /// The counters so far.
    #[must_use]
    pub fn stats(&self) -> RuntimeStats {
        self.inner.counters.snapshot()
    }

    /// Stops taking requests, drains everything in flight through every
    /// stage (each accepted request gets its response; with a notification
    /// queue, keep draining it from another thread or make it large
    /// enough), joins the threads and hands the shards back, synchronous
    /// again.
    #[must_use]
    pub fn shutdown(mut self) -> Outcome {
        self.stop()
    }

    fn stop(&mut self) -> Outcome {
        let inner = Arc::clone(&self.inner);
        inner.closing.store(true, Ordering::SeqCst);
        for v in self.verifiers.drain(..) {
            let _ = v.join();
        }
        inner.verifiers_done.store(true, Ordering::SeqCst);
        // Sign while the sequencers drain: they may be waiting for room in
        // the signing queue (and without a signing thread nobody else
        // signs now).
        let mut idle = Idle::new();
        while inner.sequencers_left.load(Ordering::SeqCst) > 0 || !inner.sign_queue.is_empty() {
            if sign_round(&inner, Duration::ZERO) {
                idle.reset();
            } else {
                idle.wait();
            }
        }
        let mut shards = Vec::new();
        let mut journal = Vec::new();
        let mut kept = Vec::new();
        let mut failed_shards = Vec::new();
        for (k, s) in self.sequencers.drain(..).enumerate() {
            match s.join() {
                Ok(Some((shard, j))) => {
                    shards.push(shard);
                    journal.push(j);
                    kept.push(k);
                }
                _ => failed_shards.push(k),
            }
        }
        if let Some(s) = self.signer.take() {
            let _ = s.join();
        }
        while sign_round(&inner, Duration::ZERO) {}
        self.running = false;
        for (s, &k) in shards.iter_mut().zip(&kept) {
            while let Some(docs) = inner.back[k].pop() {
                s.register.attach_signed(docs);
            }
            s.register.set_deferred_signing(false);
            s.exchange.set_deferred_signing(false);
            s.exchange.set_verified_upstream(false);
            s.exchange.set_event_tap(false);
            s.exchange.refresh_certificates(&s.register);
        }
        Outcome {
            shards,
            journal,
            failed_shards,
            stats: inner.counters.snapshot(),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if self.running {
            let _ = self.stop();
        }
    }
}

/// Verifies a batch: returns, per request, `Ok` or the refusal.
pub(crate) fn verify_requests(
    directory: &HashMap<UserId, PublicKey>,
    requests: &[&Request],
) -> (Vec<Result<PublicKey, Refusal>>, bool) {
    let mut verdict: Vec<Result<PublicKey, Refusal>> =
        vec![Err(Refusal::UnknownParty); requests.len()];
    let mut inputs: Vec<(usize, PublicKey, Vec<u8>, Signature)> =
        Vec::with_capacity(requests.len());
    for (i, r) in requests.iter().enumerate() {
        let Some(key) = directory.get(&r.signer()) else {
            verdict[i] = Err(Refusal::UnknownParty);
            continue;
        };
        verdict[i] = Ok(*key);
        match r.signature() {
            MessageSignature::Single(s) => {
                inputs.push((i, *key, domain_input(r.kind(), &r.signed_bytes()), *s));
            }
            sig @ MessageSignature::Batch(_) => {
                if sig.verify(key, r.kind(), &r.signed_bytes()).is_err() {
                    verdict[i] = Err(Refusal::BadSignature);
                }
            }
            MessageSignature::Pending(_) => verdict[i] = Err(Refusal::BadSignature),
        }
    }
    let items: Vec<(&PublicKey, &[u8], &Signature)> = inputs
        .iter()
        .map(|(_, k, m, s)| (k, m.as_slice(), s))
        .collect();
    let mut fallback = false;
    if let Err(CryptoError::BatchFailed(bad)) = verify_batch(&items) {
        fallback = true;
        for b in bad {
            verdict[inputs[b].0] = Err(Refusal::BadSignature);
        }
    }
    (verdict, fallback)
}

fn verify_worker(inner: &Inner, w: usize) {
    let q = &inner.ingress[w];
    inner.verify_wakers[w].register();
    let mut idle = Idle::new();
    let mut batch: Vec<Envelope> = Vec::with_capacity(inner.verify_batch);
    loop {
        collect(
            q,
            &mut batch,
            inner.verify_batch,
            inner.verify_window,
            VERIFY_BUSY,
            &inner.closing,
        );
        if batch.is_empty() {
            if inner.workers_sign && sign_round(inner, Duration::ZERO) {
                idle.reset();
                continue;
            }
            if inner.closing.load(Ordering::SeqCst)
                && inner.submitting.load(Ordering::SeqCst) == 0
                && q.is_empty()
            {
                return;
            }
            idle.wait_on(&inner.verify_wakers[w], || {
                !q.is_empty() || (inner.workers_sign && !inner.sign_queue.is_empty())
            });
            continue;
        }
        idle.reset();
        if inner.workers_sign {
            sign_round(inner, Duration::ZERO);
        }
        let t = Instant::now();
        let mut ok = 0;
        let mut refused = 0;
        // Group by shard (each shard has its own key directory).
        let (verdicts, fallback) = {
            let mut v: Vec<Result<PublicKey, Refusal>> =
                vec![Err(Refusal::UnknownParty); batch.len()];
            let mut fb = false;
            for shard in 0..inner.directory.len() {
                let idx: Vec<usize> = (0..batch.len())
                    .filter(|&i| batch[i].shard == shard)
                    .collect();
                if idx.is_empty() {
                    continue;
                }
                let reqs: Vec<&Request> = idx.iter().map(|&i| &batch[i].request).collect();
                let (r, f) = verify_requests(&inner.directory[shard].read(), &reqs);
                fb |= f;
                for (k, i) in idx.into_iter().enumerate() {
                    v[i] = r[k];
                }
            }
            (v, fb)
        };
        add(&inner.counters.verify_batches, 1);
        if fallback {
            add(&inner.counters.verify_fallbacks, 1);
        }
        for (mut env, verdict) in batch.drain(..).zip(verdicts) {
            match verdict {
                Ok(key) => {
                    ok += 1;
                    env.key = Some(key);
                    // Only a failed sequencer (see `Outcome::failed_shards`)
                    // makes this give up.
                    let shard = env.shard;
                    push_helping(
                        inner,
                        &inner.shard_queues[shard],
                        env,
                        Some(&inner.failed),
                        || inner.seq_wakers[shard].wake(),
                    );
                }
                Err(why) => {
                    refused += 1;
                    let notice = Signed::pending(
                        ErrorNotice {
                            user_id: env.request.user(),
                            request_hash: env.request.digest(),
                            reception_number: env.request.reception_number().unwrap_or(0),
                            reason: why.code(),
                        },
                        inner.exchange_ids[env.shard],
                        0,
                    );
                    push_helping(
                        inner,
                        &inner.sign_queue,
                        Job {
                            shard: env.shard,
                            reply_to: Some((env.producer, env.ticket)),
                            sequence: None,
                            answer: Some(Err(Box::new(notice))),
                            docs: Vec::new(),
                            outgoing: Vec::new(),
                            submitted: Some(env.submitted),
                        },
                        None,
                        || inner.wake_signers(),
                    );
                }
            }
        }
        add(&inner.counters.verified, ok);
        add(&inner.counters.refused_unverified, refused);
        add(&inner.counters.verify_busy_ns, nanos(t.elapsed()));
    }
}

/// Applies one sequenced input to a shard (the sequencer's step, and the
/// synchronous replay's).
pub(crate) fn apply(
    shard: &mut Shard,
    now: Timestamp,
    request: &Request,
) -> crate::exchange::Answer {
    let Shard {
        exchange,
        register,
        ledger,
    } = shard;
    match request {
        Request::Order(r) => exchange.submit(r, now, register, ledger),
        Request::Cancel(r) => exchange.cancel(r, now, register, ledger),
        Request::Reduce(r) => exchange.reduce(r, now, register, ledger),
        Request::Modify(r) => exchange.modify(r, now, register, ledger),
    }
}

fn sequencer(inner: &Inner, mut run: ShardRun) -> (Shard, Vec<Sequenced>) {
    let k = run.index;
    let q = &inner.shard_queues[k];
    inner.seq_wakers[k].register();
    let mut idle = Idle::new();
    let mut touched: Vec<InstrumentId> = Vec::new();
    loop {
        while let Some(docs) = inner.back[k].pop() {
            run.shard.register.attach_signed(docs);
        }
        let env = q.pop();
        // Controls first: one sent before a request was submitted is
        // visible here once that request is (see `Runtime::control`).
        while let Some(c) = inner.controls[k].pop() {
            let t = Instant::now();
            tick(inner, &mut run, &mut touched);
            let r = apply_control(&mut run.shard, run.now, &c.control);
            let _ = c.result.push(r);
            if let Some(j) = run.journal.as_mut() {
                j.push(Sequenced::Control {
                    now: run.now,
                    control: c.control,
                });
            }
            flush(inner, &mut run, &mut touched, None);
            add(&inner.counters.sequence_busy_ns, nanos(t.elapsed()));
        }
        let Some(env) = env else {
            let upstream_done = if inner.trusted {
                inner.closing.load(Ordering::SeqCst) && inner.submitting.load(Ordering::SeqCst) == 0
            } else {
                inner.verifiers_done.load(Ordering::SeqCst)
            };
            if upstream_done && q.is_empty() && inner.controls[k].is_empty() {
                break;
            }
            idle.wait_on(&inner.seq_wakers[k], || {
                !q.is_empty() || !inner.controls[k].is_empty()
            });
            continue;
        };
        idle.reset();
        let t = Instant::now();
        tick(inner, &mut run, &mut touched);
        let sequence = inner.sequence.fetch_add(1, Ordering::AcqRel) + 1;
        let answer = match key_mismatch(&run.shard, run.now, &env) {
            Some(notice) => Err(notice),
            None => apply(&mut run.shard, run.now, &env.request),
        };
        if let Some(j) = run.journal.as_mut() {
            j.push(Sequenced::Request {
                sequence,
                now: run.now,
                request: env.request,
            });
        }
        flush(
            inner,
            &mut run,
            &mut touched,
            Some((env.producer, env.ticket, sequence, answer, env.submitted)),
        );
        add(&inner.counters.sequenced, 1);
        add(&inner.counters.sequence_busy_ns, nanos(t.elapsed()));
    }
    inner.sequencers_left.fetch_sub(1, Ordering::SeqCst);
    (run.shard, run.journal.unwrap_or_default())
}

/// The key the verification stage used must be the one the exchange holds
/// for the signer now (an attestation renewed, refused or revoked since the
/// key reached the workers' directory): otherwise the request is refused as
/// badly signed, as the synchronous exchange would refuse it. A 32-byte
/// compare, no cryptography.
fn key_mismatch(shard: &Shard, now: Timestamp, env: &Envelope) -> Option<Box<Signed<ErrorNotice>>> {
    let key = env.key?;
    let signer = env.request.signer();
    let held = shard.exchange.identities().party(signer, now).ok()?.key;
    (held.to_bytes() != key.to_bytes()).then(|| {
        Box::new(Signed::pending(
            ErrorNotice {
                user_id: env.request.user(),
                request_hash: env.request.digest(),
                reception_number: env.request.reception_number().unwrap_or(0),
                reason: Refusal::BadSignature.code(),
            },
            shard.exchange.user_id(),
            0,
        ))
    })
}

/// Applies a move of the exchange clock, if there was one.
fn tick(inner: &Inner, run: &mut ShardRun, touched: &mut Vec<InstrumentId>) {
    let now = inner.clock.load(Ordering::Acquire);
    if now <= run.now {
        return;
    }
    run.now = now;
    let Shard {
        exchange,
        register,
        ledger,
    } = &mut run.shard;
    exchange.advance_time(now, register, ledger);
    if let Some(j) = run.journal.as_mut() {
        j.push(Sequenced::Time(now));
    }
    flush(inner, run, touched, None);
}

/// Hands what the last step produced to the signing stage and publishes
/// its market data.
fn flush(
    inner: &Inner,
    run: &mut ShardRun,
    touched: &mut Vec<InstrumentId>,
    reply: Option<(u32, u64, u64, crate::exchange::Answer, Instant)>,
) {
    let docs = run.shard.register.take_unsigned();
    let outgoing = run.shard.exchange.drain_outbox();
    let (reply_to, sequence, answer, submitted) = match reply {
        Some((p, t, s, a, at)) => (Some((p, t)), Some(s), Some(a), Some(at)),
        None => (None, None, None, None),
    };
    publish(run, sequence.unwrap_or(u64::MAX), touched);
    if reply_to.is_none() && docs.is_empty() && outgoing.is_empty() {
        return;
    }
    push_wait(
        &inner.sign_queue,
        Job {
            shard: run.index,
            reply_to,
            sequence,
            answer,
            docs,
            outgoing,
            submitted,
        },
    );
    inner.wake_signers();
}

/// Applies an administrative operation to a shard (the sequencer's step
/// for a control, and the synchronous replay's). Signatures were checked
/// by [`Runtime::control`].
pub(crate) fn apply_control(
    shard: &mut Shard,
    now: Timestamp,
    control: &Control,
) -> Result<(), ControlError> {
    let Shard {
        exchange,
        register,
        ledger,
    } = shard;
    match control {
        Control::AddParty(att) => {
            register
                .identities_mut()
                .register_checked(att)
                .map_err(ControlError::Identity)?;
            exchange
                .identities_mut()
                .register_checked(att)
                .map_err(ControlError::Identity)?;
            if att.body.role == Role::Investor {
                if let Ok(k) = PublicKey::from_bytes(&att.body.public_key) {
                    ledger.register_investor(att.body.user_id, k);
                }
            }
            Ok(())
        }
        Control::Revoke(rev) => {
            register
                .identities_mut()
                .apply_revocation_checked(rev)
                .map_err(ControlError::Identity)?;
            exchange
                .identities_mut()
                .apply_revocation_checked(rev)
                .map_err(ControlError::Identity)
        }
        Control::OpenAccount { account, owner } => ledger
            .open_account(*account, *owner)
            .map_err(ControlError::Settlement),
        Control::Deposit { account, amount } => ledger
            .deposit(*account, *amount)
            .map_err(ControlError::Settlement),
        Control::EndOfDay => {
            exchange.expire_day(now, register, ledger);
            Ok(())
        }
    }
}

/// Publishes the book events of the last step and the depth of the books
/// they touched.
fn publish(run: &mut ShardRun, sequence: u64, touched: &mut Vec<InstrumentId>) {
    touched.clear();
    for (inst, e) in run.shard.exchange.take_book_events() {
        run.events.publish(inst, e);
        if !touched.contains(&inst) {
            touched.push(inst);
        }
    }
    for inst in touched.iter() {
        if let (Some(p), Some(b)) = (run.depth.get_mut(inst), run.shard.exchange.book(*inst)) {
            p.publish_book(sequence, b);
        }
    }
}

fn signing_stage(inner: &Inner) {
    inner.sign_waker.register();
    let mut idle = Idle::new();
    loop {
        if sign_round(inner, inner.sign_window) {
            idle.reset();
            continue;
        }
        if inner.sequencers_left.load(Ordering::SeqCst) == 0
            && inner.verifiers_done.load(Ordering::SeqCst)
            && inner.sign_queue.is_empty()
        {
            return;
        }
        idle.wait_on(&inner.sign_waker, || !inner.sign_queue.is_empty());
    }
}

/// One round of the signing stage, if no other thread is running one:
/// takes a batch of jobs (waiting up to `window` to fill it), signs,
/// delivers. Returns whether it did any work.
fn sign_round(inner: &Inner, window: Duration) -> bool {
    let Some(mut st) = inner.signing.try_lock() else {
        return false;
    };
    let SigningState {
        stage,
        jobs,
        latencies,
    } = &mut *st;
    collect(
        &inner.sign_queue,
        jobs,
        inner.sign_batch,
        window,
        SIGN_BUSY,
        &inner.closing,
    );
    if jobs.is_empty() {
        return false;
    }
    let t = Instant::now();
    let before: SigningCounters = stage.counters;
    stage.sign(jobs);
    add(
        &inner.counters.signed_messages,
        stage.counters.messages - before.messages,
    );
    add(
        &inner.counters.signatures,
        stage.counters.signatures - before.signatures,
    );
    for job in jobs.drain(..) {
        if inner.record_latency {
            if let Some(at) = job.submitted {
                latencies.push(nanos(at.elapsed()));
            }
        }
        deliver(inner, job);
    }
    add(&inner.counters.sign_busy_ns, nanos(t.elapsed()));
    true
}

fn deliver(inner: &Inner, job: Job) {
    let Job {
        shard,
        reply_to,
        sequence,
        answer,
        docs,
        outgoing,
        submitted: _,
    } = job;
    if let (Some((p, ticket)), Some(answer)) = (reply_to, answer) {
        if let Some(slot) = inner.producers.get(p as usize).and_then(OnceLock::get) {
            let resp = Response {
                ticket,
                sequence,
                answer,
            };
            match &slot.sink {
                ResponseSink::Queue => push_wait(&slot.queue, resp),
                ResponseSink::Callback(f) => {
                    f(resp);
                    slot.in_flight.fetch_sub(1, Ordering::AcqRel);
                }
            }
            add(&inner.counters.responses, 1);
        }
    }
    let n = (docs.len() + outgoing.len()) as u64;
    if n > 0 {
        if let Some(q) = &inner.notify {
            for o in outgoing {
                push_wait(q, Notification::Exchange(o));
            }
            for d in &docs {
                push_wait(q, Notification::Register(d.clone()));
            }
        } else if let Some(f) = &inner.notify_cb {
            for o in outgoing {
                f(Notification::Exchange(o));
            }
            for d in &docs {
                f(Notification::Register(d.clone()));
            }
        }
        add(&inner.counters.notifications, n);
    }
    if !docs.is_empty() {
        inner.back[shard].push(docs);
    }
}

/// Replays a shard's journal through the synchronous exchange (every
/// signature verified and made at once), starting from the shard's state
/// when the runtime started; returns the answers, in order.
/// Used to show that the runtime is deterministic: the same sequenced
/// input gives the same decisions and the same state.
pub fn replay_journal(shard: &mut Shard, journal: &[Sequenced]) -> Vec<crate::exchange::Answer> {
    let mut answers = Vec::new();
    for s in journal {
        match s {
            Sequenced::Numbering { first, stride } => {
                // Refused only when orders were received already: the
                // journal then does not start at this shard's beginning.
                let _ = shard.exchange.set_reception_numbering(*first, *stride);
            }
            Sequenced::Time(now) => {
                let Shard {
                    exchange,
                    register,
                    ledger,
                } = shard;
                exchange.advance_time(*now, register, ledger);
            }
            Sequenced::Request { now, request, .. } => {
                answers.push(apply(shard, *now, request));
            }
            Sequenced::Control { now, control } => {
                let _ = apply_control(shard, *now, control);
            }
        }
    }
    answers
}
