//! The compact trusted-gateway runtime: millions of orders a second for
//! hosts that authenticate their sessions themselves (issue 5,
//! DESIGN.md 2.2 and 2.4).
//!
//! A trusted gateway has already authenticated every order, so nothing
//! here verifies or signs per order. What stays on is the exchange's
//! substance: price-time matching in the same [`crate::book::Book`], a
//! certificate reserved to every sell order through the same lock-free
//! state word ([`crate::certs::StateWord`]: `live -> reserved(order) ->
//! spent`), and on every fill the register's transfer in the same step as
//! the trade (the seller's certificate spent, the buyer's certificate and
//! the seller's change certificate made, the change reserved to the order
//! that still rests), with cash reserved for every buy and settled on every
//! fill, and self-trade prevention as on the exchange (an order that would
//! trade with its own account's resting order is cancelled). Tested: the
//! same flow through the synchronous exchange and through the gateway gives
//! the same matches in the same order and the same holdings.
//!
//! What makes it fast is the form of everything:
//!
//! - Orders are fixed-size [`GatewayOrder`] records (`#[repr(C)]`, so C and
//!   numpy hand them over as they are), submitted in batches: one queue
//!   operation carries up to [`GatewayConfig::batch`] orders.
//! - Accounts, instruments and certificates are dense indices; cash is
//!   integer minor units; a sell names its certificate by serial.
//! - Answers are fixed-size [`GatewayReport`]s, returned in batches to the
//!   producer that submitted the order they concern (fills of a resting
//!   order go to its producer).
//! - Certificate *documents* (the signed [`crate::certs::Certificate`])
//!   are not made per fill: the gateway is the register's book of record
//!   while it runs, and [`Gateway::documents`] makes batch-signed documents
//!   for any certificates on demand (for example every live certificate at
//!   the end of the session), off the sequencer.
//!
//! The pieces: [`Gateway`], the sequencer's state machine (synchronous,
//! deterministic: [`Gateway::apply`] runs it inline); [`GatewayRuntime`],
//! which runs it on its own thread behind bounded lock-free queues, with
//! market data ([`crate::runtime::marketdata`]) and a journal; and
//! [`sim`], the simulated session of `kabuken simulate --trusted`.
//!
//! ```
//! use kabuken::runtime::gateway::{
//!     Gateway, GatewayConfig, GatewayInstrument, GatewayOrder, GatewayRuntime, ReportKind,
//! };
//!
//! let mut g = Gateway::new();
//! let inst = g
//!     .add_instrument(GatewayInstrument {
//!         id: 7203,
//!         tick_value: 1,
//!         lot_size: 100,
//!         band_low: 1,
//!         band_high: 100_000,
//!         max_qty: 1_000_000,
//!     })
//!     .unwrap();
//! let alice = g.open_account(1, 0).unwrap();
//! let bob = g.open_account(2, 10_000_000).unwrap();
//! let cert = g.issue(alice, inst, 1_000).unwrap();
//!
//! let rt = GatewayRuntime::start(g, GatewayConfig::default()).unwrap();
//! let mut p = rt.producer().unwrap();
//! let orders = [
//!     GatewayOrder::sell(1, alice, inst, 2_500, 300, cert),
//!     GatewayOrder::buy(2, bob, inst, 2_600, 300),
//! ];
//! let mut reports = Vec::new();
//! p.submit_wait(&orders, |r| reports.push(*r)).unwrap();
//! let out = rt.shutdown();
//! p.poll(|r| reports.push(*r));
//!
//! // Bob bought 300 shares at Alice's price; he holds a new certificate,
//! // Alice her 700-share change certificate (live again: her order is done).
//! assert!(reports.iter().any(|r| r.kind == ReportKind::Fill as u8 && r.tag == 2 && r.price == 2_500));
//! let g = out.gateway;
//! assert_eq!(g.shares_of(bob, inst), 300);
//! assert_eq!(g.shares_of(alice, inst), 700);
//! assert_eq!(g.account(alice).unwrap().cash, 750_000);
//! g.check_invariants().unwrap();
//! ```

mod engine;
mod run;
pub mod sim;

pub use engine::{
    Account, CertView, DocumentInfo, Gateway, GatewayControl, GatewayError, GatewayInstrument,
    GatewayStats, OrderView, ReportSink, Transfer,
};
pub use run::{
    replay, GatewayConfig, GatewayControlHandle, GatewayOutcome, GatewayProducer, GatewayRuntime,
    GatewayRuntimeStats, GatewaySubmitError, JournalEntry,
};

use crate::types::{Qty, Ticks};

/// What a [`GatewayOrder`] asks for (its `kind` byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OrderKind {
    /// A limit buy.
    Buy = 0,
    /// A limit sell, covered by the certificate named in `cert`.
    Sell = 1,
    /// Cancel the order numbered `order`.
    Cancel = 2,
}

impl OrderKind {
    /// From the wire byte.
    #[must_use]
    pub const fn from_code(code: u8) -> Option<OrderKind> {
        match code {
            0 => Some(OrderKind::Buy),
            1 => Some(OrderKind::Sell),
            2 => Some(OrderKind::Cancel),
            _ => None,
        }
    }
}

/// One request from a trusted gateway, 56 bytes, `#[repr(C)]` (the C ABI
/// and numpy pass arrays of it as they are).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct GatewayOrder {
    /// The caller's tag, echoed in every report about this order.
    pub tag: u64,
    /// Limit price in ticks (buy, sell).
    pub price: Ticks,
    /// Quantity in shares (buy, sell).
    pub qty: Qty,
    /// Sell: serial of the certificate that covers it (reserved to the
    /// order until it is done); 0 otherwise.
    pub cert: u64,
    /// Cancel: the order number to cancel; 0 otherwise.
    pub order: u64,
    /// Account index: the owner of the order, its cash and certificates.
    pub account: u32,
    /// Instrument index (buy, sell).
    pub instrument: u32,
    /// [`OrderKind`] code.
    pub kind: u8,
    /// Time in force: 0 GTC, 1 IOC, 2 FOK.
    pub tif: u8,
    /// Reserved, must be zero.
    pub reserved: [u8; 6],
}

/// Time in force of a [`GatewayOrder`]: good till cancelled.
pub const TIF_GTC: u8 = 0;
/// Time in force of a [`GatewayOrder`]: immediate or cancel.
pub const TIF_IOC: u8 = 1;
/// Time in force of a [`GatewayOrder`]: fill or kill.
pub const TIF_FOK: u8 = 2;

impl GatewayOrder {
    /// A GTC limit buy.
    #[must_use]
    pub const fn buy(tag: u64, account: u32, instrument: u32, price: Ticks, qty: Qty) -> Self {
        GatewayOrder {
            tag,
            price,
            qty,
            cert: 0,
            order: 0,
            account,
            instrument,
            kind: OrderKind::Buy as u8,
            tif: TIF_GTC,
            reserved: [0; 6],
        }
    }

    /// A GTC limit sell covered by certificate `cert`.
    #[must_use]
    pub const fn sell(
        tag: u64,
        account: u32,
        instrument: u32,
        price: Ticks,
        qty: Qty,
        cert: u64,
    ) -> Self {
        GatewayOrder {
            tag,
            price,
            qty,
            cert,
            order: 0,
            account,
            instrument,
            kind: OrderKind::Sell as u8,
            tif: TIF_GTC,
            reserved: [0; 6],
        }
    }

    /// Cancels order `order` of `account`.
    #[must_use]
    pub const fn cancel(tag: u64, account: u32, order: u64) -> Self {
        GatewayOrder {
            tag,
            price: 0,
            qty: 0,
            cert: 0,
            order,
            account,
            instrument: 0,
            kind: OrderKind::Cancel as u8,
            tif: TIF_GTC,
            reserved: [0; 6],
        }
    }

    /// With another time in force ([`TIF_GTC`], [`TIF_IOC`], [`TIF_FOK`]).
    #[must_use]
    pub const fn with_tif(mut self, tif: u8) -> Self {
        self.tif = tif;
        self
    }
}

/// What a [`GatewayReport`] says (its `kind` byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ReportKind {
    /// The request was accepted: `order` is the new order's number (for a
    /// cancel, the cancelled order's), `price` and `qty` as submitted.
    Accepted = 0,
    /// The request was refused and changed nothing: `code` is the
    /// [`crate::exchange::Refusal`] code.
    Refused = 1,
    /// A fill of order `order`: `qty` shares at `price`, transfer (and
    /// match) number `matched`; `cert` is the certificate the party holds
    /// now (the buyer's new certificate; the seller's change certificate,
    /// 0 when none).
    Fill = 2,
    /// Order `order` left the book: `code` is a [`DoneReason`], `qty` the
    /// shares cancelled, `cert` the certificate released to live (a sell's
    /// unsold certificate or change; 0: none).
    Done = 3,
}

/// Why an order left the book ([`ReportKind::Done`]'s `code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum DoneReason {
    /// Completely filled.
    Filled = 0,
    /// Cancelled: by request, or an IOC/FOK remainder.
    Cancelled = 1,
}

/// One answer of the gateway, 64 bytes, `#[repr(C)]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct GatewayReport {
    /// The tag of the order this is about.
    pub tag: u64,
    /// Sequence number of the request that caused it.
    pub seq: u64,
    /// Order number (0 when refused).
    pub order: u64,
    /// Price (accepted, fill).
    pub price: Ticks,
    /// Quantity (accepted: submitted; fill: traded; done: cancelled).
    pub qty: Qty,
    /// Certificate serial (fill, done; see [`ReportKind`]).
    pub cert: u64,
    /// Transfer number of a fill.
    pub matched: u64,
    /// [`ReportKind`] code.
    pub kind: u8,
    /// Reserved (zero).
    pub reserved: u8,
    /// Refusal code ([`ReportKind::Refused`]) or [`DoneReason`]
    /// ([`ReportKind::Done`]).
    pub code: u16,
    /// Reserved (zero).
    pub reserved2: u32,
}

const _: () = assert!(std::mem::size_of::<GatewayOrder>() == 56);
const _: () = assert!(std::mem::size_of::<GatewayReport>() == 64);
