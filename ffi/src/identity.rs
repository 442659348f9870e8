//! The certificate authority (`kbk_ca`) and identity stores
//! (`kbk_identities`): attestations, revocations, and checking a signed
//! message against the signer's registered attestation.

use crate::crypto::kbk_keypair;
use crate::crypto::key_arg;
use crate::message::*;
use crate::status::*;
use core::ffi::c_char;
use engine::crypto::{PublicKey, Validity};
use engine::identity::{
    Attestation, CertificateAuthority, IdentityError, IdentityStore, Policy, Revocation, Role,
};

/// An investor (`KBK_FIELD_ROLE`, `kbk_ca_issue`).
pub const KBK_ROLE_INVESTOR: u32 = 0;
/// A register.
pub const KBK_ROLE_REGISTER: u32 = 1;
/// An exchange.
pub const KBK_ROLE_EXCHANGE: u32 = 2;
/// The settlement service.
pub const KBK_ROLE_SETTLEMENT: u32 = 3;

/// The limits an attestation places on its holder.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_policy {
    /// Maximum value (minor units) of open buy orders and of one issue.
    pub usage_limit: u64,
    /// Maximum shares in one order or issue request.
    pub per_order_max: u64,
    /// 1: short selling forbidden.
    pub short_sale_ban: u8,
    /// Zero.
    pub reserved: [u8; 7],
}

/// The trusted CA of a store (and of a register's or an exchange's).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_trust {
    /// The CA's user id (signer of attestations).
    pub ca_id: u64,
    /// The CA's name (NUL-terminated UTF-8), as in its attestations.
    pub ca_name: *const c_char,
    /// The CA's 32-byte public key.
    pub ca_key: [u8; 32],
}

/// A registered party, as `kbk_identities_verify` found it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_party {
    /// User id.
    pub user_id: u64,
    /// Attestation serial.
    pub serial: u64,
    /// Validity start.
    pub not_before: u64,
    /// Validity end.
    pub not_after: u64,
    /// The policy.
    pub policy: kbk_policy,
    /// `KBK_ROLE_*`.
    pub role: u32,
    /// Zero.
    pub reserved: u32,
    /// The party's public key.
    pub public_key: [u8; 32],
}

pub(crate) fn identity_err(e: &IdentityError) -> Fail {
    let status = match e {
        IdentityError::UnknownParty(_) => KBK_STATUS_IDENTITY_UNKNOWN_PARTY,
        IdentityError::Expired => KBK_STATUS_IDENTITY_EXPIRED,
        IdentityError::Revoked => KBK_STATUS_IDENTITY_REVOKED,
        IdentityError::BadIssuer => KBK_STATUS_IDENTITY_BAD_ISSUER,
        IdentityError::Crypto(c) => return crypto_err(c),
        IdentityError::UserIdMismatch => KBK_STATUS_IDENTITY_USER_ID_MISMATCH,
        IdentityError::WrongRole => KBK_STATUS_IDENTITY_WRONG_ROLE,
        IdentityError::PolicyViolation(_) => KBK_STATUS_IDENTITY_POLICY_VIOLATION,
        IdentityError::Superseded => KBK_STATUS_IDENTITY_SUPERSEDED,
    };
    Fail::new(status, e.to_string())
}

/// An identity store trusting the CA `trust` names.
pub(crate) fn store_from(trust: *const kbk_trust) -> Res<IdentityStore> {
    let t = req(trust, "trust")?;
    let key = PublicKey::from_bytes(&t.ca_key).map_err(|e| crypto_err(&e))?;
    Ok(IdentityStore::new(
        t.ca_id,
        string(t.ca_name, "ca_name")?,
        key,
    ))
}

/// Registers the attestation in `len` bytes with `store`.
pub(crate) fn add_attestation(store: &mut IdentityStore, bytes: *const u8, len: usize) -> Res {
    let att = typed_bytes::<Attestation>(bytes, len)?;
    store.register(&att).map_err(|e| identity_err(&e))
}

/// Applies the revocation in `len` bytes to `store`.
pub(crate) fn add_revocation(store: &mut IdentityStore, bytes: *const u8, len: usize) -> Res {
    let rev = typed_bytes::<Revocation>(bytes, len)?;
    store.apply_revocation(&rev).map_err(|e| identity_err(&e))
}

fn role(v: u32) -> Res<Role> {
    Ok(match v {
        KBK_ROLE_INVESTOR => Role::Investor,
        KBK_ROLE_REGISTER => Role::Register,
        KBK_ROLE_EXCHANGE => Role::Exchange,
        KBK_ROLE_SETTLEMENT => Role::Settlement,
        _ => return Err(Fail::arg(format!("role must be 0..=3, got {v}"))),
    })
}

fn policy_to_c(p: &Policy) -> kbk_policy {
    kbk_policy {
        usage_limit: p.usage_limit,
        per_order_max: p.per_order_max,
        short_sale_ban: u8::from(p.short_sale_ban),
        reserved: [0; 7],
    }
}

// ---- the certificate authority ---------------------------------------------------

/// A certificate authority: issues attestations and revocations.
///
/// Thread safety: not thread-safe (issuing numbers serials); use from one
/// thread at a time.
#[derive(Debug)]
pub struct kbk_ca {
    _private: [u8; 0],
}

#[repr(C)]
struct CaHandle {
    header: Header,
    ca: CertificateAuthority,
}

impl Handle for CaHandle {
    const MAGIC: u64 = 0x6b62_6b5f_6361_2020; // "kbk_ca  "
    fn header(&self) -> &Header {
        &self.header
    }
}

/// A CA with user id `user_id`, name `name` and (a copy of) `key` into
/// `*out`. Free it with `kbk_ca_free`.
#[no_mangle]
pub extern "C" fn kbk_ca_new(
    user_id: u64,
    name: *const c_char,
    key: *const kbk_keypair,
    out: *mut *mut kbk_ca,
) -> kbk_status {
    guard(|| {
        let o = crate::status::out(out, "out")?;
        let k = key_arg(key)?;
        let ca = CertificateAuthority::new(user_id, string(name, "name")?, k.copy());
        o.set(
            into_raw(CaHandle {
                header: Header::new(CaHandle::MAGIC),
                ca,
            })
            .cast::<kbk_ca>(),
        );
        Ok(())
    })
}

/// Frees a CA. NULL is fine.
#[no_mangle]
pub extern "C" fn kbk_ca_free(ca: *mut kbk_ca) {
    free(ca.cast::<CaHandle>());
}

/// The CA's 32-byte public key into `out`.
#[no_mangle]
pub extern "C" fn kbk_ca_public_key(ca: *mut kbk_ca, out: *mut u8) -> kbk_status {
    with_mut(ca.cast::<CaHandle>(), |h| {
        crate::status::out(out.cast::<[u8; 32]>(), "out")?.set(h.ca.public_key().to_bytes());
        Ok(())
    })
}

/// Issues an attestation certificate for `user_id` (display `name`, the
/// 32-byte `public_key`, valid from `not_before` to `not_after` inclusive,
/// `role` `KBK_ROLE_*`, `policy`) into a new message in `*out`. A weak or
/// invalid key is refused.
#[no_mangle]
pub extern "C" fn kbk_ca_issue(
    ca: *mut kbk_ca,
    user_id: u64,
    name: *const c_char,
    public_key_v: *const u8,
    not_before: u64,
    not_after: u64,
    role_v: u32,
    policy: *const kbk_policy,
    out: *mut *mut kbk_message,
) -> kbk_status {
    with_mut(ca.cast::<CaHandle>(), |h| {
        let o = crate::status::out(out, "out")?;
        let name = string(name, "name")?;
        let key = public_key(public_key_v, "public_key")?;
        if not_after < not_before {
            return Err(Fail::arg("not_after is before not_before"));
        }
        let r = role(role_v)?;
        let p = req(policy, "policy")?;
        let policy = Policy {
            usage_limit: p.usage_limit,
            per_order_max: p.per_order_max,
            short_sale_ban: flag(p.short_sale_ban, "short_sale_ban")?,
        };
        let validity = Validity {
            not_before,
            not_after,
        };
        let att =
            h.ca.issue(user_id, name, &key, validity, r, policy)
                .map_err(|e| identity_err(&e))?;
        emit(&att, o)
    })
}

/// Revokes the attestation serials `serials[0..len]` as of `at` into a new
/// revocation message in `*out` (apply it with `kbk_identities_revoke`,
/// `kbk_register_revoke`, `kbk_exchange_revoke`).
#[no_mangle]
pub extern "C" fn kbk_ca_revoke(
    ca: *mut kbk_ca,
    serials: *const u64,
    len: usize,
    at: u64,
    out: *mut *mut kbk_message,
) -> kbk_status {
    with_mut(ca.cast::<CaHandle>(), |h| {
        let o = crate::status::out(out, "out")?;
        let s = slice(serials, len, "serials")?;
        if s.len() > engine::identity::MAX_REVOKED {
            return Err(Fail::arg("too many serials for one revocation"));
        }
        emit(&h.ca.revoke(s, at), o)
    })
}

// ---- identity stores -----------------------------------------------------------

/// The parties one CA vouches for: their attestations and the revoked
/// serials. Investors and hosts use one to check messages.
///
/// Thread safety: not thread-safe; use from one thread at a time.
#[derive(Debug)]
pub struct kbk_identities {
    _private: [u8; 0],
}

#[repr(C)]
struct IdentitiesHandle {
    header: Header,
    store: IdentityStore,
}

impl Handle for IdentitiesHandle {
    const MAGIC: u64 = 0x6b62_6b5f_6964_7320; // "kbk_ids "
    fn header(&self) -> &Header {
        &self.header
    }
}

#[inline]
fn ids_mut(s: *mut kbk_identities, f: impl FnOnce(&mut IdentityStore) -> Res) -> kbk_status {
    with_mut(s.cast::<IdentitiesHandle>(), |h| f(&mut h.store))
}

/// An empty store trusting the CA `trust` names into `*out`.
#[no_mangle]
pub extern "C" fn kbk_identities_new(
    trust: *const kbk_trust,
    out: *mut *mut kbk_identities,
) -> kbk_status {
    guard(|| {
        let o = crate::status::out(out, "out")?;
        let store = store_from(trust)?;
        o.set(
            into_raw(IdentitiesHandle {
                header: Header::new(IdentitiesHandle::MAGIC),
                store,
            })
            .cast::<kbk_identities>(),
        );
        Ok(())
    })
}

/// Frees a store. NULL is fine.
#[no_mangle]
pub extern "C" fn kbk_identities_free(store: *mut kbk_identities) {
    free(store.cast::<IdentitiesHandle>());
}

/// Registers an attestation (its wire bytes): checked against the CA,
/// refused when revoked, superseded, or carrying a weak key.
#[no_mangle]
pub extern "C" fn kbk_identities_add(
    store: *mut kbk_identities,
    bytes: *const u8,
    len: usize,
) -> kbk_status {
    ids_mut(store, |s| add_attestation(s, bytes, len))
}

/// Applies a CA revocation (its wire bytes).
#[no_mangle]
pub extern "C" fn kbk_identities_revoke(
    store: *mut kbk_identities,
    bytes: *const u8,
    len: usize,
) -> kbk_status {
    ids_mut(store, |s| add_revocation(s, bytes, len))
}

/// Checks `message` at time `now`: its signer has a registered attestation,
/// valid at `now` and not revoked, and the signature verifies with that
/// attestation's key. The party into `*out`.
#[no_mangle]
pub extern "C" fn kbk_identities_verify(
    store: *mut kbk_identities,
    message: *const kbk_message,
    now: u64,
    out: *mut kbk_party,
) -> kbk_status {
    ids_mut(store, |s| {
        let o = crate::status::out(out, "out")?;
        let m = message_arg(message, "message")?;
        let p = s.party(m.msg.signer(), now).map_err(|e| identity_err(&e))?;
        m.msg.verify(&p.key).map_err(|e| crypto_err(&e))?;
        let a = &p.attestation.body;
        o.set(kbk_party {
            user_id: a.user_id,
            serial: a.serial,
            not_before: a.validity.not_before,
            not_after: a.validity.not_after,
            policy: policy_to_c(&a.policy),
            role: a.role as u32,
            reserved: 0,
            public_key: a.public_key,
        });
        Ok(())
    })
}
