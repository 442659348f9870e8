//! The transaction a request asks for, its canonical encoding and digest
//! (the code is bound to this digest: dynamic linking), and the renderings of
//! its summary for short text channels and for speech.

use super::seam::derive_key;
use crate::types::{InstrumentId, Qty, Side, Ticks, Timestamp};
use core::fmt;

/// A money amount in the smallest currency unit (for example yen), computed
/// by the host at order reception (worst case for a market order). Integer,
/// so thresholds and totals are exact.
pub type Amount = u64;

/// The transaction to confirm: what the summary shows and the code is bound
/// to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Transaction {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// Number of shares.
    pub quantity: Qty,
    /// Limit price in ticks; `None` for a market order.
    pub limit: Option<Ticks>,
    /// The value of the order in the smallest currency unit.
    pub amount: Amount,
}

/// The BLAKE3 digest of a [`Transaction`]'s canonical encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TxDigest(pub [u8; 32]);

impl fmt::Debug for TxDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TxDigest(")?;
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        f.write_str("..)")
    }
}

const TX_CONTEXT: &str = "kabuken 2026 oob transaction v1";

/// Length of [`Transaction::encode`].
pub const TX_ENCODED_LEN: usize = 1 + 4 + 1 + 8 + 1 + 8 + 8;

impl Transaction {
    /// Canonical, versioned, fixed-width little-endian encoding.
    #[must_use]
    pub fn encode(&self) -> [u8; TX_ENCODED_LEN] {
        let mut out = [0u8; TX_ENCODED_LEN];
        out[0] = 1; // version
        out[1..5].copy_from_slice(&self.instrument.to_le_bytes());
        out[5] = self.side as u8;
        out[6..14].copy_from_slice(&self.quantity.to_le_bytes());
        out[14] = u8::from(self.limit.is_some());
        out[15..23].copy_from_slice(&self.limit.unwrap_or(0).to_le_bytes());
        out[23..31].copy_from_slice(&self.amount.to_le_bytes());
        out
    }

    /// The digest the confirmation code is bound to. Any change to any field
    /// changes it.
    #[must_use]
    pub fn digest(&self) -> TxDigest {
        TxDigest(derive_key(TX_CONTEXT, &[&self.encode()]))
    }

    /// One line for a pager or SMS: `BUY 7203 x100 @2150 =215000`.
    #[must_use]
    pub fn short_summary(&self) -> String {
        let side = match self.side {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        };
        match self.limit {
            Some(p) => format!(
                "{side} {} x{} @{p} ={}",
                self.instrument, self.quantity, self.amount
            ),
            None => format!(
                "{side} {} x{} MKT ={}",
                self.instrument, self.quantity, self.amount
            ),
        }
    }

    /// A sentence for a voice channel.
    #[must_use]
    pub fn spoken_summary(&self) -> String {
        let side = match self.side {
            Side::Buy => "buy",
            Side::Sell => "sell",
        };
        let price = match self.limit {
            Some(p) => format!("at a limit of {p} ticks"),
            None => "at market".to_string(),
        };
        format!(
            "{side} {} shares of instrument {} {price}, amount {}",
            self.quantity, self.instrument, self.amount
        )
    }
}

/// Spells a digit string out one digit at a time, for speech.
pub(crate) fn spell_digits(s: &str) -> String {
    const NAMES: [&str; 10] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    let mut out = String::new();
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(NAMES[d as usize]);
        }
    }
    out
}

/// Seconds (rounded up) from `now` to `at`, for renderings.
pub(crate) fn seconds_until(now: Timestamp, at: Timestamp) -> u64 {
    at.saturating_sub(now).div_ceil(1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx() -> Transaction {
        Transaction {
            instrument: 7203,
            side: Side::Buy,
            quantity: 100,
            limit: Some(2150),
            amount: 215_000,
        }
    }

    #[test]
    fn every_field_changes_the_digest() {
        let base = tx().digest();
        let mut v = tx();
        v.instrument += 1;
        assert_ne!(v.digest(), base);
        let mut v = tx();
        v.side = Side::Sell;
        assert_ne!(v.digest(), base);
        let mut v = tx();
        v.quantity += 1;
        assert_ne!(v.digest(), base);
        let mut v = tx();
        v.limit = None;
        assert_ne!(v.digest(), base);
        let mut v = tx();
        v.limit = Some(0);
        assert_ne!(v.digest(), base);
        let mut v = tx();
        v.amount += 1;
        assert_ne!(v.digest(), base);
        assert_eq!(tx().digest(), base);
    }

    #[test]
    fn renderings() {
        assert_eq!(tx().short_summary(), "BUY 7203 x100 @2150 =215000");
        let mut m = tx();
        m.limit = None;
        m.side = Side::Sell;
        assert_eq!(m.short_summary(), "SELL 7203 x100 MKT =215000");
        assert!(tx()
            .spoken_summary()
            .starts_with("buy 100 shares of instrument 7203"));
        assert_eq!(spell_digits("0429"), "zero four two nine");
        assert_eq!(seconds_until(0, 1), 1);
        assert_eq!(seconds_until(5, 1), 0);
    }
}
