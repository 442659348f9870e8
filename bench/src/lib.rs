//! Shared helpers for the kabuken benchmarks.
#![forbid(unsafe_code)]
