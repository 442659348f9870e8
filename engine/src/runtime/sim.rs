//! A whole market on the runtime, for `kabuken simulate --threads N`, the
//! runtime tests and benchmarks: the [`World`]'s parties and certificates,
//! a pre-signed order flow (clients sign on their own machines, so signing
//! is not part of the measured run), producer threads that submit it, and
//! the measurements the report needs (throughput per stage, latency
//! percentiles, the batch-verification ceiling of the same machine).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Producer, Request, Response, ResponseSink, Runtime, Shard};
use crate::book::TimeInForce;
use crate::crypto::{KeyPair, PublicKey, UserId};
use crate::exchange::sim::{Client, SimConfig, World, LOT, MID};
use crate::exchange::OrderRequest;
use crate::identity::CertificateAuthority;
use crate::replay::synth::SplitMix64;
use crate::types::{InstrumentId, Qty, Side, Timestamp};

/// Shares per certificate in the investors' wallets (one certificate per
/// sell order of the flow).
pub const CERT_PART: Qty = 100;

/// Size of a runtime market.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarketConfig {
    /// Seed of keys and flow.
    pub seed: u64,
    /// Investors.
    pub investors: u32,
    /// Instruments.
    pub instruments: u32,
    /// Orders in the flow.
    pub orders: usize,
    /// Id of the first instrument (the others follow).
    pub first_instrument: InstrumentId,
}

/// A market ready for the runtime: its one shard, the investors' sides and
/// the instruments.
#[derive(Debug)]
pub struct Market {
    /// The shard (exchange, register, ledger).
    pub shard: Shard,
    /// The investors.
    pub clients: Vec<Client>,
    /// The instruments.
    pub instruments: Vec<InstrumentId>,
    /// The certificate authority every party is attested by.
    pub ca: CertificateAuthority,
}

/// Builds the market: the [`World`] with enough cash for the whole flow,
/// every investor's certificates split into [`CERT_PART`]-share pieces.
#[must_use]
pub fn market(cfg: &MarketConfig) -> Market {
    let investors = cfg.investors.max(2);
    let instruments = cfg.instruments.max(1);
    // Enough certificates for every sell of the flow (about half of it),
    // spread over investors and instruments, with margin.
    let per_wallet = (cfg.orders / (investors as usize * instruments as usize)) as u64 + 2;
    let shares = (per_wallet * CERT_PART).div_ceil(LOT) * LOT;
    let mut w = World::with_instruments_from(
        SimConfig {
            seed: cfg.seed,
            investors,
            instruments,
            cash: 1_000_000_000_000,
            orders_hint: cfg.orders as u64 * 2,
            usage_limit: u64::MAX / 4,
        },
        cfg.first_instrument,
    );
    w.top_up_wallets(shares);
    w.split_wallets(CERT_PART);
    let inst = w.instruments().to_vec();
    let ca = std::mem::replace(
        &mut w.ca,
        CertificateAuthority::new(0, "", KeyPair::from_seed(&[0; 32])),
    );
    let (exchange, register, ledger, clients) = w.into_parts();
    Market {
        shard: Shard {
            exchange,
            register,
            ledger,
        },
        clients,
        instruments: inst,
        ca,
    }
}

/// One generated order, before signing.
fn order(rng: &mut SplitMix64, c: &mut Client, instruments: &[InstrumentId]) -> OrderRequest {
    let inst = instruments[(rng.next() % instruments.len() as u64) as usize];
    let mut side = if rng.next() % 2 == 0 {
        Side::Buy
    } else {
        Side::Sell
    };
    let cert = if side == Side::Sell {
        c.wallet.get_mut(&inst).and_then(Vec::pop)
    } else {
        None
    };
    if side == Side::Sell && cert.is_none() {
        side = Side::Buy;
    }
    let max_lots = cert.as_ref().map_or(CERT_PART, |c| c.body.shares) / LOT;
    let qty = LOT * (1 + rng.next() % max_lots.max(1));
    // Prices straddle the reference price, so about half the orders cross.
    let price = MID - 4 + (rng.next() % 9) as i64;
    let tif = if rng.next() % 10 == 0 {
        TimeInForce::Ioc
    } else {
        TimeInForce::Gtc
    };
    OrderRequest {
        user_id: c.id,
        instrument: inst,
        class: 0,
        side,
        price: Some(price),
        quantity: qty,
        tif,
        post_only: false,
        certificates: cert.into_iter().collect(),
        name_address: format!("Investor {}, Tokyo", c.id),
        account: c.id,
        cash_cap: None,
        seq: 0,
    }
}

/// One producer's clients and their order bodies, to sign.
type Work<'a> = (Vec<&'a mut Client>, Vec<(usize, OrderRequest)>);

/// The flow for `producers` producer threads: investor `i` belongs to
/// producer `i % producers` (so each signer's requests come from one
/// producer, in order). Signed (in parallel, outside any measurement)
/// unless `trusted`.
#[must_use]
pub fn flow(
    clients: &mut [Client],
    instruments: &[InstrumentId],
    orders: usize,
    producers: usize,
    seed: u64,
    trusted: bool,
) -> Vec<Vec<Request>> {
    let producers = producers.max(1);
    let mut rng = SplitMix64::new(seed ^ 0xF10E);
    let n = clients.len().max(1);
    // Bodies first (deterministic), per producer.
    let mut bodies: Vec<Vec<(usize, OrderRequest)>> = vec![Vec::new(); producers];
    for _ in 0..orders {
        let i = (rng.next() % n as u64) as usize;
        let o = order(&mut rng, &mut clients[i], instruments);
        bodies[i % producers].push((i, o));
    }
    if trusted {
        return bodies
            .into_iter()
            .map(|b| {
                b.into_iter()
                    .map(|(i, mut o)| {
                        o.seq = clients[i].next_seq();
                        Request::trusted_order(o)
                    })
                    .collect()
            })
            .collect();
    }
    // Sign: each producer's clients are disjoint, so threads can sign in
    // parallel; each client signs its orders in flow order.
    let mut by_producer: Vec<Vec<&mut Client>> = (0..producers).map(|_| Vec::new()).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        by_producer[i % producers].push(c);
    }
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let mut out: Vec<Vec<Request>> = Vec::with_capacity(producers);
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        let mut work: Vec<Work<'_>> = by_producer.into_iter().zip(bodies).collect();
        // Group producers into at most `threads` signing threads.
        let mut groups: Vec<Vec<(usize, Work<'_>)>> = (0..threads).map(|_| Vec::new()).collect();
        for (p, w) in work.drain(..).enumerate() {
            groups[p % threads].push((p, w));
        }
        for g in groups {
            handles.push(s.spawn(move || {
                g.into_iter()
                    .map(|(p, (mut cs, bodies))| {
                        let mut idx: HashMap<UserId, usize> = HashMap::new();
                        for (k, c) in cs.iter().enumerate() {
                            idx.insert(c.id, k);
                        }
                        let reqs = bodies
                            .into_iter()
                            .map(|(_, o)| {
                                let k = idx[&o.user_id];
                                Request::Order(cs[k].sign(o))
                            })
                            .collect::<Vec<_>>();
                        (p, reqs)
                    })
                    .collect::<Vec<_>>()
            }));
        }
        let mut all: Vec<(usize, Vec<Request>)> = handles
            .into_iter()
            .flat_map(|h| h.join().expect("signing thread"))
            .collect();
        all.sort_by_key(|(p, _)| *p);
        out = all.into_iter().map(|(_, r)| r).collect();
    });
    out
}

/// What one drive of the runtime measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Drive {
    /// Requests submitted.
    pub submitted: u64,
    /// Responses received.
    pub responses: u64,
    /// Receipts among them.
    pub accepted: u64,
    /// Refusals among them.
    pub refused: u64,
    /// Submit calls that met a full queue (and waited).
    pub full: u64,
    /// Wall time from the first submit to the last response.
    pub elapsed: Duration,
    /// Latency from submit to response of every request, ns, sorted.
    pub latencies_ns: Vec<u64>,
    /// Every response, per producer, in arrival order (kept only when
    /// asked).
    pub responses_kept: Vec<Vec<Response>>,
}

impl Drive {
    /// Requests per second over the drive.
    #[must_use]
    pub fn per_second(&self) -> f64 {
        self.responses as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile (0..=1) of the latencies, ns.
    #[must_use]
    pub fn latency(&self, q: f64) -> u64 {
        percentile(&self.latencies_ns, q)
    }
}

/// The `q` quantile of sorted values (nearest rank).
#[must_use]
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Requests each producer thread of [`drive`] may have in flight.
const PRODUCER_CREDIT: usize = 1024;

/// Submits every flow from its own producer thread, as fast as the runtime
/// takes them, or paced at `rate` requests per second in total; waits for
/// every response.
///
/// # Panics
/// When the runtime has no room for another producer.
#[must_use]
pub fn drive(rt: &Runtime, flows: Vec<Vec<Request>>, rate: Option<f64>, keep: bool) -> Drive {
    let producers = flows.len().max(1);
    let per_producer_rate = rate.map(|r| r / producers as f64);
    let start = Instant::now();
    let results: Vec<Drive> = std::thread::scope(|s| {
        let handles: Vec<_> = flows
            .into_iter()
            .map(|f| {
                let mut p: Producer = rt
                    .producer(PRODUCER_CREDIT, ResponseSink::Queue)
                    .expect("room for a producer");
                s.spawn(move || run_producer(&mut p, f, per_producer_rate, start, keep))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("producer thread"))
            .collect()
    });
    let mut d = Drive {
        elapsed: start.elapsed(),
        ..Drive::default()
    };
    for r in results {
        d.submitted += r.submitted;
        d.responses += r.responses;
        d.accepted += r.accepted;
        d.refused += r.refused;
        d.full += r.full;
        d.latencies_ns.extend(r.latencies_ns);
        d.responses_kept.extend(r.responses_kept);
    }
    d.latencies_ns.sort_unstable();
    d
}

fn run_producer(
    p: &mut Producer,
    flow: Vec<Request>,
    rate: Option<f64>,
    start: Instant,
    keep: bool,
) -> Drive {
    let n = flow.len();
    let mut sent_at: Vec<Option<Instant>> = vec![None; n + 1];
    let mut d = Drive::default();
    let mut kept = Vec::new();
    let mut on = |r: Response, d: &mut Drive, sent_at: &[Option<Instant>]| {
        if let Some(Some(t)) = sent_at.get(r.ticket as usize) {
            d.latencies_ns
                .push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
        }
        d.responses += 1;
        if r.answer.is_ok() {
            d.accepted += 1;
        } else {
            d.refused += 1;
        }
        if keep {
            kept.push(r);
        }
    };
    for (k, req) in flow.into_iter().enumerate() {
        if let Some(rate) = rate {
            let due = start + Duration::from_secs_f64(k as f64 / rate);
            // Wait for the request's slot without burning a core the
            // runtime needs: sleep, collecting responses meanwhile.
            loop {
                while let Some(r) = p.try_recv() {
                    on(r, &mut d, &sent_at);
                }
                let now = Instant::now();
                if now >= due {
                    break;
                }
                let left = due - now;
                if left > Duration::from_micros(200) {
                    std::thread::sleep(
                        left.min(Duration::from_millis(1)) - Duration::from_micros(100),
                    );
                } else {
                    std::thread::yield_now();
                }
            }
        }
        // Tickets run 1, 2, ... in submission order.
        sent_at[k + 1] = Some(Instant::now());
        let mut req = req;
        loop {
            match p.submit(req) {
                Ok(_) => break,
                Err(super::SubmitError::Full(r)) => {
                    d.full += 1;
                    req = *r;
                    let mut any = false;
                    while let Some(r) = p.try_recv() {
                        on(r, &mut d, &sent_at);
                        any = true;
                    }
                    if !any {
                        // With half its credit or more in flight the
                        // pipeline has milliseconds of work queued: wait
                        // long enough for a handful of answers, so the
                        // producer does not wake (a context switch the
                        // pipeline's threads pay for on a small machine)
                        // for every single one.
                        let wait = if p.in_flight() >= PRODUCER_CREDIT / 2 {
                            Duration::from_micros(500)
                        } else {
                            Duration::from_micros(20)
                        };
                        std::thread::sleep(wait);
                    }
                }
                Err(super::SubmitError::Closed(_)) => {
                    d.submitted = k as u64;
                    d.responses_kept = vec![kept];
                    return d;
                }
            }
        }
        d.submitted += 1;
        while let Some(r) = p.try_recv() {
            on(r, &mut d, &sent_at);
        }
    }
    while d.responses < n as u64 {
        match p.recv_timeout(Duration::from_secs(60)) {
            Some(r) => on(r, &mut d, &sent_at),
            None => break,
        }
    }
    d.responses_kept = vec![kept];
    d
}

/// The verification stage's work on one batch: how many of `requests`
/// verify against `directory` (for benchmarks).
#[must_use]
pub fn verify_only(directory: &HashMap<UserId, PublicKey>, requests: &[&Request]) -> usize {
    let (v, _) = super::pipeline::verify_requests(directory, requests);
    v.iter().filter(|r| r.is_ok()).count()
}

/// Puts a shard in the mode its sequencer runs it in (deferred signing,
/// signatures verified upstream), for measuring the sequencer's step alone.
pub fn defer(shard: &mut Shard) {
    shard.exchange.set_deferred_signing(true);
    shard.exchange.set_verified_upstream(true);
    shard.register.set_deferred_signing(true);
}

/// The sequencer's step for one request (after [`defer`]): apply it, take
/// the register's unsigned documents and the exchange's outbox; returns
/// how many messages it produced for the signing stage.
pub fn step(shard: &mut Shard, now: Timestamp, request: &Request) -> usize {
    let answer = super::pipeline::apply(shard, now, request);
    let docs = shard.register.take_unsigned().len();
    let out = shard.exchange.drain_outbox().len();
    usize::from(answer.is_ok()) + docs + out
}

/// The pure batch-verification ceiling of this machine, measured now:
/// signatures per second verified by `threads` threads running
/// [`crate::crypto::verify_batch`] over batches of `batch` of `sample`'s
/// requests, for about `duration`.
#[must_use]
pub fn verify_ceiling(
    sample: &[Request],
    directory: &HashMap<UserId, PublicKey>,
    threads: usize,
    batch: usize,
    duration: Duration,
) -> f64 {
    let sample: Vec<&Request> = sample.iter().take(4096).collect();
    if sample.is_empty() {
        return 0.0;
    }
    let batch = batch.clamp(1, sample.len());
    let threads = threads.max(1);
    let dir = Arc::new(directory.clone());
    let start = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let dir = Arc::clone(&dir);
                let sample = &sample;
                s.spawn(move || {
                    let mut n = 0u64;
                    let mut k = t * batch;
                    while start.elapsed() < duration {
                        let chunk: Vec<&Request> =
                            (0..batch).map(|j| sample[(k + j) % sample.len()]).collect();
                        let (v, _) = super::pipeline::verify_requests(&dir, &chunk);
                        n += v.iter().filter(|r| r.is_ok()).count() as u64;
                        k += batch * threads;
                    }
                    n
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    total as f64 / start.elapsed().as_secs_f64().max(1e-9)
}
