//! Every signed-message decoder, dispatched on the kind byte: decoding never
//! panics, and whatever decodes re-encodes to exactly the input (the
//! encoding is canonical).
#![no_main]

use kabuken::exchange::AnyMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = AnyMessage::decode(data) {
        assert_eq!(m.to_bytes(), data, "non-canonical encoding accepted");
    }
});
