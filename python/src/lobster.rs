//! LOBSTER samples: loading into numpy arrays, and the book's top levels over
//! time from the engine's reconstruction (`kabuken::replay::lobster`).

use crate::errors::{format_error, replay_error};
use kabuken::replay::lobster::{self as lob, LobsterError};
use kabuken::types::Side as KSide;
use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::path::PathBuf;

fn lobster_error(py: Python<'_>, path: &std::path::Path, e: LobsterError) -> PyErr {
    match e {
        LobsterError::Io(io) => io.into(),
        LobsterError::Zip(_) | LobsterError::Parse { .. } | LobsterError::Shape(_) => {
            format_error(py, format!("{}: {e}", path.display()))
        }
    }
}

fn load(py: Python<'_>, path: &std::path::Path) -> PyResult<lob::LobsterData> {
    let owned = path.to_path_buf();
    py.detach(move || lob::load_zip(&owned))
        .map_err(|e| lobster_error(py, path, e))
}

/// Loads a LOBSTER sample zip: the message file as columns and the orderbook
/// file as a 2-D int64 array of shape (rows, 4 * levels).
#[pyfunction]
pub fn load_lobster(
    py: Python<'_>,
    path: PathBuf,
) -> PyResult<(Bound<'_, PyDict>, Bound<'_, PyAny>)> {
    let data = load(py, &path)?;
    let n = data.messages.len();
    let mut time_ns = Vec::with_capacity(n);
    let mut kind = Vec::with_capacity(n);
    let mut id = Vec::with_capacity(n);
    let mut size = Vec::with_capacity(n);
    let mut price = Vec::with_capacity(n);
    let mut direction = Vec::with_capacity(n);
    for m in &data.messages {
        time_ns.push(m.time_ns);
        kind.push(m.kind);
        id.push(m.id);
        size.push(m.size);
        price.push(m.price);
        direction.push(if m.side == KSide::Buy { 1i8 } else { -1i8 });
    }
    let d = PyDict::new(py);
    d.set_item("time_ns", PyArray1::from_vec(py, time_ns))?;
    d.set_item("kind", PyArray1::from_vec(py, kind))?;
    d.set_item("id", PyArray1::from_vec(py, id))?;
    d.set_item("size", PyArray1::from_vec(py, size))?;
    d.set_item("price", PyArray1::from_vec(py, price))?;
    d.set_item("direction", PyArray1::from_vec(py, direction))?;
    let rows = data.rows();
    let width = 4 * data.levels;
    let book = PyArray1::from_vec(py, data.book).reshape([rows, width])?;
    Ok((d, book.into_any()))
}

/// The book's top `levels` levels after every message of a LOBSTER sample,
/// reconstructed by the engine (with resynchronisation from the orderbook
/// file), and a summary of the reconstruction.
#[pyfunction]
#[pyo3(signature = (path, levels=5, compare_levels=None))]
pub fn lobster_top_of_book<'py>(
    py: Python<'py>,
    path: PathBuf,
    levels: usize,
    compare_levels: Option<usize>,
) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>)> {
    if levels == 0 || levels > 100 {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "levels must be in 1..=100",
        ));
    }
    let data = load(py, &path)?;
    if data.rows() == 0 {
        return Err(replay_error(py, format!("{}: no messages", path.display())));
    }
    let compare = compare_levels.unwrap_or_else(|| lob::default_compare_levels(data.levels));
    let rows = data.rows();
    let tick = data.tick();
    let scale = tick as f64 / 10_000.0;
    let (rec, bid_p, bid_q, ask_p, ask_q) = py.detach(|| {
        let cells = rows * levels;
        let mut bid_p = vec![f64::NAN; cells];
        let mut ask_p = vec![f64::NAN; cells];
        let mut bid_q = vec![0u64; cells];
        let mut ask_q = vec![0u64; cells];
        let rec = lob::reconstruct(&data, compare, |r, book| {
            let base = r * levels;
            for (l, lv) in book.levels(KSide::Buy).take(levels).enumerate() {
                bid_p[base + l] = lv.price as f64 * scale;
                bid_q[base + l] = lv.qty;
            }
            for (l, lv) in book.levels(KSide::Sell).take(levels).enumerate() {
                ask_p[base + l] = lv.price as f64 * scale;
                ask_q[base + l] = lv.qty;
            }
        });
        (rec, bid_p, bid_q, ask_p, ask_q)
    });
    let time_ns: Vec<u64> = data.messages.iter().map(|m| m.time_ns).collect();
    let d = PyDict::new(py);
    d.set_item("time_ns", PyArray1::from_vec(py, time_ns))?;
    d.set_item(
        "bid_price",
        PyArray1::from_vec(py, bid_p).reshape([rows, levels])?,
    )?;
    d.set_item(
        "bid_size",
        PyArray1::from_vec(py, bid_q).reshape([rows, levels])?,
    )?;
    d.set_item(
        "ask_price",
        PyArray1::from_vec(py, ask_p).reshape([rows, levels])?,
    )?;
    d.set_item(
        "ask_size",
        PyArray1::from_vec(py, ask_q).reshape([rows, levels])?,
    )?;
    let s = PyDict::new(py);
    s.set_item("rows", rec.rows)?;
    s.set_item("agree", rec.agree)?;
    s.set_item("agreement", rec.agreement())?;
    s.set_item("compared_levels", rec.compared_levels)?;
    s.set_item("file_levels", data.levels)?;
    s.set_item("commands", rec.commands.len())?;
    s.set_item("message_commands", rec.message_commands)?;
    s.set_item("skipped", rec.skipped)?;
    s.set_item("tick", rec.tick)?;
    s.set_item("state_hash", PyBytes::new(py, &rec.state_hash))?;
    Ok((d, s))
}
