//! Bulk paths: replay of command columns into a book (events out as
//! columns), and the Flash workload loader. No per-order Python objects; the
//! GIL is released while the engine works; outputs are numpy arrays that take
//! ownership of the Rust vectors (no copy).

use crate::book::Book;
use crate::errors::format_error;
use kabuken::book::{self as kb, Sink};
use kabuken::replay::flash;
use kabuken::types::Side as KSide;
use numpy::{Element, PyArray1, PyReadonlyArray1};
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::path::PathBuf;

/// Command kinds of the bulk path (0-2 as in the Flash workloads).
pub const CMD_NEW: u8 = 0;
pub const CMD_CANCEL: u8 = 1;
pub const CMD_MODIFY: u8 = 2;
pub const CMD_REDUCE: u8 = 3;
pub const CMD_ADVANCE_TIME: u8 = 4;
pub const CMD_EXPIRE_DAY: u8 = 5;

/// Event kinds of the bulk path.
pub const EV_ACCEPTED: u8 = 0;
pub const EV_TRADE: u8 = 1;
pub const EV_CANCELLED: u8 = 2;
pub const EV_MODIFIED: u8 = 3;
pub const EV_REDUCED: u8 = 4;
pub const EV_REJECTED: u8 = 5;

/// The price column's value for "no price" (market orders).
pub const NO_PRICE: i64 = i64::MIN;

const INDEX_AHEAD: usize = 16;
const ORDER_AHEAD: usize = 6;

/// Event columns, filled by the book as a `Sink`.
#[derive(Default)]
struct Columns {
    cur: u64,
    index: Vec<u64>,
    kind: Vec<u8>,
    id: Vec<u64>,
    maker_id: Vec<u64>,
    side: Vec<u8>,
    price: Vec<i64>,
    qty: Vec<u64>,
    remaining: Vec<u64>,
    taker_remaining: Vec<u64>,
    reason: Vec<u8>,
}

impl Columns {
    fn with_capacity(n: usize) -> Self {
        Columns {
            cur: 0,
            index: Vec::with_capacity(n),
            kind: Vec::with_capacity(n),
            id: Vec::with_capacity(n),
            maker_id: Vec::with_capacity(n),
            side: Vec::with_capacity(n),
            price: Vec::with_capacity(n),
            qty: Vec::with_capacity(n),
            remaining: Vec::with_capacity(n),
            taker_remaining: Vec::with_capacity(n),
            reason: Vec::with_capacity(n),
        }
    }

    #[inline(always)]
    fn push(
        &mut self,
        kind: u8,
        id: u64,
        maker_id: u64,
        side: KSide,
        price: i64,
        qty: u64,
        remaining: u64,
        taker_remaining: u64,
        reason: u8,
    ) {
        self.index.push(self.cur);
        self.kind.push(kind);
        self.id.push(id);
        self.maker_id.push(maker_id);
        self.side.push(side as u8);
        self.price.push(price);
        self.qty.push(qty);
        self.remaining.push(remaining);
        self.taker_remaining.push(taker_remaining);
        self.reason.push(reason);
    }

    fn into_dict<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("index", PyArray1::from_vec(py, self.index))?;
        d.set_item("kind", PyArray1::from_vec(py, self.kind))?;
        d.set_item("id", PyArray1::from_vec(py, self.id))?;
        d.set_item("maker_id", PyArray1::from_vec(py, self.maker_id))?;
        d.set_item("side", PyArray1::from_vec(py, self.side))?;
        d.set_item("price", PyArray1::from_vec(py, self.price))?;
        d.set_item("qty", PyArray1::from_vec(py, self.qty))?;
        d.set_item("remaining", PyArray1::from_vec(py, self.remaining))?;
        d.set_item(
            "taker_remaining",
            PyArray1::from_vec(py, self.taker_remaining),
        )?;
        d.set_item("reason", PyArray1::from_vec(py, self.reason))?;
        Ok(d)
    }
}

impl Sink for Columns {
    #[inline(always)]
    fn event(&mut self, e: kb::Event) {
        match e {
            kb::Event::Accepted {
                id,
                side,
                price,
                qty,
            } => self.push(
                EV_ACCEPTED,
                id,
                0,
                side,
                price.unwrap_or(NO_PRICE),
                qty,
                qty,
                0,
                0,
            ),
            kb::Event::Trade {
                maker_id,
                taker_id,
                taker_side,
                price,
                qty,
                maker_remaining,
                taker_remaining,
            } => self.push(
                EV_TRADE,
                taker_id,
                maker_id,
                taker_side,
                price,
                qty,
                maker_remaining,
                taker_remaining,
                0,
            ),
            kb::Event::Cancelled {
                id,
                side,
                price,
                qty,
                reason,
            } => self.push(
                EV_CANCELLED,
                id,
                0,
                side,
                price.unwrap_or(NO_PRICE),
                qty,
                0,
                0,
                reason as u8,
            ),
            kb::Event::Reduced {
                id,
                side,
                qty,
                remaining,
                reason,
            } => self.push(
                EV_REDUCED,
                id,
                0,
                side,
                NO_PRICE,
                qty,
                remaining,
                0,
                reason as u8,
            ),
            kb::Event::Modified {
                id,
                side,
                price,
                qty,
            } => self.push(EV_MODIFIED, id, 0, side, price, qty, qty, 0, 0),
            kb::Event::Rejected {
                id,
                command,
                reason,
            } => self.push(
                EV_REJECTED,
                id,
                command as u64,
                KSide::Buy,
                NO_PRICE,
                0,
                0,
                0,
                reason as u8,
            ),
        }
    }
}

fn column<'py, T: Element>(
    cols: &Bound<'py, PyDict>,
    name: &str,
) -> PyResult<Option<PyReadonlyArray1<'py, T>>> {
    match cols.get_item(name)? {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => Ok(Some(v.extract()?)),
    }
}

fn slice<'a, T: Element>(
    a: &'a Option<PyReadonlyArray1<'_, T>>,
    name: &str,
    n: usize,
) -> PyResult<Option<&'a [T]>> {
    match a {
        None => Ok(None),
        Some(a) => {
            let s = a
                .as_slice()
                .map_err(|_| PyValueError::new_err(format!("column {name:?} is not contiguous")))?;
            if s.len() != n {
                return Err(PyValueError::new_err(format!(
                    "column {name:?} has {} rows, 'kind' has {n}",
                    s.len()
                )));
            }
            Ok(Some(s))
        }
    }
}

fn check_max(col: Option<&[u8]>, name: &str, max: u8) -> PyResult<()> {
    if let Some(c) = col {
        if let Some(i) = c.iter().position(|&v| v > max) {
            return Err(PyValueError::new_err(format!(
                "column {name:?} row {i}: {} is not in 0..={max}",
                c[i]
            )));
        }
    }
    Ok(())
}

#[inline(always)]
fn at<T: Copy>(c: Option<&[T]>, i: usize, default: T) -> T {
    match c {
        Some(c) => c[i],
        None => default,
    }
}

/// The column slices of one replay.
struct Input<'a> {
    kind: &'a [u8],
    id: &'a [u64],
    side: Option<&'a [u8]>,
    tif: Option<&'a [u8]>,
    qty: Option<&'a [u64]>,
    price: Option<&'a [i64]>,
    market: Option<&'a [u8]>,
    post_only: Option<&'a [u8]>,
    owner: Option<&'a [u64]>,
    stp: Option<&'a [u8]>,
    time: Option<&'a [u64]>,
}

#[inline(always)]
fn apply_row(book: &mut kb::Book, inp: &Input<'_>, i: usize, out: &mut Columns) {
    let id = inp.id[i];
    // Refusals are reported as Rejected events.
    let _ = match inp.kind[i] {
        CMD_NEW => {
            let time = at(inp.time, i, 0);
            let tif = match at(inp.tif, i, 0) {
                1 => kb::TimeInForce::Ioc,
                2 => kb::TimeInForce::Fok,
                3 => kb::TimeInForce::Day,
                4 => kb::TimeInForce::Gtd(time),
                _ => kb::TimeInForce::Gtc,
            };
            let side = if at(inp.side, i, 0) == 0 {
                KSide::Buy
            } else {
                KSide::Sell
            };
            let o = kb::NewOrder {
                id,
                side,
                price: if at(inp.market, i, 0) != 0 {
                    None
                } else {
                    Some(at(inp.price, i, 0))
                },
                qty: at(inp.qty, i, 0),
                tif,
                post_only: at(inp.post_only, i, 0) != 0,
                owner: at(inp.owner, i, 0),
                stp: kb::StpMode::from_u8(at(inp.stp, i, 0)).unwrap_or_default(),
            };
            book.submit(&o, out)
        }
        CMD_CANCEL => book.cancel(id, out),
        CMD_MODIFY => book.modify(id, at(inp.price, i, 0), at(inp.qty, i, 0), out),
        CMD_REDUCE => book.reduce(id, at(inp.qty, i, 0), out),
        CMD_ADVANCE_TIME => {
            book.advance_time(at(inp.time, i, 0), out);
            Ok(())
        }
        _ => {
            book.expire_day(out);
            Ok(())
        }
    };
}

fn replay_loop(book: &mut kb::Book, inp: &Input<'_>) -> Columns {
    let n = inp.kind.len();
    let mut out = Columns::with_capacity(n + n / 2 + 16);
    for i in 0..n {
        // Prefetch the id-index entry and the resting order of commands a
        // little ahead (random ids would otherwise wait on memory), as
        // `kabuken::replay::flash::replay` does.
        if i + INDEX_AHEAD < n {
            book.prefetch_index(inp.id[i + INDEX_AHEAD]);
        }
        if i + ORDER_AHEAD < n && inp.kind[i + ORDER_AHEAD] != CMD_NEW {
            book.prefetch_order(inp.id[i + ORDER_AHEAD]);
        }
        out.cur = i as u64;
        apply_row(book, inp, i, &mut out);
    }
    out
}

/// Replays command columns into `book` (see `kabuken.replay`).
#[pyfunction]
pub fn replay_columns<'py>(
    py: Python<'py>,
    columns: &Bound<'py, PyDict>,
    book: &Bound<'py, Book>,
) -> PyResult<Bound<'py, PyDict>> {
    let kind_a = column::<u8>(columns, "kind")?
        .ok_or_else(|| PyKeyError::new_err("the 'kind' column is required"))?;
    let id_a = Some(
        column::<u64>(columns, "id")?
            .ok_or_else(|| PyKeyError::new_err("the 'id' column is required"))?,
    );
    let side_a = column::<u8>(columns, "side")?;
    let tif_a = column::<u8>(columns, "tif")?;
    let qty_a = column::<u64>(columns, "qty")?;
    let price_a = column::<i64>(columns, "price")?;
    let market_a = column::<u8>(columns, "market")?;
    let post_a = column::<u8>(columns, "post_only")?;
    let owner_a = column::<u64>(columns, "owner")?;
    let stp_a = column::<u8>(columns, "stp")?;
    let time_a = column::<u64>(columns, "time")?;
    let kind = kind_a
        .as_slice()
        .map_err(|_| PyValueError::new_err("column 'kind' is not contiguous"))?;
    let n = kind.len();
    let inp = Input {
        kind,
        id: slice(&id_a, "id", n)?.unwrap_or(&[]),
        side: slice(&side_a, "side", n)?,
        tif: slice(&tif_a, "tif", n)?,
        qty: slice(&qty_a, "qty", n)?,
        price: slice(&price_a, "price", n)?,
        market: slice(&market_a, "market", n)?,
        post_only: slice(&post_a, "post_only", n)?,
        owner: slice(&owner_a, "owner", n)?,
        stp: slice(&stp_a, "stp", n)?,
        time: slice(&time_a, "time", n)?,
    };
    // Validate every code before touching the book: bad input changes nothing.
    check_max(Some(inp.kind), "kind", CMD_EXPIRE_DAY)?;
    check_max(inp.side, "side", 1)?;
    check_max(inp.tif, "tif", 4)?;
    check_max(inp.market, "market", 1)?;
    check_max(inp.post_only, "post_only", 1)?;
    check_max(inp.stp, "stp", 4)?;
    let mut guard = book.try_borrow_mut()?;
    let inner: &mut kb::Book = &mut guard.inner;
    let out = py.detach(|| replay_loop(inner, &inp));
    drop(guard);
    out.into_dict(py)
}

/// Flash messages as command columns.
fn flash_columns(py: Python<'_>, msgs: Vec<flash::Msg>) -> PyResult<Bound<'_, PyDict>> {
    let n = msgs.len();
    let (mut kind, mut side, mut tif) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut qty, mut seq, mut id, mut price) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for m in &msgs {
        let (k, s, t, q, sq, i, p) = match *m {
            flash::Msg::New {
                seq,
                id,
                side,
                price,
                qty,
                ioc,
            } => (CMD_NEW, side as u8, u8::from(ioc), qty, seq, id, price),
            flash::Msg::Cancel { seq, id } => (CMD_CANCEL, 0, 0, 0, seq, id, 0),
            flash::Msg::Modify {
                seq,
                id,
                side,
                price,
                qty,
            } => (CMD_MODIFY, side as u8, 0, qty, seq, id, price),
        };
        kind.push(k);
        side.push(s);
        tif.push(t);
        qty.push(u64::from(q));
        seq.push(sq);
        id.push(i);
        price.push(p);
    }
    drop(msgs);
    let d = PyDict::new(py);
    d.set_item("kind", PyArray1::from_vec(py, kind))?;
    d.set_item("side", PyArray1::from_vec(py, side))?;
    d.set_item("tif", PyArray1::from_vec(py, tif))?;
    d.set_item("qty", PyArray1::from_vec(py, qty))?;
    d.set_item("seq", PyArray1::from_vec(py, seq))?;
    d.set_item("id", PyArray1::from_vec(py, id))?;
    d.set_item("price", PyArray1::from_vec(py, price))?;
    Ok(d)
}

/// Loads a Flash workload file (`.bin` or `.bin.xz`) as command columns.
#[pyfunction]
pub fn load_flash(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyDict>> {
    let parsed = py.detach(|| {
        let bytes = kabuken::replay::read_maybe_xz(&path)?;
        Ok::<_, std::io::Error>(flash::parse(&bytes))
    })?;
    let msgs = parsed.map_err(|e| format_error(py, format!("{}: {e}", path.display())))?;
    flash_columns(py, msgs)
}

/// Parses the bytes of a (decompressed) Flash workload as command columns.
#[pyfunction]
pub fn parse_flash<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyBytes>,
) -> PyResult<Bound<'py, PyDict>> {
    let bytes = data.as_bytes();
    let msgs = flash::parse(bytes).map_err(|e| format_error(py, e.to_string()))?;
    flash_columns(py, msgs)
}

/// The SHA-256 (hex) of the canonical report stream of a Flash workload
/// replayed into a fresh Flash-rules book (the conformance check).
#[pyfunction]
pub fn flash_report_sha256(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    let parsed = py.detach(|| {
        let bytes = kabuken::replay::read_maybe_xz(&path)?;
        Ok::<_, std::io::Error>(flash::parse(&bytes))
    })?;
    let msgs = parsed.map_err(|e| format_error(py, format!("{}: {e}", path.display())))?;
    Ok(py.detach(|| {
        let mut h = flash::ReportHasher::new();
        flash::replay(&msgs, &mut h);
        h.finish().0
    }))
}
