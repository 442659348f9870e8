//! The order book (`kbk_book`) and the market of books (`kbk_market`).

use crate::status::*;
use core::ffi::c_void;
use engine::book::{
    Book, BookConfig, CancelReason, Command, CommandKind, Event, LevelInfo, Market, MarketError,
    ModifyPriority, NewOrder, OrderInfo, RejectReason, Sink, StpMode, TimeInForce,
};
use engine::types::Side;

// ---- plain C types ----------------------------------------------------------

/// Buy.
pub const KBK_SIDE_BUY: u8 = 0;
/// Sell.
pub const KBK_SIDE_SELL: u8 = 1;

/// A limit order (`kbk_order.order_type`).
pub const KBK_ORDER_LIMIT: u8 = 0;
/// A market order (time in force IOC or FOK only).
pub const KBK_ORDER_MARKET: u8 = 1;

/// Good till cancelled.
pub const KBK_TIF_GTC: u8 = 0;
/// Immediate or cancel.
pub const KBK_TIF_IOC: u8 = 1;
/// Fill or kill.
pub const KBK_TIF_FOK: u8 = 2;
/// Day: rests until `kbk_book_expire_day`.
pub const KBK_TIF_DAY: u8 = 3;
/// Good till `expire` (the book's time, see `kbk_book_advance_time`).
pub const KBK_TIF_GTD: u8 = 4;

/// Self-trade prevention off.
pub const KBK_STP_OFF: u8 = 0;
/// Cancel the incoming order's remainder.
pub const KBK_STP_CANCEL_NEWEST: u8 = 1;
/// Cancel the resting order and continue.
pub const KBK_STP_CANCEL_OLDEST: u8 = 2;
/// Cancel both.
pub const KBK_STP_CANCEL_BOTH: u8 = 3;
/// Reduce both by the smaller quantity, without a trade.
pub const KBK_STP_DECREMENT: u8 = 4;

/// Same price and a smaller size keeps priority (`kbk_book_config.modify_priority`).
pub const KBK_MODIFY_KEEP_ON_DECREASE: u32 = 0;
/// Every modify loses priority (the Flash benchmark's rule).
pub const KBK_MODIFY_ALWAYS_LOSE: u32 = 1;

/// `kbk_command.kind`: a new order (fields as in `kbk_order`).
pub const KBK_CMD_NEW: u8 = 0;
/// Cancel order `id`.
pub const KBK_CMD_CANCEL: u8 = 1;
/// Reduce order `id` by `qty`, keeping priority.
pub const KBK_CMD_REDUCE: u8 = 2;
/// Give order `id` the new `price` and `qty`.
pub const KBK_CMD_MODIFY: u8 = 3;
/// Advance the book's time to `time`, expiring GTD orders.
pub const KBK_CMD_ADVANCE_TIME: u8 = 4;
/// Expire every day order.
pub const KBK_CMD_EXPIRE_DAY: u8 = 5;

/// `kbk_event.kind`: an order was accepted (`id`, `side`, `price` when
/// `has_price`, `qty`).
pub const KBK_EVENT_ACCEPTED: u8 = 0;
/// A fill: `id` the maker, `other_id` the taker, `side` the taker's side,
/// `price` the maker's price, `qty` traded, `remaining` the maker's open
/// quantity after it, `other_remaining` the taker's.
pub const KBK_EVENT_TRADE: u8 = 1;
/// An order ended without trading further: `id`, `side`, `price` (when
/// `has_price`), `qty` cancelled, `reason` (`KBK_CANCEL_*`).
pub const KBK_EVENT_CANCELLED: u8 = 2;
/// An order shrank and stays live: `id`, `side`, `qty` removed, `remaining`,
/// `reason`.
pub const KBK_EVENT_REDUCED: u8 = 3;
/// A modify was accepted: `id`, `side`, new `price`, new `qty`.
pub const KBK_EVENT_MODIFIED: u8 = 4;
/// A command was refused and changed nothing: `id`, `command`
/// (`KBK_CMD_*`), `reason` (the status minus 100, `KBK_STATUS_BOOK_*`).
pub const KBK_EVENT_REJECTED: u8 = 5;

/// `kbk_event.reason` of a rejected event from a batch: the command had an
/// out-of-range field (its `command` is the `kind` as given); it was not
/// applied. Other reject reasons are the `KBK_STATUS_BOOK_*` status minus
/// 100.
pub const KBK_REJECT_INVALID_ARGUMENT: u8 = 0;

/// Cancelled or reduced by its owner.
pub const KBK_CANCEL_REQUESTED: u8 = 0;
/// The unfilled remainder of an IOC or market order.
pub const KBK_CANCEL_UNFILLED: u8 = 1;
/// A FOK order that could not fill completely.
pub const KBK_CANCEL_FILL_OR_KILL: u8 = 2;
/// A day or GTD order expired.
pub const KBK_CANCEL_EXPIRED: u8 = 3;
/// Self-trade prevention.
pub const KBK_CANCEL_SELF_TRADE: u8 = 4;

/// A book's fixed rules. Start from `kbk_book_config_default` or
/// `kbk_book_config_flash` and change fields.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_book_config {
    /// Quantities (and reductions) must be multiples of this; at least 1.
    pub lot_size: u64,
    /// Largest quantity of one order.
    pub max_qty: u64,
    /// Lowest allowed limit price (ticks, inclusive).
    pub min_price: i64,
    /// Highest allowed limit price (ticks, inclusive).
    pub max_price: i64,
    /// Order ids below this are indexed by a direct table.
    pub direct_id_limit: u64,
    /// Most resting orders at once.
    pub max_orders: u32,
    /// `KBK_MODIFY_*`.
    pub modify_priority: u32,
}

/// A new order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_order {
    /// Caller's id, unique among the book's resting orders.
    pub id: u64,
    /// Limit price in ticks (ignored for market orders).
    pub price: i64,
    /// Quantity.
    pub qty: u64,
    /// Owner for self-trade prevention (0: none).
    pub owner: u64,
    /// Expiry for `KBK_TIF_GTD` (ignored otherwise).
    pub expire: u64,
    /// `KBK_SIDE_*`.
    pub side: u8,
    /// `KBK_ORDER_*`.
    pub order_type: u8,
    /// `KBK_TIF_*`.
    pub tif: u8,
    /// 0 or 1.
    pub post_only: u8,
    /// `KBK_STP_*`.
    pub stp: u8,
    /// Set to 0.
    pub reserved: [u8; 3],
}

/// One command of a batch. `kind` says which fields count: NEW uses the
/// order fields (`time` is the GTD expiry), CANCEL `id`, REDUCE `id` and
/// `qty` (shares to remove), MODIFY `id`, `price`, `qty`, ADVANCE_TIME
/// `time`, EXPIRE_DAY nothing.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_command {
    /// Order id.
    pub id: u64,
    /// Price in ticks.
    pub price: i64,
    /// Quantity.
    pub qty: u64,
    /// Owner for self-trade prevention (0: none).
    pub owner: u64,
    /// GTD expiry (NEW) or the new time (ADVANCE_TIME).
    pub time: u64,
    /// `KBK_CMD_*`.
    pub kind: u8,
    /// `KBK_SIDE_*` (NEW).
    pub side: u8,
    /// `KBK_ORDER_*` (NEW).
    pub order_type: u8,
    /// `KBK_TIF_*` (NEW).
    pub tif: u8,
    /// 0 or 1 (NEW).
    pub post_only: u8,
    /// `KBK_STP_*` (NEW).
    pub stp: u8,
    /// Set to 0.
    pub reserved: [u8; 2],
}

/// One event. `kind` (`KBK_EVENT_*`) says which fields count.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct kbk_event {
    /// The order (the maker for a trade).
    pub id: u64,
    /// The taker, for a trade.
    pub other_id: u64,
    /// Price in ticks (valid when `has_price`).
    pub price: i64,
    /// Quantity (meaning per kind).
    pub qty: u64,
    /// Open quantity left (maker's for a trade).
    pub remaining: u64,
    /// Taker's open quantity left, for a trade.
    pub other_remaining: u64,
    /// `KBK_EVENT_*`.
    pub kind: u8,
    /// `KBK_SIDE_*` (the taker's for a trade).
    pub side: u8,
    /// 1 when `price` is set (0 for a market order).
    pub has_price: u8,
    /// `KBK_CANCEL_*` for cancelled/reduced, the reject reason for rejected.
    pub reason: u8,
    /// For rejected: the `KBK_CMD_*` refused.
    pub command: u8,
    /// Zero.
    pub reserved: [u8; 3],
}

/// One price level.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_level {
    /// Price in ticks.
    pub price: i64,
    /// Total open quantity.
    pub qty: u64,
    /// Number of orders.
    pub orders: u32,
    /// Zero.
    pub reserved: u32,
}

/// One resting order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_order_info {
    /// Order id.
    pub id: u64,
    /// Limit price.
    pub price: i64,
    /// Open quantity.
    pub qty: u64,
    /// Owner.
    pub owner: u64,
    /// GTD expiry (0 otherwise).
    pub expire: u64,
    /// Priority sequence (lower arrived earlier).
    pub priority: u64,
    /// `KBK_SIDE_*`.
    pub side: u8,
    /// `KBK_TIF_GTC`, `KBK_TIF_DAY` or `KBK_TIF_GTD`.
    pub tif: u8,
    /// 0 or 1.
    pub post_only: u8,
    /// `KBK_STP_*`.
    pub stp: u8,
    /// Zero.
    pub reserved: [u8; 4],
}

/// Receives a book's events, in order, during the call that caused them.
/// The event is valid only during the callback. The callback must not call
/// into the same book (such calls return `KBK_STATUS_INVALID_HANDLE`).
pub type kbk_event_callback = Option<extern "C" fn(userdata: *mut c_void, event: *const kbk_event)>;

/// Receives a market's events with the instrument they belong to.
pub type kbk_market_event_callback =
    Option<extern "C" fn(userdata: *mut c_void, instrument: u32, event: *const kbk_event)>;

// ---- conversions -------------------------------------------------------------

fn side(v: u8) -> Res<Side> {
    Side::from_u8(v).ok_or_else(|| Fail::arg(format!("side must be 0 or 1, got {v}")))
}

fn stp(v: u8) -> Res<StpMode> {
    StpMode::from_u8(v).ok_or_else(|| Fail::arg(format!("stp must be 0..=4, got {v}")))
}

#[allow(clippy::too_many_arguments)]
fn new_order(
    id: u64,
    side_v: u8,
    order_type: u8,
    tif: u8,
    post_only: u8,
    stp_v: u8,
    price: i64,
    qty: u64,
    owner: u64,
    expire: u64,
) -> Res<NewOrder> {
    let price = match order_type {
        KBK_ORDER_LIMIT => Some(price),
        KBK_ORDER_MARKET => None,
        v => return Err(Fail::arg(format!("order_type must be 0 or 1, got {v}"))),
    };
    let tif = match tif {
        KBK_TIF_GTC => TimeInForce::Gtc,
        KBK_TIF_IOC => TimeInForce::Ioc,
        KBK_TIF_FOK => TimeInForce::Fok,
        KBK_TIF_DAY => TimeInForce::Day,
        KBK_TIF_GTD => TimeInForce::Gtd(expire),
        v => return Err(Fail::arg(format!("tif must be 0..=4, got {v}"))),
    };
    Ok(NewOrder {
        id,
        side: side(side_v)?,
        price,
        qty,
        tif,
        post_only: flag(post_only, "post_only")?,
        owner,
        stp: stp(stp_v)?,
    })
}

#[cold]
fn order_from_c(o: &kbk_order) -> Res<NewOrder> {
    new_order(
        o.id,
        o.side,
        o.order_type,
        o.tif,
        o.post_only,
        o.stp,
        o.price,
        o.qty,
        o.owner,
        o.expire,
    )
}

/// The conversion without error details (the hot path of batches);
/// `None` for any out-of-range field, then [`command_from_c`] says which.
#[inline(always)]
fn command_fast(c: &kbk_command) -> Option<Command> {
    Some(match c.kind {
        KBK_CMD_NEW => {
            let price = match c.order_type {
                KBK_ORDER_LIMIT => Some(c.price),
                KBK_ORDER_MARKET => None,
                _ => return None,
            };
            let tif = match c.tif {
                KBK_TIF_GTC => TimeInForce::Gtc,
                KBK_TIF_IOC => TimeInForce::Ioc,
                KBK_TIF_FOK => TimeInForce::Fok,
                KBK_TIF_DAY => TimeInForce::Day,
                KBK_TIF_GTD => TimeInForce::Gtd(c.time),
                _ => return None,
            };
            if c.post_only > 1 {
                return None;
            }
            Command::New(NewOrder {
                id: c.id,
                side: Side::from_u8(c.side)?,
                price,
                qty: c.qty,
                tif,
                post_only: c.post_only == 1,
                owner: c.owner,
                stp: StpMode::from_u8(c.stp)?,
            })
        }
        KBK_CMD_CANCEL => Command::Cancel { id: c.id },
        KBK_CMD_REDUCE => Command::Reduce {
            id: c.id,
            by: c.qty,
        },
        KBK_CMD_MODIFY => Command::Modify {
            id: c.id,
            price: c.price,
            qty: c.qty,
        },
        KBK_CMD_ADVANCE_TIME => Command::AdvanceTime { now: c.time },
        KBK_CMD_EXPIRE_DAY => Command::ExpireDay,
        _ => return None,
    })
}

/// Converts one command, naming the bad field.
#[inline]
fn command_from_c(c: &kbk_command) -> Res<Command> {
    Ok(match c.kind {
        KBK_CMD_NEW => Command::New(new_order(
            c.id,
            c.side,
            c.order_type,
            c.tif,
            c.post_only,
            c.stp,
            c.price,
            c.qty,
            c.owner,
            c.time,
        )?),
        KBK_CMD_CANCEL => Command::Cancel { id: c.id },
        KBK_CMD_REDUCE => Command::Reduce {
            id: c.id,
            by: c.qty,
        },
        KBK_CMD_MODIFY => Command::Modify {
            id: c.id,
            price: c.price,
            qty: c.qty,
        },
        KBK_CMD_ADVANCE_TIME => Command::AdvanceTime { now: c.time },
        KBK_CMD_EXPIRE_DAY => Command::ExpireDay,
        v => return Err(Fail::arg(format!("command kind must be 0..=5, got {v}"))),
    })
}

fn config_from_c(c: &kbk_book_config) -> Res<BookConfig> {
    let modify_priority = match c.modify_priority {
        KBK_MODIFY_KEEP_ON_DECREASE => ModifyPriority::KeepOnDecrease,
        KBK_MODIFY_ALWAYS_LOSE => ModifyPriority::AlwaysLose,
        v => {
            return Err(Fail::arg(format!(
                "modify_priority must be 0 or 1, got {v}"
            )))
        }
    };
    let cfg = BookConfig {
        lot_size: c.lot_size,
        max_qty: c.max_qty,
        min_price: c.min_price,
        max_price: c.max_price,
        modify_priority,
        max_orders: c.max_orders,
        direct_id_limit: c.direct_id_limit,
    };
    cfg.validate()
        .map_err(|e| Fail::new(KBK_STATUS_BOOK_INVALID_CONFIG, e))?;
    Ok(cfg)
}

fn config_to_c(c: &BookConfig) -> kbk_book_config {
    kbk_book_config {
        lot_size: c.lot_size,
        max_qty: c.max_qty,
        min_price: c.min_price,
        max_price: c.max_price,
        direct_id_limit: c.direct_id_limit,
        max_orders: c.max_orders,
        modify_priority: match c.modify_priority {
            ModifyPriority::KeepOnDecrease => KBK_MODIFY_KEEP_ON_DECREASE,
            ModifyPriority::AlwaysLose => KBK_MODIFY_ALWAYS_LOSE,
        },
    }
}

fn reject_status(r: RejectReason) -> kbk_status {
    100 + r as kbk_status
}

fn rejected(r: RejectReason) -> Fail {
    Fail::new(reject_status(r), r.as_str())
}

fn command_kind(k: CommandKind) -> u8 {
    match k {
        CommandKind::New => KBK_CMD_NEW,
        CommandKind::Cancel => KBK_CMD_CANCEL,
        CommandKind::Reduce => KBK_CMD_REDUCE,
        CommandKind::Modify => KBK_CMD_MODIFY,
    }
}

fn cancel_reason(r: CancelReason) -> u8 {
    r as u8
}

#[inline(always)]
pub(crate) fn event_to_c(e: Event) -> kbk_event {
    let mut c = kbk_event::default();
    match e {
        Event::Accepted {
            id,
            side,
            price,
            qty,
        } => {
            c.kind = KBK_EVENT_ACCEPTED;
            c.id = id;
            c.side = side as u8;
            c.has_price = u8::from(price.is_some());
            c.price = price.unwrap_or(0);
            c.qty = qty;
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
            c.kind = KBK_EVENT_TRADE;
            c.id = maker_id;
            c.other_id = taker_id;
            c.side = taker_side as u8;
            c.has_price = 1;
            c.price = price;
            c.qty = qty;
            c.remaining = maker_remaining;
            c.other_remaining = taker_remaining;
        }
        Event::Cancelled {
            id,
            side,
            price,
            qty,
            reason,
        } => {
            c.kind = KBK_EVENT_CANCELLED;
            c.id = id;
            c.side = side as u8;
            c.has_price = u8::from(price.is_some());
            c.price = price.unwrap_or(0);
            c.qty = qty;
            c.reason = cancel_reason(reason);
        }
        Event::Reduced {
            id,
            side,
            qty,
            remaining,
            reason,
        } => {
            c.kind = KBK_EVENT_REDUCED;
            c.id = id;
            c.side = side as u8;
            c.qty = qty;
            c.remaining = remaining;
            c.reason = cancel_reason(reason);
        }
        Event::Modified {
            id,
            side,
            price,
            qty,
        } => {
            c.kind = KBK_EVENT_MODIFIED;
            c.id = id;
            c.side = side as u8;
            c.has_price = 1;
            c.price = price;
            c.qty = qty;
        }
        Event::Rejected {
            id,
            command,
            reason,
        } => {
            c.kind = KBK_EVENT_REJECTED;
            c.id = id;
            c.command = command_kind(command);
            c.reason = reason as u8;
        }
    }
    c
}

pub(crate) fn level_to_c(l: LevelInfo) -> kbk_level {
    kbk_level {
        price: l.price,
        qty: l.qty,
        orders: l.orders,
        reserved: 0,
    }
}

fn order_info_to_c(o: OrderInfo) -> kbk_order_info {
    let (tif, expire) = match o.tif {
        TimeInForce::Day => (KBK_TIF_DAY, 0),
        TimeInForce::Gtd(t) => (KBK_TIF_GTD, t),
        _ => (KBK_TIF_GTC, 0),
    };
    kbk_order_info {
        id: o.id,
        price: o.price,
        qty: o.qty,
        owner: o.owner,
        expire,
        priority: o.priority,
        side: o.side as u8,
        tif,
        post_only: u8::from(o.post_only),
        stp: o.stp as u8,
        reserved: [0; 4],
    }
}

// ---- sinks -----------------------------------------------------------------

/// Sends events to the C callback (or drops them when none is set).
struct CallbackSink {
    cb: kbk_event_callback,
    userdata: *mut c_void,
}

impl Sink for CallbackSink {
    #[inline]
    fn event(&mut self, e: Event) {
        if let Some(cb) = self.cb {
            let c = event_to_c(e);
            cb(self.userdata, &c);
        }
    }
}

/// A sink that also takes events made here (rejections of bad commands).
trait RawSink: Sink {
    fn raw(&mut self, e: kbk_event);
}

impl RawSink for CallbackSink {
    fn raw(&mut self, e: kbk_event) {
        if let Some(cb) = self.cb {
            cb(self.userdata, &e);
        }
    }
}

impl RawSink for ArraySink<'_, '_> {
    fn raw(&mut self, e: kbk_event) {
        self.push(e);
    }
}

/// The rejection of a batch command with an out-of-range field.
#[cold]
fn invalid_command_event(c: &kbk_command) -> kbk_event {
    kbk_event {
        kind: KBK_EVENT_REJECTED,
        id: c.id,
        command: c.kind,
        reason: KBK_REJECT_INVALID_ARGUMENT,
        ..kbk_event::default()
    }
}

/// Applies one batch command: converted and applied, or reported as an
/// invalid-argument rejection without changing anything.
#[inline(always)]
fn apply_batch_command<S: RawSink>(book: &mut Book, c: &kbk_command, sink: &mut S) {
    match command_fast(c) {
        Some(cmd) => {
            let _ = apply_one(book, &cmd, sink);
        }
        None => sink.raw(invalid_command_event(c)),
    }
}

/// Writes events into the caller's array; the overflow goes to the handle.
struct ArraySink<'a, 'b> {
    out: &'a mut OutSlice<'b, kbk_event>,
    n: usize,
    overflow: &'a mut Vec<kbk_event>,
}

impl ArraySink<'_, '_> {
    #[inline(always)]
    fn push(&mut self, c: kbk_event) {
        if self.n < self.out.len() {
            self.out.set(self.n, c);
            self.n += 1;
        } else {
            self.overflow.push(c);
        }
    }
}

impl Sink for ArraySink<'_, '_> {
    #[inline(always)]
    fn event(&mut self, e: Event) {
        self.push(event_to_c(e));
    }
}

// ---- the book handle ---------------------------------------------------------

/// An order book for one instrument.
///
/// Thread safety: not thread-safe. Use a book from one thread at a time (it
/// may move between threads); the event callback runs on the calling thread.
#[derive(Debug)]
pub struct kbk_book {
    _private: [u8; 0],
}

#[repr(C)]
struct BookHandle {
    header: Header,
    book: Book,
    cb: kbk_event_callback,
    userdata: *mut c_void,
    /// Events that did not fit into a batch's array, delivered first by the
    /// next batch call.
    overflow: Vec<kbk_event>,
    overflow_pos: usize,
}

impl Handle for BookHandle {
    const MAGIC: u64 = 0x6b62_6b5f_626f_6f6b; // "kbk_book"
    fn header(&self) -> &Header {
        &self.header
    }
}

impl BookHandle {
    fn sink(&self) -> CallbackSink {
        CallbackSink {
            cb: self.cb,
            userdata: self.userdata,
        }
    }
}

#[inline]
fn book_mut(b: *mut kbk_book, f: impl FnOnce(&mut BookHandle) -> Res) -> kbk_status {
    with_mut(b.cast::<BookHandle>(), f)
}

#[inline]
fn book_ref(b: *const kbk_book, f: impl FnOnce(&BookHandle) -> Res) -> kbk_status {
    with_mut(b.cast_mut().cast::<BookHandle>(), |h| f(h))
}

/// Writes the default configuration (lot 1, any price, priority kept on a
/// size decrease) into `*out`.
#[no_mangle]
pub extern "C" fn kbk_book_config_default(out: *mut kbk_book_config) -> kbk_status {
    guard(|| {
        crate::status::out(out, "out")?.set(config_to_c(&BookConfig::default()));
        Ok(())
    })
}

/// Writes the Flash benchmark's rules (every modify loses priority) into
/// `*out`.
#[no_mangle]
pub extern "C" fn kbk_book_config_flash(out: *mut kbk_book_config) -> kbk_status {
    guard(|| {
        crate::status::out(out, "out")?.set(config_to_c(&BookConfig::flash()));
        Ok(())
    })
}

/// Creates an empty book with `config` (NULL: the default) into `*out`.
/// Free it with `kbk_book_free`.
#[no_mangle]
pub extern "C" fn kbk_book_new(
    config: *const kbk_book_config,
    out: *mut *mut kbk_book,
) -> kbk_status {
    guard(|| {
        let o = crate::status::out(out, "out")?;
        let cfg = match opt(config, "config")? {
            Some(c) => config_from_c(c)?,
            None => BookConfig::default(),
        };
        let book = Book::try_new(cfg).map_err(|e| Fail::new(KBK_STATUS_BOOK_INVALID_CONFIG, e))?;
        let h = BookHandle {
            header: Header::new(BookHandle::MAGIC),
            book,
            cb: None,
            userdata: core::ptr::null_mut(),
            overflow: Vec::new(),
            overflow_pos: 0,
        };
        o.set(into_raw(h).cast::<kbk_book>());
        Ok(())
    })
}

/// Frees a book. NULL is fine; the pointer must not be used afterwards.
#[no_mangle]
pub extern "C" fn kbk_book_free(book: *mut kbk_book) {
    free(book.cast::<BookHandle>());
}

/// Sets (or with `callback` NULL, clears) the callback that receives the
/// events of `kbk_book_submit`, `kbk_book_apply`, the single-command calls
/// and `kbk_book_apply_batch`.
#[no_mangle]
pub extern "C" fn kbk_book_set_event_callback(
    book: *mut kbk_book,
    callback: kbk_event_callback,
    userdata: *mut c_void,
) -> kbk_status {
    book_mut(book, |h| {
        h.cb = callback;
        h.userdata = userdata;
        Ok(())
    })
}

/// Pre-allocates room for `orders` resting orders.
#[no_mangle]
pub extern "C" fn kbk_book_reserve(book: *mut kbk_book, orders: usize) -> kbk_status {
    book_mut(book, |h| {
        if orders > u32::MAX as usize {
            return Err(Fail::arg("orders must fit in 32 bits"));
        }
        h.book.reserve(orders);
        Ok(())
    })
}

/// Submits a new order. `KBK_STATUS_OK` when accepted (it may have traded,
/// rested or been cancelled by its time in force: see the events); a
/// `KBK_STATUS_BOOK_*` status when refused (a rejected event is emitted too,
/// nothing changed); `KBK_STATUS_INVALID_ARGUMENT` for an out-of-range field
/// (no event, nothing changed).
#[no_mangle]
pub extern "C" fn kbk_book_submit(book: *mut kbk_book, order: *const kbk_order) -> kbk_status {
    book_mut(book, |h| {
        let o = req(order, "order")?;
        // The same fast conversion as batches; details only on error.
        let c = kbk_command {
            id: o.id,
            price: o.price,
            qty: o.qty,
            owner: o.owner,
            time: o.expire,
            kind: KBK_CMD_NEW,
            side: o.side,
            order_type: o.order_type,
            tif: o.tif,
            post_only: o.post_only,
            stp: o.stp,
            reserved: [0; 2],
        };
        let Some(Command::New(no)) = command_fast(&c) else {
            return Err(order_from_c(o)
                .err()
                .unwrap_or_else(|| Fail::arg("invalid order")));
        };
        let mut sink = h.sink();
        h.book.submit(&no, &mut sink).map_err(rejected)
    })
}

/// Cancels resting order `id`.
#[no_mangle]
pub extern "C" fn kbk_book_cancel(book: *mut kbk_book, id: u64) -> kbk_status {
    book_mut(book, |h| {
        let mut sink = h.sink();
        h.book.cancel(id, &mut sink).map_err(rejected)
    })
}

/// Reduces resting order `id` by `by` shares, keeping its priority (`by` at
/// or above its open quantity cancels it).
#[no_mangle]
pub extern "C" fn kbk_book_reduce(book: *mut kbk_book, id: u64, by: u64) -> kbk_status {
    book_mut(book, |h| {
        let mut sink = h.sink();
        h.book.reduce(id, by, &mut sink).map_err(rejected)
    })
}

/// Gives resting order `id` a new price and open quantity (a new price or a
/// larger size loses priority and may trade at once as taker).
#[no_mangle]
pub extern "C" fn kbk_book_modify(
    book: *mut kbk_book,
    id: u64,
    price: i64,
    qty: u64,
) -> kbk_status {
    book_mut(book, |h| {
        let mut sink = h.sink();
        h.book.modify(id, price, qty, &mut sink).map_err(rejected)
    })
}

/// Advances the book's time to `now` (earlier times are ignored), expiring
/// GTD orders due at or before it.
#[no_mangle]
pub extern "C" fn kbk_book_advance_time(book: *mut kbk_book, now: u64) -> kbk_status {
    book_mut(book, |h| {
        let mut sink = h.sink();
        h.book.advance_time(now, &mut sink);
        Ok(())
    })
}

/// Expires every day order.
#[no_mangle]
pub extern "C" fn kbk_book_expire_day(book: *mut kbk_book) -> kbk_status {
    book_mut(book, |h| {
        let mut sink = h.sink();
        h.book.expire_day(&mut sink);
        Ok(())
    })
}

/// Applies one command; events go to the callback. Returns what the
/// matching single call would.
#[no_mangle]
pub extern "C" fn kbk_book_apply(book: *mut kbk_book, command: *const kbk_command) -> kbk_status {
    book_mut(book, |h| {
        let cmd = command_from_c(req(command, "command")?)?;
        let mut sink = h.sink();
        apply_one(&mut h.book, &cmd, &mut sink).map_err(rejected)
    })
}

/// Applies one command (a refusal is also emitted as an event).
#[inline]
fn apply_one<S: Sink>(book: &mut Book, cmd: &Command, sink: &mut S) -> Result<(), RejectReason> {
    match *cmd {
        Command::New(o) => book.submit(&o, sink),
        Command::Cancel { id } => book.cancel(id, sink),
        Command::Reduce { id, by } => book.reduce(id, by, sink),
        Command::Modify { id, price, qty } => book.modify(id, price, qty, sink),
        Command::AdvanceTime { now } => {
            book.advance_time(now, sink);
            Ok(())
        }
        Command::ExpireDay => {
            book.expire_day(sink);
            Ok(())
        }
    }
}

const INDEX_AHEAD: usize = 16;
const ORDER_AHEAD: usize = 6;

#[inline(always)]
fn prefetch_ahead(book: &Book, cmds: &[kbk_command], i: usize) {
    if let Some(c) = cmds.get(i + INDEX_AHEAD) {
        book.prefetch_index(c.id);
    }
    if let Some(c) = cmds.get(i + ORDER_AHEAD) {
        if c.kind != KBK_CMD_NEW {
            book.prefetch_order(c.id);
        }
    }
}

/// Applies `n` commands in order; their events go to the event callback.
/// Each command stands alone: one the book refuses, or one with an
/// out-of-range field, is reported as a rejected event (reason
/// `KBK_REJECT_INVALID_ARGUMENT` for the latter), changes nothing, and the
/// batch goes on. The status is about the call itself (handle, array).
#[no_mangle]
pub extern "C" fn kbk_book_apply_batch(
    book: *mut kbk_book,
    commands: *const kbk_command,
    n: usize,
) -> kbk_status {
    book_mut(book, |h| {
        let cmds = slice(commands, n, "commands")?;
        let mut sink = h.sink();
        for (i, c) in cmds.iter().enumerate() {
            prefetch_ahead(&h.book, cmds, i);
            apply_batch_command(&mut h.book, c, &mut sink);
        }
        Ok(())
    })
}

/// Applies commands in order and writes their events into `events` (room
/// for `cap`). Events left over from an earlier call are written first.
/// Commands are applied while the array has room; a command's events that
/// do not fit are kept by the book and written by the next call (call with
/// `n` 0 to collect them). On success `*out_applied` is the number of
/// commands applied (all `n` unless the array filled up) and `*out_events`
/// the number of events written. Commands stand alone as in
/// `kbk_book_apply_batch`. The event callback is not called.
#[no_mangle]
pub extern "C" fn kbk_book_apply_batch_events(
    book: *mut kbk_book,
    commands: *const kbk_command,
    n: usize,
    events: *mut kbk_event,
    cap: usize,
    out_applied: *mut usize,
    out_events: *mut usize,
) -> kbk_status {
    book_mut(book, |h| {
        let cmds = slice(commands, n, "commands")?;
        let mut evs = slice_mut(events, cap, "events")?;
        let out_applied = crate::status::out(out_applied, "out_applied")?;
        let out_events = crate::status::out(out_events, "out_events")?;
        let mut written = 0;
        // Leftovers first.
        while h.overflow_pos < h.overflow.len() && written < evs.len() {
            evs.set(written, h.overflow[h.overflow_pos]);
            written += 1;
            h.overflow_pos += 1;
        }
        if h.overflow_pos == h.overflow.len() {
            h.overflow.clear();
            h.overflow_pos = 0;
        }
        let mut applied = 0;
        if h.overflow.is_empty() {
            let mut sink = ArraySink {
                out: &mut evs,
                n: written,
                overflow: &mut h.overflow,
            };
            for (i, c) in cmds.iter().enumerate() {
                if sink.n >= sink.out.len() {
                    break;
                }
                prefetch_ahead(&h.book, cmds, i);
                apply_batch_command(&mut h.book, c, &mut sink);
                applied += 1;
                if !sink.overflow.is_empty() {
                    break;
                }
            }
            written = sink.n;
        }
        out_applied.set(applied);
        out_events.set(written);
        Ok(())
    })
}

/// The number of events kept from a batch whose array filled up.
#[no_mangle]
pub extern "C" fn kbk_book_pending_events(book: *const kbk_book, out: *mut usize) -> kbk_status {
    book_ref(book, |h| {
        crate::status::out(out, "out")?.set(h.overflow.len() - h.overflow_pos);
        Ok(())
    })
}

/// Removes every order (no events) and resets the time; leftover batch
/// events are dropped.
#[no_mangle]
pub extern "C" fn kbk_book_clear(book: *mut kbk_book) -> kbk_status {
    book_mut(book, |h| {
        h.book.clear();
        h.overflow.clear();
        h.overflow_pos = 0;
        Ok(())
    })
}

// ---- queries -----------------------------------------------------------------

/// The best level of `side` (`KBK_STATUS_NOT_FOUND` when that side is empty).
#[no_mangle]
pub extern "C" fn kbk_book_best(
    book: *const kbk_book,
    side_v: u8,
    out: *mut kbk_level,
) -> kbk_status {
    book_ref(book, |h| {
        let o = crate::status::out(out, "out")?;
        let l = h
            .book
            .best_level(side(side_v)?)
            .ok_or_else(|| Fail::new(KBK_STATUS_NOT_FOUND, "no order on that side"))?;
        o.set(level_to_c(l));
        Ok(())
    })
}

/// The level of `side` at `price` (`KBK_STATUS_NOT_FOUND` when none rests there).
#[no_mangle]
pub extern "C" fn kbk_book_depth_at(
    book: *const kbk_book,
    side_v: u8,
    price: i64,
    out: *mut kbk_level,
) -> kbk_status {
    book_ref(book, |h| {
        let o = crate::status::out(out, "out")?;
        let l = h
            .book
            .depth_at(side(side_v)?, price)
            .ok_or_else(|| Fail::new(KBK_STATUS_NOT_FOUND, "no order at that price"))?;
        o.set(level_to_c(l));
        Ok(())
    })
}

/// Writes up to `cap` levels of `side`, best first, into `levels`;
/// `*out_n` is the number written.
#[no_mangle]
pub extern "C" fn kbk_book_top_levels(
    book: *const kbk_book,
    side_v: u8,
    levels: *mut kbk_level,
    cap: usize,
    out_n: *mut usize,
) -> kbk_status {
    book_ref(book, |h| {
        let s = side(side_v)?;
        let mut dst = slice_mut(levels, cap, "levels")?;
        let o = crate::status::out(out_n, "out_n")?;
        let mut n = 0;
        for l in h.book.levels(s).take(dst.len()) {
            dst.set(n, level_to_c(l));
            n += 1;
        }
        o.set(n);
        Ok(())
    })
}

/// Writes up to `cap` resting orders of `side` (best level first, time
/// priority within a level) into `orders`; `*out_n` is the number written.
#[no_mangle]
pub extern "C" fn kbk_book_orders(
    book: *const kbk_book,
    side_v: u8,
    orders: *mut kbk_order_info,
    cap: usize,
    out_n: *mut usize,
) -> kbk_status {
    book_ref(book, |h| {
        let s = side(side_v)?;
        let mut dst = slice_mut(orders, cap, "orders")?;
        let o = crate::status::out(out_n, "out_n")?;
        let mut n = 0;
        for x in h.book.orders(s).take(dst.len()) {
            dst.set(n, order_info_to_c(x));
            n += 1;
        }
        o.set(n);
        Ok(())
    })
}

/// Writes up to `cap` orders resting at `price` on `side`, in time
/// priority; `*out_n` is the number written.
#[no_mangle]
pub extern "C" fn kbk_book_level_orders(
    book: *const kbk_book,
    side_v: u8,
    price: i64,
    orders: *mut kbk_order_info,
    cap: usize,
    out_n: *mut usize,
) -> kbk_status {
    book_ref(book, |h| {
        let s = side(side_v)?;
        let mut dst = slice_mut(orders, cap, "orders")?;
        let o = crate::status::out(out_n, "out_n")?;
        let mut n = 0;
        for x in h.book.level_orders(s, price).take(dst.len()) {
            dst.set(n, order_info_to_c(x));
            n += 1;
        }
        o.set(n);
        Ok(())
    })
}

/// Resting order `id` (`KBK_STATUS_NOT_FOUND` when it is not resting).
#[no_mangle]
pub extern "C" fn kbk_book_order(
    book: *const kbk_book,
    id: u64,
    out: *mut kbk_order_info,
) -> kbk_status {
    book_ref(book, |h| {
        let o = crate::status::out(out, "out")?;
        let x = h
            .book
            .order(id)
            .ok_or_else(|| Fail::new(KBK_STATUS_NOT_FOUND, "no resting order with that id"))?;
        o.set(order_info_to_c(x));
        Ok(())
    })
}

/// The number of resting orders.
#[no_mangle]
pub extern "C" fn kbk_book_len(book: *const kbk_book, out: *mut usize) -> kbk_status {
    book_ref(book, |h| {
        crate::status::out(out, "out")?.set(h.book.len());
        Ok(())
    })
}

/// The book's time (the latest `kbk_book_advance_time`).
#[no_mangle]
pub extern "C" fn kbk_book_now(book: *const kbk_book, out: *mut u64) -> kbk_status {
    book_ref(book, |h| {
        crate::status::out(out, "out")?.set(h.book.now());
        Ok(())
    })
}

/// The book's configuration.
#[no_mangle]
pub extern "C" fn kbk_book_config_get(
    book: *const kbk_book,
    out: *mut kbk_book_config,
) -> kbk_status {
    book_ref(book, |h| {
        crate::status::out(out, "out")?.set(config_to_c(h.book.config()));
        Ok(())
    })
}

/// The 32-byte BLAKE3 state hash (equal books hash equal) into `out`.
#[no_mangle]
pub extern "C" fn kbk_book_state_hash(book: *const kbk_book, out: *mut u8) -> kbk_status {
    book_ref(book, |h| {
        let o = crate::status::out(out.cast::<[u8; 32]>(), "out")?;
        o.set(h.book.state_hash());
        Ok(())
    })
}

// ---- the market handle -------------------------------------------------------

/// Many books keyed by instrument id.
///
/// Thread safety: not thread-safe; use from one thread at a time.
#[derive(Debug)]
pub struct kbk_market {
    _private: [u8; 0],
}

#[repr(C)]
struct MarketHandle {
    header: Header,
    market: Market,
    cb: kbk_market_event_callback,
    userdata: *mut c_void,
}

impl Handle for MarketHandle {
    const MAGIC: u64 = 0x6b62_6b5f_6d6b_7420; // "kbk_mkt "
    fn header(&self) -> &Header {
        &self.header
    }
}

struct MarketSink {
    cb: kbk_market_event_callback,
    userdata: *mut c_void,
    instrument: u32,
}

impl Sink for MarketSink {
    #[inline]
    fn event(&mut self, e: Event) {
        if let Some(cb) = self.cb {
            let c = event_to_c(e);
            cb(self.userdata, self.instrument, &c);
        }
    }
}

fn market_mut(m: *mut kbk_market, f: impl FnOnce(&mut MarketHandle) -> Res) -> kbk_status {
    with_mut(m.cast::<MarketHandle>(), f)
}

fn market_err(e: MarketError) -> Fail {
    match e {
        MarketError::UnknownInstrument(i) => {
            Fail::new(KBK_STATUS_NOT_FOUND, format!("unknown instrument {i}"))
        }
        MarketError::DuplicateInstrument(i) => Fail::new(
            KBK_STATUS_MARKET_DUPLICATE_INSTRUMENT,
            format!("instrument {i} already listed"),
        ),
        MarketError::InvalidConfig(why) => Fail::new(KBK_STATUS_BOOK_INVALID_CONFIG, why),
        MarketError::Rejected(r) => rejected(r),
    }
}

/// Creates an empty market into `*out`. Free it with `kbk_market_free`.
#[no_mangle]
pub extern "C" fn kbk_market_new(out: *mut *mut kbk_market) -> kbk_status {
    guard(|| {
        let o = crate::status::out(out, "out")?;
        o.set(
            into_raw(MarketHandle {
                header: Header::new(MarketHandle::MAGIC),
                market: Market::new(),
                cb: None,
                userdata: core::ptr::null_mut(),
            })
            .cast::<kbk_market>(),
        );
        Ok(())
    })
}

/// Frees a market. NULL is fine.
#[no_mangle]
pub extern "C" fn kbk_market_free(market: *mut kbk_market) {
    free(market.cast::<MarketHandle>());
}

/// Sets (or clears, with NULL) the market's event callback.
#[no_mangle]
pub extern "C" fn kbk_market_set_event_callback(
    market: *mut kbk_market,
    callback: kbk_market_event_callback,
    userdata: *mut c_void,
) -> kbk_status {
    market_mut(market, |h| {
        h.cb = callback;
        h.userdata = userdata;
        Ok(())
    })
}

/// Lists `instrument` with an empty book (`config` NULL: the default).
#[no_mangle]
pub extern "C" fn kbk_market_add_instrument(
    market: *mut kbk_market,
    instrument: u32,
    config: *const kbk_book_config,
) -> kbk_status {
    market_mut(market, |h| {
        let cfg = match opt(config, "config")? {
            Some(c) => config_from_c(c)?,
            None => BookConfig::default(),
        };
        h.market.add_instrument(instrument, cfg).map_err(market_err)
    })
}

/// Delists `instrument`, dropping its book.
#[no_mangle]
pub extern "C" fn kbk_market_remove_instrument(
    market: *mut kbk_market,
    instrument: u32,
) -> kbk_status {
    market_mut(market, |h| {
        h.market
            .remove_instrument(instrument)
            .map(drop)
            .map_err(market_err)
    })
}

/// Applies `command` to the instrument's book (statuses as `kbk_book_apply`;
/// `KBK_STATUS_NOT_FOUND` for an unknown instrument).
#[no_mangle]
pub extern "C" fn kbk_market_apply(
    market: *mut kbk_market,
    instrument: u32,
    command: *const kbk_command,
) -> kbk_status {
    market_mut(market, |h| {
        let cmd = command_from_c(req(command, "command")?)?;
        let mut sink = MarketSink {
            cb: h.cb,
            userdata: h.userdata,
            instrument,
        };
        let book = h
            .market
            .book_mut(instrument)
            .ok_or_else(|| market_err(MarketError::UnknownInstrument(instrument)))?;
        apply_one(book, &cmd, &mut sink).map_err(rejected)
    })
}

/// The best level of `side` in the instrument's book.
#[no_mangle]
pub extern "C" fn kbk_market_best(
    market: *const kbk_market,
    instrument: u32,
    side_v: u8,
    out: *mut kbk_level,
) -> kbk_status {
    market_mut(market.cast_mut(), |h| {
        let s = side(side_v)?;
        let o = crate::status::out(out, "out")?;
        let book = h
            .market
            .book(instrument)
            .ok_or_else(|| market_err(MarketError::UnknownInstrument(instrument)))?;
        let l = book
            .best_level(s)
            .ok_or_else(|| Fail::new(KBK_STATUS_NOT_FOUND, "no order on that side"))?;
        o.set(level_to_c(l));
        Ok(())
    })
}

/// Writes up to `cap` listed instruments (ascending) into `instruments`;
/// `*out_n` is the number written, `*out_total` the number listed.
#[no_mangle]
pub extern "C" fn kbk_market_instruments(
    market: *const kbk_market,
    instruments: *mut u32,
    cap: usize,
    out_n: *mut usize,
    out_total: *mut usize,
) -> kbk_status {
    market_mut(market.cast_mut(), |h| {
        let mut dst = slice_mut(instruments, cap, "instruments")?;
        let on = crate::status::out(out_n, "out_n")?;
        let ot = crate::status::out(out_total, "out_total")?;
        let all = h.market.instruments();
        let n = all.len().min(dst.len());
        for (i, id) in all.iter().take(n).enumerate() {
            dst.set(i, *id);
        }
        on.set(n);
        ot.set(all.len());
        Ok(())
    })
}

/// The 32-byte market state hash into `out`.
#[no_mangle]
pub extern "C" fn kbk_market_state_hash(market: *const kbk_market, out: *mut u8) -> kbk_status {
    market_mut(market.cast_mut(), |h| {
        let o = crate::status::out(out.cast::<[u8; 32]>(), "out")?;
        o.set(h.market.state_hash());
        Ok(())
    })
}
