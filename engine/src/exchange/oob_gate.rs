//! The exchange's reception seam backed by out-of-band verification
//! ([`crate::oob`], DESIGN.md 1.6).
//!
//! An [`OobGate`] is installed with [`super::Exchange::set_reception_hook`].
//! At reception (after every check and reservation) an order from an
//! investor bound to an oob contractor session ([`OobGate::bind`]) is
//! submitted to the [`OobService`] with its amount = worst price per share
//! (ticks) x quantity, the unit the oob transaction summary shows. Below the
//! contractor's threshold the order goes to the book at once; at or above
//! it the order is held (received, reception number given, certificates
//! and cash still reserved, not in the book) while a code goes to the
//! contractor's devices through the host's delivery channel. The service's
//! [`Forward`] calls land in a [`GateHost`] queue; the exchange carries them
//! out in [`super::Exchange::poll_held`] (which the host calls after an
//! answer) and in [`super::Exchange::advance_time`] (which also sweeps the
//! service, so unanswered requests expire): confirmed -> the held order
//! enters the book with its reception number; cancelled, duress, locked
//! out, expired, disabled -> voided, reservations released. Investors not
//! bound, and oob errors other than "hold" (contractor disabled, above the
//! maximum, too many pending) refuse the order with
//! [`super::Refusal::OutOfBand`].

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use rand_core::CryptoRngCore;

use super::{Admission, HeldDecision, OrderRequest, OrderState, ReceptionHook};
use crate::crypto::{Signed, UserId};
use crate::oob::{
    Disposition, Forward, OobService, PendingRequest, ReleaseReason, RequestRef, SessionToken,
    Transaction,
};
use crate::types::{Ticks, Timestamp};

/// What the service decided about a held request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Forward,
    Release(ReleaseReason),
}

/// The [`Forward`] side the service calls: records its decisions for the
/// exchange (the service calls it outside its locks, possibly from inside
/// [`OobService::answer`] or [`OobService::sweep`]).
#[derive(Debug, Default)]
pub struct GateHost {
    decided: Mutex<Vec<(RequestRef, Outcome)>>,
}

impl GateHost {
    /// A new, empty host; give it to the service as `Hooks::forward`.
    #[must_use]
    pub fn new() -> Arc<GateHost> {
        Arc::new(GateHost::default())
    }
}

impl Forward for GateHost {
    fn hold(&self, _request: &PendingRequest) {
        // The exchange already holds the reservations made at reception.
    }
    fn forward(&self, request: &PendingRequest) {
        self.decided
            .lock()
            .push((request.request_ref, Outcome::Forward));
    }
    fn release(&self, request: &PendingRequest, reason: ReleaseReason) {
        self.decided
            .lock()
            .push((request.request_ref, Outcome::Release(reason)));
    }
}

/// The reception seam backed by an [`OobService`].
pub struct OobGate {
    oob: Arc<OobService>,
    host: Arc<GateHost>,
    sessions: HashMap<UserId, SessionToken>,
    pending: HashMap<RequestRef, (u64, Transaction)>,
    rng: Box<dyn CryptoRngCore + Send>,
}

impl core::fmt::Debug for OobGate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OobGate")
            .field("bound", &self.sessions.len())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl OobGate {
    /// A gate over `oob`, whose `Hooks::forward` must be `host`; `rng` draws
    /// the codes.
    #[must_use]
    pub fn new(
        oob: Arc<OobService>,
        host: Arc<GateHost>,
        rng: Box<dyn CryptoRngCore + Send>,
    ) -> OobGate {
        OobGate {
            oob,
            host,
            sessions: HashMap::new(),
            pending: HashMap::new(),
            rng,
        }
    }

    /// Binds an investor to a logged-in contractor session: its orders go
    /// through the service from now on.
    pub fn bind(&mut self, investor: UserId, session: SessionToken) {
        self.sessions.insert(investor, session);
    }

    /// Requests held and not yet decided.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

impl ReceptionHook for OobGate {
    fn admit(&mut self, order: &Signed<OrderRequest>, reception: u64, now: Timestamp) -> bool {
        let worst = order.body.price.unwrap_or(0);
        self.reception(order, reception, worst, now) == Admission::Admit
    }

    fn reception(
        &mut self,
        order: &Signed<OrderRequest>,
        reception_number: u64,
        worst: Ticks,
        now: Timestamp,
    ) -> Admission {
        let b = &order.body;
        let Some(session) = self.sessions.get(&b.user_id) else {
            return Admission::Admit;
        };
        let amount = u64::try_from(worst)
            .ok()
            .and_then(|p| p.checked_mul(b.quantity))
            .unwrap_or(u64::MAX);
        let tx = Transaction {
            instrument: b.instrument,
            side: b.side,
            quantity: b.quantity,
            limit: b.price,
            amount,
        };
        match self.oob.submit(session, &tx, now, &mut *self.rng) {
            Ok(s) if s.disposition == Disposition::ForwardNow => Admission::Admit,
            Ok(s) => {
                self.pending
                    .insert(s.request.request_ref, (reception_number, tx));
                Admission::Hold
            }
            Err(_) => Admission::Refuse,
        }
    }

    fn decisions(&mut self, now: Timestamp) -> Vec<HeldDecision> {
        self.oob.sweep(now);
        let decided = std::mem::take(&mut *self.host.decided.lock());
        let mut out = Vec::with_capacity(decided.len());
        for (r, outcome) in decided {
            let Some((reception, _)) = self.pending.remove(&r) else {
                continue;
            };
            out.push(match outcome {
                Outcome::Forward => HeldDecision::Release(reception),
                Outcome::Release(ReleaseReason::Expired) => {
                    HeldDecision::Void(reception, OrderState::Expired)
                }
                Outcome::Release(_) => HeldDecision::Void(reception, OrderState::Cancelled),
            });
        }
        out
    }
}
