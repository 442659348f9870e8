//! Plain value types shared by every module: sides, integer prices (ticks),
//! quantities, order and instrument ids, timestamps, and the conversion of
//! decimal prices to ticks at the API edge.
//!
//! Architecture invariant: this module depends on nothing else in the crate.

use core::fmt;
use rust_decimal::Decimal;

/// A price in integer ticks. Decimal prices exist only at the API edge
/// (see [`PriceScale`]).
pub type Ticks = i64;
/// A quantity in shares (whole units; lot-size rules are checked by the book).
pub type Qty = u64;
/// A caller-supplied order id, unique among the orders resting in one book.
pub type OrderId = u64;
/// An instrument (one book per instrument).
pub type InstrumentId = u32;
/// A caller-supplied point in time (nanoseconds since an epoch the caller
/// chooses). The engine never reads a clock.
pub type Timestamp = u64;
/// The owner of an order for self-trade prevention (an account or party).
pub type OwnerId = u64;

/// The side of an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Side {
    /// A buy order (bid).
    Buy = 0,
    /// A sell order (ask).
    Sell = 1,
}

impl Side {
    /// The other side.
    #[inline]
    #[must_use]
    pub const fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// Decodes `0 = buy, 1 = sell`; anything else is `None`.
    #[inline]
    #[must_use]
    pub const fn from_u8(v: u8) -> Option<Side> {
        match v {
            0 => Some(Side::Buy),
            1 => Some(Side::Sell),
            _ => None,
        }
    }

    /// Index 0 for buy, 1 for sell.
    #[inline]
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        })
    }
}

/// Why a decimal price could not be converted to ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriceError {
    /// The tick size is zero or negative.
    InvalidTickSize,
    /// The price is not a whole multiple of the tick size.
    OffTick,
    /// The price in ticks does not fit in an `i64`.
    OutOfRange,
}

impl fmt::Display for PriceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PriceError::InvalidTickSize => "tick size must be positive",
            PriceError::OffTick => "price is not a multiple of the tick size",
            PriceError::OutOfRange => "price in ticks is out of range",
        })
    }
}

impl std::error::Error for PriceError {}

/// Converts decimal prices to integer ticks and back, with tick-size
/// validation. This is the only place a decimal price meets the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriceScale {
    tick: Decimal,
}

impl PriceScale {
    /// A scale with the given tick size (for example `0.01`).
    ///
    /// # Errors
    /// [`PriceError::InvalidTickSize`] when `tick <= 0`.
    pub fn new(tick: Decimal) -> Result<Self, PriceError> {
        if tick <= Decimal::ZERO {
            return Err(PriceError::InvalidTickSize);
        }
        Ok(PriceScale { tick })
    }

    /// The tick size.
    #[must_use]
    pub fn tick(&self) -> Decimal {
        self.tick
    }

    /// The price in ticks; refuses prices that are not on the tick grid.
    ///
    /// # Errors
    /// [`PriceError::OffTick`] or [`PriceError::OutOfRange`].
    pub fn to_ticks(&self, price: Decimal) -> Result<Ticks, PriceError> {
        let q = price.checked_div(self.tick).ok_or(PriceError::OutOfRange)?;
        if q.fract() != Decimal::ZERO {
            return Err(PriceError::OffTick);
        }
        i64::try_from(q.mantissa() / 10i128.pow(q.scale()))
            .map_err(|_| PriceError::OutOfRange)
    }

    /// The decimal price of `ticks`.
    ///
    /// # Errors
    /// [`PriceError::OutOfRange`] if the product overflows a `Decimal`.
    pub fn to_decimal(&self, ticks: Ticks) -> Result<Decimal, PriceError> {
        Decimal::from(ticks)
            .checked_mul(self.tick)
            .ok_or(PriceError::OutOfRange)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn ticks_round_trip() {
        let s = PriceScale::new(d("0.05")).unwrap();
        assert_eq!(s.to_ticks(d("101.35")), Ok(2027));
        assert_eq!(s.to_ticks(d("-0.10")), Ok(-2));
        assert_eq!(s.to_decimal(2027).unwrap(), d("101.35"));
        assert_eq!(s.to_ticks(d("101.36")), Err(PriceError::OffTick));
    }

    #[test]
    fn bad_tick_and_range() {
        assert_eq!(PriceScale::new(d("0")), Err(PriceError::InvalidTickSize));
        assert_eq!(PriceScale::new(d("-1")), Err(PriceError::InvalidTickSize));
        let s = PriceScale::new(d("0.0000000001")).unwrap();
        assert_eq!(
            s.to_ticks(d("79228162514264337593543950335") / d("1000")),
            Err(PriceError::OutOfRange)
        );
    }

    #[test]
    fn side_codes() {
        assert_eq!(Side::from_u8(0), Some(Side::Buy));
        assert_eq!(Side::from_u8(1), Some(Side::Sell));
        assert_eq!(Side::from_u8(2), None);
        assert_eq!(Side::Buy.opposite(), Side::Sell);
    }
}
