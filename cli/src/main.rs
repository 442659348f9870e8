//! The `kabuken` command.
#![forbid(unsafe_code)]
fn main() {}
