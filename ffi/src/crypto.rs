//! Keys and signatures (`kbk_keypair`, raw sign and verify with a message
//! kind), and the signed requests an investor or an exchange sends
//! (`kbk_sign_*`, each giving a `kbk_message`).

use crate::message::*;
use crate::status::*;
use core::ffi::c_char;
use engine::book::TimeInForce;
use engine::certs::{endorse, Certificate, ShareClass};
use engine::crypto::{
    domain_input, verify_batch, BatchItem, CryptoError, Digest, KeyPair, Message, MsgKind,
    PublicKey, Signature, Signed, UserId,
};
use engine::exchange::{CancelRequest, ModifyRequest, OrderRequest, ReduceRequest};
use engine::register::{
    CertificateRequest, DirectTransferRequest, HoldingsInquiry, IssueRequest, ReissueKind,
    ReissueRequest,
};
use engine::settle::AccountInquiry;
use engine::types::Side;
use rust_decimal::Decimal;

/// Message kinds (`kbk_message_kind`, the wire format's kind byte).
pub const KBK_KIND_ATTESTATION: u8 = 1;
/// A CA's revocation of attestation serials.
pub const KBK_KIND_REVOCATION: u8 = 2;
/// An electronic stock certificate (register-signed).
pub const KBK_KIND_CERTIFICATE: u8 = 3;
/// Phase 1: issue request.
pub const KBK_KIND_ISSUE_REQUEST: u8 = 4;
/// Phase 3: transfer request (exchange to register).
pub const KBK_KIND_TRANSFER_REQUEST: u8 = 5;
/// Phase 3/5: transfer response (register).
pub const KBK_KIND_TRANSFER_RESPONSE: u8 = 6;
/// Phase 4: certificate request.
pub const KBK_KIND_CERTIFICATE_REQUEST: u8 = 7;
/// Phase 5: endorsement of a certificate to a recipient.
pub const KBK_KIND_ENDORSEMENT: u8 = 8;
/// Phase 5: direct transfer request.
pub const KBK_KIND_DIRECT_TRANSFER_REQUEST: u8 = 9;
/// Phase 6: holdings inquiry.
pub const KBK_KIND_HOLDINGS_INQUIRY: u8 = 10;
/// Phase 6: holdings answer.
pub const KBK_KIND_HOLDINGS_ANSWER: u8 = 11;
/// Phase 6: reissue request.
pub const KBK_KIND_REISSUE_REQUEST: u8 = 12;
/// Phase 6: reissue response.
pub const KBK_KIND_REISSUE_RESPONSE: u8 = 13;
/// The register's signed certificate-ID list.
pub const KBK_KIND_ID_LIST_SNAPSHOT: u8 = 14;
/// A change of the certificate-ID list.
pub const KBK_KIND_ID_LIST_DELTA: u8 = 15;
/// Phase 2: order.
pub const KBK_KIND_ORDER_REQUEST: u8 = 16;
/// Cancel an order.
pub const KBK_KIND_CANCEL_REQUEST: u8 = 17;
/// Reduce an order.
pub const KBK_KIND_REDUCE_REQUEST: u8 = 18;
/// Modify an order.
pub const KBK_KIND_MODIFY_REQUEST: u8 = 19;
/// The exchange's reception receipt.
pub const KBK_KIND_RECEPTION_RECEIPT: u8 = 20;
/// A signed refusal.
pub const KBK_KIND_ERROR_NOTICE: u8 = 21;
/// A completed trade.
pub const KBK_KIND_COMPLETION_NOTICE: u8 = 22;
/// Exchange to settlement: pay one match.
pub const KBK_KIND_SETTLEMENT_REQUEST: u8 = 23;
/// An account inquiry.
pub const KBK_KIND_ACCOUNT_INQUIRY: u8 = 24;
/// The settlement service's answer.
pub const KBK_KIND_ACCOUNT_ANSWER: u8 = 25;

pub(crate) fn kind(v: u8) -> Res<MsgKind> {
    MsgKind::from_u8(v).ok_or_else(|| Fail::arg(format!("kind must be 1..=25, got {v}")))
}

// ---- key pairs ---------------------------------------------------------------

/// An Ed25519 key pair.
///
/// Thread safety: immutable once made; may be used from any number of
/// threads at once.
#[derive(Debug)]
pub struct kbk_keypair {
    _private: [u8; 0],
}

#[repr(C)]
pub(crate) struct KeyHandle {
    header: Header,
    /// Kept so the key can be copied into a CA, register, exchange or
    /// ledger (the engine's key pair is not cloneable).
    seed: [u8; 32],
    pub(crate) key: KeyPair,
}

impl Handle for KeyHandle {
    const MAGIC: u64 = 0x6b62_6b5f_6b65_7920; // "kbk_key "
    fn header(&self) -> &Header {
        &self.header
    }
}

impl KeyHandle {
    /// A copy of the key pair.
    pub(crate) fn copy(&self) -> KeyPair {
        KeyPair::from_seed(&self.seed)
    }
}

/// A key argument (NULL refused).
pub(crate) fn key_arg<'a>(k: *const kbk_keypair) -> Res<&'a KeyHandle> {
    if k.is_null() {
        return Err(Fail::null("key"));
    }
    borrow(k.cast::<KeyHandle>())
}

fn new_key(seed: [u8; 32], out: Out<'_, *mut kbk_keypair>) {
    let h = KeyHandle {
        header: Header::new(KeyHandle::MAGIC),
        key: KeyPair::from_seed(&seed),
        seed,
    };
    out.set(into_raw(h).cast::<kbk_keypair>());
}

/// A deterministic key pair from the 32-byte `seed` (tests, fixtures, keys
/// kept by the host) into `*out`. Free it with `kbk_keypair_free`.
#[no_mangle]
pub extern "C" fn kbk_keypair_from_seed(seed: *const u8, out: *mut *mut kbk_keypair) -> kbk_status {
    guard(|| {
        let o = crate::status::out(out, "out")?;
        new_key(*bytes32(seed, "seed")?, o);
        Ok(())
    })
}

/// A fresh key pair from the operating system's random source into `*out`.
#[no_mangle]
pub extern "C" fn kbk_keypair_generate(out: *mut *mut kbk_keypair) -> kbk_status {
    guard(|| {
        let o = crate::status::out(out, "out")?;
        new_key(engine::crypto::random_bytes(), o);
        Ok(())
    })
}

/// Frees a key pair (its secret is dropped). NULL is fine.
#[no_mangle]
pub extern "C" fn kbk_keypair_free(key: *mut kbk_keypair) {
    free(key.cast::<KeyHandle>());
}

/// The 32-byte public key into `out`.
#[no_mangle]
pub extern "C" fn kbk_keypair_public_key(key: *const kbk_keypair, out: *mut u8) -> kbk_status {
    with_ref(key.cast::<KeyHandle>(), |k| {
        crate::status::out(out.cast::<[u8; 32]>(), "out")?.set(k.key.public().to_bytes());
        Ok(())
    })
}

/// Signs `len` bytes as a message of `kind` (the signature covers the
/// kind's domain label and the bytes) into the 64 bytes at `out_sig`.
#[no_mangle]
pub extern "C" fn kbk_keypair_sign(
    key: *const kbk_keypair,
    kind_v: u8,
    bytes: *const u8,
    len: usize,
    out_sig: *mut u8,
) -> kbk_status {
    with_ref(key.cast::<KeyHandle>(), |k| {
        let o = crate::status::out(out_sig.cast::<[u8; 64]>(), "out_sig")?;
        let kd = kind(kind_v)?;
        let b = slice(bytes, len, "bytes")?;
        o.set(k.key.sign(kd, b).0);
        Ok(())
    })
}

/// Checks the 32 bytes at `key` as an Ed25519 public key:
/// `KBK_STATUS_CRYPTO_BAD_KEY` when not a curve point,
/// `KBK_STATUS_CRYPTO_WEAK_KEY` when of small order.
#[no_mangle]
pub extern "C" fn kbk_public_key_check(key: *const u8) -> kbk_status {
    guard(|| public_key(key, "key").map(|_| ()))
}

/// Verifies (strictly) the 64-byte `sig` by the 32-byte `key` over `len`
/// bytes as a message of `kind`.
#[no_mangle]
pub extern "C" fn kbk_verify(
    key: *const u8,
    kind_v: u8,
    bytes: *const u8,
    len: usize,
    sig: *const u8,
) -> kbk_status {
    guard(|| {
        let k = public_key(key, "key")?;
        let kd = kind(kind_v)?;
        let b = slice(bytes, len, "bytes")?;
        let s = req(sig.cast::<[u8; 64]>(), "sig")?;
        k.verify(kd, b, &Signature(*s)).map_err(|e| crypto_err(&e))
    })
}

/// One signature of a batch (`kbk_verify_batch`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_batch_item {
    /// The signed bytes (without the domain label; may be NULL when `len`
    /// is 0).
    pub bytes: *const u8,
    /// Their length.
    pub len: usize,
    /// The signer's 32-byte public key.
    pub key: [u8; 32],
    /// The 64-byte signature.
    pub sig: [u8; 64],
    /// The message kind the signature is for (`KBK_KIND_*`).
    pub kind: u8,
    /// Zero.
    pub reserved: [u8; 7],
}

/// Verifies `n` signatures at once (batch verification, falling back to
/// strict single verification to find the bad ones). `KBK_STATUS_OK` when
/// the check ran: `*out_bad` is the number of bad signatures (0: all
/// good) and the first `cap` of their indices, ascending, are written to
/// `bad` (NULL when `cap` is 0). An invalid or weak key refuses the whole
/// call with its status (the last error names the item).
#[no_mangle]
pub extern "C" fn kbk_verify_batch(
    items: *const kbk_batch_item,
    n: usize,
    bad: *mut usize,
    cap: usize,
    out_bad: *mut usize,
) -> kbk_status {
    guard(|| {
        let items = slice(items, n, "items")?;
        let mut dst = slice_mut(bad, cap, "bad")?;
        let o = crate::status::out(out_bad, "out_bad")?;
        let mut keys = Vec::with_capacity(items.len());
        let mut inputs = Vec::with_capacity(items.len());
        let mut sigs = Vec::with_capacity(items.len());
        for (i, it) in items.iter().enumerate() {
            let k = PublicKey::from_bytes(&it.key).map_err(|e| {
                let f = crypto_err(&e);
                Fail::new(f.status, format!("items[{i}].key: {}", f.msg))
            })?;
            let kd = kind(it.kind).map_err(|f| Fail::arg(format!("items[{i}]: {}", f.msg)))?;
            keys.push(k);
            inputs.push(domain_input(kd, slice(it.bytes, it.len, "items[i].bytes")?));
            sigs.push(Signature(it.sig));
        }
        let batch: Vec<BatchItem<'_>> = keys
            .iter()
            .zip(&inputs)
            .zip(&sigs)
            .map(|((k, m), s)| (k, m.as_slice(), s))
            .collect();
        let failed = match verify_batch(&batch) {
            Ok(()) => Vec::new(),
            Err(CryptoError::BatchFailed(v)) => v,
            Err(e) => return Err(crypto_err(&e)),
        };
        for (j, i) in failed.iter().take(dst.len()).enumerate() {
            dst.set(j, *i);
        }
        o.set(failed.len());
        Ok(())
    })
}

/// BLAKE3 of `len` bytes into the 32 bytes at `out`.
#[no_mangle]
pub extern "C" fn kbk_digest(bytes: *const u8, len: usize, out: *mut u8) -> kbk_status {
    guard(|| {
        let o = crate::status::out(out.cast::<[u8; 32]>(), "out")?;
        o.set(Digest::of(slice(bytes, len, "bytes")?).0);
        Ok(())
    })
}

// ---- signed requests -----------------------------------------------------------

/// A new order (`kbk_sign_order`). Strings are NUL-terminated UTF-8.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_order_request {
    /// The investor (the signer).
    pub user_id: u64,
    /// Limit price in ticks (when `has_price`).
    pub price: i64,
    /// Shares.
    pub quantity: u64,
    /// GTD expiry (when `tif` is `KBK_TIF_GTD`).
    pub expire: u64,
    /// Settlement account.
    pub account: u64,
    /// Signer's sequence number (strictly increasing per signer).
    pub seq: u64,
    /// Buyer's name and address (may be empty; NULL is refused).
    pub name_address: *const c_char,
    /// Market buy: the most cash to reserve, a decimal string; NULL: none.
    pub cash_cap: *const c_char,
    /// Instrument.
    pub instrument: u32,
    /// Share-class code 0..=3.
    pub share_class: u8,
    /// `KBK_SIDE_*`.
    pub side: u8,
    /// 1 for a limit order, 0 for a market order.
    pub has_price: u8,
    /// `KBK_TIF_*`.
    pub tif: u8,
    /// 0 or 1.
    pub post_only: u8,
    /// Zero.
    pub reserved: [u8; 7],
}

/// An issue request (`kbk_sign_issue`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kbk_issue_request {
    /// The investor (the signer).
    pub user_id: u64,
    /// Shares.
    pub quantity: u64,
    /// Signer's sequence number.
    pub seq: u64,
    /// Name and address for the register.
    pub name_address: *const c_char,
    /// Dividend delivery account.
    pub dividend_account: *const c_char,
    /// Conversion terms (class 3 only; NULL otherwise).
    pub class_terms: *const c_char,
    /// Instrument.
    pub instrument: u32,
    /// Share-class code 0..=3.
    pub share_class: u8,
    /// Zero.
    pub reserved: [u8; 3],
}

pub(crate) fn side(v: u8) -> Res<Side> {
    Side::from_u8(v).ok_or_else(|| Fail::arg(format!("side must be 0 or 1, got {v}")))
}

fn tif(v: u8, expire: u64) -> Res<TimeInForce> {
    Ok(match v {
        0 => TimeInForce::Gtc,
        1 => TimeInForce::Ioc,
        2 => TimeInForce::Fok,
        3 => TimeInForce::Day,
        4 => TimeInForce::Gtd(expire),
        _ => return Err(Fail::arg(format!("tif must be 0..=4, got {v}"))),
    })
}

/// A decimal amount from a C string.
pub(crate) fn decimal(p: *const c_char, what: &str) -> Res<Decimal> {
    let s = string(p, what)?;
    s.parse::<Decimal>()
        .map_err(|_| Fail::arg(format!("{what} is not a decimal number: {s:?}")))
}

fn class(code: u8, terms: *const c_char) -> Res<ShareClass> {
    Ok(match code {
        0 => ShareClass::Common,
        1 => ShareClass::Preferred,
        2 => ShareClass::Subordinated,
        3 => ShareClass::Convertible {
            terms: string(terms, "class_terms")?.to_owned(),
        },
        _ => return Err(Fail::arg(format!("class must be 0..=3, got {code}"))),
    })
}

/// The panic boundary of a builder: checks `key` and `out`, signs the body
/// `f` makes as the signer `f` names, and writes the new message.
fn sign_with<T: Message>(
    key: *const kbk_keypair,
    out: *mut *mut kbk_message,
    f: impl FnOnce() -> Res<(UserId, T)>,
) -> kbk_status {
    guard(|| {
        let k = key_arg(key)?;
        let o = crate::status::out(out, "out")?;
        let (signer, body) = f()?;
        emit(&Signed::sign(body, signer, &k.key), o)
    })
}

/// An order from C (the certificates as message handles).
pub(crate) fn order_from_c(
    order: *const kbk_order_request,
    certificates: *const *const kbk_message,
    certificates_len: usize,
) -> Res<OrderRequest> {
    let o = req(order, "order")?;
    let certs = slice(certificates, certificates_len, "certificates")?
        .iter()
        .map(|c| typed::<Certificate>(*c, "certificates[i]"))
        .collect::<Res<Vec<_>>>()?;
    Ok(OrderRequest {
        user_id: o.user_id,
        instrument: o.instrument,
        class: o.share_class,
        side: side(o.side)?,
        price: flag(o.has_price, "has_price")?.then_some(o.price),
        quantity: o.quantity,
        tif: tif(o.tif, o.expire)?,
        post_only: flag(o.post_only, "post_only")?,
        certificates: certs,
        name_address: string(o.name_address, "name_address")?.to_owned(),
        account: o.account,
        cash_cap: if o.cash_cap.is_null() {
            None
        } else {
            Some(decimal(o.cash_cap, "cash_cap")?)
        },
        seq: o.seq,
    })
}

/// Signs an order of `order->user_id` with `key`. A sell attaches the
/// register-signed certificates it sells: `certificates` is an array of
/// `certificates_len` certificate messages (NULL when the length is 0).
#[no_mangle]
pub extern "C" fn kbk_sign_order(
    key: *const kbk_keypair,
    order: *const kbk_order_request,
    certificates: *const *const kbk_message,
    certificates_len: usize,
    out: *mut *mut kbk_message,
) -> kbk_status {
    sign_with(key, out, || {
        let o = order_from_c(order, certificates, certificates_len)?;
        Ok((o.user_id, o))
    })
}

/// Signs a request to cancel order `reception_number`.
#[no_mangle]
pub extern "C" fn kbk_sign_cancel(
    key: *const kbk_keypair,
    user_id: u64,
    reception_number: u64,
    seq: u64,
    out: *mut *mut kbk_message,
) -> kbk_status {
    sign_with(key, out, || {
        Ok((
            user_id,
            CancelRequest {
                user_id,
                reception_number,
                seq,
            },
        ))
    })
}

/// Signs a request to reduce order `reception_number` by `by` shares.
#[no_mangle]
pub extern "C" fn kbk_sign_reduce(
    key: *const kbk_keypair,
    user_id: u64,
    reception_number: u64,
    by: u64,
    seq: u64,
    out: *mut *mut kbk_message,
) -> kbk_status {
    sign_with(key, out, || {
        Ok((
            user_id,
            ReduceRequest {
                user_id,
                reception_number,
                by,
                seq,
            },
        ))
    })
}

/// Signs a request giving order `reception_number` a new limit `price`
/// (ticks) and open `quantity`.
#[no_mangle]
pub extern "C" fn kbk_sign_modify(
    key: *const kbk_keypair,
    user_id: u64,
    reception_number: u64,
    price: i64,
    quantity: u64,
    seq: u64,
    out: *mut *mut kbk_message,
) -> kbk_status {
    sign_with(key, out, || {
        Ok((
            user_id,
            ModifyRequest {
                user_id,
                reception_number,
                price,
                quantity,
                seq,
            },
        ))
    })
}

/// Signs an issue request (phase 1) of `request->user_id`.
#[no_mangle]
pub extern "C" fn kbk_sign_issue(
    key: *const kbk_keypair,
    request: *const kbk_issue_request,
    out: *mut *mut kbk_message,
) -> kbk_status {
    sign_with(key, out, || {
        let r = req(request, "request")?;
        Ok((
            r.user_id,
            IssueRequest {
                user_id: r.user_id,
                name_address: string(r.name_address, "name_address")?.to_owned(),
                instrument: r.instrument,
                class: class(r.share_class, r.class_terms)?,
                quantity: r.quantity,
                dividend_account: string(r.dividend_account, "dividend_account")?.to_owned(),
                seq: r.seq,
            },
        ))
    })
}

/// Signs a certificate request (phase 4): the certificate created by
/// transfer `transfer_number` (from a completion notice or a transfer
/// response).
#[no_mangle]
pub extern "C" fn kbk_sign_certificate_request(
    key: *const kbk_keypair,
    user_id: u64,
    transfer_number: u64,
    dividend_account: *const c_char,
    seq: u64,
    out: *mut *mut kbk_message,
) -> kbk_status {
    sign_with(key, out, || {
        Ok((
            user_id,
            CertificateRequest {
                user_id,
                transfer_number,
                dividend_account: string(dividend_account, "dividend_account")?.to_owned(),
                seq,
            },
        ))
    })
}

/// Endorses `certificate` to `recipient` (phase 5), signed by its holder
/// with `key`, into a new endorsement message.
#[no_mangle]
pub extern "C" fn kbk_endorse(
    key: *const kbk_keypair,
    certificate: *const kbk_message,
    recipient: u64,
    nonce: u64,
    out: *mut *mut kbk_message,
) -> kbk_status {
    guard(|| {
        let k = key_arg(key)?;
        let o = crate::status::out(out, "out")?;
        let c = typed::<Certificate>(certificate, "certificate")?;
        emit(&endorse(&c, recipient, nonce, &k.key), o)
    })
}

/// Signs a direct transfer request (phase 5) by the recipient `user_id`
/// for an endorsed certificate.
#[no_mangle]
pub extern "C" fn kbk_sign_direct_transfer(
    key: *const kbk_keypair,
    user_id: u64,
    name_address: *const c_char,
    certificate: *const kbk_message,
    endorsement: *const kbk_message,
    seq: u64,
    out: *mut *mut kbk_message,
) -> kbk_status {
    sign_with(key, out, || {
        Ok((
            user_id,
            DirectTransferRequest {
                user_id,
                name_address: string(name_address, "name_address")?.to_owned(),
                certificate: typed(certificate, "certificate")?,
                endorsement: typed(endorsement, "endorsement")?,
                seq,
            },
        ))
    })
}

/// Signs a reissue request (phase 6). `kind` is `KBK_REISSUE_LOST` (one ID
/// in `cert_ids`), `KBK_REISSUE_SPLIT` (one ID, the part sizes in `parts`)
/// or `KBK_REISSUE_MERGE` (the IDs to merge); unused arrays may be NULL
/// with length 0.
#[no_mangle]
pub extern "C" fn kbk_sign_reissue(
    key: *const kbk_keypair,
    user_id: u64,
    instrument: u32,
    kind_v: u32,
    cert_ids: *const kbk_cert_id,
    cert_ids_len: usize,
    parts: *const u64,
    parts_len: usize,
    seq: u64,
    out: *mut *mut kbk_message,
) -> kbk_status {
    sign_with(key, out, || {
        let ids: Vec<_> = slice(cert_ids, cert_ids_len, "cert_ids")?
            .iter()
            .map(cert_id_from_c)
            .collect();
        let parts = slice(parts, parts_len, "parts")?.to_vec();
        let single = || match ids.as_slice() {
            [id] => Ok(*id),
            _ => Err(Fail::arg("a lost or split reissue names exactly one ID")),
        };
        let k = match kind_v {
            KBK_REISSUE_LOST if parts.is_empty() => ReissueKind::Lost(single()?),
            KBK_REISSUE_SPLIT => ReissueKind::Split(single()?, parts),
            KBK_REISSUE_MERGE if parts.is_empty() => ReissueKind::Merge(ids),
            KBK_REISSUE_LOST | KBK_REISSUE_MERGE => {
                return Err(Fail::arg("parts are for a split only"))
            }
            v => return Err(Fail::arg(format!("kind must be 0..=2, got {v}"))),
        };
        Ok((
            user_id,
            ReissueRequest {
                user_id,
                instrument,
                kind: k,
                seq,
            },
        ))
    })
}

/// Signs a holdings inquiry (phase 6): every holding, or (when
/// `has_instrument` is 1) those of `instrument`.
#[no_mangle]
pub extern "C" fn kbk_sign_holdings_inquiry(
    key: *const kbk_keypair,
    user_id: u64,
    has_instrument: u8,
    instrument: u32,
    seq: u64,
    out: *mut *mut kbk_message,
) -> kbk_status {
    sign_with(key, out, || {
        Ok((
            user_id,
            HoldingsInquiry {
                user_id,
                instrument: flag(has_instrument, "has_instrument")?.then_some(instrument),
                seq,
            },
        ))
    })
}

/// Signs an inquiry about settlement account `account`.
#[no_mangle]
pub extern "C" fn kbk_sign_account_inquiry(
    key: *const kbk_keypair,
    user_id: u64,
    account: u64,
    seq: u64,
    out: *mut *mut kbk_message,
) -> kbk_status {
    sign_with(key, out, || {
        Ok((
            user_id,
            AccountInquiry {
                user_id,
                account,
                seq,
            },
        ))
    })
}
