//! The gateway's state machine: what its sequencer thread owns. Synchronous
//! and deterministic; [`super::GatewayRuntime`] runs it on its own thread
//! and [`Gateway::apply`] runs it inline (tests, replay).

use rustc_hash::FxHashMap;

use super::{DoneReason, GatewayOrder, GatewayReport, OrderKind, ReportKind};
use crate::book::{Book, BookConfig, CancelReason, Event, NewOrder, StpMode, TimeInForce};
use crate::certs::{
    CertId, CertIdKey, Certificate, IdState, ShareClass, StateWord, TransferRestriction,
    SIG_ALG_ED25519,
};
use crate::crypto::{CryptoError, KeyPair, Signed, UserId};
use crate::exchange::Refusal;
use crate::runtime::marketdata::EventPublisher;
use crate::types::{InstrumentId, Qty, Side, Ticks, Timestamp};

/// The rules of one instrument on the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GatewayInstrument {
    /// Instrument id (the register's).
    pub id: InstrumentId,
    /// Cash value of one tick of price for one share, in minor currency
    /// units (so an order's value is `price * qty * tick_value`).
    pub tick_value: i64,
    /// Quantities are multiples of this (at least 1).
    pub lot_size: Qty,
    /// Lowest price of the daily band (ticks, inclusive, at least 1).
    pub band_low: Ticks,
    /// Highest price of the daily band (ticks, inclusive).
    pub band_high: Ticks,
    /// Largest quantity of one order.
    pub max_qty: Qty,
}

/// Why the gateway refused a set-up call (orders are refused with a
/// [`Refusal`] code in their report instead).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatewayError {
    /// Bad instrument rules (zero lot, empty or non-positive band, zero
    /// tick value).
    BadInstrument,
    /// The instrument id is already listed.
    DuplicateInstrument,
    /// No instrument with this index.
    UnknownInstrument,
    /// No account with this index.
    UnknownAccount,
    /// A zero or negative quantity or amount.
    BadAmount,
    /// An amount would overflow the account.
    Overflow,
    /// More than `u32::MAX` accounts, instruments or certificates.
    Full,
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GatewayError::BadInstrument => {
                "bad instrument rules (lot, band, tick value must be positive)"
            }
            GatewayError::DuplicateInstrument => "instrument already listed",
            GatewayError::UnknownInstrument => "unknown instrument index",
            GatewayError::UnknownAccount => "unknown account index",
            GatewayError::BadAmount => "quantity or amount must be positive",
            GatewayError::Overflow => {
                "amount overflows (all the cash in a gateway stays below i64::MAX)"
            }
            GatewayError::Full => "too many accounts, instruments or certificates",
        })
    }
}

impl std::error::Error for GatewayError {}

/// One cash account (minor currency units).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    /// The owner (the user id certificates are registered to).
    pub owner: UserId,
    /// Cash held, reserved part included.
    pub cash: i64,
    /// Cash reserved by open buy orders.
    pub reserved: i64,
}

/// One certificate as the gateway's register holds it: dense serial
/// (from 1), state word, fixed facts.
#[derive(Debug)]
struct CertSlot {
    state: StateWord,
    instrument: u32,
    holder: u32,
    shares: Qty,
    /// Transfer that created it (0: issued).
    origin: u64,
}

/// A certificate's facts and state, as [`Gateway::certificate`] shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CertView {
    /// Serial (from 1).
    pub serial: u64,
    /// State.
    pub state: IdState,
    /// Instrument index.
    pub instrument: u32,
    /// Holder's account index.
    pub holder: u32,
    /// Shares.
    pub shares: Qty,
    /// The transfer that created it (0: issued by [`Gateway::issue`]).
    pub origin: u64,
}

/// One order as the gateway records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderView {
    /// Reception number (from 1).
    pub number: u64,
    /// The client's tag.
    pub tag: u64,
    /// The producer that submitted it.
    pub producer: u16,
    /// Account index.
    pub account: u32,
    /// Instrument index.
    pub instrument: u32,
    /// Side.
    pub side: Side,
    /// Limit price.
    pub price: Ticks,
    /// Open (unfilled, not cancelled) quantity.
    pub open: Qty,
    /// Filled quantity.
    pub filled: Qty,
    /// Cash still reserved (buy).
    pub cash_reserved: i64,
    /// The certificate reserved to it (sell; 0: none).
    pub cert: u64,
    /// Whether it has left the book (filled, cancelled).
    pub done: bool,
}

#[derive(Clone, Copy, Debug)]
struct OrderSlot {
    tag: u64,
    account: u32,
    instrument: u32,
    price: Ticks,
    open: Qty,
    filled: Qty,
    cash: i64,
    cert: u64,
    producer: u16,
    side: Side,
    done: bool,
}

/// One entry of the register's transfer history (one per fill: a sell
/// order holds one certificate at a time, so each match is one transfer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Transfer {
    /// Transfer number = match number (from 1).
    pub number: u64,
    /// Sequence number of the request that caused it.
    pub seq: u64,
    /// Instrument index.
    pub instrument: u32,
    /// Buyer's account index.
    pub buyer: u32,
    /// Seller's account index.
    pub seller: u32,
    /// Trade price (the maker's).
    pub price: Ticks,
    /// Shares transferred.
    pub quantity: Qty,
    /// The seller's certificate, spent.
    pub spent: u64,
    /// The buyer's new certificate.
    pub new: u64,
    /// The seller's change certificate (0: none).
    pub change: u64,
    /// The buy order.
    pub buy_order: u64,
    /// The sell order.
    pub sell_order: u64,
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GatewayStats {
    /// Orders and cancels applied.
    pub requests: u64,
    /// Accepted.
    pub accepted: u64,
    /// Refused.
    pub refused: u64,
    /// Fills (= transfers).
    pub fills: u64,
    /// Shares traded.
    pub shares: u128,
    /// Cash paid for shares, minor units.
    pub value: u128,
}

/// Where the gateway's reports go: `producer` is the producer that
/// submitted the order the report is about.
pub trait ReportSink {
    /// One report.
    fn report(&mut self, producer: u16, report: GatewayReport);
}

impl ReportSink for Vec<(u16, GatewayReport)> {
    #[inline]
    fn report(&mut self, producer: u16, report: GatewayReport) {
        self.push((producer, report));
    }
}

/// An administrative change, applied in sequence with the orders
/// ([`Gateway::apply_control`]; on a running gateway,
/// [`super::GatewayRuntime::control`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GatewayControl {
    /// [`Gateway::open_account`]; its result is the account index.
    OpenAccount {
        /// The owner.
        owner: UserId,
        /// Opening cash, minor units.
        cash: i64,
    },
    /// [`Gateway::deposit`]; its result is 0.
    Deposit {
        /// Account index.
        account: u32,
        /// Minor units.
        amount: i64,
    },
    /// [`Gateway::issue`] (the register's issue phase); its result is the
    /// new certificate's serial.
    Issue {
        /// Holder's account index.
        holder: u32,
        /// Instrument index.
        instrument: u32,
        /// Shares.
        shares: Qty,
    },
    /// [`Gateway::end_of_day`]: every day order expires; its result is how
    /// many did.
    EndOfDay,
}

/// What the register's documents say besides the certificate's facts
/// (used by [`Gateway::documents`]).
#[derive(Clone, Debug)]
pub struct DocumentInfo {
    /// The register's user id (signer of the certificates).
    pub register_id: UserId,
    /// Register name.
    pub register_name: String,
    /// Register address.
    pub register_address: String,
    /// Company name.
    pub company_name: String,
    /// Company founding date, `YYYYMMDD`.
    pub company_founded: u32,
    /// Certificate lifetime from its issue date.
    pub lifetime: Timestamp,
    /// Holder names, by account index (an account without a name gets
    /// `"account N"`).
    pub holder_names: Vec<String>,
}

#[derive(Debug)]
struct Inst {
    spec: GatewayInstrument,
    book: Book,
    /// Shares issued (live certificates must add up to this).
    issued: u128,
    last_price: Option<Ticks>,
    volume: u128,
}

/// The compact trusted-gateway market: books, cash accounts and the
/// certificate register of one shard, in fixed-size records.
#[derive(Debug)]
pub struct Gateway {
    instruments: Vec<Inst>,
    by_id: FxHashMap<InstrumentId, u32>,
    accounts: Vec<Account>,
    /// Serial `s` is `certs[s - 1]`.
    certs: Vec<CertSlot>,
    /// Order number `n` is `orders[n - 1]`.
    orders: Vec<OrderSlot>,
    transfers: Vec<Transfer>,
    /// Cash deposited in total (for the conservation invariant).
    deposited: i128,
    keep_transfers: bool,
    events: Vec<Event>,
    events_out: Option<EventPublisher>,
    stats: GatewayStats,
    next_seq: u64,
    anomalies: Vec<String>,
}

impl Default for Gateway {
    fn default() -> Self {
        Self::new()
    }
}

/// The index of serial or order number `n` (both count from 1; 0 is none).
fn slot_of(n: u64) -> Option<usize> {
    usize::try_from(n.checked_sub(1)?).ok()
}

fn value(price: Ticks, qty: Qty, tick_value: i64) -> Option<i64> {
    let v = i128::from(price)
        .checked_mul(i128::from(qty))?
        .checked_mul(i128::from(tick_value))?;
    i64::try_from(v).ok()
}

impl Gateway {
    /// An empty gateway that keeps its transfer history.
    #[must_use]
    pub fn new() -> Self {
        Gateway {
            instruments: Vec::new(),
            by_id: FxHashMap::default(),
            accounts: Vec::new(),
            certs: Vec::new(),
            orders: Vec::new(),
            transfers: Vec::new(),
            deposited: 0,
            keep_transfers: true,
            events: Vec::with_capacity(64),
            events_out: None,
            stats: GatewayStats::default(),
            next_seq: 1,
            anomalies: Vec::new(),
        }
    }

    /// Reserves room for `orders` more orders and `certificates` more
    /// certificates (and the transfers and book entries that go with
    /// them), and touches the memory now, so that the session does not
    /// take page faults on it (as exchanges prepare their arenas before
    /// the open).
    pub fn reserve(&mut self, orders: usize, certificates: usize) {
        fn prefault<T: Clone>(v: &mut Vec<T>, more: usize, fill: T) {
            let len = v.len();
            v.reserve(more);
            v.resize(len + more, fill);
            v.truncate(len);
        }
        prefault(
            &mut self.orders,
            orders,
            OrderSlot {
                tag: 0,
                account: 0,
                instrument: 0,
                price: 0,
                open: 0,
                filled: 0,
                cash: 0,
                cert: 0,
                producer: 0,
                side: Side::Buy,
                done: true,
            },
        );
        let len = self.certs.len();
        self.certs.reserve(certificates);
        self.certs.extend((0..certificates).map(|_| CertSlot {
            state: StateWord::new(),
            instrument: 0,
            holder: 0,
            shares: 0,
            origin: 0,
        }));
        self.certs.truncate(len);
        if self.keep_transfers {
            prefault(
                &mut self.transfers,
                orders,
                Transfer {
                    number: 0,
                    seq: 0,
                    instrument: 0,
                    buyer: 0,
                    seller: 0,
                    price: 0,
                    quantity: 0,
                    spent: 0,
                    new: 0,
                    change: 0,
                    buy_order: 0,
                    sell_order: 0,
                },
            );
        }
        let per_book = orders / self.instruments.len().max(1);
        for i in &mut self.instruments {
            i.book.reserve(per_book);
        }
    }

    /// Lists an instrument; returns its index (what orders name).
    ///
    /// # Errors
    /// Bad rules, a duplicate id, or too many instruments.
    pub fn add_instrument(&mut self, spec: GatewayInstrument) -> Result<u32, GatewayError> {
        if spec.lot_size == 0
            || spec.max_qty < spec.lot_size
            || spec.band_low < 1
            || spec.band_high < spec.band_low
            || spec.tick_value < 1
        {
            return Err(GatewayError::BadInstrument);
        }
        if self.by_id.contains_key(&spec.id) {
            return Err(GatewayError::DuplicateInstrument);
        }
        let index = u32::try_from(self.instruments.len()).map_err(|_| GatewayError::Full)?;
        let book = Book::try_new(BookConfig {
            lot_size: spec.lot_size,
            max_qty: spec.max_qty,
            min_price: spec.band_low,
            max_price: spec.band_high,
            direct_id_limit: 1 << 26,
            ..BookConfig::default()
        })
        .map_err(|_| GatewayError::BadInstrument)?;
        self.instruments.push(Inst {
            spec,
            book,
            issued: 0,
            last_price: None,
            volume: 0,
        });
        self.by_id.insert(spec.id, index);
        Ok(index)
    }

    /// The index of instrument `id`.
    #[must_use]
    pub fn instrument_index(&self, id: InstrumentId) -> Option<u32> {
        self.by_id.get(&id).copied()
    }

    /// The rules of instrument `index`.
    #[must_use]
    pub fn instrument(&self, index: u32) -> Option<&GatewayInstrument> {
        self.instruments.get(index as usize).map(|i| &i.spec)
    }

    /// Number of instruments.
    #[must_use]
    pub fn instrument_count(&self) -> usize {
        self.instruments.len()
    }

    /// Instrument `index`'s book.
    #[must_use]
    pub fn book(&self, index: u32) -> Option<&Book> {
        self.instruments.get(index as usize).map(|i| &i.book)
    }

    /// Opens a cash account for `owner` with `cash` minor units; returns
    /// its index (what orders name).
    ///
    /// # Errors
    /// A negative amount, or too many accounts.
    pub fn open_account(&mut self, owner: UserId, cash: i64) -> Result<u32, GatewayError> {
        if cash < 0 {
            return Err(GatewayError::BadAmount);
        }
        self.check_total(cash)?;
        let index = u32::try_from(self.accounts.len()).map_err(|_| GatewayError::Full)?;
        self.accounts.push(Account {
            owner,
            cash,
            reserved: 0,
        });
        self.deposited += i128::from(cash);
        Ok(index)
    }

    /// Pays `amount` minor units into account `index`.
    ///
    /// # Errors
    /// Unknown account, non-positive amount, overflow.
    pub fn deposit(&mut self, index: u32, amount: i64) -> Result<(), GatewayError> {
        if amount <= 0 {
            return Err(GatewayError::BadAmount);
        }
        self.check_total(amount)?;
        let a = self
            .accounts
            .get_mut(index as usize)
            .ok_or(GatewayError::UnknownAccount)?;
        a.cash = a.cash.checked_add(amount).ok_or(GatewayError::Overflow)?;
        self.deposited += i128::from(amount);
        Ok(())
    }

    /// All the cash in the gateway stays below `i64::MAX`, so no account
    /// can overflow however the cash moves (it is conserved).
    fn check_total(&self, more: i64) -> Result<(), GatewayError> {
        if self.deposited + i128::from(more) > i128::from(i64::MAX) {
            return Err(GatewayError::Overflow);
        }
        Ok(())
    }

    /// Applies an administrative change (see [`GatewayControl`]) with
    /// sequence number `seq`; the reports it causes (an expired order's
    /// [`ReportKind::Done`]) go to `sink`.
    ///
    /// # Errors
    /// As the call it stands for; nothing changed then.
    pub fn apply_control<S: ReportSink>(
        &mut self,
        seq: u64,
        c: &GatewayControl,
        sink: &mut S,
    ) -> Result<u64, GatewayError> {
        self.next_seq = self.next_seq.max(seq.saturating_add(1));
        match *c {
            GatewayControl::EndOfDay => Ok(self.end_of_day(seq, sink)),
            GatewayControl::OpenAccount { owner, cash } => {
                self.open_account(owner, cash).map(u64::from)
            }
            GatewayControl::Deposit { account, amount } => {
                self.deposit(account, amount).map(|()| 0)
            }
            GatewayControl::Issue {
                holder,
                instrument,
                shares,
            } => self.issue(holder, instrument, shares),
        }
    }

    /// The end of the trading day: every day order ([`super::TIF_DAY`])
    /// expires, in each book's priority order, giving back its cash and
    /// certificate ([`ReportKind::Done`] with [`DoneReason::Expired`]);
    /// returns how many expired.
    pub fn end_of_day<S: ReportSink>(&mut self, seq: u64, sink: &mut S) -> u64 {
        self.next_seq = self.next_seq.max(seq.saturating_add(1));
        let mut n = 0;
        let mut events = std::mem::take(&mut self.events);
        for i in 0..self.instruments.len() {
            events.clear();
            self.instruments[i].book.expire_day(&mut events);
            n += events
                .iter()
                .filter(|e| matches!(e, Event::Cancelled { .. }))
                .count() as u64;
            self.run_events(i as u32, seq, &events, sink);
        }
        self.events = events;
        n
    }

    /// Account `index`.
    #[must_use]
    pub fn account(&self, index: u32) -> Option<&Account> {
        self.accounts.get(index as usize)
    }

    /// Number of accounts.
    #[must_use]
    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }

    /// The register's issue phase: a new live certificate of `shares`
    /// shares of instrument `instrument` for account `holder`; returns its
    /// serial.
    ///
    /// # Errors
    /// Unknown account or instrument, zero shares, too many certificates.
    pub fn issue(
        &mut self,
        holder: u32,
        instrument: u32,
        shares: Qty,
    ) -> Result<u64, GatewayError> {
        if holder as usize >= self.accounts.len() {
            return Err(GatewayError::UnknownAccount);
        }
        let inst = self
            .instruments
            .get_mut(instrument as usize)
            .ok_or(GatewayError::UnknownInstrument)?;
        if shares == 0 {
            return Err(GatewayError::BadAmount);
        }
        if self.certs.len() >= u32::MAX as usize {
            return Err(GatewayError::Full);
        }
        inst.issued += u128::from(shares);
        let serial = self.new_cert(instrument, holder, shares, 0);
        self.certs[(serial - 1) as usize]
            .state
            .publish_mut()
            .map_err(|_| GatewayError::Full)?;
        Ok(serial)
    }

    fn new_cert(&mut self, instrument: u32, holder: u32, shares: Qty, origin: u64) -> u64 {
        self.certs.push(CertSlot {
            state: StateWord::new(),
            instrument,
            holder,
            shares,
            origin,
        });
        self.certs.len() as u64
    }

    /// Certificate `serial`.
    #[must_use]
    pub fn certificate(&self, serial: u64) -> Option<CertView> {
        let c = self.certs.get(slot_of(serial)?)?;
        Some(CertView {
            serial,
            state: c.state.load(),
            instrument: c.instrument,
            holder: c.holder,
            shares: c.shares,
            origin: c.origin,
        })
    }

    /// Number of certificates ever made (live, reserved and spent).
    #[must_use]
    pub fn certificate_count(&self) -> u64 {
        self.certs.len() as u64
    }

    /// Every certificate of account `holder` that is live or reserved.
    pub fn holdings(&self, holder: u32) -> impl Iterator<Item = CertView> + '_ {
        (1..=self.certs.len() as u64)
            .filter_map(|s| self.certificate(s))
            .filter(move |c| {
                c.holder == holder && matches!(c.state, IdState::Live | IdState::Reserved(_))
            })
    }

    /// Shares of `instrument` that account `holder` holds (live and
    /// reserved certificates).
    #[must_use]
    pub fn shares_of(&self, holder: u32, instrument: u32) -> u128 {
        self.holdings(holder)
            .filter(|c| c.instrument == instrument)
            .map(|c| u128::from(c.shares))
            .sum()
    }

    /// Order `number`.
    #[must_use]
    pub fn order(&self, number: u64) -> Option<OrderView> {
        let o = self.orders.get(slot_of(number)?)?;
        Some(OrderView {
            number,
            tag: o.tag,
            producer: o.producer,
            account: o.account,
            instrument: o.instrument,
            side: o.side,
            price: o.price,
            open: o.open,
            filled: o.filled,
            cash_reserved: o.cash,
            cert: o.cert,
            done: o.done,
        })
    }

    /// Number of orders received.
    #[must_use]
    pub fn order_count(&self) -> u64 {
        self.orders.len() as u64
    }

    /// The transfer history (empty when it is not kept, see
    /// [`Gateway::set_keep_transfers`]).
    #[must_use]
    pub fn transfers(&self) -> &[Transfer] {
        &self.transfers
    }

    /// Whether to keep the transfer history (default: yes). Each fill's
    /// certificates are recorded in the certificate table either way.
    pub fn set_keep_transfers(&mut self, on: bool) {
        self.keep_transfers = on;
    }

    /// The sequence number after the highest applied so far (1 at first):
    /// where a runtime started on this gateway continues numbering.
    #[must_use]
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> &GatewayStats {
        &self.stats
    }

    /// Last trade price and volume of instrument `index`.
    #[must_use]
    pub fn last_trade(&self, index: u32) -> Option<(Option<Ticks>, u128)> {
        self.instruments
            .get(index as usize)
            .map(|i| (i.last_price, i.volume))
    }

    /// Publishes every book event, with its instrument id, into `ring`
    /// (the runtime's market event stream); `None` stops it. Returns the
    /// publisher it replaces.
    pub fn set_event_publisher(&mut self, ring: Option<EventPublisher>) -> Option<EventPublisher> {
        std::mem::replace(&mut self.events_out, ring)
    }

    /// Applies the requests of `orders`, in order, numbered `first_seq`,
    /// `first_seq + 1`, ... (see [`Gateway::apply`]).
    pub fn apply_batch<S: ReportSink>(
        &mut self,
        producer: u16,
        first_seq: u64,
        orders: &[GatewayOrder],
        sink: &mut S,
    ) {
        // The certificate a sell names, and the order a cancel names, were
        // made long ago: ask for their cache lines a few requests ahead.
        const AHEAD: usize = 8;
        for o in orders.iter().take(AHEAD) {
            self.prefetch(o);
        }
        for (k, o) in orders.iter().enumerate() {
            if let Some(next) = orders.get(k + AHEAD) {
                self.prefetch(next);
            }
            self.apply(producer, first_seq + k as u64, o, sink);
        }
    }

    #[inline]
    fn prefetch(&self, o: &GatewayOrder) {
        if let Some(c) = slot_of(o.cert).and_then(|i| self.certs.get(i)) {
            crate::book::prefetch::prefetch(c);
        }
        if let Some(r) = slot_of(o.order).and_then(|i| self.orders.get(i)) {
            crate::book::prefetch::prefetch(r);
        }
    }

    /// Applies one request from `producer` with sequence number `seq`.
    /// Every request gets exactly one [`ReportKind::Accepted`] or
    /// [`ReportKind::Refused`] report, first; fills and the end of an order
    /// follow, each to the producer of the order it concerns. A refused
    /// request changes nothing.
    pub fn apply<S: ReportSink>(
        &mut self,
        producer: u16,
        seq: u64,
        o: &GatewayOrder,
        sink: &mut S,
    ) {
        self.stats.requests += 1;
        self.next_seq = self.next_seq.max(seq.saturating_add(1));
        let result = match OrderKind::from_code(o.kind) {
            _ if o.reserved != [0; 6] => Err(Refusal::InvalidOrderType),
            Some(OrderKind::Buy) => self.add(producer, seq, o, Side::Buy, sink),
            Some(OrderKind::Sell) => self.add(producer, seq, o, Side::Sell, sink),
            Some(OrderKind::Cancel) => self.cancel(producer, seq, o, sink),
            None => Err(Refusal::InvalidOrderType),
        };
        if let Err(r) = result {
            self.stats.refused += 1;
            sink.report(
                producer,
                GatewayReport {
                    tag: o.tag,
                    seq,
                    kind: ReportKind::Refused as u8,
                    code: r.code(),
                    ..GatewayReport::default()
                },
            );
        }
    }

    fn add<S: ReportSink>(
        &mut self,
        producer: u16,
        seq: u64,
        o: &GatewayOrder,
        side: Side,
        sink: &mut S,
    ) -> Result<(), Refusal> {
        let inst = self
            .instruments
            .get(o.instrument as usize)
            .ok_or(Refusal::UnknownInstrument)?;
        let spec = inst.spec;
        let account = self
            .accounts
            .get(o.account as usize)
            .ok_or(Refusal::UnknownAccount)?;
        let tif = match o.tif {
            0 => TimeInForce::Gtc,
            1 => TimeInForce::Ioc,
            2 => TimeInForce::Fok,
            3 => TimeInForce::Day,
            _ => return Err(Refusal::InvalidOrderType),
        };
        if o.qty == 0 || o.qty > spec.max_qty {
            return Err(Refusal::InvalidQuantity);
        }
        if o.qty % spec.lot_size != 0 {
            return Err(Refusal::LotSize);
        }
        if o.price < spec.band_low || o.price > spec.band_high {
            return Err(Refusal::PriceOutOfBand);
        }
        let number = self.orders.len() as u64 + 1;
        let mut cash = 0;
        if side == Side::Buy {
            if o.cert != 0 {
                return Err(Refusal::CertificatesOnBuy);
            }
            cash = value(o.price, o.qty, spec.tick_value).ok_or(Refusal::Overflow)?;
            if account.cash - account.reserved < cash {
                return Err(Refusal::InsufficientFunds);
            }
        } else {
            let c = slot_of(o.cert)
                .and_then(|i| self.certs.get_mut(i))
                .ok_or(Refusal::CertificateNotRecognised)?;
            if c.instrument != o.instrument {
                return Err(Refusal::CertificateMismatch);
            }
            if c.holder != o.account {
                return Err(Refusal::NotHolder);
            }
            if c.shares < o.qty {
                return Err(Refusal::InsufficientCertificates);
            }
            match c.state.reserve_mut(number) {
                Ok(()) => {}
                Err(crate::certs::TransitionError::Found(IdState::Spent)) => {
                    return Err(Refusal::CertificateSpent)
                }
                Err(crate::certs::TransitionError::Found(IdState::Reserved(_))) => {
                    return Err(Refusal::CertificateInUse)
                }
                Err(_) => return Err(Refusal::CertificateNotRecognised),
            }
        }
        let new = NewOrder {
            id: number,
            side,
            price: Some(o.price),
            qty: o.qty,
            tif,
            post_only: false,
            // Self-trade prevention, as the exchange does it: an order that
            // would trade with its own account's resting order is cancelled.
            owner: u64::from(o.account) + 1,
            stp: StpMode::CancelNewest,
        };
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        let inst = &mut self.instruments[o.instrument as usize];
        if let Err(e) = inst.book.submit(&new, &mut events) {
            if side == Side::Sell {
                // Reserved just above; nothing else changed.
                let _ = self.certs[(o.cert - 1) as usize].state.release_mut(number);
            }
            self.events = events;
            return Err(Refusal::from(e));
        }
        self.accounts[o.account as usize].reserved += cash;
        self.orders.push(OrderSlot {
            tag: o.tag,
            account: o.account,
            instrument: o.instrument,
            price: o.price,
            open: o.qty,
            filled: 0,
            cash,
            cert: if side == Side::Sell { o.cert } else { 0 },
            producer,
            side,
            done: false,
        });
        self.stats.accepted += 1;
        sink.report(
            producer,
            GatewayReport {
                tag: o.tag,
                seq,
                order: number,
                kind: ReportKind::Accepted as u8,
                qty: o.qty,
                price: o.price,
                ..GatewayReport::default()
            },
        );
        self.run_events(o.instrument, seq, &events, sink);
        self.events = events;
        Ok(())
    }

    fn cancel<S: ReportSink>(
        &mut self,
        producer: u16,
        seq: u64,
        o: &GatewayOrder,
        sink: &mut S,
    ) -> Result<(), Refusal> {
        let slot = slot_of(o.order)
            .and_then(|i| self.orders.get(i))
            .ok_or(Refusal::UnknownOrder)?;
        if slot.account != o.account {
            return Err(Refusal::NotAccountOwner);
        }
        if slot.done {
            return Err(Refusal::UnknownOrder);
        }
        let inst = slot.instrument;
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        if let Err(e) = self.instruments[inst as usize]
            .book
            .cancel(o.order, &mut events)
        {
            self.events = events;
            return Err(Refusal::from(e));
        }
        self.stats.accepted += 1;
        sink.report(
            producer,
            GatewayReport {
                tag: o.tag,
                seq,
                order: o.order,
                kind: ReportKind::Accepted as u8,
                ..GatewayReport::default()
            },
        );
        self.run_events(inst, seq, &events, sink);
        self.events = events;
        Ok(())
    }

    fn run_events<S: ReportSink>(&mut self, inst: u32, seq: u64, events: &[Event], sink: &mut S) {
        for e in events {
            match *e {
                Event::Trade {
                    maker_id,
                    taker_id,
                    taker_side,
                    price,
                    qty,
                    maker_remaining,
                    taker_remaining,
                } => {
                    let (buy, sell) = match taker_side {
                        Side::Buy => (taker_id, maker_id),
                        Side::Sell => (maker_id, taker_id),
                    };
                    self.fill(inst, seq, buy, sell, price, qty, sink);
                    if maker_remaining == 0 {
                        self.finish(maker_id, seq, 0, DoneReason::Filled, sink);
                    }
                    if taker_remaining == 0 {
                        self.finish(taker_id, seq, 0, DoneReason::Filled, sink);
                    }
                }
                Event::Cancelled {
                    id, qty, reason, ..
                } => {
                    self.shrink(id, qty);
                    let why = if reason == CancelReason::Expired {
                        DoneReason::Expired
                    } else {
                        DoneReason::Cancelled
                    };
                    self.finish(id, seq, qty, why, sink);
                }
                Event::Reduced { id, qty, .. } => self.shrink(id, qty),
                Event::Accepted { .. } | Event::Rejected { .. } | Event::Modified { .. } => {}
            }
        }
        if let Some(r) = self.events_out.as_mut() {
            let id = self.instruments[inst as usize].spec.id;
            for e in events {
                r.publish(id, *e);
            }
        }
    }

    /// `qty` shares of order `id` left the book without trading.
    fn shrink(&mut self, id: u64, qty: Qty) {
        let Some(o) = self.orders.get_mut((id - 1) as usize) else {
            return;
        };
        o.open = o.open.saturating_sub(qty);
        if o.side == Side::Buy {
            let tv = self.instruments[o.instrument as usize].spec.tick_value;
            let release = value(o.price, qty, tv).unwrap_or(0).min(o.cash);
            o.cash -= release;
            self.accounts[o.account as usize].reserved -= release;
        }
    }

    /// Order `id` left the book: its leftover cash and certificate go back.
    fn finish<S: ReportSink>(
        &mut self,
        id: u64,
        seq: u64,
        cancelled: Qty,
        why: DoneReason,
        sink: &mut S,
    ) {
        let Some(o) = self.orders.get_mut((id - 1) as usize) else {
            return;
        };
        if o.done {
            return;
        }
        o.done = true;
        if o.cash != 0 {
            self.accounts[o.account as usize].reserved -= o.cash;
            o.cash = 0;
        }
        let mut released = 0;
        if o.cert != 0 {
            released = o.cert;
            if self.certs[(o.cert - 1) as usize]
                .state
                .release_mut(id)
                .is_err()
            {
                self.anomalies.push(format!(
                    "order {id}: could not release certificate {}",
                    o.cert
                ));
            }
            o.cert = 0;
        }
        let (tag, producer) = (o.tag, o.producer);
        sink.report(
            producer,
            GatewayReport {
                tag,
                seq,
                order: id,
                kind: ReportKind::Done as u8,
                code: why as u16,
                qty: cancelled,
                cert: released,
                ..GatewayReport::default()
            },
        );
    }

    /// One trade: the seller's certificate is spent, the buyer's and the
    /// change certificate are made, cash moves, both sides are told.
    #[allow(clippy::too_many_arguments)]
    fn fill<S: ReportSink>(
        &mut self,
        inst: u32,
        seq: u64,
        buy: u64,
        sell: u64,
        price: Ticks,
        qty: Qty,
        sink: &mut S,
    ) {
        let (bi, si) = ((buy - 1) as usize, (sell - 1) as usize);
        let (b, s) = (self.orders[bi], self.orders[si]);
        let number = self.stats.fills + 1;
        // Certificates: spend the seller's, make the buyer's and the change.
        let spent = s.cert;
        let cert = &mut self.certs[(spent - 1) as usize];
        if cert.shares < qty || cert.state.spend_reserved_mut(sell).is_err() {
            self.anomalies.push(format!(
                "trade {buy}/{sell}: certificate {spent} not reserved to the sell order"
            ));
            return;
        }
        let change_shares = cert.shares - qty;
        let new = self.new_cert(inst, b.account, qty, number);
        let _ = self.certs[(new - 1) as usize].state.publish_mut();
        let change = if change_shares > 0 {
            let c = self.new_cert(inst, s.account, change_shares, number);
            let _ = self.certs[(c - 1) as usize]
                .state
                .publish_reserved_mut(sell);
            c
        } else {
            0
        };
        // Cash: pay at the trade price, release the improvement.
        let tv = self.instruments[inst as usize].spec.tick_value;
        let amount = value(price, qty, tv).unwrap_or(0);
        let reserved = value(b.price, qty, tv).unwrap_or(0).min(b.cash);
        {
            let ba = &mut self.accounts[b.account as usize];
            ba.cash -= amount;
            ba.reserved -= reserved;
        }
        self.accounts[s.account as usize].cash += amount;
        {
            let bo = &mut self.orders[bi];
            bo.cash -= reserved;
            bo.open -= qty;
            bo.filled += qty;
        }
        {
            let so = &mut self.orders[si];
            so.cert = change;
            so.open -= qty;
            so.filled += qty;
        }
        self.stats.fills = number;
        self.stats.shares += u128::from(qty);
        self.stats.value += u128::try_from(amount).unwrap_or(0);
        let i = &mut self.instruments[inst as usize];
        i.last_price = Some(price);
        i.volume += u128::from(qty);
        if self.keep_transfers {
            self.transfers.push(Transfer {
                number,
                seq,
                instrument: inst,
                buyer: b.account,
                seller: s.account,
                price,
                quantity: qty,
                spent,
                new,
                change,
                buy_order: buy,
                sell_order: sell,
            });
        }
        let fill = GatewayReport {
            seq,
            kind: ReportKind::Fill as u8,
            price,
            qty,
            matched: number,
            ..GatewayReport::default()
        };
        sink.report(
            b.producer,
            GatewayReport {
                tag: b.tag,
                order: buy,
                cert: new,
                ..fill
            },
        );
        sink.report(
            s.producer,
            GatewayReport {
                tag: s.tag,
                order: sell,
                cert: change,
                ..fill
            },
        );
    }

    /// Checks DESIGN.md section 3 on the gateway: per instrument, live and
    /// reserved certificates add up to the shares issued; every open sell
    /// is covered by the one certificate reserved to it and every reserved
    /// certificate belongs to an open sell; every open buy is covered by
    /// its reserved cash, and account reservations add up; cash is
    /// conserved; no book is crossed; nothing went wrong on the way.
    ///
    /// # Errors
    /// Every violation found.
    pub fn check_invariants(&self) -> Result<(), Vec<String>> {
        let mut bad = self.anomalies.clone();
        let mut live = vec![0u128; self.instruments.len()];
        for (k, c) in self.certs.iter().enumerate() {
            let serial = k as u64 + 1;
            match c.state.load() {
                IdState::Live => live[c.instrument as usize] += u128::from(c.shares),
                IdState::Reserved(o) => {
                    live[c.instrument as usize] += u128::from(c.shares);
                    match self.orders.get((o - 1) as usize) {
                        Some(os) if !os.done && os.cert == serial => {}
                        _ => bad.push(format!(
                            "certificate {serial} reserved to order {o}, which does not hold it"
                        )),
                    }
                }
                IdState::Spent => {}
                IdState::Vacant => bad.push(format!("certificate {serial} never published")),
            }
        }
        for (k, i) in self.instruments.iter().enumerate() {
            if live[k] != i.issued {
                bad.push(format!(
                    "instrument {}: {} shares live, {} issued",
                    i.spec.id, live[k], i.issued
                ));
            }
            if let (Some((b, _)), Some((a, _))) = (i.book.best_bid(), i.book.best_ask()) {
                if b >= a {
                    bad.push(format!(
                        "instrument {}: book crossed ({b} >= {a})",
                        i.spec.id
                    ));
                }
            }
        }
        let mut reserved = vec![0i64; self.accounts.len()];
        for (k, o) in self.orders.iter().enumerate() {
            let n = k as u64 + 1;
            let resting = self.instruments[o.instrument as usize].book.order(n);
            if o.done {
                if resting.is_some() || o.cash != 0 || o.cert != 0 {
                    bad.push(format!(
                        "order {n}: done but still holds book, cash or certificate"
                    ));
                }
                continue;
            }
            match resting {
                Some(r) if r.qty == o.open => {}
                _ => bad.push(format!("order {n}: open {} not as the book shows", o.open)),
            }
            let tv = self.instruments[o.instrument as usize].spec.tick_value;
            if o.side == Side::Buy {
                if value(o.price, o.open, tv) != Some(o.cash) {
                    bad.push(format!(
                        "order {n}: reserved cash {} does not cover {}",
                        o.cash, o.open
                    ));
                }
                reserved[o.account as usize] += o.cash;
            } else {
                let c = self.certificate(o.cert);
                if !c.is_some_and(|c| c.state == IdState::Reserved(n) && c.shares >= o.open) {
                    bad.push(format!(
                        "sell order {n}: not covered by certificate {}",
                        o.cert
                    ));
                }
            }
        }
        let mut total: i128 = 0;
        for (k, a) in self.accounts.iter().enumerate() {
            total += i128::from(a.cash);
            if a.reserved != reserved[k] || a.reserved > a.cash || a.reserved < 0 {
                bad.push(format!(
                    "account {k}: reserved {} (orders: {}), cash {}",
                    a.reserved, reserved[k], a.cash
                ));
            }
        }
        if total != self.deposited {
            bad.push(format!(
                "cash {total} differs from deposits {}",
                self.deposited
            ));
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(bad)
        }
    }

    /// A digest of the whole state (books, accounts, certificates, orders,
    /// transfers): equal states have equal hashes.
    #[must_use]
    pub fn state_hash(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(b"kabuken gateway state v1");
        for i in &self.instruments {
            h.update(&i.spec.id.to_le_bytes());
            h.update(&i.book.state_hash());
            h.update(&i.issued.to_le_bytes());
        }
        for a in &self.accounts {
            h.update(&a.owner.to_le_bytes());
            h.update(&a.cash.to_le_bytes());
            h.update(&a.reserved.to_le_bytes());
        }
        for c in &self.certs {
            let word: u64 = match c.state.load() {
                IdState::Vacant => 0,
                IdState::Live => 1,
                IdState::Reserved(o) => 2 | (o << 2),
                IdState::Spent => 3,
            };
            h.update(&word.to_le_bytes());
            h.update(&c.instrument.to_le_bytes());
            h.update(&c.holder.to_le_bytes());
            h.update(&c.shares.to_le_bytes());
            h.update(&c.origin.to_le_bytes());
        }
        for o in &self.orders {
            h.update(&o.tag.to_le_bytes());
            h.update(&o.account.to_le_bytes());
            h.update(&o.open.to_le_bytes());
            h.update(&o.filled.to_le_bytes());
            h.update(&o.cash.to_le_bytes());
            h.update(&o.cert.to_le_bytes());
            h.update(&[u8::from(o.done)]);
        }
        for t in &self.transfers {
            h.update(&t.number.to_le_bytes());
            h.update(&t.spent.to_le_bytes());
            h.update(&t.new.to_le_bytes());
            h.update(&t.change.to_le_bytes());
            h.update(&t.price.to_le_bytes());
        }
        *h.finalize().as_bytes()
    }

    /// The signed certificate documents of `serials` (live or reserved
    /// certificates; others are skipped), made off the sequencer: IDs
    /// minted from the serial under `ids` (the register's secret), one
    /// Ed25519 signature over the BLAKE3 Merkle root of the batch
    /// ([`Signed::sign_batch`]). Their content digests are what the
    /// register's ID table holds once they are handed out.
    ///
    /// # Errors
    /// Signing failed.
    pub fn documents(
        &self,
        serials: &[u64],
        info: &DocumentInfo,
        ids: &CertIdKey,
        key: &KeyPair,
        issue_date: Timestamp,
    ) -> Result<Vec<Signed<Certificate>>, CryptoError> {
        let bodies: Vec<Certificate> = serials
            .iter()
            .filter_map(|&s| self.certificate(s))
            .filter(|c| matches!(c.state, IdState::Live | IdState::Reserved(_)))
            .map(|c| {
                let spec = &self.instruments[c.instrument as usize].spec;
                let holder = self.accounts[c.holder as usize].owner;
                Certificate {
                    company_name: info.company_name.clone(),
                    company_founded: info.company_founded,
                    certificate_number: c.serial,
                    id: ids.mint(spec.id, c.serial),
                    instrument: spec.id,
                    shares: c.shares,
                    par_value: 0,
                    issue_date,
                    expiry: issue_date.saturating_add(info.lifetime),
                    holder_name: info
                        .holder_names
                        .get(c.holder as usize)
                        .cloned()
                        .unwrap_or_else(|| format!("account {}", c.holder)),
                    holder,
                    class: ShareClass::Common,
                    restriction: TransferRestriction::Free,
                    signature_algorithm: SIG_ALG_ED25519,
                    register_name: info.register_name.clone(),
                    register_address: info.register_address.clone(),
                }
            })
            .collect();
        Signed::sign_batch(bodies, info.register_id, key)
    }

    /// The ID of certificate `serial` under the register's secret `ids`.
    #[must_use]
    pub fn cert_id(&self, serial: u64, ids: &CertIdKey) -> Option<CertId> {
        let c = self.certificate(serial)?;
        Some(ids.mint(self.instruments[c.instrument as usize].spec.id, serial))
    }
}
