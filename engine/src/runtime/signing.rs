//! The signing stage: turns the sequencer's messages, whose signatures are
//! pending, into signed ones, one Merkle batch signature per key per batch
//! ([`crate::crypto::merkle`]).
//!
//! Order inside a batch (each step needs the one before):
//! 1. the register's documents (new certificates, ID-list deltas), with the
//!    register's key;
//! 2. nested certificates patched in: a transfer request or a released
//!    order may carry a change certificate that was pending when the
//!    sequencer used it;
//! 3. the exchange's messages (receipts, refusals, completion notices,
//!    transfer and settlement requests), with the exchange's key;
//! 4. the register's transfer responses, once the `request_hash` of the
//!    now signed request is filled in, with the register's key.
//!
//! Architecture invariant: nothing leaves the signing stage with a pending
//! signature, except the answers and notices of a trusted-gateway runtime
//! (which are deliberately unsigned).

use std::collections::HashMap;
use std::sync::Arc;

use crate::certs::Certificate;
use crate::crypto::{merkle, KeyPair, Message, MessageSignature, MsgKind, Signed};
use crate::exchange::Outgoing;
use crate::register::RegisterDoc;

/// The keys of one shard's parties.
#[derive(Clone, Debug)]
pub(crate) struct ShardKeys {
    pub exchange: Arc<KeyPair>,
    pub register: Arc<KeyPair>,
}

/// What a sequencer (or a verification worker, for a refusal) hands to the
/// signing stage for one request.
#[derive(Debug)]
pub(crate) struct Job {
    pub shard: usize,
    /// (producer, ticket) to answer; `None` for clock ticks.
    pub reply_to: Option<(u32, u64)>,
    pub sequence: Option<u64>,
    pub answer: Option<crate::exchange::Answer>,
    pub docs: Vec<RegisterDoc>,
    pub outgoing: Vec<Outgoing>,
    /// When the request was submitted (for the latency record).
    pub submitted: Option<std::time::Instant>,
}

/// A message whose signature the stage may have to make.
trait Pend {
    fn pending(&self) -> bool;
    fn kind(&self) -> MsgKind;
    fn bytes(&self) -> Vec<u8>;
    fn set(&mut self, sig: MessageSignature);
}

impl<T: Message> Pend for Signed<T> {
    fn pending(&self) -> bool {
        self.is_pending()
    }
    fn kind(&self) -> MsgKind {
        T::KIND
    }
    fn bytes(&self) -> Vec<u8> {
        self.signed_bytes()
    }
    fn set(&mut self, sig: MessageSignature) {
        self.signature = sig;
    }
}

/// Counters of the stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigningCounters {
    /// Messages signed.
    pub messages: u64,
    /// Ed25519 signatures made (one per batch per key).
    pub signatures: u64,
}

/// Signs every pending message in `msgs` with one batch signature.
fn sign_all(key: &KeyPair, msgs: &mut [&mut dyn Pend], counters: &mut SigningCounters) {
    let mut todo: Vec<&mut &mut dyn Pend> = msgs.iter_mut().filter(|m| m.pending()).collect();
    if todo.is_empty() {
        return;
    }
    let bytes: Vec<(MsgKind, Vec<u8>)> = todo.iter().map(|m| (m.kind(), m.bytes())).collect();
    let max = merkle::MAX_BATCH as usize;
    for (msgs, bytes) in todo.chunks_mut(max).zip(bytes.chunks(max)) {
        let items: Vec<(MsgKind, &[u8])> = bytes.iter().map(|(k, b)| (*k, b.as_slice())).collect();
        // Cannot fail: the chunk is non-empty and within MAX_BATCH.
        if let Ok(proofs) = merkle::sign_batch(key, &items) {
            counters.signatures += 1;
            counters.messages += proofs.len() as u64;
            for (m, p) in msgs.iter_mut().zip(proofs) {
                m.set(MessageSignature::Batch(p));
            }
        }
    }
}

/// The signing stage's state: keys per shard, and the change certificates
/// that open sell orders may still carry pending copies of.
#[derive(Debug)]
pub(crate) struct SigningStage {
    keys: Vec<ShardKeys>,
    sign_answers: bool,
    change: HashMap<(usize, u64), Signed<Certificate>>,
    pub counters: SigningCounters,
}

impl SigningStage {
    pub fn new(keys: Vec<ShardKeys>, sign_answers: bool) -> Self {
        Self {
            keys,
            sign_answers,
            change: HashMap::new(),
            counters: SigningCounters::default(),
        }
    }

    /// Signs everything pending in `jobs` (all of one batch).
    pub fn sign(&mut self, jobs: &mut [Job]) {
        let shards = self.keys.len();
        // 1. Register documents, per shard.
        let mut batch_certs: HashMap<(usize, u64), Signed<Certificate>> = HashMap::new();
        for s in 0..shards {
            let mut refs: Vec<&mut dyn Pend> = Vec::new();
            for j in jobs.iter_mut().filter(|j| j.shard == s) {
                for d in &mut j.docs {
                    match d {
                        RegisterDoc::Certificate(c) => refs.push(c),
                        RegisterDoc::Delta(d) => refs.push(d),
                    }
                }
            }
            sign_all(&self.keys[s].register, &mut refs, &mut self.counters);
        }
        // Only change certificates can be nested, pending, in later
        // messages (a sell order carries its change to the next transfer,
        // or back to its owner when it ends): keep copies of those.
        let changes: std::collections::HashSet<(usize, u64)> = jobs
            .iter()
            .flat_map(|j| {
                j.outgoing.iter().filter_map(move |o| match o {
                    Outgoing::Transfer { response, .. } => {
                        response.body.change_cert_id.map(|id| (j.shard, id.serial))
                    }
                    _ => None,
                })
            })
            .collect();
        for j in jobs.iter() {
            for d in &j.docs {
                if let RegisterDoc::Certificate(c) = d {
                    let key = (j.shard, c.body.id.serial);
                    if changes.contains(&key) {
                        batch_certs.insert(key, c.clone());
                    }
                }
            }
        }
        // 2. Nested certificates.
        for j in jobs.iter_mut() {
            let shard = j.shard;
            for o in &mut j.outgoing {
                match o {
                    Outgoing::Transfer { request, .. } => {
                        let c = &mut request.body.certificate;
                        let key = (shard, c.body.id.serial);
                        if let Some(s) = self.change.remove(&key) {
                            if c.is_pending() && s.body == c.body {
                                *c = s;
                            }
                        }
                        if c.is_pending() {
                            if let Some(s) = batch_certs.get(&key) {
                                if s.body == c.body {
                                    *c = s.clone();
                                }
                            }
                        }
                    }
                    Outgoing::Released { certificates, .. } => {
                        for c in certificates {
                            let key = (shard, c.body.id.serial);
                            let known = self
                                .change
                                .remove(&key)
                                .or_else(|| batch_certs.get(&key).cloned());
                            if let Some(s) = known {
                                if c.is_pending() && s.body == c.body {
                                    *c = s;
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        // 3. The exchange's messages, per shard.
        let sign_answers = self.sign_answers;
        for s in 0..shards {
            let mut refs: Vec<&mut dyn Pend> = Vec::new();
            for j in jobs.iter_mut().filter(|j| j.shard == s) {
                if sign_answers {
                    match &mut j.answer {
                        Some(Ok(r)) => refs.push(r),
                        Some(Err(n)) => refs.push(&mut **n),
                        None => {}
                    }
                }
                for o in &mut j.outgoing {
                    match o {
                        Outgoing::Transfer { request, .. } => refs.push(&mut **request),
                        Outgoing::Settlement(r) => refs.push(r),
                        Outgoing::Completion(n) if sign_answers => refs.push(n),
                        Outgoing::Error(n) if sign_answers => refs.push(n),
                        _ => {}
                    }
                }
            }
            sign_all(&self.keys[s].exchange, &mut refs, &mut self.counters);
        }
        // 4. Transfer responses, per shard.
        for s in 0..shards {
            let mut refs: Vec<&mut dyn Pend> = Vec::new();
            for j in jobs.iter_mut().filter(|j| j.shard == s) {
                for o in &mut j.outgoing {
                    if let Outgoing::Transfer { request, response } = o {
                        if response.is_pending() {
                            response.body.request_hash = request.digest();
                        }
                        refs.push(&mut **response);
                    }
                }
            }
            sign_all(&self.keys[s].register, &mut refs, &mut self.counters);
        }
        // Remember the change certificates for later transfers and
        // releases of their (still open) sell orders.
        for j in jobs.iter() {
            for o in &j.outgoing {
                if let Outgoing::Transfer { response, .. } = o {
                    if let Some(id) = response.body.change_cert_id {
                        if let Some(c) = batch_certs.remove(&(j.shard, id.serial)) {
                            self.change.insert((j.shard, id.serial), c);
                        }
                    }
                }
            }
        }
    }
}
