//! Reaches every decoder regardless of the header: the first input byte
//! picks the message kind, and the rest is decoded as that kind's body
//! behind a valid version/kind header (so the fuzzer need not find the
//! header first). Also exercises the nested length-prefixed form.
#![no_main]

use kabuken::crypto::{MsgKind, WIRE_VERSION};
use kabuken::exchange::AnyMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let kind = MsgKind::ALL[usize::from(pick) % MsgKind::ALL.len()];
    let mut bytes = Vec::with_capacity(rest.len() + 2);
    bytes.push(WIRE_VERSION);
    bytes.push(kind as u8);
    bytes.extend_from_slice(rest);
    if let Ok(m) = AnyMessage::decode(&bytes) {
        assert_eq!(m.to_bytes(), bytes, "non-canonical encoding accepted");
    }
});
