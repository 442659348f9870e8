//! Shared fixture: a CA, a register with one or two instruments, an
//! exchange and three investors, each with an attestation.
#![allow(dead_code)]

use std::collections::HashMap;

use kabuken::certs::{CertIdKey, Certificate, ShareClass, TransferRestriction};
use kabuken::crypto::{KeyPair, Message, Signed, UserId, Validity};
use kabuken::identity::{CertificateAuthority, IdentityStore, Policy, Role};
use kabuken::register::*;

pub const CA: UserId = 1;
pub const REG: UserId = 2;
pub const EXCH: UserId = 3;
pub const ALICE: UserId = 100;
pub const BOB: UserId = 101;
pub const CAROL: UserId = 102;
/// Instrument with free transfer.
pub const INST: u32 = 7;
/// Instrument whose certificates are not transferable.
pub const LOCKED: u32 = 8;
pub const NOW: u64 = 1_000;
pub const CERT_LIFETIME: u64 = 10_000;
pub const ATT_END: u64 = 50_000;

pub struct World {
    pub ca: CertificateAuthority,
    pub reg: Register,
    pub keys: HashMap<UserId, KeyPair>,
    pub seq: HashMap<UserId, u64>,
    pub serials: HashMap<UserId, u64>,
}

pub fn key(u: UserId) -> KeyPair {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&u.to_le_bytes());
    seed[31] = 0xaa;
    KeyPair::from_seed(&seed)
}

impl World {
    pub fn new() -> World {
        Self::with_policy(Policy {
            usage_limit: 1_000_000,
            per_order_max: 10_000,
            short_sale_ban: true,
        })
    }

    pub fn with_policy(policy: Policy) -> World {
        let mut ca = CertificateAuthority::new(CA, "Kabuken Test CA", key(CA));
        let store = IdentityStore::new(CA, "Kabuken Test CA", ca.public_key());
        let cfg = RegisterConfig {
            user_id: REG,
            name: "Kabu Transfer Agent".into(),
            address: "https://register.invalid".into(),
            certificate_lifetime: CERT_LIFETIME,
            id_capacity: 1 << 16,
        };
        let mut reg = Register::new(cfg, key(REG), CertIdKey::from_bytes([0x5e; 32]), store);
        for (inst, restriction) in [
            (INST, TransferRestriction::Free),
            (LOCKED, TransferRestriction::NonTransferable),
        ] {
            reg.add_instrument(InstrumentConfig {
                instrument: inst,
                company_name: format!("Company {inst} KK"),
                company_founded: 19_500_101,
                par_value: 50,
                authorized: 1_000_000,
                restriction,
                conditions: "ordinary issue".into(),
            })
            .expect("instrument");
        }
        let mut keys = HashMap::new();
        let mut serials = HashMap::new();
        for (u, role, name) in [
            (REG, Role::Register, "Kabu Transfer Agent"),
            (EXCH, Role::Exchange, "Kabu Exchange"),
            (ALICE, Role::Investor, "Alice"),
            (BOB, Role::Investor, "Bob"),
            (CAROL, Role::Investor, "Carol"),
        ] {
            let k = key(u);
            let att = ca
                .issue(
                    u,
                    name,
                    &k.public(),
                    Validity {
                        not_before: 0,
                        not_after: ATT_END,
                    },
                    role,
                    policy,
                )
                .expect("attest");
            serials.insert(u, att.body.serial);
            reg.identities_mut()
                .register(&att)
                .expect("register attestation");
            keys.insert(u, k);
        }
        World {
            ca,
            reg,
            keys,
            seq: HashMap::new(),
            serials,
        }
    }

    pub fn next_seq(&mut self, u: UserId) -> u64 {
        let s = self.seq.entry(u).or_insert(0);
        *s += 1;
        *s
    }

    pub fn sign<T: Message>(&self, u: UserId, body: T) -> Signed<T> {
        Signed::sign(body, u, &self.keys[&u])
    }

    pub fn issue_req(&mut self, u: UserId, inst: u32, qty: u64) -> Signed<IssueRequest> {
        let seq = self.next_seq(u);
        self.sign(
            u,
            IssueRequest {
                user_id: u,
                name_address: format!("holder {u}, Tokyo"),
                instrument: inst,
                class: ShareClass::Common,
                quantity: qty,
                dividend_account: format!("acct-{u}"),
                seq,
            },
        )
    }

    pub fn issue(&mut self, u: UserId, qty: u64) -> Signed<Certificate> {
        let r = self.issue_req(u, INST, qty);
        self.reg.issue(&r, NOW).expect("issue")
    }

    pub fn transfer_req(
        &mut self,
        cert: &Signed<Certificate>,
        buyer: UserId,
        qty: u64,
        match_number: u64,
    ) -> Signed<TransferRequest> {
        let seq = self.next_seq(EXCH);
        self.sign(
            EXCH,
            TransferRequest {
                exchange: EXCH,
                match_number,
                instrument: cert.body.instrument,
                cert_id: cert.body.id,
                quantity: qty,
                buyer,
                seller: cert.body.holder,
                sell_order: None,
                buyer_name_address: format!("holder {buyer}, Osaka"),
                certificate: cert.clone(),
                seq,
            },
        )
    }

    pub fn claim_req(&mut self, u: UserId, transfer_number: u64) -> Signed<CertificateRequest> {
        let seq = self.next_seq(u);
        self.sign(
            u,
            CertificateRequest {
                user_id: u,
                transfer_number,
                dividend_account: format!("acct-{u}"),
                seq,
            },
        )
    }

    pub fn claim(
        &mut self,
        u: UserId,
        transfer_number: u64,
    ) -> Result<Signed<Certificate>, RegisterError> {
        let r = self.claim_req(u, transfer_number);
        self.reg.claim_certificate(&r, NOW)
    }

    pub fn reissue_req(&mut self, u: UserId, kind: ReissueKind) -> Signed<ReissueRequest> {
        let seq = self.next_seq(u);
        self.sign(
            u,
            ReissueRequest {
                user_id: u,
                instrument: INST,
                kind,
                seq,
            },
        )
    }
}
