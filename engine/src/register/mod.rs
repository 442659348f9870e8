//! The shareholder register: the issuing company's list of holders and its
//! transfer agent (seed 001 phases 1 and 3-6).
//!
//! A [`Register`] holds the register's signing key, the certificate-ID
//! secret, an [`IdentityStore`] for checking the parties, the shareholder
//! records (drawing 7), the transfer history (drawing 16), the per-signer
//! replay counters, and the lock-free [`IdTable`] (shared through an `Arc`
//! with whoever else needs to reserve or check IDs, e.g. an exchange).
//!
//! Every phase takes a signed request and the current time and either
//! answers with a signed message or refuses with a [`RegisterError`]; a
//! refused request changes nothing (all checks run before the first change;
//! multi-ID changes reserve every input first and roll back on failure).
//!
//! Every change of holder or quantity retires the old ID (spent, final) and
//! creates new ones; quantities are conserved; each change is published as
//! a signed, sequence-numbered [`IdListDelta`] for the instrument.
//!
//! Architecture invariant: `register` depends on `certs`, `identity`,
//! `crypto` and `types` only, and uses only their public interfaces.
//! Architecture invariant: per instrument, the shares of live certificates
//! equal the shares issued ([`Register::audit`]).
//! Architecture invariant: no request is accepted twice: every signer's
//! sequence number must grow strictly.
#![forbid(unsafe_code)]

pub mod list;
pub mod messages;

use core::fmt;
use std::collections::HashMap;

use rustc_hash::FxHashMap;
use std::sync::Arc;

pub use list::{IdListFollower, ListError};
pub use messages::*;

use crate::certs::{
    check_endorsement, CertError, CertId, CertIdKey, Certificate, Facts, IdState, IdTable,
    ShareClass, TableError, TransferRestriction, TransitionError, MAX_ORDER_ID, MAX_TEXT,
    SIG_ALG_ED25519,
};
use crate::crypto::{KeyPair, Message, PublicKey, Signed, Signer, UserId};
use crate::identity::{IdentityError, IdentityStore, Role};
use crate::types::{InstrumentId, Qty, Timestamp};

/// The order id under which the register itself holds IDs while it changes
/// several at once (never a real order's id).
pub const REGISTER_HOLD: u64 = MAX_ORDER_ID;

/// Why a request was refused. Nothing changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// Signer, signature, attestation or policy problem.
    Identity(IdentityError),
    /// Certificate or endorsement problem.
    Cert(CertError),
    /// The request's sequence number is not above the signer's last.
    Replay {
        /// Last accepted sequence number.
        last: u64,
        /// The one presented.
        got: u64,
    },
    /// The instrument is not kept by this register.
    UnknownInstrument,
    /// The certificate ID's tag is wrong (forged or guessed).
    ForgedId,
    /// No certificate was issued under this ID.
    UnknownId,
    /// The ID is spent (or otherwise not live).
    NotLive(IdState),
    /// The presented certificate is not the one the register issued under
    /// this ID (tampered or substituted).
    DigestMismatch,
    /// The certificate's holder is not the named seller / requester.
    WrongHolder,
    /// Quantity zero, above the certificate's, or not conserved.
    QuantityMismatch,
    /// Request and certificate disagree (ID or instrument).
    Mismatch,
    /// Issuing would exceed the instrument's authorized shares.
    ExceedsAuthorized,
    /// No such transfer number.
    UnknownTransfer,
    /// The transfer does not name the requester.
    NotYourTransfer,
    /// That certificate was already handed out.
    AlreadyClaimed,
    /// Malformed reissue (too few parts, duplicates, mixed classes, ...).
    BadReissue(&'static str),
    /// A text field is longer than the wire format allows.
    TextTooLong,
    /// The ID table is full.
    TableFull,
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::Identity(e) => write!(f, "{e}"),
            RegisterError::Cert(e) => write!(f, "{e}"),
            RegisterError::Replay { last, got } => {
                write!(f, "replayed request: seq {got} <= {last}")
            }
            RegisterError::UnknownInstrument => f.write_str("unknown instrument"),
            RegisterError::ForgedId => f.write_str("forged certificate ID"),
            RegisterError::UnknownId => f.write_str("unknown certificate ID"),
            RegisterError::NotLive(s) => write!(f, "certificate ID not live ({s:?})"),
            RegisterError::DigestMismatch => f.write_str("certificate differs from the register's"),
            RegisterError::WrongHolder => f.write_str("wrong holder"),
            RegisterError::QuantityMismatch => f.write_str("quantity mismatch"),
            RegisterError::Mismatch => f.write_str("request and certificate disagree"),
            RegisterError::ExceedsAuthorized => f.write_str("exceeds authorized shares"),
            RegisterError::UnknownTransfer => f.write_str("unknown transfer number"),
            RegisterError::NotYourTransfer => f.write_str("transfer does not name the requester"),
            RegisterError::AlreadyClaimed => f.write_str("certificate already claimed"),
            RegisterError::BadReissue(w) => write!(f, "bad reissue: {w}"),
            RegisterError::TextTooLong => f.write_str("text field too long"),
            RegisterError::TableFull => f.write_str("certificate-ID table full"),
        }
    }
}

impl std::error::Error for RegisterError {}

impl From<IdentityError> for RegisterError {
    fn from(e: IdentityError) -> Self {
        RegisterError::Identity(e)
    }
}
impl From<CertError> for RegisterError {
    fn from(e: CertError) -> Self {
        RegisterError::Cert(e)
    }
}
impl From<TableError> for RegisterError {
    fn from(e: TableError) -> Self {
        match e {
            TableError::Unknown => RegisterError::UnknownId,
            TableError::Full => RegisterError::TableFull,
            TableError::DigestMismatch => RegisterError::DigestMismatch,
            TableError::AlreadyPublished => RegisterError::UnknownId,
            TableError::Transition(TransitionError::Found(s)) => RegisterError::NotLive(s),
            TableError::Transition(TransitionError::OrderIdTooLarge) => RegisterError::UnknownId,
        }
    }
}

/// The register's own description.
#[derive(Clone, Debug)]
pub struct RegisterConfig {
    /// The register's user id (signer of certificates and answers).
    pub user_id: UserId,
    /// Register name (printed on certificates).
    pub name: String,
    /// Register address / URL.
    pub address: String,
    /// Lifetime of an electronic certificate from its issue.
    pub certificate_lifetime: u64,
    /// Capacity of the certificate-ID table.
    pub id_capacity: u64,
}

/// An instrument kept by the register.
#[derive(Clone, Debug)]
pub struct InstrumentConfig {
    /// Instrument id.
    pub instrument: InstrumentId,
    /// Company name.
    pub company_name: String,
    /// Company founding date, `YYYYMMDD`.
    pub company_founded: u32,
    /// Par value per share (minor units).
    pub par_value: u64,
    /// Shares the company may issue in total.
    pub authorized: Qty,
    /// Transfer restriction printed on new certificates.
    pub restriction: TransferRestriction,
    /// Conditions of issue (recorded on each record).
    pub conditions: String,
}

#[derive(Debug)]
struct InstrumentState {
    cfg: InstrumentConfig,
    issued: Qty,
    next_certificate_number: u64,
    deltas: Vec<Signed<IdListDelta>>,
}

/// One shareholder record (drawing 7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Certificate number.
    pub certificate_number: u64,
    /// Certificate ID.
    pub cert_id: CertId,
    /// Holder's name and address.
    pub holder_name_address: String,
    /// Holder's user id.
    pub holder: UserId,
    /// Number of shares.
    pub shares: Qty,
    /// Class of shares.
    pub class: ShareClass,
    /// Acquisition date.
    pub acquired: Timestamp,
    /// Conditions of issue.
    pub conditions: String,
    /// Dividend delivery account (empty until the holder gives one).
    pub dividend_account: String,
    /// Whether the record is current (its ID not retired).
    pub current: bool,
}

/// One transfer (drawing 16).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferRecord {
    /// Transfer number (1, 2, ...).
    pub transfer_number: u64,
    /// Instrument.
    pub instrument: InstrumentId,
    /// The retired certificate ID.
    pub old_cert_id: CertId,
    /// The buyer's new certificate ID.
    pub new_cert_id: CertId,
    /// The seller's change certificate ID, if partial.
    pub change_cert_id: Option<CertId>,
    /// Shares transferred.
    pub quantity: Qty,
    /// Buyer's user id.
    pub buyer: UserId,
    /// Seller's user id.
    pub seller: UserId,
    /// Whether the buyer has claimed the new certificate.
    pub buyer_claimed: bool,
    /// Whether the seller has claimed the change certificate.
    pub change_claimed: bool,
}

/// What a new certificate will say (the register fills in the rest).
struct NewCert<'a> {
    holder: UserId,
    holder_name: &'a str,
    shares: Qty,
    class: &'a ShareClass,
    certificate_number: Option<u64>,
    dividend_account: &'a str,
    /// Publish reserved to this order instead of live.
    reserved: Option<u64>,
}

/// Refuses text that would not fit its wire field (so every certificate
/// the register signs can be decoded again).
fn check_text(fields: &[&str]) -> Result<(), RegisterError> {
    if fields.iter().any(|f| f.len() > MAX_TEXT) {
        return Err(RegisterError::TextTooLong);
    }
    Ok(())
}

/// The shareholder register.
#[derive(Debug)]
pub struct Register {
    cfg: RegisterConfig,
    signer: Signer,
    id_key: CertIdKey,
    ids: Arc<IdTable>,
    identities: IdentityStore,
    instruments: HashMap<InstrumentId, InstrumentState>,
    records: FxHashMap<u64, Record>,
    certificates: FxHashMap<u64, Signed<Certificate>>,
    transfers: Vec<TransferRecord>,
    last_seq: HashMap<UserId, u64>,
    unsigned: Vec<RegisterDoc>,
}

/// A register document whose signature a runtime's signing stage still
/// has to make (deferred signing, [`Register::set_deferred_signing`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterDoc {
    /// A certificate created by a transfer.
    Certificate(Signed<Certificate>),
    /// An ID-list delta.
    Delta(Signed<IdListDelta>),
}

impl Register {
    /// A register with its key, certificate-ID secret and identity store.
    #[must_use]
    pub fn new(
        cfg: RegisterConfig,
        key: KeyPair,
        id_key: CertIdKey,
        identities: IdentityStore,
    ) -> Self {
        let ids = Arc::new(IdTable::with_capacity(cfg.id_capacity));
        Self {
            cfg,
            signer: Signer::new(key),
            id_key,
            ids,
            identities,
            instruments: HashMap::new(),
            records: FxHashMap::default(),
            certificates: FxHashMap::default(),
            transfers: Vec::new(),
            last_seq: HashMap::new(),
            unsigned: Vec::new(),
        }
    }

    /// Deferred signing: the documents a transfer makes (certificates,
    /// ID-list deltas, the response) get pending signatures, to be signed
    /// off the matching thread by a runtime's signing stage, which hands
    /// them back with [`Register::attach_signed`]. Used by
    /// [`crate::runtime`]; the synchronous API signs at once.
    pub fn set_deferred_signing(&mut self, on: bool) {
        self.signer.set_deferred(on);
    }

    /// The register's signing key (shared with a runtime's signing stage).
    #[must_use]
    pub fn signing_key(&self) -> Arc<KeyPair> {
        self.signer.shared_key()
    }

    /// Documents made with pending signatures since the last call.
    pub fn take_unsigned(&mut self) -> Vec<RegisterDoc> {
        std::mem::take(&mut self.unsigned)
    }

    /// Replaces pending documents with their signed versions (same
    /// content; anything else is ignored and reported as not attached).
    /// Returns how many were attached.
    pub fn attach_signed(&mut self, docs: Vec<RegisterDoc>) -> usize {
        let mut n = 0;
        for d in docs {
            match d {
                RegisterDoc::Certificate(c) => {
                    if let Some(mine) = self.certificates.get_mut(&c.body.id.serial) {
                        if mine.is_pending() && mine.body == c.body && !c.is_pending() {
                            *mine = c;
                            n += 1;
                        }
                    }
                }
                RegisterDoc::Delta(d) => {
                    let slot = self
                        .instruments
                        .get_mut(&d.body.instrument)
                        .and_then(|st| st.deltas.get_mut((d.body.seq as usize).wrapping_sub(1)));
                    if let Some(mine) = slot {
                        if mine.is_pending() && mine.body == d.body && !d.is_pending() {
                            *mine = d;
                            n += 1;
                        }
                    }
                }
            }
        }
        n
    }

    /// Adds an instrument (issued shares start at zero).
    pub fn add_instrument(&mut self, cfg: InstrumentConfig) -> Result<(), RegisterError> {
        if cfg.company_name.len() > MAX_TEXT
            || self.cfg.name.len() > MAX_TEXT
            || self.cfg.address.len() > MAX_TEXT
        {
            return Err(RegisterError::TextTooLong);
        }
        self.instruments.insert(
            cfg.instrument,
            InstrumentState {
                cfg,
                issued: 0,
                next_certificate_number: 1,
                deltas: Vec::new(),
            },
        );
        Ok(())
    }

    /// The register's user id.
    #[must_use]
    pub fn user_id(&self) -> UserId {
        self.cfg.user_id
    }
    /// The register's public key.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        self.signer.key().public()
    }
    /// The shared certificate-ID table.
    #[must_use]
    pub fn id_table(&self) -> Arc<IdTable> {
        Arc::clone(&self.ids)
    }
    /// The identity store (to register attestations and revocations).
    pub fn identities_mut(&mut self) -> &mut IdentityStore {
        &mut self.identities
    }
    /// The identity store.
    #[must_use]
    pub fn identities(&self) -> &IdentityStore {
        &self.identities
    }
    /// The record for a certificate ID (current or retired).
    #[must_use]
    pub fn record(&self, id: &CertId) -> Option<&Record> {
        self.records.get(&id.serial).filter(|r| r.cert_id == *id)
    }
    /// The signed certificate issued under `id` (current or retired). A
    /// certificate is public, register-signed data: holding it grants
    /// nothing (selling needs the holder's signed order, a direct transfer
    /// the holder's endorsement). The exchange uses it to attach a change
    /// certificate, reserved to a sell order, to that order's next transfer.
    #[must_use]
    pub fn certificate(&self, id: &CertId) -> Option<&Signed<Certificate>> {
        self.certificates
            .get(&id.serial)
            .filter(|c| c.body.id == *id)
    }
    /// The transfer history, in transfer-number order.
    #[must_use]
    pub fn transfers(&self) -> &[TransferRecord] {
        &self.transfers
    }
    /// Shares issued so far for `instrument`.
    #[must_use]
    pub fn issued(&self, instrument: InstrumentId) -> Option<Qty> {
        self.instruments.get(&instrument).map(|i| i.issued)
    }

    /// Checks the invariant: for every instrument, the shares of current
    /// records equal the shares issued and equal the live/reserved shares in
    /// the ID table, and every current record's ID is live or reserved.
    pub fn audit(&self) -> Result<(), String> {
        for (inst, st) in &self.instruments {
            let mut recs: u128 = 0;
            for r in self
                .records
                .values()
                .filter(|r| r.instrument == *inst && r.current)
            {
                recs += u128::from(r.shares);
                if !matches!(
                    self.ids.state(r.cert_id.serial),
                    IdState::Live | IdState::Reserved(_)
                ) {
                    return Err(format!("current record {:?} not live", r.cert_id));
                }
            }
            let table = self.ids.outstanding(*inst);
            if recs != u128::from(st.issued) || table != recs {
                return Err(format!(
                    "instrument {inst}: issued {}, records {recs}, table {table}",
                    st.issued
                ));
            }
        }
        Ok(())
    }

    fn check_seq(&self, signer: UserId, seq: u64) -> Result<(), RegisterError> {
        match self.last_seq.get(&signer) {
            Some(&last) if seq <= last => Err(RegisterError::Replay { last, got: seq }),
            _ => Ok(()),
        }
    }

    fn commit_seq(&mut self, signer: UserId, seq: u64) {
        self.last_seq.insert(signer, seq);
    }

    fn instrument(&self, i: InstrumentId) -> Result<&InstrumentState, RegisterError> {
        self.instruments
            .get(&i)
            .ok_or(RegisterError::UnknownInstrument)
    }

    /// Checks a presented certificate: signer, ID tag, and digest against the
    /// ID table; returns the table state.
    ///
    /// The register does not verify its own signature again: a certificate
    /// whose BLAKE3 digest equals the one stored when the register signed it
    /// is byte for byte that certificate (DESIGN.md 2.2).
    fn check_presented(
        &self,
        cert: &Signed<Certificate>,
        in_process: bool,
    ) -> Result<IdState, RegisterError> {
        if cert.signer != self.cfg.user_id {
            return Err(RegisterError::Cert(CertError::WrongRegister));
        }
        let id = cert.body.id;
        if !self.id_key.check(cert.body.instrument, &id) {
            return Err(RegisterError::ForgedId);
        }
        let (state, _) = self
            .ids
            .check_presented(id.serial, &cert.content_digest())?;
        // The table holds the content digest (known before the signature
        // is made, the same for single and batch form); the register also
        // holds the document it handed out, and wants exactly that one.
        if let Some(mine) = self.certificates.get(&id.serial) {
            // In process, the exchange may still hold the pending copy of
            // a change certificate the signing stage has since signed.
            let pending_copy = in_process && cert.is_pending();
            if !mine.is_pending() && !pending_copy && mine.signature != cert.signature {
                return Err(RegisterError::DigestMismatch);
            }
        }
        Ok(state)
    }

    /// Checks an ID named by its holder: tag, record, holder, instrument, live.
    fn check_held(
        &self,
        id: &CertId,
        instrument: InstrumentId,
        holder: UserId,
    ) -> Result<&Record, RegisterError> {
        if !self.id_key.check(instrument, id) {
            return Err(RegisterError::ForgedId);
        }
        let rec = self.record(id).ok_or(RegisterError::UnknownId)?;
        if rec.instrument != instrument {
            return Err(RegisterError::Mismatch);
        }
        let st = self.ids.state(id.serial);
        if st != IdState::Live || !rec.current {
            return Err(RegisterError::NotLive(st));
        }
        if rec.holder != holder {
            return Err(RegisterError::WrongHolder);
        }
        Ok(rec)
    }

    /// Allocates `n` serials up front so that publishing cannot fail for
    /// want of room once inputs are spent.
    fn allocate(&self, n: usize) -> Result<Vec<u64>, RegisterError> {
        if self.ids.capacity() - self.ids.allocated() < n as u64 {
            return Err(RegisterError::TableFull);
        }
        (0..n)
            .map(|_| self.ids.allocate().map_err(RegisterError::from))
            .collect()
    }

    /// Creates, signs, records and publishes a certificate under `serial`.
    fn create(
        &mut self,
        serial: u64,
        instrument: InstrumentId,
        n: &NewCert<'_>,
        now: Timestamp,
    ) -> Result<Signed<Certificate>, RegisterError> {
        self.create_id(serial, instrument, n, now)?;
        self.certificates
            .get(&serial)
            .cloned()
            .ok_or(RegisterError::UnknownId)
    }

    /// [`Register::create`] for callers that need only the new ID (the
    /// certificate stays in the register, and with deferred signing a copy
    /// goes to the signing stage).
    fn create_id(
        &mut self,
        serial: u64,
        instrument: InstrumentId,
        n: &NewCert<'_>,
        now: Timestamp,
    ) -> Result<CertId, RegisterError> {
        let id = self.id_key.mint(instrument, serial);
        // Callers check the instrument before changing anything; this
        // cannot fail once they have.
        let st = self
            .instruments
            .get_mut(&instrument)
            .ok_or(RegisterError::UnknownInstrument)?;
        let certificate_number = n.certificate_number.unwrap_or_else(|| {
            let c = st.next_certificate_number;
            st.next_certificate_number += 1;
            c
        });
        let body = Certificate {
            company_name: st.cfg.company_name.clone(),
            company_founded: st.cfg.company_founded,
            certificate_number,
            id,
            instrument,
            shares: n.shares,
            par_value: st.cfg.par_value,
            issue_date: now,
            expiry: now.saturating_add(self.cfg.certificate_lifetime),
            holder_name: n.holder_name.to_owned(),
            holder: n.holder,
            class: n.class.clone(),
            restriction: st.cfg.restriction,
            signature_algorithm: SIG_ALG_ED25519,
            register_name: self.cfg.name.clone(),
            register_address: self.cfg.address.clone(),
        };
        let conditions = st.cfg.conditions.clone();
        let cert = self.signer.sign(body, self.cfg.user_id);
        if cert.is_pending() {
            self.unsigned.push(RegisterDoc::Certificate(cert.clone()));
        }
        let facts = Facts {
            instrument,
            class: n.class.code(),
            holder: n.holder,
            quantity: n.shares,
            digest: cert.content_digest(),
        };
        // The serial was allocated by us and never published: cannot fail.
        let published = self.ids.publish_as(serial, facts, n.reserved);
        debug_assert!(published.is_ok());
        self.records.insert(
            serial,
            Record {
                instrument,
                certificate_number,
                cert_id: id,
                holder_name_address: n.holder_name.to_owned(),
                holder: n.holder,
                shares: n.shares,
                class: n.class.clone(),
                acquired: now,
                conditions,
                dividend_account: n.dividend_account.to_owned(),
                current: true,
            },
        );
        self.certificates.insert(serial, cert);
        Ok(id)
    }

    fn retire(&mut self, id: &CertId) {
        if let Some(r) = self.records.get_mut(&id.serial) {
            r.current = false;
        }
    }

    fn publish_delta(
        &mut self,
        instrument: InstrumentId,
        removed: Vec<CertId>,
        added: Vec<IdListEntry>,
    ) {
        let Some(st) = self.instruments.get_mut(&instrument) else {
            return;
        };
        let seq = st.deltas.len() as u64 + 1;
        let d = IdListDelta {
            instrument,
            seq,
            removed,
            added,
        };
        let d = self.signer.sign(d, self.cfg.user_id);
        if d.is_pending() {
            self.unsigned.push(RegisterDoc::Delta(d.clone()));
        }
        st.deltas.push(d);
    }

    /// Spends every input atomically as a group: all are reserved under
    /// [`REGISTER_HOLD`] first (rolled back if any is taken), then spent.
    fn spend_all(&self, ids: &[CertId]) -> Result<(), RegisterError> {
        for (i, id) in ids.iter().enumerate() {
            if let Err(e) = self.ids.reserve(id.serial, REGISTER_HOLD) {
                for done in &ids[..i] {
                    let _ = self.ids.release(done.serial, REGISTER_HOLD);
                }
                return Err(e.into());
            }
        }
        for id in ids {
            // We hold the reservation: cannot fail.
            let r = self.ids.spend_reserved(id.serial, REGISTER_HOLD);
            debug_assert!(r.is_ok());
        }
        Ok(())
    }

    /// Phase 1: issue new shares on a signed request.
    pub fn issue(
        &mut self,
        req: &Signed<IssueRequest>,
        now: Timestamp,
    ) -> Result<Signed<Certificate>, RegisterError> {
        let b = &req.body;
        let party = self
            .identities
            .verify_as(req, Role::Investor, b.user_id, now)?;
        let policy = party.attestation.body.policy;
        self.check_seq(req.signer, b.seq)?;
        let st = self.instrument(b.instrument)?;
        let terms = match &b.class {
            ShareClass::Convertible { terms } if terms.len() > crate::certs::MAX_TERMS => {
                return Err(RegisterError::TextTooLong)
            }
            _ => "",
        };
        check_text(&[&b.name_address, &b.dividend_account, terms])?;
        if b.quantity == 0 {
            return Err(RegisterError::QuantityMismatch);
        }
        policy.check(b.quantity, b.quantity.checked_mul(st.cfg.par_value))?;
        if st
            .issued
            .checked_add(b.quantity)
            .is_none_or(|t| t > st.cfg.authorized)
        {
            return Err(RegisterError::ExceedsAuthorized);
        }
        let serial = self.allocate(1)?[0];
        let n = NewCert {
            holder: b.user_id,
            holder_name: &b.name_address,
            shares: b.quantity,
            class: &b.class,
            certificate_number: None,
            dividend_account: &b.dividend_account,
            reserved: None,
        };
        let cert = self.create(serial, b.instrument, &n, now)?;
        if let Some(st) = self.instruments.get_mut(&b.instrument) {
            st.issued += b.quantity;
        }
        self.commit_seq(req.signer, b.seq);
        self.publish_delta(
            b.instrument,
            vec![],
            vec![IdListEntry {
                cert_id: cert.body.id,
                holder: b.user_id,
            }],
        );
        Ok(cert)
    }

    /// Phase 3: transfer on a signed request from an exchange.
    pub fn transfer(
        &mut self,
        req: &Signed<TransferRequest>,
        now: Timestamp,
    ) -> Result<Signed<TransferResponse>, RegisterError> {
        self.identities
            .verify_as(req, Role::Exchange, req.body.exchange, now)?;
        self.transfer_checked(req, now, false)
    }

    /// Phase 3 for an exchange in the same process, whose request comes
    /// straight from its matching thread with its signature still pending
    /// (a runtime's signing stage signs it, and the register's answer,
    /// afterwards). Every check of [`Register::transfer`] except the
    /// signature: the signer must still be an exchange with a valid
    /// attestation, and the sequence number must advance.
    pub fn transfer_in_process(
        &mut self,
        req: &Signed<TransferRequest>,
        now: Timestamp,
    ) -> Result<Signed<TransferResponse>, RegisterError> {
        if req.signer != req.body.exchange {
            return Err(RegisterError::Identity(IdentityError::UserIdMismatch));
        }
        let p = self.identities.party(req.signer, now)?;
        if p.attestation.body.role != Role::Exchange {
            return Err(RegisterError::Identity(IdentityError::WrongRole));
        }
        self.transfer_checked(req, now, true)
    }

    fn transfer_checked(
        &mut self,
        req: &Signed<TransferRequest>,
        now: Timestamp,
        in_process: bool,
    ) -> Result<Signed<TransferResponse>, RegisterError> {
        let b = &req.body;
        self.check_seq(req.signer, b.seq)?;
        self.instrument(b.instrument)?;
        let cert = &b.certificate;
        let state = self.check_presented(cert, in_process)?;
        if cert.body.id != b.cert_id || cert.body.instrument != b.instrument {
            return Err(RegisterError::Mismatch);
        }
        if b.quantity == 0 || b.quantity > cert.body.shares {
            return Err(RegisterError::QuantityMismatch);
        }
        let expected = b.sell_order.map_or(IdState::Live, IdState::Reserved);
        if state != expected {
            return Err(RegisterError::NotLive(state));
        }
        let rec = self.record(&b.cert_id).ok_or(RegisterError::UnknownId)?;
        if rec.holder != b.seller || cert.body.holder != b.seller || !rec.current {
            return Err(RegisterError::WrongHolder);
        }
        check_text(&[&b.buyer_name_address])?;
        cert.body.check_transferable(now)?;
        self.identities.party(b.buyer, now)?;
        self.identities.party(b.seller, now)?;
        // In process with deferred signing, the request's signature is
        // still pending and so is the response's: the signing stage fills
        // in the hash of the signed request before it signs the response
        // (the hash of the pending form would be overwritten unread).
        let request_hash = if in_process && req.is_pending() && self.signer.is_deferred() {
            crate::crypto::Digest::default()
        } else {
            req.digest()
        };
        let resp = self.execute_transfer(
            cert,
            b.buyer,
            &b.buyer_name_address,
            b.quantity,
            b.match_number,
            b.sell_order,
            request_hash,
            now,
        )?;
        self.commit_seq(req.signer, b.seq);
        Ok(resp)
    }

    /// Retires `cert`, creates the buyer's (and the change) certificate,
    /// records the transfer and signs the response. All checks are done.
    #[allow(clippy::too_many_arguments)]
    fn execute_transfer(
        &mut self,
        cert: &Signed<Certificate>,
        buyer: UserId,
        buyer_name: &str,
        quantity: Qty,
        match_number: u64,
        sell_order: Option<u64>,
        request_hash: crate::crypto::Digest,
        now: Timestamp,
    ) -> Result<Signed<TransferResponse>, RegisterError> {
        let c = &cert.body;
        let change = c.shares - quantity;
        let old = self
            .records
            .get(&c.id.serial)
            .ok_or(RegisterError::UnknownId)?;
        // Only the change certificate needs the seller's texts.
        let (old_number, old_holder) = (old.certificate_number, old.holder);
        let old_texts = (change > 0).then(|| {
            (
                old.holder_name_address.clone(),
                old.dividend_account.clone(),
            )
        });
        let serials = self.allocate(if change > 0 { 2 } else { 1 })?;
        match sell_order {
            None => self.ids.spend(c.id.serial)?,
            Some(o) => self.ids.spend_reserved(c.id.serial, o)?,
        }
        self.retire(&c.id);
        let buyer_id = self.create_id(
            serials[0],
            c.instrument,
            &NewCert {
                holder: buyer,
                holder_name: buyer_name,
                shares: quantity,
                class: &c.class,
                certificate_number: (change == 0).then_some(old_number),
                dividend_account: "",
                reserved: None,
            },
            now,
        )?;
        let mut added = vec![IdListEntry {
            cert_id: buyer_id,
            holder: buyer,
        }];
        let change_id = match old_texts {
            Some((holder_name, dividend_account)) => {
                let ch = self.create_id(
                    serials[1],
                    c.instrument,
                    &NewCert {
                        holder: old_holder,
                        holder_name: &holder_name,
                        shares: change,
                        class: &c.class,
                        certificate_number: Some(old_number),
                        dividend_account: &dividend_account,
                        reserved: sell_order,
                    },
                    now,
                )?;
                added.push(IdListEntry {
                    cert_id: ch,
                    holder: old_holder,
                });
                Some(ch)
            }
            None => None,
        };
        let transfer_number = self.transfers.len() as u64 + 1;
        self.transfers.push(TransferRecord {
            transfer_number,
            instrument: c.instrument,
            old_cert_id: c.id,
            new_cert_id: buyer_id,
            change_cert_id: change_id,
            quantity,
            buyer,
            seller: old_holder,
            buyer_claimed: false,
            change_claimed: false,
        });
        self.publish_delta(c.instrument, vec![c.id], added);
        let resp = TransferResponse {
            match_number,
            transfer_number,
            new_cert_id: buyer_id,
            change_cert_id: change_id,
            request_hash,
        };
        Ok(self.signer.sign(resp, self.cfg.user_id))
    }

    /// Phase 4: the buyer (or the seller, for the change) claims the
    /// certificate a transfer created. Each is handed out once, only to the
    /// party it names.
    pub fn claim_certificate(
        &mut self,
        req: &Signed<CertificateRequest>,
        now: Timestamp,
    ) -> Result<Signed<Certificate>, RegisterError> {
        let b = &req.body;
        self.identities
            .verify_as(req, Role::Investor, b.user_id, now)?;
        self.check_seq(req.signer, b.seq)?;
        let idx = usize::try_from(b.transfer_number.wrapping_sub(1))
            .map_err(|_| RegisterError::UnknownTransfer)?;
        let t = self
            .transfers
            .get(idx)
            .ok_or(RegisterError::UnknownTransfer)?;
        let (id, is_buyer) = if t.buyer == b.user_id && !t.buyer_claimed {
            (t.new_cert_id, true)
        } else if t.seller == b.user_id && t.change_cert_id.is_some() && !t.change_claimed {
            (t.change_cert_id.unwrap_or(t.new_cert_id), false)
        } else if t.buyer == b.user_id || (t.seller == b.user_id && t.change_cert_id.is_some()) {
            return Err(RegisterError::AlreadyClaimed);
        } else {
            return Err(RegisterError::NotYourTransfer);
        };
        let st = self.ids.state(id.serial);
        if st != IdState::Live && !matches!(st, IdState::Reserved(_)) {
            return Err(RegisterError::NotLive(st));
        }
        if b.dividend_account.len() > MAX_TEXT {
            return Err(RegisterError::TextTooLong);
        }
        let cert = self
            .certificates
            .get(&id.serial)
            .cloned()
            .ok_or(RegisterError::UnknownId)?;
        if let Some(r) = self.records.get_mut(&id.serial) {
            r.dividend_account.clone_from(&b.dividend_account);
        }
        let t = &mut self.transfers[idx];
        if is_buyer {
            t.buyer_claimed = true;
        } else {
            t.change_claimed = true;
        }
        self.commit_seq(req.signer, b.seq);
        Ok(cert)
    }

    /// Phase 5: transfer of an endorsed certificate, requested by its
    /// recipient. The whole certificate moves; the recipient then claims the
    /// new certificate with a [`CertificateRequest`].
    pub fn direct_transfer(
        &mut self,
        req: &Signed<DirectTransferRequest>,
        now: Timestamp,
    ) -> Result<Signed<TransferResponse>, RegisterError> {
        let b = &req.body;
        self.identities
            .verify_as(req, Role::Investor, b.user_id, now)?;
        self.check_seq(req.signer, b.seq)?;
        let cert = &b.certificate;
        self.instrument(cert.body.instrument)?;
        let holder = self.identities.party(cert.body.holder, now)?;
        let state = self.check_presented(cert, false)?;
        check_endorsement(cert, &b.endorsement, b.user_id, &holder.key)?;
        check_text(&[&b.name_address])?;
        cert.body.check_transferable(now)?;
        if state != IdState::Live {
            return Err(RegisterError::NotLive(state));
        }
        let rec = self.record(&cert.body.id).ok_or(RegisterError::UnknownId)?;
        if rec.holder != cert.body.holder || !rec.current {
            return Err(RegisterError::WrongHolder);
        }
        let resp = self.execute_transfer(
            cert,
            b.user_id,
            &b.name_address,
            cert.body.shares,
            0,
            None,
            req.digest(),
            now,
        )?;
        self.commit_seq(req.signer, b.seq);
        Ok(resp)
    }

    /// Phase 6: what the register holds for the requester.
    pub fn holdings(
        &mut self,
        req: &Signed<HoldingsInquiry>,
        now: Timestamp,
    ) -> Result<Signed<HoldingsAnswer>, RegisterError> {
        let b = &req.body;
        self.identities
            .verify_as(req, Role::Investor, b.user_id, now)?;
        self.check_seq(req.signer, b.seq)?;
        let mut holdings: Vec<(u64, Holding)> = self
            .records
            .iter()
            .filter(|(_, r)| {
                r.current && r.holder == b.user_id && b.instrument.is_none_or(|i| i == r.instrument)
            })
            .map(|(s, r)| {
                (
                    *s,
                    Holding {
                        instrument: r.instrument,
                        certificate_number: r.certificate_number,
                        cert_id: r.cert_id,
                        shares: r.shares,
                        class: r.class.code(),
                    },
                )
            })
            .collect();
        holdings.sort_by_key(|(s, _)| *s);
        self.commit_seq(req.signer, b.seq);
        let answer = HoldingsAnswer {
            user_id: b.user_id,
            request_hash: req.digest(),
            holdings: holdings.into_iter().map(|(_, h)| h).collect(),
        };
        Ok(Signed::sign(answer, self.cfg.user_id, self.signer.key()))
    }

    /// Phase 6: reissue a lost certificate, or split or merge holdings.
    /// Old IDs are retired, new ones created; quantities are conserved.
    pub fn reissue(
        &mut self,
        req: &Signed<ReissueRequest>,
        now: Timestamp,
    ) -> Result<Signed<ReissueResponse>, RegisterError> {
        let b = &req.body;
        self.identities
            .verify_as(req, Role::Investor, b.user_id, now)?;
        self.check_seq(req.signer, b.seq)?;
        self.instrument(b.instrument)?;
        // (inputs, output sizes, keep certificate number of the first input)
        let (inputs, outputs, keep_number): (Vec<CertId>, Vec<Qty>, bool) = match &b.kind {
            ReissueKind::Lost(id) => {
                let r = self.check_held(id, b.instrument, b.user_id)?;
                (vec![*id], vec![r.shares], true)
            }
            ReissueKind::Split(id, parts) => {
                let r = self.check_held(id, b.instrument, b.user_id)?;
                if parts.len() < 2 {
                    return Err(RegisterError::BadReissue("split needs two or more parts"));
                }
                if parts.contains(&0) {
                    return Err(RegisterError::BadReissue("empty part"));
                }
                let sum = parts.iter().try_fold(0u64, |a, p| a.checked_add(*p));
                if sum != Some(r.shares) {
                    return Err(RegisterError::QuantityMismatch);
                }
                (vec![*id], parts.clone(), true)
            }
            ReissueKind::Merge(ids) => {
                if ids.len() < 2 {
                    return Err(RegisterError::BadReissue(
                        "merge needs two or more certificates",
                    ));
                }
                let mut seen = std::collections::HashSet::new();
                let mut total: u64 = 0;
                let mut class: Option<&ShareClass> = None;
                for id in ids {
                    if !seen.insert(id.serial) {
                        return Err(RegisterError::BadReissue("duplicate certificate"));
                    }
                    let r = self.check_held(id, b.instrument, b.user_id)?;
                    if class.is_some_and(|c| *c != r.class) {
                        return Err(RegisterError::BadReissue("mixed share classes"));
                    }
                    class = Some(&r.class);
                    total = total
                        .checked_add(r.shares)
                        .ok_or(RegisterError::QuantityMismatch)?;
                }
                (ids.clone(), vec![total], false)
            }
        };
        let first = self
            .records
            .get(&inputs[0].serial)
            .cloned()
            .ok_or(RegisterError::UnknownId)?;
        let serials = self.allocate(outputs.len())?;
        self.spend_all(&inputs)?;
        for id in &inputs {
            self.retire(id);
        }
        let mut certificates = Vec::with_capacity(outputs.len());
        for (i, (serial, shares)) in serials.iter().zip(&outputs).enumerate() {
            let n = NewCert {
                holder: b.user_id,
                holder_name: &first.holder_name_address,
                shares: *shares,
                class: &first.class,
                certificate_number: (keep_number && i == 0).then_some(first.certificate_number),
                dividend_account: &first.dividend_account,
                reserved: None,
            };
            certificates.push(self.create(*serial, b.instrument, &n, now)?);
        }
        let added = certificates
            .iter()
            .map(|c| IdListEntry {
                cert_id: c.body.id,
                holder: b.user_id,
            })
            .collect();
        self.publish_delta(b.instrument, inputs.clone(), added);
        self.commit_seq(req.signer, b.seq);
        let resp = ReissueResponse {
            request_hash: req.digest(),
            retired: inputs,
            certificates,
        };
        Ok(Signed::sign(resp, self.cfg.user_id, self.signer.key()))
    }

    /// The signed ID list of `instrument`: every current (ID, holder), as of
    /// the latest delta.
    pub fn id_list_snapshot(
        &self,
        instrument: InstrumentId,
    ) -> Result<Signed<IdListSnapshot>, RegisterError> {
        let st = self.instrument(instrument)?;
        let mut entries: Vec<IdListEntry> = self
            .records
            .values()
            .filter(|r| r.current && r.instrument == instrument)
            .map(|r| IdListEntry {
                cert_id: r.cert_id,
                holder: r.holder,
            })
            .collect();
        entries.sort_by_key(|e| e.cert_id.serial);
        let snap = IdListSnapshot {
            instrument,
            seq: st.deltas.len() as u64,
            entries,
        };
        Ok(Signed::sign(snap, self.cfg.user_id, self.signer.key()))
    }

    /// The signed deltas of `instrument` after sequence number `after`.
    pub fn id_list_deltas(
        &self,
        instrument: InstrumentId,
        after: u64,
    ) -> Result<&[Signed<IdListDelta>], RegisterError> {
        let st = self.instrument(instrument)?;
        let from = usize::try_from(after)
            .unwrap_or(usize::MAX)
            .min(st.deltas.len());
        Ok(&st.deltas[from..])
    }

    /// Signs any message as the register (for answers built elsewhere).
    #[must_use]
    pub fn sign<T: Message>(&self, body: T) -> Signed<T> {
        Signed::sign(body, self.cfg.user_id, self.signer.key())
    }
}
