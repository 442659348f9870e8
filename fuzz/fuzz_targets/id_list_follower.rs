//! A follower of a register's ID list fed arbitrary (mostly unsigned)
//! snapshots and deltas never panics and never accepts a message that is not
//! signed by the register.
#![no_main]

use kabuken::crypto::KeyPair;
use kabuken::register::{AnyMessage, IdListFollower};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = KeyPair::from_seed(&[3; 32]);
    let mut f = IdListFollower::new(7, 2, key.public());
    for chunk in data.split(|b| *b == 0xff) {
        match AnyMessage::decode(chunk) {
            Ok(AnyMessage::IdListSnapshot(s)) => {
                assert!(f.apply_snapshot(&s).is_err(), "forged snapshot accepted");
            }
            Ok(AnyMessage::IdListDelta(d)) => {
                assert!(f.apply_delta(&d).is_err(), "forged delta accepted");
            }
            _ => {}
        }
    }
});
