//! The Flash matching-engine benchmark workloads and their canonical report
//! stream (the external conformance set in `../shared/conformance/flash/`;
//! its README is the specification).
//!
//! A workload is a 16-byte header (`100_WBEM`, version 1, message count) and
//! one 40-byte little-endian record per message. [`parse`] reads it strictly;
//! [`Reporter`] turns the book's events into report lines; [`replay`] drives a
//! book with a workload and feeds every report to a [`ReportOut`] (a SHA-256
//! of the canonical text stream, a file writer, or a cheap counter for
//! throughput runs).

use crate::book::{Book, BookConfig, CommandKind, Event, NewOrder, Sink, TimeInForce};
use crate::types::Side;
use core::fmt;
use sha2::{Digest, Sha256};

/// The header magic.
pub const MAGIC: &[u8; 8] = b"100_WBEM";
/// Bytes per record.
pub const RECORD_LEN: usize = 40;
/// Bytes of the header.
pub const HEADER_LEN: usize = 16;

/// A workload message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    /// A new limit order (IOC or resting).
    New {
        /// Sequence number.
        seq: u64,
        /// Order id.
        id: u64,
        /// Side.
        side: Side,
        /// Limit price (ticks).
        price: i64,
        /// Quantity.
        qty: u32,
        /// Immediate-or-cancel.
        ioc: bool,
    },
    /// Cancel an order.
    Cancel {
        /// Sequence number.
        seq: u64,
        /// Order id.
        id: u64,
    },
    /// Modify an order to a new price and size.
    Modify {
        /// Sequence number.
        seq: u64,
        /// Order id.
        id: u64,
        /// Side as written in the record.
        side: Side,
        /// New limit price.
        price: i64,
        /// New size.
        qty: u32,
    },
}

impl Msg {
    /// The order id the message names.
    #[must_use]
    pub fn id(&self) -> u64 {
        match *self {
            Msg::New { id, .. } | Msg::Cancel { id, .. } | Msg::Modify { id, .. } => id,
        }
    }

    /// The message's sequence number.
    #[must_use]
    pub fn seq(&self) -> u64 {
        match *self {
            Msg::New { seq, .. } | Msg::Cancel { seq, .. } | Msg::Modify { seq, .. } => seq,
        }
    }
}

/// Why a workload file was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlashError {
    /// Shorter than the header.
    Truncated,
    /// The first 8 bytes are not `100_WBEM`.
    BadMagic,
    /// A version other than 1.
    UnsupportedVersion(u32),
    /// The byte length does not match the message count.
    LengthMismatch {
        /// Records the header announces.
        count: u32,
        /// Bytes after the header.
        body: usize,
    },
    /// A record with an invalid field.
    BadRecord {
        /// Record index.
        index: usize,
        /// What is wrong.
        what: &'static str,
    },
}

impl fmt::Display for FlashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlashError::Truncated => f.write_str("file shorter than the 16-byte header"),
            FlashError::BadMagic => f.write_str("not a Flash workload (magic is not 100_WBEM)"),
            FlashError::UnsupportedVersion(v) => write!(f, "unsupported workload version {v}"),
            FlashError::LengthMismatch { count, body } => write!(
                f,
                "header announces {count} records of 40 bytes but {body} bytes follow"
            ),
            FlashError::BadRecord { index, what } => write!(f, "record {index}: {what}"),
        }
    }
}

impl std::error::Error for FlashError {}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Parses a whole (decompressed) workload.
///
/// # Errors
/// A [`FlashError`] naming the first problem.
pub fn parse(bytes: &[u8]) -> Result<Vec<Msg>, FlashError> {
    if bytes.len() < HEADER_LEN {
        return Err(FlashError::Truncated);
    }
    if &bytes[..8] != MAGIC {
        return Err(FlashError::BadMagic);
    }
    let version = u32_at(bytes, 8);
    if version != 1 {
        return Err(FlashError::UnsupportedVersion(version));
    }
    let count = u32_at(bytes, 12);
    let body = &bytes[HEADER_LEN..];
    if body.len() != count as usize * RECORD_LEN {
        return Err(FlashError::LengthMismatch {
            count,
            body: body.len(),
        });
    }
    let mut out = Vec::with_capacity(count as usize);
    for (index, r) in body.chunks_exact(RECORD_LEN).enumerate() {
        let bad = |what| FlashError::BadRecord { index, what };
        let side = Side::from_u8(r[1]);
        let qty = u32_at(r, 4);
        let seq = u64_at(r, 8);
        let id = u64_at(r, 16);
        let price = u64_at(r, 24) as i64;
        if r[2] > 1 {
            return Err(bad("ioc flag is not 0 or 1"));
        }
        out.push(match r[0] {
            0 => Msg::New {
                seq,
                id,
                side: side.ok_or_else(|| bad("side is not 0 or 1"))?,
                price,
                qty,
                ioc: r[2] == 1,
            },
            1 => Msg::Cancel { seq, id },
            2 => Msg::Modify {
                seq,
                id,
                side: side.ok_or_else(|| bad("side is not 0 or 1"))?,
                price,
                qty,
            },
            _ => return Err(bad("kind is not 0, 1 or 2")),
        });
    }
    Ok(out)
}

/// Encodes messages as a workload file (the inverse of [`parse`]).
#[must_use]
pub fn encode(msgs: &[Msg]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + msgs.len() * RECORD_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&(msgs.len() as u32).to_le_bytes());
    for m in msgs {
        let mut r = [0u8; RECORD_LEN];
        let (kind, side, ioc, qty, seq, id, price) = match *m {
            Msg::New {
                seq,
                id,
                side,
                price,
                qty,
                ioc,
            } => (0u8, side as u8, u8::from(ioc), qty, seq, id, price),
            Msg::Cancel { seq, id } => (1, 0, 0, 0, seq, id, 0),
            Msg::Modify {
                seq,
                id,
                side,
                price,
                qty,
            } => (2, side as u8, 0, qty, seq, id, price),
        };
        r[0] = kind;
        r[1] = side;
        r[2] = ioc;
        r[4..8].copy_from_slice(&qty.to_le_bytes());
        r[8..16].copy_from_slice(&seq.to_le_bytes());
        r[16..24].copy_from_slice(&id.to_le_bytes());
        r[24..32].copy_from_slice(&price.to_le_bytes());
        out.extend_from_slice(&r);
    }
    out
}

/// One line of the canonical report stream, as numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Report {
    /// `0,seq,side,id,price,quantity`.
    Accepted {
        /// Sequence number.
        seq: u64,
        /// Side.
        side: Side,
        /// Order id.
        id: u64,
        /// Price.
        price: i64,
        /// Quantity.
        qty: u64,
    },
    /// `1,seq,maker_price,fill_quantity,maker_id,taker_id`.
    Trade {
        /// Sequence number.
        seq: u64,
        /// Maker's price.
        price: i64,
        /// Fill quantity.
        qty: u64,
        /// Maker id.
        maker: u64,
        /// Taker id.
        taker: u64,
    },
    /// `2,seq,side,id,price`.
    Cancelled {
        /// Sequence number.
        seq: u64,
        /// Side.
        side: Side,
        /// Order id.
        id: u64,
        /// Price.
        price: i64,
    },
    /// `3,seq,side,id,new_price,new_quantity`.
    Modified {
        /// Sequence number.
        seq: u64,
        /// Side.
        side: Side,
        /// Order id.
        id: u64,
        /// New price.
        price: i64,
        /// New quantity.
        qty: u64,
    },
    /// `4,seq,id`.
    CancelRejected {
        /// Sequence number.
        seq: u64,
        /// Order id.
        id: u64,
    },
    /// `5,seq,id`.
    ModifyRejected {
        /// Sequence number.
        seq: u64,
        /// Order id.
        id: u64,
    },
}

impl Report {
    /// The report kind (the first field).
    #[must_use]
    pub fn kind(&self) -> u8 {
        match self {
            Report::Accepted { .. } => 0,
            Report::Trade { .. } => 1,
            Report::Cancelled { .. } => 2,
            Report::Modified { .. } => 3,
            Report::CancelRejected { .. } => 4,
            Report::ModifyRejected { .. } => 5,
        }
    }

    /// Appends the line (without newline) to `out`.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        let mut num = itoa::Buffer::new();
        let mut field = |out: &mut Vec<u8>, v: i128| {
            out.push(b',');
            out.extend_from_slice(num.format(v).as_bytes());
        };
        out.push(b'0' + self.kind());
        match *self {
            Report::Accepted {
                seq,
                side,
                id,
                price,
                qty,
            }
            | Report::Modified {
                seq,
                side,
                id,
                price,
                qty,
            } => {
                for v in [
                    i128::from(seq),
                    i128::from(side as u8),
                    i128::from(id),
                    i128::from(price),
                    i128::from(qty),
                ] {
                    field(out, v);
                }
            }
            Report::Trade {
                seq,
                price,
                qty,
                maker,
                taker,
            } => {
                for v in [
                    i128::from(seq),
                    i128::from(price),
                    i128::from(qty),
                    i128::from(maker),
                    i128::from(taker),
                ] {
                    field(out, v);
                }
            }
            Report::Cancelled {
                seq,
                side,
                id,
                price,
            } => {
                for v in [
                    i128::from(seq),
                    i128::from(side as u8),
                    i128::from(id),
                    i128::from(price),
                ] {
                    field(out, v);
                }
            }
            Report::CancelRejected { seq, id } | Report::ModifyRejected { seq, id } => {
                field(out, i128::from(seq));
                field(out, i128::from(id));
            }
        }
    }
}

/// Where a replay's reports go, one message's reports at a time, already in
/// canonical order.
pub trait ReportOut {
    /// The reports of one message.
    fn message(&mut self, reports: &[Report]);
}

/// Counts reports and folds them into a cheap checksum (for throughput
/// runs: the reports are generated, but not formatted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReportCounter {
    /// Reports by kind 0..=5.
    pub by_kind: [u64; 6],
    /// A fold of every report's fields (detects a changed stream cheaply).
    pub fold: u64,
}

impl ReportOut for ReportCounter {
    #[inline]
    fn message(&mut self, reports: &[Report]) {
        for r in reports {
            let k = r.kind();
            self.by_kind[k as usize] += 1;
            let (a, b) = match *r {
                Report::Accepted { id, qty, .. } | Report::Modified { id, qty, .. } => (id, qty),
                Report::Trade { maker, qty, .. } => (maker, qty),
                Report::Cancelled { id, price, .. } => (id, price as u64),
                Report::CancelRejected { id, .. } | Report::ModifyRejected { id, .. } => (id, 0),
            };
            self.fold = (self.fold.rotate_left(5) ^ a ^ (b << 32) ^ u64::from(k))
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
}

/// Formats the canonical text stream (lines joined by `\n`, none after the
/// last) and hashes it with SHA-256; optionally keeps the text.
#[derive(Clone, Debug, Default)]
pub struct ReportHasher {
    sha: Sha256,
    line: Vec<u8>,
    first: bool,
    keep: Option<Vec<u8>>,
    lines: u64,
}

impl ReportHasher {
    /// A hasher that keeps no text.
    #[must_use]
    pub fn new() -> Self {
        ReportHasher {
            first: true,
            ..ReportHasher::default()
        }
    }

    /// A hasher that also keeps the text (for `--out` and edge cases).
    #[must_use]
    pub fn keeping_text() -> Self {
        ReportHasher {
            keep: Some(Vec::new()),
            ..ReportHasher::new()
        }
    }

    /// Lines so far.
    #[must_use]
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// The SHA-256 (lowercase hex) and the text, if kept.
    #[must_use]
    pub fn finish(self) -> (String, Option<Vec<u8>>) {
        let digest = self.sha.finalize();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        (hex, self.keep)
    }
}

impl ReportOut for ReportHasher {
    fn message(&mut self, reports: &[Report]) {
        for r in reports {
            self.line.clear();
            if !self.first {
                self.line.push(b'\n');
            }
            self.first = false;
            r.write_line(&mut self.line);
            self.sha.update(&self.line);
            if let Some(k) = &mut self.keep {
                k.extend_from_slice(&self.line);
            }
            self.lines += 1;
        }
    }
}

/// A book [`Sink`] that turns events into the reports of the message being
/// replayed.
#[derive(Clone, Debug, Default)]
pub struct Reporter {
    seq: u64,
    buf: Vec<Report>,
    /// New orders the book refused (the stream has no line for them).
    pub unreported_rejections: u64,
}

impl Sink for Reporter {
    #[inline]
    fn event(&mut self, e: Event) {
        let seq = self.seq;
        let r = match e {
            Event::Accepted {
                id,
                side,
                price,
                qty,
                ..
            } => Report::Accepted {
                seq,
                side,
                id,
                price: price.unwrap_or(0),
                qty,
            },
            Event::Trade {
                maker_id,
                taker_id,
                price,
                qty,
                ..
            } => Report::Trade {
                seq,
                price,
                qty,
                maker: maker_id,
                taker: taker_id,
            },
            Event::Cancelled {
                id, side, price, ..
            } => Report::Cancelled {
                seq,
                side,
                id,
                price: price.unwrap_or(0),
            },
            Event::Modified {
                id,
                side,
                price,
                qty,
            } => Report::Modified {
                seq,
                side,
                id,
                price,
                qty,
            },
            Event::Rejected { id, command, .. } => match command {
                CommandKind::Cancel => Report::CancelRejected { seq, id },
                CommandKind::Modify => Report::ModifyRejected { seq, id },
                CommandKind::New | CommandKind::Reduce => {
                    self.unreported_rejections += 1;
                    return;
                }
            },
            // Flash has no reduce command and no self-trade prevention.
            Event::Reduced { .. } => return,
        };
        self.buf.push(r);
    }
}

impl Reporter {
    /// Sorts the current message's reports by kind (stable: trades keep
    /// their order), hands them to `out`, and clears them.
    #[inline]
    fn flush<O: ReportOut>(&mut self, out: &mut O) {
        let b = &mut self.buf;
        // Insertion sort: a message has a handful of reports, almost always
        // already in order (only a modify's report follows its trades).
        for i in 1..b.len() {
            let mut j = i;
            while j > 0 && b[j - 1].kind() > b[j].kind() {
                b.swap(j - 1, j);
                j -= 1;
            }
        }
        out.message(b);
        b.clear();
    }
}

/// Applies one workload message to `book`, reporting into `rep`.
#[inline]
pub fn apply(book: &mut Book, m: &Msg, rep: &mut Reporter) {
    rep.seq = m.seq();
    // Refusals are reported through the events.
    let _ = match *m {
        Msg::New {
            id,
            side,
            price,
            qty,
            ioc,
            ..
        } => {
            let tif = if ioc {
                TimeInForce::Ioc
            } else {
                TimeInForce::Gtc
            };
            book.submit(
                &NewOrder::limit(id, side, price, u64::from(qty)).with_tif(tif),
                rep,
            )
        }
        Msg::Cancel { id, .. } => book.cancel(id, rep),
        Msg::Modify { id, price, qty, .. } => book.modify(id, price, u64::from(qty), rep),
    };
}

/// Replays `msgs` into a fresh Flash-rules book, sending every message's
/// reports to `out`. Returns the book (for its state hash) and the number of
/// new orders refused without a report line.
pub fn replay<O: ReportOut>(msgs: &[Msg], out: &mut O) -> (Book, u64) {
    let mut book = Book::new(BookConfig::flash());
    book.reserve(1 << 16);
    let mut rep = Reporter::default();
    for (i, m) in msgs.iter().enumerate() {
        prefetch_ahead(&book, msgs, i);
        apply(&mut book, m, &mut rep);
        rep.flush(out);
    }
    (book, rep.unreported_rejections)
}

/// How far ahead [`replay`] prefetches id-index entries and orders.
const INDEX_AHEAD: usize = 16;
const ORDER_AHEAD: usize = 6;

/// Prefetch hints for the messages after `i` (ids are random in real flow,
/// so every lookup would otherwise wait on memory).
#[inline]
pub fn prefetch_ahead(book: &Book, msgs: &[Msg], i: usize) {
    if let Some(m) = msgs.get(i + INDEX_AHEAD) {
        book.prefetch_index(m.id());
    }
    if let Some(m) = msgs.get(i + ORDER_AHEAD) {
        if !matches!(m, Msg::New { .. }) {
            book.prefetch_order(m.id());
        }
    }
}

/// Replays one message (for harnesses that time each message).
#[inline]
pub fn replay_one<O: ReportOut>(book: &mut Book, m: &Msg, rep: &mut Reporter, out: &mut O) {
    apply(book, m, rep);
    rep.flush(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trip_and_refusals() {
        let msgs = vec![
            Msg::New {
                seq: 0,
                id: 1,
                side: Side::Sell,
                price: 100,
                qty: 10,
                ioc: false,
            },
            Msg::Modify {
                seq: 1,
                id: 1,
                side: Side::Sell,
                price: -5,
                qty: 3,
            },
            Msg::Cancel { seq: 2, id: 1 },
        ];
        let bytes = encode(&msgs);
        assert_eq!(parse(&bytes).unwrap(), msgs);
        assert_eq!(parse(&bytes[..10]), Err(FlashError::Truncated));
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert_eq!(parse(&bad), Err(FlashError::BadMagic));
        let mut bad = bytes.clone();
        bad[8] = 2;
        assert_eq!(parse(&bad), Err(FlashError::UnsupportedVersion(2)));
        let mut bad = bytes.clone();
        bad.push(0);
        assert!(matches!(
            parse(&bad),
            Err(FlashError::LengthMismatch { .. })
        ));
        let mut bad = bytes.clone();
        bad[HEADER_LEN] = 7;
        assert!(matches!(
            parse(&bad),
            Err(FlashError::BadRecord { index: 0, .. })
        ));
        let mut bad = bytes.clone();
        bad[HEADER_LEN + 1] = 2;
        assert!(matches!(
            parse(&bad),
            Err(FlashError::BadRecord { index: 0, .. })
        ));
        let mut bad = bytes;
        bad[HEADER_LEN + 2] = 9;
        assert!(matches!(
            parse(&bad),
            Err(FlashError::BadRecord { index: 0, .. })
        ));
    }

    #[test]
    fn modify_report_sorts_after_its_trades() {
        let msgs = vec![
            Msg::New {
                seq: 0,
                id: 1,
                side: Side::Sell,
                price: 100,
                qty: 10,
                ioc: false,
            },
            Msg::New {
                seq: 1,
                id: 2,
                side: Side::Buy,
                price: 99,
                qty: 10,
                ioc: false,
            },
            Msg::Modify {
                seq: 2,
                id: 2,
                side: Side::Buy,
                price: 100,
                qty: 10,
            },
            Msg::Cancel { seq: 3, id: 2 },
        ];
        let mut h = ReportHasher::keeping_text();
        replay(&msgs, &mut h);
        let (_, text) = h.finish();
        assert_eq!(
            String::from_utf8(text.unwrap()).unwrap(),
            "0,0,1,1,100,10\n0,1,0,2,99,10\n1,2,100,10,1,2\n3,2,0,2,100,10\n4,3,2"
        );
    }
}
