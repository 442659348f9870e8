//! The engine value a Python object owns, or that a running `Runtime` has
//! taken for its run (then every use raises `RuntimeBusy`; `RuntimeFailed`
//! if the runtime's sequencer failed and the value was not handed back).

use crate::errors::{runtime_busy, runtime_failed};
use pyo3::prelude::*;

/// An engine value, present unless a runtime has it.
pub struct Slot<T> {
    value: Option<T>,
    // The Python class name, for the error.
    what: &'static str,
    // The runtime that took the value failed: it will not come back.
    failed: bool,
}

impl<T> Slot<T> {
    pub fn new(what: &'static str, value: T) -> Self {
        Slot {
            value: Some(value),
            what,
            failed: false,
        }
    }
    fn missing(&self) -> PyErr {
        if self.failed {
            runtime_failed(self.what)
        } else {
            runtime_busy(self.what)
        }
    }
    /// The value; `RuntimeBusy` while a runtime has it.
    pub fn get(&self) -> PyResult<&T> {
        self.value.as_ref().ok_or_else(|| self.missing())
    }
    /// The value, mutably; `RuntimeBusy` while a runtime has it.
    pub fn get_mut(&mut self) -> PyResult<&mut T> {
        if self.value.is_none() {
            return Err(self.missing());
        }
        Ok(self.value.as_mut().expect("checked above"))
    }
    /// Takes the value out (for a runtime); `RuntimeBusy` if taken already.
    pub fn take(&mut self) -> PyResult<T> {
        if self.value.is_none() {
            return Err(self.missing());
        }
        Ok(self.value.take().expect("checked above"))
    }
    /// Puts the value back (at the runtime's shutdown).
    pub fn put(&mut self, value: T) {
        self.value = Some(value);
    }
    /// The runtime that took the value failed: it will not come back.
    pub fn fail(&mut self) {
        self.failed = true;
    }
    /// The value, if present (no error).
    pub fn peek(&self) -> Option<&T> {
        self.value.as_ref()
    }
}
