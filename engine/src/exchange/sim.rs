//! A whole market in one process, for `kabuken simulate`, the end-to-end
//! tests and the benchmarks: a CA, a register, an exchange, the settlement
//! ledger and many investors (keys, attestations, certificates, cash), and
//! a seeded generator of signed requests, honest and malicious.
//!
//! Deterministic: keys come from seeded bytes, randomness from a seeded
//! [`SplitMix64`], and time is a counter passed to every call; nothing reads
//! a clock. The investors behave as clients would: they keep the
//! certificates they hold (issued, claimed by transfer number after a
//! trade, handed back when a sell order ends, reissued, received by direct
//! transfer) and sell only from that wallet, except when they misbehave on
//! purpose.
//!
//! With [`World::enable_oob`] some investors are out-of-band contractors
//! ([`crate::oob`], through [`super::oob_gate::OobGate`]): their large
//! orders are held until the simulated holder, who reads the codes off a
//! simulated device, confirms, cancels, answers under duress, answers
//! wrongly until locked out (the operator re-enables the contractor a
//! while later), or lets the request expire.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use rust_decimal::Decimal;

use super::{
    CancelRequest, Exchange, ExchangeConfig, InstrumentSpec, ModifyRequest, OrderRequest,
    OrderState, Outgoing, ReduceRequest, Refusal,
};
use crate::book::TimeInForce;
use crate::certs::{endorse, CertIdKey, Certificate, ShareClass, TransferRestriction};
use crate::crypto::{KeyPair, Message, Signed, UserId, Validity};
use crate::identity::{CertificateAuthority, IdentityStore, Policy, Role};
use crate::oob::{
    Argon2Params, ConfirmationInfo, ContractorId, ContractorSpec, DeliveryChannel, DeliveryFailed,
    DeliveryMode, Device, DeviceKind, DuressAlarm, DuressReport, Hooks, MethodTable, Notice,
    OobConfig, OobService, OobStats, Proof, Purpose,
};
use crate::register::{
    CertificateRequest, DirectTransferRequest, HoldingsInquiry, InstrumentConfig, IssueRequest,
    Register, RegisterConfig, ReissueKind, ReissueRequest,
};
use crate::replay::synth::SplitMix64;
use crate::settle::Ledger;
use crate::types::{InstrumentId, PriceScale, Qty, Side, Ticks, Timestamp};

/// The CA's user id.
pub const CA: UserId = 1;
/// The register's user id.
pub const REGISTER: UserId = 2;
/// The exchange's user id.
pub const EXCHANGE: UserId = 3;
/// The settlement service's user id.
pub const SETTLEMENT: UserId = 4;
/// The first investor's user id.
pub const FIRST_INVESTOR: UserId = 1000;
/// Shares issued to each investor per instrument.
pub const INITIAL_SHARES: Qty = 10_000;
/// Most shares in one order (attestation policy).
pub const PER_ORDER_MAX: Qty = 5_000;
/// Lot size of every simulated instrument.
pub const LOT: Qty = 10;
/// Reference price (ticks of 0.01) of every simulated instrument.
pub const MID: Ticks = 10_000;
/// Half-width of the daily band (ticks).
pub const BAND: Ticks = 1_000;

/// Size of a simulated market.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Seed of keys and flow.
    pub seed: u64,
    /// Investors.
    pub investors: u32,
    /// Instruments.
    pub instruments: u32,
    /// Cash deposited per investor (currency units).
    pub cash: u64,
    /// Capacity hint: the number of orders the session will send.
    pub orders_hint: u64,
    /// Investors' attestation usage limit (minor units: cents).
    pub usage_limit: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            investors: 50,
            instruments: 4,
            cash: 10_000_000,
            orders_hint: 20_000,
            usage_limit: 1_000_000_000_000,
        }
    }
}

/// What one generated step was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StepKind {
    /// A new order (honest).
    Order,
    /// A cancel, reduce or modify.
    Amend,
    /// A malicious or invalid order, expected to be refused.
    Attack,
    /// A direct transfer between investors (phase 5).
    DirectTransfer,
    /// A reissue (phase 6).
    Reissue,
    /// End of day: day orders expire.
    EndOfDay,
}

/// Counters of the session (beyond the exchange's own).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Order requests sent (honest and malicious).
    pub orders: u64,
    /// Cancel, reduce and modify requests sent.
    pub amendments: u64,
    /// Malicious requests sent.
    pub attacks: u64,
    /// Malicious requests that were accepted (must stay 0).
    pub attacks_accepted: u64,
    /// Messages signed by the investors.
    pub client_signed: u64,
    /// Certificates claimed by transfer number (phase 4).
    pub claims: u64,
    /// Direct transfers (phase 5).
    pub direct_transfers: u64,
    /// Reissues (phase 6).
    pub reissues: u64,
    /// Requests of the investors refused by the register (must stay 0).
    pub register_errors: u64,
}

struct Investor {
    id: UserId,
    key: KeyPair,
    seq: u64,
    wallet: BTreeMap<InstrumentId, Vec<Signed<Certificate>>>,
    open: Vec<u64>,
    last_order: Option<Signed<OrderRequest>>,
}

/// The whole market.
pub struct World {
    /// The certificate authority.
    pub ca: CertificateAuthority,
    /// The register.
    pub register: Register,
    /// The exchange.
    pub exchange: Exchange,
    /// The settlement ledger.
    pub ledger: Ledger,
    /// The current time (advanced by one per step).
    pub now: Timestamp,
    investors: Vec<Investor>,
    index: HashMap<UserId, usize>,
    instruments: Vec<InstrumentId>,
    rng: SplitMix64,
    seed: u64,
    spent: Vec<Signed<Certificate>>,
    stats: SimStats,
    oob: Option<SimOob>,
}

/// Amount (ticks x shares) from which a contractor's order is held: 200
/// shares at the reference price.
pub const OOB_THRESHOLD: u64 = 200 * MID as u64;
/// Lifetime of a pending request in the simulation (steps: time advances
/// by one per step).
pub const OOB_TTL: Timestamp = 40;
/// Steps a locked-out contractor stays disabled before the operator
/// re-enables it.
pub const OOB_LOCKOUT_STEPS: Timestamp = 300;
const OOB_NORMAL: &str = "4711";
const OOB_DURESS: &str = "1147";

/// The simulated devices and alarm: keep what was sent for the holder.
#[derive(Default)]
struct SimDevices {
    inbox: Mutex<Vec<ConfirmationInfo>>,
    lockout_notices: Mutex<u64>,
    alarms: Mutex<u64>,
}

impl DeliveryChannel for SimDevices {
    fn deliver(&self, _device: &Device, notice: &Notice<'_>) -> Result<(), DeliveryFailed> {
        match notice {
            // Broadcast to two devices: keep one copy.
            Notice::Confirmation(i) => {
                let mut inbox = self.inbox.lock();
                if inbox.last().is_none_or(|l| l.request_ref != i.request_ref) {
                    inbox.push((*i).clone());
                }
            }
            Notice::LockedOut { .. } => *self.lockout_notices.lock() += 1,
        }
        Ok(())
    }
}

impl DuressAlarm for SimDevices {
    fn raise(&self, _report: &DuressReport) {
        *self.alarms.lock() += 1;
    }
}

/// What the simulated holder does with a confirmation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HolderMove {
    Confirm,
    WrongThenConfirm,
    Cancel,
    Duress,
    WrongUntilLockedOut,
    Ignore,
}

/// The first moves, so that every outcome occurs in any session with a
/// few held orders; random moves follow.
const OOB_SCRIPT: [HolderMove; 6] = [
    HolderMove::WrongThenConfirm,
    HolderMove::Cancel,
    HolderMove::Duress,
    HolderMove::WrongUntilLockedOut,
    HolderMove::Ignore,
    HolderMove::Confirm,
];

struct SimOob {
    service: Arc<OobService>,
    devices: Arc<SimDevices>,
    user_codes: HashMap<ContractorId, String>,
    rng: SplitMix64,
    moves: usize,
    locked: Vec<(ContractorId, Timestamp)>,
}

impl core::fmt::Debug for World {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("World")
            .field("investors", &self.investors.len())
            .field("instruments", &self.instruments)
            .field("now", &self.now)
            .finish()
    }
}

fn seeded_key(seed: u64, user: UserId) -> KeyPair {
    let mut r = SplitMix64::new(seed ^ user.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut b = [0u8; 32];
    for c in b.chunks_mut(8) {
        c.copy_from_slice(&r.next().to_le_bytes());
    }
    KeyPair::from_seed(&b)
}

impl World {
    /// Builds the market: parties with attestations, instruments on the
    /// register and the exchange, every investor's certificates and cash.
    ///
    /// # Panics
    /// Never for sizes in range: every setup step is valid by construction
    /// (a failure is a bug and is reported as such).
    #[must_use]
    pub fn new(cfg: SimConfig) -> World {
        World::with_instruments_from(cfg, 100)
    }

    /// As [`World::new`], with instrument ids `first`, `first + 1`, ...
    /// (two worlds with disjoint instruments are two shards of a runtime).
    #[must_use]
    pub fn with_instruments_from(cfg: SimConfig, first: InstrumentId) -> World {
        let mut ca = CertificateAuthority::new(CA, "kabuken CA", seeded_key(cfg.seed, CA));
        let validity = Validity {
            not_before: 0,
            not_after: u64::MAX / 2,
        };
        let investor_policy = Policy {
            usage_limit: cfg.usage_limit,
            per_order_max: PER_ORDER_MAX.max(INITIAL_SHARES),
            short_sale_ban: true,
        };
        let mut reg_ids = IdentityStore::new(CA, "kabuken CA", ca.public_key());
        let mut exch_ids = IdentityStore::new(CA, "kabuken CA", ca.public_key());
        let mut atts = Vec::new();
        for (u, role, name) in [
            (REGISTER, Role::Register, "Kabu Transfer Agent"),
            (EXCHANGE, Role::Exchange, "Kabu Exchange"),
            (SETTLEMENT, Role::Settlement, "Kabu Settlement"),
        ] {
            let k = seeded_key(cfg.seed, u);
            atts.push(
                ca.issue(u, name, &k.public(), validity, role, Policy::UNLIMITED)
                    .expect("party attestation"),
            );
        }
        let mut investors = Vec::new();
        let mut index = HashMap::new();
        for i in 0..cfg.investors {
            let id = FIRST_INVESTOR + u64::from(i);
            let key = seeded_key(cfg.seed, id);
            atts.push(
                ca.issue(
                    id,
                    &format!("Investor {id}"),
                    &key.public(),
                    validity,
                    Role::Investor,
                    investor_policy,
                )
                .expect("investor attestation"),
            );
            index.insert(id, investors.len());
            investors.push(Investor {
                id,
                key,
                seq: 0,
                wallet: BTreeMap::new(),
                open: Vec::new(),
                last_order: None,
            });
        }
        for a in &atts {
            reg_ids.register(a).expect("register knows the party");
            exch_ids.register(a).expect("exchange knows the party");
        }
        let capacity = 64 * u64::from(cfg.investors) * u64::from(cfg.instruments)
            + 8 * cfg.orders_hint
            + (1 << 16);
        let mut register = Register::new(
            RegisterConfig {
                user_id: REGISTER,
                name: "Kabu Transfer Agent".into(),
                address: "https://register.invalid".into(),
                certificate_lifetime: u64::MAX / 4,
                id_capacity: capacity,
            },
            seeded_key(cfg.seed, REGISTER),
            CertIdKey::from_bytes(seeded_key(cfg.seed, 77).public().to_bytes()),
            reg_ids,
        );
        let mut exchange = Exchange::new(
            ExchangeConfig {
                user_id: EXCHANGE,
                register_id: REGISTER,
                minor_unit: Decimal::new(1, 2),
            },
            seeded_key(cfg.seed, EXCHANGE),
            exch_ids,
            register.id_table(),
        );
        let mut ledger = Ledger::new(SETTLEMENT, seeded_key(cfg.seed, SETTLEMENT));
        ledger.trust_exchange(EXCHANGE, exchange.public_key());
        let tick = PriceScale::new(Decimal::new(1, 2)).expect("tick");
        let mut instruments = Vec::new();
        for k in 0..cfg.instruments {
            let inst = first + k;
            register
                .add_instrument(InstrumentConfig {
                    instrument: inst,
                    company_name: format!("Company {inst} KK"),
                    company_founded: 19_500_101,
                    par_value: 50,
                    authorized: u64::MAX / 4,
                    restriction: TransferRestriction::Free,
                    conditions: "ordinary issue".into(),
                })
                .expect("register instrument");
            exchange
                .add_instrument(InstrumentSpec {
                    instrument: inst,
                    tick,
                    lot_size: LOT,
                    band_low: MID - BAND,
                    band_high: MID + BAND,
                    max_qty: 1_000_000,
                })
                .expect("exchange instrument");
            instruments.push(inst);
        }
        let mut w = World {
            ca,
            register,
            exchange,
            ledger,
            now: 1,
            investors,
            index,
            instruments,
            rng: SplitMix64::new(cfg.seed ^ 0x5151_5151),
            seed: cfg.seed,
            spent: Vec::new(),
            stats: SimStats::default(),
            oob: None,
        };
        for i in 0..w.investors.len() {
            let id = w.investors[i].id;
            let pk = w.investors[i].key.public();
            w.ledger.register_investor(id, pk);
            w.ledger.open_account(id, id).expect("account");
            w.ledger
                .deposit(id, Decimal::from(cfg.cash))
                .expect("deposit");
            for inst in w.instruments.clone() {
                assert!(w.issue_to(i, inst, INITIAL_SHARES), "issue");
            }
        }
        w
    }

    /// Issues `quantity` new shares of `inst` to investor `i` (phase 1),
    /// into its wallet; false when the register refuses.
    fn issue_to(&mut self, i: usize, inst: InstrumentId, quantity: Qty) -> bool {
        let id = self.investors[i].id;
        let req = self.sign(
            i,
            IssueRequest {
                user_id: id,
                name_address: format!("Investor {id}, Tokyo"),
                instrument: inst,
                class: ShareClass::Common,
                quantity,
                dividend_account: format!("acct-{id}"),
                seq: 0,
            },
        );
        match self.register.issue(&req, self.now) {
            Ok(cert) => {
                self.investors[i].wallet.entry(inst).or_default().push(cert);
                true
            }
            Err(_) => false,
        }
    }

    /// Signs a request as investor `i`, with its next sequence number
    /// (written into the body by `set_seq`).
    fn sign<T: Message + SetSeq>(&mut self, i: usize, mut body: T) -> Signed<T> {
        let inv = &mut self.investors[i];
        inv.seq += 1;
        body.set_seq(inv.seq);
        self.stats.client_signed += 1;
        Signed::sign(body, inv.id, &inv.key)
    }

    /// Signs a request as investor `user` with its next sequence number.
    ///
    /// # Panics
    /// If `user` is not an investor of this world (a test bug).
    pub fn sign_as<T: Message + SetSeq>(&mut self, user: UserId, body: T) -> Signed<T> {
        let i = self.index[&user];
        self.sign(i, body)
    }

    /// The seeded key of any party of this world (the exchange's, the
    /// register's, ...): for benchmarks and tests that act as that party.
    #[must_use]
    pub fn party_key(&self, user: UserId) -> KeyPair {
        seeded_key(self.seed, user)
    }

    /// Investor `user`'s key (tests forge and replay with it).
    #[must_use]
    pub fn key(&self, user: UserId) -> Option<&KeyPair> {
        self.index.get(&user).map(|&i| &self.investors[i].key)
    }

    /// Takes every certificate investor `user` holds of `inst` out of its
    /// wallet.
    pub fn take_wallet(&mut self, user: UserId, inst: InstrumentId) -> Vec<Signed<Certificate>> {
        self.index
            .get(&user)
            .and_then(|&i| self.investors[i].wallet.remove(&inst))
            .unwrap_or_default()
    }

    /// Session counters.
    #[must_use]
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// The investors' user ids.
    pub fn investor_ids(&self) -> impl Iterator<Item = UserId> + '_ {
        self.investors.iter().map(|i| i.id)
    }

    /// Listed instruments.
    #[must_use]
    pub fn instruments(&self) -> &[InstrumentId] {
        &self.instruments
    }

    /// The certificates investor `user` holds (not committed to an order).
    #[must_use]
    pub fn wallet(&self, user: UserId, inst: InstrumentId) -> Vec<Signed<Certificate>> {
        self.index
            .get(&user)
            .and_then(|&i| self.investors[i].wallet.get(&inst).cloned())
            .unwrap_or_default()
    }

    /// BLAKE3 over every book's state hash, the match list length and the
    /// ledger totals: equal for equal seeds and sizes.
    #[must_use]
    pub fn state_hash(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        for inst in &self.instruments {
            if let Some(b) = self.exchange.book(*inst) {
                h.update(&b.state_hash());
            }
        }
        h.update(&(self.exchange.matches().len() as u64).to_le_bytes());
        let t = self.ledger.totals();
        h.update(t.settled.to_string().as_bytes());
        h.update(t.released.to_string().as_bytes());
        *h.finalize().as_bytes()
    }

    /// Checks every invariant of DESIGN.md section 3, plus the session's
    /// own: no malicious request accepted, no honest request refused by the
    /// register.
    pub fn check_invariants(&self) -> Result<(), Vec<String>> {
        let mut errs = match self.exchange.check_invariants(&self.register, &self.ledger) {
            Ok(()) => Vec::new(),
            Err(e) => e,
        };
        if self.stats.attacks_accepted > 0 {
            errs.push(format!(
                "{} malicious requests were accepted",
                self.stats.attacks_accepted
            ));
        }
        if self.stats.register_errors > 0 {
            errs.push(format!(
                "{} honest register requests refused",
                self.stats.register_errors
            ));
        }
        // Every investor's wallet holds live certificates of its own.
        let ids = self.register.id_table();
        for inv in &self.investors {
            for certs in inv.wallet.values() {
                for c in certs {
                    if ids.state(c.body.id.serial) != crate::certs::IdState::Live
                        || c.body.holder != inv.id
                    {
                        errs.push(format!("wallet of {}: {:?} not live", inv.id, c.body.id));
                    }
                }
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }

    /// Runs one generated step (one request, or end of day) and delivers
    /// what came out.
    pub fn step(&mut self) -> StepKind {
        self.now += 1;
        let roll = self.rng.below(1000);
        let i = self.rng.below(self.investors.len() as u64) as usize;
        let kind = if self.now % 5_000 == 0 {
            let (reg, cash) = (&mut self.register, &mut self.ledger);
            self.exchange.expire_day(self.now, reg, cash);
            StepKind::EndOfDay
        } else if roll < 700 {
            self.honest_order(i);
            StepKind::Order
        } else if roll < 900 {
            self.amend(i);
            StepKind::Amend
        } else if roll < 960 {
            self.attack(i);
            StepKind::Attack
        } else if roll < 970 {
            self.direct_transfer(i);
            StepKind::DirectTransfer
        } else {
            self.reissue(i);
            StepKind::Reissue
        };
        self.oob_round();
        self.deliver();
        kind
    }

    /// Makes every `every`-th investor (from the first) an out-of-band
    /// contractor with a pager and an SMS phone, logged in once, and
    /// installs the [`super::oob_gate::OobGate`] on the exchange. Cheap
    /// argon2id parameters ([`Argon2Params::INSECURE_FAST`]): simulation
    /// only. Returns the number of contractors.
    ///
    /// # Panics
    /// Never: every setup step is valid by construction.
    pub fn enable_oob(&mut self, every: usize) -> usize {
        use super::oob_gate::{GateHost, OobGate};
        let devices = Arc::new(SimDevices::default());
        let host = GateHost::new();
        let mut cfg = OobConfig::new(seeded_key(self.seed, 88).public().to_bytes());
        cfg.argon2 = Argon2Params::INSECURE_FAST;
        cfg.request_ttl = OOB_TTL;
        cfg.max_wrong_answers = 3;
        let service = Arc::new(
            OobService::new(
                cfg,
                Hooks {
                    forward: host.clone(),
                    channel: devices.clone(),
                    alarm: devices.clone(),
                    biometric: None,
                },
            )
            .expect("oob config"),
        );
        let mut rng = ChaCha20Rng::seed_from_u64(self.seed ^ 0x00b0_00b0);
        let mut gate = OobGate::new(
            service.clone(),
            host,
            Box::new(ChaCha20Rng::seed_from_u64(self.seed ^ 0x0c0d_e5e5)),
        );
        let mut user_codes = HashMap::new();
        for inv in self.investors.iter().step_by(every.max(1)) {
            let code = format!("inv{}", inv.id);
            let device = |kind, address: String| Device {
                address,
                kind,
                seal_key: None,
            };
            let spec = ContractorSpec {
                user_code: code.clone(),
                pin: format!("{:04}", inv.id % 10_000),
                devices: vec![
                    device(DeviceKind::Pager, format!("pager-{}", inv.id)),
                    device(DeviceKind::Sms, format!("+81-90-{:08}", inv.id)),
                ],
                second_codes: vec![
                    (OOB_NORMAL.into(), Purpose::Normal),
                    (OOB_DURESS.into(), Purpose::Duress),
                ],
                threshold: OOB_THRESHOLD,
                max_amount: u64::MAX / 4,
                methods: MethodTable::code_only(),
                rolling_window: None,
                delivery: DeliveryMode::Broadcast,
                disabled: false,
            };
            let cid = service
                .register_contractor(&spec, self.now, &mut rng)
                .expect("contractor");
            let session = service
                .login(&code, &spec.pin, self.now, &mut rng)
                .expect("login");
            gate.bind(inv.id, session);
            user_codes.insert(cid, code);
        }
        let n = user_codes.len();
        self.exchange.set_reception_hook(Box::new(gate));
        self.oob = Some(SimOob {
            service,
            devices,
            user_codes,
            rng: SplitMix64::new(self.seed ^ 0x0b0b_0b0b),
            moves: 0,
            locked: Vec::new(),
        });
        n
    }

    /// The out-of-band outcomes so far (`None` without [`Self::enable_oob`]).
    #[must_use]
    pub fn oob_stats(&self) -> Option<OobStats> {
        self.oob.as_ref().map(|o| o.service.stats())
    }

    /// Duress alarms raised and lockout notices sent so far.
    #[must_use]
    pub fn oob_alarms(&self) -> Option<(u64, u64)> {
        self.oob
            .as_ref()
            .map(|o| (*o.devices.alarms.lock(), *o.devices.lockout_notices.lock()))
    }

    /// The holders answer what reached their devices; the operator
    /// re-enables contractors locked out long enough; the exchange carries
    /// out the decisions (and expires requests past their lifetime).
    fn oob_round(&mut self) {
        let now = self.now;
        let Some(o) = self.oob.as_mut() else {
            return;
        };
        let inbox = std::mem::take(&mut *o.devices.inbox.lock());
        for info in inbox {
            let mv = match OOB_SCRIPT.get(o.moves) {
                Some(m) => *m,
                None => match o.rng.below(100) {
                    0..=59 => HolderMove::Confirm,
                    60..=69 => HolderMove::WrongThenConfirm,
                    70..=79 => HolderMove::Cancel,
                    80..=84 => HolderMove::Duress,
                    85..=86 => HolderMove::WrongUntilLockedOut,
                    _ => HolderMove::Ignore,
                },
            };
            o.moves += 1;
            let Some(user_code) = o.user_codes.get(&info.contractor) else {
                continue;
            };
            // A wrong code: the right one with its first digit changed.
            let mut wrong = info.code.clone().into_bytes();
            wrong[0] = b'0' + (wrong[0] - b'0' + 1) % 10;
            let wrong = String::from_utf8(wrong).unwrap_or_default();
            let answer = |code: &str, second: &str| {
                let a = crate::oob::Answer {
                    user_code,
                    request_ref: info.request_ref,
                    code,
                    second_code: second,
                    tx_digest: info.tx_digest,
                    line: info.line,
                    proof: Proof::None,
                };
                let _ = o.service.answer(&a, now);
            };
            match mv {
                HolderMove::Confirm => answer(&info.code, OOB_NORMAL),
                HolderMove::WrongThenConfirm => {
                    answer(&wrong, OOB_NORMAL);
                    answer(&info.code, OOB_NORMAL);
                }
                HolderMove::Cancel => answer(&info.cancel_code, OOB_NORMAL),
                HolderMove::Duress => answer(&info.code, OOB_DURESS),
                HolderMove::WrongUntilLockedOut => {
                    let limit = o.service.config().max_wrong_answers;
                    for _ in 0..limit {
                        answer(&wrong, OOB_NORMAL);
                    }
                    o.locked.push((info.contractor, now + OOB_LOCKOUT_STEPS));
                }
                HolderMove::Ignore => {}
            }
        }
        let service = &o.service;
        o.locked.retain(|&(cid, until)| {
            if now < until {
                return true;
            }
            let _ = service.enable_contractor(cid, now);
            false
        });
        let (reg, cash) = (&mut self.register, &mut self.ledger);
        self.exchange.poll_held(now, reg, cash);
    }

    fn pick_instrument(&mut self) -> InstrumentId {
        self.instruments[self.rng.below(self.instruments.len() as u64) as usize]
    }

    fn base_order(&self, i: usize, inst: InstrumentId, side: Side, qty: Qty) -> OrderRequest {
        let id = self.investors[i].id;
        OrderRequest {
            user_id: id,
            instrument: inst,
            class: 0,
            side,
            price: None,
            quantity: qty,
            tif: TimeInForce::Gtc,
            post_only: false,
            certificates: Vec::new(),
            name_address: format!("Investor {id}, Tokyo"),
            account: id,
            cash_cap: None,
            seq: 0,
        }
    }

    /// Takes certificates from the wallet covering `qty` (fewest first).
    fn take_certificates(
        &mut self,
        i: usize,
        inst: InstrumentId,
        qty: Qty,
    ) -> Option<Vec<Signed<Certificate>>> {
        let w = self.investors[i].wallet.get_mut(&inst)?;
        let total: u128 = w.iter().map(|c| u128::from(c.body.shares)).sum();
        if total < u128::from(qty) {
            return None;
        }
        let mut got = Vec::new();
        let mut have = 0;
        while have < qty {
            let c = w.pop()?;
            have += c.body.shares;
            got.push(c);
        }
        Some(got)
    }

    fn give_back(&mut self, i: usize, inst: InstrumentId, certs: Vec<Signed<Certificate>>) {
        self.investors[i]
            .wallet
            .entry(inst)
            .or_default()
            .extend(certs);
    }

    fn send(&mut self, i: usize, req: &Signed<OrderRequest>) -> bool {
        self.stats.orders += 1;
        let (reg, cash) = (&mut self.register, &mut self.ledger);
        match self.exchange.submit(req, self.now, reg, cash) {
            Ok(r) => {
                if self.investors[i].open.len() >= 64 {
                    let ex = &self.exchange;
                    self.investors[i]
                        .open
                        .retain(|r| ex.order(*r).is_some_and(|o| o.state == OrderState::Open));
                }
                self.investors[i].open.push(r.body.reception_number);
                self.investors[i].last_order = Some(req.clone());
                true
            }
            Err(_) => false,
        }
    }

    fn honest_order(&mut self, i: usize) {
        let inst = self.pick_instrument();
        let r = self.rng.below(100);
        let side = if self.rng.chance(50) {
            Side::Buy
        } else {
            Side::Sell
        };
        let qty = LOT * (1 + self.rng.below(40));
        let offset = self.rng.below(41) as Ticks - 20;
        let mut o = self.base_order(i, inst, side, qty);
        let (price, tif, post_only) = match r {
            0..=4 => (None, TimeInForce::Ioc, false),
            5..=6 => (None, TimeInForce::Fok, false),
            7..=11 => (Some(MID + offset), TimeInForce::Ioc, false),
            12..=14 => (Some(MID + offset), TimeInForce::Fok, false),
            15..=19 => (Some(MID + offset), TimeInForce::Day, false),
            20..=24 => (
                Some(MID + offset),
                TimeInForce::Gtd(self.now + 1 + self.rng.below(500)),
                false,
            ),
            25..=27 => (
                Some(match side {
                    Side::Buy => MID - 25 - (offset.abs()),
                    Side::Sell => MID + 25 + (offset.abs()),
                }),
                TimeInForce::Gtc,
                true,
            ),
            _ => (Some(MID + offset), TimeInForce::Gtc, false),
        };
        o.price = price;
        o.tif = tif;
        o.post_only = post_only;
        if price.is_none() && side == Side::Buy && self.rng.chance(50) {
            // A cap that covers the worst case (the top of the band).
            o.cash_cap = Some(Decimal::new((MID + BAND) * qty as i64, 2));
        }
        if side == Side::Sell {
            match self.take_certificates(i, inst, qty) {
                Some(c) => o.certificates = c,
                None => {
                    o.side = Side::Buy;
                    o.cash_cap = None;
                }
            }
        }
        let certs = o.certificates.clone();
        let req = self.sign(i, o);
        if !self.send(i, &req) && !certs.is_empty() {
            // Refused (e.g. post-only would cross): the certificates stay ours.
            self.give_back(i, inst, certs);
        }
    }

    fn amend(&mut self, i: usize) {
        // Forget orders that ended.
        let ex = &self.exchange;
        self.investors[i]
            .open
            .retain(|r| ex.order(*r).is_some_and(|o| o.state == OrderState::Open));
        let open = &self.investors[i].open;
        if open.is_empty() {
            self.honest_order(i);
            return;
        }
        let id = self.investors[i].id;
        let r = open[self.rng.below(open.len() as u64) as usize];
        let Some(rec) = self.exchange.order(r).cloned() else {
            return;
        };
        self.stats.amendments += 1;
        match self.rng.below(3) {
            0 => {
                let req = self.sign(
                    i,
                    CancelRequest {
                        user_id: id,
                        reception_number: r,
                        seq: 0,
                    },
                );
                let _ = self
                    .exchange
                    .cancel(&req, self.now, &mut self.register, &mut self.ledger);
            }
            1 => {
                let by = LOT * (1 + self.rng.below(5));
                let req = self.sign(
                    i,
                    ReduceRequest {
                        user_id: id,
                        reception_number: r,
                        by,
                        seq: 0,
                    },
                );
                let _ = self
                    .exchange
                    .reduce(&req, self.now, &mut self.register, &mut self.ledger);
            }
            _ => {
                let price = rec.price.unwrap_or(MID) + self.rng.below(11) as Ticks - 5;
                let quantity = if rec.side == Side::Buy && self.rng.chance(50) {
                    rec.open + LOT * (1 + self.rng.below(5))
                } else {
                    rec.open.max(LOT)
                };
                let req = self.sign(
                    i,
                    ModifyRequest {
                        user_id: id,
                        reception_number: r,
                        price,
                        quantity,
                        seq: 0,
                    },
                );
                let _ = self
                    .exchange
                    .modify(&req, self.now, &mut self.register, &mut self.ledger);
            }
        }
    }

    /// A malicious or invalid request; it must be refused.
    fn attack(&mut self, i: usize) {
        self.stats.attacks += 1;
        let inst = self.pick_instrument();
        let accepted = match self.rng.below(5) {
            0 => {
                // A copied certificate in two sell orders: the first is
                // honest, the copy must be refused.
                let Some(certs) = self.take_certificates(i, inst, LOT) else {
                    return self.replay(i);
                };
                let mut o = self.base_order(i, inst, Side::Sell, LOT);
                o.price = Some(MID + 30);
                o.certificates = certs.clone();
                let first = self.sign(i, o.clone());
                if !self.send(i, &first) {
                    self.give_back(i, inst, certs);
                    return;
                }
                let copy = self.sign(i, o);
                self.send(i, &copy)
            }
            1 => return self.replay(i),
            2 => {
                // Over the attestation's per-order maximum.
                let mut o =
                    self.base_order(i, inst, Side::Buy, PER_ORDER_MAX.max(INITIAL_SHARES) + LOT);
                o.price = Some(MID - 100);
                let req = self.sign(i, o);
                self.send(i, &req)
            }
            3 => {
                // A forged signature.
                let mut o = self.base_order(i, inst, Side::Buy, LOT);
                o.price = Some(MID - 100);
                let mut req = self.sign(i, o);
                if let crate::crypto::MessageSignature::Single(s) = &mut req.signature {
                    s.0[7] ^= 0x20;
                }
                self.send(i, &req)
            }
            _ => {
                // A certificate already spent (sold or reissued), offered again.
                let Some(c) = self.spent.pop() else {
                    return self.replay(i);
                };
                let seller = self.index.get(&c.body.holder).copied().unwrap_or(i);
                let mut o = self.base_order(seller, c.body.instrument, Side::Sell, LOT);
                o.price = Some(MID + 30);
                o.certificates = vec![c];
                let req = self.sign(seller, o);
                self.send(seller, &req)
            }
        };
        if accepted {
            self.stats.attacks_accepted += 1;
        }
    }

    fn replay(&mut self, i: usize) {
        let Some(req) = self.investors[i].last_order.clone() else {
            return;
        };
        if self.send(i, &req) {
            self.stats.attacks_accepted += 1;
        }
    }

    /// Phase 5: endorse one certificate to another investor, who asks the
    /// register for the transfer and claims the new certificate.
    fn direct_transfer(&mut self, i: usize) {
        let inst = self.pick_instrument();
        let j = self.rng.below(self.investors.len() as u64) as usize;
        if i == j {
            return;
        }
        let Some(c) = self.investors[i].wallet.get_mut(&inst).and_then(Vec::pop) else {
            return;
        };
        let to = self.investors[j].id;
        let nonce = self.now;
        let e = endorse(&c, to, nonce, &self.investors[i].key);
        self.stats.client_signed += 1;
        let req = self.sign(
            j,
            DirectTransferRequest {
                user_id: to,
                name_address: format!("Investor {to}, Osaka"),
                certificate: c.clone(),
                endorsement: e,
                seq: 0,
            },
        );
        match self.register.direct_transfer(&req, self.now) {
            Ok(resp) => {
                self.stats.direct_transfers += 1;
                if self.spent.len() < 64 {
                    self.spent.push(c);
                }
                self.claim(j, resp.body.transfer_number);
            }
            Err(_) => {
                self.stats.register_errors += 1;
                self.give_back(i, inst, vec![c]);
            }
        }
    }

    /// Phase 6: merge a fragmented holding (buyers receive one certificate
    /// per match), or else split a certificate in two.
    fn reissue(&mut self, i: usize) {
        let fragmented = self.investors[i]
            .wallet
            .iter()
            .max_by_key(|(_, w)| w.len())
            .filter(|(_, w)| w.len() >= 4)
            .map(|(inst, _)| *inst);
        if let Some(inst) = fragmented {
            return self.merge(i, inst);
        }
        let inst = self.pick_instrument();
        let Some(pos) = self.investors[i]
            .wallet
            .get(&inst)
            .and_then(|w| w.iter().position(|c| c.body.shares >= 2 * LOT))
        else {
            return;
        };
        let c = self.investors[i]
            .wallet
            .get_mut(&inst)
            .map(|w| w.swap_remove(pos));
        let Some(c) = c else { return };
        let half = (c.body.shares / 2 / LOT) * LOT;
        let req = self.sign(
            i,
            ReissueRequest {
                user_id: self.investors[i].id,
                instrument: inst,
                kind: ReissueKind::Split(c.body.id, vec![half, c.body.shares - half]),
                seq: 0,
            },
        );
        match self.register.reissue(&req, self.now) {
            Ok(resp) => {
                self.stats.reissues += 1;
                if self.spent.len() < 64 {
                    self.spent.push(c);
                }
                self.give_back(i, inst, resp.body.certificates);
            }
            Err(_) => {
                self.stats.register_errors += 1;
                self.give_back(i, inst, vec![c]);
            }
        }
    }

    fn merge(&mut self, i: usize, inst: InstrumentId) {
        let Some(w) = self.investors[i].wallet.get_mut(&inst) else {
            return;
        };
        let n = w.len().min(64);
        let certs: Vec<Signed<Certificate>> = w.drain(..n).collect();
        let req = self.sign(
            i,
            ReissueRequest {
                user_id: self.investors[i].id,
                instrument: inst,
                kind: ReissueKind::Merge(certs.iter().map(|c| c.body.id).collect()),
                seq: 0,
            },
        );
        match self.register.reissue(&req, self.now) {
            Ok(resp) => {
                self.stats.reissues += 1;
                if self.spent.len() < 64 {
                    self.spent.extend(certs.into_iter().take(2));
                }
                self.give_back(i, inst, resp.body.certificates);
            }
            Err(_) => {
                self.stats.register_errors += 1;
                self.give_back(i, inst, certs);
            }
        }
    }

    /// Phase 4: claim a certificate by transfer number.
    fn claim(&mut self, i: usize, transfer_number: u64) {
        let id = self.investors[i].id;
        let req = self.sign(
            i,
            CertificateRequest {
                user_id: id,
                transfer_number,
                dividend_account: format!("acct-{id}"),
                seq: 0,
            },
        );
        match self.register.claim_certificate(&req, self.now) {
            Ok(c) => {
                self.stats.claims += 1;
                let inst = c.body.instrument;
                self.give_back(i, inst, vec![c]);
            }
            Err(_) => self.stats.register_errors += 1,
        }
    }

    /// Delivers the exchange's outbox: buyers claim their certificates,
    /// sellers get back what their ended orders did not sell.
    pub fn deliver(&mut self) {
        for m in self.exchange.drain_outbox() {
            match m {
                Outgoing::Completion(n) => {
                    let n = n.body;
                    if n.side == Side::Buy {
                        if let Some(&i) = self.index.get(&n.party) {
                            self.claim(i, n.transfer_number);
                        }
                    }
                }
                Outgoing::Released {
                    user, certificates, ..
                } => {
                    if let Some(&i) = self.index.get(&user) {
                        for c in certificates {
                            let inst = c.body.instrument;
                            self.give_back(i, inst, vec![c]);
                        }
                    }
                }
                Outgoing::Error(_) | Outgoing::Transfer { .. } | Outgoing::Settlement(_) => {}
            }
        }
        // Remember a few sold certificates for the "spent" attack.
        if self.spent.len() < 64 {
            if let Some(m) = self.exchange.matches().last() {
                if let Some(c) = self.register.certificate(&m.cert_id) {
                    self.spent.push(c.clone());
                }
            }
        }
    }

    /// Refusals by reason name.
    #[must_use]
    pub fn refusals(&self) -> BTreeMap<&'static str, u64> {
        self.exchange
            .stats()
            .refusals
            .iter()
            .map(|(r, n): (&Refusal, &u64)| (r.as_str(), *n))
            .collect()
    }
}

/// An investor's own side (key, sequence number, wallet), for flows built
/// outside the [`World`] loop, such as the runtime's pre-signed order flow.
#[derive(Debug)]
pub struct Client {
    /// User id.
    pub id: UserId,
    key: KeyPair,
    seq: u64,
    /// Certificates held, per instrument.
    pub wallet: BTreeMap<InstrumentId, Vec<Signed<Certificate>>>,
}

impl Client {
    /// The next sequence number (for a request a trusted gateway passes on
    /// unsigned).
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Signs `body` with the next sequence number.
    pub fn sign<T: Message + SetSeq>(&mut self, mut body: T) -> Signed<T> {
        self.seq += 1;
        body.set_seq(self.seq);
        Signed::sign(body, self.id, &self.key)
    }
}

impl World {
    /// Issues each investor more shares of every instrument, so that each
    /// holds at least `shares` of it (phase 1).
    pub fn top_up_wallets(&mut self, shares: Qty) {
        for i in 0..self.investors.len() {
            for inst in self.instruments.clone() {
                let held: Qty = self.investors[i]
                    .wallet
                    .get(&inst)
                    .map_or(0, |w| w.iter().map(|c| c.body.shares).sum());
                if held < shares && !self.issue_to(i, inst, shares - held) {
                    self.stats.register_errors += 1;
                }
            }
        }
    }

    /// Splits every certificate in the investors' wallets into certificates
    /// of `part` shares (phase 6 reissue, at most 64 parts per request), so
    /// that a pre-signed flow has a certificate for every sell order.
    /// Returns the number of certificates the investors hold afterwards.
    pub fn split_wallets(&mut self, part: Qty) -> usize {
        let part = part.max(1);
        let mut held = 0;
        for i in 0..self.investors.len() {
            for inst in self.instruments.clone() {
                let certs = self.investors[i].wallet.remove(&inst).unwrap_or_default();
                let mut out = Vec::new();
                for mut c in certs {
                    while c.body.shares >= 2 * part {
                        let n = (c.body.shares / part).min(64);
                        let mut parts = vec![part; n as usize - 1];
                        parts.push(c.body.shares - part * (n - 1));
                        let req = self.sign(
                            i,
                            ReissueRequest {
                                user_id: self.investors[i].id,
                                instrument: inst,
                                kind: ReissueKind::Split(c.body.id, parts),
                                seq: 0,
                            },
                        );
                        match self.register.reissue(&req, self.now) {
                            Ok(resp) => {
                                let mut got = resp.body.certificates;
                                // The last part carries the rest: split it further.
                                c = got.pop().expect("split has parts");
                                out.extend(got);
                            }
                            Err(_) => {
                                self.stats.register_errors += 1;
                                break;
                            }
                        }
                    }
                    out.push(c);
                }
                held += out.len();
                self.investors[i].wallet.insert(inst, out);
            }
        }
        held
    }

    /// The market's parts for the runtime: the exchange, the register, the
    /// ledger and the investors' own sides (the CA stays public in
    /// [`World::ca`]: take it first if needed).
    #[must_use]
    pub fn into_parts(self) -> (Exchange, Register, Ledger, Vec<Client>) {
        let clients = self
            .investors
            .into_iter()
            .map(|inv| Client {
                id: inv.id,
                key: inv.key,
                seq: inv.seq,
                wallet: inv.wallet,
            })
            .collect();
        (self.exchange, self.register, self.ledger, clients)
    }
}

/// Requests whose sequence number the simulated client fills in.
pub trait SetSeq {
    /// Sets the signer's sequence number.
    fn set_seq(&mut self, seq: u64);
}

macro_rules! set_seq {
    ($($t:ty),*) => {$(
        impl SetSeq for $t {
            fn set_seq(&mut self, seq: u64) {
                self.seq = seq;
            }
        }
    )*};
}
set_seq!(
    OrderRequest,
    CancelRequest,
    ReduceRequest,
    ModifyRequest,
    IssueRequest,
    CertificateRequest,
    DirectTransferRequest,
    ReissueRequest,
    HoldingsInquiry
);
