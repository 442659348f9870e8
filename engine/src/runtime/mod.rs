//! The concurrent runtime: how the exchange runs on many threads.
//!
//! So far: [`marketdata`], lock-free publication of each book's depth and of
//! the sequenced market event stream. (Ingress queues, the verification and
//! signing stages and the sequencer follow with the runtime issue.)

pub mod marketdata;
