//! The shareholder register (`kbk_register`): every phase on signed wire
//! bytes (issue, transfer, certificate claim, direct transfer, holdings
//! inquiry, reissue), the signed certificate-ID list (snapshot, deltas) and
//! its follower (`kbk_id_list`).

use crate::crypto::{kbk_keypair, key_arg};
use crate::identity::{add_attestation, add_revocation, identity_err, kbk_trust, store_from};
use crate::message::*;
use crate::status::*;
use core::ffi::c_char;
use engine::certs::{
    verify_certificate, verify_endorsed, CertError, CertIdKey, Certificate, Endorsement,
    TransferRestriction,
};
use engine::crypto::{Message, Signed};
use engine::register::{
    CertificateRequest, DirectTransferRequest, HoldingsInquiry, IdListDelta, IdListFollower,
    IdListSnapshot, InstrumentConfig, IssueRequest, ListError, Register, RegisterConfig,
    RegisterError, ReissueRequest, TransferRequest,
};

/// Certificates carry no transfer restriction (`kbk_register_instrument`).
pub const KBK_RESTRICTION_FREE: u32 = 0;
/// Certificates may not be transferred.
pub const KBK_RESTRICTION_NON_TRANSFERABLE: u32 = 1;
/// Certificates may be transferred from `locked_until` on.
pub const KBK_RESTRICTION_LOCKED_UNTIL: u32 = 2;

/// A register's own description (`kbk_register_new`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_register_config {
    /// The register's user id (signer of certificates and answers).
    pub user_id: u64,
    /// Lifetime of an electronic certificate from its issue.
    pub certificate_lifetime: u64,
    /// Capacity of the certificate-ID table (certificates ever issued).
    pub id_capacity: u64,
    /// Register name, printed on certificates.
    pub name: *const c_char,
    /// Register address.
    pub address: *const c_char,
    /// The secret keying certificate-ID tags (32 bytes; keep it secret).
    pub id_secret: [u8; 32],
}

/// An instrument the register keeps (`kbk_register_add_instrument`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_register_instrument {
    /// Par value per share (minor units).
    pub par_value: u64,
    /// Shares the company may issue in total.
    pub authorized: u64,
    /// For `KBK_RESTRICTION_LOCKED_UNTIL`: from when transfers are allowed.
    pub locked_until: u64,
    /// Company name.
    pub company_name: *const c_char,
    /// Conditions of issue.
    pub conditions: *const c_char,
    /// Instrument id.
    pub instrument: u32,
    /// Founding date, YYYYMMDD.
    pub company_founded: u32,
    /// `KBK_RESTRICTION_*` printed on new certificates.
    pub restriction: u32,
    /// Zero.
    pub reserved: u32,
}

fn cert_err(e: &CertError) -> Fail {
    match e {
        CertError::Crypto(c) => crypto_err(c),
        _ => Fail::new(KBK_STATUS_CERT_INVALID, e.to_string()),
    }
}

pub(crate) fn register_err(e: &RegisterError) -> Fail {
    use RegisterError as E;
    let status = match e {
        E::Identity(i) => return identity_err(i),
        E::Cert(c) => return cert_err(c),
        E::Replay { .. } => KBK_STATUS_REGISTER_REPLAY,
        E::UnknownInstrument => KBK_STATUS_REGISTER_UNKNOWN_INSTRUMENT,
        E::ForgedId => KBK_STATUS_REGISTER_FORGED_ID,
        E::UnknownId => KBK_STATUS_REGISTER_UNKNOWN_ID,
        E::NotLive(_) => KBK_STATUS_REGISTER_NOT_LIVE,
        E::DigestMismatch => KBK_STATUS_REGISTER_DIGEST_MISMATCH,
        E::WrongHolder => KBK_STATUS_REGISTER_WRONG_HOLDER,
        E::QuantityMismatch => KBK_STATUS_REGISTER_QUANTITY_MISMATCH,
        E::Mismatch => KBK_STATUS_REGISTER_MISMATCH,
        E::ExceedsAuthorized => KBK_STATUS_REGISTER_EXCEEDS_AUTHORIZED,
        E::UnknownTransfer => KBK_STATUS_REGISTER_UNKNOWN_TRANSFER,
        E::NotYourTransfer => KBK_STATUS_REGISTER_NOT_YOUR_TRANSFER,
        E::AlreadyClaimed => KBK_STATUS_REGISTER_ALREADY_CLAIMED,
        E::BadReissue(_) => KBK_STATUS_REGISTER_BAD_REISSUE,
        E::TextTooLong => KBK_STATUS_REGISTER_TEXT_TOO_LONG,
        E::TableFull => KBK_STATUS_REGISTER_TABLE_FULL,
    };
    Fail::new(status, e.to_string())
}

/// One transfer of the register's history (drawing 16).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kbk_transfer_record {
    /// Transfer number (1, 2, ...).
    pub transfer_number: u64,
    /// Shares transferred.
    pub quantity: u64,
    /// Buyer (recipient).
    pub buyer: u64,
    /// Seller.
    pub seller: u64,
    /// The retired certificate ID.
    pub old_cert_id: kbk_cert_id,
    /// The buyer's new certificate ID.
    pub new_cert_id: kbk_cert_id,
    /// The seller's change certificate ID (when `has_change`).
    pub change_cert_id: kbk_cert_id,
    /// Instrument.
    pub instrument: u32,
    /// 1 when the certificate was split.
    pub has_change: u8,
    /// 1 when the buyer has claimed its certificate.
    pub buyer_claimed: u8,
    /// 1 when the seller has claimed the change certificate.
    pub change_claimed: u8,
    /// Zero.
    pub reserved: u8,
}

/// Checks a certificate offline: signed by the register `register_id`
/// with the 32-byte `register_key` (`KBK_STATUS_CERT_INVALID` for another
/// signer, `KBK_STATUS_CRYPTO_BAD_SIGNATURE` for a bad signature).
#[no_mangle]
pub extern "C" fn kbk_certificate_verify(
    certificate: *const kbk_message,
    register_id: u64,
    register_key: *const u8,
) -> kbk_status {
    guard(|| {
        let c = typed::<Certificate>(certificate, "certificate")?;
        let key = public_key(register_key, "register_key")?;
        verify_certificate(&c, register_id, &key).map_err(|e| cert_err(&e))
    })
}

/// The recipient's offline check of an endorsed certificate (phase 5)
/// before asking the register for the transfer: the register signed the
/// certificate, its holder (32-byte `holder_key`, from the holder's
/// attestation) endorsed exactly this certificate to `recipient`, and it is
/// transferable at `now`.
#[no_mangle]
pub extern "C" fn kbk_endorsement_verify(
    certificate: *const kbk_message,
    endorsement: *const kbk_message,
    recipient: u64,
    register_id: u64,
    register_key: *const u8,
    holder_key: *const u8,
    now: u64,
) -> kbk_status {
    guard(|| {
        let c = typed::<Certificate>(certificate, "certificate")?;
        let e = typed::<Endorsement>(endorsement, "endorsement")?;
        let rk = public_key(register_key, "register_key")?;
        let hk = public_key(holder_key, "holder_key")?;
        verify_endorsed(&c, &e, recipient, register_id, &rk, &hk, now).map_err(|e| cert_err(&e))
    })
}

/// The shareholder register of one or more instruments.
///
/// Thread safety: not thread-safe; use from one thread at a time (and not
/// during a call on an exchange it is passed to).
#[derive(Debug)]
pub struct kbk_register {
    _private: [u8; 0],
}

#[repr(C)]
pub(crate) struct RegisterHandle {
    header: Header,
    pub(crate) reg: Slot<Register>,
}

impl Handle for RegisterHandle {
    const MAGIC: u64 = 0x6b62_6b5f_7265_6720; // "kbk_reg "
    fn header(&self) -> &Header {
        &self.header
    }
}

#[inline]
fn reg_mut(r: *mut kbk_register, f: impl FnOnce(&mut Register) -> Res) -> kbk_status {
    with_mut(r.cast::<RegisterHandle>(), |h| f(&mut h.reg))
}

/// A register described by `config`, signing with (a copy of) `key`,
/// trusting the CA `trust` names, into `*out`. Register the parties'
/// attestations with `kbk_register_add_attestation`. Free it with
/// `kbk_register_free`.
#[no_mangle]
pub extern "C" fn kbk_register_new(
    config: *const kbk_register_config,
    key: *const kbk_keypair,
    trust: *const kbk_trust,
    out: *mut *mut kbk_register,
) -> kbk_status {
    guard(|| {
        let o = crate::status::out(out, "out")?;
        let c = req(config, "config")?;
        let k = key_arg(key)?;
        let ids = store_from(trust)?;
        let cfg = RegisterConfig {
            user_id: c.user_id,
            name: string(c.name, "name")?.to_owned(),
            address: string(c.address, "address")?.to_owned(),
            certificate_lifetime: c.certificate_lifetime,
            id_capacity: c.id_capacity,
        };
        if cfg.id_capacity == 0 || cfg.id_capacity > 1 << 40 {
            return Err(Fail::arg("id_capacity must be 1..=2^40"));
        }
        let reg = Register::new(cfg, k.copy(), CertIdKey::from_bytes(c.id_secret), ids);
        o.set(
            into_raw(RegisterHandle {
                header: Header::new(RegisterHandle::MAGIC),
                reg: Slot::new(reg),
            })
            .cast::<kbk_register>(),
        );
        Ok(())
    })
}

/// Frees a register. NULL is fine.
#[no_mangle]
pub extern "C" fn kbk_register_free(register: *mut kbk_register) {
    free(register.cast::<RegisterHandle>());
}

/// Adds (or replaces) an instrument; its issued shares start at zero.
#[no_mangle]
pub extern "C" fn kbk_register_add_instrument(
    register: *mut kbk_register,
    instrument: *const kbk_register_instrument,
) -> kbk_status {
    reg_mut(register, |r| {
        let i = req(instrument, "instrument")?;
        let restriction = match i.restriction {
            KBK_RESTRICTION_FREE => TransferRestriction::Free,
            KBK_RESTRICTION_NON_TRANSFERABLE => TransferRestriction::NonTransferable,
            KBK_RESTRICTION_LOCKED_UNTIL => TransferRestriction::LockedUntil(i.locked_until),
            v => return Err(Fail::arg(format!("restriction must be 0..=2, got {v}"))),
        };
        r.add_instrument(InstrumentConfig {
            instrument: i.instrument,
            company_name: string(i.company_name, "company_name")?.to_owned(),
            company_founded: i.company_founded,
            par_value: i.par_value,
            authorized: i.authorized,
            restriction,
            conditions: string(i.conditions, "conditions")?.to_owned(),
        })
        .map_err(|e| register_err(&e))
    })
}

/// Registers a party's attestation (wire bytes) with the register.
#[no_mangle]
pub extern "C" fn kbk_register_add_attestation(
    register: *mut kbk_register,
    bytes: *const u8,
    len: usize,
) -> kbk_status {
    reg_mut(register, |r| {
        add_attestation(r.identities_mut(), bytes, len)
    })
}

/// Applies a CA revocation (wire bytes) to the register's parties.
#[no_mangle]
pub extern "C" fn kbk_register_revoke(
    register: *mut kbk_register,
    bytes: *const u8,
    len: usize,
) -> kbk_status {
    reg_mut(register, |r| add_revocation(r.identities_mut(), bytes, len))
}

/// The register's 32-byte public key into `out`.
#[no_mangle]
pub extern "C" fn kbk_register_public_key(register: *mut kbk_register, out: *mut u8) -> kbk_status {
    reg_mut(register, |r| {
        crate::status::out(out.cast::<[u8; 32]>(), "out")?.set(r.public_key().to_bytes());
        Ok(())
    })
}

/// One phase: the signed request of kind `T` in `len` bytes, answered by
/// `phase` at time `now` with a signed message written to `*out`.
fn phase<T: Message, U: Message>(
    register: *mut kbk_register,
    bytes: *const u8,
    len: usize,
    now: u64,
    out: *mut *mut kbk_message,
    phase: impl FnOnce(&mut Register, &Signed<T>, u64) -> Result<Signed<U>, RegisterError>,
) -> kbk_status {
    reg_mut(register, |r| {
        let o = crate::status::out(out, "out")?;
        let req = typed_bytes::<T>(bytes, len)?;
        let answer = phase(r, &req, now).map_err(|e| register_err(&e))?;
        emit(&answer, o)
    })
}

/// Phase 1: an investor's signed issue request (wire bytes) at time `now`;
/// the new register-signed certificate into `*out`.
#[no_mangle]
pub extern "C" fn kbk_register_issue(
    register: *mut kbk_register,
    bytes: *const u8,
    len: usize,
    now: u64,
    out: *mut *mut kbk_message,
) -> kbk_status {
    phase::<IssueRequest, _>(register, bytes, len, now, out, Register::issue)
}

/// Phase 3: an exchange's signed transfer request (for an exchange that
/// talks to this register over the wire; `kbk_exchange_*` calls do this
/// in-process); the signed transfer response into `*out`.
#[no_mangle]
pub extern "C" fn kbk_register_transfer(
    register: *mut kbk_register,
    bytes: *const u8,
    len: usize,
    now: u64,
    out: *mut *mut kbk_message,
) -> kbk_status {
    phase::<TransferRequest, _>(register, bytes, len, now, out, Register::transfer)
}

/// Phase 4: a signed certificate request quoting a transfer number; the
/// buyer's (or the seller's change) certificate into `*out`.
#[no_mangle]
pub extern "C" fn kbk_register_claim_certificate(
    register: *mut kbk_register,
    bytes: *const u8,
    len: usize,
    now: u64,
    out: *mut *mut kbk_message,
) -> kbk_status {
    phase::<CertificateRequest, _>(register, bytes, len, now, out, Register::claim_certificate)
}

/// Phase 5: the recipient's signed direct transfer request (with the
/// endorsed certificate); the signed transfer response (with the transfer
/// number to claim the new certificate) into `*out`.
#[no_mangle]
pub extern "C" fn kbk_register_direct_transfer(
    register: *mut kbk_register,
    bytes: *const u8,
    len: usize,
    now: u64,
    out: *mut *mut kbk_message,
) -> kbk_status {
    phase::<DirectTransferRequest, _>(register, bytes, len, now, out, Register::direct_transfer)
}

/// Phase 6: a signed holdings inquiry; the signed holdings answer into
/// `*out`.
#[no_mangle]
pub extern "C" fn kbk_register_holdings(
    register: *mut kbk_register,
    bytes: *const u8,
    len: usize,
    now: u64,
    out: *mut *mut kbk_message,
) -> kbk_status {
    phase::<HoldingsInquiry, _>(register, bytes, len, now, out, Register::holdings)
}

/// Phase 6: a signed reissue request (lost, split, merge); the signed
/// reissue response (retired IDs, new certificates) into `*out`.
#[no_mangle]
pub extern "C" fn kbk_register_reissue(
    register: *mut kbk_register,
    bytes: *const u8,
    len: usize,
    now: u64,
    out: *mut *mut kbk_message,
) -> kbk_status {
    phase::<ReissueRequest, _>(register, bytes, len, now, out, Register::reissue)
}

/// The register-signed certificate issued under `id` (current or retired)
/// into `*out` (`KBK_STATUS_NOT_FOUND` when none).
#[no_mangle]
pub extern "C" fn kbk_register_certificate(
    register: *mut kbk_register,
    id: *const kbk_cert_id,
    out: *mut *mut kbk_message,
) -> kbk_status {
    reg_mut(register, |r| {
        let o = crate::status::out(out, "out")?;
        let id = cert_id_from_c(req(id, "id")?);
        let c = r
            .certificate(&id)
            .ok_or_else(|| Fail::new(KBK_STATUS_NOT_FOUND, "no certificate with that ID"))?;
        emit(c, o)
    })
}

/// Whether the certificate ID `id` is current (1) or retired (0) in the
/// register's records (`KBK_STATUS_NOT_FOUND` when never issued).
#[no_mangle]
pub extern "C" fn kbk_register_is_current(
    register: *mut kbk_register,
    id: *const kbk_cert_id,
    out: *mut u8,
) -> kbk_status {
    reg_mut(register, |r| {
        let o = crate::status::out(out, "out")?;
        let id = cert_id_from_c(req(id, "id")?);
        let rec = r
            .record(&id)
            .ok_or_else(|| Fail::new(KBK_STATUS_NOT_FOUND, "no record with that ID"))?;
        o.set(u8::from(rec.current));
        Ok(())
    })
}

/// Shares issued so far of `instrument`.
#[no_mangle]
pub extern "C" fn kbk_register_issued(
    register: *mut kbk_register,
    instrument: u32,
    out: *mut u64,
) -> kbk_status {
    reg_mut(register, |r| {
        let o = crate::status::out(out, "out")?;
        let n = r
            .issued(instrument)
            .ok_or_else(|| register_err(&RegisterError::UnknownInstrument))?;
        o.set(n);
        Ok(())
    })
}

/// The number of transfers recorded (transfer numbers are 1..=that).
#[no_mangle]
pub extern "C" fn kbk_register_transfer_count(
    register: *mut kbk_register,
    out: *mut u64,
) -> kbk_status {
    reg_mut(register, |r| {
        crate::status::out(out, "out")?.set(r.transfers().len() as u64);
        Ok(())
    })
}

/// Transfer `transfer_number` of the history (`KBK_STATUS_NOT_FOUND` when
/// there is none).
#[no_mangle]
pub extern "C" fn kbk_register_transfer_record(
    register: *mut kbk_register,
    transfer_number: u64,
    out: *mut kbk_transfer_record,
) -> kbk_status {
    reg_mut(register, |r| {
        let o = crate::status::out(out, "out")?;
        let t = usize::try_from(transfer_number.wrapping_sub(1))
            .ok()
            .and_then(|i| r.transfers().get(i))
            .ok_or_else(|| Fail::new(KBK_STATUS_NOT_FOUND, "no transfer with that number"))?;
        let (change_cert_id, has_change) = opt_cert_id_to_c(t.change_cert_id.as_ref());
        o.set(kbk_transfer_record {
            transfer_number: t.transfer_number,
            quantity: t.quantity,
            buyer: t.buyer,
            seller: t.seller,
            old_cert_id: cert_id_to_c(&t.old_cert_id),
            new_cert_id: cert_id_to_c(&t.new_cert_id),
            change_cert_id,
            instrument: t.instrument,
            has_change,
            buyer_claimed: u8::from(t.buyer_claimed),
            change_claimed: u8::from(t.change_claimed),
            reserved: 0,
        });
        Ok(())
    })
}

/// Checks the register's invariant (live shares equal issued shares, per
/// instrument, and agree with the ID table): `KBK_STATUS_REGISTER_AUDIT`
/// with the details in the last error when it fails.
#[no_mangle]
pub extern "C" fn kbk_register_audit(register: *mut kbk_register) -> kbk_status {
    reg_mut(register, |r| {
        r.audit()
            .map_err(|e| Fail::new(KBK_STATUS_REGISTER_AUDIT, e))
    })
}

/// The signed certificate-ID list of `instrument` (every current ID and
/// holder) into `*out`.
#[no_mangle]
pub extern "C" fn kbk_register_id_list_snapshot(
    register: *mut kbk_register,
    instrument: u32,
    out: *mut *mut kbk_message,
) -> kbk_status {
    reg_mut(register, |r| {
        let o = crate::status::out(out, "out")?;
        let s = r
            .id_list_snapshot(instrument)
            .map_err(|e| register_err(&e))?;
        emit(&s, o)
    })
}

/// The signed delta of `instrument` that follows sequence number `after`
/// (its `KBK_FIELD_SEQ` is `after + 1`) into `*out`;
/// `KBK_STATUS_NOT_FOUND` when there is none yet.
#[no_mangle]
pub extern "C" fn kbk_register_id_list_delta(
    register: *mut kbk_register,
    instrument: u32,
    after: u64,
    out: *mut *mut kbk_message,
) -> kbk_status {
    reg_mut(register, |r| {
        let o = crate::status::out(out, "out")?;
        let d = r
            .id_list_deltas(instrument, after)
            .map_err(|e| register_err(&e))?
            .first()
            .ok_or_else(|| Fail::new(KBK_STATUS_NOT_FOUND, "no delta after that"))?;
        emit(d, o)
    })
}

// ---- ID list follower ------------------------------------------------------------

/// A follower of one instrument's certificate-ID list: applies the
/// register's signed snapshot and deltas, and answers whether a
/// (certificate ID, holder) is live.
///
/// Thread safety: not thread-safe; use from one thread at a time.
#[derive(Debug)]
pub struct kbk_id_list {
    _private: [u8; 0],
}

#[repr(C)]
struct ListHandle {
    header: Header,
    list: IdListFollower,
}

impl Handle for ListHandle {
    const MAGIC: u64 = 0x6b62_6b5f_6c69_7374; // "kbk_list"
    fn header(&self) -> &Header {
        &self.header
    }
}

#[inline]
fn list_mut(l: *mut kbk_id_list, f: impl FnOnce(&mut IdListFollower) -> Res) -> kbk_status {
    with_mut(l.cast::<ListHandle>(), |h| f(&mut h.list))
}

fn list_err(e: &ListError) -> Fail {
    match e {
        ListError::Crypto(c) => crypto_err(c),
        _ => Fail::new(KBK_STATUS_ID_LIST_REFUSED, e.to_string()),
    }
}

/// A follower of `instrument`'s list published by the register
/// `register_id` with the 32-byte key `register_key`, into `*out`.
#[no_mangle]
pub extern "C" fn kbk_id_list_new(
    instrument: u32,
    register_id: u64,
    register_key: *const u8,
    out: *mut *mut kbk_id_list,
) -> kbk_status {
    guard(|| {
        let o = crate::status::out(out, "out")?;
        let key = public_key(register_key, "register_key")?;
        o.set(
            into_raw(ListHandle {
                header: Header::new(ListHandle::MAGIC),
                list: IdListFollower::new(instrument, register_id, key),
            })
            .cast::<kbk_id_list>(),
        );
        Ok(())
    })
}

/// Frees a follower. NULL is fine.
#[no_mangle]
pub extern "C" fn kbk_id_list_free(list: *mut kbk_id_list) {
    free(list.cast::<ListHandle>());
}

/// Applies a signed snapshot (wire bytes); an older one than held is
/// refused.
#[no_mangle]
pub extern "C" fn kbk_id_list_apply_snapshot(
    list: *mut kbk_id_list,
    bytes: *const u8,
    len: usize,
) -> kbk_status {
    list_mut(list, |l| {
        let s = typed_bytes::<IdListSnapshot>(bytes, len)?;
        l.apply_snapshot(&s).map_err(|e| list_err(&e))
    })
}

/// Applies a signed delta (wire bytes): `*out_applied` is 1 when applied,
/// 0 when already applied before; a gap or an inconsistency is refused.
#[no_mangle]
pub extern "C" fn kbk_id_list_apply_delta(
    list: *mut kbk_id_list,
    bytes: *const u8,
    len: usize,
    out_applied: *mut u8,
) -> kbk_status {
    list_mut(list, |l| {
        let o = crate::status::out(out_applied, "out_applied")?;
        let d = typed_bytes::<IdListDelta>(bytes, len)?;
        o.set(u8::from(l.apply_delta(&d).map_err(|e| list_err(&e))?));
        Ok(())
    })
}

/// Whether (`id`, `holder`) is live in the list (1) or not (0).
#[no_mangle]
pub extern "C" fn kbk_id_list_contains(
    list: *mut kbk_id_list,
    id: *const kbk_cert_id,
    holder: u64,
    out: *mut u8,
) -> kbk_status {
    list_mut(list, |l| {
        let o = crate::status::out(out, "out")?;
        let id = cert_id_from_c(req(id, "id")?);
        o.set(u8::from(l.contains(&id, holder)));
        Ok(())
    })
}

/// The sequence number of the list held (`KBK_STATUS_NOT_FOUND` before the
/// first snapshot).
#[no_mangle]
pub extern "C" fn kbk_id_list_seq(list: *mut kbk_id_list, out: *mut u64) -> kbk_status {
    list_mut(list, |l| {
        let o = crate::status::out(out, "out")?;
        o.set(
            l.seq()
                .ok_or_else(|| Fail::new(KBK_STATUS_NOT_FOUND, "no snapshot applied"))?,
        );
        Ok(())
    })
}

/// The number of live entries.
#[no_mangle]
pub extern "C" fn kbk_id_list_len(list: *mut kbk_id_list, out: *mut usize) -> kbk_status {
    list_mut(list, |l| {
        crate::status::out(out, "out")?.set(l.entries().count());
        Ok(())
    })
}
