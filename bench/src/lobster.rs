//! LOBSTER replay harness: reconstruct once (agreement with the orderbook
//! file), then time the recorded command stream through fresh books.

use crate::{latency_histogram, median, set_percentiles, timer_overhead_ns, ReplayStats};
use kabuken::book::{Book, BookConfig, Command, CountingSink};
use kabuken::replay::lobster::{default_compare_levels, reconstruct, LobsterData, Reconstruction};
use std::time::Instant;

/// Reconstruction outcome and book-replay speed of a LOBSTER sample.
#[derive(Clone, Debug)]
pub struct LobsterReport {
    /// Agreement and the command stream.
    pub reconstruction: Reconstruction,
    /// Speed of the command stream through the book.
    pub stats: ReplayStats,
}

/// Replays the command stream once into a fresh book.
#[must_use]
pub fn lobster_run(commands: &[Command]) -> (f64, CountingSink) {
    let mut book = Book::new(BookConfig::default());
    let mut sink = CountingSink::default();
    let t = Instant::now();
    for c in commands {
        book.apply(c, &mut sink);
    }
    let secs = t.elapsed().as_secs_f64();
    std::hint::black_box(&book);
    (secs, sink)
}

/// Reconstructs `data` (comparing `compare_levels` levels, or the default)
/// and measures the book on the resulting stream: `runs` timed replays and
/// one latency pass.
#[must_use]
pub fn lobster_report(
    data: &LobsterData,
    compare_levels: Option<usize>,
    runs: usize,
) -> LobsterReport {
    let levels = compare_levels.unwrap_or_else(|| default_compare_levels(data.levels));
    let reconstruction = reconstruct(data, levels, |_, _| {});
    let commands = &reconstruction.commands;
    let runs: Vec<f64> = (0..runs.max(1)).map(|_| lobster_run(commands).0).collect();
    let seconds = median(&runs);
    let clock = quanta::Clock::new();
    let mut h = latency_histogram();
    let mut book = Book::new(BookConfig::default());
    let mut sink = CountingSink::default();
    for c in commands {
        let a = clock.raw();
        book.apply(c, &mut sink);
        let b = clock.raw();
        h.saturating_record(clock.delta_as_nanos(a, b).max(1));
    }
    std::hint::black_box(&sink);
    let mut stats = ReplayStats {
        messages: commands.len() as u64,
        seconds,
        msgs_per_s: commands.len() as f64 / seconds,
        runs,
        p50_ns: 0,
        p99_ns: 0,
        p999_ns: 0,
        max_ns: 0,
        timer_overhead_ns: timer_overhead_ns(&clock),
    };
    set_percentiles(&mut stats, &h);
    LobsterReport {
        reconstruction,
        stats,
    }
}
