//! Fixed wire-format vectors, also printed in `docs/wire-format.md` (section
//! 6), so that another implementation can check its encoder and signer.

use kabuken::crypto::{Digest, KeyPair, MsgKind, PublicKey, Signed};
use kabuken::register::HoldingsInquiry;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn holdings_inquiry_vector() {
    let key = KeyPair::from_seed(&[1; 32]);
    let m = Signed::sign(
        HoldingsInquiry {
            user_id: 100,
            instrument: Some(7),
            seq: 1,
        },
        100,
        &key,
    );
    let bytes = m.to_bytes();
    let text = format!(
        "public key {}\nframe {}\nhash {}\n",
        hex(&key.public().to_bytes()),
        hex(&bytes),
        hex(&Digest::of(&bytes).0)
    );
    eprintln!("{text}");
    let doc = include_str!("../../docs/wire-format.md");
    for line in text.lines() {
        let value = line.split(' ').next_back().unwrap_or_default();
        assert!(doc.contains(value), "docs/wire-format.md lacks {line}");
    }
    // The signature input is the label followed by the frame minus the
    // signature.
    let mut input = MsgKind::HoldingsInquiry.label().to_vec();
    input.extend_from_slice(&bytes[..bytes.len() - 64]);
    let pk = PublicKey::from_bytes(&key.public().to_bytes()).expect("key");
    let mut sig = [0u8; 64];
    sig.copy_from_slice(&bytes[bytes.len() - 64..]);
    assert!(pk
        .verify_raw(&input, &kabuken::crypto::Signature(sig))
        .is_ok());
}
