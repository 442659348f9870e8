//! The single-instrument price-time order book (work in progress).
