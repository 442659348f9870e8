//! kabuken: an embeddable exchange core for electronic stock certificates.
//!
//! See `ARCHITECTURE.md` at the repository root for the bird's-eye view and
//! the code map. Modules are layered; each depends only on those listed
//! before it:
//!
//! - [`types`]: ids, ticks, quantities, sides, timestamps, price scaling.
//! - [`book`]: the single-instrument price-time order book and the
//!   multi-instrument [`book::Market`].
//! - [`oob`]: out-of-band verification of large requests over a second
//!   channel (seed 002).
//! - [`replay`]: external workloads (Flash conformance, LOBSTER) replayed
//!   through the book.
// No unsafe code, except the documented prefetch hint in `book/prefetch.rs`.
#![deny(unsafe_code)]

pub mod book;
pub mod oob;
pub mod replay;
pub mod types;
