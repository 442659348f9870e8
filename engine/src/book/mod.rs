//! The single-instrument price-time order book.
//!
//! One writer, no locks, no allocation per message once warm. Prices are
//! integer ticks ([`Ticks`]) and quantities whole shares ([`Qty`]); the book
//! knows nothing of certificates, signatures or money.
//!
//! * Orders live in an arena of 64-byte slots with a free list, linked into
//!   per-level FIFO queues by index. An order-id index gives O(1) cancel,
//!   reduce and modify.
//! * Each side has a price ladder (see `ladder.rs`) that finds a level in
//!   O(1) and the next-best level by a bit scan, for a deep book near the
//!   touch and a market that wanders tens of thousands of ticks alike.
//! * Every outcome is an [`Event`] handed to a [`Sink`] by value; no event
//!   allocates.
//!
//! Vocabulary: limit and market orders; time in force GTC, IOC, FOK, day
//! ([`Book::expire_day`]) and GTD (expires when the caller advances the
//! book's time past it, [`Book::advance_time`]; the book reads no clock);
//! post-only; cancel; reduce (keeps priority); modify (a new price or a larger
//! size loses priority and matches first if it now crosses, as taker, at the
//! maker's price); self-trade prevention; a [`RejectReason`] for every
//! refusal.
//!
//! Architecture invariant: the book is never crossed after a command
//! returns; within a level orders fill strictly in arrival order; every fill
//! prints at the resting (maker) order's price.
//!
//! Architecture invariant: a refused command emits exactly one
//! [`Event::Rejected`] and changes no state.

mod ids;
mod ladder;
mod market;
pub mod model;
pub(crate) mod prefetch;

pub use market::{Market, MarketError};

use crate::types::{OrderId, OwnerId, Qty, Side, Ticks, Timestamp};
use core::fmt;
use ids::IdIndex;
use ladder::{key_of, Ladder, NIL};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// How long an order may live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum TimeInForce {
    /// Good till cancelled: the remainder rests until cancelled or filled.
    #[default]
    Gtc,
    /// Immediate or cancel: match now, cancel the remainder.
    Ioc,
    /// Fill or kill: fill completely now or not at all.
    Fok,
    /// Rests until [`Book::expire_day`] is called.
    Day,
    /// Good till the given time: expires when [`Book::advance_time`] reaches it.
    Gtd(Timestamp),
}

impl TimeInForce {
    /// Whether a remainder of an order with this time in force may rest.
    #[must_use]
    pub const fn rests(self) -> bool {
        matches!(
            self,
            TimeInForce::Gtc | TimeInForce::Day | TimeInForce::Gtd(_)
        )
    }
}

/// Self-trade prevention: what happens when an incoming order would trade
/// with a resting order of the same (non-zero) owner. The incoming order's
/// mode applies. Owner `0` means "no owner" and never triggers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum StpMode {
    /// Self-trades are allowed.
    #[default]
    Off = 0,
    /// The incoming order's remainder is cancelled; the resting order stays.
    CancelNewest = 1,
    /// The resting order is cancelled and matching continues.
    CancelOldest = 2,
    /// Both are cancelled.
    CancelBoth = 3,
    /// Both are reduced by the smaller quantity without a trade; an order
    /// reduced to zero is cancelled.
    Decrement = 4,
}

impl StpMode {
    /// Decodes the `repr(u8)` value.
    #[must_use]
    pub const fn from_u8(v: u8) -> Option<StpMode> {
        Some(match v {
            0 => StpMode::Off,
            1 => StpMode::CancelNewest,
            2 => StpMode::CancelOldest,
            3 => StpMode::CancelBoth,
            4 => StpMode::Decrement,
            _ => return None,
        })
    }
}

/// A new order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NewOrder {
    /// Caller-supplied id, unique among resting orders of this book.
    pub id: OrderId,
    /// Buy or sell.
    pub side: Side,
    /// Limit price in ticks; `None` for a market order.
    pub price: Option<Ticks>,
    /// Quantity in shares (a positive multiple of the lot size).
    pub qty: Qty,
    /// Time in force. Market orders take only IOC or FOK.
    pub tif: TimeInForce,
    /// Refuse the order instead of letting it take liquidity.
    pub post_only: bool,
    /// The owner for self-trade prevention (`0`: none).
    pub owner: OwnerId,
    /// Self-trade prevention mode.
    pub stp: StpMode,
}

impl NewOrder {
    /// A GTC limit order without owner.
    #[must_use]
    pub const fn limit(id: OrderId, side: Side, price: Ticks, qty: Qty) -> Self {
        NewOrder {
            id,
            side,
            price: Some(price),
            qty,
            tif: TimeInForce::Gtc,
            post_only: false,
            owner: 0,
            stp: StpMode::Off,
        }
    }

    /// An IOC market order without owner.
    #[must_use]
    pub const fn market(id: OrderId, side: Side, qty: Qty) -> Self {
        NewOrder {
            id,
            side,
            price: None,
            qty,
            tif: TimeInForce::Ioc,
            post_only: false,
            owner: 0,
            stp: StpMode::Off,
        }
    }

    /// With another time in force.
    #[must_use]
    pub const fn with_tif(mut self, tif: TimeInForce) -> Self {
        self.tif = tif;
        self
    }

    /// As post-only.
    #[must_use]
    pub const fn with_post_only(mut self) -> Self {
        self.post_only = true;
        self
    }

    /// With an owner and a self-trade prevention mode.
    #[must_use]
    pub const fn with_owner(mut self, owner: OwnerId, stp: StpMode) -> Self {
        self.owner = owner;
        self.stp = stp;
        self
    }
}

/// A command to a book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// Submit a new order.
    New(NewOrder),
    /// Cancel a resting order.
    Cancel {
        /// The order.
        id: OrderId,
    },
    /// Reduce a resting order's open quantity by `by`, keeping its priority
    /// (`by` at or above the open quantity cancels it).
    Reduce {
        /// The order.
        id: OrderId,
        /// Shares to remove.
        by: Qty,
    },
    /// Give a resting order a new price and open quantity.
    Modify {
        /// The order.
        id: OrderId,
        /// The new limit price.
        price: Ticks,
        /// The new open quantity.
        qty: Qty,
    },
    /// Advance the book's time, expiring GTD orders due at or before `now`.
    AdvanceTime {
        /// The new time (earlier times are ignored).
        now: Timestamp,
    },
    /// Expire every day order.
    ExpireDay,
}

/// Which kind of command a rejection answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CommandKind {
    /// [`Command::New`].
    New = 0,
    /// [`Command::Cancel`].
    Cancel = 1,
    /// [`Command::Reduce`].
    Reduce = 2,
    /// [`Command::Modify`].
    Modify = 3,
}

/// Why a command was refused. A refused command changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RejectReason {
    /// A resting order already has this id.
    DuplicateId = 1,
    /// No resting order has this id (never seen, filled, cancelled, expired).
    UnknownOrder = 2,
    /// Quantity zero or above the book's maximum.
    InvalidQuantity = 3,
    /// Quantity not a multiple of the lot size.
    LotSize = 4,
    /// Price outside the book's allowed range.
    PriceOutOfRange = 5,
    /// A post-only order would take liquidity.
    PostOnlyWouldCross = 6,
    /// An impossible combination: a market order that could rest or is
    /// post-only, or a post-only IOC/FOK.
    InvalidOrderType = 7,
    /// A GTD order whose expiry is not after the book's current time.
    AlreadyExpired = 8,
    /// The book holds as many resting orders as it may.
    BookFull = 9,
}

impl RejectReason {
    /// A short stable name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectReason::DuplicateId => "duplicate_id",
            RejectReason::UnknownOrder => "unknown_order",
            RejectReason::InvalidQuantity => "invalid_quantity",
            RejectReason::LotSize => "lot_size",
            RejectReason::PriceOutOfRange => "price_out_of_range",
            RejectReason::PostOnlyWouldCross => "post_only_would_cross",
            RejectReason::InvalidOrderType => "invalid_order_type",
            RejectReason::AlreadyExpired => "already_expired",
            RejectReason::BookFull => "book_full",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for RejectReason {}

/// Why an order (or part of it) left the book without trading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CancelReason {
    /// Cancelled or reduced by its owner.
    Requested = 0,
    /// The unfilled remainder of an IOC or market order.
    Unfilled = 1,
    /// A FOK order that could not be filled completely.
    FillOrKill = 2,
    /// A day or GTD order reached its expiry.
    Expired = 3,
    /// Self-trade prevention.
    SelfTrade = 4,
}

/// What the book reports. Events are small `Copy` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// A new order was accepted (before any fill).
    Accepted {
        /// Order id.
        id: OrderId,
        /// Side.
        side: Side,
        /// Limit price, `None` for market.
        price: Option<Ticks>,
        /// Quantity as submitted.
        qty: Qty,
    },
    /// A fill between an incoming (taker) and a resting (maker) order.
    Trade {
        /// The resting order.
        maker_id: OrderId,
        /// The incoming order.
        taker_id: OrderId,
        /// The taker's side.
        taker_side: Side,
        /// The maker's price.
        price: Ticks,
        /// Shares traded.
        qty: Qty,
        /// The maker's open quantity after the fill (0: it left the book).
        maker_remaining: Qty,
        /// The taker's open quantity after the fill.
        taker_remaining: Qty,
    },
    /// An order ended without (further) trading; `qty` shares were cancelled.
    Cancelled {
        /// Order id.
        id: OrderId,
        /// Side.
        side: Side,
        /// Limit price, `None` for market.
        price: Option<Ticks>,
        /// Shares cancelled.
        qty: Qty,
        /// Why.
        reason: CancelReason,
    },
    /// An order's open quantity shrank by `qty` and it stays live.
    Reduced {
        /// Order id.
        id: OrderId,
        /// Side.
        side: Side,
        /// Shares removed.
        qty: Qty,
        /// Open quantity now.
        remaining: Qty,
        /// Why.
        reason: CancelReason,
    },
    /// A modify was accepted; fills (as taker) may follow.
    Modified {
        /// Order id.
        id: OrderId,
        /// Side.
        side: Side,
        /// New price.
        price: Ticks,
        /// New open quantity.
        qty: Qty,
    },
    /// A command was refused; nothing changed.
    Rejected {
        /// The order id the command named.
        id: OrderId,
        /// The command.
        command: CommandKind,
        /// Why.
        reason: RejectReason,
    },
}

/// Receives a book's events, in order. Implemented by `Vec<Event>`,
/// [`NullSink`], [`CountingSink`] and [`FnSink`].
pub trait Sink {
    /// One event.
    fn event(&mut self, e: Event);
}

impl Sink for Vec<Event> {
    #[inline]
    fn event(&mut self, e: Event) {
        self.push(e);
    }
}

/// Discards events.
#[derive(Clone, Copy, Debug, Default)]
pub struct NullSink;

impl Sink for NullSink {
    #[inline]
    fn event(&mut self, _e: Event) {}
}

/// Counts events by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CountingSink {
    /// [`Event::Accepted`].
    pub accepted: u64,
    /// [`Event::Trade`].
    pub trades: u64,
    /// Shares traded.
    pub traded_qty: u64,
    /// [`Event::Cancelled`].
    pub cancelled: u64,
    /// [`Event::Reduced`].
    pub reduced: u64,
    /// [`Event::Modified`].
    pub modified: u64,
    /// [`Event::Rejected`].
    pub rejected: u64,
}

impl Sink for CountingSink {
    #[inline]
    fn event(&mut self, e: Event) {
        match e {
            Event::Accepted { .. } => self.accepted += 1,
            Event::Trade { qty, .. } => {
                self.trades += 1;
                self.traded_qty += qty;
            }
            Event::Cancelled { .. } => self.cancelled += 1,
            Event::Reduced { .. } => self.reduced += 1,
            Event::Modified { .. } => self.modified += 1,
            Event::Rejected { .. } => self.rejected += 1,
        }
    }
}

/// Adapts a closure to a [`Sink`].
#[derive(Debug)]
pub struct FnSink<F: FnMut(Event)>(pub F);

impl<F: FnMut(Event)> Sink for FnSink<F> {
    #[inline]
    fn event(&mut self, e: Event) {
        (self.0)(e);
    }
}

/// Whether a modify that keeps the price and does not grow the size keeps
/// the order's time priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ModifyPriority {
    /// Same price and a size at or below the open quantity keeps priority;
    /// anything else loses it (the usual exchange rule).
    #[default]
    KeepOnDecrease,
    /// Every modify is cancel + re-insert and loses priority (the Flash
    /// benchmark's rule).
    AlwaysLose,
}

/// A book's fixed rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BookConfig {
    /// Quantities (and reductions) must be multiples of this; at least 1.
    pub lot_size: Qty,
    /// Largest quantity of one order.
    pub max_qty: Qty,
    /// Lowest allowed limit price (ticks, inclusive).
    pub min_price: Ticks,
    /// Highest allowed limit price (ticks, inclusive).
    pub max_price: Ticks,
    /// Modify priority rule.
    pub modify_priority: ModifyPriority,
    /// Most resting orders at once.
    pub max_orders: u32,
    /// Order ids below this are indexed by a direct table (memory: 4 bytes
    /// per id up to the largest id seen); others by a hash map.
    pub direct_id_limit: u64,
}

impl Default for BookConfig {
    fn default() -> Self {
        BookConfig {
            lot_size: 1,
            max_qty: u64::MAX / 2,
            min_price: i64::MIN + 1,
            max_price: i64::MAX,
            modify_priority: ModifyPriority::KeepOnDecrease,
            max_orders: u32::MAX - 1,
            direct_id_limit: 1 << 22,
        }
    }
}

impl BookConfig {
    /// The rules the Flash conformance workloads assume.
    #[must_use]
    pub fn flash() -> Self {
        BookConfig {
            modify_priority: ModifyPriority::AlwaysLose,
            ..BookConfig::default()
        }
    }

    /// Checks the configuration itself.
    ///
    /// # Errors
    /// A description of the first inconsistent field.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.lot_size == 0 {
            return Err("lot_size must be at least 1");
        }
        if self.max_qty < self.lot_size {
            return Err("max_qty must be at least lot_size");
        }
        if self.min_price > self.max_price {
            return Err("min_price must not exceed max_price");
        }
        if self.max_orders == 0 || self.max_orders == u32::MAX {
            return Err("max_orders must be in 1..u32::MAX");
        }
        Ok(())
    }
}

/// One price level, as reported by queries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LevelInfo {
    /// Price in ticks.
    pub price: Ticks,
    /// Total open quantity.
    pub qty: Qty,
    /// Number of orders.
    pub orders: u32,
}

/// One resting order, as reported by queries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OrderInfo {
    /// Order id.
    pub id: OrderId,
    /// Side.
    pub side: Side,
    /// Limit price.
    pub price: Ticks,
    /// Open quantity.
    pub qty: Qty,
    /// Owner (self-trade prevention).
    pub owner: OwnerId,
    /// Self-trade prevention mode (applies when it modifies into a cross).
    pub stp: StpMode,
    /// GTC, day or GTD.
    pub tif: TimeInForce,
    /// Post-only.
    pub post_only: bool,
    /// Priority sequence: lower arrived earlier (renewed when priority is lost).
    pub priority: u64,
}

const TIF_GTC: u8 = 0;
const TIF_DAY: u8 = 1;
const TIF_GTD: u8 = 2;

/// An arena slot: one resting order, exactly one cache line.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Slot {
    id: OrderId,
    price: Ticks,
    /// Open quantity; 0 marks a free slot.
    qty: Qty,
    owner: OwnerId,
    expire: Timestamp,
    priority: u64,
    prev: u32,
    /// Next in the level's FIFO, or next free slot.
    next: u32,
    level: u32,
    side: Side,
    tif: u8,
    stp: StpMode,
    post_only: bool,
}

const _: () = assert!(std::mem::size_of::<Slot>() == 64);

/// Bytes the arena spends on one resting order.
pub const BYTES_PER_ORDER: usize = std::mem::size_of::<Slot>();

impl Slot {
    const FREE: Slot = Slot {
        id: 0,
        price: 0,
        qty: 0,
        owner: 0,
        expire: 0,
        priority: u64::MAX,
        prev: NIL,
        next: NIL,
        level: NIL,
        side: Side::Buy,
        tif: TIF_GTC,
        stp: StpMode::Off,
        post_only: false,
    };

    fn tif(&self) -> TimeInForce {
        match self.tif {
            TIF_DAY => TimeInForce::Day,
            TIF_GTD => TimeInForce::Gtd(self.expire),
            _ => TimeInForce::Gtc,
        }
    }

    fn info(&self) -> OrderInfo {
        OrderInfo {
            id: self.id,
            side: self.side,
            price: self.price,
            qty: self.qty,
            owner: self.owner,
            stp: self.stp,
            tif: self.tif(),
            post_only: self.post_only,
            priority: self.priority,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Level {
    price: Ticks,
    total: Qty,
    head: u32,
    tail: u32,
    count: u32,
}

/// The incoming side of a match.
#[derive(Clone, Copy, Debug)]
struct Taker {
    id: OrderId,
    side: Side,
    limit: Option<Ticks>,
    rem: Qty,
    owner: OwnerId,
    stp: StpMode,
}

impl Taker {
    #[inline]
    fn stp_active(&self) -> bool {
        self.stp != StpMode::Off && self.owner != 0
    }

    #[inline]
    fn crosses(&self, maker_price: Ticks) -> bool {
        match (self.side, self.limit) {
            (_, None) => true,
            (Side::Buy, Some(p)) => maker_price <= p,
            (Side::Sell, Some(p)) => maker_price >= p,
        }
    }
}

/// What rests after matching.
#[derive(Clone, Copy, Debug)]
struct RestSpec {
    id: OrderId,
    side: Side,
    price: Ticks,
    qty: Qty,
    owner: OwnerId,
    stp: StpMode,
    tif: u8,
    expire: Timestamp,
    post_only: bool,
}

/// The static checks of a new order (those that do not look at the book).
/// Shared with the reference model so both refuse in the same order.
pub(crate) fn validate_new(
    cfg: &BookConfig,
    o: &NewOrder,
    now: Timestamp,
) -> Result<(), RejectReason> {
    let market = o.price.is_none();
    if (market && (o.tif.rests() || o.post_only)) || (o.post_only && !o.tif.rests()) {
        return Err(RejectReason::InvalidOrderType);
    }
    validate_qty(cfg, o.qty)?;
    if let Some(p) = o.price {
        validate_price(cfg, p)?;
    }
    if let TimeInForce::Gtd(t) = o.tif {
        if t <= now {
            return Err(RejectReason::AlreadyExpired);
        }
    }
    Ok(())
}

pub(crate) fn validate_qty(cfg: &BookConfig, qty: Qty) -> Result<(), RejectReason> {
    if qty == 0 || qty > cfg.max_qty {
        return Err(RejectReason::InvalidQuantity);
    }
    if qty % cfg.lot_size != 0 {
        return Err(RejectReason::LotSize);
    }
    Ok(())
}

pub(crate) fn validate_price(cfg: &BookConfig, p: Ticks) -> Result<(), RejectReason> {
    if p < cfg.min_price || p > cfg.max_price {
        return Err(RejectReason::PriceOutOfRange);
    }
    Ok(())
}

/// A single-instrument price-time order book. See the module docs.
#[derive(Clone, Debug)]
pub struct Book {
    cfg: BookConfig,
    slots: Vec<Slot>,
    free_slot: u32,
    live: u32,
    levels: Vec<Level>,
    free_levels: Vec<u32>,
    /// Index 0: bids, 1: asks.
    sides: [Ladder; 2],
    ids: IdIndex,
    /// Min-heap of (expiry, priority, slot) for GTD orders; stale entries are
    /// skipped when popped and swept when they outnumber the live ones.
    expiries: BinaryHeap<Reverse<(Timestamp, u64, u32)>>,
    gtd_live: usize,
    now: Timestamp,
    next_priority: u64,
}

impl Default for Book {
    fn default() -> Self {
        Book::new(BookConfig::default())
    }
}

impl Book {
    /// An empty book.
    ///
    /// # Panics
    /// If `cfg` is inconsistent (see [`BookConfig::validate`]); use
    /// [`Book::try_new`] to get an error instead.
    #[must_use]
    pub fn new(cfg: BookConfig) -> Self {
        match Book::try_new(cfg) {
            Ok(b) => b,
            Err(e) => panic!("invalid book configuration: {e}"),
        }
    }

    /// An empty book, or why the configuration is refused.
    ///
    /// # Errors
    /// See [`BookConfig::validate`].
    pub fn try_new(cfg: BookConfig) -> Result<Self, &'static str> {
        cfg.validate()?;
        Ok(Book {
            cfg,
            slots: Vec::new(),
            free_slot: NIL,
            live: 0,
            levels: Vec::new(),
            free_levels: Vec::new(),
            sides: [Ladder::default(), Ladder::default()],
            ids: IdIndex::new(cfg.direct_id_limit),
            expiries: BinaryHeap::new(),
            gtd_live: 0,
            now: 0,
            next_priority: 0,
        })
    }

    /// Pre-allocates room for `orders` resting orders (so a warm book does
    /// not allocate).
    pub fn reserve(&mut self, orders: usize) {
        self.slots.reserve(orders);
        self.levels.reserve(orders / 4);
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &BookConfig {
        &self.cfg
    }

    /// The book's current time (the latest [`Book::advance_time`]).
    #[must_use]
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Number of resting orders.
    #[must_use]
    pub fn len(&self) -> usize {
        self.live as usize
    }

    /// Whether no order rests.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Applies one command; its outcome goes to `sink`.
    pub fn apply<S: Sink>(&mut self, cmd: &Command, sink: &mut S) {
        // The outcome is also in the events; the Result is for direct callers.
        let _ = match *cmd {
            Command::New(ref o) => self.submit(o, sink),
            Command::Cancel { id } => self.cancel(id, sink),
            Command::Reduce { id, by } => self.reduce(id, by, sink),
            Command::Modify { id, price, qty } => self.modify(id, price, qty, sink),
            Command::AdvanceTime { now } => {
                self.advance_time(now, sink);
                Ok(())
            }
            Command::ExpireDay => {
                self.expire_day(sink);
                Ok(())
            }
        };
    }

    /// Submits a new order: it is accepted, matched, and its remainder rests
    /// or is cancelled according to its time in force.
    ///
    /// # Errors
    /// The reason it was refused (also emitted as [`Event::Rejected`]).
    pub fn submit<S: Sink>(&mut self, o: &NewOrder, sink: &mut S) -> Result<(), RejectReason> {
        if let Err(reason) = self.check_new(o) {
            sink.event(Event::Rejected {
                id: o.id,
                command: CommandKind::New,
                reason,
            });
            return Err(reason);
        }
        sink.event(Event::Accepted {
            id: o.id,
            side: o.side,
            price: o.price,
            qty: o.qty,
        });
        let mut t = Taker {
            id: o.id,
            side: o.side,
            limit: o.price,
            rem: o.qty,
            owner: o.owner,
            stp: o.stp,
        };
        if o.tif == TimeInForce::Fok && !self.fillable(&t) {
            sink.event(Event::Cancelled {
                id: o.id,
                side: o.side,
                price: o.price,
                qty: o.qty,
                reason: CancelReason::FillOrKill,
            });
            return Ok(());
        }
        if self.match_taker(&mut t, sink) || t.rem == 0 {
            return Ok(());
        }
        match (o.tif, o.price) {
            (TimeInForce::Gtc | TimeInForce::Day | TimeInForce::Gtd(_), Some(price)) => {
                let (tif, expire) = match o.tif {
                    TimeInForce::Day => (TIF_DAY, 0),
                    TimeInForce::Gtd(t) => (TIF_GTD, t),
                    _ => (TIF_GTC, 0),
                };
                self.rest(RestSpec {
                    id: o.id,
                    side: o.side,
                    price,
                    qty: t.rem,
                    owner: o.owner,
                    stp: o.stp,
                    tif,
                    expire,
                    post_only: o.post_only,
                });
            }
            _ => sink.event(Event::Cancelled {
                id: o.id,
                side: o.side,
                price: o.price,
                qty: t.rem,
                reason: CancelReason::Unfilled,
            }),
        }
        Ok(())
    }

    fn check_new(&self, o: &NewOrder) -> Result<(), RejectReason> {
        validate_new(&self.cfg, o, self.now)?;
        if self.ids.get(o.id).is_some() {
            return Err(RejectReason::DuplicateId);
        }
        if o.tif.rests() && self.live >= self.cfg.max_orders {
            return Err(RejectReason::BookFull);
        }
        if o.post_only {
            if let Some(p) = o.price {
                if self.would_cross(o.side, p) {
                    return Err(RejectReason::PostOnlyWouldCross);
                }
            }
        }
        Ok(())
    }

    /// Whether a limit order at `price` on `side` would meet the other side.
    fn would_cross(&self, side: Side, price: Ticks) -> bool {
        match self.best_level(side.opposite()) {
            None => false,
            Some(l) => match side {
                Side::Buy => l.price <= price,
                Side::Sell => l.price >= price,
            },
        }
    }

    /// Cancels a resting order.
    ///
    /// # Errors
    /// [`RejectReason::UnknownOrder`] (also emitted as [`Event::Rejected`]).
    pub fn cancel<S: Sink>(&mut self, id: OrderId, sink: &mut S) -> Result<(), RejectReason> {
        let Some(s) = self.ids.get(id) else {
            return reject(sink, id, CommandKind::Cancel, RejectReason::UnknownOrder);
        };
        let slot = self.slots[s as usize];
        self.remove(s);
        sink.event(Event::Cancelled {
            id,
            side: slot.side,
            price: Some(slot.price),
            qty: slot.qty,
            reason: CancelReason::Requested,
        });
        Ok(())
    }

    /// Reduces a resting order's open quantity by `by`, keeping its priority;
    /// `by` at or above the open quantity cancels the order.
    ///
    /// # Errors
    /// [`RejectReason::UnknownOrder`], [`RejectReason::InvalidQuantity`] for
    /// zero, [`RejectReason::LotSize`] (also emitted as [`Event::Rejected`]).
    pub fn reduce<S: Sink>(
        &mut self,
        id: OrderId,
        by: Qty,
        sink: &mut S,
    ) -> Result<(), RejectReason> {
        let Some(s) = self.ids.get(id) else {
            return reject(sink, id, CommandKind::Reduce, RejectReason::UnknownOrder);
        };
        if by == 0 {
            return reject(sink, id, CommandKind::Reduce, RejectReason::InvalidQuantity);
        }
        if by % self.cfg.lot_size != 0 {
            return reject(sink, id, CommandKind::Reduce, RejectReason::LotSize);
        }
        let slot = self.slots[s as usize];
        if by >= slot.qty {
            self.remove(s);
            sink.event(Event::Cancelled {
                id,
                side: slot.side,
                price: Some(slot.price),
                qty: slot.qty,
                reason: CancelReason::Requested,
            });
        } else {
            let remaining = self.shrink(s, by);
            sink.event(Event::Reduced {
                id,
                side: slot.side,
                qty: by,
                remaining,
                reason: CancelReason::Requested,
            });
        }
        Ok(())
    }

    /// Gives a resting order a new price and open quantity. Under
    /// [`ModifyPriority::KeepOnDecrease`] the same price with a size at or
    /// below the open quantity keeps priority; otherwise the order loses
    /// priority, is re-entered, and first matches as taker if it now crosses.
    ///
    /// # Errors
    /// [`RejectReason::UnknownOrder`], quantity and price checks, or
    /// [`RejectReason::PostOnlyWouldCross`] for a post-only order (also
    /// emitted as [`Event::Rejected`]).
    pub fn modify<S: Sink>(
        &mut self,
        id: OrderId,
        price: Ticks,
        qty: Qty,
        sink: &mut S,
    ) -> Result<(), RejectReason> {
        let Some(s) = self.ids.get(id) else {
            return reject(sink, id, CommandKind::Modify, RejectReason::UnknownOrder);
        };
        if let Err(r) = validate_qty(&self.cfg, qty).and_then(|()| validate_price(&self.cfg, price))
        {
            return reject(sink, id, CommandKind::Modify, r);
        }
        let slot = self.slots[s as usize];
        if slot.post_only && self.would_cross(slot.side, price) {
            return reject(
                sink,
                id,
                CommandKind::Modify,
                RejectReason::PostOnlyWouldCross,
            );
        }
        sink.event(Event::Modified {
            id,
            side: slot.side,
            price,
            qty,
        });
        if self.cfg.modify_priority == ModifyPriority::KeepOnDecrease
            && price == slot.price
            && qty <= slot.qty
        {
            self.shrink(s, slot.qty - qty);
            return Ok(());
        }
        self.remove(s);
        let mut t = Taker {
            id,
            side: slot.side,
            limit: Some(price),
            rem: qty,
            owner: slot.owner,
            stp: slot.stp,
        };
        if self.match_taker(&mut t, sink) || t.rem == 0 {
            return Ok(());
        }
        self.rest(RestSpec {
            id,
            side: slot.side,
            price,
            qty: t.rem,
            owner: slot.owner,
            stp: slot.stp,
            tif: slot.tif,
            expire: slot.expire,
            post_only: slot.post_only,
        });
        Ok(())
    }

    /// Advances the book's time to `now` (never backwards) and expires every
    /// GTD order due at or before it, earliest expiry first, then in priority
    /// order.
    pub fn advance_time<S: Sink>(&mut self, now: Timestamp, sink: &mut S) {
        if now <= self.now {
            return;
        }
        self.now = now;
        while let Some(&Reverse((t, prio, s))) = self.expiries.peek() {
            if t > now {
                break;
            }
            self.expiries.pop();
            let slot = self.slots[s as usize];
            if slot.qty == 0 || slot.priority != prio || slot.tif != TIF_GTD {
                continue; // stale: the order left or lost priority
            }
            self.remove(s);
            sink.event(Event::Cancelled {
                id: slot.id,
                side: slot.side,
                price: Some(slot.price),
                qty: slot.qty,
                reason: CancelReason::Expired,
            });
        }
    }

    /// Expires every day order, in priority order.
    pub fn expire_day<S: Sink>(&mut self, sink: &mut S) {
        let mut day: Vec<(u64, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, sl)| sl.qty != 0 && sl.tif == TIF_DAY)
            .map(|(i, sl)| (sl.priority, i as u32))
            .collect();
        day.sort_unstable();
        for (_, s) in day {
            let slot = self.slots[s as usize];
            self.remove(s);
            sink.event(Event::Cancelled {
                id: slot.id,
                side: slot.side,
                price: Some(slot.price),
                qty: slot.qty,
                reason: CancelReason::Expired,
            });
        }
    }

    /// Removes every order (no events) and resets the time.
    pub fn clear(&mut self) {
        let cfg = self.cfg;
        *self = Book::new(cfg);
    }

    // ---- matching ------------------------------------------------------

    /// Matches `t` against the other side. Returns `true` when self-trade
    /// prevention ended the taker (its cancel already emitted).
    #[inline]
    fn match_taker<S: Sink>(&mut self, t: &mut Taker, sink: &mut S) -> bool {
        let oi = t.side.opposite().index();
        while t.rem > 0 {
            let Some((_, lvl)) = self.sides[oi].best() else {
                return false;
            };
            let price = self.levels[lvl as usize].price;
            if !t.crosses(price) {
                return false;
            }
            let mut cur = self.levels[lvl as usize].head;
            while t.rem > 0 && cur != NIL {
                let s = cur;
                let maker = self.slots[s as usize];
                cur = maker.next;
                if t.stp_active() && maker.owner == t.owner {
                    if self.self_trade(t, s, &maker, sink) {
                        return true;
                    }
                    continue;
                }
                let fill = t.rem.min(maker.qty);
                t.rem -= fill;
                let maker_remaining = maker.qty - fill;
                sink.event(Event::Trade {
                    maker_id: maker.id,
                    taker_id: t.id,
                    taker_side: t.side,
                    price,
                    qty: fill,
                    maker_remaining,
                    taker_remaining: t.rem,
                });
                if maker_remaining == 0 {
                    self.remove(s);
                } else {
                    self.slots[s as usize].qty = maker_remaining;
                    self.levels[lvl as usize].total -= fill;
                }
            }
        }
        false
    }

    /// Applies self-trade prevention between taker `t` and resting `maker`
    /// (in slot `s`). Returns `true` when the taker is finished.
    fn self_trade<S: Sink>(&mut self, t: &mut Taker, s: u32, maker: &Slot, sink: &mut S) -> bool {
        let cancel_maker = |book: &mut Book, sink: &mut S| {
            book.remove(s);
            sink.event(Event::Cancelled {
                id: maker.id,
                side: maker.side,
                price: Some(maker.price),
                qty: maker.qty,
                reason: CancelReason::SelfTrade,
            });
        };
        let cancel_taker = |t: &mut Taker, sink: &mut S| {
            sink.event(Event::Cancelled {
                id: t.id,
                side: t.side,
                price: t.limit,
                qty: t.rem,
                reason: CancelReason::SelfTrade,
            });
            t.rem = 0;
        };
        match t.stp {
            StpMode::Off => false,
            StpMode::CancelOldest => {
                cancel_maker(self, sink);
                false
            }
            StpMode::CancelNewest => {
                cancel_taker(t, sink);
                true
            }
            StpMode::CancelBoth => {
                cancel_maker(self, sink);
                cancel_taker(t, sink);
                true
            }
            StpMode::Decrement => {
                let d = t.rem.min(maker.qty);
                if d == maker.qty {
                    cancel_maker(self, sink);
                } else {
                    let remaining = self.shrink(s, d);
                    sink.event(Event::Reduced {
                        id: maker.id,
                        side: maker.side,
                        qty: d,
                        remaining,
                        reason: CancelReason::SelfTrade,
                    });
                }
                if d == t.rem {
                    cancel_taker(t, sink);
                    true
                } else {
                    t.rem -= d;
                    sink.event(Event::Reduced {
                        id: t.id,
                        side: t.side,
                        qty: d,
                        remaining: t.rem,
                        reason: CancelReason::SelfTrade,
                    });
                    false
                }
            }
        }
    }

    /// Whether matching `t` now would leave no remainder (the FOK test).
    fn fillable(&self, t: &Taker) -> bool {
        let ladder = &self.sides[t.side.opposite().index()];
        let mut got: Qty = 0;
        let mut cur = ladder.best();
        while let Some((key, lvl)) = cur {
            let level = &self.levels[lvl as usize];
            if !t.crosses(level.price) {
                return false;
            }
            if t.stp_active() {
                let mut o = level.head;
                while o != NIL {
                    let m = &self.slots[o as usize];
                    if m.owner == t.owner {
                        match t.stp {
                            StpMode::CancelNewest | StpMode::CancelBoth => return false,
                            StpMode::CancelOldest => {}
                            StpMode::Off | StpMode::Decrement => got = got.saturating_add(m.qty),
                        }
                    } else {
                        got = got.saturating_add(m.qty);
                    }
                    if got >= t.rem {
                        return true;
                    }
                    o = m.next;
                }
            } else {
                got = got.saturating_add(level.total);
                if got >= t.rem {
                    return true;
                }
            }
            cur = ladder.next_after(key);
        }
        false
    }

    // ---- arena and levels ----------------------------------------------

    fn rest(&mut self, r: RestSpec) {
        let s = if self.free_slot != NIL {
            let s = self.free_slot;
            self.free_slot = self.slots[s as usize].next;
            s
        } else {
            self.slots.push(Slot::FREE);
            (self.slots.len() - 1) as u32
        };
        let si = r.side.index();
        let key = key_of(r.side == Side::Buy, r.price);
        let lvl = match self.sides[si].get(key) {
            Some(l) => l,
            None => {
                let level = Level {
                    price: r.price,
                    total: 0,
                    head: NIL,
                    tail: NIL,
                    count: 0,
                };
                let l = if let Some(l) = self.free_levels.pop() {
                    self.levels[l as usize] = level;
                    l
                } else {
                    self.levels.push(level);
                    (self.levels.len() - 1) as u32
                };
                self.sides[si].insert(key, l);
                l
            }
        };
        let priority = self.next_priority;
        self.next_priority += 1;
        let level = &mut self.levels[lvl as usize];
        let prev = level.tail;
        level.tail = s;
        if prev == NIL {
            level.head = s;
        }
        level.total += r.qty;
        level.count += 1;
        if prev != NIL {
            self.slots[prev as usize].next = s;
        }
        self.slots[s as usize] = Slot {
            id: r.id,
            price: r.price,
            qty: r.qty,
            owner: r.owner,
            expire: r.expire,
            priority,
            prev,
            next: NIL,
            level: lvl,
            side: r.side,
            tif: r.tif,
            stp: r.stp,
            post_only: r.post_only,
        };
        self.ids.insert(r.id, s);
        self.live += 1;
        if r.tif == TIF_GTD {
            self.gtd_live += 1;
            self.expiries.push(Reverse((r.expire, priority, s)));
            if self.expiries.len() > 2 * self.gtd_live + 1024 {
                self.sweep_expiries();
            }
        }
    }

    fn sweep_expiries(&mut self) {
        let slots = &self.slots;
        self.expiries.retain(|&Reverse((_, prio, s))| {
            let sl = &slots[s as usize];
            sl.qty != 0 && sl.priority == prio && sl.tif == TIF_GTD
        });
    }

    /// Takes `by` (< open quantity) off the order in slot `s`; returns the
    /// open quantity left.
    fn shrink(&mut self, s: u32, by: Qty) -> Qty {
        let slot = &mut self.slots[s as usize];
        slot.qty -= by;
        let left = slot.qty;
        self.levels[slot.level as usize].total -= by;
        left
    }

    /// Unlinks the order in slot `s` from its level (dropping the level when
    /// it empties), frees its id and the slot.
    fn remove(&mut self, s: u32) {
        let slot = self.slots[s as usize];
        let lvl = slot.level as usize;
        if slot.prev != NIL {
            self.slots[slot.prev as usize].next = slot.next;
        } else {
            self.levels[lvl].head = slot.next;
        }
        if slot.next != NIL {
            self.slots[slot.next as usize].prev = slot.prev;
        } else {
            self.levels[lvl].tail = slot.prev;
        }
        let level = &mut self.levels[lvl];
        level.total -= slot.qty;
        level.count -= 1;
        if level.count == 0 {
            self.sides[slot.side.index()].remove(key_of(slot.side == Side::Buy, slot.price));
            self.free_levels.push(slot.level);
        }
        self.ids.remove(slot.id);
        self.live -= 1;
        if slot.tif == TIF_GTD {
            self.gtd_live -= 1;
        }
        self.slots[s as usize] = Slot {
            next: self.free_slot,
            ..Slot::FREE
        };
        self.free_slot = s;
    }

    // ---- queries -------------------------------------------------------

    fn level_info(&self, lvl: u32) -> LevelInfo {
        let l = &self.levels[lvl as usize];
        LevelInfo {
            price: l.price,
            qty: l.total,
            orders: l.count,
        }
    }

    /// The best level of `side` (highest bid or lowest ask).
    #[must_use]
    pub fn best_level(&self, side: Side) -> Option<LevelInfo> {
        self.sides[side.index()]
            .best()
            .map(|(_, l)| self.level_info(l))
    }

    /// Best bid: price and total quantity.
    #[must_use]
    pub fn best_bid(&self) -> Option<(Ticks, Qty)> {
        self.best_level(Side::Buy).map(|l| (l.price, l.qty))
    }

    /// Best ask: price and total quantity.
    #[must_use]
    pub fn best_ask(&self) -> Option<(Ticks, Qty)> {
        self.best_level(Side::Sell).map(|l| (l.price, l.qty))
    }

    /// The level of `side` at `price`, if any order rests there.
    #[must_use]
    pub fn depth_at(&self, side: Side, price: Ticks) -> Option<LevelInfo> {
        self.sides[side.index()]
            .get(key_of(side == Side::Buy, price))
            .map(|l| self.level_info(l))
    }

    /// The levels of `side`, best first.
    #[must_use]
    pub fn levels(&self, side: Side) -> Levels<'_> {
        Levels {
            book: self,
            side,
            cur: self.sides[side.index()].best(),
        }
    }

    /// Writes the best `n` levels of `side` into `out` (cleared first).
    pub fn top_levels(&self, side: Side, n: usize, out: &mut Vec<LevelInfo>) {
        out.clear();
        out.extend(self.levels(side).take(n));
    }

    /// Hints the CPU to fetch the id-index entry of order `id`, which a
    /// later command on it will read. Batch paths call it some commands
    /// ahead (then [`Book::prefetch_order`] nearer). Changes nothing.
    #[inline]
    pub fn prefetch_index(&self, id: OrderId) {
        self.ids.prefetch(id);
    }

    /// Hints the CPU to fetch the resting order `id` itself (reads its
    /// index entry, so call [`Book::prefetch_index`] earlier). Changes
    /// nothing.
    #[inline]
    pub fn prefetch_order(&self, id: OrderId) {
        if let Some(s) = self.ids.get(id) {
            prefetch::prefetch(&self.slots[s as usize]);
        }
    }

    /// The resting orders at `price` on `side`, in time priority.
    #[must_use]
    pub fn level_orders(&self, side: Side, price: Ticks) -> LevelOrders<'_> {
        let cur = self.sides[side.index()]
            .get(key_of(side == Side::Buy, price))
            .map_or(NIL, |l| self.levels[l as usize].head);
        LevelOrders { book: self, cur }
    }

    /// A resting order by id.
    #[must_use]
    pub fn order(&self, id: OrderId) -> Option<OrderInfo> {
        self.ids.get(id).map(|s| self.slots[s as usize].info())
    }

    /// Every resting order of `side` (level by level, best first; within a
    /// level in time priority): the L3 view.
    #[must_use]
    pub fn orders(&self, side: Side) -> Orders<'_> {
        let mut levels = self.levels(side);
        let first = levels.next_level_idx();
        Orders {
            levels,
            cur: first.map_or(NIL, |l| self.levels[l as usize].head),
        }
    }

    /// BLAKE3 over a canonical walk of the book: the time, then for bids and
    /// asks each level best first, each order in priority order. Equal books
    /// (same orders, same priority order) hash equal, whatever their history.
    #[must_use]
    pub fn state_hash(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(b"kabuken/book-state/v1");
        h.update(&self.now.to_le_bytes());
        for side in [Side::Buy, Side::Sell] {
            h.update(&[side as u8]);
            for l in self.levels(side) {
                h.update(&l.price.to_le_bytes());
                h.update(&l.qty.to_le_bytes());
                h.update(&l.orders.to_le_bytes());
            }
            h.update(b"|");
            for o in self.orders(side) {
                hash_order(&mut h, &o);
            }
        }
        *h.finalize().as_bytes()
    }

    /// Heap bytes held by the book (arena, levels, ladders, index).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.levels.capacity() * std::mem::size_of::<Level>()
            + self
                .sides
                .iter()
                .map(|l| l.chunk_capacity() * 272)
                .sum::<usize>()
            + self.ids.heap_bytes()
            + self.expiries.capacity() * 24
    }
}

pub(crate) fn hash_order(h: &mut blake3::Hasher, o: &OrderInfo) {
    let (tif, exp) = match o.tif {
        TimeInForce::Day => (1u8, 0),
        TimeInForce::Gtd(t) => (2, t),
        _ => (0, 0),
    };
    h.update(&o.id.to_le_bytes());
    h.update(&o.price.to_le_bytes());
    h.update(&o.qty.to_le_bytes());
    h.update(&o.owner.to_le_bytes());
    h.update(&[o.side as u8, tif, o.stp as u8, u8::from(o.post_only)]);
    h.update(&exp.to_le_bytes());
}

fn reject<S: Sink>(
    sink: &mut S,
    id: OrderId,
    command: CommandKind,
    reason: RejectReason,
) -> Result<(), RejectReason> {
    sink.event(Event::Rejected {
        id,
        command,
        reason,
    });
    Err(reason)
}

/// Iterator over one side's levels, best first.
#[derive(Debug)]
pub struct Levels<'a> {
    book: &'a Book,
    side: Side,
    cur: Option<(i64, u32)>,
}

impl Levels<'_> {
    fn next_level_idx(&mut self) -> Option<u32> {
        let (key, lvl) = self.cur?;
        self.cur = self.book.sides[self.side.index()].next_after(key);
        Some(lvl)
    }
}

impl Iterator for Levels<'_> {
    type Item = LevelInfo;
    fn next(&mut self) -> Option<LevelInfo> {
        self.next_level_idx().map(|l| self.book.level_info(l))
    }
}

/// Iterator over one side's resting orders (L3), best level first.
#[derive(Debug)]
pub struct Orders<'a> {
    levels: Levels<'a>,
    cur: u32,
}

impl Iterator for Orders<'_> {
    type Item = OrderInfo;
    fn next(&mut self) -> Option<OrderInfo> {
        let book = self.levels.book;
        while self.cur == NIL {
            let l = self.levels.next_level_idx()?;
            self.cur = book.levels[l as usize].head;
        }
        let slot = &book.slots[self.cur as usize];
        self.cur = slot.next;
        Some(slot.info())
    }
}

/// Iterator over the orders of one level, in time priority.
#[derive(Debug)]
pub struct LevelOrders<'a> {
    book: &'a Book,
    cur: u32,
}

impl Iterator for LevelOrders<'_> {
    type Item = OrderInfo;
    fn next(&mut self) -> Option<OrderInfo> {
        if self.cur == NIL {
            return None;
        }
        let slot = &self.book.slots[self.cur as usize];
        self.cur = slot.next;
        Some(slot.info())
    }
}

#[cfg(test)]
mod tests;
