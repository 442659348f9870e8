//! The simulated market (`kabuken::exchange::sim::World`): CA, register,
//! exchange, ledger and seeded investors sending honest and malicious
//! requests, every phase included. For experiments and benchmarks from
//! Python; `Simulation.run` releases the GIL.

use crate::exchange::{invariant_violation, stats_dict, MarketData, MatchRecord};
use crate::register::Certificate;
use kabuken::exchange::sim as ks;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

fn step_name(k: ks::StepKind) -> &'static str {
    match k {
        ks::StepKind::Order => "order",
        ks::StepKind::Amend => "amend",
        ks::StepKind::Attack => "attack",
        ks::StepKind::DirectTransfer => "direct_transfer",
        ks::StepKind::Reissue => "reissue",
        ks::StepKind::EndOfDay => "end_of_day",
    }
}

/// A whole simulated market, deterministic for a seed.
#[pyclass(module = "kabuken._native")]
pub struct Simulation {
    // `World` is `Send` but not `Sync`; `&mut self` access never blocks.
    inner: Mutex<ks::World>,
}

impl Simulation {
    fn world(&mut self) -> &mut ks::World {
        self.inner.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
    fn view(&self) -> MutexGuard<'_, ks::World> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[pymethods]
impl Simulation {
    /// `cash` per investor is in currency units, `usage_limit` (the
    /// investors' attestation limit) in minor units.
    #[new]
    #[pyo3(signature = (seed=1, investors=50, instruments=4, cash=10_000_000, orders_hint=20_000, usage_limit=1_000_000_000_000))]
    fn new(
        py: Python<'_>,
        seed: u64,
        investors: u32,
        instruments: u32,
        cash: u64,
        orders_hint: u64,
        usage_limit: u64,
    ) -> PyResult<Self> {
        if investors < 2 || instruments == 0 {
            return Err(PyValueError::new_err(
                "a simulation needs at least 2 investors and 1 instrument",
            ));
        }
        if u64::from(investors) * u64::from(instruments) > 1_000_000 || orders_hint > 1 << 32 {
            return Err(PyValueError::new_err(
                "at most 1000000 investor-instrument pairs and 2**32 orders",
            ));
        }
        // Each investor gets `INITIAL_SHARES` of every instrument, issued at
        // a par value of 50 minor units under its attestation's usage limit,
        // and a positive deposit.
        if cash == 0 || usage_limit < ks::INITIAL_SHARES.saturating_mul(50) {
            return Err(PyValueError::new_err(format!(
                "cash must be positive and usage_limit at least {} (the initial issue at par)",
                ks::INITIAL_SHARES.saturating_mul(50)
            )));
        }
        let cfg = ks::SimConfig {
            seed,
            investors,
            instruments,
            cash,
            orders_hint,
            usage_limit,
        };
        // The world's set-up asserts its own consistency; should a size slip
        // past the checks above, its assertion becomes a ValueError.
        let world = py.detach(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ks::World::new(cfg)))
        });
        let world = world.map_err(|_| {
            PyValueError::new_err(
                "the market cannot be set up with these sizes (cash and usage_limit must cover the initial issue)",
            )
        })?;
        Ok(Simulation {
            inner: Mutex::new(world),
        })
    }
    /// Runs one generated step; returns its kind (``"order"``, ``"amend"``,
    /// ``"attack"``, ``"direct_transfer"``, ``"reissue"``, ``"end_of_day"``).
    fn step(&mut self, py: Python<'_>) -> &'static str {
        let w = self.world();
        step_name(py.detach(move || w.step()))
    }
    /// Runs `steps` steps with the GIL released; returns how many of each kind.
    fn run<'py>(&mut self, py: Python<'py>, steps: u64) -> PyResult<Bound<'py, PyDict>> {
        let w = self.world();
        let counts = py.detach(move || {
            let mut c: BTreeMap<&'static str, u64> = BTreeMap::new();
            for _ in 0..steps {
                *c.entry(step_name(w.step())).or_insert(0) += 1;
            }
            c
        });
        let d = PyDict::new(py);
        for (k, n) in counts {
            d.set_item(k, n)?;
        }
        Ok(d)
    }
    /// Installs out-of-band verification for every `every`-th investor;
    /// returns the number of contractors.
    fn enable_oob(&mut self, py: Python<'_>, every: usize) -> PyResult<usize> {
        if every == 0 {
            return Err(PyValueError::new_err("every must be at least 1"));
        }
        let w = self.world();
        Ok(py.detach(move || w.enable_oob(every)))
    }
    /// Duress alarms raised and lockout notices sent (None without oob).
    fn oob_alarms(&self) -> Option<(u64, u64)> {
        self.view().oob_alarms()
    }
    /// The current time (one per step).
    #[getter]
    fn now(&self) -> u64 {
        self.view().now
    }
    /// The session's counters.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let w = self.view();
        let s = w.stats();
        let d = PyDict::new(py);
        d.set_item("orders", s.orders)?;
        d.set_item("amendments", s.amendments)?;
        d.set_item("attacks", s.attacks)?;
        d.set_item("attacks_accepted", s.attacks_accepted)?;
        d.set_item("client_signed", s.client_signed)?;
        d.set_item("claims", s.claims)?;
        d.set_item("direct_transfers", s.direct_transfers)?;
        d.set_item("reissues", s.reissues)?;
        d.set_item("register_errors", s.register_errors)?;
        Ok(d)
    }
    /// The exchange's counters (as `Exchange.stats`).
    fn exchange_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, self.view().exchange.stats())
    }
    /// Refusals by reason name.
    fn refusals(&self) -> BTreeMap<&'static str, u64> {
        self.view().refusals()
    }
    /// The match list.
    fn matches(&self, py: Python<'_>) -> PyResult<Vec<MatchRecord>> {
        self.view()
            .exchange
            .matches()
            .iter()
            .map(|m| MatchRecord::new(py, m))
            .collect()
    }
    /// Market data of one book, or None.
    #[pyo3(signature = (instrument, depth=5))]
    fn market_data(&self, instrument: u32, depth: usize) -> Option<MarketData> {
        self.view()
            .exchange
            .market_data(instrument, depth)
            .map(Into::into)
    }
    /// The investors' user ids.
    fn investor_ids(&self) -> Vec<u64> {
        self.view().investor_ids().collect()
    }
    /// The listed instruments.
    fn instruments(&self) -> Vec<u32> {
        self.view().instruments().to_vec()
    }
    /// The certificates `user` holds of `instrument` (not committed to an order).
    fn wallet(&self, user: u64, instrument: u32) -> Vec<Certificate> {
        self.view()
            .wallet(user, instrument)
            .into_iter()
            .map(Into::into)
            .collect()
    }
    /// BLAKE3 over the books, the match list and the ledger totals: equal
    /// for equal seeds and sizes.
    fn state_hash<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.view().state_hash())
    }
    /// Checks every invariant; raises `InvariantViolation`.
    fn check_invariants(&mut self, py: Python<'_>) -> PyResult<()> {
        let w = self.world();
        py.detach(move || w.check_invariants())
            .map_err(|v| invariant_violation(py, v))
    }
    fn __repr__(&self) -> String {
        let w = self.view();
        format!(
            "Simulation(now={}, investors={}, instruments={})",
            w.now,
            w.investor_ids().count(),
            w.instruments().len()
        )
    }
}
