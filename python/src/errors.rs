//! Raising the exceptions of `kabuken.errors` (defined in Python so they
//! carry typed attributes) from Rust.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// An exception of class `name` from `kabuken.errors`, built with `args`.
pub fn error<'py, A>(py: Python<'py>, name: &str, args: A) -> PyErr
where
    A: pyo3::call::PyCallArgs<'py>,
{
    let built = (|| -> PyResult<PyErr> {
        let module = ERRORS.get_or_try_init(py, || {
            PyModule::import(py, "kabuken.errors").map(Bound::unbind)
        })?;
        let class = module.bind(py).getattr(name)?;
        let value = class.call1(args)?;
        Ok(PyErr::from_value(value))
    })();
    built.unwrap_or_else(|e| e)
}

/// `ConfigError(message)`.
pub fn config_error(py: Python<'_>, message: impl Into<String>) -> PyErr {
    error(py, "ConfigError", (message.into(),))
}

/// `FormatError(message)`.
pub fn format_error(py: Python<'_>, message: impl Into<String>) -> PyErr {
    error(py, "FormatError", (message.into(),))
}

/// `ReplayError(message)`.
pub fn replay_error(py: Python<'_>, message: impl Into<String>) -> PyErr {
    error(py, "ReplayError", (message.into(),))
}

/// `RuntimeFailed(message)`: the runtime that owned `what` failed.
pub fn runtime_failed(what: &str) -> PyErr {
    Python::attach(|py| {
        error(
            py,
            "RuntimeFailed",
            (format!(
                "the Runtime that owned this {what} failed (an engine bug): its state was not handed back"
            ),),
        )
    })
}

/// `RuntimeBusy(message)`: `what` is owned by a running `Runtime`.
pub fn runtime_busy(what: &str) -> PyErr {
    Python::attach(|py| {
        error(
            py,
            "RuntimeBusy",
            (format!(
                "this {what} is owned by a running Runtime until Runtime.shutdown()"
            ),),
        )
    })
}
