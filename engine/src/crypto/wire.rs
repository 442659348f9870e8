//! The canonical binary encoding of every signed message.
//!
//! A hand-rolled [`Writer`]/[`Reader`] pair: fixed-width little-endian
//! integers, length-prefixed byte and UTF-8 strings with per-field maximum
//! lengths, one-byte tags for enums, options and booleans. Every encoding has
//! exactly one byte form, and [`Reader`] refuses everything else (trailing
//! bytes, oversize lengths, invalid UTF-8, unknown tags, a boolean that is not
//! 0 or 1). The byte layout is specified in `docs/wire-format.md`.

use core::fmt;

/// Version byte that leads every message.
pub const WIRE_VERSION: u8 = 1;

/// Why bytes could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// The input ended before the value did.
    Truncated,
    /// Bytes were left over after the value.
    TrailingBytes,
    /// A length prefix exceeds the field's maximum.
    TooLong,
    /// A string is not valid UTF-8.
    BadUtf8,
    /// An enum, option or boolean tag has no meaning.
    BadTag,
    /// The leading version byte is not [`WIRE_VERSION`].
    BadVersion,
    /// The message-kind byte is not the one expected here.
    WrongKind,
    /// A field value is outside its allowed range (non-canonical form).
    NonCanonical,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WireError::Truncated => "input truncated",
            WireError::TrailingBytes => "trailing bytes after message",
            WireError::TooLong => "field longer than its maximum",
            WireError::BadUtf8 => "string is not valid UTF-8",
            WireError::BadTag => "unknown tag",
            WireError::BadVersion => "unsupported wire version",
            WireError::WrongKind => "unexpected message kind",
            WireError::NonCanonical => "non-canonical field value",
        })
    }
}

impl std::error::Error for WireError {}

/// Appends canonical fields to a byte buffer.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    #[must_use]
    pub fn new() -> Self {
        Self {
            buf: Vec::with_capacity(256),
        }
    }
    /// The bytes written so far.
    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
    /// Borrow the bytes written so far.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }
    /// One byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    /// Little-endian u16.
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Little-endian u32.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Little-endian u64.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Little-endian two's-complement i64.
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// A boolean as one byte 0 or 1.
    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }
    /// Fixed-size bytes, no prefix.
    pub fn array(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }
    /// A byte string with a u32 length prefix. The caller keeps `v` within
    /// the field's maximum (decoders refuse longer ones).
    pub fn bytes(&mut self, v: &[u8]) {
        // Lengths beyond u32 cannot be produced by any in-range value.
        let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
        self.u32(len);
        self.buf.extend_from_slice(v);
    }
    /// A UTF-8 string with a u32 byte-length prefix.
    pub fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
    /// A sequence count (u32).
    pub fn count(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
}

/// Reads canonical fields strictly from a byte slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    #[must_use]
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }
    /// Bytes consumed so far.
    #[must_use]
    pub fn position(&self) -> usize {
        self.pos
    }
    /// The whole input slice.
    #[must_use]
    pub fn input(&self) -> &'a [u8] {
        self.buf
    }
    /// Takes `n` raw bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).ok_or(WireError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(WireError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    /// One byte.
    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    /// Little-endian u16.
    pub fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_le_bytes(self.array::<2>()?))
    }
    /// Little-endian u32.
    pub fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.array::<4>()?))
    }
    /// Little-endian u64.
    pub fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.array::<8>()?))
    }
    /// Little-endian i64.
    pub fn i64(&mut self) -> Result<i64, WireError> {
        Ok(i64::from_le_bytes(self.array::<8>()?))
    }
    /// A boolean: exactly 0 or 1.
    pub fn bool(&mut self) -> Result<bool, WireError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(WireError::BadTag),
        }
    }
    /// Fixed-size bytes.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    /// A length-prefixed byte string of at most `max` bytes.
    pub fn bytes(&mut self, max: usize) -> Result<&'a [u8], WireError> {
        let len = self.u32()? as usize;
        if len > max {
            return Err(WireError::TooLong);
        }
        self.take(len)
    }
    /// A length-prefixed UTF-8 string of at most `max` bytes.
    pub fn str(&mut self, max: usize) -> Result<String, WireError> {
        let b = self.bytes(max)?;
        core::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| WireError::BadUtf8)
    }
    /// A sequence count of at most `max` items.
    pub fn count(&mut self, max: usize) -> Result<usize, WireError> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(WireError::TooLong);
        }
        Ok(n)
    }
    /// Succeeds only if every byte has been consumed.
    pub fn finish(self) -> Result<(), WireError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(WireError::TrailingBytes)
        }
    }
}

/// A value with a canonical encoding (no version/kind header of its own).
pub trait Encode {
    /// Appends the canonical fields of `self`.
    fn encode(&self, w: &mut Writer);
}

/// A value decodable from its canonical encoding.
pub trait Decode: Sized {
    /// Reads the fields of one value; the caller calls [`Reader::finish`].
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError>;
}

/// Writes a length-prefixed sequence.
pub fn encode_seq<T: Encode>(w: &mut Writer, items: &[T]) {
    w.count(items.len());
    for i in items {
        i.encode(w);
    }
}

/// Reads a length-prefixed sequence of at most `max` items.
pub fn decode_seq<T: Decode>(r: &mut Reader<'_>, max: usize) -> Result<Vec<T>, WireError> {
    let n = r.count(max)?;
    // Never trust the count for allocation beyond what the input can hold.
    let mut v = Vec::with_capacity(n.min(r.input().len() - r.position()));
    for _ in 0..n {
        v.push(T::decode(r)?);
    }
    Ok(v)
}

/// Reads a length-prefixed sequence of u64 of at most `max` items.
pub fn decode_seq_u64(r: &mut Reader<'_>, max: usize) -> Result<Vec<u64>, WireError> {
    decode_seq(r, max)
}

impl Encode for u64 {
    fn encode(&self, w: &mut Writer) {
        w.u64(*self);
    }
}
impl Decode for u64 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        r.u64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_strictness() {
        let mut w = Writer::new();
        w.u8(7);
        w.u16(0x1234);
        w.u32(5);
        w.u64(u64::MAX);
        w.i64(-3);
        w.bool(true);
        w.str("株券");
        w.bytes(&[1, 2, 3]);
        let b = w.into_bytes();
        let mut r = Reader::new(&b);
        assert_eq!(r.u8(), Ok(7));
        assert_eq!(r.u16(), Ok(0x1234));
        assert_eq!(r.u32(), Ok(5));
        assert_eq!(r.u64(), Ok(u64::MAX));
        assert_eq!(r.i64(), Ok(-3));
        assert_eq!(r.bool(), Ok(true));
        assert_eq!(r.str(16).as_deref(), Ok("株券"));
        assert_eq!(r.bytes(3), Ok(&[1u8, 2, 3][..]));
        assert_eq!(r.finish(), Ok(()));

        // trailing bytes
        let mut r = Reader::new(&[1, 2]);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.finish(), Err(WireError::TrailingBytes));
        // bool not 0/1
        assert_eq!(Reader::new(&[2]).bool(), Err(WireError::BadTag));
        // oversize
        let mut w = Writer::new();
        w.str("abcdef");
        assert_eq!(Reader::new(w.as_bytes()).str(5), Err(WireError::TooLong));
        // bad utf-8
        let mut w = Writer::new();
        w.bytes(&[0xff, 0xfe]);
        assert_eq!(Reader::new(w.as_bytes()).str(5), Err(WireError::BadUtf8));
        // truncated, including huge lengths
        assert_eq!(Reader::new(&[1, 2, 3]).u64(), Err(WireError::Truncated));
        assert_eq!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff]).bytes(usize::MAX),
            Err(WireError::Truncated)
        );
        assert_eq!(
            decode_seq::<u64>(&mut Reader::new(&[0xff, 0xff, 0xff, 0x7f]), usize::MAX),
            Err(WireError::Truncated)
        );
    }
}
