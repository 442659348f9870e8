//! Conversions shared by the bindings of the signed-message layers:
//! exact decimals, fixed-size byte strings, and the mapping of the engine's
//! wire and crypto errors to `kabuken.errors`.

use crate::errors::error;
use kabuken::crypto::{CryptoError, WireError};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};
use rust_decimal::Decimal;

/// `N` bytes from a Python bytes-like argument, or `ValueError`.
pub fn fixed<const N: usize>(b: &[u8], what: &str) -> PyResult<[u8; N]> {
    b.try_into()
        .map_err(|_| PyValueError::new_err(format!("{what} is {N} bytes, not {}", b.len())))
}

/// An exact amount from `int`, `str` or `decimal.Decimal` (floats are
/// refused: they are not exact).
pub fn decimal_arg(ob: &Bound<'_, PyAny>) -> PyResult<Decimal> {
    if ob.is_instance_of::<PyBool>() || ob.is_instance_of::<PyFloat>() {
        return Err(PyTypeError::new_err(
            "an amount must be an int, a str or a decimal.Decimal (floats are not exact)",
        ));
    }
    let text = if ob.is_instance_of::<PyInt>() || ob.is_instance_of::<PyString>() {
        ob.str()?.to_cow()?.into_owned()
    } else {
        let decimal = ob.py().import("decimal")?.getattr("Decimal")?;
        if !ob.is_instance(&decimal)? {
            return Err(PyTypeError::new_err(format!(
                "an amount must be an int, a str or a decimal.Decimal, not {}",
                ob.get_type().name()?
            )));
        }
        ob.str()?.to_cow()?.into_owned()
    };
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(&text)
    } else {
        Decimal::from_str_exact(text.trim())
    };
    parsed.map_err(|e| PyValueError::new_err(format!("not an exact amount: {text:?} ({e})")))
}

/// A `decimal.Decimal` with the exact value of `d`.
pub fn decimal_out<'py>(py: Python<'py>, d: Decimal) -> PyResult<Bound<'py, PyAny>> {
    py.import("decimal")?
        .getattr("Decimal")?
        .call1((d.to_string(),))
}

fn wire_kind(e: WireError) -> &'static str {
    match e {
        WireError::Truncated => "truncated",
        WireError::TrailingBytes => "trailing_bytes",
        WireError::TooLong => "too_long",
        WireError::BadUtf8 => "bad_utf8",
        WireError::BadTag => "bad_tag",
        WireError::BadVersion => "bad_version",
        WireError::WrongKind => "wrong_kind",
        WireError::NonCanonical => "non_canonical",
    }
}

/// `DecodeError(message, kind)`.
pub fn wire_error(py: Python<'_>, e: WireError) -> PyErr {
    error(py, "DecodeError", (e.to_string(), wire_kind(e)))
}

/// The stable name of a crypto error.
pub fn crypto_kind(e: &CryptoError) -> &'static str {
    match e {
        CryptoError::BadKey => "bad_key",
        CryptoError::WeakKey => "weak_key",
        CryptoError::BadSignature => "bad_signature",
        CryptoError::BatchFailed(_) => "batch_failed",
        CryptoError::BadBatch => "bad_batch",
    }
}

/// `CryptoError(message, kind, indices)`; `indices` names the bad items
/// of a failed batch.
pub fn crypto_error(py: Python<'_>, e: &CryptoError) -> PyErr {
    let indices = match e {
        CryptoError::BatchFailed(v) => Some(v.clone()),
        _ => None,
    };
    error(py, "CryptoError", (e.to_string(), crypto_kind(e), indices))
}
