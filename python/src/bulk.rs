//! Bulk paths: replay of command columns into a book (events out as
//! columns), and the Flash workload loader. No per-order Python objects; the
//! GIL is released while the engine works; outputs are numpy arrays that take
//! ownership of the Rust vectors (no copy).

use crate::book::Book;
use crate::errors::format_error;
use kabuken::book::{self as kb, Sink};
use kabuken::replay::flash;
use kabuken::types::Side as KSide;
use numpy::{Element, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1};
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

/// Words per event row (see `EVENT_FIELDS`).
pub const ROW_WORDS: usize = 8;

/// Event rows, filled by the book as a `Sink`: one 64-byte row per event
/// (a single sequential write stream; Python views the buffer as a
/// structured array without copying). Words: index, id, maker_id, price,
/// qty, remaining, taker_remaining, and one word whose first three bytes in
/// memory are kind, side, reason.
///
/// Rows go into a buffer numpy allocated (numpy asks the kernel for huge
/// pages for large arrays, which halves the cost of first touching the
/// output); rows beyond its capacity spill into a Rust vector.
struct Columns<'a> {
    cur: u64,
    buf: &'a mut [u64],
    used: usize,
    spill: Vec<u64>,
}

impl<'a> Columns<'a> {
    fn new(buf: &'a mut [u64]) -> Self {
        Columns {
            cur: 0,
            buf,
            used: 0,
            spill: Vec::new(),
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
        let tail = u64::from_ne_bytes([kind, side as u8, reason, 0, 0, 0, 0, 0]);
        let row = [
            self.cur,
            id,
            maker_id,
            price as u64,
            qty,
            remaining,
            taker_remaining,
            tail,
        ];
        if let Some(dst) = self.buf.get_mut(self.used..self.used + ROW_WORDS) {
            dst.copy_from_slice(&row);
            self.used += ROW_WORDS;
        } else {
            self.spill.extend_from_slice(&row);
        }
    }
}

impl Sink for Columns<'_> {
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
fn apply_row<S: Sink>(book: &mut kb::Book, inp: &Input<'_>, i: usize, out: &mut S) {
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

/// Counts events by kind (for replays that want the final book only).
#[derive(Default)]
struct Counts {
    by_kind: [u64; 6],
}

impl Sink for Counts {
    #[inline(always)]
    fn event(&mut self, e: kb::Event) {
        let k = match e {
            kb::Event::Accepted { .. } => EV_ACCEPTED,
            kb::Event::Trade { .. } => EV_TRADE,
            kb::Event::Cancelled { .. } => EV_CANCELLED,
            kb::Event::Modified { .. } => EV_MODIFIED,
            kb::Event::Reduced { .. } => EV_REDUCED,
            kb::Event::Rejected { .. } => EV_REJECTED,
        };
        self.by_kind[k as usize] += 1;
    }
}

trait RowSink: Sink {
    fn set_row(&mut self, i: usize);
}

impl RowSink for Columns<'_> {
    #[inline(always)]
    fn set_row(&mut self, i: usize) {
        self.cur = i as u64;
    }
}

impl RowSink for Counts {
    #[inline(always)]
    fn set_row(&mut self, _i: usize) {}
}

fn replay_loop<S: RowSink>(book: &mut kb::Book, inp: &Input<'_>, out: &mut S) {
    let n = inp.kind.len();
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
        out.set_row(i);
        apply_row(book, inp, i, out);
    }
}

/// Replays command columns into `book` (see `kabuken.replay`). With
/// `events=False` only the number of events of each kind is returned
/// (`{"counts": uint64[6]}`, indexed by EV_*).
#[pyfunction]
#[pyo3(signature = (columns, book, events=true))]
pub fn replay_columns<'py>(
    py: Python<'py>,
    columns: &Bound<'py, PyDict>,
    book: &Bound<'py, Book>,
    events: bool,
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
    if events {
        // Room for 1.5 events per command; untouched rows cost no memory.
        let cap_rows = n + n / 2 + 64;
        let arr = PyArray2::<u64>::zeros(py, [cap_rows, ROW_WORDS], false);
        let mut rw = arr.try_readwrite()?;
        let buf = rw.as_slice_mut()?;
        let (used, spill) = py.detach(|| {
            let mut out = Columns::new(buf);
            replay_loop(inner, &inp, &mut out);
            (out.used, out.spill)
        });
        drop(rw);
        drop(guard);
        let d = PyDict::new(py);
        if spill.is_empty() {
            d.set_item("rows", arr)?;
            d.set_item("count", used / ROW_WORDS)?;
        } else {
            let mut all = Vec::with_capacity(used + spill.len());
            all.extend_from_slice(&arr.readonly().as_slice()?[..used]);
            all.extend_from_slice(&spill);
            let count = all.len() / ROW_WORDS;
            d.set_item(
                "rows",
                PyArray1::from_vec(py, all).reshape([count, ROW_WORDS])?,
            )?;
            d.set_item("count", count)?;
        }
        Ok(d)
    } else {
        let counts = py.detach(|| {
            let mut c = Counts::default();
            replay_loop(inner, &inp, &mut c);
            c.by_kind
        });
        drop(guard);
        let d = PyDict::new(py);
        d.set_item("counts", PyArray1::from_slice(py, &counts))?;
        Ok(d)
    }
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
