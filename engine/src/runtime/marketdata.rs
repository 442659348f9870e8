//! Market data readable from any thread without locks.
//!
//! * [`depth_channel`]: the matching thread publishes each book's best bid
//!   and ask and top-N depth into a [`Seqlock`] of atomic words; readers on
//!   any thread copy a consistent snapshot, retrying only if a publication
//!   overlapped their read. The writer never waits; readers never block it.
//! * [`event_ring`]: a single-producer broadcast ring of sequence-numbered
//!   market events (order log and trades). Every subscriber follows the
//!   sequence at its own pace; one that falls more than the ring's capacity
//!   behind is told how many events it missed ([`Poll::Lagged`]) instead of
//!   silently skipping.
//!
//! Both are the classic seqlock with every shared word atomic (so there is
//! no data race and no `unsafe`): the writer makes the sequence odd, stores
//! the data with relaxed stores after a release fence, then makes the
//! sequence even with a release store; a reader loads the sequence
//! (acquire), the data (relaxed), issues an acquire fence and re-reads the
//! sequence; equal and even means the copy is consistent (Boehm, "Can
//! seqlocks get along with programming language memory models?", 2012).
//!
//! Under `--cfg loom` the atomics are loom's and `loom_tests` model-check
//! both protocols: `RUSTFLAGS="--cfg loom" cargo test -p kabuken --release --lib loom`.
//!
//! Architecture invariant: a reader never observes a torn snapshot or event
//! (a mix of two publications), and the publisher never waits for readers.

#[cfg(loom)]
use loom::sync::atomic::{fence, AtomicU64, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{fence, AtomicU64, Ordering};

#[cfg(loom)]
use loom::sync::Arc;
#[cfg(not(loom))]
use std::sync::Arc;

use crate::book::{Book, CancelReason, CommandKind, Event, LevelInfo, RejectReason};
use crate::types::{InstrumentId, Side};

#[inline]
fn backoff() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}

/// A block of atomic words published by one writer and read by many.
#[derive(Debug)]
pub struct Seqlock {
    seq: AtomicU64,
    words: Box<[AtomicU64]>,
}

impl Seqlock {
    /// A seqlock of `n` zero words.
    #[must_use]
    pub fn new(n: usize) -> Self {
        Seqlock {
            seq: AtomicU64::new(0),
            words: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Number of words.
    #[must_use]
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether it holds no words.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Publishes `data` (at most `len()` words; the rest keep their value).
    /// Only one thread may write: the public wrappers enforce that by
    /// needing `&mut` of a non-`Clone` publisher.
    fn write(&self, data: &[u64]) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        for (w, &d) in self.words.iter().zip(data) {
            w.store(d, Ordering::Relaxed);
        }
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// Copies a consistent set of words into `out` and returns the
    /// publication count (0 before the first publication).
    pub fn read(&self, out: &mut [u64]) -> u64 {
        loop {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                backoff();
                continue;
            }
            for (o, w) in out.iter_mut().zip(self.words.iter()) {
                *o = w.load(Ordering::Relaxed);
            }
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == s1 {
                return s1 / 2;
            }
            backoff();
        }
    }
}

/// A consistent copy of one book's top of book and depth.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DepthSnapshot {
    /// The publisher's sequence number at publication (e.g. the global
    /// sequence of the last command applied); 0 before the first.
    pub seq: u64,
    /// Number of publications so far.
    pub version: u64,
    /// Bid levels, best first (at most the channel's depth).
    pub bids: Vec<LevelInfo>,
    /// Ask levels, best first.
    pub asks: Vec<LevelInfo>,
}

impl DepthSnapshot {
    /// Best bid price and quantity.
    #[must_use]
    pub fn best_bid(&self) -> Option<(i64, u64)> {
        self.bids.first().map(|l| (l.price, l.qty))
    }

    /// Best ask price and quantity.
    #[must_use]
    pub fn best_ask(&self) -> Option<(i64, u64)> {
        self.asks.first().map(|l| (l.price, l.qty))
    }
}

const HEADER_WORDS: usize = 3;
const LEVEL_WORDS: usize = 3;

/// The writing end of a depth channel (one per book; not `Clone`).
#[derive(Debug)]
pub struct DepthPublisher {
    cell: Arc<Seqlock>,
    depth: usize,
    buf: Vec<u64>,
}

/// A reading end of a depth channel (`Clone`, `Send`, `Sync`).
#[derive(Clone, Debug)]
pub struct DepthReader {
    cell: Arc<Seqlock>,
    depth: usize,
}

/// A channel carrying the top `depth` levels of each side of one book.
#[must_use]
pub fn depth_channel(depth: usize) -> (DepthPublisher, DepthReader) {
    let n = HEADER_WORDS + 2 * depth * LEVEL_WORDS;
    let cell = Arc::new(Seqlock::new(n));
    (
        DepthPublisher {
            cell: Arc::clone(&cell),
            depth,
            buf: vec![0; n],
        },
        DepthReader { cell, depth },
    )
}

impl DepthPublisher {
    /// Publishes `book`'s top levels, stamped with `seq`.
    pub fn publish_book(&mut self, seq: u64, book: &Book) {
        let depth = self.depth;
        let mut nb = 0;
        let mut na = 0;
        for (i, l) in book.levels(Side::Buy).take(depth).enumerate() {
            put_level(&mut self.buf, i, l);
            nb += 1;
        }
        for (i, l) in book.levels(Side::Sell).take(depth).enumerate() {
            put_level(&mut self.buf, depth + i, l);
            na += 1;
        }
        self.buf[0] = seq;
        self.buf[1] = nb;
        self.buf[2] = na;
        self.cell.write(&self.buf);
    }

    /// Publishes explicit levels (best first; extra levels are ignored).
    pub fn publish(&mut self, seq: u64, bids: &[LevelInfo], asks: &[LevelInfo]) {
        let depth = self.depth;
        let nb = bids.len().min(depth);
        let na = asks.len().min(depth);
        for (i, l) in bids.iter().take(nb).enumerate() {
            put_level(&mut self.buf, i, *l);
        }
        for (i, l) in asks.iter().take(na).enumerate() {
            put_level(&mut self.buf, depth + i, *l);
        }
        self.buf[0] = seq;
        self.buf[1] = nb as u64;
        self.buf[2] = na as u64;
        self.cell.write(&self.buf);
    }
}

fn put_level(buf: &mut [u64], slot: usize, l: LevelInfo) {
    let at = HEADER_WORDS + slot * LEVEL_WORDS;
    buf[at] = l.price as u64;
    buf[at + 1] = l.qty;
    buf[at + 2] = u64::from(l.orders);
}

fn get_level(buf: &[u64], slot: usize) -> LevelInfo {
    let at = HEADER_WORDS + slot * LEVEL_WORDS;
    LevelInfo {
        price: buf[at] as i64,
        qty: buf[at + 1],
        orders: buf[at + 2] as u32,
    }
}

impl DepthReader {
    /// Levels per side this channel carries.
    #[must_use]
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Copies the latest snapshot into `out` (reusing its vectors).
    pub fn read_into(&self, scratch: &mut Vec<u64>, out: &mut DepthSnapshot) {
        scratch.resize(self.cell.len(), 0);
        out.version = self.cell.read(scratch);
        out.seq = scratch[0];
        let nb = (scratch[1] as usize).min(self.depth);
        let na = (scratch[2] as usize).min(self.depth);
        out.bids.clear();
        out.asks.clear();
        out.bids.extend((0..nb).map(|i| get_level(scratch, i)));
        out.asks
            .extend((0..na).map(|i| get_level(scratch, self.depth + i)));
    }

    /// The latest snapshot.
    #[must_use]
    pub fn read(&self) -> DepthSnapshot {
        let mut scratch = Vec::new();
        let mut out = DepthSnapshot::default();
        self.read_into(&mut scratch, &mut out);
        out
    }
}

/// One entry of the market event stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarketEvent {
    /// Position in the stream (0, 1, 2, ...).
    pub seq: u64,
    /// The instrument whose book emitted it.
    pub instrument: InstrumentId,
    /// The book event.
    pub event: Event,
}

const EVENT_WORDS: usize = 10;

fn side_code(s: Side) -> u64 {
    s as u64
}

fn encode_event(m: &MarketEvent) -> [u64; EVENT_WORDS] {
    let mut w = [0u64; EVENT_WORDS];
    w[0] = m.seq;
    w[1] = u64::from(m.instrument);
    let price = |p: Option<i64>| (u64::from(p.is_some()), p.unwrap_or(0) as u64);
    match m.event {
        Event::Accepted {
            id,
            side,
            price: p,
            qty,
        } => {
            let (has, pv) = price(p);
            w[2..8].copy_from_slice(&[0, id, side_code(side), has, pv, qty]);
        }
        Event::Trade {
            maker_id,
            taker_id,
            taker_side,
            price,
            qty,
            maker_remaining,
            taker_remaining,
        } => {
            w[2..10].copy_from_slice(&[
                1,
                maker_id,
                taker_id,
                side_code(taker_side),
                price as u64,
                qty,
                maker_remaining,
                taker_remaining,
            ]);
        }
        Event::Cancelled {
            id,
            side,
            price: p,
            qty,
            reason,
        } => {
            let (has, pv) = price(p);
            w[2..9].copy_from_slice(&[2, id, side_code(side), has, pv, qty, reason as u64]);
        }
        Event::Reduced {
            id,
            side,
            qty,
            remaining,
            reason,
        } => {
            w[2..8].copy_from_slice(&[3, id, side_code(side), qty, remaining, reason as u64]);
        }
        Event::Modified {
            id,
            side,
            price,
            qty,
        } => {
            w[2..7].copy_from_slice(&[4, id, side_code(side), price as u64, qty]);
        }
        Event::Rejected {
            id,
            command,
            reason,
        } => {
            w[2..6].copy_from_slice(&[5, id, command as u64, reason as u64]);
        }
    }
    w
}

fn decode_side(v: u64) -> Side {
    if v == 0 {
        Side::Buy
    } else {
        Side::Sell
    }
}

fn decode_cancel_reason(v: u64) -> CancelReason {
    match v {
        0 => CancelReason::Requested,
        1 => CancelReason::Unfilled,
        2 => CancelReason::FillOrKill,
        3 => CancelReason::Expired,
        _ => CancelReason::SelfTrade,
    }
}

fn decode_event(w: &[u64; EVENT_WORDS]) -> MarketEvent {
    let price = |has: u64, v: u64| (has == 1).then_some(v as i64);
    let event = match w[2] {
        0 => Event::Accepted {
            id: w[3],
            side: decode_side(w[4]),
            price: price(w[5], w[6]),
            qty: w[7],
        },
        1 => Event::Trade {
            maker_id: w[3],
            taker_id: w[4],
            taker_side: decode_side(w[5]),
            price: w[6] as i64,
            qty: w[7],
            maker_remaining: w[8],
            taker_remaining: w[9],
        },
        2 => Event::Cancelled {
            id: w[3],
            side: decode_side(w[4]),
            price: price(w[5], w[6]),
            qty: w[7],
            reason: decode_cancel_reason(w[8]),
        },
        3 => Event::Reduced {
            id: w[3],
            side: decode_side(w[4]),
            qty: w[5],
            remaining: w[6],
            reason: decode_cancel_reason(w[7]),
        },
        4 => Event::Modified {
            id: w[3],
            side: decode_side(w[4]),
            price: w[5] as i64,
            qty: w[6],
        },
        _ => Event::Rejected {
            id: w[3],
            command: match w[4] {
                0 => CommandKind::New,
                1 => CommandKind::Cancel,
                2 => CommandKind::Reduce,
                _ => CommandKind::Modify,
            },
            reason: match w[5] {
                1 => RejectReason::DuplicateId,
                2 => RejectReason::UnknownOrder,
                3 => RejectReason::InvalidQuantity,
                4 => RejectReason::LotSize,
                5 => RejectReason::PriceOutOfRange,
                6 => RejectReason::PostOnlyWouldCross,
                7 => RejectReason::InvalidOrderType,
                8 => RejectReason::AlreadyExpired,
                _ => RejectReason::BookFull,
            },
        },
    };
    MarketEvent {
        seq: w[0],
        instrument: w[1] as u32,
        event,
    }
}

#[derive(Debug)]
struct Slot {
    /// `2n + 1` while event `n` is being written, `2n + 2` once written.
    seq: AtomicU64,
    words: [AtomicU64; EVENT_WORDS],
}

#[derive(Debug)]
struct Ring {
    slots: Box<[Slot]>,
    mask: u64,
    /// Number of events published.
    head: AtomicU64,
}

/// The producing end of an event ring (not `Clone`).
#[derive(Debug)]
pub struct EventPublisher {
    ring: Arc<Ring>,
    next: u64,
}

/// A subscriber: follows the stream from where it subscribed (`Clone`: a
/// clone continues from the same position, independently).
#[derive(Clone, Debug)]
pub struct Subscriber {
    ring: Arc<Ring>,
    next: u64,
}

/// What [`Subscriber::poll`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Poll {
    /// The next event.
    Event(MarketEvent),
    /// Nothing new yet.
    Empty,
    /// The subscriber fell behind: `missed` events were overwritten; it
    /// continues with the oldest event still held.
    Lagged {
        /// Events skipped.
        missed: u64,
    },
}

/// A broadcast ring holding the last `capacity` events (rounded up to a
/// power of two, at least 2).
#[must_use]
pub fn event_ring(capacity: usize) -> EventPublisher {
    let cap = capacity.max(2).next_power_of_two();
    let slots = (0..cap)
        .map(|_| Slot {
            seq: AtomicU64::new(0),
            words: std::array::from_fn(|_| AtomicU64::new(0)),
        })
        .collect();
    EventPublisher {
        ring: Arc::new(Ring {
            slots,
            mask: cap as u64 - 1,
            head: AtomicU64::new(0),
        }),
        next: 0,
    }
}

impl EventPublisher {
    /// Appends an event; returns its sequence number. Never waits.
    pub fn publish(&mut self, instrument: InstrumentId, event: Event) -> u64 {
        let n = self.next;
        self.next += 1;
        let words = encode_event(&MarketEvent {
            seq: n,
            instrument,
            event,
        });
        let slot = &self.ring.slots[(n & self.ring.mask) as usize];
        slot.seq.store(2 * n + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        for (w, v) in slot.words.iter().zip(words) {
            w.store(v, Ordering::Relaxed);
        }
        slot.seq.store(2 * n + 2, Ordering::Release);
        self.ring.head.store(n + 1, Ordering::Release);
        n
    }

    /// A subscriber starting at the next event published.
    #[must_use]
    pub fn subscribe(&self) -> Subscriber {
        Subscriber {
            ring: Arc::clone(&self.ring),
            next: self.next,
        }
    }

    /// A subscriber starting at the oldest event still held.
    #[must_use]
    pub fn subscribe_from_oldest(&self) -> Subscriber {
        let cap = self.ring.mask + 1;
        Subscriber {
            ring: Arc::clone(&self.ring),
            next: self.next.saturating_sub(cap),
        }
    }

    /// Events published so far.
    #[must_use]
    pub fn published(&self) -> u64 {
        self.next
    }
}

impl Subscriber {
    /// The sequence number of the next event this subscriber will read.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Moves to the next event not yet published (skipping what is held).
    pub fn skip_to_end(&mut self) {
        self.next = self.next.max(self.ring.head.load(Ordering::Acquire));
    }

    /// The next event, if any. Never blocks.
    pub fn poll(&mut self) -> Poll {
        let n = self.next;
        let cap = self.ring.mask + 1;
        loop {
            let head = self.ring.head.load(Ordering::Acquire);
            if n >= head {
                return Poll::Empty;
            }
            if head - n > cap {
                return self.lag(head);
            }
            let slot = &self.ring.slots[(n & self.ring.mask) as usize];
            let s1 = slot.seq.load(Ordering::Acquire);
            if s1 != 2 * n + 2 {
                if s1 > 2 * n + 2 {
                    // Overwritten by a later event.
                    return self.lag(self.ring.head.load(Ordering::Acquire));
                }
                backoff();
                continue;
            }
            let mut words = [0u64; EVENT_WORDS];
            for (o, w) in words.iter_mut().zip(slot.words.iter()) {
                *o = w.load(Ordering::Relaxed);
            }
            fence(Ordering::Acquire);
            if slot.seq.load(Ordering::Relaxed) != s1 {
                return self.lag(self.ring.head.load(Ordering::Acquire));
            }
            self.next = n + 1;
            return Poll::Event(decode_event(&words));
        }
    }

    fn lag(&mut self, head: u64) -> Poll {
        let cap = self.ring.mask + 1;
        // Skip to the oldest event that cannot be overwritten by the next
        // publication either.
        let resume = head.saturating_sub(cap - 1).max(self.next);
        let missed = resume - self.next;
        self.next = resume;
        Poll::Lagged { missed }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::book::{BookConfig, NewOrder};
    use std::sync::atomic::AtomicBool;

    #[test]
    fn depth_snapshot_of_a_book() {
        let mut book = Book::new(BookConfig::default());
        let mut ev = Vec::new();
        for (i, p) in [100, 99, 98, 97].into_iter().enumerate() {
            book.submit(&NewOrder::limit(i as u64, Side::Buy, p, 10), &mut ev)
                .unwrap();
            book.submit(
                &NewOrder::limit(10 + i as u64, Side::Sell, p + 5, 5),
                &mut ev,
            )
            .unwrap();
        }
        let (mut publisher, reader) = depth_channel(3);
        assert_eq!(reader.read(), DepthSnapshot::default());
        publisher.publish_book(42, &book);
        let snap = reader.read();
        assert_eq!(snap.seq, 42);
        assert_eq!(snap.version, 1);
        assert_eq!(snap.bids.len(), 3);
        assert_eq!(snap.best_bid(), Some((100, 10)));
        assert_eq!(snap.best_ask(), Some((102, 5)));
        assert_eq!(snap.asks[2].price, 104);
        publisher.publish(43, &[], &[]);
        let snap = reader.read();
        assert_eq!((snap.bids.len(), snap.asks.len(), snap.version), (0, 0, 2));
    }

    #[test]
    fn event_round_trip_every_kind() {
        let events = [
            Event::Accepted {
                id: 1,
                side: Side::Sell,
                price: Some(-5),
                qty: 3,
            },
            Event::Accepted {
                id: 2,
                side: Side::Buy,
                price: None,
                qty: 3,
            },
            Event::Trade {
                maker_id: 1,
                taker_id: 2,
                taker_side: Side::Buy,
                price: -5,
                qty: 2,
                maker_remaining: 1,
                taker_remaining: 1,
            },
            Event::Cancelled {
                id: 2,
                side: Side::Buy,
                price: None,
                qty: 1,
                reason: CancelReason::Unfilled,
            },
            Event::Reduced {
                id: 1,
                side: Side::Sell,
                qty: 1,
                remaining: 0,
                reason: CancelReason::SelfTrade,
            },
            Event::Modified {
                id: 1,
                side: Side::Sell,
                price: i64::MIN,
                qty: u64::MAX,
            },
            Event::Rejected {
                id: 9,
                command: CommandKind::Modify,
                reason: RejectReason::PostOnlyWouldCross,
            },
        ];
        let mut p = event_ring(8);
        let mut s = p.subscribe();
        assert_eq!(s.poll(), Poll::Empty);
        for e in events {
            p.publish(7, e);
        }
        for (i, e) in events.into_iter().enumerate() {
            assert_eq!(
                s.poll(),
                Poll::Event(MarketEvent {
                    seq: i as u64,
                    instrument: 7,
                    event: e
                })
            );
        }
        assert_eq!(s.poll(), Poll::Empty);
    }

    #[test]
    fn lagging_subscriber_is_told() {
        let mut p = event_ring(4);
        let mut s = p.subscribe();
        let e = Event::Rejected {
            id: 0,
            command: CommandKind::Cancel,
            reason: RejectReason::UnknownOrder,
        };
        for _ in 0..10 {
            p.publish(1, e);
        }
        match s.poll() {
            Poll::Lagged { missed } => assert_eq!(missed, 7),
            other => panic!("{other:?}"),
        }
        let mut seen = Vec::new();
        while let Poll::Event(m) = s.poll() {
            seen.push(m.seq);
        }
        assert_eq!(seen, vec![7, 8, 9]);
        let mut late = p.subscribe_from_oldest();
        assert_eq!(late.position(), 6);
        assert!(matches!(
            late.poll(),
            Poll::Event(MarketEvent { seq: 6, .. })
        ));
    }

    /// Readers on other threads never see a torn snapshot: the publisher
    /// writes levels whose fields all derive from one counter.
    #[test]
    fn stress_no_torn_snapshots() {
        let (mut publisher, reader) = depth_channel(4);
        let stop = Arc::new(AtomicBool::new(false));
        // The writer starts once both readers run (on a loaded machine a
        // reader might otherwise start after the writer finished).
        let started = Arc::new(AtomicU64::new(0));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let reader = reader.clone();
                let stop = Arc::clone(&stop);
                let started = Arc::clone(&started);
                std::thread::spawn(move || {
                    let mut scratch = Vec::new();
                    let mut snap = DepthSnapshot::default();
                    let mut last = 0;
                    let mut reads = 0u64;
                    started.fetch_add(1, Ordering::SeqCst);
                    while !stop.load(Ordering::Relaxed) {
                        reader.read_into(&mut scratch, &mut snap);
                        let k = snap.seq;
                        assert!(k >= last, "went backwards");
                        last = k;
                        for l in snap.bids.iter().chain(&snap.asks) {
                            assert_eq!(l.qty, k, "torn snapshot");
                            assert_eq!(l.price, k as i64 * 3);
                        }
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        while started.load(Ordering::SeqCst) < 2 {
            std::thread::yield_now();
        }
        for k in 1..200_000u64 {
            let lv = LevelInfo {
                price: k as i64 * 3,
                qty: k,
                orders: 1,
            };
            let n = (k % 5) as usize;
            let levels = vec![lv; n];
            publisher.publish(k, &levels, &levels);
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            assert!(r.join().unwrap() > 0);
        }
    }

    #[test]
    fn stress_subscribers_see_the_sequence_in_order() {
        let mut p = event_ring(64);
        let subs: Vec<_> = (0..2).map(|_| p.subscribe()).collect();
        let total = 100_000u64;
        let handles: Vec<_> = subs
            .into_iter()
            .map(|mut s| {
                std::thread::spawn(move || {
                    let mut expect = 0u64;
                    let mut lagged = 0u64;
                    while expect < total {
                        match s.poll() {
                            Poll::Event(m) => {
                                assert_eq!(m.seq, expect);
                                match m.event {
                                    Event::Trade { qty, price, .. } => {
                                        assert_eq!(qty, m.seq);
                                        assert_eq!(price, m.seq as i64);
                                    }
                                    other => panic!("{other:?}"),
                                }
                                expect += 1;
                            }
                            Poll::Lagged { missed } => {
                                lagged += missed;
                                expect = s.position();
                            }
                            Poll::Empty => std::hint::spin_loop(),
                        }
                    }
                    lagged
                })
            })
            .collect();
        for k in 0..total {
            p.publish(
                1,
                Event::Trade {
                    maker_id: 1,
                    taker_id: 2,
                    taker_side: Side::Buy,
                    price: k as i64,
                    qty: k,
                    maker_remaining: 0,
                    taker_remaining: 0,
                },
            );
        }
        for h in handles {
            h.join().unwrap();
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;

    /// Exhaustive search is exponential in the number of atomic operations
    /// (an event is 12 of them); a preemption bound of 3 covers the
    /// interleavings that matter for a seqlock (a read overlapping one or
    /// two publications) in seconds.
    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(f);
    }

    #[test]
    fn loom_seqlock_never_torn() {
        model(|| {
            let cell = Arc::new(Seqlock::new(2));
            let reader = {
                let cell = Arc::clone(&cell);
                loom::thread::spawn(move || {
                    let mut out = [0u64; 2];
                    let v = cell.read(&mut out);
                    assert_eq!(out[0], out[1], "torn read");
                    assert_eq!(out[0], v, "data does not match its version");
                })
            };
            cell.write(&[1, 1]);
            cell.write(&[2, 2]);
            reader.join().unwrap();
        });
    }

    #[test]
    fn loom_ring_in_order_or_lagged() {
        model(|| {
            let mut p = event_ring(2);
            let mut s = p.subscribe();
            let reader = loom::thread::spawn(move || {
                let mut expect = 0u64;
                for _ in 0..2 {
                    match s.poll() {
                        Poll::Event(m) => {
                            assert_eq!(m.seq, expect);
                            assert!(
                                matches!(m.event, Event::Accepted { id, qty, .. } if id == m.seq && qty == m.seq)
                            );
                            expect += 1;
                        }
                        Poll::Lagged { .. } => expect = s.position(),
                        Poll::Empty => {}
                    }
                }
            });
            for k in 0..2u64 {
                p.publish(
                    1,
                    Event::Accepted {
                        id: k,
                        side: Side::Buy,
                        price: None,
                        qty: k,
                    },
                );
            }
            reader.join().unwrap();
        });
    }
}
