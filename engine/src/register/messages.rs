//! The signed messages of the register phases (seed 001 drawings 5, 15,
//! 17, 20, 27, 29 and the ID list of drawing 8), with their canonical
//! encodings. Every request carries the signer's sequence number `seq`
//! (replay protection); every answer echoes the BLAKE3 hash of the request.

use crate::certs::{CertId, Certificate, Endorsement, ShareClass, MAX_TEXT};
use crate::crypto::{
    decode_seq, encode_seq, CryptoError, Decode, Digest, Encode, Message, MsgKind, PublicKey,
    Reader, Signed, UserId, WireError, Writer,
};
use crate::identity::{Attestation, Revocation};
use crate::types::{InstrumentId, Qty};

/// Most items in one list field (holdings, split parts, merge inputs,
/// reissued certificates).
pub const MAX_ITEMS: usize = 1024;
/// Most entries in one ID-list snapshot or delta.
pub const MAX_LIST: usize = 1 << 20;

fn opt_u32(w: &mut Writer, v: Option<u32>) {
    match v {
        None => w.u8(0),
        Some(x) => {
            w.u8(1);
            w.u32(x);
        }
    }
}
fn read_opt_u32(r: &mut Reader<'_>) -> Result<Option<u32>, WireError> {
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(r.u32()?)),
        _ => Err(WireError::BadTag),
    }
}

/// Phase 1: an investor asks for newly issued shares (drawing 5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssueRequest {
    /// The investor's user id (must equal the signer).
    pub user_id: UserId,
    /// Name and address for the register.
    pub name_address: String,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Share class.
    pub class: ShareClass,
    /// Number of shares.
    pub quantity: Qty,
    /// Dividend delivery account.
    pub dividend_account: String,
    /// Signer's sequence number (strictly increasing).
    pub seq: u64,
}

impl Encode for IssueRequest {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.user_id);
        w.str(&self.name_address);
        w.u32(self.instrument);
        self.class.encode(w);
        w.u64(self.quantity);
        w.str(&self.dividend_account);
        w.u64(self.seq);
    }
}
impl Decode for IssueRequest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(IssueRequest {
            user_id: r.u64()?,
            name_address: r.str(MAX_TEXT)?,
            instrument: r.u32()?,
            class: ShareClass::decode(r)?,
            quantity: r.u64()?,
            dividend_account: r.str(MAX_TEXT)?,
            seq: r.u64()?,
        })
    }
}
impl Message for IssueRequest {
    const KIND: MsgKind = MsgKind::IssueRequest;
}

/// Phase 3: the exchange asks the register to transfer shares after a
/// match (drawing 15), with the seller's certificate attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferRequest {
    /// The exchange's user id (must equal the signer).
    pub exchange: UserId,
    /// Match number.
    pub match_number: u64,
    /// Instrument.
    pub instrument: InstrumentId,
    /// The sold certificate's ID.
    pub cert_id: CertId,
    /// Shares transferred (at most the certificate's).
    pub quantity: Qty,
    /// Buyer's user id.
    pub buyer: UserId,
    /// Seller's user id.
    pub seller: UserId,
    /// The seller's order holding the certificate reserved in the shared ID
    /// table, if any: the register then spends that reservation, and a
    /// change certificate stays reserved to the same order.
    pub sell_order: Option<u64>,
    /// Buyer's name and address.
    pub buyer_name_address: String,
    /// The seller's certificate.
    pub certificate: Signed<Certificate>,
    /// Signer's sequence number.
    pub seq: u64,
}

impl Encode for TransferRequest {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.exchange);
        w.u64(self.match_number);
        w.u32(self.instrument);
        self.cert_id.encode(w);
        w.u64(self.quantity);
        w.u64(self.buyer);
        w.u64(self.seller);
        match self.sell_order {
            None => w.u8(0),
            Some(o) => {
                w.u8(1);
                w.u64(o);
            }
        }
        w.str(&self.buyer_name_address);
        self.certificate.encode(w);
        w.u64(self.seq);
    }
}
impl Decode for TransferRequest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(TransferRequest {
            exchange: r.u64()?,
            match_number: r.u64()?,
            instrument: r.u32()?,
            cert_id: CertId::decode(r)?,
            quantity: r.u64()?,
            buyer: r.u64()?,
            seller: r.u64()?,
            sell_order: match r.u8()? {
                0 => None,
                1 => Some(r.u64()?),
                _ => return Err(WireError::BadTag),
            },
            buyer_name_address: r.str(MAX_TEXT)?,
            certificate: Signed::decode(r)?,
            seq: r.u64()?,
        })
    }
}
impl Message for TransferRequest {
    const KIND: MsgKind = MsgKind::TransferRequest;
}

/// The register's answer to a transfer (drawing 17); also answers a direct
/// transfer (match number 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferResponse {
    /// Match number of the request (0 for a direct transfer).
    pub match_number: u64,
    /// Transfer number (quote it to claim the new certificate).
    pub transfer_number: u64,
    /// The buyer's new certificate ID.
    pub new_cert_id: CertId,
    /// The seller's change certificate ID, for a partial transfer.
    pub change_cert_id: Option<CertId>,
    /// BLAKE3 of the request's wire bytes.
    pub request_hash: Digest,
}

impl Encode for TransferResponse {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.match_number);
        w.u64(self.transfer_number);
        self.new_cert_id.encode(w);
        match &self.change_cert_id {
            None => w.u8(0),
            Some(id) => {
                w.u8(1);
                id.encode(w);
            }
        }
        self.request_hash.encode(w);
    }
}
impl Decode for TransferResponse {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(TransferResponse {
            match_number: r.u64()?,
            transfer_number: r.u64()?,
            new_cert_id: CertId::decode(r)?,
            change_cert_id: match r.u8()? {
                0 => None,
                1 => Some(CertId::decode(r)?),
                _ => return Err(WireError::BadTag),
            },
            request_hash: Digest::decode(r)?,
        })
    }
}
impl Message for TransferResponse {
    const KIND: MsgKind = MsgKind::TransferResponse;
}

/// Phase 4: a buyer (or a seller, for the change) asks for the certificate
/// created by a transfer (drawing 20).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateRequest {
    /// Requester's user id (must equal the signer).
    pub user_id: UserId,
    /// The transfer number.
    pub transfer_number: u64,
    /// Dividend delivery account to record.
    pub dividend_account: String,
    /// Signer's sequence number.
    pub seq: u64,
}

impl Encode for CertificateRequest {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.user_id);
        w.u64(self.transfer_number);
        w.str(&self.dividend_account);
        w.u64(self.seq);
    }
}
impl Decode for CertificateRequest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(CertificateRequest {
            user_id: r.u64()?,
            transfer_number: r.u64()?,
            dividend_account: r.str(MAX_TEXT)?,
            seq: r.u64()?,
        })
    }
}
impl Message for CertificateRequest {
    const KIND: MsgKind = MsgKind::CertificateRequest;
}

/// Phase 5: the recipient of an endorsed certificate asks for the transfer
/// (drawing 27).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectTransferRequest {
    /// The recipient's user id (must equal the signer).
    pub user_id: UserId,
    /// Recipient's name and address for the register.
    pub name_address: String,
    /// The endorsed certificate.
    pub certificate: Signed<Certificate>,
    /// The holder's endorsement to the recipient.
    pub endorsement: Signed<Endorsement>,
    /// Signer's sequence number.
    pub seq: u64,
}

impl Encode for DirectTransferRequest {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.user_id);
        w.str(&self.name_address);
        self.certificate.encode(w);
        self.endorsement.encode(w);
        w.u64(self.seq);
    }
}
impl Decode for DirectTransferRequest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(DirectTransferRequest {
            user_id: r.u64()?,
            name_address: r.str(MAX_TEXT)?,
            certificate: Signed::decode(r)?,
            endorsement: Signed::decode(r)?,
            seq: r.u64()?,
        })
    }
}
impl Message for DirectTransferRequest {
    const KIND: MsgKind = MsgKind::DirectTransferRequest;
}

/// Phase 6: what does the register hold for me?
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldingsInquiry {
    /// Requester's user id (must equal the signer).
    pub user_id: UserId,
    /// Restrict to one instrument.
    pub instrument: Option<InstrumentId>,
    /// Signer's sequence number.
    pub seq: u64,
}

impl Encode for HoldingsInquiry {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.user_id);
        opt_u32(w, self.instrument);
        w.u64(self.seq);
    }
}
impl Decode for HoldingsInquiry {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(HoldingsInquiry {
            user_id: r.u64()?,
            instrument: read_opt_u32(r)?,
            seq: r.u64()?,
        })
    }
}
impl Message for HoldingsInquiry {
    const KIND: MsgKind = MsgKind::HoldingsInquiry;
}

/// One live certificate in a holdings answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holding {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Certificate number.
    pub certificate_number: u64,
    /// Certificate ID.
    pub cert_id: CertId,
    /// Shares.
    pub shares: Qty,
    /// Class code.
    pub class: u8,
}

impl Encode for Holding {
    fn encode(&self, w: &mut Writer) {
        w.u32(self.instrument);
        w.u64(self.certificate_number);
        self.cert_id.encode(w);
        w.u64(self.shares);
        w.u8(self.class);
    }
}
impl Decode for Holding {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Holding {
            instrument: r.u32()?,
            certificate_number: r.u64()?,
            cert_id: CertId::decode(r)?,
            shares: r.u64()?,
            class: r.u8()?,
        })
    }
}

/// The register's answer to a holdings inquiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldingsAnswer {
    /// Whose holdings.
    pub user_id: UserId,
    /// BLAKE3 of the inquiry's wire bytes.
    pub request_hash: Digest,
    /// Live certificates, by serial.
    pub holdings: Vec<Holding>,
}

impl Encode for HoldingsAnswer {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.user_id);
        self.request_hash.encode(w);
        encode_seq(w, &self.holdings);
    }
}
impl Decode for HoldingsAnswer {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(HoldingsAnswer {
            user_id: r.u64()?,
            request_hash: Digest::decode(r)?,
            holdings: decode_seq(r, MAX_LIST)?,
        })
    }
}
impl Message for HoldingsAnswer {
    const KIND: MsgKind = MsgKind::HoldingsAnswer;
}

/// What a reissue asks for (drawing 29).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReissueKind {
    /// The certificate was lost: same holding under a new ID.
    Lost(CertId),
    /// Split one certificate into parts of these sizes (sum = its shares).
    Split(CertId, Vec<Qty>),
    /// Merge these certificates into one.
    Merge(Vec<CertId>),
}

impl Encode for ReissueKind {
    fn encode(&self, w: &mut Writer) {
        match self {
            ReissueKind::Lost(id) => {
                w.u8(0);
                id.encode(w);
            }
            ReissueKind::Split(id, parts) => {
                w.u8(1);
                id.encode(w);
                encode_seq(w, parts);
            }
            ReissueKind::Merge(ids) => {
                w.u8(2);
                encode_seq(w, ids);
            }
        }
    }
}
impl Decode for ReissueKind {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(match r.u8()? {
            0 => ReissueKind::Lost(CertId::decode(r)?),
            1 => ReissueKind::Split(CertId::decode(r)?, decode_seq(r, MAX_ITEMS)?),
            2 => ReissueKind::Merge(decode_seq(r, MAX_ITEMS)?),
            _ => return Err(WireError::BadTag),
        })
    }
}

/// Phase 6: a holder asks for a reissue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReissueRequest {
    /// Holder's user id (must equal the signer).
    pub user_id: UserId,
    /// Instrument of the certificates.
    pub instrument: InstrumentId,
    /// What to do.
    pub kind: ReissueKind,
    /// Signer's sequence number.
    pub seq: u64,
}

impl Encode for ReissueRequest {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.user_id);
        w.u32(self.instrument);
        self.kind.encode(w);
        w.u64(self.seq);
    }
}
impl Decode for ReissueRequest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(ReissueRequest {
            user_id: r.u64()?,
            instrument: r.u32()?,
            kind: ReissueKind::decode(r)?,
            seq: r.u64()?,
        })
    }
}
impl Message for ReissueRequest {
    const KIND: MsgKind = MsgKind::ReissueRequest;
}

/// The register's answer to a reissue: the retired IDs and the new
/// certificates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReissueResponse {
    /// BLAKE3 of the request's wire bytes.
    pub request_hash: Digest,
    /// IDs retired.
    pub retired: Vec<CertId>,
    /// New certificates.
    pub certificates: Vec<Signed<Certificate>>,
}

impl Encode for ReissueResponse {
    fn encode(&self, w: &mut Writer) {
        self.request_hash.encode(w);
        encode_seq(w, &self.retired);
        encode_seq(w, &self.certificates);
    }
}
impl Decode for ReissueResponse {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(ReissueResponse {
            request_hash: Digest::decode(r)?,
            retired: decode_seq(r, MAX_ITEMS)?,
            certificates: decode_seq(r, MAX_ITEMS)?,
        })
    }
}
impl Message for ReissueResponse {
    const KIND: MsgKind = MsgKind::ReissueResponse;
}

/// One (certificate ID, holder) pair of the ID list (drawing 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdListEntry {
    /// Certificate ID.
    pub cert_id: CertId,
    /// Holder's user id.
    pub holder: UserId,
}

impl Encode for IdListEntry {
    fn encode(&self, w: &mut Writer) {
        self.cert_id.encode(w);
        w.u64(self.holder);
    }
}
impl Decode for IdListEntry {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(IdListEntry {
            cert_id: CertId::decode(r)?,
            holder: r.u64()?,
        })
    }
}

/// Every live (certificate ID, holder) of one instrument as of `seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdListSnapshot {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Sequence number of the last delta included.
    pub seq: u64,
    /// Entries in serial order.
    pub entries: Vec<IdListEntry>,
}

impl Encode for IdListSnapshot {
    fn encode(&self, w: &mut Writer) {
        w.u32(self.instrument);
        w.u64(self.seq);
        encode_seq(w, &self.entries);
    }
}
impl Decode for IdListSnapshot {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let s = IdListSnapshot {
            instrument: r.u32()?,
            seq: r.u64()?,
            entries: decode_seq(r, MAX_LIST)?,
        };
        if s.entries
            .windows(2)
            .any(|w| w[0].cert_id.serial >= w[1].cert_id.serial)
        {
            return Err(WireError::NonCanonical);
        }
        Ok(s)
    }
}
impl Message for IdListSnapshot {
    const KIND: MsgKind = MsgKind::IdListSnapshot;
}

/// One change of an instrument's ID list; deltas are numbered 1, 2, ...
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdListDelta {
    /// Instrument.
    pub instrument: InstrumentId,
    /// This delta's sequence number (previous + 1).
    pub seq: u64,
    /// IDs retired.
    pub removed: Vec<CertId>,
    /// IDs created.
    pub added: Vec<IdListEntry>,
}

impl Encode for IdListDelta {
    fn encode(&self, w: &mut Writer) {
        w.u32(self.instrument);
        w.u64(self.seq);
        encode_seq(w, &self.removed);
        encode_seq(w, &self.added);
    }
}
impl Decode for IdListDelta {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(IdListDelta {
            instrument: r.u32()?,
            seq: r.u64()?,
            removed: decode_seq(r, MAX_ITEMS)?,
            added: decode_seq(r, MAX_ITEMS)?,
        })
    }
}
impl Message for IdListDelta {
    const KIND: MsgKind = MsgKind::IdListDelta;
}

/// Any signed message, decoded by its kind byte.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs, clippy::large_enum_variant)]
pub enum AnyMessage {
    Attestation(Signed<Attestation>),
    Revocation(Signed<Revocation>),
    Certificate(Signed<Certificate>),
    IssueRequest(Signed<IssueRequest>),
    TransferRequest(Signed<TransferRequest>),
    TransferResponse(Signed<TransferResponse>),
    CertificateRequest(Signed<CertificateRequest>),
    Endorsement(Signed<Endorsement>),
    DirectTransferRequest(Signed<DirectTransferRequest>),
    HoldingsInquiry(Signed<HoldingsInquiry>),
    HoldingsAnswer(Signed<HoldingsAnswer>),
    ReissueRequest(Signed<ReissueRequest>),
    ReissueResponse(Signed<ReissueResponse>),
    IdListSnapshot(Signed<IdListSnapshot>),
    IdListDelta(Signed<IdListDelta>),
}

impl AnyMessage {
    /// Strictly decodes any signed message (does not verify signatures).
    pub fn decode(bytes: &[u8]) -> Result<AnyMessage, WireError> {
        let kind = bytes
            .get(1)
            .copied()
            .and_then(MsgKind::from_u8)
            .ok_or(WireError::BadTag)?;
        Ok(match kind {
            MsgKind::Attestation => AnyMessage::Attestation(Signed::from_bytes(bytes)?),
            MsgKind::Revocation => AnyMessage::Revocation(Signed::from_bytes(bytes)?),
            MsgKind::Certificate => AnyMessage::Certificate(Signed::from_bytes(bytes)?),
            MsgKind::IssueRequest => AnyMessage::IssueRequest(Signed::from_bytes(bytes)?),
            MsgKind::TransferRequest => AnyMessage::TransferRequest(Signed::from_bytes(bytes)?),
            MsgKind::TransferResponse => AnyMessage::TransferResponse(Signed::from_bytes(bytes)?),
            MsgKind::CertificateRequest => {
                AnyMessage::CertificateRequest(Signed::from_bytes(bytes)?)
            }
            MsgKind::Endorsement => AnyMessage::Endorsement(Signed::from_bytes(bytes)?),
            MsgKind::DirectTransferRequest => {
                AnyMessage::DirectTransferRequest(Signed::from_bytes(bytes)?)
            }
            MsgKind::HoldingsInquiry => AnyMessage::HoldingsInquiry(Signed::from_bytes(bytes)?),
            MsgKind::HoldingsAnswer => AnyMessage::HoldingsAnswer(Signed::from_bytes(bytes)?),
            MsgKind::ReissueRequest => AnyMessage::ReissueRequest(Signed::from_bytes(bytes)?),
            MsgKind::ReissueResponse => AnyMessage::ReissueResponse(Signed::from_bytes(bytes)?),
            MsgKind::IdListSnapshot => AnyMessage::IdListSnapshot(Signed::from_bytes(bytes)?),
            MsgKind::IdListDelta => AnyMessage::IdListDelta(Signed::from_bytes(bytes)?),
            // Exchange and settlement kinds: `kabuken::exchange::AnyMessage`.
            _ => return Err(WireError::WrongKind),
        })
    }

    /// The signer's user id.
    #[must_use]
    pub fn signer(&self) -> UserId {
        macro_rules! each {
            ($($v:ident),*) => { match self { $(AnyMessage::$v(m) => m.signer,)* } };
        }
        each!(
            Attestation,
            Revocation,
            Certificate,
            IssueRequest,
            TransferRequest,
            TransferResponse,
            CertificateRequest,
            Endorsement,
            DirectTransferRequest,
            HoldingsInquiry,
            HoldingsAnswer,
            ReissueRequest,
            ReissueResponse,
            IdListSnapshot,
            IdListDelta
        )
    }

    /// Checks the signature strictly against `key`.
    pub fn verify(&self, key: &PublicKey) -> Result<(), CryptoError> {
        macro_rules! each {
            ($($v:ident),*) => { match self { $(AnyMessage::$v(m) => m.verify(key),)* } };
        }
        each!(
            Attestation,
            Revocation,
            Certificate,
            IssueRequest,
            TransferRequest,
            TransferResponse,
            CertificateRequest,
            Endorsement,
            DirectTransferRequest,
            HoldingsInquiry,
            HoldingsAnswer,
            ReissueRequest,
            ReissueResponse,
            IdListSnapshot,
            IdListDelta
        )
    }

    /// The canonical wire bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            AnyMessage::Attestation(m) => m.to_bytes(),
            AnyMessage::Revocation(m) => m.to_bytes(),
            AnyMessage::Certificate(m) => m.to_bytes(),
            AnyMessage::IssueRequest(m) => m.to_bytes(),
            AnyMessage::TransferRequest(m) => m.to_bytes(),
            AnyMessage::TransferResponse(m) => m.to_bytes(),
            AnyMessage::CertificateRequest(m) => m.to_bytes(),
            AnyMessage::Endorsement(m) => m.to_bytes(),
            AnyMessage::DirectTransferRequest(m) => m.to_bytes(),
            AnyMessage::HoldingsInquiry(m) => m.to_bytes(),
            AnyMessage::HoldingsAnswer(m) => m.to_bytes(),
            AnyMessage::ReissueRequest(m) => m.to_bytes(),
            AnyMessage::ReissueResponse(m) => m.to_bytes(),
            AnyMessage::IdListSnapshot(m) => m.to_bytes(),
            AnyMessage::IdListDelta(m) => m.to_bytes(),
        }
    }
}
