//! LOBSTER Nasdaq sample data: parsing, and a faithful book reconstruction.
//!
//! A sample zip holds a message file (time, type, order id, size, price x
//! 10000, direction) and an orderbook file (the top `N` levels after every
//! message: ask price, ask size, bid price, bid size per level). A level-`N`
//! file reports only events inside the top `N` levels, so orders placed
//! deeper appear later without a submit, and orders from before the window
//! are referenced without one. [`reconstruct`] therefore:
//!
//! 1. applies each message to a book: type 1 submits a limit order, 2 reduces
//!    it, 3 cancels it, 4 (execution of a visible order) becomes an
//!    opposite-side IOC order at that price and size; 5 (hidden execution),
//!    6 (cross trade) and 7 (halt) do not touch the visible book;
//! 2. compares the book's top levels with the orderbook row (counting the
//!    rows that agree);
//! 3. re-synchronises the side where they disagree: inside the window the
//!    row describes, levels the row lacks are removed, excess quantity is
//!    trimmed from the newest orders, and missing quantity is topped up with
//!    a synthetic order.
//!
//! Every book command issued (messages and resynchronisation alike) is
//! recorded, so a benchmark can replay exactly the same stream into a fresh
//! book and time the book alone.

use crate::book::{Book, BookConfig, Command, NewOrder, NullSink, TimeInForce};
use crate::types::{Qty, Side, Ticks};
use core::fmt;
use std::io::Read;
use std::path::Path;

/// LOBSTER's placeholder price for an empty ask level.
pub const EMPTY_ASK: i64 = 9_999_999_999;
/// LOBSTER's placeholder price for an empty bid level.
pub const EMPTY_BID: i64 = -9_999_999_999;
/// Synthetic order ids (takers and top-ups) start here, far above Nasdaq's.
pub const SYNTHETIC_ID_BASE: u64 = 1 << 62;

/// One row of the message file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LobsterMsg {
    /// Nanoseconds after midnight.
    pub time_ns: u64,
    /// Event type (1, 2, 3, 4, 5, 6 or 7).
    pub kind: u8,
    /// Nasdaq order reference.
    pub id: u64,
    /// Shares.
    pub size: u64,
    /// Dollar price x 10000.
    pub price: i64,
    /// Side of the (resting) order.
    pub side: Side,
}

/// A loaded sample: messages and the orderbook rows after each of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LobsterData {
    /// Levels per side in the orderbook file.
    pub levels: usize,
    /// The messages.
    pub messages: Vec<LobsterMsg>,
    /// Orderbook rows, flattened: row `i`, level `l` at `i * 4 * levels + 4 * l`
    /// holds ask price, ask size, bid price, bid size.
    pub book: Vec<i64>,
}

/// Why a LOBSTER file was refused.
#[derive(Debug)]
pub enum LobsterError {
    /// Reading the file or the zip failed.
    Io(std::io::Error),
    /// The zip is malformed or lacks a message or orderbook file.
    Zip(String),
    /// A malformed line.
    Parse {
        /// Which file.
        file: &'static str,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// The two files disagree in length or width.
    Shape(String),
}

impl fmt::Display for LobsterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LobsterError::Io(e) => write!(f, "{e}"),
            LobsterError::Zip(e) => write!(f, "zip: {e}"),
            LobsterError::Parse { file, line, what } => {
                write!(f, "{file} file, line {line}: {what}")
            }
            LobsterError::Shape(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for LobsterError {}

impl From<std::io::Error> for LobsterError {
    fn from(e: std::io::Error) -> Self {
        LobsterError::Io(e)
    }
}

fn parse_time_ns(s: &str) -> Option<u64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: u64 = whole.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Some files print binary-float artefacts past the nanosecond: truncate.
    let frac = &frac[..frac.len().min(9)];
    let mut nanos: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..9 {
        nanos *= 10;
    }
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Parses a message file.
///
/// # Errors
/// [`LobsterError::Parse`] naming the line.
pub fn parse_messages(text: &str) -> Result<Vec<LobsterMsg>, LobsterError> {
    let mut out = Vec::with_capacity(text.len() / 40);
    for (i, line) in text.lines().enumerate() {
        let err = |what| LobsterError::Parse {
            file: "message",
            line: i + 1,
            what,
        };
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let mut f = line.split(',');
        let mut next = || f.next().ok_or_else(|| err("fewer than 6 fields"));
        let time_ns = parse_time_ns(next()?).ok_or_else(|| err("bad time"))?;
        let kind: u8 = next()?.parse().map_err(|_| err("bad type"))?;
        if !(1..=7).contains(&kind) {
            return Err(err("type not in 1..=7"));
        }
        let id: u64 = next()?.parse().map_err(|_| err("bad order id"))?;
        let size: u64 = next()?.parse().map_err(|_| err("bad size"))?;
        let price: i64 = next()?.parse().map_err(|_| err("bad price"))?;
        let side = match next()? {
            "1" => Side::Buy,
            "-1" => Side::Sell,
            _ => return Err(err("direction not 1 or -1")),
        };
        if f.next().is_some() {
            return Err(err("more than 6 fields"));
        }
        out.push(LobsterMsg {
            time_ns,
            kind,
            id,
            size,
            price,
            side,
        });
    }
    Ok(out)
}

/// Parses an orderbook file; returns the number of levels and the flattened
/// rows.
///
/// # Errors
/// [`LobsterError::Parse`] naming the line.
pub fn parse_orderbook(text: &str) -> Result<(usize, Vec<i64>), LobsterError> {
    let mut width = 0usize;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let err = |what| LobsterError::Parse {
            file: "orderbook",
            line: i + 1,
            what,
        };
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let before = out.len();
        for field in line.split(',') {
            out.push(field.parse::<i64>().map_err(|_| err("bad number"))?);
        }
        let w = out.len() - before;
        if w == 0 || w % 4 != 0 {
            return Err(err("field count is not a multiple of 4"));
        }
        if width == 0 {
            width = w;
        } else if w != width {
            return Err(err("rows differ in width"));
        }
    }
    Ok((width / 4, out))
}

/// Loads a LOBSTER sample zip (the files named `*_message_*` and
/// `*_orderbook_*`).
///
/// # Errors
/// I/O, zip or parse errors; files that disagree in length.
pub fn load_zip(path: &Path) -> Result<LobsterData, LobsterError> {
    let file = std::fs::File::open(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| LobsterError::Zip(e.to_string()))?;
    let mut read = |pat: &str| -> Result<String, LobsterError> {
        let name = zip
            .file_names()
            .find(|n| n.contains(pat) && n.ends_with(".csv"))
            .map(str::to_owned)
            .ok_or_else(|| LobsterError::Zip(format!("no *{pat}*.csv in the archive")))?;
        let mut s = String::new();
        zip.by_name(&name)
            .map_err(|e| LobsterError::Zip(e.to_string()))?
            .read_to_string(&mut s)?;
        Ok(s)
    };
    let messages = parse_messages(&read("_message_")?)?;
    let (levels, book) = parse_orderbook(&read("_orderbook_")?)?;
    let data = LobsterData {
        levels,
        messages,
        book,
    };
    if data.rows() != data.messages.len() {
        return Err(LobsterError::Shape(format!(
            "{} messages but {} orderbook rows",
            data.messages.len(),
            data.rows()
        )));
    }
    Ok(data)
}

impl LobsterData {
    /// Number of orderbook rows.
    #[must_use]
    pub fn rows(&self) -> usize {
        if self.levels == 0 {
            0
        } else {
            self.book.len() / (4 * self.levels)
        }
    }

    /// Row `r`'s levels of `side` as (price x 10000, size), best first,
    /// without LOBSTER's empty-level placeholders.
    pub fn row_levels(&self, r: usize, side: Side) -> impl Iterator<Item = (i64, u64)> + '_ {
        let base = r * 4 * self.levels;
        let off = if side == Side::Sell { 0 } else { 2 };
        (0..self.levels).filter_map(move |l| {
            let p = self.book[base + 4 * l + off];
            let s = self.book[base + 4 * l + off + 1];
            (p != EMPTY_ASK && p != EMPTY_BID && s > 0).then_some((p, s as u64))
        })
    }

    /// The largest tick (a power of ten dividing the price of every message
    /// that touches the visible book, and every book price), so the book
    /// works in ticks of that size.
    #[must_use]
    pub fn tick(&self) -> i64 {
        let prices = self
            .messages
            .iter()
            .filter(|m| m.kind <= 4)
            .map(|m| m.price)
            .chain(
                self.book
                    .chunks_exact(2)
                    .map(|c| c[0])
                    .filter(|&p| p != EMPTY_ASK && p != EMPTY_BID),
            );
        let mut tick = 10_000i64;
        for p in prices {
            while tick > 1 && p % tick != 0 {
                tick /= 10;
            }
        }
        tick
    }
}

/// The outcome of [`reconstruct`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reconstruction {
    /// Every book command issued, in order (messages and resync).
    pub commands: Vec<Command>,
    /// Commands that came from messages (the rest are resynchronisation).
    pub message_commands: u64,
    /// Rows compared.
    pub rows: usize,
    /// Rows whose top `compared_levels` levels (both sides) agreed before
    /// resynchronisation.
    pub agree: usize,
    /// Levels per side compared.
    pub compared_levels: usize,
    /// Messages that issued no book command (types 5, 6, 7, and cancels of
    /// unknown orders with no synthetic quantity at their price).
    pub skipped: u64,
    /// Price tick used (in LOBSTER price units).
    pub tick: i64,
    /// State hash of the final book.
    pub state_hash: [u8; 32],
}

impl Reconstruction {
    /// Fraction of rows that agreed.
    #[must_use]
    pub fn agreement(&self) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            self.agree as f64 / self.rows as f64
        }
    }
}

/// The default number of levels to compare: all of a level-1 or level-2
/// file, otherwise all but the two deepest (orders placed there are not
/// reported until they move up).
#[must_use]
pub fn default_compare_levels(levels: usize) -> usize {
    if levels <= 2 {
        levels
    } else {
        levels - 2
    }
}

/// Replays `data` into a book with resynchronisation (see the module docs).
/// `observe` is called after every message's resynchronisation with the row
/// index and the book (for top-of-book series).
pub fn reconstruct(
    data: &LobsterData,
    compare_levels: usize,
    mut observe: impl FnMut(usize, &Book),
) -> Reconstruction {
    let tick = data.tick();
    let mut book = Book::new(BookConfig::default());
    let mut out = Reconstruction {
        compared_levels: compare_levels.min(data.levels),
        tick,
        ..Reconstruction::default()
    };
    let mut synthetic = SYNTHETIC_ID_BASE;
    let issue = |book: &mut Book, cmd: Command, commands: &mut Vec<Command>| {
        book.apply(&cmd, &mut NullSink);
        commands.push(cmd);
    };
    let mut want: Vec<(Ticks, Qty)> = Vec::with_capacity(data.levels);
    for (r, m) in data.messages.iter().enumerate() {
        let price = m.price / tick;
        let before = out.commands.len();
        let known = book.order(m.id).is_some();
        match m.kind {
            // An order from before the window or from deeper levels: its
            // quantity, if any, was topped up synthetically at this price.
            2 | 3 if !known => take_synthetic(&mut book, m.side, price, m.size, &mut |b, c| {
                issue(b, c, &mut out.commands);
            }),
            1 => issue(
                &mut book,
                Command::New(NewOrder::limit(m.id, m.side, price, m.size)),
                &mut out.commands,
            ),
            2 => issue(
                &mut book,
                Command::Reduce {
                    id: m.id,
                    by: m.size,
                },
                &mut out.commands,
            ),
            3 => issue(&mut book, Command::Cancel { id: m.id }, &mut out.commands),
            4 => {
                synthetic += 1;
                let taker = NewOrder::limit(synthetic, m.side.opposite(), price, m.size)
                    .with_tif(TimeInForce::Ioc);
                issue(&mut book, Command::New(taker), &mut out.commands);
            }
            _ => {}
        }
        let issued = (out.commands.len() - before) as u64;
        out.message_commands += issued;
        if issued == 0 {
            out.skipped += 1;
        }
        out.rows += 1;
        let agrees = compare_and_resync(
            &mut book,
            data,
            r,
            tick,
            out.compared_levels,
            &mut want,
            &mut synthetic,
            &mut |b, c| issue(b, c, &mut out.commands),
        );
        if agrees {
            out.agree += 1;
        }
        observe(r, &book);
    }
    out.state_hash = book.state_hash();
    out
}

/// Compares both sides of `book` with row `r` (the top `compare` levels)
/// and resynchronises each side that differs anywhere in the row's window.
/// Returns whether the compared levels agreed before resynchronisation.
#[allow(clippy::too_many_arguments)]
fn compare_and_resync(
    book: &mut Book,
    data: &LobsterData,
    r: usize,
    tick: i64,
    compare: usize,
    want: &mut Vec<(Ticks, Qty)>,
    synthetic: &mut u64,
    issue: &mut impl FnMut(&mut Book, Command),
) -> bool {
    let mut all_agree = true;
    for side in [Side::Sell, Side::Buy] {
        want.clear();
        want.extend(data.row_levels(r, side).map(|(p, s)| (p / tick, s)));
        all_agree &= book
            .levels(side)
            .take(compare)
            .map(|l| (l.price, l.qty))
            .eq(want.iter().copied().take(compare));
        let full = book
            .levels(side)
            .take(want.len())
            .map(|l| (l.price, l.qty))
            .eq(want.iter().copied());
        if !full || (want.len() < data.levels && book.levels(side).nth(want.len()).is_some()) {
            resync_side(book, side, want, data.levels, synthetic, issue);
        }
    }
    all_agree
}

/// Removes up to `qty` shares of synthetic orders at `price` on `side`,
/// newest first.
fn take_synthetic(
    book: &mut Book,
    side: Side,
    price: Ticks,
    qty: Qty,
    issue: &mut impl FnMut(&mut Book, Command),
) {
    let synth: Vec<(u64, Qty)> = book
        .level_orders(side, price)
        .filter(|o| o.id > SYNTHETIC_ID_BASE)
        .map(|o| (o.id, o.qty))
        .collect();
    let mut left = qty;
    for &(id, oqty) in synth.iter().rev() {
        if left == 0 {
            break;
        }
        let by = left.min(oqty);
        issue(
            book,
            if by == oqty {
                Command::Cancel { id }
            } else {
                Command::Reduce { id, by }
            },
        );
        left -= by;
    }
}

/// Makes `side` of `book` agree with `want` (best first) inside the window
/// the row describes: every level up to the row's worst price, or every
/// level at all when the row reports fewer than `levels` levels.
fn resync_side(
    book: &mut Book,
    side: Side,
    want: &[(Ticks, Qty)],
    levels: usize,
    synthetic: &mut u64,
    issue: &mut impl FnMut(&mut Book, Command),
) {
    let inside = |p: Ticks| -> bool {
        if want.len() < levels {
            return true;
        }
        let worst = want[want.len() - 1].0;
        match side {
            Side::Buy => p >= worst,
            Side::Sell => p <= worst,
        }
    };
    // Trim: newest orders first, whole levels the row lacks.
    let have: Vec<(Ticks, Qty)> = book
        .levels(side)
        .take_while(|l| inside(l.price))
        .map(|l| (l.price, l.qty))
        .collect();
    for (price, qty) in have {
        let target = want.iter().find(|w| w.0 == price).map_or(0, |w| w.1);
        if qty <= target {
            continue;
        }
        let mut excess = qty - target;
        // Synthetic quantity goes first (real orders may be named later),
        // newest first within each kind.
        let orders: Vec<(u64, Qty)> = book
            .level_orders(side, price)
            .map(|o| (o.id, o.qty))
            .collect();
        let synthetic_first = orders
            .iter()
            .rev()
            .filter(|o| o.0 > SYNTHETIC_ID_BASE)
            .chain(orders.iter().rev().filter(|o| o.0 <= SYNTHETIC_ID_BASE));
        for &(id, oqty) in synthetic_first {
            if excess == 0 {
                break;
            }
            let by = excess.min(oqty);
            let cmd = if by == oqty {
                Command::Cancel { id }
            } else {
                Command::Reduce { id, by }
            };
            issue(book, cmd);
            excess -= by;
        }
    }
    // Top up.
    for &(price, qty) in want {
        let have = book.depth_at(side, price).map_or(0, |l| l.qty);
        if have < qty {
            *synthetic += 1;
            issue(
                book,
                Command::New(NewOrder::limit(*synthetic, side, price, qty - have)),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSGS: &str = "34200.1,1,11,100,1000000,1\n34200.2,1,12,50,1000100,-1\n34200.3,4,11,30,1000000,1\n34200.4,5,0,10,1000050,1\n34200.5,3,12,50,1000100,-1\n";
    // Row 0: bid 100 @ 100.0000; row 1 adds ask 50 @ 100.0100; row 2 bid
    // 70; row 3 unchanged; row 4 ask gone (and an unexplained bid at 99.99).
    const BOOK: &str = "9999999999,0,1000000,100\n1000100,50,1000000,100\n1000100,50,1000000,70\n1000100,50,1000000,70\n9999999999,0,1000000,70\n";

    #[test]
    fn parses_and_reconstructs() {
        let messages = parse_messages(MSGS).unwrap();
        assert_eq!(messages.len(), 5);
        assert_eq!(messages[0].time_ns, 34_200_100_000_000);
        assert_eq!(messages[1].side, Side::Sell);
        let (levels, book) = parse_orderbook(BOOK).unwrap();
        let data = LobsterData {
            levels,
            messages,
            book,
        };
        assert_eq!(data.tick(), 100);
        let mut tops = Vec::new();
        let rec = reconstruct(&data, 1, |_, b| tops.push((b.best_bid(), b.best_ask())));
        assert_eq!(rec.rows, 5);
        assert_eq!(rec.agree, 5);
        assert_eq!(rec.skipped, 1);
        assert_eq!(tops[2], (Some((10_000, 70)), Some((10_001, 50))));
        assert_eq!(tops[4], (Some((10_000, 70)), None));
    }

    #[test]
    fn resync_fixes_unexplained_rows() {
        // The message says nothing about the book shown: resync must make
        // the book equal the row anyway, and the replayed commands must
        // reproduce the same final state.
        let messages = parse_messages("1.0,7,0,0,-1,-1\n2.0,7,0,0,-1,-1\n").unwrap();
        let (levels, book) =
            parse_orderbook("1000300,5,1000000,7,1000400,9,999900,3\n1000300,2,999900,3,9999999999,0,-9999999999,0\n")
                .unwrap();
        let data = LobsterData {
            levels,
            messages,
            book,
        };
        let mut seen = Vec::new();
        let rec = reconstruct(&data, 2, |_, b| {
            seen.push((
                b.levels(Side::Buy)
                    .map(|l| (l.price, l.qty))
                    .collect::<Vec<_>>(),
                b.levels(Side::Sell)
                    .map(|l| (l.price, l.qty))
                    .collect::<Vec<_>>(),
            ));
        });
        assert_eq!(rec.agree, 0);
        assert_eq!(
            seen[0],
            (
                vec![(10_000, 7), (9_999, 3)],
                vec![(10_003, 5), (10_004, 9)]
            )
        );
        assert_eq!(seen[1], (vec![(9_999, 3)], vec![(10_003, 2)]));
        let mut b = Book::default();
        for c in &rec.commands {
            b.apply(c, &mut NullSink);
        }
        assert_eq!(b.state_hash(), rec.state_hash);
    }

    #[test]
    fn refuses_malformed_lines() {
        assert!(matches!(
            parse_messages("1.0,9,1,1,1,1\n"),
            Err(LobsterError::Parse { line: 1, .. })
        ));
        assert!(parse_messages("1.0,1,1,1,1,0\n").is_err());
        assert!(parse_messages("1.0,1,1,1,1\n").is_err());
        assert!(parse_messages("1.0,1,1,1,1,1,1\n").is_err());
        assert!(parse_messages("x,1,1,1,1,1\n").is_err());
        assert!(parse_orderbook("1,2,3\n").is_err());
        assert!(parse_orderbook("1,2,3,4\n1,2,3,4,5,6,7,8\n").is_err());
    }
}
