//! The simulated session of `kabuken simulate --trusted`: a gateway market
//! (investors with cash and certificates), an order flow drawn like the
//! signed runtime's ([`crate::runtime::sim`]: about half the orders cross,
//! every sell covered by a 100-share certificate, one in ten IOC), and
//! producer threads that submit it in batches and take every report.

use std::time::{Duration, Instant};

use super::{
    Gateway, GatewayInstrument, GatewayOrder, GatewayProducer, GatewayRuntime, ReportKind, TIF_GTC,
    TIF_IOC,
};
use crate::exchange::sim::{BAND, LOT, MID};
use crate::replay::synth::SplitMix64;
use crate::runtime::sim::{percentile, CERT_PART};
use crate::types::{InstrumentId, Qty};

/// Size of a simulated gateway session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GatewayMarketConfig {
    /// Seed of the flow.
    pub seed: u64,
    /// Investors (accounts).
    pub investors: u32,
    /// Instruments.
    pub instruments: u32,
    /// Orders in the flow.
    pub orders: usize,
    /// Id of the first instrument (the others follow).
    pub first_instrument: InstrumentId,
}

/// A gateway market and its flow.
#[derive(Debug)]
pub struct GatewayMarket {
    /// The gateway, every investor with cash and certificates.
    pub gateway: Gateway,
    /// The flow per producer: investor `i`'s orders go to producer
    /// `i % producers`; each order's tag is its index in its flow.
    pub flows: Vec<Vec<GatewayOrder>>,
}

/// Builds the market and the flow for `producers` producers.
///
/// # Panics
/// Never for sane sizes (the set-up calls cannot fail on the values made
/// here).
#[must_use]
pub fn market(cfg: &GatewayMarketConfig, producers: usize) -> GatewayMarket {
    let investors = cfg.investors.max(2);
    let instruments = cfg.instruments.max(1);
    let producers = producers.max(1);
    let mut g = Gateway::new();
    let per_wallet = cfg.orders / (investors as usize * instruments as usize) + 2;
    let inst: Vec<u32> = (0..instruments)
        .map(|k| {
            g.add_instrument(GatewayInstrument {
                id: cfg.first_instrument + k,
                tick_value: 1,
                lot_size: LOT,
                band_low: MID - BAND,
                band_high: MID + BAND,
                max_qty: 1_000_000,
            })
            .expect("valid instrument")
        })
        .collect();
    g.reserve(
        cfg.orders,
        investors as usize * instruments as usize * per_wallet + 2 * cfg.orders,
    );
    let mut wallets: Vec<Vec<Vec<u64>>> = Vec::with_capacity(investors as usize);
    for i in 0..investors {
        let a = g
            .open_account(u64::from(i) + 1_000, 1_000_000_000_000)
            .expect("account");
        let w = inst
            .iter()
            .map(|&k| {
                (0..per_wallet)
                    .map(|_| g.issue(a, k, CERT_PART).expect("issue"))
                    .rev()
                    .collect()
            })
            .collect();
        wallets.push(w);
    }
    let mut rng = SplitMix64::new(cfg.seed ^ 0x6A7E);
    let mut flows: Vec<Vec<GatewayOrder>> = vec![Vec::new(); producers];
    for _ in 0..cfg.orders {
        let i = (rng.next() % u64::from(investors)) as usize;
        let k = (rng.next() % u64::from(instruments)) as usize;
        let sell = rng.next() % 2 == 1;
        let cert = if sell { wallets[i][k].pop() } else { None };
        let max_lots = CERT_PART / LOT;
        let qty: Qty = LOT * (1 + rng.next() % max_lots);
        let price = MID - 4 + (rng.next() % 9) as i64;
        let tif = if rng.next() % 10 == 0 {
            TIF_IOC
        } else {
            TIF_GTC
        };
        let f = &mut flows[i % producers];
        let tag = f.len() as u64;
        let o = match cert {
            Some(c) => GatewayOrder::sell(tag, i as u32, inst[k], price, qty, c),
            None => GatewayOrder::buy(tag, i as u32, inst[k], price, qty),
        };
        f.push(o.with_tif(tif));
    }
    GatewayMarket { gateway: g, flows }
}

/// What one drive measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GatewayDrive {
    /// Orders submitted.
    pub submitted: u64,
    /// Accepted and refused reports (one per order).
    pub answered: u64,
    /// Refused among them.
    pub refused: u64,
    /// Fill reports.
    pub fills: u64,
    /// Every report.
    pub reports: u64,
    /// From the first submit to the last answer.
    pub elapsed: Duration,
    /// Per order, submit of its batch to its answer being polled, ns,
    /// sorted.
    pub latencies_ns: Vec<u64>,
}

impl GatewayDrive {
    /// Orders per second.
    #[must_use]
    pub fn per_second(&self) -> f64 {
        self.answered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile of the latencies, ns.
    #[must_use]
    pub fn latency(&self, q: f64) -> u64 {
        percentile(&self.latencies_ns, q)
    }
}

/// Submits every flow from its own producer thread in batches of `batch`
/// orders (at most [`super::GatewayConfig::batch`] times
/// [`super::GatewayConfig::queue_batches`]; a producer stops at a larger
/// one), as fast as the gateway takes them or paced at `rate` orders per
/// second in total, and takes every report.
///
/// # Panics
/// When the runtime has no room for another producer.
#[must_use]
pub fn drive(
    rt: &GatewayRuntime,
    flows: &[Vec<GatewayOrder>],
    batch: usize,
    rate: Option<f64>,
) -> GatewayDrive {
    let producers = flows.len().max(1);
    let per = rate.map(|r| r / producers as f64);
    let batch = batch.max(1);
    let start = Instant::now();
    let results: Vec<GatewayDrive> = std::thread::scope(|s| {
        let hs: Vec<_> = flows
            .iter()
            .map(|f| {
                let p = rt.producer().expect("room for a producer");
                s.spawn(move || run_producer(p, f, batch, per, start))
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("producer thread"))
            .collect()
    });
    let mut d = GatewayDrive {
        elapsed: start.elapsed(),
        ..GatewayDrive::default()
    };
    for r in results {
        d.submitted += r.submitted;
        d.answered += r.answered;
        d.refused += r.refused;
        d.fills += r.fills;
        d.reports += r.reports;
        d.latencies_ns.extend(r.latencies_ns);
    }
    d.latencies_ns.sort_unstable();
    d
}

fn run_producer(
    mut p: GatewayProducer,
    flow: &[GatewayOrder],
    batch: usize,
    rate: Option<f64>,
    start: Instant,
) -> GatewayDrive {
    let mut d = GatewayDrive::default();
    let mut sent: Vec<Instant> = Vec::with_capacity(flow.len().div_ceil(batch));
    let n = flow.len() as u64;
    // Tags number the whole flow; this part may start past 0.
    let base = flow.first().map_or(0, |o| o.tag);
    // One clock read per poll: every answer polled together is stamped with
    // the time of that poll.
    let take = |p: &mut GatewayProducer, d: &mut GatewayDrive, sent: &[Instant]| {
        let now = Instant::now();
        p.poll(|r| {
            d.reports += 1;
            match r.kind {
                k if k == ReportKind::Accepted as u8 || k == ReportKind::Refused as u8 => {
                    d.answered += 1;
                    if k == ReportKind::Refused as u8 {
                        d.refused += 1;
                    }
                    if let Some(t) = sent.get((r.tag.wrapping_sub(base) / batch as u64) as usize) {
                        d.latencies_ns.push(
                            u64::try_from(now.saturating_duration_since(*t).as_nanos())
                                .unwrap_or(u64::MAX),
                        );
                    }
                }
                k if k == ReportKind::Fill as u8 => d.fills += 1,
                _ => {}
            }
        })
    };
    for (b, chunk) in flow.chunks(batch).enumerate() {
        if let Some(rate) = rate {
            let due = start + Duration::from_secs_f64((b * batch) as f64 / rate);
            loop {
                take(&mut p, &mut d, &sent);
                let now = Instant::now();
                if now >= due {
                    break;
                }
                if due - now > Duration::from_micros(200) {
                    std::thread::sleep(Duration::from_micros(100));
                } else {
                    std::thread::yield_now();
                }
            }
        }
        sent.push(Instant::now());
        loop {
            match p.submit(chunk) {
                Ok(()) => break,
                Err(super::GatewaySubmitError::Full) => {
                    if take(&mut p, &mut d, &sent) == 0 {
                        std::thread::yield_now();
                    }
                }
                Err(super::GatewaySubmitError::Closed | super::GatewaySubmitError::TooLarge) => {
                    return d
                }
            }
        }
        d.submitted += chunk.len() as u64;
        take(&mut p, &mut d, &sent);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while d.answered < n && Instant::now() < deadline {
        if take(&mut p, &mut d, &sent) == 0 {
            p.wait(Duration::from_millis(1));
        }
    }
    d
}
