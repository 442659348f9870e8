//! Secrets at rest and in flight: the PIN (argon2id, salted, slow), the
//! second codes (keyed BLAKE3 under a per-contractor salt and the service's
//! pepper, fast because they are checked on every answer and guarded by the
//! online attempt limit), confirmation codes from the host's CSPRNG, and
//! constant-time comparison.

use super::error::{ConfigError, OobError};
use super::seam::{derive_key, keyed, Hash32};
use rand_core::CryptoRngCore;
use subtle::ConstantTimeEq;

/// argon2id cost parameters for PIN hashing.
///
/// [`Argon2Params::PRODUCTION`] (the default) is the OWASP recommendation for
/// argon2id: 19 MiB of memory, 2 passes, 1 lane. [`Argon2Params::INSECURE_FAST`]
/// (8 KiB, 1 pass, 1 lane) exists only for tests and must never protect a
/// real PIN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Argon2Params {
    /// Memory in KiB (`m`).
    pub m_cost_kib: u32,
    /// Passes (`t`).
    pub t_cost: u32,
    /// Lanes (`p`).
    pub p_cost: u32,
}

impl Argon2Params {
    /// OWASP argon2id: m = 19456 KiB, t = 2, p = 1.
    pub const PRODUCTION: Argon2Params = Argon2Params {
        m_cost_kib: 19_456,
        t_cost: 2,
        p_cost: 1,
    };
    /// For tests only: m = 8 KiB, t = 1, p = 1.
    pub const INSECURE_FAST: Argon2Params = Argon2Params {
        m_cost_kib: 8,
        t_cost: 1,
        p_cost: 1,
    };

    fn hasher(&self) -> Result<argon2::Argon2<'static>, OobError> {
        let p = argon2::Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(32))
            .map_err(|_| OobError::InvalidConfig(ConfigError::Argon2Params))?;
        Ok(argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            p,
        ))
    }

    pub(crate) fn validate(&self) -> Result<(), OobError> {
        self.hasher().map(|_| ())
    }
}

impl Default for Argon2Params {
    fn default() -> Self {
        Argon2Params::PRODUCTION
    }
}

/// A PIN as stored: argon2id(salt, PIN) with the parameters used.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PinHash {
    params: Argon2Params,
    salt: [u8; 16],
    hash: Hash32,
}

impl core::fmt::Debug for PinHash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PinHash")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PinHash {
    pub(crate) fn new(params: Argon2Params, salt: [u8; 16], pin: &[u8]) -> Result<Self, OobError> {
        let hash = argon2id(params, &salt, pin)?;
        Ok(PinHash { params, salt, hash })
    }

    /// Pays the full argon2id cost whatever the outcome.
    pub(crate) fn verify(&self, pin: &[u8]) -> bool {
        match argon2id(self.params, &self.salt, pin) {
            Ok(h) => bool::from(h.ct_eq(&self.hash)),
            Err(_) => false,
        }
    }
}

fn argon2id(params: Argon2Params, salt: &[u8; 16], pin: &[u8]) -> Result<Hash32, OobError> {
    let mut out = [0u8; 32];
    params
        .hasher()?
        .hash_password_into(pin, salt, &mut out)
        .map_err(|_| OobError::InvalidConfig(ConfigError::Argon2Params))?;
    Ok(out)
}

/// A second code as stored: keyed BLAKE3 under a key derived from the
/// service pepper and a per-code salt.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SecondCodeHash {
    salt: [u8; 16],
    hash: Hash32,
}

impl core::fmt::Debug for SecondCodeHash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SecondCodeHash(..)")
    }
}

const SECOND_CODE_CONTEXT: &str = "kabuken 2026 oob second code v1";

impl SecondCodeHash {
    pub(crate) fn new(pepper: &Hash32, salt: [u8; 16], code: &[u8]) -> Self {
        let key = derive_key(SECOND_CODE_CONTEXT, &[pepper, &salt]);
        SecondCodeHash {
            salt,
            hash: keyed(&key, &[code]),
        }
    }

    /// Constant-time in the code's content.
    pub(crate) fn matches(&self, pepper: &Hash32, code: &[u8]) -> subtle::Choice {
        let key = derive_key(SECOND_CODE_CONTEXT, &[pepper, &self.salt]);
        keyed(&key, &[code]).ct_eq(&self.hash)
    }
}

/// Draws from a working CSPRNG are rejected with probability below 2^-40
/// per draw, so this many rejections in a row mean the generator is broken;
/// the caller then gets an error instead of a hang.
pub(crate) const MAX_DRAWS: usize = 64;

/// A uniformly random code of `digits` decimal digits (leading zeros
/// allowed), by rejection sampling from the host's CSPRNG; `None` if the
/// generator looks broken.
pub(crate) fn random_code<R: CryptoRngCore + ?Sized>(rng: &mut R, digits: u8) -> Option<u64> {
    let modulus = 10u64.pow(u32::from(digits));
    let zone = u64::MAX - (u64::MAX % modulus);
    (0..MAX_DRAWS)
        .map(|_| rng.next_u64())
        .find(|&x| x < zone)
        .map(|x| x % modulus)
}

/// A uniformly random index below `n` (`n > 0`); `None` if the generator
/// looks broken.
pub(crate) fn random_index<R: CryptoRngCore + ?Sized>(rng: &mut R, n: usize) -> Option<usize> {
    let m = n as u64;
    let zone = u64::MAX - (u64::MAX % m);
    (0..MAX_DRAWS)
        .map(|_| rng.next_u64())
        .find(|&x| x < zone)
        .and_then(|x| usize::try_from(x % m).ok())
}

/// Renders a code as exactly `digits` ASCII digits.
pub(crate) fn render_code(code: u64, digits: u8) -> String {
    format!("{code:0width$}", width = usize::from(digits))
}

/// Parses exactly `digits` ASCII digits; anything else is `None`.
pub(crate) fn parse_code(s: &str, digits: u8) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != usize::from(digits) || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0')))
}

/// Constant-time equality of two 32-byte values.
pub(crate) fn ct_eq32(a: &Hash32, b: &Hash32) -> subtle::Choice {
    a.ct_eq(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn pin_hash_round_trip() {
        let h = PinHash::new(Argon2Params::INSECURE_FAST, [7; 16], b"1234").unwrap();
        assert!(h.verify(b"1234"));
        assert!(!h.verify(b"1235"));
        assert!(!h.verify(b""));
        let bad = Argon2Params {
            m_cost_kib: 0,
            t_cost: 0,
            p_cost: 0,
        };
        assert!(bad.validate().is_err());
        assert!(Argon2Params::PRODUCTION.validate().is_ok());
    }

    #[test]
    fn second_code_needs_pepper_and_salt() {
        let h = SecondCodeHash::new(&[1; 32], [2; 16], b"4321");
        assert!(bool::from(h.matches(&[1; 32], b"4321")));
        assert!(!bool::from(h.matches(&[3; 32], b"4321")));
        assert!(!bool::from(h.matches(&[1; 32], b"4322")));
        let h2 = SecondCodeHash::new(&[1; 32], [9; 16], b"4321");
        assert_ne!(h.hash, h2.hash);
    }

    #[test]
    fn codes_are_uniform_enough_and_parse() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let c = random_code(&mut rng, 6).unwrap();
            assert!(c < 1_000_000);
            seen.insert(c);
        }
        // 10k draws from 10^6: collisions are rare.
        assert!(seen.len() > 9_900);
        assert_eq!(render_code(42, 6), "000042");
        assert_eq!(parse_code("000042", 6), Some(42));
        assert_eq!(parse_code("00042", 6), None);
        assert_eq!(parse_code("00004a", 6), None);
        assert_eq!(parse_code("+00042", 6), None);
        assert_eq!(parse_code("999999999999", 12), Some(999_999_999_999));
        for n in 1..10 {
            assert!(random_index(&mut rng, n).unwrap() < n);
        }
    }
}
