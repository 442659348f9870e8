//! The batch-signature decoders (`MessageSignature`, `BatchProof`): any
//! input either is refused or decodes to a value whose encoding is exactly
//! the input (no non-canonical form is accepted), and verifying a decoded
//! proof never panics.
#![no_main]

use kabuken::crypto::merkle::MessageSignature;
use kabuken::crypto::wire::{Decode, Encode, Reader, Writer};
use kabuken::crypto::{KeyPair, MsgKind};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    let mut r = Reader::new(data);
    let Ok(sig) = MessageSignature::decode(&mut r) else { return };
    if r.finish().is_err() {
        return;
    }
    let mut w = Writer::new();
    sig.encode(&mut w);
    assert_eq!(w.into_bytes(), data, "non-canonical encoding accepted");
    let key = KEY.get_or_init(|| KeyPair::from_seed(&[1; 32])).public();
    let _ = sig.verify(&key, MsgKind::TransferResponse, b"message");
});
