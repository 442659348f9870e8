//! Signed messages of every kind (`kbk_message`): decode wire bytes, read
//! the kind, signer, digest and the body's fields, verify against a public
//! key, and give the bytes back. One handle type and a handful of typed
//! field getters serve all 25 kinds (fields are named by `KBK_FIELD_*`).

use crate::status::*;
use core::ffi::c_char;
use engine::book::TimeInForce;
use engine::certs::{CertId, Certificate, Endorsement, ShareClass, TransferRestriction};
use engine::crypto::{CryptoError, Digest, Message, MsgKind, PublicKey, Signed, WireError};
use engine::exchange::AnyMessage;
use engine::register::{self, ReissueKind};
use rust_decimal::Decimal;

/// A certificate ID: the register's dense serial and its 16-byte tag.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct kbk_cert_id {
    /// Serial (dense, assigned by the register).
    pub serial: u64,
    /// Keyed BLAKE3 tag of the serial.
    pub tag: [u8; 16],
}

pub(crate) fn cert_id_to_c(id: &CertId) -> kbk_cert_id {
    kbk_cert_id {
        serial: id.serial,
        tag: id.tag,
    }
}

/// An optional certificate ID for C: the ID (zero when absent) and a 0/1
/// flag.
pub(crate) fn opt_cert_id_to_c(id: Option<&CertId>) -> (kbk_cert_id, u8) {
    (
        id.map(cert_id_to_c).unwrap_or_default(),
        u8::from(id.is_some()),
    )
}

pub(crate) fn cert_id_from_c(id: &kbk_cert_id) -> CertId {
    CertId {
        serial: id.serial,
        tag: id.tag,
    }
}

// ---- field names -------------------------------------------------------------
//
// Which fields each kind has is listed in `fields` below and in the
// documentation of `kbk_message_field_count` (kept in step by a test).
// Integers of any width
// and flags read with `kbk_message_get_u64`; prices with
// `kbk_message_get_i64`; text and decimal amounts with
// `kbk_message_get_string`; hashes and keys with `kbk_message_get_bytes`;
// certificate IDs with `kbk_message_get_cert_id`; nested signed messages
// (certificates, endorsements) with `kbk_message_get_message`. List fields
// have one item per index; an absent optional field has zero items.

/// User id named in the body (the investor, the party told, the
/// attestation's subject).
pub const KBK_FIELD_USER_ID: u32 = 1;
/// Signer's sequence number (requests), or the ID list's sequence number.
pub const KBK_FIELD_SEQ: u32 = 2;
/// Instrument id (optional in a holdings inquiry).
pub const KBK_FIELD_INSTRUMENT: u32 = 3;
/// Share-class code (0 common, 1 preferred, 2 subordinated, 3 convertible).
pub const KBK_FIELD_CLASS: u32 = 4;
/// Conversion terms of a convertible class (string; absent otherwise).
pub const KBK_FIELD_CLASS_TERMS: u32 = 5;
/// `KBK_SIDE_*`.
pub const KBK_FIELD_SIDE: u32 = 6;
/// Price in ticks (i64; absent for a market order).
pub const KBK_FIELD_PRICE: u32 = 7;
/// Shares.
pub const KBK_FIELD_QUANTITY: u32 = 8;
/// Time in force, `KBK_TIF_*`.
pub const KBK_FIELD_TIF: u32 = 9;
/// GTD expiry (absent unless the time in force is GTD).
pub const KBK_FIELD_EXPIRE: u32 = 10;
/// Post-only flag (0 or 1).
pub const KBK_FIELD_POST_ONLY: u32 = 11;
/// Attached certificates (list of nested messages).
pub const KBK_FIELD_CERTIFICATES: u32 = 12;
/// Name and address (string).
pub const KBK_FIELD_NAME_ADDRESS: u32 = 13;
/// Settlement account.
pub const KBK_FIELD_ACCOUNT: u32 = 14;
/// Market buy's cash cap (decimal string; absent when none).
pub const KBK_FIELD_CASH_CAP: u32 = 15;
/// Reception number of an order.
pub const KBK_FIELD_RECEPTION_NUMBER: u32 = 16;
/// Shares to remove (reduce request).
pub const KBK_FIELD_BY: u32 = 17;
/// What a receipt accepted: 0 order, 1 cancel, 2 reduce, 3 modify.
pub const KBK_FIELD_REQUEST_KIND: u32 = 18;
/// BLAKE3 of the request answered (32 bytes).
pub const KBK_FIELD_REQUEST_HASH: u32 = 19;
/// Refusal code of an error notice (`kbk_refusal_name`).
pub const KBK_FIELD_REASON: u32 = 20;
/// Match number.
pub const KBK_FIELD_MATCH_NUMBER: u32 = 21;
/// The register's transfer number.
pub const KBK_FIELD_TRANSFER_NUMBER: u32 = 22;
/// The buyer's (recipient's) new certificate ID.
pub const KBK_FIELD_NEW_CERT_ID: u32 = 23;
/// The seller's change certificate ID (absent when none).
pub const KBK_FIELD_CHANGE_CERT_ID: u32 = 24;
/// A certificate ID (the certificate's own, the endorsed or sold one).
pub const KBK_FIELD_CERT_ID: u32 = 25;
/// Buyer's user id.
pub const KBK_FIELD_BUYER: u32 = 26;
/// Seller's user id.
pub const KBK_FIELD_SELLER: u32 = 27;
/// The sell order of a transfer request (absent when none).
pub const KBK_FIELD_SELL_ORDER: u32 = 28;
/// A nested certificate (transfer and direct transfer requests).
pub const KBK_FIELD_CERTIFICATE: u32 = 29;
/// The exchange's user id (transfer and settlement requests).
pub const KBK_FIELD_EXCHANGE: u32 = 30;
/// Dividend delivery account (string).
pub const KBK_FIELD_DIVIDEND_ACCOUNT: u32 = 31;
/// A nested endorsement (direct transfer request).
pub const KBK_FIELD_ENDORSEMENT: u32 = 32;
/// Holdings answer: per holding, the instrument (list).
pub const KBK_FIELD_HOLDING_INSTRUMENT: u32 = 33;
/// Holdings answer: per holding, the certificate number (list).
pub const KBK_FIELD_HOLDING_CERTIFICATE_NUMBER: u32 = 34;
/// Holdings answer: per holding, the certificate ID (list).
pub const KBK_FIELD_HOLDING_CERT_ID: u32 = 35;
/// Holdings answer: per holding, the shares (list).
pub const KBK_FIELD_HOLDING_SHARES: u32 = 36;
/// Holdings answer: per holding, the class code (list).
pub const KBK_FIELD_HOLDING_CLASS: u32 = 37;
/// Reissue request: 0 lost, 1 split, 2 merge (`KBK_REISSUE_*`).
pub const KBK_FIELD_REISSUE_KIND: u32 = 38;
/// Reissue request: the certificate IDs it names (list); ID list snapshot
/// and delta: the listed (added) IDs (list).
pub const KBK_FIELD_CERT_IDS: u32 = 39;
/// Reissue request: the split's part sizes (list).
pub const KBK_FIELD_PARTS: u32 = 40;
/// Reissue response: retired IDs; ID list delta: removed IDs (list).
pub const KBK_FIELD_RETIRED: u32 = 41;
/// ID list snapshot and delta: the holder of each `CERT_IDS` item (list).
pub const KBK_FIELD_HOLDERS: u32 = 42;
/// Certificate: company name (string).
pub const KBK_FIELD_COMPANY_NAME: u32 = 43;
/// Certificate: founding date, YYYYMMDD.
pub const KBK_FIELD_COMPANY_FOUNDED: u32 = 44;
/// Certificate: the stable certificate number.
pub const KBK_FIELD_CERTIFICATE_NUMBER: u32 = 45;
/// Certificate: par value per share (minor units).
pub const KBK_FIELD_PAR_VALUE: u32 = 46;
/// Certificate: issue date.
pub const KBK_FIELD_ISSUE_DATE: u32 = 47;
/// Certificate: expiry of the electronic certificate.
pub const KBK_FIELD_EXPIRY: u32 = 48;
/// Certificate: holder's name (string).
pub const KBK_FIELD_HOLDER_NAME: u32 = 49;
/// Certificate: holder's user id.
pub const KBK_FIELD_HOLDER: u32 = 50;
/// Certificate: transfer restriction, 0 free, 1 non-transferable, 2
/// locked until `LOCKED_UNTIL`.
pub const KBK_FIELD_RESTRICTION: u32 = 51;
/// Certificate: end of the lock (absent unless restriction 2).
pub const KBK_FIELD_LOCKED_UNTIL: u32 = 52;
/// Certificate: the issuer's signature algorithm (1: Ed25519).
pub const KBK_FIELD_SIGNATURE_ALGORITHM: u32 = 53;
/// Certificate: the register's name (string).
pub const KBK_FIELD_REGISTER_NAME: u32 = 54;
/// Certificate: the register's address (string).
pub const KBK_FIELD_REGISTER_ADDRESS: u32 = 55;
/// Attestation: serial.
pub const KBK_FIELD_SERIAL: u32 = 56;
/// Attestation: display name (string).
pub const KBK_FIELD_NAME: u32 = 57;
/// Attestation: the subject's public key (32 bytes).
pub const KBK_FIELD_PUBLIC_KEY: u32 = 58;
/// Attestation: first instant of validity.
pub const KBK_FIELD_NOT_BEFORE: u32 = 59;
/// Attestation: last instant of validity.
pub const KBK_FIELD_NOT_AFTER: u32 = 60;
/// Attestation: the issuing CA's name (string).
pub const KBK_FIELD_ISSUER: u32 = 61;
/// Attestation: `KBK_ROLE_*`.
pub const KBK_FIELD_ROLE: u32 = 62;
/// Attestation policy: usage limit (minor units).
pub const KBK_FIELD_USAGE_LIMIT: u32 = 63;
/// Attestation policy: most shares per order.
pub const KBK_FIELD_PER_ORDER_MAX: u32 = 64;
/// Attestation policy: short selling forbidden (0 or 1).
pub const KBK_FIELD_SHORT_SALE_BAN: u32 = 65;
/// Revocation: the revoked serials (list).
pub const KBK_FIELD_SERIALS: u32 = 66;
/// Revocation: when it was made.
pub const KBK_FIELD_AT: u32 = 67;
/// Endorsement: BLAKE3 of the endorsed certificate (32 bytes).
pub const KBK_FIELD_CERTIFICATE_HASH: u32 = 68;
/// Endorsement: the recipient's user id.
pub const KBK_FIELD_RECIPIENT: u32 = 69;
/// Endorsement: nonce.
pub const KBK_FIELD_NONCE: u32 = 70;
/// Settlement request: the buy order's reception number.
pub const KBK_FIELD_BUY_ORDER: u32 = 71;
/// Settlement request: amount paid (decimal string).
pub const KBK_FIELD_AMOUNT: u32 = 72;
/// Settlement request: the buy reservation released (decimal string).
pub const KBK_FIELD_RELEASE: u32 = 73;
/// Settlement request: buyer's account.
pub const KBK_FIELD_BUYER_ACCOUNT: u32 = 74;
/// Settlement request: seller's account.
pub const KBK_FIELD_SELLER_ACCOUNT: u32 = 75;
/// Account answer: the account's owner.
pub const KBK_FIELD_OWNER: u32 = 76;
/// Account answer: available cash (decimal string).
pub const KBK_FIELD_AVAILABLE: u32 = 77;
/// Account answer: reserved cash (decimal string).
pub const KBK_FIELD_RESERVED: u32 = 78;

/// The largest `KBK_FIELD_*` number.
pub const KBK_FIELD_MAX: u32 = 78;

/// Reissue of a lost certificate (`KBK_FIELD_REISSUE_KIND`, `kbk_sign_reissue`).
pub const KBK_REISSUE_LOST: u32 = 0;
/// Split one certificate into parts.
pub const KBK_REISSUE_SPLIT: u32 = 1;
/// Merge certificates into one.
pub const KBK_REISSUE_MERGE: u32 = 2;

/// The length of a message digest, a public key, a hash field (bytes).
pub const KBK_HASH_LEN: usize = 32;
/// The length of an Ed25519 signature (bytes).
pub const KBK_SIGNATURE_LEN: usize = 64;

/// A field value, as the getters see it.
#[derive(Clone, Debug)]
enum Val {
    U(u64),
    I(i64),
    S(String),
    D(Decimal),
    B(Vec<u8>),
    Id(CertId),
    M(Vec<u8>),
}

/// Fields of one message: each with its items (one for a scalar, none for
/// an absent optional, any number for a list).
type Fields = Vec<(u32, Vec<Val>)>;

fn one(f: u32, v: Val) -> (u32, Vec<Val>) {
    (f, vec![v])
}
fn opt<T>(f: u32, v: Option<T>, conv: impl FnOnce(T) -> Val) -> (u32, Vec<Val>) {
    (f, v.map(conv).into_iter().collect())
}
fn list<T>(f: u32, v: impl IntoIterator<Item = T>, conv: impl FnMut(T) -> Val) -> (u32, Vec<Val>) {
    (f, v.into_iter().map(conv).collect())
}
fn msg<T: Message>(m: &Signed<T>) -> Val {
    Val::M(m.to_bytes())
}
fn hash(d: &Digest) -> Val {
    Val::B(d.0.to_vec())
}
fn class(f: &mut Fields, c: &ShareClass) {
    f.push(one(KBK_FIELD_CLASS, Val::U(u64::from(c.code()))));
    let terms = match c {
        ShareClass::Convertible { terms } => Some(terms.clone()),
        _ => None,
    };
    f.push(opt(KBK_FIELD_CLASS_TERMS, terms, Val::S));
}
fn tif(f: &mut Fields, t: TimeInForce) {
    let (code, at) = match t {
        TimeInForce::Gtc => (0, None),
        TimeInForce::Ioc => (1, None),
        TimeInForce::Fok => (2, None),
        TimeInForce::Day => (3, None),
        TimeInForce::Gtd(at) => (4, Some(at)),
    };
    f.push(one(KBK_FIELD_TIF, Val::U(code)));
    f.push(opt(KBK_FIELD_EXPIRE, at, Val::U));
}

fn certificate_fields(f: &mut Fields, c: &Certificate) {
    use Val::*;
    f.extend([
        one(KBK_FIELD_COMPANY_NAME, S(c.company_name.clone())),
        one(KBK_FIELD_COMPANY_FOUNDED, U(u64::from(c.company_founded))),
        one(KBK_FIELD_CERTIFICATE_NUMBER, U(c.certificate_number)),
        one(KBK_FIELD_CERT_ID, Id(c.id)),
        one(KBK_FIELD_INSTRUMENT, U(u64::from(c.instrument))),
        one(KBK_FIELD_QUANTITY, U(c.shares)),
        one(KBK_FIELD_PAR_VALUE, U(c.par_value)),
        one(KBK_FIELD_ISSUE_DATE, U(c.issue_date)),
        one(KBK_FIELD_EXPIRY, U(c.expiry)),
        one(KBK_FIELD_HOLDER_NAME, S(c.holder_name.clone())),
        one(KBK_FIELD_HOLDER, U(c.holder)),
        one(
            KBK_FIELD_SIGNATURE_ALGORITHM,
            U(u64::from(c.signature_algorithm)),
        ),
        one(KBK_FIELD_REGISTER_NAME, S(c.register_name.clone())),
        one(KBK_FIELD_REGISTER_ADDRESS, S(c.register_address.clone())),
    ]);
    class(f, &c.class);
    let (r, until) = match c.restriction {
        TransferRestriction::Free => (0, None),
        TransferRestriction::NonTransferable => (1, None),
        TransferRestriction::LockedUntil(t) => (2, Some(t)),
    };
    f.push(one(KBK_FIELD_RESTRICTION, U(r)));
    f.push(opt(KBK_FIELD_LOCKED_UNTIL, until, U));
}

fn endorsement_fields(f: &mut Fields, e: &Endorsement) {
    f.extend([
        one(KBK_FIELD_CERTIFICATE_HASH, hash(&e.certificate)),
        one(KBK_FIELD_CERT_ID, Val::Id(e.cert_id)),
        one(KBK_FIELD_RECIPIENT, Val::U(e.recipient)),
        one(KBK_FIELD_NONCE, Val::U(e.nonce)),
    ]);
}

fn entries(f: &mut Fields, e: &[register::IdListEntry]) {
    f.push(list(KBK_FIELD_CERT_IDS, e, |x| Val::Id(x.cert_id)));
    f.push(list(KBK_FIELD_HOLDERS, e, |x| Val::U(x.holder)));
}

fn register_fields(f: &mut Fields, m: &register::AnyMessage) {
    use register::AnyMessage as R;
    use Val::*;
    match m {
        R::Attestation(a) => {
            let b = &a.body;
            f.extend([
                one(KBK_FIELD_SERIAL, U(b.serial)),
                one(KBK_FIELD_USER_ID, U(b.user_id)),
                one(KBK_FIELD_NAME, S(b.name.clone())),
                one(KBK_FIELD_PUBLIC_KEY, B(b.public_key.to_vec())),
                one(KBK_FIELD_NOT_BEFORE, U(b.validity.not_before)),
                one(KBK_FIELD_NOT_AFTER, U(b.validity.not_after)),
                one(KBK_FIELD_ISSUER, S(b.issuer.clone())),
                one(KBK_FIELD_ROLE, U(b.role as u64)),
                one(KBK_FIELD_USAGE_LIMIT, U(b.policy.usage_limit)),
                one(KBK_FIELD_PER_ORDER_MAX, U(b.policy.per_order_max)),
                one(
                    KBK_FIELD_SHORT_SALE_BAN,
                    U(u64::from(b.policy.short_sale_ban)),
                ),
            ]);
        }
        R::Revocation(r) => f.extend([
            list(KBK_FIELD_SERIALS, &r.body.serials, |s| U(*s)),
            one(KBK_FIELD_AT, U(r.body.at)),
        ]),
        R::Certificate(c) => certificate_fields(f, &c.body),
        R::IssueRequest(r) => {
            let b = &r.body;
            f.extend([
                one(KBK_FIELD_USER_ID, U(b.user_id)),
                one(KBK_FIELD_NAME_ADDRESS, S(b.name_address.clone())),
                one(KBK_FIELD_INSTRUMENT, U(u64::from(b.instrument))),
                one(KBK_FIELD_QUANTITY, U(b.quantity)),
                one(KBK_FIELD_DIVIDEND_ACCOUNT, S(b.dividend_account.clone())),
                one(KBK_FIELD_SEQ, U(b.seq)),
            ]);
            class(f, &b.class);
        }
        R::TransferRequest(r) => {
            let b = &r.body;
            f.extend([
                one(KBK_FIELD_EXCHANGE, U(b.exchange)),
                one(KBK_FIELD_MATCH_NUMBER, U(b.match_number)),
                one(KBK_FIELD_INSTRUMENT, U(u64::from(b.instrument))),
                one(KBK_FIELD_CERT_ID, Id(b.cert_id)),
                one(KBK_FIELD_QUANTITY, U(b.quantity)),
                one(KBK_FIELD_BUYER, U(b.buyer)),
                one(KBK_FIELD_SELLER, U(b.seller)),
                opt(KBK_FIELD_SELL_ORDER, b.sell_order, U),
                one(KBK_FIELD_NAME_ADDRESS, S(b.buyer_name_address.clone())),
                one(KBK_FIELD_CERTIFICATE, msg(&b.certificate)),
                one(KBK_FIELD_SEQ, U(b.seq)),
            ]);
        }
        R::TransferResponse(r) => {
            let b = &r.body;
            f.extend([
                one(KBK_FIELD_MATCH_NUMBER, U(b.match_number)),
                one(KBK_FIELD_TRANSFER_NUMBER, U(b.transfer_number)),
                one(KBK_FIELD_NEW_CERT_ID, Id(b.new_cert_id)),
                opt(KBK_FIELD_CHANGE_CERT_ID, b.change_cert_id, Id),
                one(KBK_FIELD_REQUEST_HASH, hash(&b.request_hash)),
            ]);
        }
        R::CertificateRequest(r) => {
            let b = &r.body;
            f.extend([
                one(KBK_FIELD_USER_ID, U(b.user_id)),
                one(KBK_FIELD_TRANSFER_NUMBER, U(b.transfer_number)),
                one(KBK_FIELD_DIVIDEND_ACCOUNT, S(b.dividend_account.clone())),
                one(KBK_FIELD_SEQ, U(b.seq)),
            ]);
        }
        R::Endorsement(e) => endorsement_fields(f, &e.body),
        R::DirectTransferRequest(r) => {
            let b = &r.body;
            f.extend([
                one(KBK_FIELD_USER_ID, U(b.user_id)),
                one(KBK_FIELD_NAME_ADDRESS, S(b.name_address.clone())),
                one(KBK_FIELD_CERTIFICATE, msg(&b.certificate)),
                one(KBK_FIELD_ENDORSEMENT, msg(&b.endorsement)),
                one(KBK_FIELD_SEQ, U(b.seq)),
            ]);
        }
        R::HoldingsInquiry(r) => {
            let b = &r.body;
            f.extend([
                one(KBK_FIELD_USER_ID, U(b.user_id)),
                opt(KBK_FIELD_INSTRUMENT, b.instrument, |i| U(u64::from(i))),
                one(KBK_FIELD_SEQ, U(b.seq)),
            ]);
        }
        R::HoldingsAnswer(a) => {
            let b = &a.body;
            let h = &b.holdings;
            f.extend([
                one(KBK_FIELD_USER_ID, U(b.user_id)),
                one(KBK_FIELD_REQUEST_HASH, hash(&b.request_hash)),
                list(KBK_FIELD_HOLDING_INSTRUMENT, h, |x| {
                    U(u64::from(x.instrument))
                }),
                list(KBK_FIELD_HOLDING_CERTIFICATE_NUMBER, h, |x| {
                    U(x.certificate_number)
                }),
                list(KBK_FIELD_HOLDING_CERT_ID, h, |x| Id(x.cert_id)),
                list(KBK_FIELD_HOLDING_SHARES, h, |x| U(x.shares)),
                list(KBK_FIELD_HOLDING_CLASS, h, |x| U(u64::from(x.class))),
            ]);
        }
        R::ReissueRequest(r) => {
            let b = &r.body;
            let (k, ids, parts): (u64, Vec<CertId>, &[u64]) = match &b.kind {
                ReissueKind::Lost(id) => (0, vec![*id], &[]),
                ReissueKind::Split(id, p) => (1, vec![*id], p),
                ReissueKind::Merge(ids) => (2, ids.clone(), &[]),
            };
            f.extend([
                one(KBK_FIELD_USER_ID, U(b.user_id)),
                one(KBK_FIELD_INSTRUMENT, U(u64::from(b.instrument))),
                one(KBK_FIELD_REISSUE_KIND, U(k)),
                list(KBK_FIELD_CERT_IDS, ids, Id),
                list(KBK_FIELD_PARTS, parts, |p| U(*p)),
                one(KBK_FIELD_SEQ, U(b.seq)),
            ]);
        }
        R::ReissueResponse(r) => {
            let b = &r.body;
            f.extend([
                one(KBK_FIELD_REQUEST_HASH, hash(&b.request_hash)),
                list(KBK_FIELD_RETIRED, &b.retired, |i| Id(*i)),
                list(KBK_FIELD_CERTIFICATES, &b.certificates, msg),
            ]);
        }
        R::IdListSnapshot(s) => {
            let b = &s.body;
            f.extend([
                one(KBK_FIELD_INSTRUMENT, U(u64::from(b.instrument))),
                one(KBK_FIELD_SEQ, U(b.seq)),
            ]);
            entries(f, &b.entries);
        }
        R::IdListDelta(d) => {
            let b = &d.body;
            f.extend([
                one(KBK_FIELD_INSTRUMENT, U(u64::from(b.instrument))),
                one(KBK_FIELD_SEQ, U(b.seq)),
                list(KBK_FIELD_RETIRED, &b.removed, |i| Id(*i)),
            ]);
            entries(f, &b.added);
        }
    }
}

fn fields(m: &AnyMessage) -> Fields {
    use Val::*;
    let mut f = Fields::new();
    match m {
        AnyMessage::Register(r) => register_fields(&mut f, r),
        AnyMessage::OrderRequest(o) => {
            let b = &o.body;
            f.extend([
                one(KBK_FIELD_USER_ID, U(b.user_id)),
                one(KBK_FIELD_INSTRUMENT, U(u64::from(b.instrument))),
                one(KBK_FIELD_CLASS, U(u64::from(b.class))),
                one(KBK_FIELD_SIDE, U(b.side as u64)),
                opt(KBK_FIELD_PRICE, b.price, I),
                one(KBK_FIELD_QUANTITY, U(b.quantity)),
                one(KBK_FIELD_POST_ONLY, U(u64::from(b.post_only))),
                list(KBK_FIELD_CERTIFICATES, &b.certificates, msg),
                one(KBK_FIELD_NAME_ADDRESS, S(b.name_address.clone())),
                one(KBK_FIELD_ACCOUNT, U(b.account)),
                opt(KBK_FIELD_CASH_CAP, b.cash_cap, D),
                one(KBK_FIELD_SEQ, U(b.seq)),
            ]);
            tif(&mut f, b.tif);
        }
        AnyMessage::CancelRequest(r) => f.extend([
            one(KBK_FIELD_USER_ID, U(r.body.user_id)),
            one(KBK_FIELD_RECEPTION_NUMBER, U(r.body.reception_number)),
            one(KBK_FIELD_SEQ, U(r.body.seq)),
        ]),
        AnyMessage::ReduceRequest(r) => f.extend([
            one(KBK_FIELD_USER_ID, U(r.body.user_id)),
            one(KBK_FIELD_RECEPTION_NUMBER, U(r.body.reception_number)),
            one(KBK_FIELD_BY, U(r.body.by)),
            one(KBK_FIELD_SEQ, U(r.body.seq)),
        ]),
        AnyMessage::ModifyRequest(r) => f.extend([
            one(KBK_FIELD_USER_ID, U(r.body.user_id)),
            one(KBK_FIELD_RECEPTION_NUMBER, U(r.body.reception_number)),
            one(KBK_FIELD_PRICE, I(r.body.price)),
            one(KBK_FIELD_QUANTITY, U(r.body.quantity)),
            one(KBK_FIELD_SEQ, U(r.body.seq)),
        ]),
        AnyMessage::ReceptionReceipt(r) => f.extend([
            one(KBK_FIELD_USER_ID, U(r.body.user_id)),
            one(KBK_FIELD_RECEPTION_NUMBER, U(r.body.reception_number)),
            one(KBK_FIELD_REQUEST_KIND, U(u64::from(r.body.request_kind))),
            one(KBK_FIELD_REQUEST_HASH, hash(&r.body.request_hash)),
        ]),
        AnyMessage::ErrorNotice(e) => f.extend([
            one(KBK_FIELD_USER_ID, U(e.body.user_id)),
            one(KBK_FIELD_REQUEST_HASH, hash(&e.body.request_hash)),
            one(KBK_FIELD_RECEPTION_NUMBER, U(e.body.reception_number)),
            one(KBK_FIELD_REASON, U(u64::from(e.body.reason))),
        ]),
        AnyMessage::CompletionNotice(n) => {
            let b = &n.body;
            f.extend([
                one(KBK_FIELD_USER_ID, U(b.party)),
                one(KBK_FIELD_RECEPTION_NUMBER, U(b.reception_number)),
                one(KBK_FIELD_SIDE, U(b.side as u64)),
                one(KBK_FIELD_MATCH_NUMBER, U(b.match_number)),
                one(KBK_FIELD_TRANSFER_NUMBER, U(b.transfer_number)),
                one(KBK_FIELD_INSTRUMENT, U(u64::from(b.instrument))),
                one(KBK_FIELD_QUANTITY, U(b.quantity)),
                one(KBK_FIELD_PRICE, I(b.price)),
                one(KBK_FIELD_NEW_CERT_ID, Id(b.new_cert_id)),
                opt(KBK_FIELD_CHANGE_CERT_ID, b.change_cert_id, Id),
            ]);
        }
        AnyMessage::SettlementRequest(s) => {
            let b = &s.body;
            f.extend([
                one(KBK_FIELD_EXCHANGE, U(b.exchange)),
                one(KBK_FIELD_MATCH_NUMBER, U(b.match_number)),
                one(KBK_FIELD_BUY_ORDER, U(b.buy_order)),
                one(KBK_FIELD_AMOUNT, D(b.amount)),
                one(KBK_FIELD_RELEASE, D(b.release)),
                one(KBK_FIELD_BUYER_ACCOUNT, U(b.buyer_account)),
                one(KBK_FIELD_SELLER_ACCOUNT, U(b.seller_account)),
                one(KBK_FIELD_SEQ, U(b.seq)),
            ]);
        }
        AnyMessage::AccountInquiry(r) => f.extend([
            one(KBK_FIELD_USER_ID, U(r.body.user_id)),
            one(KBK_FIELD_ACCOUNT, U(r.body.account)),
            one(KBK_FIELD_SEQ, U(r.body.seq)),
        ]),
        AnyMessage::AccountAnswer(a) => f.extend([
            one(KBK_FIELD_ACCOUNT, U(a.body.account)),
            one(KBK_FIELD_OWNER, U(a.body.owner)),
            one(KBK_FIELD_AVAILABLE, D(a.body.available)),
            one(KBK_FIELD_RESERVED, D(a.body.reserved)),
            one(KBK_FIELD_REQUEST_HASH, hash(&a.body.request_hash)),
        ]),
    }
    f
}

// ---- errors ------------------------------------------------------------------

pub(crate) fn wire_err(e: WireError) -> Fail {
    Fail::new(KBK_STATUS_WIRE_MALFORMED, e.to_string())
}

pub(crate) fn crypto_err(e: &CryptoError) -> Fail {
    let status = match e {
        CryptoError::BadKey => KBK_STATUS_CRYPTO_BAD_KEY,
        CryptoError::WeakKey => KBK_STATUS_CRYPTO_WEAK_KEY,
        _ => KBK_STATUS_CRYPTO_BAD_SIGNATURE,
    };
    Fail::new(status, e.to_string())
}

/// A public key from 32 bytes (invalid and weak keys refused).
pub(crate) fn public_key(p: *const u8, what: &str) -> Res<PublicKey> {
    PublicKey::from_bytes(bytes32(p, what)?).map_err(|e| crypto_err(&e))
}

// ---- the handle --------------------------------------------------------------

/// A decoded signed message of any kind, with its wire bytes.
///
/// Thread safety: immutable once made; one message may be read from any
/// number of threads at once.
#[derive(Debug)]
pub struct kbk_message {
    _private: [u8; 0],
}

#[repr(C)]
pub(crate) struct MessageHandle {
    header: Header,
    pub(crate) msg: AnyMessage,
    pub(crate) bytes: Vec<u8>,
}

impl Handle for MessageHandle {
    const MAGIC: u64 = 0x6b62_6b5f_6d73_6720; // "kbk_msg "
    fn header(&self) -> &Header {
        &self.header
    }
}

fn decode(bytes: Vec<u8>) -> Res<MessageHandle> {
    let msg = AnyMessage::decode(&bytes).map_err(wire_err)?;
    Ok(MessageHandle {
        header: Header::new(MessageHandle::MAGIC),
        msg,
        bytes,
    })
}

/// A new handle for wire bytes this library made (or was given).
pub(crate) fn new_message(bytes: Vec<u8>) -> Res<*mut kbk_message> {
    Ok(into_raw(decode(bytes)?).cast::<kbk_message>())
}

/// Writes a new handle for a signed message into `out`.
pub(crate) fn emit<T: Message>(m: &Signed<T>, out: Out<'_, *mut kbk_message>) -> Res {
    out.set(new_message(m.to_bytes())?);
    Ok(())
}

/// A message argument (NULL refused).
pub(crate) fn message_arg<'a>(m: *const kbk_message, what: &str) -> Res<&'a MessageHandle> {
    if m.is_null() {
        return Err(Fail::null(what));
    }
    borrow(m.cast::<MessageHandle>())
}

/// A message argument of one kind, decoded as that kind.
pub(crate) fn typed<T: Message>(m: *const kbk_message, what: &str) -> Res<Signed<T>> {
    let h = message_arg(m, what)?;
    if h.bytes.get(1) != Some(&(T::KIND as u8)) {
        return Err(Fail::new(
            KBK_STATUS_WIRE_WRONG_KIND,
            format!("{what} must be a message of kind {}", T::KIND as u8),
        ));
    }
    Signed::<T>::from_bytes(&h.bytes).map_err(wire_err)
}

/// Wire bytes from C decoded as one kind.
pub(crate) fn typed_bytes<T: Message>(p: *const u8, len: usize) -> Res<Signed<T>> {
    let b = slice(p, len, "bytes")?;
    match b.get(1) {
        Some(&k) if k == T::KIND as u8 => Signed::<T>::from_bytes(b).map_err(wire_err),
        Some(&k) if MsgKind::from_u8(k).is_some() => Err(Fail::new(
            KBK_STATUS_WIRE_WRONG_KIND,
            format!("a message of kind {} is needed, got {k}", T::KIND as u8),
        )),
        _ => Err(wire_err(WireError::BadTag)),
    }
}

#[inline]
fn msg_ref(m: *const kbk_message, f: impl FnOnce(&MessageHandle) -> Res) -> kbk_status {
    with_ref(m.cast::<MessageHandle>(), f)
}

/// Decodes (strictly, without checking the signature) the wire bytes of a
/// signed message of any kind into a new `*out`. Free it with
/// `kbk_message_free`.
#[no_mangle]
pub extern "C" fn kbk_message_decode(
    bytes: *const u8,
    len: usize,
    out: *mut *mut kbk_message,
) -> kbk_status {
    guard(|| {
        let o = crate::status::out(out, "out")?;
        let b = slice(bytes, len, "bytes")?;
        o.set(new_message(b.to_vec())?);
        Ok(())
    })
}

/// Frees a message. NULL is fine.
#[no_mangle]
pub extern "C" fn kbk_message_free(message: *mut kbk_message) {
    free(message.cast::<MessageHandle>());
}

/// The message kind (`KBK_KIND_*`, 1..=25).
#[no_mangle]
pub extern "C" fn kbk_message_kind(message: *const kbk_message, out: *mut u8) -> kbk_status {
    msg_ref(message, |h| {
        crate::status::out(out, "out")?.set(h.bytes[1]);
        Ok(())
    })
}

/// The signer's user id.
#[no_mangle]
pub extern "C" fn kbk_message_signer(message: *const kbk_message, out: *mut u64) -> kbk_status {
    msg_ref(message, |h| {
        crate::status::out(out, "out")?.set(h.msg.signer());
        Ok(())
    })
}

/// The message's identity: BLAKE3 of its wire bytes (32 bytes into `out`;
/// receipts and answers echo it as their request hash).
#[no_mangle]
pub extern "C" fn kbk_message_digest(message: *const kbk_message, out: *mut u8) -> kbk_status {
    msg_ref(message, |h| {
        crate::status::out(out.cast::<[u8; 32]>(), "out")?.set(Digest::of(&h.bytes).0);
        Ok(())
    })
}

/// Checks the signature strictly against the 32-byte public key `key`:
/// `KBK_STATUS_OK`, `KBK_STATUS_CRYPTO_BAD_SIGNATURE`, or a key status
/// (`KBK_STATUS_CRYPTO_BAD_KEY`, `KBK_STATUS_CRYPTO_WEAK_KEY`).
#[no_mangle]
pub extern "C" fn kbk_message_verify(message: *const kbk_message, key: *const u8) -> kbk_status {
    msg_ref(message, |h| {
        let k = public_key(key, "key")?;
        h.msg.verify(&k).map_err(|e| crypto_err(&e))
    })
}

/// The length of the wire bytes.
#[no_mangle]
pub extern "C" fn kbk_message_len(message: *const kbk_message, out: *mut usize) -> kbk_status {
    msg_ref(message, |h| {
        crate::status::out(out, "out")?.set(h.bytes.len());
        Ok(())
    })
}

/// Copies the wire bytes into `buf` of `cap` bytes and their length into
/// `*out_len` (`KBK_STATUS_BUFFER_TOO_SMALL`, nothing written, when they
/// do not fit: see `kbk_message_len`).
#[no_mangle]
pub extern "C" fn kbk_message_bytes(
    message: *const kbk_message,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> kbk_status {
    msg_ref(message, |h| write_bytes(&h.bytes, buf, cap, out_len))
}

/// Copies `b` into `buf` of `cap` bytes (only if it fits).
pub(crate) fn write_bytes(b: &[u8], buf: *mut u8, cap: usize, out_len: *mut usize) -> Res {
    let o = crate::status::out(out_len, "out_len")?;
    let mut dst = slice_mut(buf, cap, "buf")?;
    if b.len() > cap {
        return Err(Fail::new(
            KBK_STATUS_BUFFER_TOO_SMALL,
            format!("{} bytes needed, {cap} given", b.len()),
        ));
    }
    for (i, x) in b.iter().enumerate() {
        dst.set(i, *x);
    }
    o.set(b.len());
    Ok(())
}

fn items(h: &MessageHandle, field: u32) -> Res<Vec<Val>> {
    fields(&h.msg)
        .into_iter()
        .find(|(f, _)| *f == field)
        .map(|(_, v)| v)
        .ok_or_else(|| {
            Fail::new(
                KBK_STATUS_MESSAGE_NO_FIELD,
                format!("kind {} has no field {field}", h.bytes[1]),
            )
        })
}

fn item(h: &MessageHandle, field: u32, index: usize) -> Res<Val> {
    let n = items(h, field)?;
    let len = n.len();
    n.into_iter().nth(index).ok_or_else(|| {
        Fail::new(
            KBK_STATUS_MESSAGE_NO_FIELD,
            format!("field {field} has {len} item(s); index {index} asked"),
        )
    })
}

fn field_type(field: u32, want: &str) -> Fail {
    Fail::new(
        KBK_STATUS_MESSAGE_FIELD_TYPE,
        format!("field {field} is not {want}"),
    )
}

/// The number of items of `field` (`KBK_FIELD_*`): 1 for a scalar, 0 for
/// an absent optional (a market order's price, a missing change ID), the
/// length of a list. `KBK_STATUS_MESSAGE_NO_FIELD` when this kind has no
/// such field.
///
/// The fields of each kind (`KBK_FIELD_` left out; `[]` a list, `?`
/// optional):
/// - ATTESTATION: SERIAL, USER_ID, NAME, PUBLIC_KEY, NOT_BEFORE, NOT_AFTER,
///   ISSUER, ROLE, USAGE_LIMIT, PER_ORDER_MAX, SHORT_SALE_BAN.
/// - REVOCATION: SERIALS[], AT.
/// - CERTIFICATE: COMPANY_NAME, COMPANY_FOUNDED, CERTIFICATE_NUMBER,
///   CERT_ID, INSTRUMENT, QUANTITY (shares), PAR_VALUE, ISSUE_DATE, EXPIRY,
///   HOLDER_NAME, HOLDER, SIGNATURE_ALGORITHM, REGISTER_NAME,
///   REGISTER_ADDRESS, CLASS, CLASS_TERMS?, RESTRICTION, LOCKED_UNTIL?.
/// - ISSUE_REQUEST: USER_ID, NAME_ADDRESS, INSTRUMENT, QUANTITY,
///   DIVIDEND_ACCOUNT, SEQ, CLASS, CLASS_TERMS?.
/// - TRANSFER_REQUEST: EXCHANGE, MATCH_NUMBER, INSTRUMENT, CERT_ID,
///   QUANTITY, BUYER, SELLER, SELL_ORDER?, NAME_ADDRESS (buyer's),
///   CERTIFICATE, SEQ.
/// - TRANSFER_RESPONSE: MATCH_NUMBER, TRANSFER_NUMBER, NEW_CERT_ID,
///   CHANGE_CERT_ID?, REQUEST_HASH.
/// - CERTIFICATE_REQUEST: USER_ID, TRANSFER_NUMBER, DIVIDEND_ACCOUNT, SEQ.
/// - ENDORSEMENT: CERTIFICATE_HASH, CERT_ID, RECIPIENT, NONCE.
/// - DIRECT_TRANSFER_REQUEST: USER_ID, NAME_ADDRESS, CERTIFICATE,
///   ENDORSEMENT, SEQ.
/// - HOLDINGS_INQUIRY: USER_ID, INSTRUMENT?, SEQ.
/// - HOLDINGS_ANSWER: USER_ID, REQUEST_HASH, HOLDING_INSTRUMENT[],
///   HOLDING_CERTIFICATE_NUMBER[], HOLDING_CERT_ID[], HOLDING_SHARES[],
///   HOLDING_CLASS[].
/// - REISSUE_REQUEST: USER_ID, INSTRUMENT, REISSUE_KIND, CERT_IDS[],
///   PARTS[], SEQ.
/// - REISSUE_RESPONSE: REQUEST_HASH, RETIRED[], CERTIFICATES[].
/// - ID_LIST_SNAPSHOT: INSTRUMENT, SEQ, CERT_IDS[], HOLDERS[].
/// - ID_LIST_DELTA: INSTRUMENT, SEQ, RETIRED[] (removed), CERT_IDS[],
///   HOLDERS[] (added).
/// - ORDER_REQUEST: USER_ID, INSTRUMENT, CLASS, SIDE, PRICE?, QUANTITY,
///   POST_ONLY, CERTIFICATES[], NAME_ADDRESS, ACCOUNT, CASH_CAP?, SEQ, TIF,
///   EXPIRE?.
/// - CANCEL_REQUEST: USER_ID, RECEPTION_NUMBER, SEQ.
/// - REDUCE_REQUEST: USER_ID, RECEPTION_NUMBER, BY, SEQ.
/// - MODIFY_REQUEST: USER_ID, RECEPTION_NUMBER, PRICE, QUANTITY, SEQ.
/// - RECEPTION_RECEIPT: USER_ID, RECEPTION_NUMBER, REQUEST_KIND,
///   REQUEST_HASH.
/// - ERROR_NOTICE: USER_ID, REQUEST_HASH, RECEPTION_NUMBER, REASON.
/// - COMPLETION_NOTICE: USER_ID (the party told), RECEPTION_NUMBER, SIDE,
///   MATCH_NUMBER, TRANSFER_NUMBER, INSTRUMENT, QUANTITY, PRICE,
///   NEW_CERT_ID, CHANGE_CERT_ID?.
/// - SETTLEMENT_REQUEST: EXCHANGE, MATCH_NUMBER, BUY_ORDER, AMOUNT,
///   RELEASE, BUYER_ACCOUNT, SELLER_ACCOUNT, SEQ.
/// - ACCOUNT_INQUIRY: USER_ID, ACCOUNT, SEQ.
/// - ACCOUNT_ANSWER: ACCOUNT, OWNER, AVAILABLE, RESERVED, REQUEST_HASH.
#[no_mangle]
pub extern "C" fn kbk_message_field_count(
    message: *const kbk_message,
    field: u32,
    out: *mut usize,
) -> kbk_status {
    msg_ref(message, |h| {
        let o = crate::status::out(out, "out")?;
        o.set(items(h, field)?.len());
        Ok(())
    })
}

/// Item `index` of an unsigned integer or flag field (0 for a scalar).
#[no_mangle]
pub extern "C" fn kbk_message_get_u64(
    message: *const kbk_message,
    field: u32,
    index: usize,
    out: *mut u64,
) -> kbk_status {
    msg_ref(message, |h| {
        let o = crate::status::out(out, "out")?;
        match item(h, field, index)? {
            Val::U(v) => o.set(v),
            _ => return Err(field_type(field, "an unsigned integer")),
        }
        Ok(())
    })
}

/// Item `index` of a signed integer field (prices, in ticks).
#[no_mangle]
pub extern "C" fn kbk_message_get_i64(
    message: *const kbk_message,
    field: u32,
    index: usize,
    out: *mut i64,
) -> kbk_status {
    msg_ref(message, |h| {
        let o = crate::status::out(out, "out")?;
        match item(h, field, index)? {
            Val::I(v) => o.set(v),
            _ => return Err(field_type(field, "a signed integer")),
        }
        Ok(())
    })
}

/// Item `index` of a text or decimal-amount field, as UTF-8 with a NUL,
/// into `buf` of `cap` bytes; its length without the NUL into `*out_len`
/// (`KBK_STATUS_BUFFER_TOO_SMALL`, nothing written, when it does not fit).
#[no_mangle]
pub extern "C" fn kbk_message_get_string(
    message: *const kbk_message,
    field: u32,
    index: usize,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> kbk_status {
    msg_ref(message, |h| {
        let s = match item(h, field, index)? {
            Val::S(s) => s,
            Val::D(d) => d.to_string(),
            _ => return Err(field_type(field, "text")),
        };
        write_cstr(&s, buf, cap, out_len)
    })
}

/// Item `index` of a byte field (hashes and keys: 32 bytes) into `buf` of
/// `cap` bytes; its length into `*out_len`.
#[no_mangle]
pub extern "C" fn kbk_message_get_bytes(
    message: *const kbk_message,
    field: u32,
    index: usize,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> kbk_status {
    msg_ref(message, |h| match item(h, field, index)? {
        Val::B(b) => write_bytes(&b, buf, cap, out_len),
        _ => Err(field_type(field, "bytes")),
    })
}

/// Item `index` of a certificate-ID field.
#[no_mangle]
pub extern "C" fn kbk_message_get_cert_id(
    message: *const kbk_message,
    field: u32,
    index: usize,
    out: *mut kbk_cert_id,
) -> kbk_status {
    msg_ref(message, |h| {
        let o = crate::status::out(out, "out")?;
        match item(h, field, index)? {
            Val::Id(id) => o.set(cert_id_to_c(&id)),
            _ => return Err(field_type(field, "a certificate ID")),
        }
        Ok(())
    })
}

/// Item `index` of a nested-message field (a certificate, an endorsement)
/// as a new message in `*out` (free it with `kbk_message_free`).
#[no_mangle]
pub extern "C" fn kbk_message_get_message(
    message: *const kbk_message,
    field: u32,
    index: usize,
    out: *mut *mut kbk_message,
) -> kbk_status {
    msg_ref(message, |h| {
        let o = crate::status::out(out, "out")?;
        match item(h, field, index)? {
            Val::M(b) => o.set(new_message(b)?),
            _ => return Err(field_type(field, "a message")),
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::crypto::{KeyPair, Validity};
    use engine::exchange::{
        CancelRequest, CompletionNotice, ErrorNotice, ModifyRequest, OrderRequest,
        ReceptionReceipt, ReduceRequest,
    };
    use engine::identity::{Attestation, Policy, Revocation, Role};
    use engine::register::{
        CertificateRequest, DirectTransferRequest, Holding, HoldingsAnswer, HoldingsInquiry,
        IdListDelta, IdListEntry, IdListSnapshot, IssueRequest, ReissueRequest, ReissueResponse,
        TransferRequest, TransferResponse,
    };
    use engine::settle::{AccountAnswer, AccountInquiry, SettlementRequest};
    use engine::types::Side;
    use std::collections::{BTreeMap, BTreeSet};

    /// One signed message of every kind, every optional field present.
    fn one_of_each() -> Vec<Vec<u8>> {
        let k = KeyPair::from_seed(&[3; 32]);
        let id = CertId {
            serial: 4,
            tag: [5; 16],
        };
        let h = Digest([6; 32]);
        let cert = Signed::sign(
            Certificate {
                company_name: "K".into(),
                company_founded: 19500101,
                certificate_number: 1,
                id,
                instrument: 7,
                shares: 100,
                par_value: 50,
                issue_date: 1,
                expiry: 2,
                holder_name: "H".into(),
                holder: 9,
                class: ShareClass::Convertible { terms: "t".into() },
                restriction: TransferRestriction::LockedUntil(3),
                signature_algorithm: 1,
                register_name: "R".into(),
                register_address: "A".into(),
            },
            2,
            &k,
        );
        let endo = Signed::sign(
            Endorsement {
                certificate: h,
                cert_id: id,
                recipient: 10,
                nonce: 1,
            },
            9,
            &k,
        );
        let entry = IdListEntry {
            cert_id: id,
            holder: 9,
        };
        let d = Decimal::new(1234, 2);
        macro_rules! b {
            ($body:expr) => {
                Signed::sign($body, 9, &k).to_bytes()
            };
        }
        vec![
            b!(Attestation {
                serial: 1,
                user_id: 9,
                name: "N".into(),
                public_key: k.public().to_bytes(),
                validity: Validity {
                    not_before: 0,
                    not_after: 1
                },
                issuer: "CA".into(),
                role: Role::Investor,
                policy: Policy::UNLIMITED,
            }),
            b!(Revocation {
                serials: vec![1, 2],
                at: 3
            }),
            cert.to_bytes(),
            b!(IssueRequest {
                user_id: 9,
                name_address: "N".into(),
                instrument: 7,
                class: ShareClass::Convertible { terms: "t".into() },
                quantity: 1,
                dividend_account: "D".into(),
                seq: 1,
            }),
            b!(TransferRequest {
                exchange: 3,
                match_number: 1,
                instrument: 7,
                cert_id: id,
                quantity: 1,
                buyer: 10,
                seller: 9,
                sell_order: Some(1),
                buyer_name_address: "B".into(),
                certificate: cert.clone(),
                seq: 1,
            }),
            b!(TransferResponse {
                match_number: 1,
                transfer_number: 1,
                new_cert_id: id,
                change_cert_id: Some(id),
                request_hash: h,
            }),
            b!(CertificateRequest {
                user_id: 9,
                transfer_number: 1,
                dividend_account: "D".into(),
                seq: 1,
            }),
            endo.to_bytes(),
            b!(DirectTransferRequest {
                user_id: 10,
                name_address: "N".into(),
                certificate: cert.clone(),
                endorsement: endo.clone(),
                seq: 1,
            }),
            b!(HoldingsInquiry {
                user_id: 9,
                instrument: Some(7),
                seq: 1
            }),
            b!(HoldingsAnswer {
                user_id: 9,
                request_hash: h,
                holdings: vec![Holding {
                    instrument: 7,
                    certificate_number: 1,
                    cert_id: id,
                    shares: 100,
                    class: 0,
                }],
            }),
            b!(ReissueRequest {
                user_id: 9,
                instrument: 7,
                kind: ReissueKind::Split(id, vec![40, 60]),
                seq: 1,
            }),
            b!(ReissueResponse {
                request_hash: h,
                retired: vec![id],
                certificates: vec![cert.clone()],
            }),
            b!(IdListSnapshot {
                instrument: 7,
                seq: 1,
                entries: vec![entry],
            }),
            b!(IdListDelta {
                instrument: 7,
                seq: 2,
                removed: vec![id],
                added: vec![entry],
            }),
            b!(OrderRequest {
                user_id: 9,
                instrument: 7,
                class: 0,
                side: Side::Sell,
                price: Some(100),
                quantity: 100,
                tif: TimeInForce::Gtd(5),
                post_only: true,
                certificates: vec![cert.clone()],
                name_address: "N".into(),
                account: 9,
                cash_cap: Some(d),
                seq: 1,
            }),
            b!(CancelRequest {
                user_id: 9,
                reception_number: 1,
                seq: 1
            }),
            b!(ReduceRequest {
                user_id: 9,
                reception_number: 1,
                by: 1,
                seq: 1
            }),
            b!(ModifyRequest {
                user_id: 9,
                reception_number: 1,
                price: -1,
                quantity: 1,
                seq: 1
            }),
            b!(ReceptionReceipt {
                user_id: 9,
                reception_number: 1,
                request_kind: 0,
                request_hash: h
            }),
            b!(ErrorNotice {
                user_id: 9,
                request_hash: h,
                reception_number: 1,
                reason: 7
            }),
            b!(CompletionNotice {
                party: 9,
                reception_number: 1,
                side: Side::Buy,
                match_number: 1,
                transfer_number: 1,
                instrument: 7,
                quantity: 1,
                price: 100,
                new_cert_id: id,
                change_cert_id: Some(id),
            }),
            b!(SettlementRequest {
                exchange: 3,
                match_number: 1,
                buy_order: 1,
                amount: d,
                release: d,
                buyer_account: 1,
                seller_account: 2,
                seq: 1,
            }),
            b!(AccountInquiry {
                user_id: 9,
                account: 9,
                seq: 1
            }),
            b!(AccountAnswer {
                account: 9,
                owner: 9,
                available: d,
                reserved: d,
                request_hash: h,
            }),
        ]
    }

    /// `NAME -> number` of the `pub const PREFIX*` lines of a source file.
    fn consts(src: &str, prefix: &str) -> BTreeMap<String, u64> {
        src.lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .filter_map(|rest| {
                let (name, v) = rest.split_once(':')?;
                let v = v.split_once("= ")?.1.trim_end_matches(';');
                Some((name.to_owned(), v.parse().ok()?))
            })
            .collect()
    }

    #[test]
    fn every_kind_decodes_and_its_fields_match_the_documented_table() {
        let fields_by_name = consts(include_str!("message.rs"), "pub const KBK_FIELD_");
        let kinds = consts(include_str!("crypto.rs"), "pub const KBK_KIND_");
        // The table in the documentation of kbk_message_field_count.
        let src = include_str!("message.rs");
        let doc: String = src
            .split("/// The fields of each kind")
            .nth(1)
            .and_then(|t| t.split("#[no_mangle]").next())
            .expect("the table")
            .lines()
            .map(|l| l.trim_start_matches("///").trim())
            .collect::<Vec<_>>()
            .join(" ");
        let mut documented: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
        for entry in doc.split("- ").skip(1) {
            let (kind, list) = entry.split_once(':').expect("KIND: fields");
            let kind = kinds[kind.trim()];
            let set = list
                .split(',')
                .map(|f| {
                    let f = f.split('(').next().unwrap_or("").trim();
                    let f = f.trim_end_matches('.').trim_end_matches("[]");
                    let f = f.trim_end_matches('?').trim();
                    fields_by_name[f]
                })
                .collect();
            documented.insert(kind, set);
        }
        assert_eq!(documented.len(), 25);
        let all = one_of_each();
        assert_eq!(all.len(), 25);
        let pk = KeyPair::from_seed(&[3; 32]).public().to_bytes();
        for (i, bytes) in all.into_iter().enumerate() {
            // Through the exports: decode, kind, verify, every field read.
            let mut m = core::ptr::null_mut();
            assert_eq!(
                kbk_message_decode(bytes.as_ptr(), bytes.len(), &mut m),
                KBK_STATUS_OK
            );
            let mut kind = 0u8;
            assert_eq!(kbk_message_kind(m, &mut kind), KBK_STATUS_OK);
            assert_eq!(usize::from(kind), i + 1);
            assert_eq!(kbk_message_verify(m, pk.as_ptr()), KBK_STATUS_OK);
            for f in 0..=KBK_FIELD_MAX + 1 {
                let mut n = 0usize;
                if kbk_message_field_count(m, f, &mut n) != KBK_STATUS_OK {
                    continue;
                }
                for idx in 0..n {
                    let (mut u, mut v, mut id) = (0u64, 0i64, kbk_cert_id::default());
                    let mut buf = [0u8; 256];
                    let mut len = 0usize;
                    let mut nested = core::ptr::null_mut();
                    let ok = [
                        kbk_message_get_u64(m, f, idx, &mut u),
                        kbk_message_get_i64(m, f, idx, &mut v),
                        kbk_message_get_string(m, f, idx, buf.as_mut_ptr().cast(), 256, &mut len),
                        kbk_message_get_bytes(m, f, idx, buf.as_mut_ptr(), 256, &mut len),
                        kbk_message_get_cert_id(m, f, idx, &mut id),
                        kbk_message_get_message(m, f, idx, &mut nested),
                    ]
                    .iter()
                    .filter(|s| **s == KBK_STATUS_OK)
                    .count();
                    assert_eq!(ok, 1, "kind {}: field {f}[{idx}]", i + 1);
                    kbk_message_free(nested);
                }
            }
            kbk_message_free(m);
            let h = decode(bytes).expect("decodes");
            assert_eq!(usize::from(h.bytes[1]), i + 1);
            let got: BTreeSet<u64> = fields(&h.msg)
                .iter()
                .map(|(f, items)| {
                    assert!(!items.is_empty(), "kind {}: field {f} empty", i + 1);
                    u64::from(*f)
                })
                .collect();
            assert_eq!(got, documented[&(i as u64 + 1)], "kind {}", i + 1);
        }
    }

    #[test]
    fn field_numbers_are_unique_and_bounded() {
        let src = include_str!("message.rs");
        let mut seen = std::collections::BTreeSet::new();
        for line in src.lines() {
            if let Some(rest) = line.strip_prefix("pub const KBK_FIELD_") {
                if rest.starts_with("MAX") {
                    continue;
                }
                let n: u32 = rest
                    .split("= ")
                    .nth(1)
                    .and_then(|v| v.trim_end_matches(';').parse().ok())
                    .expect("a number");
                assert!(seen.insert(n), "field {n} twice");
                assert!(n <= KBK_FIELD_MAX);
            }
        }
        assert_eq!(seen.len() as u32, KBK_FIELD_MAX);
    }
}
