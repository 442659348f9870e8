//! `kabuken._native`: the pyo3 bindings of the kabuken engine.
//!
//! Architecture invariant: no business logic here. Every function converts
//! its arguments, forwards to the `kabuken` crate, and converts the result.
//! Bad input raises a Python exception (a `kabuken.errors.KabukenError`
//! subclass, `TypeError`, `ValueError` or `OverflowError`); nothing panics
//! across the boundary on purpose, and pyo3 turns any panic into a Python
//! `PanicException` rather than aborting the interpreter.

// Python signatures with many keyword arguments are the norm here.
#![allow(clippy::too_many_arguments)]

mod book;
mod bulk;
mod convert;
mod crypto;
mod errors;
mod exchange;
mod gateway;
mod identity;
mod lobster;
mod messages;
mod oob;
mod register;
mod runtime;
mod settle;
mod sim;
mod slot;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // book
    m.add_class::<book::Side>()?;
    m.add_class::<book::TimeInForce>()?;
    m.add_class::<book::StpMode>()?;
    m.add_class::<book::CancelReason>()?;
    m.add_class::<book::RejectReason>()?;
    m.add_class::<book::CommandKind>()?;
    m.add_class::<book::ModifyPriority>()?;
    m.add_class::<book::BookConfig>()?;
    m.add_class::<book::Accepted>()?;
    m.add_class::<book::Trade>()?;
    m.add_class::<book::Cancelled>()?;
    m.add_class::<book::Reduced>()?;
    m.add_class::<book::Modified>()?;
    m.add_class::<book::Rejected>()?;
    m.add_class::<book::LevelInfo>()?;
    m.add_class::<book::OrderInfo>()?;
    m.add_class::<book::Book>()?;
    m.add_class::<book::Market>()?;
    // bulk paths and loaders
    m.add("CMD_NEW", bulk::CMD_NEW)?;
    m.add("CMD_CANCEL", bulk::CMD_CANCEL)?;
    m.add("CMD_MODIFY", bulk::CMD_MODIFY)?;
    m.add("CMD_REDUCE", bulk::CMD_REDUCE)?;
    m.add("CMD_ADVANCE_TIME", bulk::CMD_ADVANCE_TIME)?;
    m.add("CMD_EXPIRE_DAY", bulk::CMD_EXPIRE_DAY)?;
    m.add("EV_ACCEPTED", bulk::EV_ACCEPTED)?;
    m.add("EV_TRADE", bulk::EV_TRADE)?;
    m.add("EV_CANCELLED", bulk::EV_CANCELLED)?;
    m.add("EV_MODIFIED", bulk::EV_MODIFIED)?;
    m.add("EV_REDUCED", bulk::EV_REDUCED)?;
    m.add("EV_REJECTED", bulk::EV_REJECTED)?;
    m.add("NO_PRICE", bulk::NO_PRICE)?;
    m.add_function(wrap_pyfunction!(bulk::replay_columns, m)?)?;
    m.add_function(wrap_pyfunction!(bulk::load_flash, m)?)?;
    m.add_function(wrap_pyfunction!(bulk::parse_flash, m)?)?;
    m.add_function(wrap_pyfunction!(bulk::flash_report_sha256, m)?)?;
    m.add_function(wrap_pyfunction!(lobster::load_lobster, m)?)?;
    m.add_function(wrap_pyfunction!(lobster::lobster_top_of_book, m)?)?;
    oob::register(m)?;
    // keys, signatures, messages
    m.add_class::<crypto::KeyPair>()?;
    m.add_class::<crypto::PublicKey>()?;
    m.add_class::<crypto::MsgKind>()?;
    m.add_class::<crypto::Message>()?;
    m.add_function(wrap_pyfunction!(crypto::blake3, m)?)?;
    m.add_function(wrap_pyfunction!(crypto::verify_batch, m)?)?;
    m.add_class::<crypto::BatchProof>()?;
    m.add_function(wrap_pyfunction!(crypto::sign_batch, m)?)?;
    messages::register(m)?;
    // identity
    m.add_class::<identity::Role>()?;
    m.add_class::<identity::Policy>()?;
    m.add_class::<identity::CertificateAuthority>()?;
    m.add_class::<identity::IdentityStore>()?;
    m.add_class::<identity::Party>()?;
    // certificates and the register
    m.add_class::<register::CertId>()?;
    m.add_class::<register::Certificate>()?;
    m.add_class::<register::Record>()?;
    m.add_class::<register::TransferRecord>()?;
    m.add_class::<register::Register>()?;
    m.add_class::<register::IdListFollower>()?;
    // settlement and the exchange
    m.add_class::<settle::Account>()?;
    m.add_class::<settle::Settlement>()?;
    m.add_class::<settle::Ledger>()?;
    m.add_class::<exchange::OrderRecord>()?;
    m.add_class::<exchange::MatchRecord>()?;
    m.add_class::<exchange::Holding>()?;
    m.add_class::<exchange::MarketData>()?;
    m.add_class::<exchange::Outgoing>()?;
    m.add_class::<exchange::Exchange>()?;
    m.add_function(wrap_pyfunction!(exchange::refusal_codes, m)?)?;
    m.add_class::<sim::Simulation>()?;
    // the concurrent runtime
    m.add_class::<runtime::Runtime>()?;
    m.add_class::<runtime::Producer>()?;
    m.add_class::<runtime::Response>()?;
    m.add_class::<runtime::RuntimeStats>()?;
    m.add_class::<runtime::RuntimeOutcome>()?;
    m.add_class::<runtime::Notification>()?;
    m.add_class::<runtime::DepthSnapshot>()?;
    m.add_class::<runtime::MarketEvent>()?;
    m.add_class::<runtime::Lagged>()?;
    m.add_class::<runtime::Subscriber>()?;
    // the compact trusted gateway
    gateway::register(m)?;
    Ok(())
}
