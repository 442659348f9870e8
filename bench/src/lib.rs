//! Replay and latency harnesses shared by `kabuken replay` and the
//! benchmarks: whole workloads through the book, throughput as the median of
//! several timed runs, and latency percentiles from a separate pass that
//! times every message (HDR histogram).
#![forbid(unsafe_code)]

use hdrhistogram::Histogram;
use kabuken::book::Book;
use kabuken::replay::flash::{self, Msg, ReportCounter, Reporter};
use std::time::Instant;

pub mod lobster;

/// Throughput and latency of a replay.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayStats {
    /// Messages per run.
    pub messages: u64,
    /// Median seconds of the timed runs.
    pub seconds: f64,
    /// `messages / seconds`.
    pub msgs_per_s: f64,
    /// Seconds of every timed run.
    pub runs: Vec<f64>,
    /// Latency percentiles of one message (nanoseconds, timer included).
    pub p50_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Largest.
    pub max_ns: u64,
    /// Cost of one timer read pair, measured (included in the percentiles).
    pub timer_overhead_ns: u64,
}

impl ReplayStats {
    /// The stats as a JSON object.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "messages": self.messages,
            "seconds": self.seconds,
            "msgs_per_s": self.msgs_per_s,
            "runs_seconds": self.runs,
            "p50_ns": self.p50_ns,
            "p99_ns": self.p99_ns,
            "p999_ns": self.p999_ns,
            "max_ns": self.max_ns,
            "timer_overhead_ns": self.timer_overhead_ns,
        })
    }

    /// Human-readable summary lines.
    #[must_use]
    pub fn describe(&self) -> String {
        format!(
            "messages      {}\nseconds       {:.4} (median of {} runs)\nmsgs/s        {:.0}\nlatency ns    p50 {}  p99 {}  p99.9 {}  max {}  (timer overhead ~{} ns included)",
            self.messages,
            self.seconds,
            self.runs.len(),
            self.msgs_per_s,
            self.p50_ns,
            self.p99_ns,
            self.p999_ns,
            self.max_ns,
            self.timer_overhead_ns
        )
    }
}

/// The median of `v` (which must not be empty).
#[must_use]
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// A histogram for nanosecond latencies up to one minute, 3 significant
/// digits.
#[must_use]
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// Median cost of reading the clock twice.
#[must_use]
pub fn timer_overhead_ns(clock: &quanta::Clock) -> u64 {
    let mut v: Vec<u64> = (0..1001)
        .map(|_| {
            let a = clock.raw();
            let b = clock.raw();
            clock.delta_as_nanos(a, b)
        })
        .collect();
    v.sort_unstable();
    v[v.len() / 2]
}

/// Fills in the percentile fields from `h`.
pub fn set_percentiles(stats: &mut ReplayStats, h: &Histogram<u64>) {
    stats.p50_ns = h.value_at_quantile(0.50);
    stats.p99_ns = h.value_at_quantile(0.99);
    stats.p999_ns = h.value_at_quantile(0.999);
    stats.max_ns = h.max();
}

/// One untimed-per-message replay of a Flash workload with reports
/// generated (counted and folded, not formatted); returns the seconds and the
/// counter (so the work cannot be optimised away).
#[must_use]
pub fn flash_run(msgs: &[Msg]) -> (f64, ReportCounter) {
    let mut out = ReportCounter::default();
    let t = Instant::now();
    let _ = std::hint::black_box(flash::replay(msgs, &mut out));
    (t.elapsed().as_secs_f64(), out)
}

/// Throughput (median of `runs` replays) and latency (one more replay timing
/// every message) of a Flash workload.
#[must_use]
pub fn flash_stats(msgs: &[Msg], runs: usize) -> ReplayStats {
    let runs: Vec<f64> = (0..runs.max(1)).map(|_| flash_run(msgs).0).collect();
    let seconds = median(&runs);
    let clock = quanta::Clock::new();
    let mut h = latency_histogram();
    let mut book = Book::new(kabuken::book::BookConfig::flash());
    let mut rep = Reporter::default();
    let mut out = ReportCounter::default();
    for (i, m) in msgs.iter().enumerate() {
        let a = clock.raw();
        flash::prefetch_ahead(&book, msgs, i);
        flash::replay_one(&mut book, m, &mut rep, &mut out);
        let b = clock.raw();
        h.saturating_record(clock.delta_as_nanos(a, b).max(1));
    }
    std::hint::black_box(&out);
    let mut stats = ReplayStats {
        messages: msgs.len() as u64,
        seconds,
        msgs_per_s: msgs.len() as f64 / seconds,
        runs,
        p50_ns: 0,
        p99_ns: 0,
        p999_ns: 0,
        max_ns: 0,
        timer_overhead_ns: timer_overhead_ns(&clock),
    };
    set_percentiles(&mut stats, &h);
    stats
}
