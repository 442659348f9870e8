//! The body of any signed message as a dict ([`body`]) and the builders
//! that sign the requests an investor, an embedding exchange or a
//! settlement client sends (`sign_*`). Each builder fills the engine's
//! message struct from its arguments and signs it; nothing is checked here
//! that the receiving engine object does not check again.

use crate::book::{side_arg, Side, TimeInForce};
use crate::convert::{decimal_arg, decimal_out};
use crate::crypto::{KeyPair, Message};
use crate::identity::{Policy, Role};
use crate::register::{
    certificate_arg, certificates_arg, restriction_name, share_class_arg, share_class_name, CertId,
    Certificate,
};
use kabuken::book::TimeInForce as KTif;
use kabuken::crypto::{self as kc, Signed};
use kabuken::exchange::{self as ke, AnyMessage};
use kabuken::register::{self as kr, AnyMessage as RegMessage};
use kabuken::settle as ks;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

fn digest<'py>(py: Python<'py>, d: &kc::Digest) -> Bound<'py, PyBytes> {
    PyBytes::new(py, &d.0)
}

fn ids(v: &[kabuken::certs::CertId]) -> Vec<CertId> {
    v.iter().copied().map(Into::into).collect()
}

fn entries(v: &[kr::IdListEntry]) -> Vec<(CertId, u64)> {
    v.iter().map(|e| (e.cert_id.into(), e.holder)).collect()
}

fn certs(v: &[Signed<kabuken::certs::Certificate>]) -> Vec<Certificate> {
    v.iter().cloned().map(Into::into).collect()
}

fn tif_out(t: KTif) -> (TimeInForce, Option<u64>) {
    match t {
        KTif::Gtc => (TimeInForce::Gtc, None),
        KTif::Ioc => (TimeInForce::Ioc, None),
        KTif::Fok => (TimeInForce::Fok, None),
        KTif::Day => (TimeInForce::Day, None),
        KTif::Gtd(t) => (TimeInForce::Gtd, Some(t)),
    }
}

fn tif_arg(t: TimeInForce, expire_at: Option<u64>) -> PyResult<KTif> {
    match (t, expire_at) {
        (TimeInForce::Gtd, Some(at)) => Ok(KTif::Gtd(at)),
        (TimeInForce::Gtd, None) => Err(PyValueError::new_err("GTD needs expire_at")),
        (_, Some(_)) => Err(PyValueError::new_err(
            "expire_at is only meaningful with GTD",
        )),
        (TimeInForce::Gtc, None) => Ok(KTif::Gtc),
        (TimeInForce::Ioc, None) => Ok(KTif::Ioc),
        (TimeInForce::Fok, None) => Ok(KTif::Fok),
        (TimeInForce::Day, None) => Ok(KTif::Day),
    }
}

fn certificate_fields(d: &Bound<'_, PyDict>, c: &kabuken::certs::Certificate) -> PyResult<()> {
    let (restriction, locked_until) = restriction_name(c.restriction);
    d.set_item("company_name", &c.company_name)?;
    d.set_item("company_founded", c.company_founded)?;
    d.set_item("certificate_number", c.certificate_number)?;
    d.set_item("id", CertId::from(c.id))?;
    d.set_item("instrument", c.instrument)?;
    d.set_item("shares", c.shares)?;
    d.set_item("par_value", c.par_value)?;
    d.set_item("issue_date", c.issue_date)?;
    d.set_item("expiry", c.expiry)?;
    d.set_item("holder_name", &c.holder_name)?;
    d.set_item("holder", c.holder)?;
    d.set_item("share_class", share_class_name(&c.class))?;
    if let kabuken::certs::ShareClass::Convertible { terms } = &c.class {
        d.set_item("conversion_terms", terms)?;
    }
    d.set_item("restriction", restriction)?;
    d.set_item("locked_until", locked_until)?;
    d.set_item("signature_algorithm", c.signature_algorithm)?;
    d.set_item("register_name", &c.register_name)?;
    d.set_item("register_address", &c.register_address)
}

fn register_body(py: Python<'_>, d: &Bound<'_, PyDict>, m: &RegMessage) -> PyResult<()> {
    match m {
        RegMessage::Attestation(s) => {
            let b = &s.body;
            d.set_item("serial", b.serial)?;
            d.set_item("user_id", b.user_id)?;
            d.set_item("name", &b.name)?;
            d.set_item("public_key", PyBytes::new(py, &b.public_key))?;
            d.set_item("not_before", b.validity.not_before)?;
            d.set_item("not_after", b.validity.not_after)?;
            d.set_item("issuer", &b.issuer)?;
            d.set_item("role", Role::from_engine(b.role))?;
            d.set_item("policy", Policy { inner: b.policy })
        }
        RegMessage::Revocation(s) => {
            d.set_item("serials", &s.body.serials)?;
            d.set_item("at", s.body.at)
        }
        RegMessage::Certificate(s) => certificate_fields(d, &s.body),
        RegMessage::IssueRequest(s) => {
            let b = &s.body;
            d.set_item("user_id", b.user_id)?;
            d.set_item("name_address", &b.name_address)?;
            d.set_item("instrument", b.instrument)?;
            d.set_item("share_class", share_class_name(&b.class))?;
            if let kabuken::certs::ShareClass::Convertible { terms } = &b.class {
                d.set_item("conversion_terms", terms)?;
            }
            d.set_item("quantity", b.quantity)?;
            d.set_item("dividend_account", &b.dividend_account)?;
            d.set_item("seq", b.seq)
        }
        RegMessage::TransferRequest(s) => {
            let b = &s.body;
            d.set_item("exchange", b.exchange)?;
            d.set_item("match_number", b.match_number)?;
            d.set_item("instrument", b.instrument)?;
            d.set_item("cert_id", CertId::from(b.cert_id))?;
            d.set_item("quantity", b.quantity)?;
            d.set_item("buyer", b.buyer)?;
            d.set_item("seller", b.seller)?;
            d.set_item("sell_order", b.sell_order)?;
            d.set_item("buyer_name_address", &b.buyer_name_address)?;
            d.set_item("certificate", Certificate::from(b.certificate.clone()))?;
            d.set_item("seq", b.seq)
        }
        RegMessage::TransferResponse(s) => {
            let b = &s.body;
            d.set_item("match_number", b.match_number)?;
            d.set_item("transfer_number", b.transfer_number)?;
            d.set_item("new_cert_id", CertId::from(b.new_cert_id))?;
            d.set_item("change_cert_id", b.change_cert_id.map(CertId::from))?;
            d.set_item("request_hash", digest(py, &b.request_hash))
        }
        RegMessage::CertificateRequest(s) => {
            let b = &s.body;
            d.set_item("user_id", b.user_id)?;
            d.set_item("transfer_number", b.transfer_number)?;
            d.set_item("dividend_account", &b.dividend_account)?;
            d.set_item("seq", b.seq)
        }
        RegMessage::Endorsement(s) => {
            let b = &s.body;
            d.set_item("certificate", digest(py, &b.certificate))?;
            d.set_item("cert_id", CertId::from(b.cert_id))?;
            d.set_item("recipient", b.recipient)?;
            d.set_item("nonce", b.nonce)
        }
        RegMessage::DirectTransferRequest(s) => {
            let b = &s.body;
            d.set_item("user_id", b.user_id)?;
            d.set_item("name_address", &b.name_address)?;
            d.set_item("certificate", Certificate::from(b.certificate.clone()))?;
            d.set_item("endorsement", Message::of(py, &b.endorsement)?)?;
            d.set_item("seq", b.seq)
        }
        RegMessage::HoldingsInquiry(s) => {
            let b = &s.body;
            d.set_item("user_id", b.user_id)?;
            d.set_item("instrument", b.instrument)?;
            d.set_item("seq", b.seq)
        }
        RegMessage::HoldingsAnswer(s) => {
            let b = &s.body;
            d.set_item("user_id", b.user_id)?;
            d.set_item("request_hash", digest(py, &b.request_hash))?;
            let list = PyList::empty(py);
            for h in &b.holdings {
                let e = PyDict::new(py);
                e.set_item("instrument", h.instrument)?;
                e.set_item("certificate_number", h.certificate_number)?;
                e.set_item("cert_id", CertId::from(h.cert_id))?;
                e.set_item("shares", h.shares)?;
                e.set_item("class", h.class)?;
                list.append(e)?;
            }
            d.set_item("holdings", list)
        }
        RegMessage::ReissueRequest(s) => {
            let b = &s.body;
            d.set_item("user_id", b.user_id)?;
            d.set_item("instrument", b.instrument)?;
            let (kind, cert_ids, quantities): (&str, Vec<CertId>, Vec<u64>) = match &b.kind {
                kr::ReissueKind::Lost(id) => ("lost", vec![(*id).into()], Vec::new()),
                kr::ReissueKind::Split(id, q) => ("split", vec![(*id).into()], q.clone()),
                kr::ReissueKind::Merge(v) => ("merge", ids(v), Vec::new()),
            };
            d.set_item("kind", kind)?;
            d.set_item("cert_ids", cert_ids)?;
            d.set_item("quantities", quantities)?;
            d.set_item("seq", b.seq)
        }
        RegMessage::ReissueResponse(s) => {
            let b = &s.body;
            d.set_item("request_hash", digest(py, &b.request_hash))?;
            d.set_item("retired", ids(&b.retired))?;
            d.set_item("certificates", certs(&b.certificates))
        }
        RegMessage::IdListSnapshot(s) => {
            d.set_item("instrument", s.body.instrument)?;
            d.set_item("seq", s.body.seq)?;
            d.set_item("entries", entries(&s.body.entries))
        }
        RegMessage::IdListDelta(s) => {
            d.set_item("instrument", s.body.instrument)?;
            d.set_item("seq", s.body.seq)?;
            d.set_item("removed", ids(&s.body.removed))?;
            d.set_item("added", entries(&s.body.added))
        }
    }
}

/// The body's fields of any message, as a dict.
pub fn body<'py>(py: Python<'py>, m: &AnyMessage) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    match m {
        AnyMessage::Register(r) => register_body(py, &d, r)?,
        AnyMessage::OrderRequest(s) => {
            let b = &s.body;
            let (tif, expire_at) = tif_out(b.tif);
            d.set_item("user_id", b.user_id)?;
            d.set_item("instrument", b.instrument)?;
            d.set_item("class", b.class)?;
            d.set_item("side", Side::from(b.side))?;
            d.set_item("price", b.price)?;
            d.set_item("quantity", b.quantity)?;
            d.set_item("tif", tif)?;
            d.set_item("expire_at", expire_at)?;
            d.set_item("post_only", b.post_only)?;
            d.set_item("certificates", certs(&b.certificates))?;
            d.set_item("name_address", &b.name_address)?;
            d.set_item("account", b.account)?;
            let cap = b.cash_cap.map(|c| decimal_out(py, c)).transpose()?;
            d.set_item("cash_cap", cap)?;
            d.set_item("seq", b.seq)?;
        }
        AnyMessage::CancelRequest(s) => {
            d.set_item("user_id", s.body.user_id)?;
            d.set_item("reception_number", s.body.reception_number)?;
            d.set_item("seq", s.body.seq)?;
        }
        AnyMessage::ReduceRequest(s) => {
            d.set_item("user_id", s.body.user_id)?;
            d.set_item("reception_number", s.body.reception_number)?;
            d.set_item("by", s.body.by)?;
            d.set_item("seq", s.body.seq)?;
        }
        AnyMessage::ModifyRequest(s) => {
            d.set_item("user_id", s.body.user_id)?;
            d.set_item("reception_number", s.body.reception_number)?;
            d.set_item("price", s.body.price)?;
            d.set_item("quantity", s.body.quantity)?;
            d.set_item("seq", s.body.seq)?;
        }
        AnyMessage::ReceptionReceipt(s) => {
            d.set_item("user_id", s.body.user_id)?;
            d.set_item("reception_number", s.body.reception_number)?;
            d.set_item("request_kind", s.body.request_kind)?;
            d.set_item("request_hash", digest(py, &s.body.request_hash))?;
        }
        AnyMessage::ErrorNotice(s) => {
            d.set_item("user_id", s.body.user_id)?;
            d.set_item("request_hash", digest(py, &s.body.request_hash))?;
            d.set_item("reception_number", s.body.reception_number)?;
            d.set_item("reason", s.body.reason)?;
            let name = ke::Refusal::from_code(s.body.reason).map(ke::Refusal::as_str);
            d.set_item("reason_name", name)?;
        }
        AnyMessage::CompletionNotice(s) => {
            let b = &s.body;
            d.set_item("party", b.party)?;
            d.set_item("reception_number", b.reception_number)?;
            d.set_item("side", Side::from(b.side))?;
            d.set_item("match_number", b.match_number)?;
            d.set_item("transfer_number", b.transfer_number)?;
            d.set_item("instrument", b.instrument)?;
            d.set_item("quantity", b.quantity)?;
            d.set_item("price", b.price)?;
            d.set_item("new_cert_id", CertId::from(b.new_cert_id))?;
            d.set_item("change_cert_id", b.change_cert_id.map(CertId::from))?;
        }
        AnyMessage::SettlementRequest(s) => {
            let b = &s.body;
            d.set_item("exchange", b.exchange)?;
            d.set_item("match_number", b.match_number)?;
            d.set_item("buy_order", b.buy_order)?;
            d.set_item("amount", decimal_out(py, b.amount)?)?;
            d.set_item("release", decimal_out(py, b.release)?)?;
            d.set_item("buyer_account", b.buyer_account)?;
            d.set_item("seller_account", b.seller_account)?;
            d.set_item("seq", b.seq)?;
        }
        AnyMessage::AccountInquiry(s) => {
            d.set_item("user_id", s.body.user_id)?;
            d.set_item("account", s.body.account)?;
            d.set_item("seq", s.body.seq)?;
        }
        AnyMessage::AccountAnswer(s) => {
            let b = &s.body;
            d.set_item("account", b.account)?;
            d.set_item("owner", b.owner)?;
            d.set_item("available", decimal_out(py, b.available)?)?;
            d.set_item("reserved", decimal_out(py, b.reserved)?)?;
            d.set_item("request_hash", digest(py, &b.request_hash))?;
        }
    }
    Ok(d)
}

// ---- builders ----------------------------------------------------------------

fn sign<T: kc::Message>(py: Python<'_>, body: T, signer: u64, key: &KeyPair) -> PyResult<Message> {
    Message::of(py, &Signed::sign(body, signer, key.get()))
}

/// A signed order request (drawing 12). A sell attaches its certificates.
#[pyfunction]
#[pyo3(signature = (key, user_id, seq, instrument, side, quantity, price=None, tif=TimeInForce::Gtc, expire_at=None, post_only=false, certificates=None, name_address="", account=0, cash_cap=None, share_class=0))]
pub fn sign_order(
    py: Python<'_>,
    key: &KeyPair,
    user_id: u64,
    seq: u64,
    instrument: u32,
    side: &Bound<'_, PyAny>,
    quantity: u64,
    price: Option<i64>,
    tif: TimeInForce,
    expire_at: Option<u64>,
    post_only: bool,
    certificates: Option<&Bound<'_, PyAny>>,
    name_address: &str,
    account: u64,
    cash_cap: Option<&Bound<'_, PyAny>>,
    share_class: u8,
) -> PyResult<Message> {
    let body = ke::OrderRequest {
        user_id,
        instrument,
        class: share_class,
        side: side_arg(side)?,
        price,
        quantity,
        tif: tif_arg(tif, expire_at)?,
        post_only,
        certificates: certificates
            .map(certificates_arg)
            .transpose()?
            .unwrap_or_default(),
        name_address: name_address.to_owned(),
        account,
        cash_cap: cash_cap.map(decimal_arg).transpose()?,
        seq,
    };
    sign(py, body, user_id, key)
}

/// A signed cancel request.
#[pyfunction]
pub fn sign_cancel(
    py: Python<'_>,
    key: &KeyPair,
    user_id: u64,
    seq: u64,
    reception_number: u64,
) -> PyResult<Message> {
    let body = ke::CancelRequest {
        user_id,
        reception_number,
        seq,
    };
    sign(py, body, user_id, key)
}

/// A signed reduce request (size down by `by`, keeps priority).
#[pyfunction]
pub fn sign_reduce(
    py: Python<'_>,
    key: &KeyPair,
    user_id: u64,
    seq: u64,
    reception_number: u64,
    by: u64,
) -> PyResult<Message> {
    let body = ke::ReduceRequest {
        user_id,
        reception_number,
        by,
        seq,
    };
    sign(py, body, user_id, key)
}

/// A signed modify request (new price and quantity).
#[pyfunction]
pub fn sign_modify(
    py: Python<'_>,
    key: &KeyPair,
    user_id: u64,
    seq: u64,
    reception_number: u64,
    price: i64,
    quantity: u64,
) -> PyResult<Message> {
    let body = ke::ModifyRequest {
        user_id,
        reception_number,
        price,
        quantity,
        seq,
    };
    sign(py, body, user_id, key)
}

/// A signed issue request (phase 1).
#[pyfunction]
#[pyo3(signature = (key, user_id, seq, instrument, quantity, name_address="", share_class="common", conversion_terms="", dividend_account=""))]
pub fn sign_issue_request(
    py: Python<'_>,
    key: &KeyPair,
    user_id: u64,
    seq: u64,
    instrument: u32,
    quantity: u64,
    name_address: &str,
    share_class: &str,
    conversion_terms: &str,
    dividend_account: &str,
) -> PyResult<Message> {
    let body = kr::IssueRequest {
        user_id,
        name_address: name_address.to_owned(),
        instrument,
        class: share_class_arg(share_class, conversion_terms)?,
        quantity,
        dividend_account: dividend_account.to_owned(),
        seq,
    };
    sign(py, body, user_id, key)
}

/// A signed certificate request quoting a transfer number (phase 4).
#[pyfunction]
#[pyo3(signature = (key, user_id, seq, transfer_number, dividend_account=""))]
pub fn sign_certificate_request(
    py: Python<'_>,
    key: &KeyPair,
    user_id: u64,
    seq: u64,
    transfer_number: u64,
    dividend_account: &str,
) -> PyResult<Message> {
    let body = kr::CertificateRequest {
        user_id,
        transfer_number,
        dividend_account: dividend_account.to_owned(),
        seq,
    };
    sign(py, body, user_id, key)
}

/// The recipient's signed direct-transfer request (phase 5), carrying the
/// endorsed certificate and the holder's endorsement.
#[pyfunction]
#[pyo3(signature = (key, user_id, seq, certificate, endorsement, name_address=""))]
pub fn sign_direct_transfer_request(
    py: Python<'_>,
    key: &KeyPair,
    user_id: u64,
    seq: u64,
    certificate: &Bound<'_, PyAny>,
    endorsement: &Bound<'_, PyAny>,
    name_address: &str,
) -> PyResult<Message> {
    let body = kr::DirectTransferRequest {
        user_id,
        name_address: name_address.to_owned(),
        certificate: certificate_arg(certificate)?,
        endorsement: crate::crypto::signed_arg(endorsement)?,
        seq,
    };
    sign(py, body, user_id, key)
}

/// A signed holdings inquiry (phase 6), optionally for one instrument.
#[pyfunction]
#[pyo3(signature = (key, user_id, seq, instrument=None))]
pub fn sign_holdings_inquiry(
    py: Python<'_>,
    key: &KeyPair,
    user_id: u64,
    seq: u64,
    instrument: Option<u32>,
) -> PyResult<Message> {
    let body = kr::HoldingsInquiry {
        user_id,
        instrument,
        seq,
    };
    sign(py, body, user_id, key)
}

/// A signed reissue request (phase 6): ``kind="lost"`` (one ID),
/// ``"split"`` (one ID into ``quantities``) or ``"merge"`` (several IDs).
#[pyfunction]
#[pyo3(signature = (key, user_id, seq, instrument, kind, cert_ids, quantities=None))]
pub fn sign_reissue_request(
    py: Python<'_>,
    key: &KeyPair,
    user_id: u64,
    seq: u64,
    instrument: u32,
    kind: &str,
    cert_ids: Vec<CertId>,
    quantities: Option<Vec<u64>>,
) -> PyResult<Message> {
    let one = |ids: &[CertId]| match ids {
        [id] => Ok(id.inner),
        _ => Err(PyValueError::new_err(format!(
            "a {kind} reissue names exactly one certificate ID"
        ))),
    };
    let kind = match (kind, quantities) {
        ("lost", None) => kr::ReissueKind::Lost(one(&cert_ids)?),
        ("split", Some(q)) => kr::ReissueKind::Split(one(&cert_ids)?, q),
        ("split", None) => return Err(PyValueError::new_err("a split needs quantities")),
        ("merge", None) => kr::ReissueKind::Merge(cert_ids.iter().map(|c| c.inner).collect()),
        ("lost" | "merge", Some(_)) => {
            return Err(PyValueError::new_err("quantities are only for a split"))
        }
        (other, _) => {
            return Err(PyValueError::new_err(format!(
                "kind must be 'lost', 'split' or 'merge', not {other:?}"
            )))
        }
    };
    let body = kr::ReissueRequest {
        user_id,
        instrument,
        kind,
        seq,
    };
    sign(py, body, user_id, key)
}

/// An exchange's signed transfer request to the register (phase 2-3).
#[pyfunction]
#[pyo3(signature = (key, exchange, seq, match_number, instrument, cert_id, quantity, buyer, seller, certificate, buyer_name_address="", sell_order=None))]
pub fn sign_transfer_request(
    py: Python<'_>,
    key: &KeyPair,
    exchange: u64,
    seq: u64,
    match_number: u64,
    instrument: u32,
    cert_id: &CertId,
    quantity: u64,
    buyer: u64,
    seller: u64,
    certificate: &Bound<'_, PyAny>,
    buyer_name_address: &str,
    sell_order: Option<u64>,
) -> PyResult<Message> {
    let body = kr::TransferRequest {
        exchange,
        match_number,
        instrument,
        cert_id: cert_id.inner,
        quantity,
        buyer,
        seller,
        sell_order,
        buyer_name_address: buyer_name_address.to_owned(),
        certificate: certificate_arg(certificate)?,
        seq,
    };
    sign(py, body, exchange, key)
}

/// An exchange's signed settlement request for one match (drawing 19).
#[pyfunction]
pub fn sign_settlement_request(
    py: Python<'_>,
    key: &KeyPair,
    exchange: u64,
    seq: u64,
    match_number: u64,
    buy_order: u64,
    amount: &Bound<'_, PyAny>,
    release: &Bound<'_, PyAny>,
    buyer_account: u64,
    seller_account: u64,
) -> PyResult<Message> {
    let body = ks::SettlementRequest {
        exchange,
        match_number,
        buy_order,
        amount: decimal_arg(amount)?,
        release: decimal_arg(release)?,
        buyer_account,
        seller_account,
        seq,
    };
    sign(py, body, exchange, key)
}

/// An investor's signed account (settlement) inquiry.
#[pyfunction]
pub fn sign_account_inquiry(
    py: Python<'_>,
    key: &KeyPair,
    user_id: u64,
    seq: u64,
    account: u64,
) -> PyResult<Message> {
    let body = ks::AccountInquiry {
        user_id,
        account,
        seq,
    };
    sign(py, body, user_id, key)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sign_order, m)?)?;
    m.add_function(wrap_pyfunction!(sign_cancel, m)?)?;
    m.add_function(wrap_pyfunction!(sign_reduce, m)?)?;
    m.add_function(wrap_pyfunction!(sign_modify, m)?)?;
    m.add_function(wrap_pyfunction!(sign_issue_request, m)?)?;
    m.add_function(wrap_pyfunction!(sign_certificate_request, m)?)?;
    m.add_function(wrap_pyfunction!(sign_direct_transfer_request, m)?)?;
    m.add_function(wrap_pyfunction!(sign_holdings_inquiry, m)?)?;
    m.add_function(wrap_pyfunction!(sign_reissue_request, m)?)?;
    m.add_function(wrap_pyfunction!(sign_transfer_request, m)?)?;
    m.add_function(wrap_pyfunction!(sign_settlement_request, m)?)?;
    m.add_function(wrap_pyfunction!(sign_account_inquiry, m)?)?;
    Ok(())
}
