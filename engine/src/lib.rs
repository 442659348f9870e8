//! kabuken: an embeddable exchange core for electronic stock certificates.
//!
//! See `ARCHITECTURE.md` at the repository root for the bird's-eye view and
//! the code map. Modules are layered; each depends only on those listed
//! before it:
//!
//! - [`types`]: ids, ticks, quantities, sides, timestamps, price scaling.
//! - [`book`]: the single-instrument price-time order book and the
//!   multi-instrument [`book::Market`].
//! - [`crypto`]: Ed25519 keys and signatures, BLAKE3 digests, the canonical
//!   wire encoding and [`crypto::Signed`] messages.
//! - [`certs`]: the electronic stock certificate, certificate IDs,
//!   endorsements and the lock-free certificate-ID table.
//! - [`identity`]: the certificate authority, attestation certificates,
//!   policies, revocation.
//! - [`register`]: the shareholder register, transfers, direct transfers,
//!   reissue, holdings inquiry and the signed certificate-ID list.
//! - [`settle`]: cash accounts with exact decimal balances, reservations
//!   for buy orders, delivery versus payment, signed account inquiry.
//! - [`exchange`]: signed order reception, matching through [`book`],
//!   transfer through the register, completion notices and settlement.
//! - [`oob`]: out-of-band verification of large requests over a second
//!   channel (seed 002).
//! - [`runtime`]: the concurrent runtime; so far lock-free market data
//!   (depth snapshots, the sequenced event stream).
//! - [`replay`]: external workloads (Flash conformance, LOBSTER) replayed
//!   through the book.
// No unsafe code, except the documented prefetch hint in `book/prefetch.rs`.
#![deny(unsafe_code)]

pub mod book;
pub mod certs;
pub mod crypto;
pub mod exchange;
pub mod identity;
pub mod oob;
pub mod register;
pub mod replay;
pub mod runtime;
pub mod settle;
pub mod types;
