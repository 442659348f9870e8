//! The electronic stock certificate, its ID, endorsements, and the
//! certificate-ID invalidation engine.
//!
//! - [`Certificate`] carries every field of seed 001 drawing 6 and travels as
//!   `Signed<Certificate>`, signed by the register.
//! - [`CertId`] is `serial + tag`: a dense serial assigned by the register and
//!   a 16-byte keyed-BLAKE3 tag of (instrument, serial) under the register's
//!   secret [`CertIdKey`]. A guessed or forged ID fails the tag check before
//!   any table is touched.
//! - [`IdTable`] (in `table`) is the lock-free table of every ID ever issued,
//!   each with a [`StateWord`](state::StateWord) (`live -> reserved -> spent`).
//!   A presented certificate is checked by its digest against the table.
//! - [`Endorsement`] signs a certificate over to a named recipient; the
//!   recipient checks the chain offline with [`verify_endorsed`].
//!
//! Architecture invariant: `certs` depends only on `crypto` and `types`.
//! Architecture invariant: a certificate ID is spent at most once, and a
//! spent ID never becomes live again (every transition is one CAS; nothing
//! leaves `spent`).
#![forbid(unsafe_code)]

pub mod state;
pub mod table;

use core::fmt;

pub use state::{IdState, StateWord, TransitionError, MAX_ORDER_ID};
pub use table::{Facts, IdTable, TableError};

use crate::crypto::{
    ct_eq, CryptoError, Decode, Digest, Encode, Message, MsgKind, PublicKey, Reader, Signed,
    UserId, WireError, Writer,
};
use crate::types::{InstrumentId, Qty, Timestamp};

/// Longest name or address string in a certificate (bytes).
pub const MAX_TEXT: usize = 256;
/// Longest conversion-terms string (bytes).
pub const MAX_TERMS: usize = 1024;

/// A certificate ID: register serial plus keyed tag.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CertId {
    /// Dense serial (index into the ID table).
    pub serial: u64,
    /// First 16 bytes of keyed BLAKE3 over (instrument, serial).
    pub tag: [u8; 16],
}

impl fmt::Debug for CertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertId({}-", self.serial)?;
        for b in &self.tag[..4] {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…)")
    }
}

impl fmt::Display for CertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-", self.serial)?;
        for b in &self.tag {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl Encode for CertId {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.serial);
        w.array(&self.tag);
    }
}
impl Decode for CertId {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(CertId {
            serial: r.u64()?,
            tag: r.array()?,
        })
    }
}

/// The register's secret for certificate-ID tags.
pub struct CertIdKey([u8; 32]);

impl fmt::Debug for CertIdKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CertIdKey(..)")
    }
}

impl CertIdKey {
    /// A key from 32 secret bytes.
    #[must_use]
    pub fn from_bytes(secret: [u8; 32]) -> Self {
        CertIdKey(secret)
    }
    /// A fresh random key.
    #[must_use]
    pub fn generate() -> Self {
        CertIdKey(crate::crypto::random_bytes())
    }
    fn tag(&self, instrument: InstrumentId, serial: u64) -> [u8; 16] {
        let mut input = [0u8; 12];
        input[..4].copy_from_slice(&instrument.to_le_bytes());
        input[4..].copy_from_slice(&serial.to_le_bytes());
        let d = Digest::keyed(&self.0, &input);
        let mut t = [0u8; 16];
        t.copy_from_slice(&d.0[..16]);
        t
    }
    /// The ID for `serial` of `instrument`.
    #[must_use]
    pub fn mint(&self, instrument: InstrumentId, serial: u64) -> CertId {
        CertId {
            serial,
            tag: self.tag(instrument, serial),
        }
    }
    /// Whether `id` carries the right tag for `instrument` (constant time).
    #[must_use]
    pub fn check(&self, instrument: InstrumentId, id: &CertId) -> bool {
        ct_eq(&self.tag(instrument, id.serial), &id.tag)
    }
}

/// The class of shares.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ShareClass {
    /// Common (ordinary) shares.
    Common,
    /// Preferred shares.
    Preferred,
    /// Subordinated shares.
    Subordinated,
    /// Convertible shares with their conversion terms.
    Convertible {
        /// Conversion terms (free text).
        terms: String,
    },
}

impl ShareClass {
    /// The one-byte class code (0 common, 1 preferred, 2 subordinated,
    /// 3 convertible).
    #[must_use]
    pub fn code(&self) -> u8 {
        match self {
            ShareClass::Common => 0,
            ShareClass::Preferred => 1,
            ShareClass::Subordinated => 2,
            ShareClass::Convertible { .. } => 3,
        }
    }
}

impl Encode for ShareClass {
    fn encode(&self, w: &mut Writer) {
        w.u8(self.code());
        if let ShareClass::Convertible { terms } = self {
            w.str(terms);
        }
    }
}
impl Decode for ShareClass {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(match r.u8()? {
            0 => ShareClass::Common,
            1 => ShareClass::Preferred,
            2 => ShareClass::Subordinated,
            3 => ShareClass::Convertible {
                terms: r.str(MAX_TERMS)?,
            },
            _ => return Err(WireError::BadTag),
        })
    }
}

/// Restrictions on transferring a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransferRestriction {
    /// Freely transferable.
    Free,
    /// Not transferable at all.
    NonTransferable,
    /// Not transferable before the given time.
    LockedUntil(Timestamp),
}

impl TransferRestriction {
    /// Whether a transfer at `now` is allowed.
    #[must_use]
    pub fn allows(&self, now: Timestamp) -> bool {
        match self {
            TransferRestriction::Free => true,
            TransferRestriction::NonTransferable => false,
            TransferRestriction::LockedUntil(t) => now >= *t,
        }
    }
}

impl Encode for TransferRestriction {
    fn encode(&self, w: &mut Writer) {
        match self {
            TransferRestriction::Free => w.u8(0),
            TransferRestriction::NonTransferable => w.u8(1),
            TransferRestriction::LockedUntil(t) => {
                w.u8(2);
                w.u64(*t);
            }
        }
    }
}
impl Decode for TransferRestriction {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(match r.u8()? {
            0 => TransferRestriction::Free,
            1 => TransferRestriction::NonTransferable,
            2 => TransferRestriction::LockedUntil(r.u64()?),
            _ => return Err(WireError::BadTag),
        })
    }
}

/// The signature algorithm of the issuing company (only Ed25519 = 1).
pub const SIG_ALG_ED25519: u8 = 1;

/// The electronic stock certificate (seed 001 drawing 6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    /// Company name or trade name.
    pub company_name: String,
    /// Company founding date, `YYYYMMDD`.
    pub company_founded: u32,
    /// Traditional certificate number (stable across renumbering).
    pub certificate_number: u64,
    /// Certificate ID (renumbered on every change of holder or quantity).
    pub id: CertId,
    /// Instrument (the issue of shares this certificate belongs to).
    pub instrument: InstrumentId,
    /// Number of shares.
    pub shares: Qty,
    /// Par value per share, minor currency units (0: no par).
    pub par_value: u64,
    /// Issue date of this certificate.
    pub issue_date: Timestamp,
    /// Expiry of the electronic certificate.
    pub expiry: Timestamp,
    /// Holder's name.
    pub holder_name: String,
    /// Holder's user id.
    pub holder: UserId,
    /// Share class (with conversion terms for convertibles).
    pub class: ShareClass,
    /// Transfer restrictions.
    pub restriction: TransferRestriction,
    /// The issuer's signature algorithm ([`SIG_ALG_ED25519`]).
    pub signature_algorithm: u8,
    /// The issuing register's name.
    pub register_name: String,
    /// The issuing register's address (URL).
    pub register_address: String,
}

impl Encode for Certificate {
    fn encode(&self, w: &mut Writer) {
        w.str(&self.company_name);
        w.u32(self.company_founded);
        w.u64(self.certificate_number);
        self.id.encode(w);
        w.u32(self.instrument);
        w.u64(self.shares);
        w.u64(self.par_value);
        w.u64(self.issue_date);
        w.u64(self.expiry);
        w.str(&self.holder_name);
        w.u64(self.holder);
        self.class.encode(w);
        self.restriction.encode(w);
        w.u8(self.signature_algorithm);
        w.str(&self.register_name);
        w.str(&self.register_address);
    }
}
impl Decode for Certificate {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let c = Certificate {
            company_name: r.str(MAX_TEXT)?,
            company_founded: r.u32()?,
            certificate_number: r.u64()?,
            id: CertId::decode(r)?,
            instrument: r.u32()?,
            shares: r.u64()?,
            par_value: r.u64()?,
            issue_date: r.u64()?,
            expiry: r.u64()?,
            holder_name: r.str(MAX_TEXT)?,
            holder: r.u64()?,
            class: ShareClass::decode(r)?,
            restriction: TransferRestriction::decode(r)?,
            signature_algorithm: r.u8()?,
            register_name: r.str(MAX_TEXT)?,
            register_address: r.str(MAX_TEXT)?,
        };
        if c.signature_algorithm != SIG_ALG_ED25519 {
            return Err(WireError::BadTag);
        }
        if c.shares == 0 {
            return Err(WireError::NonCanonical);
        }
        Ok(c)
    }
}
impl Message for Certificate {
    const KIND: MsgKind = MsgKind::Certificate;
}

/// Why a certificate or endorsement was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertError {
    /// The certificate has expired.
    Expired,
    /// The certificate's transfer restriction forbids the transfer.
    Restricted,
    /// A signature does not verify.
    Crypto(CryptoError),
    /// The certificate is not signed by the expected register.
    WrongRegister,
    /// The endorsement is not by the certificate's holder.
    NotHolder,
    /// The endorsement is for another certificate.
    WrongCertificate,
    /// The endorsement names another recipient.
    WrongRecipient,
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertError::Expired => f.write_str("certificate expired"),
            CertError::Restricted => f.write_str("transfer restricted"),
            CertError::Crypto(e) => write!(f, "{e}"),
            CertError::WrongRegister => f.write_str("not signed by the register"),
            CertError::NotHolder => f.write_str("endorsement not by the holder"),
            CertError::WrongCertificate => f.write_str("endorsement for another certificate"),
            CertError::WrongRecipient => f.write_str("endorsement for another recipient"),
        }
    }
}

impl std::error::Error for CertError {}

impl From<CryptoError> for CertError {
    fn from(e: CryptoError) -> Self {
        CertError::Crypto(e)
    }
}

impl Certificate {
    /// Checks that the certificate may change hands at `now`: not expired,
    /// and its transfer restriction allows it.
    pub fn check_transferable(&self, now: Timestamp) -> Result<(), CertError> {
        if now > self.expiry {
            return Err(CertError::Expired);
        }
        if !self.restriction.allows(now) {
            return Err(CertError::Restricted);
        }
        Ok(())
    }
}

/// Checks a certificate's register signature.
pub fn verify_certificate(
    cert: &Signed<Certificate>,
    register_id: UserId,
    register_key: &PublicKey,
) -> Result<(), CertError> {
    if cert.signer != register_id {
        return Err(CertError::WrongRegister);
    }
    cert.verify(register_key)?;
    Ok(())
}

/// A holder's endorsement of a certificate to a named recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endorsement {
    /// Digest of the endorsed `Signed<Certificate>`.
    pub certificate: Digest,
    /// The endorsed certificate's ID.
    pub cert_id: CertId,
    /// The recipient's user id.
    pub recipient: UserId,
    /// A fresh nonce chosen by the endorser.
    pub nonce: u64,
}

impl Encode for Endorsement {
    fn encode(&self, w: &mut Writer) {
        self.certificate.encode(w);
        self.cert_id.encode(w);
        w.u64(self.recipient);
        w.u64(self.nonce);
    }
}
impl Decode for Endorsement {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Endorsement {
            certificate: Digest::decode(r)?,
            cert_id: CertId::decode(r)?,
            recipient: r.u64()?,
            nonce: r.u64()?,
        })
    }
}
impl Message for Endorsement {
    const KIND: MsgKind = MsgKind::Endorsement;
}

/// Builds the endorsement of `cert` to `recipient` (the holder signs it).
#[must_use]
pub fn endorse(
    cert: &Signed<Certificate>,
    recipient: UserId,
    nonce: u64,
    holder_key: &crate::crypto::KeyPair,
) -> Signed<Endorsement> {
    let body = Endorsement {
        certificate: cert.digest(),
        cert_id: cert.body.id,
        recipient,
        nonce,
    };
    Signed::sign(body, cert.body.holder, holder_key)
}

/// Offline check of an endorsed certificate by its recipient: the register
/// signed the certificate, the holder signed the endorsement, the
/// endorsement names this certificate (by digest and ID) and `recipient`,
/// and the certificate is transferable at `now`. `holder_key` must be the
/// key attested for `cert.body.holder` (from its attestation certificate).
pub fn verify_endorsed(
    cert: &Signed<Certificate>,
    endorsement: &Signed<Endorsement>,
    recipient: UserId,
    register_id: UserId,
    register_key: &PublicKey,
    holder_key: &PublicKey,
    now: Timestamp,
) -> Result<(), CertError> {
    verify_certificate(cert, register_id, register_key)?;
    check_endorsement(cert, endorsement, recipient, holder_key)?;
    cert.body.check_transferable(now)
}

/// The endorsement part of [`verify_endorsed`], for a party that has already
/// established the certificate itself (the register does so by digest
/// against its ID table): the holder signed an endorsement of exactly this
/// certificate to `recipient`.
pub fn check_endorsement(
    cert: &Signed<Certificate>,
    endorsement: &Signed<Endorsement>,
    recipient: UserId,
    holder_key: &PublicKey,
) -> Result<(), CertError> {
    if endorsement.signer != cert.body.holder {
        return Err(CertError::NotHolder);
    }
    endorsement.verify(holder_key)?;
    if endorsement.body.certificate != cert.digest() || endorsement.body.cert_id != cert.body.id {
        return Err(CertError::WrongCertificate);
    }
    if endorsement.body.recipient != recipient {
        return Err(CertError::WrongRecipient);
    }
    Ok(())
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::crypto::KeyPair;

    pub(crate) fn sample(id: CertId) -> Certificate {
        Certificate {
            company_name: "Kabu KK".into(),
            company_founded: 19_491_201,
            certificate_number: 77,
            id,
            instrument: 1,
            shares: 1000,
            par_value: 50,
            issue_date: 5,
            expiry: 1_000,
            holder_name: "Alice".into(),
            holder: 100,
            class: ShareClass::Convertible {
                terms: "1:1 after 2030".into(),
            },
            restriction: TransferRestriction::LockedUntil(10),
            signature_algorithm: SIG_ALG_ED25519,
            register_name: "Kabu Register".into(),
            register_address: "https://register.invalid".into(),
        }
    }

    #[test]
    fn cert_id_tags() {
        let k = CertIdKey::from_bytes([9; 32]);
        let id = k.mint(1, 42);
        assert!(k.check(1, &id));
        assert!(!k.check(2, &id));
        let mut forged = id;
        forged.tag[0] ^= 1;
        assert!(!k.check(1, &forged));
        let mut guessed = id;
        guessed.serial = 43;
        assert!(!k.check(1, &guessed));
        assert!(!CertIdKey::from_bytes([8; 32]).check(1, &id));
    }

    #[test]
    fn certificate_roundtrip_and_checks() {
        let reg = KeyPair::from_seed(&[4; 32]);
        let k = CertIdKey::from_bytes([9; 32]);
        let cert = Signed::sign(sample(k.mint(1, 0)), 7, &reg);
        let bytes = cert.to_bytes();
        assert_eq!(
            Signed::<Certificate>::from_bytes(&bytes).as_ref(),
            Ok(&cert)
        );
        assert!(verify_certificate(&cert, 7, &reg.public()).is_ok());
        assert_eq!(
            verify_certificate(&cert, 8, &reg.public()),
            Err(CertError::WrongRegister)
        );
        let mut t = cert.clone();
        t.body.shares = 1001;
        assert_eq!(
            verify_certificate(&t, 7, &reg.public()),
            Err(CertError::Crypto(CryptoError::BadSignature))
        );
        assert_eq!(cert.body.check_transferable(9), Err(CertError::Restricted));
        assert_eq!(cert.body.check_transferable(10), Ok(()));
        assert_eq!(cert.body.check_transferable(1_001), Err(CertError::Expired));
        // Non-canonical: zero shares, unknown algorithm, unknown class tag.
        for (i, v) in [(0usize, 0u8), (1, 2)] {
            let mut c = sample(k.mint(1, 0));
            if i == 0 {
                c.shares = 0;
            } else {
                c.signature_algorithm = v;
            }
            let b = Signed::sign(c, 7, &reg).to_bytes();
            assert!(Signed::<Certificate>::from_bytes(&b).is_err());
        }
    }

    #[test]
    fn endorsement_chain() {
        let reg = KeyPair::from_seed(&[4; 32]);
        let alice = KeyPair::from_seed(&[5; 32]);
        let mallory = KeyPair::from_seed(&[6; 32]);
        let k = CertIdKey::from_bytes([9; 32]);
        let cert = Signed::sign(sample(k.mint(1, 0)), 7, &reg);
        let e = endorse(&cert, 200, 1, &alice);
        let check = |e: &Signed<Endorsement>, who: UserId, hk: &PublicKey| {
            verify_endorsed(&cert, e, who, 7, &reg.public(), hk, 20)
        };
        assert_eq!(check(&e, 200, &alice.public()), Ok(()));
        assert_eq!(
            check(&e, 201, &alice.public()),
            Err(CertError::WrongRecipient)
        );
        assert!(check(&e, 200, &mallory.public()).is_err());
        let forged = endorse(&cert, 200, 1, &mallory);
        // The holder key comes from the holder's attestation, not from the
        // endorser: a forger's signature fails against it.
        assert!(check(&forged, 200, &alice.public()).is_err());
        let mut other = e.clone();
        other.body.certificate = Digest::of(b"x");
        assert!(check(&other, 200, &alice.public()).is_err());
        let b = e.to_bytes();
        assert_eq!(Signed::<Endorsement>::from_bytes(&b).as_ref(), Ok(&e));
    }
}
