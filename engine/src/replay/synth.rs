//! A deterministic synthetic order-flow generator in the Flash workload
//! shape: a random-walk mid price, limit orders placed around it (some
//! IOC, some crossing), and cancels and modifies of live (or already gone)
//! orders.
//! The same seed always gives the same messages. Used by the main job until
//! the exchange exists, by the benchmarks, and by tests that must not depend
//! on `../shared`.

use super::flash::Msg;
use crate::types::Side;

/// A small, fast, seedable PRNG (SplitMix64); not for cryptography.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// Seeded generator.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// Next 64 random bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `p_percent / 100`.
    pub fn chance(&mut self, p_percent: u64) -> bool {
        self.below(100) < p_percent
    }
}

/// Shape of a synthetic workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynthConfig {
    /// PRNG seed.
    pub seed: u64,
    /// Number of new orders (cancels and modifies come on top).
    pub orders: u64,
    /// Starting mid price in ticks.
    pub start_price: i64,
    /// Half-width, in ticks, of the band orders are placed in around the mid.
    pub spread: i64,
    /// Largest step of the mid's random walk per new order.
    pub volatility: i64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            seed: 23,
            orders: 200_000,
            start_price: 10_000,
            spread: 40,
            volatility: 2,
        }
    }
}

/// Generates a workload (see the module docs).
#[must_use]
pub fn generate(cfg: &SynthConfig) -> Vec<Msg> {
    let mut rng = SplitMix64::new(cfg.seed);
    let mut out = Vec::with_capacity((cfg.orders as usize) * 2);
    let mut live: Vec<(u64, Side)> = Vec::new();
    let mut mid = cfg.start_price;
    let mut next_id = 1u64;
    let mut seq = 0u64;
    let mut made = 0u64;
    while made < cfg.orders {
        let roll = rng.below(100);
        if roll < 38 && !live.is_empty() {
            let i = rng.below(live.len() as u64) as usize;
            let (id, _) = live.swap_remove(i);
            out.push(Msg::Cancel { seq, id });
        } else if roll < 46 && !live.is_empty() {
            let i = rng.below(live.len() as u64) as usize;
            let (id, side) = live[i];
            let off = rng.below(cfg.spread as u64 + 1) as i64;
            let price = match side {
                Side::Buy => mid - off + 2,
                Side::Sell => mid + off - 2,
            };
            let qty = 1 + rng.below(100) as u32;
            out.push(Msg::Modify {
                seq,
                id,
                side,
                price,
                qty,
            });
        } else {
            mid += rng.below(2 * cfg.volatility as u64 + 1) as i64 - cfg.volatility;
            let side = if rng.chance(50) {
                Side::Buy
            } else {
                Side::Sell
            };
            let ioc = rng.chance(15);
            // Mostly passive, sometimes through the mid.
            let off = rng.below(cfg.spread as u64 + 1) as i64 - if rng.chance(20) { 5 } else { 0 };
            let price = match side {
                Side::Buy => mid - off,
                Side::Sell => mid + off,
            };
            let id = next_id;
            next_id += 1;
            let qty = 1 + rng.below(100) as u32;
            out.push(Msg::New {
                seq,
                id,
                side,
                price,
                qty,
                ioc,
            });
            if !ioc {
                live.push((id, side));
            }
            made += 1;
        }
        seq += 1;
        // Stale entries (filled orders) make some cancels and modifies miss,
        // as in real flow; keep the list bounded.
        if live.len() > 50_000 {
            live.drain(..10_000);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::flash::{self, ReportCounter};

    #[test]
    fn deterministic_and_exercising() {
        let cfg = SynthConfig {
            orders: 20_000,
            ..SynthConfig::default()
        };
        let a = generate(&cfg);
        assert_eq!(a, generate(&cfg));
        assert_ne!(a, generate(&SynthConfig { seed: 24, ..cfg }));
        let mut c = ReportCounter::default();
        let (book, _) = flash::replay(&a, &mut c);
        // Every report kind occurs: accepts, trades, cancels, modifies,
        // rejected cancels and rejected modifies.
        assert!(c.by_kind.iter().all(|&n| n > 0), "{:?}", c.by_kind);
        assert!(!book.is_empty());
    }
}
