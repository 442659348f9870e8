//! Many books keyed by instrument.

use super::{Book, BookConfig, Command, RejectReason, Sink};
use crate::types::InstrumentId;
use core::fmt;
use rustc_hash::FxHashMap;

/// Why a market-level call was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarketError {
    /// No book for this instrument.
    UnknownInstrument(InstrumentId),
    /// A book for this instrument exists already.
    DuplicateInstrument(InstrumentId),
    /// The book configuration is inconsistent.
    InvalidConfig(&'static str),
    /// The book refused the command.
    Rejected(RejectReason),
}

impl fmt::Display for MarketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MarketError::UnknownInstrument(i) => write!(f, "unknown instrument {i}"),
            MarketError::DuplicateInstrument(i) => write!(f, "instrument {i} already listed"),
            MarketError::InvalidConfig(why) => write!(f, "invalid book configuration: {why}"),
            MarketError::Rejected(r) => write!(f, "rejected: {r}"),
        }
    }
}

impl std::error::Error for MarketError {}

/// A registry of books, one per instrument.
#[derive(Clone, Debug, Default)]
pub struct Market {
    books: FxHashMap<InstrumentId, Book>,
}

impl Market {
    /// An empty market.
    #[must_use]
    pub fn new() -> Self {
        Market::default()
    }

    /// Lists an instrument with an empty book.
    ///
    /// # Errors
    /// [`MarketError::DuplicateInstrument`] or [`MarketError::InvalidConfig`].
    pub fn add_instrument(&mut self, id: InstrumentId, cfg: BookConfig) -> Result<(), MarketError> {
        if self.books.contains_key(&id) {
            return Err(MarketError::DuplicateInstrument(id));
        }
        let book = Book::try_new(cfg).map_err(MarketError::InvalidConfig)?;
        self.books.insert(id, book);
        Ok(())
    }

    /// Delists an instrument, returning its book.
    ///
    /// # Errors
    /// [`MarketError::UnknownInstrument`].
    pub fn remove_instrument(&mut self, id: InstrumentId) -> Result<Book, MarketError> {
        self.books
            .remove(&id)
            .ok_or(MarketError::UnknownInstrument(id))
    }

    /// Applies `cmd` to the instrument's book.
    ///
    /// # Errors
    /// [`MarketError::UnknownInstrument`]; a refused command is reported as
    /// an event (and changes nothing), not as an error here.
    pub fn apply<S: Sink>(
        &mut self,
        id: InstrumentId,
        cmd: &Command,
        sink: &mut S,
    ) -> Result<(), MarketError> {
        let book = self
            .books
            .get_mut(&id)
            .ok_or(MarketError::UnknownInstrument(id))?;
        book.apply(cmd, sink);
        Ok(())
    }

    /// The instrument's book.
    #[must_use]
    pub fn book(&self, id: InstrumentId) -> Option<&Book> {
        self.books.get(&id)
    }

    /// The instrument's book, mutably.
    pub fn book_mut(&mut self, id: InstrumentId) -> Option<&mut Book> {
        self.books.get_mut(&id)
    }

    /// Listed instruments, in ascending order.
    #[must_use]
    pub fn instruments(&self) -> Vec<InstrumentId> {
        let mut v: Vec<_> = self.books.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Number of listed instruments.
    #[must_use]
    pub fn len(&self) -> usize {
        self.books.len()
    }

    /// Whether no instrument is listed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.books.is_empty()
    }

    /// BLAKE3 over every book's state hash in instrument order.
    #[must_use]
    pub fn state_hash(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(b"kabuken/market-state/v1");
        for id in self.instruments() {
            h.update(&id.to_le_bytes());
            h.update(&self.books[&id].state_hash());
        }
        *h.finalize().as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::{Event, NewOrder};
    use crate::types::Side;

    #[test]
    fn books_are_independent() {
        let mut m = Market::new();
        m.add_instrument(1, BookConfig::default()).unwrap();
        m.add_instrument(2, BookConfig::default()).unwrap();
        assert_eq!(
            m.add_instrument(1, BookConfig::default()),
            Err(MarketError::DuplicateInstrument(1))
        );
        let bad = BookConfig {
            lot_size: 0,
            ..BookConfig::default()
        };
        assert!(matches!(
            m.add_instrument(3, bad),
            Err(MarketError::InvalidConfig(_))
        ));
        let mut ev: Vec<Event> = Vec::new();
        m.apply(
            1,
            &Command::New(NewOrder::limit(7, Side::Buy, 100, 5)),
            &mut ev,
        )
        .unwrap();
        m.apply(
            2,
            &Command::New(NewOrder::limit(7, Side::Sell, 90, 5)),
            &mut ev,
        )
        .unwrap();
        assert_eq!(m.book(1).unwrap().best_bid(), Some((100, 5)));
        assert_eq!(m.book(2).unwrap().best_ask(), Some((90, 5)));
        assert_eq!(
            m.apply(9, &Command::Cancel { id: 7 }, &mut ev),
            Err(MarketError::UnknownInstrument(9))
        );
        assert_eq!(m.instruments(), vec![1, 2]);
        let h = m.state_hash();
        m.remove_instrument(2).unwrap();
        assert_ne!(h, m.state_hash());
    }
}
