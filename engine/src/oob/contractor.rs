//! Contractor records: what the host registers (a [`ContractorSpec`], with
//! the PIN and second codes in clear) and what the service keeps (hashes
//! only).

use super::error::{OobError, RecordError};
use super::seam::{Hash32, SealKey};
use super::secret::{Argon2Params, PinHash, SecondCodeHash};
use super::tx::Amount;
use crate::types::Timestamp;
use rand_core::CryptoRngCore;

/// The kind of second-channel device (decides which rendering the host's
/// [`super::DeliveryChannel`] uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// A pager: short text.
    Pager,
    /// A phone receiving SMS: short text.
    Sms,
    /// An app on the holder's phone: push with the full summary; can hold a
    /// seal key.
    AppPush,
    /// A voice call: the spoken rendering.
    Voice,
}

/// One second-channel device of a contractor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// Address in the host's terms (pager number, phone number, push token).
    pub address: String,
    /// What kind of device.
    pub kind: DeviceKind,
    /// The Ed25519 public key of the holder's "electronic seal" on this
    /// device, if it has one.
    pub seal_key: Option<[u8; 32]>,
}

/// How confirmation information reaches the devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryMode {
    /// To every device at once.
    Broadcast,
    /// To one device after another, moving on when a delivery fails or when
    /// `fallback_after` nanoseconds pass without an answer.
    Sequential {
        /// Time to wait for an answer before trying the next device.
        fallback_after: Timestamp,
    },
}

/// The purpose of a second code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// "Yes, this is me."
    Normal,
    /// "I am being forced": the answer looks like a success, the request is
    /// voided and the alarm raised.
    Duress,
}

/// How a request is confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ConfirmMethod {
    /// No confirmation: straight to the exchange.
    None = 0,
    /// The confirmation code sent over the second channel, answered with a
    /// second code.
    Code = 1,
    /// As [`Self::Code`], plus an Ed25519 signature over the transaction
    /// summary by a key on the holder's device (the seed's electronic seal).
    Seal = 2,
    /// As [`Self::Code`], plus a biometric check by the host's
    /// [`super::BiometricVerifier`].
    Biometric = 3,
}

/// The method table: `(from, method)` rows with strictly increasing `from`
/// (inclusive lower bound of the amount). An amount uses the last row whose
/// `from` is at most the amount. Amounts at or below the contractor's
/// threshold need no confirmation whatever the table says; above it a row
/// saying [`ConfirmMethod::None`] (or no row) means [`ConfirmMethod::Code`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MethodTable {
    /// The rows.
    pub rows: Vec<(Amount, ConfirmMethod)>,
}

impl MethodTable {
    /// Code above the threshold, for every amount.
    #[must_use]
    pub fn code_only() -> Self {
        MethodTable {
            rows: vec![(0, ConfirmMethod::Code)],
        }
    }

    pub(crate) fn select(&self, threshold: Amount, effective: Amount) -> ConfirmMethod {
        if effective <= threshold {
            return ConfirmMethod::None;
        }
        let row = self.rows.partition_point(|(from, _)| *from <= effective);
        match row.checked_sub(1).map(|i| self.rows[i].1) {
            None | Some(ConfirmMethod::None) => ConfirmMethod::Code,
            Some(m) => m,
        }
    }
}

/// What the host registers for a contractor. Its `Debug` form hides the PIN
/// and the second codes.
#[derive(Clone)]
pub struct ContractorSpec {
    /// The user code (the seed's first specific code), unique.
    pub user_code: String,
    /// The PIN in clear; only its argon2id hash is kept.
    pub pin: String,
    /// Second-channel devices (at least one).
    pub devices: Vec<Device>,
    /// Second codes with their purposes (at least one normal); only hashes
    /// are kept.
    pub second_codes: Vec<(String, Purpose)>,
    /// Amounts above this need confirmation.
    pub threshold: Amount,
    /// Amounts above this are refused.
    pub max_amount: Amount,
    /// Method by amount range.
    pub methods: MethodTable,
    /// When set, the amount used for the threshold and method table is the
    /// sum of this contractor's forwarded and pending amounts over the last
    /// window (nanoseconds) plus the new amount, so a large order split into
    /// small ones does not escape confirmation.
    pub rolling_window: Option<Timestamp>,
    /// How confirmation information reaches the devices.
    pub delivery: DeliveryMode,
    /// Start disabled.
    pub disabled: bool,
}

impl core::fmt::Debug for ContractorSpec {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ContractorSpec")
            .field("user_code", &self.user_code)
            .field("devices", &self.devices)
            .field(
                "second_code_purposes",
                &self.second_codes.iter().map(|c| c.1).collect::<Vec<_>>(),
            )
            .field("threshold", &self.threshold)
            .field("max_amount", &self.max_amount)
            .field("methods", &self.methods)
            .field("rolling_window", &self.rolling_window)
            .field("delivery", &self.delivery)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// What the service keeps: no PIN, no second code in clear.
#[derive(Clone, Debug)]
pub(crate) struct ContractorRecord {
    pub(crate) user_code: String,
    pub(crate) pin: PinHash,
    pub(crate) devices: Vec<Device>,
    pub(crate) seal_keys: Vec<SealKey>,
    pub(crate) second_codes: Vec<(SecondCodeHash, Purpose)>,
    pub(crate) threshold: Amount,
    pub(crate) max_amount: Amount,
    pub(crate) methods: MethodTable,
    pub(crate) rolling_window: Option<Timestamp>,
    pub(crate) delivery: DeliveryMode,
    pub(crate) disabled: bool,
}

fn salt<R: CryptoRngCore + ?Sized>(rng: &mut R) -> [u8; 16] {
    let mut s = [0u8; 16];
    rng.fill_bytes(&mut s);
    s
}

impl ContractorRecord {
    /// Validates `spec` and hashes its secrets (pays one argon2id).
    pub(crate) fn from_spec<R: CryptoRngCore + ?Sized>(
        spec: &ContractorSpec,
        argon2: Argon2Params,
        pepper: &Hash32,
        rng: &mut R,
    ) -> Result<Self, OobError> {
        let bad = |e| Err(OobError::InvalidRecord(e));
        if spec.user_code.is_empty() || spec.user_code.len() > 64 {
            return bad(RecordError::UserCode);
        }
        if spec.pin.len() < 4 || spec.pin.len() > 64 {
            return bad(RecordError::Pin);
        }
        if spec.devices.is_empty() {
            return bad(RecordError::NoDevice);
        }
        let mut seal_keys = Vec::new();
        for d in &spec.devices {
            if d.address.is_empty() || d.address.len() > 256 {
                return bad(RecordError::DeviceAddress);
            }
            if let Some(k) = &d.seal_key {
                match SealKey::parse(k) {
                    Some(k) => seal_keys.push(k),
                    None => return bad(RecordError::SealKey),
                }
            }
        }
        if !spec.second_codes.iter().any(|(_, p)| *p == Purpose::Normal) {
            return bad(RecordError::NoNormalSecondCode);
        }
        for (i, (c, _)) in spec.second_codes.iter().enumerate() {
            if c.len() < 4 || c.len() > 64 {
                return bad(RecordError::SecondCode);
            }
            if spec.second_codes[..i].iter().any(|(d, _)| d == c) {
                return bad(RecordError::DuplicateSecondCode);
            }
        }
        if spec.methods.rows.windows(2).any(|w| w[0].0 >= w[1].0) {
            return bad(RecordError::MethodTableOrder);
        }
        if seal_keys.is_empty()
            && spec
                .methods
                .rows
                .iter()
                .any(|(_, m)| *m == ConfirmMethod::Seal)
        {
            return bad(RecordError::SealWithoutKey);
        }
        if spec.rolling_window == Some(0)
            || spec.delivery == (DeliveryMode::Sequential { fallback_after: 0 })
        {
            return bad(RecordError::ZeroDuration);
        }
        let pin = PinHash::new(argon2, salt(rng), spec.pin.as_bytes())?;
        let second_codes = spec
            .second_codes
            .iter()
            .map(|(c, p)| (SecondCodeHash::new(pepper, salt(rng), c.as_bytes()), *p))
            .collect();
        Ok(ContractorRecord {
            user_code: spec.user_code.clone(),
            pin,
            devices: spec.devices.clone(),
            seal_keys,
            second_codes,
            threshold: spec.threshold,
            max_amount: spec.max_amount,
            methods: spec.methods.clone(),
            rolling_window: spec.rolling_window,
            delivery: spec.delivery,
            disabled: spec.disabled,
        })
    }

    /// The purpose of `code` if it is one of this contractor's second codes.
    /// Every stored code is checked (no early exit on a match).
    pub(crate) fn second_code_purpose(&self, pepper: &Hash32, code: &[u8]) -> Option<Purpose> {
        let mut normal = subtle::Choice::from(0);
        let mut duress = subtle::Choice::from(0);
        for (h, p) in &self.second_codes {
            let m = h.matches(pepper, code);
            match p {
                Purpose::Normal => normal |= m,
                Purpose::Duress => duress |= m,
            }
        }
        // Second codes are distinct, so at most one purpose matches.
        if bool::from(duress) {
            Some(Purpose::Duress)
        } else if bool::from(normal) {
            Some(Purpose::Normal)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_selection() {
        let t = MethodTable {
            rows: vec![
                (0, ConfirmMethod::None),
                (1_000, ConfirmMethod::Code),
                (10_000, ConfirmMethod::Seal),
                (100_000, ConfirmMethod::Biometric),
            ],
        };
        assert_eq!(t.select(500, 500), ConfirmMethod::None);
        assert_eq!(t.select(500, 501), ConfirmMethod::Code); // None row upgraded
        assert_eq!(t.select(500, 999), ConfirmMethod::Code);
        assert_eq!(t.select(500, 1_000), ConfirmMethod::Code);
        assert_eq!(t.select(500, 10_000), ConfirmMethod::Seal);
        assert_eq!(t.select(500, 99_999), ConfirmMethod::Seal);
        assert_eq!(t.select(500, u64::MAX), ConfirmMethod::Biometric);
        assert_eq!(t.select(50_000, 20_000), ConfirmMethod::None);
        assert_eq!(MethodTable::default().select(0, 1), ConfirmMethod::Code);
        let late = MethodTable {
            rows: vec![(5_000, ConfirmMethod::Seal)],
        };
        assert_eq!(late.select(0, 10), ConfirmMethod::Code);
    }
}
