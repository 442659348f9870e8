//! A small, obviously-correct reference order book, for tests only.
//!
//! Resting orders sit in one flat `Vec`; every question is answered by a
//! linear scan ("the best maker is the crossing opposite order with the best
//! price, then the lowest priority number"). It is slow on purpose and shares
//! nothing with [`Book`](super::Book) but the static order checks and the
//! state-hash encoding, so property tests and the `book_vs_model` fuzz target
//! can compare the two event for event and state for state.

use super::{
    hash_order, validate_new, validate_price, validate_qty, BookConfig, CancelReason, Command,
    CommandKind, Event, LevelInfo, ModifyPriority, NewOrder, OrderInfo, RejectReason, StpMode,
    TimeInForce,
};
use crate::types::{OrderId, OwnerId, Qty, Side, Ticks, Timestamp};

/// The reference book. See the module docs.
#[derive(Clone, Debug)]
pub struct ModelBook {
    cfg: BookConfig,
    orders: Vec<OrderInfo>,
    now: Timestamp,
    next_priority: u64,
}

#[derive(Clone, Copy, Debug)]
struct Taker {
    id: OrderId,
    side: Side,
    limit: Option<Ticks>,
    qty: Qty,
    rem: Qty,
    owner: OwnerId,
    stp: StpMode,
    /// Quantity traded or removed by a self-trade decrement.
    disposed: Qty,
}

fn better(side: Side, a: Ticks, b: Ticks) -> bool {
    match side {
        Side::Buy => a > b,
        Side::Sell => a < b,
    }
}

impl ModelBook {
    /// An empty reference book.
    #[must_use]
    pub fn new(cfg: BookConfig) -> Self {
        ModelBook {
            cfg,
            orders: Vec::new(),
            now: 0,
            next_priority: 0,
        }
    }

    /// Applies a command, appending its events to `out`.
    pub fn apply(&mut self, cmd: &Command, out: &mut Vec<Event>) {
        match *cmd {
            Command::New(ref o) => self.submit(o, out),
            Command::Cancel { id } => self.cancel(id, out),
            Command::Reduce { id, by } => self.reduce(id, by, out),
            Command::Modify { id, price, qty } => self.modify(id, price, qty, out),
            Command::AdvanceTime { now } => self.advance_time(now, out),
            Command::ExpireDay => self.expire(out, |o, _| o.tif == TimeInForce::Day),
        }
    }

    fn find(&self, id: OrderId) -> Option<usize> {
        self.orders.iter().position(|o| o.id == id)
    }

    fn best_of(&self, side: Side) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, o) in self.orders.iter().enumerate() {
            if o.side != side {
                continue;
            }
            best = match best {
                None => Some(i),
                Some(b) => {
                    let cur = &self.orders[b];
                    if better(side, o.price, cur.price)
                        || (o.price == cur.price && o.priority < cur.priority)
                    {
                        Some(i)
                    } else {
                        Some(b)
                    }
                }
            };
        }
        best
    }

    fn crosses(side: Side, limit: Option<Ticks>, maker_price: Ticks) -> bool {
        match limit {
            None => true,
            Some(p) => match side {
                Side::Buy => maker_price <= p,
                Side::Sell => maker_price >= p,
            },
        }
    }

    fn submit(&mut self, o: &NewOrder, out: &mut Vec<Event>) {
        let refuse = validate_new(&self.cfg, o, self.now).err().or_else(|| {
            if self.find(o.id).is_some() {
                Some(RejectReason::DuplicateId)
            } else if o.tif.rests() && self.orders.len() >= self.cfg.max_orders as usize {
                Some(RejectReason::BookFull)
            } else if o.post_only
                && self
                    .best_of(o.side.opposite())
                    .is_some_and(|b| Self::crosses(o.side, o.price, self.orders[b].price))
            {
                Some(RejectReason::PostOnlyWouldCross)
            } else {
                None
            }
        });
        if let Some(reason) = refuse {
            out.push(Event::Rejected {
                id: o.id,
                command: CommandKind::New,
                reason,
            });
            return;
        }
        out.push(Event::Accepted {
            id: o.id,
            side: o.side,
            price: o.price,
            qty: o.qty,
        });
        let mut t = Taker {
            id: o.id,
            side: o.side,
            limit: o.price,
            qty: o.qty,
            rem: o.qty,
            owner: o.owner,
            stp: o.stp,
            disposed: 0,
        };
        if o.tif == TimeInForce::Fok {
            // Dry run on a copy: fill-or-kill passes when nothing would remain.
            let mut dry = self.clone();
            let mut dt = t;
            dry.run_match(&mut dt, &mut Vec::new());
            if dt.disposed != dt.qty {
                out.push(Event::Cancelled {
                    id: o.id,
                    side: o.side,
                    price: o.price,
                    qty: o.qty,
                    reason: CancelReason::FillOrKill,
                });
                return;
            }
        }
        self.run_match(&mut t, out);
        if t.rem == 0 {
            return;
        }
        match o.price {
            Some(price) if o.tif.rests() => self.rest(OrderInfo {
                id: o.id,
                side: o.side,
                price,
                qty: t.rem,
                owner: o.owner,
                stp: o.stp,
                tif: o.tif,
                post_only: o.post_only,
                priority: 0,
            }),
            _ => out.push(Event::Cancelled {
                id: o.id,
                side: o.side,
                price: o.price,
                qty: t.rem,
                reason: CancelReason::Unfilled,
            }),
        }
    }

    fn rest(&mut self, mut o: OrderInfo) {
        o.priority = self.next_priority;
        self.next_priority += 1;
        self.orders.push(o);
    }

    fn run_match(&mut self, t: &mut Taker, out: &mut Vec<Event>) {
        while t.rem > 0 {
            let Some(b) = self.best_of(t.side.opposite()) else {
                return;
            };
            let maker = self.orders[b];
            if !Self::crosses(t.side, t.limit, maker.price) {
                return;
            }
            if t.stp != StpMode::Off && t.owner != 0 && maker.owner == t.owner {
                let taker_cancel = Event::Cancelled {
                    id: t.id,
                    side: t.side,
                    price: t.limit,
                    qty: t.rem,
                    reason: CancelReason::SelfTrade,
                };
                let maker_cancel = Event::Cancelled {
                    id: maker.id,
                    side: maker.side,
                    price: Some(maker.price),
                    qty: maker.qty,
                    reason: CancelReason::SelfTrade,
                };
                match t.stp {
                    StpMode::CancelNewest => {
                        out.push(taker_cancel);
                        t.rem = 0;
                    }
                    StpMode::CancelOldest => {
                        self.orders.remove(b);
                        out.push(maker_cancel);
                    }
                    StpMode::CancelBoth => {
                        self.orders.remove(b);
                        out.push(maker_cancel);
                        out.push(taker_cancel);
                        t.rem = 0;
                    }
                    StpMode::Decrement => {
                        let d = t.rem.min(maker.qty);
                        if d == maker.qty {
                            self.orders.remove(b);
                            out.push(maker_cancel);
                        } else {
                            self.orders[b].qty -= d;
                            out.push(Event::Reduced {
                                id: maker.id,
                                side: maker.side,
                                qty: d,
                                remaining: maker.qty - d,
                                reason: CancelReason::SelfTrade,
                            });
                        }
                        t.disposed += d;
                        if d == t.rem {
                            out.push(taker_cancel);
                            t.rem = 0;
                        } else {
                            t.rem -= d;
                            out.push(Event::Reduced {
                                id: t.id,
                                side: t.side,
                                qty: d,
                                remaining: t.rem,
                                reason: CancelReason::SelfTrade,
                            });
                        }
                    }
                    StpMode::Off => unreachable!("checked above"),
                }
                continue;
            }
            let fill = t.rem.min(maker.qty);
            t.rem -= fill;
            t.disposed += fill;
            self.orders[b].qty -= fill;
            out.push(Event::Trade {
                maker_id: maker.id,
                taker_id: t.id,
                taker_side: t.side,
                price: maker.price,
                qty: fill,
                maker_remaining: maker.qty - fill,
                taker_remaining: t.rem,
            });
            if self.orders[b].qty == 0 {
                self.orders.remove(b);
            }
        }
    }

    fn cancel(&mut self, id: OrderId, out: &mut Vec<Event>) {
        match self.find(id) {
            None => out.push(Event::Rejected {
                id,
                command: CommandKind::Cancel,
                reason: RejectReason::UnknownOrder,
            }),
            Some(i) => {
                let o = self.orders.remove(i);
                out.push(Event::Cancelled {
                    id,
                    side: o.side,
                    price: Some(o.price),
                    qty: o.qty,
                    reason: CancelReason::Requested,
                });
            }
        }
    }

    fn reduce(&mut self, id: OrderId, by: Qty, out: &mut Vec<Event>) {
        let reject = |reason| Event::Rejected {
            id,
            command: CommandKind::Reduce,
            reason,
        };
        let Some(i) = self.find(id) else {
            out.push(reject(RejectReason::UnknownOrder));
            return;
        };
        if by == 0 {
            out.push(reject(RejectReason::InvalidQuantity));
        } else if by % self.cfg.lot_size != 0 {
            out.push(reject(RejectReason::LotSize));
        } else if by >= self.orders[i].qty {
            self.cancel(id, out);
        } else {
            let o = &mut self.orders[i];
            o.qty -= by;
            out.push(Event::Reduced {
                id,
                side: o.side,
                qty: by,
                remaining: o.qty,
                reason: CancelReason::Requested,
            });
        }
    }

    fn modify(&mut self, id: OrderId, price: Ticks, qty: Qty, out: &mut Vec<Event>) {
        let reject = |reason| Event::Rejected {
            id,
            command: CommandKind::Modify,
            reason,
        };
        let Some(i) = self.find(id) else {
            out.push(reject(RejectReason::UnknownOrder));
            return;
        };
        if let Err(r) = validate_qty(&self.cfg, qty).and_then(|()| validate_price(&self.cfg, price))
        {
            out.push(reject(r));
            return;
        }
        let o = self.orders[i];
        if o.post_only
            && self
                .best_of(o.side.opposite())
                .is_some_and(|b| Self::crosses(o.side, Some(price), self.orders[b].price))
        {
            out.push(reject(RejectReason::PostOnlyWouldCross));
            return;
        }
        out.push(Event::Modified {
            id,
            side: o.side,
            price,
            qty,
        });
        if self.cfg.modify_priority == ModifyPriority::KeepOnDecrease
            && price == o.price
            && qty <= o.qty
        {
            self.orders[i].qty = qty;
            return;
        }
        self.orders.remove(i);
        let mut t = Taker {
            id,
            side: o.side,
            limit: Some(price),
            qty,
            rem: qty,
            owner: o.owner,
            stp: o.stp,
            disposed: 0,
        };
        self.run_match(&mut t, out);
        if t.rem > 0 {
            self.rest(OrderInfo {
                price,
                qty: t.rem,
                ..o
            });
        }
    }

    fn advance_time(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        if now <= self.now {
            return;
        }
        self.now = now;
        self.expire(
            out,
            |o, now| matches!(o.tif, TimeInForce::Gtd(t) if t <= now),
        );
    }

    fn expire(&mut self, out: &mut Vec<Event>, due: impl Fn(&OrderInfo, Timestamp) -> bool) {
        let mut gone: Vec<OrderInfo> = self
            .orders
            .iter()
            .filter(|o| due(o, self.now))
            .copied()
            .collect();
        gone.sort_by_key(|o| {
            let t = match o.tif {
                TimeInForce::Gtd(t) => t,
                _ => 0,
            };
            (t, o.priority)
        });
        for o in gone {
            self.orders.retain(|x| x.id != o.id);
            out.push(Event::Cancelled {
                id: o.id,
                side: o.side,
                price: Some(o.price),
                qty: o.qty,
                reason: CancelReason::Expired,
            });
        }
    }

    /// Resting orders of `side`, best price first, then by priority.
    #[must_use]
    pub fn orders(&self, side: Side) -> Vec<OrderInfo> {
        let mut v: Vec<OrderInfo> = self
            .orders
            .iter()
            .filter(|o| o.side == side)
            .copied()
            .collect();
        v.sort_by(|a, b| {
            if a.price == b.price {
                a.priority.cmp(&b.priority)
            } else if better(side, a.price, b.price) {
                core::cmp::Ordering::Less
            } else {
                core::cmp::Ordering::Greater
            }
        });
        v
    }

    /// Levels of `side`, best first.
    #[must_use]
    pub fn levels(&self, side: Side) -> Vec<LevelInfo> {
        let mut out: Vec<LevelInfo> = Vec::new();
        for o in self.orders(side) {
            match out.last_mut() {
                Some(l) if l.price == o.price => {
                    l.qty += o.qty;
                    l.orders += 1;
                }
                _ => out.push(LevelInfo {
                    price: o.price,
                    qty: o.qty,
                    orders: 1,
                }),
            }
        }
        out
    }

    /// Number of resting orders.
    #[must_use]
    pub fn len(&self) -> usize {
        self.orders.len()
    }

    /// Whether no order rests.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }

    /// The same canonical hash as [`Book::state_hash`](super::Book::state_hash).
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
}
