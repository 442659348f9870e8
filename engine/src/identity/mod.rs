//! Parties, attestation certificates and the certificate authority.
//!
//! A [`CertificateAuthority`] issues [`Attestation`]s (user id, name, public
//! key, validity window, serial, issuer, role and [`Policy`]) signed with its
//! key, and signs [`Revocation`]s. An [`IdentityStore`] is what a relying
//! party (the register, an exchange) keeps: the CA's public key, the
//! attestations it has accepted (each key parsed once and cached, weak keys
//! refused), and the revoked serials. [`IdentityStore::verify`] is the one
//! gate every incoming signed message passes: the signer's attestation must
//! exist, be inside its validity window, not be revoked, and the signature
//! must verify strictly.
//!
//! Architecture invariant: `identity` depends only on `crypto` and `types`.
#![forbid(unsafe_code)]

use core::fmt;
use std::collections::{HashMap, HashSet};

use crate::crypto::{
    decode_seq_u64, CryptoError, Decode, Encode, KeyCache, KeyPair, Message, MsgKind, PublicKey,
    Reader, Signed, UserId, Validity, WireError, Writer,
};
use crate::types::Timestamp;

/// Longest name, issuer or address string (bytes).
pub const MAX_NAME: usize = 256;

/// The role a party plays; some messages are only accepted from one role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Role {
    /// An investor (issue, orders, direct transfer, inquiries).
    Investor = 0,
    /// A register (signs certificates for an issuing company).
    Register = 1,
    /// An exchange (sends transfer requests).
    Exchange = 2,
    /// The settlement service.
    Settlement = 3,
}

impl Role {
    fn from_u8(b: u8) -> Result<Role, WireError> {
        Ok(match b {
            0 => Role::Investor,
            1 => Role::Register,
            2 => Role::Exchange,
            3 => Role::Settlement,
            _ => return Err(WireError::BadTag),
        })
    }
}

/// The limits an attestation places on its holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Account usage limit: maximum total value (minor currency units) of
    /// open buy orders, and of shares issued on one request at par.
    pub usage_limit: u64,
    /// Maximum shares in one order or one issue request.
    pub per_order_max: u64,
    /// Short selling forbidden.
    pub short_sale_ban: bool,
}

impl Policy {
    /// A policy with no practical limits.
    pub const UNLIMITED: Policy = Policy {
        usage_limit: u64::MAX,
        per_order_max: u64::MAX,
        short_sale_ban: true,
    };

    /// Checks one request for `quantity` shares worth `value`.
    pub fn check(&self, quantity: u64, value: Option<u64>) -> Result<(), IdentityError> {
        if quantity > self.per_order_max {
            return Err(IdentityError::PolicyViolation(
                "quantity above per-order maximum",
            ));
        }
        match value {
            Some(v) if v <= self.usage_limit => Ok(()),
            _ => Err(IdentityError::PolicyViolation("value above usage limit")),
        }
    }
}

impl Encode for Policy {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.usage_limit);
        w.u64(self.per_order_max);
        w.bool(self.short_sale_ban);
    }
}
impl Decode for Policy {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Policy {
            usage_limit: r.u64()?,
            per_order_max: r.u64()?,
            short_sale_ban: r.bool()?,
        })
    }
}

/// An attestation certificate (seed 001 drawing 4): binds a user id to a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attestation {
    /// Serial number assigned by the CA (unique per CA).
    pub serial: u64,
    /// The subject's user id.
    pub user_id: UserId,
    /// The subject's display name.
    pub name: String,
    /// The subject's Ed25519 public key.
    pub public_key: [u8; 32],
    /// When the attestation is valid.
    pub validity: Validity,
    /// The issuing CA's name.
    pub issuer: String,
    /// The subject's role.
    pub role: Role,
    /// Limits on the subject.
    pub policy: Policy,
}

impl Encode for Attestation {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.serial);
        w.u64(self.user_id);
        w.str(&self.name);
        w.array(&self.public_key);
        self.validity.encode(w);
        w.str(&self.issuer);
        w.u8(self.role as u8);
        self.policy.encode(w);
    }
}
impl Decode for Attestation {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Attestation {
            serial: r.u64()?,
            user_id: r.u64()?,
            name: r.str(MAX_NAME)?,
            public_key: r.array()?,
            validity: Validity::decode(r)?,
            issuer: r.str(MAX_NAME)?,
            role: Role::from_u8(r.u8()?)?,
            policy: Policy::decode(r)?,
        })
    }
}
impl Message for Attestation {
    const KIND: MsgKind = MsgKind::Attestation;
}

/// A CA's statement that attestation serials are revoked from `effective`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// Revoked attestation serials.
    pub serials: Vec<u64>,
    /// When the revocation was made.
    pub at: Timestamp,
}

/// Most serials in one revocation message.
pub const MAX_REVOKED: usize = 4096;

impl Encode for Revocation {
    fn encode(&self, w: &mut Writer) {
        w.count(self.serials.len());
        for s in &self.serials {
            w.u64(*s);
        }
        w.u64(self.at);
    }
}
impl Decode for Revocation {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let serials = decode_seq_u64(r, MAX_REVOKED)?;
        Ok(Revocation {
            serials,
            at: r.u64()?,
        })
    }
}
impl Message for Revocation {
    const KIND: MsgKind = MsgKind::Revocation;
}

/// Why an identity check failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentityError {
    /// No attestation is registered for this user id.
    UnknownParty(UserId),
    /// The attestation's validity window does not contain the time.
    Expired,
    /// The attestation (by serial) is revoked.
    Revoked,
    /// The CA's signature on an attestation or revocation is bad, or the
    /// attestation names another issuer.
    BadIssuer,
    /// A signature or key problem.
    Crypto(CryptoError),
    /// A user id in the message is not the signer's.
    UserIdMismatch,
    /// The signer has the wrong role for this message.
    WrongRole,
    /// The request exceeds the attestation policy.
    PolicyViolation(&'static str),
    /// A different attestation is already registered for this user id
    /// with a later serial.
    Superseded,
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityError::UnknownParty(u) => write!(f, "no attestation for user {u}"),
            IdentityError::Expired => f.write_str("attestation expired or not yet valid"),
            IdentityError::Revoked => f.write_str("attestation revoked"),
            IdentityError::BadIssuer => f.write_str("not issued by the trusted CA"),
            IdentityError::Crypto(e) => write!(f, "{e}"),
            IdentityError::UserIdMismatch => f.write_str("user id does not match the signer"),
            IdentityError::WrongRole => f.write_str("signer has the wrong role"),
            IdentityError::PolicyViolation(w) => write!(f, "policy violation: {w}"),
            IdentityError::Superseded => f.write_str("a newer attestation is registered"),
        }
    }
}

impl std::error::Error for IdentityError {}

impl From<CryptoError> for IdentityError {
    fn from(e: CryptoError) -> Self {
        IdentityError::Crypto(e)
    }
}

/// A certificate authority: issues attestations and revocations.
#[derive(Debug)]
pub struct CertificateAuthority {
    user_id: UserId,
    name: String,
    key: KeyPair,
    next_serial: u64,
}

impl CertificateAuthority {
    /// A CA with the given user id, name and key.
    #[must_use]
    pub fn new(user_id: UserId, name: &str, key: KeyPair) -> Self {
        Self {
            user_id,
            name: name.to_owned(),
            key,
            next_serial: 1,
        }
    }
    /// The CA's user id (the signer of its attestations).
    #[must_use]
    pub fn user_id(&self) -> UserId {
        self.user_id
    }
    /// The CA's name (the issuer of its attestations).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The CA's public key.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        self.key.public()
    }
    /// Issues a signed attestation. The subject's key is checked (weak keys
    /// refused) before anything is signed.
    pub fn issue(
        &mut self,
        user_id: UserId,
        name: &str,
        public_key: &PublicKey,
        validity: Validity,
        role: Role,
        policy: Policy,
    ) -> Result<Signed<Attestation>, IdentityError> {
        if name.len() > MAX_NAME {
            return Err(IdentityError::PolicyViolation("name too long"));
        }
        let serial = self.next_serial;
        self.next_serial += 1;
        let body = Attestation {
            serial,
            user_id,
            name: name.to_owned(),
            public_key: public_key.to_bytes(),
            validity,
            issuer: self.name.clone(),
            role,
            policy,
        };
        Ok(Signed::sign(body, self.user_id, &self.key))
    }
    /// Signs a revocation of the given attestation serials.
    #[must_use]
    pub fn revoke(&self, serials: &[u64], at: Timestamp) -> Signed<Revocation> {
        Signed::sign(
            Revocation {
                serials: serials.to_vec(),
                at,
            },
            self.user_id,
            &self.key,
        )
    }
}

/// A registered party: its attestation and parsed key.
#[derive(Clone, Debug)]
pub struct Party {
    /// The attestation (as signed by the CA).
    pub attestation: Signed<Attestation>,
    /// The parsed key.
    pub key: PublicKey,
}

/// Checks that `att` was issued and signed by the CA `(ca_id, ca_name,
/// ca_key)`.
///
/// # Errors
/// [`IdentityError::BadIssuer`].
pub fn check_attestation(
    ca_id: UserId,
    ca_name: &str,
    ca_key: &PublicKey,
    att: &Signed<Attestation>,
) -> Result<(), IdentityError> {
    if att.signer != ca_id || att.body.issuer != ca_name {
        return Err(IdentityError::BadIssuer);
    }
    att.verify(ca_key).map_err(|_| IdentityError::BadIssuer)
}

/// Checks that `rev` was signed by the CA `(ca_id, ca_key)`.
///
/// # Errors
/// [`IdentityError::BadIssuer`].
pub fn check_revocation(
    ca_id: UserId,
    ca_key: &PublicKey,
    rev: &Signed<Revocation>,
) -> Result<(), IdentityError> {
    if rev.signer != ca_id {
        return Err(IdentityError::BadIssuer);
    }
    rev.verify(ca_key).map_err(|_| IdentityError::BadIssuer)
}

/// What a relying party knows about identities.
#[derive(Debug)]
pub struct IdentityStore {
    ca_id: UserId,
    ca_name: String,
    ca_key: PublicKey,
    parties: HashMap<UserId, Party>,
    revoked: HashSet<u64>,
    keys: KeyCache,
}

impl IdentityStore {
    /// A store trusting one CA.
    #[must_use]
    pub fn new(ca_id: UserId, ca_name: &str, ca_key: PublicKey) -> Self {
        Self {
            ca_id,
            ca_name: ca_name.to_owned(),
            ca_key,
            parties: HashMap::new(),
            revoked: HashSet::new(),
            keys: KeyCache::new(),
        }
    }

    /// Checks a CA-signed attestation and registers its subject. Refuses a bad
    /// CA signature, a weak or invalid subject key, a revoked serial, and an
    /// older serial than the one already registered for that user.
    pub fn register(&mut self, att: &Signed<Attestation>) -> Result<(), IdentityError> {
        check_attestation(self.ca_id, &self.ca_name, &self.ca_key, att)?;
        self.register_checked(att)
    }

    /// The trusted CA: user id, name, key (to check attestations and
    /// revocations off the thread that owns this store).
    #[must_use]
    pub fn ca(&self) -> (UserId, &str, PublicKey) {
        (self.ca_id, &self.ca_name, self.ca_key)
    }

    /// [`IdentityStore::register`] for an attestation whose issuer and
    /// signature were checked already ([`check_attestation`] against this
    /// store's [`IdentityStore::ca`]); every other check is made.
    pub fn register_checked(&mut self, att: &Signed<Attestation>) -> Result<(), IdentityError> {
        if att.signer != self.ca_id || att.body.issuer != self.ca_name {
            return Err(IdentityError::BadIssuer);
        }
        if self.revoked.contains(&att.body.serial) {
            return Err(IdentityError::Revoked);
        }
        if let Some(p) = self.parties.get(&att.body.user_id) {
            if p.attestation.body.serial > att.body.serial {
                return Err(IdentityError::Superseded);
            }
        }
        let key = self.keys.get(&att.body.public_key)?;
        self.parties.insert(
            att.body.user_id,
            Party {
                attestation: att.clone(),
                key,
            },
        );
        Ok(())
    }

    /// Applies a CA-signed revocation.
    pub fn apply_revocation(&mut self, rev: &Signed<Revocation>) -> Result<(), IdentityError> {
        check_revocation(self.ca_id, &self.ca_key, rev)?;
        self.apply_revocation_checked(rev)
    }

    /// [`IdentityStore::apply_revocation`] for a revocation whose signature
    /// was checked already ([`check_revocation`]).
    pub fn apply_revocation_checked(
        &mut self,
        rev: &Signed<Revocation>,
    ) -> Result<(), IdentityError> {
        if rev.signer != self.ca_id {
            return Err(IdentityError::BadIssuer);
        }
        self.revoked.extend(rev.body.serials.iter().copied());
        Ok(())
    }

    /// The party with user id `user`, if its attestation is valid at `now`
    /// (registered, inside its window, not revoked).
    pub fn party(&self, user: UserId, now: Timestamp) -> Result<&Party, IdentityError> {
        let p = self
            .parties
            .get(&user)
            .ok_or(IdentityError::UnknownParty(user))?;
        if self.revoked.contains(&p.attestation.body.serial) {
            return Err(IdentityError::Revoked);
        }
        if !p.attestation.body.validity.contains(now) {
            return Err(IdentityError::Expired);
        }
        Ok(p)
    }

    /// The gate for every incoming message: the signer's attestation is
    /// valid at `now` and the signature verifies. Returns the signer's party.
    pub fn verify<T: Message>(
        &self,
        msg: &Signed<T>,
        now: Timestamp,
    ) -> Result<&Party, IdentityError> {
        let p = self.party(msg.signer, now)?;
        msg.verify(&p.key)?;
        Ok(p)
    }

    /// As [`IdentityStore::verify`], also requiring the signer's role and that
    /// `claimed_user` (the user id inside the message) equals the signer.
    pub fn verify_as<T: Message>(
        &self,
        msg: &Signed<T>,
        role: Role,
        claimed_user: UserId,
        now: Timestamp,
    ) -> Result<&Party, IdentityError> {
        let p = self.party_as(msg.signer, role, claimed_user, now)?;
        msg.verify(&p.key)?;
        Ok(p)
    }

    /// Every known party (revoked or expired ones included).
    pub fn parties(&self) -> impl Iterator<Item = &Party> + '_ {
        self.parties.values()
    }

    /// Every known party's user id and key (revoked or expired ones
    /// included: validity is checked where a message is received).
    pub fn keys(&self) -> impl Iterator<Item = (UserId, PublicKey)> + '_ {
        self.parties.iter().map(|(u, p)| (*u, p.key))
    }

    /// Every check of [`IdentityStore::verify_as`] except the signature
    /// itself: for a runtime whose verification stage checked it already
    /// (against the key this store holds for `signer`).
    pub fn party_as(
        &self,
        signer: UserId,
        role: Role,
        claimed_user: UserId,
        now: Timestamp,
    ) -> Result<&Party, IdentityError> {
        if claimed_user != signer {
            return Err(IdentityError::UserIdMismatch);
        }
        let p = self.party(signer, now)?;
        if p.attestation.body.role != role {
            return Err(IdentityError::WrongRole);
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (
        CertificateAuthority,
        IdentityStore,
        KeyPair,
        Signed<Attestation>,
    ) {
        let ca = CertificateAuthority::new(1, "Test CA", KeyPair::from_seed(&[1; 32]));
        let store = IdentityStore::new(1, "Test CA", ca.public_key());
        let alice = KeyPair::from_seed(&[2; 32]);
        let mut ca = ca;
        let att = ca
            .issue(
                100,
                "Alice",
                &alice.public(),
                Validity {
                    not_before: 10,
                    not_after: 20,
                },
                Role::Investor,
                Policy {
                    usage_limit: 1000,
                    per_order_max: 50,
                    short_sale_ban: true,
                },
            )
            .expect("issue");
        (ca, store, alice, att)
    }

    #[test]
    fn attestation_roundtrip_and_checks() {
        let (ca, mut store, _alice, att) = setup();
        let bytes = att.to_bytes();
        assert_eq!(Signed::<Attestation>::from_bytes(&bytes).as_ref(), Ok(&att));
        store.register(&att).expect("register");
        assert!(store.party(100, 15).is_ok());
        assert_eq!(store.party(100, 9).err(), Some(IdentityError::Expired));
        assert_eq!(store.party(100, 21).err(), Some(IdentityError::Expired));
        assert_eq!(
            store.party(101, 15).err(),
            Some(IdentityError::UnknownParty(101))
        );
        let rev = ca.revoke(&[att.body.serial], 16);
        store.apply_revocation(&rev).expect("revoke");
        assert_eq!(store.party(100, 15).err(), Some(IdentityError::Revoked));
        assert_eq!(store.register(&att), Err(IdentityError::Revoked));
    }

    #[test]
    fn forged_attestations_refused() {
        let (_ca, mut store, alice, att) = setup();
        let mut t = att.clone();
        t.body.policy.per_order_max = u64::MAX;
        assert_eq!(store.register(&t), Err(IdentityError::BadIssuer));
        // Self-signed.
        let selfsigned = Signed::sign(att.body.clone(), 1, &alice);
        assert_eq!(store.register(&selfsigned), Err(IdentityError::BadIssuer));
        // Forged revocation.
        let rev = Signed::sign(
            Revocation {
                serials: vec![1],
                at: 0,
            },
            1,
            &alice,
        );
        assert_eq!(store.apply_revocation(&rev), Err(IdentityError::BadIssuer));
    }

    #[test]
    fn weak_key_refused_at_registration() {
        let (mut ca, mut store, _alice, _) = setup();
        let good = ca
            .issue(
                5,
                "W",
                &KeyPair::from_seed(&[3; 32]).public(),
                Validity {
                    not_before: 0,
                    not_after: 9,
                },
                Role::Investor,
                Policy::UNLIMITED,
            )
            .expect("issue");
        let mut body = good.body.clone();
        body.public_key = [0; 32];
        body.public_key[0] = 1; // identity point: small order
        let forged = Signed::sign(body, 1, &KeyPair::from_seed(&[1; 32]));
        assert_eq!(
            store.register(&forged),
            Err(IdentityError::Crypto(CryptoError::WeakKey))
        );
    }

    #[test]
    fn policy_checks() {
        let p = Policy {
            usage_limit: 1000,
            per_order_max: 50,
            short_sale_ban: true,
        };
        assert!(p.check(50, Some(1000)).is_ok());
        assert!(p.check(51, Some(10)).is_err());
        assert!(p.check(5, Some(1001)).is_err());
        assert!(p.check(5, None).is_err());
    }
}
