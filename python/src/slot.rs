//! The engine value a Python object owns, or that a running `Runtime` has
//! taken for its run (then every use raises `RuntimeBusy`).

use crate::errors::runtime_busy;
use pyo3::prelude::*;

/// An engine value, present unless a runtime has it.
pub struct Slot<T> {
    value: Option<T>,
    // The Python class name, for the error.
    what: &'static str,
}

impl<T> Slot<T> {
    pub fn new(what: &'static str, value: T) -> Self {
        Slot {
            value: Some(value),
            what,
        }
    }
    /// The value; `RuntimeBusy` while a runtime has it.
    pub fn get(&self) -> PyResult<&T> {
        self.value.as_ref().ok_or_else(|| runtime_busy(self.what))
    }
    /// The value, mutably; `RuntimeBusy` while a runtime has it.
    pub fn get_mut(&mut self) -> PyResult<&mut T> {
        let what = self.what;
        self.value.as_mut().ok_or_else(|| runtime_busy(what))
    }
    /// Takes the value out (for a runtime); `RuntimeBusy` if taken already.
    pub fn take(&mut self) -> PyResult<T> {
        self.value.take().ok_or_else(|| runtime_busy(self.what))
    }
    /// Puts the value back (at the runtime's shutdown).
    pub fn put(&mut self, value: T) {
        self.value = Some(value);
    }
    /// The value, if present (no error).
    pub fn peek(&self) -> Option<&T> {
        self.value.as_ref()
    }
}
