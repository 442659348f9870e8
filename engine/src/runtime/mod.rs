//! The concurrent runtime: how the exchange runs on many threads
//! (DESIGN.md 2.3, 2.4).
//!
//! - Producers on any thread submit [`Request`]s through their own
//!   [`Producer`] into lock-free bounded queues (crossbeam `ArrayQueue`);
//!   a full queue is an error that hands the request back
//!   ([`SubmitError::Full`]) or, with [`Producer::submit_wait`], a wait:
//!   never a loss.
//! - Verification workers decode nothing twice: they batch-verify the
//!   requests' signatures ([`crate::crypto::verify_batch`]); when a batch
//!   fails, single strict verification names the culprits, which are
//!   refused there (a signed [`crate::exchange::ErrorNotice`]; nothing
//!   changed). Each signer's requests go to one worker, so they stay in
//!   order.
//! - One sequencer thread per [`Shard`] owns that shard's exchange,
//!   register and ledger: it assigns the global sequence number, runs
//!   reception (every check but the signature), the certificate and cash
//!   reservations, matching, transfers and settlement, and publishes market
//!   data ([`marketdata`]). It never takes a lock, does no I/O, and never
//!   verifies or signs: the exchange and register run with deferred
//!   signing ([`crate::crypto::Signer`]).
//! - The signing stage signs everything the sequencer produced, one
//!   Ed25519 signature per batch per key over a BLAKE3 Merkle root
//!   ([`crate::crypto::merkle`]); every verifier in kabuken accepts both
//!   the single and the batch form. It then delivers each answer to its
//!   producer (queue or callback), the other messages as
//!   [`Notification`]s, and hands the register its signed documents.
//! - [`Runtime::shutdown`] drains every stage and returns the shards,
//!   synchronous again, with the sequenced input ([`Sequenced`]) when
//!   journalling is on; [`replay_journal`] replays it through the
//!   synchronous exchange, which reproduces the same decisions and state.
//! - Trusted-gateway mode ([`RuntimeConfig::trusted_gateway`]): for hosts
//!   that authenticate sessions themselves; no verification stage, no
//!   per-order signature, answers unsigned; the same reception, matching
//!   and certificate logic.
//! - [`gateway`]: the compact trusted gateway, for the same hosts at
//!   millions of orders a second: fixed-size orders in batches, the same
//!   book and certificate state-word protocol, integer cash, certificates
//!   by serial, documents made on demand off the sequencer.
//!
//! ```
//! use std::time::Duration;
//! use kabuken::runtime::sim::{flow, market, MarketConfig};
//! use kabuken::runtime::{ResponseSink, Runtime, RuntimeConfig};
//!
//! // A small market (CA, register, exchange, ledger, investors) and orders
//! // its investors signed.
//! let mut m = market(&MarketConfig {
//!     seed: 1,
//!     investors: 4,
//!     instruments: 1,
//!     orders: 40,
//!     first_instrument: 100,
//! });
//! let exchange_key = m.shard.exchange.public_key();
//! let orders = flow(&mut m.clients, &m.instruments, 40, 1, 1, false).remove(0);
//!
//! let rt = Runtime::start(RuntimeConfig::default(), vec![m.shard]).unwrap();
//! let mut producer = rt.producer(64, ResponseSink::Queue).unwrap();
//! let mut answers = Vec::new();
//! for o in orders {
//!     // Waits while the queues are full, collecting answers meanwhile.
//!     producer.submit_wait(o, |r| answers.push(r)).unwrap();
//! }
//! while answers.len() < 40 {
//!     answers.extend(producer.recv_timeout(Duration::from_secs(10)));
//! }
//! // Every answer is batch-signed by the exchange.
//! for a in &answers {
//!     match &a.answer {
//!         Ok(receipt) => receipt.verify(&exchange_key).unwrap(),
//!         Err(notice) => notice.verify(&exchange_key).unwrap(),
//!     }
//! }
//! let outcome = rt.shutdown();
//! let shard = &outcome.shards[0];
//! shard.exchange.check_invariants(&shard.register, &shard.ledger).unwrap();
//! ```
//!
//! Architecture invariant: the sequencer thread is the only writer of its
//! shard's books, orders, register and ledger while the runtime runs; all
//! other threads talk to it through queues.

pub mod gateway;
pub mod marketdata;
mod pipeline;
mod request;
mod signing;
pub mod sim;

pub use pipeline::{
    replay_journal, Control, ControlError, ControlHandle, NotificationSink, Outcome, Producer,
    ResponseSink, Runtime, RuntimeConfig, RuntimeStats, Shard, StartError, SubmitError,
};
pub use request::{Notification, Request, Response, Sequenced};
pub use signing::SigningCounters;
