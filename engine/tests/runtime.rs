//! The concurrent runtime (kabuken::runtime): many producers, verification
//! workers, the sequencer, the batch-signing stage; equality with the
//! synchronous exchange on the same sequenced input; back-pressure without
//! loss; draining shutdown; trusted-gateway mode; market data.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kabuken::crypto::{MessageSignature, Signed};
use kabuken::exchange::{Outgoing, Refusal};
use kabuken::register::RegisterDoc;
use kabuken::runtime::marketdata::Poll;
use kabuken::runtime::sim::{drive, flow, market, MarketConfig};
use kabuken::runtime::{
    replay_journal, Notification, NotificationSink, Request, Response, ResponseSink, Runtime,
    RuntimeConfig, Sequenced, SubmitError,
};

fn cfg(orders: usize) -> MarketConfig {
    MarketConfig {
        seed: 7,
        investors: 12,
        instruments: 3,
        orders,
        first_instrument: 100,
    }
}

fn collecting() -> (NotificationSink, Arc<Mutex<Vec<Notification>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = Arc::clone(&got);
    (
        NotificationSink::Callback(Box::new(move |n| g.lock().unwrap().push(n))),
        got,
    )
}

#[test]
fn many_producers_signed_flow_equals_synchronous_replay() {
    let mut m = market(&cfg(1200));
    let flows = flow(&mut m.clients, &m.instruments, 1200, 6, 11, false);
    let exchange_key = m.shard.exchange.public_key();
    let register_key = m.shard.register.public_key();
    let (sink, notes) = collecting();
    let rt = Runtime::start(
        RuntimeConfig {
            verify_workers: 2,
            journal: true,
            notifications: sink,
            signing_thread: false,
            ..RuntimeConfig::default()
        },
        vec![m.shard],
    )
    .expect("start");
    let d = drive(&rt, flows, None, true);
    let out = rt.shutdown();
    assert_eq!(d.submitted, 1200);
    assert_eq!(d.responses, 1200, "every request answered");
    assert!(
        d.accepted > 1000,
        "most honest orders accepted: {}",
        d.accepted
    );
    // Exactly one response per ticket per producer.
    for kept in &d.responses_kept {
        let tickets: HashSet<u64> = kept.iter().map(|r| r.ticket).collect();
        assert_eq!(tickets.len(), kept.len(), "no duplicated response");
    }
    // Global sequence numbers: unique and contiguous.
    let mut seqs: Vec<u64> = d
        .responses_kept
        .iter()
        .flatten()
        .filter_map(|r| r.sequence)
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    // Every answer is batch-signed by the exchange and verifies.
    for r in d.responses_kept.iter().flatten() {
        match &r.answer {
            Ok(rc) => {
                assert!(matches!(rc.signature, MessageSignature::Batch(_)));
                rc.verify(&exchange_key).expect("receipt verifies");
                let back = Signed::from_bytes(&rc.to_bytes()).expect("decodes");
                assert_eq!(&back, rc);
            }
            Err(n) => n.verify(&exchange_key).expect("refusal verifies"),
        }
    }
    // Notifications: signed by the right party; transfer responses echo
    // the hash of the signed request.
    let notes = notes.lock().unwrap();
    let (mut completions, mut transfers, mut settlements, mut certs) = (0, 0, 0, 0);
    for n in notes.iter() {
        match n {
            Notification::Exchange(Outgoing::Completion(c)) => {
                c.verify(&exchange_key).expect("completion verifies");
                completions += 1;
            }
            Notification::Exchange(Outgoing::Transfer { request, response }) => {
                request
                    .verify(&exchange_key)
                    .expect("transfer request verifies");
                response
                    .verify(&register_key)
                    .expect("transfer response verifies");
                assert_eq!(response.body.request_hash, request.digest());
                assert!(!request.body.certificate.is_pending());
                request
                    .body
                    .certificate
                    .verify(&register_key)
                    .expect("nested certificate verifies");
                transfers += 1;
            }
            Notification::Exchange(Outgoing::Settlement(s)) => {
                s.verify(&exchange_key).expect("settlement verifies");
                settlements += 1;
            }
            Notification::Exchange(Outgoing::Released { certificates, .. }) => {
                for c in certificates {
                    c.verify(&register_key)
                        .expect("released certificate verifies");
                }
            }
            Notification::Exchange(Outgoing::Error(e)) => {
                e.verify(&exchange_key).expect("error verifies");
            }
            Notification::Register(RegisterDoc::Certificate(c)) => {
                c.verify(&register_key).expect("certificate verifies");
                certs += 1;
            }
            Notification::Register(RegisterDoc::Delta(dl)) => {
                dl.verify(&register_key).expect("delta verifies");
            }
        }
    }
    assert!(transfers > 100, "the flow trades: {transfers} transfers");
    assert_eq!(completions, 2 * transfers);
    assert_eq!(settlements, transfers);
    assert!(certs >= transfers);
    let stats = out.stats;
    assert_eq!(stats.verified, 1200);
    assert_eq!(stats.sequenced, 1200);
    assert!(stats.signatures > 0 && stats.signatures * 10 < stats.signed_messages);
    let shard = &out.shards[0];
    shard
        .exchange
        .check_invariants(&shard.register, &shard.ledger)
        .expect("invariants after the run");

    // Determinism: the same market, the sequenced input replayed through
    // the synchronous exchange (every signature made and verified at once).
    let mut again = market(&cfg(1200));
    let _ = flow(&mut again.clients, &again.instruments, 1200, 6, 11, false);
    let journal = &out.journal[0];
    let answers = replay_journal(&mut again.shard, journal);
    let by_seq: BTreeMap<u64, &Response> = d
        .responses_kept
        .iter()
        .flatten()
        .filter_map(|r| r.sequence.map(|s| (s, r)))
        .collect();
    let seqs: Vec<u64> = journal
        .iter()
        .filter_map(|s| match s {
            Sequenced::Request { sequence, .. } => Some(*sequence),
            Sequenced::Time(_) | Sequenced::Numbering { .. } | Sequenced::Control { .. } => None,
        })
        .collect();
    assert_eq!(seqs.len(), answers.len());
    for (s, a) in seqs.iter().zip(&answers) {
        let r = by_seq[s];
        match (a, &r.answer) {
            (Ok(x), Ok(y)) => assert_eq!(x.body, y.body, "receipt of {s}"),
            (Err(x), Err(y)) => assert_eq!(x.body, y.body, "refusal of {s}"),
            _ => panic!("request {s}: runtime and replay disagree"),
        }
    }
    assert_eq!(again.shard.exchange.matches(), shard.exchange.matches());
    assert_eq!(again.shard.state_hash(), shard.state_hash());
}

#[test]
fn back_pressure_loses_nothing_and_shutdown_drains() {
    // With a signing thread, and with the verification workers running
    // the signing stage between their batches.
    for signing_thread in [true, false] {
        back_pressure_case(signing_thread);
    }
}

fn back_pressure_case(signing_thread: bool) {
    let mut m = market(&cfg(400));
    let flows = flow(&mut m.clients, &m.instruments, 400, 8, 3, false);
    let rt = Runtime::start(
        RuntimeConfig {
            verify_workers: 2,
            ingress_capacity: 2,
            shard_capacity: 2,
            sign_capacity: 2,
            verify_batch: 3,
            sign_batch: 2,
            signing_thread,
            ..RuntimeConfig::default()
        },
        vec![m.shard],
    )
    .expect("start");
    // Producers with a credit of 3 requests in flight: submissions meet
    // full queues and get their request back.
    let results: Vec<(usize, Vec<Response>, u64)> = std::thread::scope(|s| {
        let hs: Vec<_> = flows
            .into_iter()
            .map(|f| {
                let mut p = rt.producer(3, ResponseSink::Queue).expect("producer");
                s.spawn(move || {
                    let n = f.len();
                    let mut got = Vec::new();
                    let mut full = 0;
                    for req in f {
                        let mut req = req;
                        loop {
                            match p.submit(req) {
                                Ok(_) => break,
                                Err(SubmitError::Full(r)) => {
                                    full += 1;
                                    req = *r;
                                    while let Some(x) = p.try_recv() {
                                        got.push(x);
                                    }
                                    std::thread::yield_now();
                                }
                                Err(SubmitError::Closed(_)) => panic!("closed early"),
                            }
                        }
                    }
                    while got.len() < n {
                        got.push(p.recv_timeout(Duration::from_secs(30)).expect("response"));
                    }
                    (n, got, full)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut full = 0;
    for (n, got, f) in &results {
        full += f;
        let tickets: HashSet<u64> = got.iter().map(|r| r.ticket).collect();
        assert_eq!(tickets.len(), *n, "one response per request");
        assert_eq!(tickets, (1..=*n as u64).collect());
    }
    assert!(full > 0, "the tiny queues pushed back");
    // Shutdown drains: requests still in flight are answered after it.
    let mut p = rt.producer(64, ResponseSink::Queue).expect("producer");
    let mut m2 = market(&MarketConfig { seed: 8, ..cfg(40) });
    let extra = flow(&mut m2.clients, &m2.instruments, 40, 1, 5, false);
    let mut sent = 0;
    let mut answered = 0;
    for r in extra.into_iter().flatten().take(20) {
        p.submit_wait(r, |_| answered += 1).expect("submitted");
        sent += 1;
    }
    let out = rt.shutdown();
    while p.try_recv().is_some() {
        answered += 1;
    }
    assert_eq!(answered, sent, "shutdown answered everything in flight");
    // Requests signed by strangers to this market are refused at the
    // verification stage (their keys are not known).
    assert_eq!(out.stats.refused_unverified, sent as u64);
    // After shutdown: closed, the request handed back.
    let mut m3 = market(&MarketConfig { seed: 9, ..cfg(10) });
    let r = flow(&mut m3.clients, &m3.instruments, 1, 1, 5, false)
        .into_iter()
        .flatten()
        .next()
        .unwrap();
    assert!(matches!(p.submit(r), Err(SubmitError::Closed(_))));
}

#[test]
fn tampered_and_forged_requests_are_refused_by_the_verification_stage() {
    let mut m = market(&cfg(200));
    let mut flows = flow(&mut m.clients, &m.instruments, 200, 1, 5, false);
    let exchange_key = m.shard.exchange.public_key();
    let reqs = &mut flows[0];
    // Every tenth request: tampered body, or a signature flipped.
    let mut bad = HashSet::new();
    for (k, r) in reqs.iter_mut().enumerate() {
        if k % 10 == 3 {
            if let Request::Order(o) = r {
                o.body.quantity += 10;
            }
            bad.insert(k as u64 + 1);
        } else if k % 10 == 7 {
            if let Request::Order(o) = r {
                if let MessageSignature::Single(s) = &mut o.signature {
                    s.0[5] ^= 4;
                }
            }
            bad.insert(k as u64 + 1);
        }
    }
    let rt = Runtime::start(
        RuntimeConfig {
            verify_workers: 1,
            verify_batch: 16,
            ..RuntimeConfig::default()
        },
        vec![m.shard],
    )
    .expect("start");
    let d = drive(&rt, flows, None, true);
    let out = rt.shutdown();
    assert_eq!(d.responses, 200);
    for r in d.responses_kept.iter().flatten() {
        if bad.contains(&r.ticket) {
            let n = r.answer.as_ref().expect_err("refused");
            assert_eq!(n.body.reason, Refusal::BadSignature.code());
            assert_eq!(r.sequence, None, "never reached the sequencer");
            n.verify(&exchange_key).expect("the refusal is signed");
        } else {
            assert!(r.sequence.is_some());
        }
    }
    assert_eq!(out.stats.refused_unverified, bad.len() as u64);
    assert!(
        out.stats.verify_fallbacks > 0,
        "single verification named culprits"
    );
}

#[test]
fn trusted_gateway_matches_and_transfers_without_signatures() {
    let mut m = market(&cfg(2000));
    let flows = flow(&mut m.clients, &m.instruments, 2000, 2, 13, true);
    let instruments = m.instruments.clone();
    let rt = Runtime::start(
        RuntimeConfig {
            trusted_gateway: true,
            ..RuntimeConfig::default()
        },
        vec![m.shard],
    )
    .expect("start");
    let reader = rt.depth_reader(instruments[0]).expect("depth reader");
    let mut sub = rt.subscribe_from_oldest(0).expect("subscriber");
    let d = drive(&rt, flows, None, true);
    let out = rt.shutdown();
    assert_eq!(d.responses, 2000);
    assert!(d.accepted > 1900, "accepted {}", d.accepted);
    // Answers are not signed in this mode.
    assert!(d.responses_kept.iter().flatten().all(|r| match &r.answer {
        Ok(x) => x.is_pending(),
        Err(x) => x.is_pending(),
    }));
    assert_eq!(out.stats.verified, 0);
    let shard = &out.shards[0];
    assert!(shard.exchange.stats().matches > 200);
    // Register documents were still batch-signed and handed back.
    shard
        .exchange
        .check_invariants(&shard.register, &shard.ledger)
        .expect("invariants");
    // Market data: the published depth equals the final book; the event
    // stream carried the trades.
    let snap = reader.read();
    let book = shard.exchange.book(instruments[0]).unwrap();
    assert_eq!(snap.best_bid(), book.best_bid());
    assert_eq!(snap.best_ask(), book.best_ask());
    let mut trades = 0u64;
    loop {
        match sub.poll() {
            Poll::Event(e) => {
                if matches!(e.event, kabuken::book::Event::Trade { .. }) {
                    trades += 1;
                }
            }
            Poll::Lagged { .. } => {}
            Poll::Empty => break,
        }
    }
    assert_eq!(trades, shard.exchange.stats().trades);
}

#[test]
fn start_refuses_bad_configuration() {
    let m = market(&cfg(10));
    let r = Runtime::start(
        RuntimeConfig {
            sign_batch: 0,
            ..RuntimeConfig::default()
        },
        vec![m.shard],
    );
    assert!(r.is_err());
    assert!(Runtime::start(RuntimeConfig::default(), Vec::new()).is_err());
}

#[test]
fn two_shards_route_orders_and_cancels_and_each_replays_alone() {
    use kabuken::exchange::CancelRequest;
    let a_cfg = MarketConfig {
        seed: 21,
        ..cfg(600)
    };
    let b_cfg = MarketConfig {
        seed: 22,
        first_instrument: 200,
        ..cfg(600)
    };
    let mut a = market(&a_cfg);
    let mut b = market(&b_cfg);
    let fa = flow(&mut a.clients, &a.instruments, 600, 2, 1, false);
    let fb = flow(&mut b.clients, &b.instruments, 600, 2, 2, false);
    // Each producer carries flow of both shards.
    let flows: Vec<Vec<Request>> = fa
        .into_iter()
        .zip(fb)
        .map(|(x, y)| x.into_iter().chain(y).collect())
        .collect();
    let rt = Runtime::start(
        RuntimeConfig {
            verify_workers: 2,
            journal: true,
            ..RuntimeConfig::default()
        },
        vec![a.shard, b.shard],
    )
    .expect("start");
    let d = drive(&rt, flows, None, true);
    assert_eq!(d.responses, 1200);
    assert!(d.accepted > 1100, "accepted {}", d.accepted);
    // Reception numbers name their shard: odd for shard 0, even for 1.
    let receipts: Vec<_> = d
        .responses_kept
        .iter()
        .flatten()
        .filter_map(|r| r.answer.as_ref().ok())
        .map(|r| (r.body.user_id, r.body.reception_number))
        .collect();
    // One order per shard that certainly rests (a buy at the bottom of the
    // band, where nothing sells), to be cancelled below.
    let mut p = rt.producer(64, ResponseSink::Queue).expect("producer");
    let mut resting = Vec::new();
    for (k, (clients, inst)) in [
        (&mut a.clients, a.instruments[0]),
        (&mut b.clients, b.instruments[0]),
    ]
    .into_iter()
    .enumerate()
    {
        let c = &mut clients[0];
        let req = c.sign(kabuken::exchange::OrderRequest {
            user_id: c.id,
            instrument: inst,
            class: 0,
            side: kabuken::types::Side::Buy,
            price: Some(kabuken::exchange::sim::MID - kabuken::exchange::sim::BAND),
            quantity: kabuken::exchange::sim::LOT,
            tif: kabuken::book::TimeInForce::Gtc,
            post_only: false,
            certificates: Vec::new(),
            name_address: format!("Investor {}, Tokyo", c.id),
            account: c.id,
            cash_cap: None,
            seq: 0,
        });
        p.submit_wait(Request::Order(req), |_| {}).expect("submit");
        let r = p.recv_timeout(Duration::from_secs(30)).expect("answer");
        let rn = r
            .answer
            .expect("a resting buy is accepted")
            .body
            .reception_number;
        assert_eq!(rn % 2, if k == 0 { 1 } else { 0 }, "numbered by its shard");
        resting.push((c.id, rn));
    }
    // Cancel those, and a few orders of each shard (resting or not: the
    // answer says).
    let mut sent = 0;
    for (user, rn) in resting.iter().chain(receipts.iter().step_by(37).take(16)) {
        let clients = if rn % 2 == 1 {
            &mut a.clients
        } else {
            &mut b.clients
        };
        let c = clients.iter_mut().find(|c| c.id == *user).expect("client");
        let req = c.sign(CancelRequest {
            user_id: *user,
            reception_number: *rn,
            seq: 0,
        });
        p.submit_wait(Request::Cancel(req), |_| {}).expect("submit");
        sent += 1;
    }
    let mut answers = Vec::new();
    while answers.len() < sent {
        answers.push(p.recv_timeout(Duration::from_secs(30)).expect("answer"));
    }
    // A cancel routed to the wrong shard would be refused as an unknown
    // order: the two resting orders' cancels are accepted.
    for (user, rn) in &resting {
        let r = answers
            .iter()
            .find(|r| {
                r.answer
                    .as_ref()
                    .is_ok_and(|x| x.body.reception_number == *rn)
            })
            .unwrap_or_else(|| {
                panic!("the cancel of resting order {rn} of {user} reached its shard")
            });
        assert_eq!(r.answer.as_ref().map(|x| x.body.request_kind).ok(), Some(1));
    }
    for r in &answers {
        if let Err(n) = &r.answer {
            assert_eq!(n.body.reason, Refusal::UnknownOrder.code());
        }
    }
    let out = rt.shutdown();
    for s in &out.shards {
        s.exchange
            .check_invariants(&s.register, &s.ledger)
            .expect("invariants of each shard");
        assert!(s.exchange.stats().matches > 0);
    }
    // Each shard's journal alone reproduces that shard.
    for (k, c) in [a_cfg, b_cfg].iter().enumerate() {
        let mut again = market(c);
        let _ = flow(
            &mut again.clients,
            &again.instruments,
            600,
            2,
            k as u64 + 1,
            false,
        );
        replay_journal(&mut again.shard, &out.journal[k]);
        assert_eq!(
            again.shard.state_hash(),
            out.shards[k].state_hash(),
            "shard {k}"
        );
    }
}

#[test]
fn controls_onboard_revoke_and_end_the_day_in_sequence() {
    use kabuken::book::TimeInForce;
    use kabuken::crypto::{KeyPair, Validity};
    use kabuken::exchange::{OrderRequest, OrderState};
    use kabuken::identity::{CertificateAuthority, Policy, Role};
    use kabuken::runtime::{Control, ControlError};
    use kabuken::types::Side;
    use rust_decimal::Decimal;

    let c = cfg(50);
    let mut m = market(&c);
    let validity = Validity {
        not_before: 0,
        not_after: u64::MAX / 2,
    };
    let policy = Policy {
        usage_limit: u64::MAX / 4,
        per_order_max: 10_000,
        short_sale_ban: true,
    };
    let newcomer = 5000;
    let key = KeyPair::from_seed(&[42; 32]);
    let att =
        m.ca.issue(
            newcomer,
            "Newcomer",
            &key.public(),
            validity,
            Role::Investor,
            policy,
        )
        .expect("attestation");
    let att_serial = att.body.serial;
    let mut rogue = CertificateAuthority::new(1, "kabuken CA", KeyPair::from_seed(&[9; 32]));
    let forged = rogue
        .issue(
            6000,
            "Rogue",
            &key.public(),
            validity,
            Role::Investor,
            policy,
        )
        .expect("rogue attestation");
    let inst = m.instruments[0];
    let order = |seq: u64, tif: TimeInForce| {
        Request::Order(Signed::sign(
            OrderRequest {
                user_id: newcomer,
                instrument: inst,
                class: 0,
                side: Side::Buy,
                price: Some(kabuken::exchange::sim::MID - 400),
                quantity: 10,
                tif,
                post_only: false,
                certificates: Vec::new(),
                name_address: "Newcomer, Osaka".into(),
                account: newcomer,
                cash_cap: None,
                seq,
            },
            newcomer,
            &key,
        ))
    };
    let rt = Runtime::start(
        RuntimeConfig {
            journal: true,
            ..RuntimeConfig::default()
        },
        vec![m.shard],
    )
    .expect("start");
    rt.set_time(10);
    let mut p = rt.producer(16, ResponseSink::Queue).expect("producer");
    let wait = Duration::from_secs(30);
    // Unknown before it joins: refused at verification.
    p.submit(order(1, TimeInForce::Day)).unwrap();
    let r = p.recv_timeout(wait).unwrap();
    assert_eq!(
        r.answer.unwrap_err().body.reason,
        Refusal::UnknownParty.code()
    );
    // A credential of another CA is refused at once; nothing queued.
    assert!(matches!(
        rt.control(0, Control::AddParty(forged)),
        Err(ControlError::BadCredential(_))
    ));
    assert!(matches!(
        rt.control(9, Control::EndOfDay),
        Err(ControlError::NoSuchShard(9))
    ));
    // Joins, opens an account, pays in; then trades.
    for ctl in [
        Control::AddParty(att),
        Control::OpenAccount {
            account: newcomer,
            owner: newcomer,
        },
        Control::Deposit {
            account: newcomer,
            amount: Decimal::from(1_000_000),
        },
    ] {
        assert_eq!(rt.control(0, ctl).unwrap().wait(wait), Some(Ok(())));
    }
    // A deposit to an account that does not exist: refused in sequence.
    let bad = rt
        .control(
            0,
            Control::Deposit {
                account: 999_999,
                amount: Decimal::ONE,
            },
        )
        .unwrap();
    assert!(matches!(
        bad.wait(wait),
        Some(Err(ControlError::Settlement(_)))
    ));
    p.submit(order(2, TimeInForce::Day)).unwrap();
    let day = p.recv_timeout(wait).unwrap().answer.expect("accepted");
    let day_order = day.body.reception_number;
    // End of day: the day order expires.
    assert_eq!(
        rt.control(0, Control::EndOfDay).unwrap().wait(wait),
        Some(Ok(()))
    );
    // Revoked: refused by the sequencer (the signature still verifies).
    let out_rev = m.ca.revoke(&[att_serial], 12);
    assert_eq!(
        rt.control(0, Control::Revoke(out_rev)).unwrap().wait(wait),
        Some(Ok(()))
    );
    p.submit(order(3, TimeInForce::Gtc)).unwrap();
    let r = p.recv_timeout(wait).unwrap();
    assert!(r.sequence.is_some(), "verified, then refused in sequence");
    assert_eq!(
        r.answer.unwrap_err().body.reason,
        Refusal::AttestationRevoked.code()
    );
    let out = rt.shutdown();
    let s = &out.shards[0];
    assert_eq!(
        s.exchange.order(day_order).unwrap().state,
        OrderState::Expired
    );
    s.exchange
        .check_invariants(&s.register, &s.ledger)
        .expect("invariants");
    // The journal, controls included, replays to the same state.
    let mut again = market(&c);
    replay_journal(&mut again.shard, &out.journal[0]);
    assert_eq!(again.shard.state_hash(), s.state_hash());
    assert_eq!(
        again.shard.exchange.order(day_order).unwrap().state,
        OrderState::Expired
    );
}

#[test]
fn batch_signed_certificates_from_the_runtime_trade_again_synchronously() {
    use kabuken::book::TimeInForce;
    use kabuken::exchange::OrderRequest;
    use kabuken::register::CertificateRequest;
    use kabuken::types::Side;

    let mut m = market(&cfg(300));
    let f = flow(&mut m.clients, &m.instruments, 300, 2, 9, false);
    let rt = Runtime::start(RuntimeConfig::default(), vec![m.shard]).expect("start");
    let d = drive(&rt, f, None, false);
    assert_eq!(d.responses, 300);
    let mut out = rt.shutdown();
    let s = &mut out.shards[0];
    let t = s.register.transfers()[0].clone();
    // The buyer claims its certificate: the register's copy, batch-signed.
    let buyer = m.clients.iter_mut().find(|c| c.id == t.buyer).unwrap();
    let claim = buyer.sign(CertificateRequest {
        user_id: t.buyer,
        transfer_number: t.transfer_number,
        dividend_account: String::new(),
        seq: 0,
    });
    let cert = s
        .register
        .claim_certificate(&claim, 1_000)
        .expect("claimed");
    assert!(matches!(cert.signature, MessageSignature::Batch(_)));
    cert.verify(&s.register.public_key()).expect("verifies");
    let back = Signed::from_bytes(&cert.to_bytes()).expect("wire round trip");
    assert_eq!(back, cert);
    // It sells it on the synchronous exchange; another investor buys.
    let sell = buyer.sign(OrderRequest {
        user_id: t.buyer,
        instrument: t.instrument,
        class: 0,
        side: Side::Sell,
        price: Some(kabuken::exchange::sim::MID - 900),
        quantity: t.quantity,
        tif: TimeInForce::Gtc,
        post_only: false,
        certificates: vec![cert.clone()],
        name_address: "seller".into(),
        account: t.buyer,
        cash_cap: None,
        seq: 0,
    });
    let before = s.exchange.matches().len();
    s.exchange
        .submit(&sell, 1_000, &mut s.register, &mut s.ledger)
        .expect("a batch-signed certificate is accepted");
    let other = m.clients.iter_mut().find(|c| c.id != t.buyer).unwrap();
    let other_id = other.id;
    let buy = other.sign(OrderRequest {
        user_id: other_id,
        instrument: t.instrument,
        class: 0,
        side: Side::Buy,
        price: Some(kabuken::exchange::sim::MID - 900),
        quantity: t.quantity,
        tif: TimeInForce::Ioc,
        post_only: false,
        certificates: Vec::new(),
        name_address: "buyer".into(),
        account: other_id,
        cash_cap: None,
        seq: 0,
    });
    s.exchange
        .submit(&buy, 1_000, &mut s.register, &mut s.ledger)
        .expect("buy accepted");
    let after = s.exchange.matches();
    assert!(after.len() > before, "it traded");
    assert!(after[before..].iter().any(|x| x.cert_id == cert.body.id));
    s.exchange
        .check_invariants(&s.register, &s.ledger)
        .expect("invariants");
}

#[test]
fn a_failed_sequencer_stops_the_runtime_without_hanging_it() {
    use kabuken::exchange::{OrderRequest, ReceptionHook};
    // A reception hook with a bug: it panics on the fifth order.
    struct Buggy;
    impl ReceptionHook for Buggy {
        fn admit(&mut self, _o: &Signed<OrderRequest>, reception: u64, _now: u64) -> bool {
            assert!(reception != 5, "a bug in a hook");
            true
        }
    }
    let mut m = market(&cfg(100));
    let f = flow(&mut m.clients, &m.instruments, 100, 1, 3, false);
    m.shard.exchange.set_reception_hook(Box::new(Buggy));
    let rt = Runtime::start(RuntimeConfig::default(), vec![m.shard]).expect("start");
    let mut p = rt.producer(256, ResponseSink::Queue).expect("producer");
    let mut closed = 0;
    for r in f.into_iter().flatten() {
        if let Err(SubmitError::Closed(_)) = p.submit_wait(r, |_| {}) {
            closed += 1;
        }
    }
    // The runtime noticed, took no more requests, and shuts down.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !rt.failed() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(rt.failed());
    let out = rt.shutdown();
    assert_eq!(out.failed_shards, vec![0]);
    assert!(out.shards.is_empty());
    assert!(closed > 0 || out.stats.sequenced < 100);
    let mut answered = 0;
    while p.try_recv().is_some() {
        answered += 1;
    }
    assert!(answered >= 4, "the orders before the bug were answered");
}

#[test]
fn renewed_keys_reach_verification_and_stale_ones_fail_closed() {
    use kabuken::book::TimeInForce;
    use kabuken::crypto::{KeyPair, Validity};
    use kabuken::exchange::OrderRequest;
    use kabuken::identity::{Policy, Role};
    use kabuken::runtime::{Control, ControlError};
    use kabuken::types::Side;

    let mut m = market(&cfg(20));
    let validity = Validity {
        not_before: 0,
        not_after: u64::MAX / 2,
    };
    let policy = Policy {
        usage_limit: u64::MAX / 4,
        per_order_max: 10_000,
        short_sale_ban: true,
    };
    let user = 7000;
    let (ka, kb, kc) = (
        KeyPair::from_seed(&[1; 32]),
        KeyPair::from_seed(&[2; 32]),
        KeyPair::from_seed(&[3; 32]),
    );
    let mut att = |k: &KeyPair| {
        m.ca.issue(
            user,
            "Renewing",
            &k.public(),
            validity,
            Role::Investor,
            policy,
        )
        .expect("attestation")
    };
    let (att_a, att_b, att_c) = (att(&ka), att(&kb), att(&kc));
    let revoke_c = m.ca.revoke(&[att_c.body.serial], 1);
    let inst = m.instruments[0];
    let mut seq = 0;
    let mut order = |k: &KeyPair| {
        seq += 1;
        Request::Order(Signed::sign(
            OrderRequest {
                user_id: user,
                instrument: inst,
                class: 0,
                side: Side::Buy,
                price: Some(kabuken::exchange::sim::MID - 500),
                quantity: 10,
                tif: TimeInForce::Gtc,
                post_only: false,
                certificates: Vec::new(),
                name_address: "Renewing".into(),
                account: 1000,
                cash_cap: None,
                seq,
            },
            user,
            k,
        ))
    };
    let rt = Runtime::start(RuntimeConfig::default(), vec![m.shard]).expect("start");
    let wait = Duration::from_secs(30);
    let mut p = rt.producer(8, ResponseSink::Queue).expect("producer");
    let mut send = |r: Request| {
        p.submit(r).expect("submit");
        p.recv_timeout(wait).expect("answer")
    };
    let ok = |c: Control| rt.control(0, c).unwrap().wait(wait).unwrap();
    assert_eq!(ok(Control::AddParty(att_a.clone())), Ok(()));
    // Account 1000 is another investor's: refused in sequence, but the
    // signature passed (the point here is the key, not the account).
    let r = send(order(&ka));
    assert!(r.sequence.is_some());
    assert_eq!(
        r.answer.unwrap_err().body.reason,
        Refusal::NotAccountOwner.code()
    );
    // Renewed: the new key is used, the old one is refused.
    assert_eq!(ok(Control::AddParty(att_b)), Ok(()));
    let r = send(order(&ka));
    assert_eq!(r.sequence, None);
    assert_eq!(
        r.answer.unwrap_err().body.reason,
        Refusal::BadSignature.code()
    );
    assert!(send(order(&kb)).sequence.is_some());
    // The older attestation again: refused, and the directory keeps B.
    assert!(matches!(
        ok(Control::AddParty(att_a)),
        Err(ControlError::Identity(_))
    ));
    assert!(send(order(&kb)).sequence.is_some());
    // A revoked attestation added by mistake: the stores refuse it; a
    // request signed with its key passes verification but the sequencer
    // sees that the exchange holds another key: refused, fail closed.
    assert_eq!(ok(Control::Revoke(revoke_c)), Ok(()));
    assert!(matches!(
        ok(Control::AddParty(att_c)),
        Err(ControlError::Identity(_))
    ));
    let r = send(order(&kc));
    assert!(r.sequence.is_some(), "verified with the directory's key");
    assert_eq!(
        r.answer.unwrap_err().body.reason,
        Refusal::BadSignature.code()
    );
    let _ = rt.shutdown();
}
