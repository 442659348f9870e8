//! The runtime through the C ABI against the synchronous engine: four
//! threads, each an investor with its own `kbk_producer`, submit signed
//! orders (sells with freshly issued certificates) to a `kbk_runtime`
//! with small queues; then the same requests, in the order of the global
//! sequence numbers the runtime gave them, go through a synchronous engine
//! exchange built from the same seeds. Every decision (refusal code,
//! reception number) and the match list must agree, and every answer of
//! the runtime must verify with the exchange's key.

use crate::abi_exchange_tests::{
    c_side, ok, parties, rust_side, same_matches, take, INST, INVESTORS,
};
use crate::exchange::*;
use crate::message::*;
use crate::register::*;
use crate::runtime::*;
use crate::status::*;
use core::ptr::null_mut;
use engine::book::TimeInForce;
use engine::certs::ShareClass;
use engine::crypto::Signed;
use engine::exchange::OrderRequest;
use engine::register::IssueRequest;
use engine::replay::synth::SplitMix64;
use engine::types::Side;

const PER_INVESTOR: usize = 60;
const NOW: u64 = 50;

/// One decision: (refusal code, reception number).
type Decision = (u32, u64);

#[test]
fn the_runtime_through_c_decides_as_the_synchronous_exchange() {
    let (ca_key, inv, atts) = parties();
    let att_bytes: Vec<Vec<u8>> = atts.iter().map(Signed::to_bytes).collect();
    let mut r = rust_side(&atts, &ca_key);
    let c = c_side(&att_bytes, &ca_key);

    // Every investor's requests, signed up front; sellers' certificates are
    // issued on both sides (identical, signatures are deterministic).
    let mut rng = SplitMix64::new(11);
    let mut requests: Vec<Vec<Vec<u8>>> = vec![Vec::new(); INVESTORS as usize];
    for (i, key) in inv.iter().enumerate() {
        let user = 100 + i as u64;
        let mut seq = 0;
        for _ in 0..PER_INVESTOR {
            let side = if rng.chance(50) {
                Side::Sell
            } else {
                Side::Buy
            };
            let quantity = 1 + rng.below(20);
            let mut certificates = Vec::new();
            if side == Side::Sell {
                seq += 1;
                let issue = Signed::sign(
                    IssueRequest {
                        user_id: user,
                        name_address: "n".into(),
                        instrument: INST,
                        class: ShareClass::Common,
                        quantity: quantity + rng.below(5),
                        dividend_account: "d".into(),
                        seq,
                    },
                    user,
                    key,
                );
                let ib = issue.to_bytes();
                let rc = r.reg.issue(&issue, NOW).unwrap();
                let mut cc = null_mut();
                ok(kbk_register_issue(
                    c.reg,
                    ib.as_ptr(),
                    ib.len(),
                    NOW,
                    &mut cc,
                ));
                assert_eq!(take(cc), rc.to_bytes());
                certificates.push(rc);
            }
            seq += 1;
            let o = OrderRequest {
                user_id: user,
                instrument: INST,
                class: 0,
                side,
                price: Some(990 + rng.below(20) as i64),
                quantity,
                tif: if rng.chance(20) {
                    TimeInForce::Ioc
                } else {
                    TimeInForce::Gtc
                },
                post_only: false,
                certificates,
                name_address: "n".into(),
                account: user,
                cash_cap: None,
                seq,
            };
            requests[i].push(Signed::sign(o, user, key).to_bytes());
        }
    }
    let mut ex_pk = [0u8; 32];
    ok(kbk_exchange_public_key(c.ex, ex_pk.as_mut_ptr()));

    let mut cfg = kbk_runtime_config::default();
    ok(kbk_runtime_config_default(&mut cfg));
    cfg.verify_workers = 2;
    cfg.ingress_capacity = 4;
    cfg.shard_capacity = 4;
    cfg.sign_capacity = 4;
    cfg.sign_batch = 8;
    cfg.notifications = KBK_NOTIFY_QUEUE;
    cfg.notification_capacity = 1 << 16;
    let mut rt = null_mut();
    ok(kbk_runtime_start(
        &cfg, &c.ex, &c.reg, &c.ledger, 1, &mut rt,
    ));
    ok(kbk_runtime_set_time(rt, NOW));
    assert_eq!(
        kbk_exchange_public_key(c.ex, ex_pk.as_mut_ptr()),
        KBK_STATUS_IN_USE
    );

    // (sequence, request bytes, decision) from every thread.
    let rt_addr = rt as usize;
    let results: Vec<Vec<(u64, Vec<u8>, Decision)>> = std::thread::scope(|s| {
        let hs: Vec<_> = requests
            .iter()
            .map(|reqs| {
                s.spawn(move || {
                    let rt = rt_addr as *const kbk_runtime;
                    let mut p = null_mut();
                    ok(kbk_runtime_producer_new(rt, 4, None, null_mut(), &mut p));
                    let mut got = Vec::new();
                    let mut tickets = Vec::new();
                    let recv = |got: &mut Vec<(u64, u64, Decision)>| loop {
                        let mut resp = kbk_response::default();
                        let mut a = null_mut();
                        match kbk_producer_try_recv(p, &mut resp, &mut a) {
                            KBK_STATUS_NOT_FOUND => return,
                            st => ok(st),
                        }
                        assert_eq!(resp.has_sequence, 1);
                        ok(kbk_message_verify(a, ex_pk.as_ptr()));
                        got.push((
                            resp.ticket,
                            resp.sequence,
                            (resp.refusal, resp.reception_number),
                        ));
                        kbk_message_free(a);
                    };
                    for b in reqs {
                        let mut t = 0;
                        loop {
                            match kbk_producer_submit(p, b.as_ptr(), b.len(), &mut t) {
                                KBK_STATUS_RUNTIME_FULL => {
                                    recv(&mut got);
                                    std::thread::yield_now();
                                }
                                st => {
                                    ok(st);
                                    break;
                                }
                            }
                        }
                        tickets.push(t);
                    }
                    while got.len() < reqs.len() {
                        recv(&mut got);
                        std::thread::yield_now();
                    }
                    kbk_producer_free(p);
                    assert_eq!(tickets, (1..=reqs.len() as u64).collect::<Vec<_>>());
                    got.sort_by_key(|g| g.0);
                    got.iter()
                        .zip(reqs)
                        .map(|(&(_, seq, d), b)| (seq, b.clone(), d))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let mut stats = kbk_runtime_counters::default();
    ok(kbk_runtime_shutdown(
        rt, &c.ex, &c.reg, &c.ledger, 1, &mut stats,
    ));
    let total = INVESTORS as usize * PER_INVESTOR;
    assert_eq!(stats.submitted, total as u64);
    assert_eq!(stats.responses, total as u64);
    assert_eq!(stats.sequenced, total as u64);

    // The synchronous exchange, in the runtime's sequence order.
    let mut all: Vec<_> = results.into_iter().flatten().collect();
    all.sort_by_key(|x| x.0);
    for (k, (seq, b, d)) in all.iter().enumerate() {
        assert_eq!(*seq, k as u64 + all[0].0, "sequence numbers are dense");
        let req = Signed::<OrderRequest>::from_bytes(b).unwrap();
        let want = match r.ex.submit(&req, NOW, &mut r.reg, &mut r.ledger) {
            Ok(rc) => (0, rc.body.reception_number),
            Err(n) => (u32::from(n.body.reason), n.body.reception_number),
        };
        assert_eq!(*d, want, "request with sequence {seq}");
    }
    let n = same_matches(&c, &r);

    // Every completion notice went to the queue, signed by the exchange.
    let mut completions = 0;
    loop {
        let mut o = kbk_outgoing::default();
        let mut m = null_mut();
        match kbk_runtime_next_notification(rt, &mut o, &mut m) {
            KBK_STATUS_NOT_FOUND => break,
            st => ok(st),
        }
        if o.kind == KBK_OUT_COMPLETION {
            completions += 1;
            ok(kbk_message_verify(m, ex_pk.as_ptr()));
        }
        kbk_message_free(m);
    }
    assert_eq!(completions, 2 * n);

    kbk_runtime_free(rt);
    c.free();
}

/// A reception hook with a bug: it panics on the third order.
struct Buggy;

impl engine::exchange::ReceptionHook for Buggy {
    fn admit(&mut self, _o: &Signed<OrderRequest>, reception: u64, _now: u64) -> bool {
        assert!(reception != 3, "a bug in a hook");
        true
    }
}

#[test]
fn a_failed_sequencer_poisons_its_handles_at_shutdown() {
    let (ca_key, inv, atts) = parties();
    let att_bytes: Vec<Vec<u8>> = atts.iter().map(Signed::to_bytes).collect();
    let c = c_side(&att_bytes, &ca_key);
    ok(with_mut(c.ex.cast::<ExchangeHandle>(), |h| {
        h.ex.set_reception_hook(Box::new(Buggy));
        Ok(())
    }));
    let cfg = kbk_runtime_config::default();
    let mut rt = null_mut();
    ok(kbk_runtime_start(
        &cfg, &c.ex, &c.reg, &c.ledger, 1, &mut rt,
    ));
    let mut p = null_mut();
    ok(kbk_runtime_producer_new(rt, 16, None, null_mut(), &mut p));
    for seq in 1..=10 {
        let o = OrderRequest {
            user_id: 100,
            instrument: INST,
            class: 0,
            side: Side::Buy,
            price: Some(1000),
            quantity: 5,
            tif: TimeInForce::Gtc,
            post_only: false,
            certificates: Vec::new(),
            name_address: "n".into(),
            account: 100,
            cash_cap: None,
            seq,
        };
        let b = Signed::sign(o, 100, &inv[0]).to_bytes();
        let mut t = 0;
        let s = kbk_producer_submit(p, b.as_ptr(), b.len(), &mut t);
        assert!(
            [
                KBK_STATUS_OK,
                KBK_STATUS_RUNTIME_FULL,
                KBK_STATUS_RUNTIME_CLOSED
            ]
            .contains(&s),
            "{s}"
        );
    }
    let mut failed = 0u8;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while failed == 0 && std::time::Instant::now() < deadline {
        ok(kbk_runtime_failed(rt, &mut failed));
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    assert_eq!(failed, 1);
    let mut stats = kbk_runtime_counters::default();
    assert_eq!(
        kbk_runtime_shutdown(rt, &c.ex, &c.reg, &c.ledger, 1, &mut stats),
        KBK_STATUS_RUNTIME_SHARD_FAILED
    );
    assert_eq!(stats.submitted, 0, "nothing written on failure");
    ok(kbk_runtime_stats(rt, &mut stats));
    assert!(stats.submitted >= 3);
    // The failed shard's handles cannot be trusted: poisoned (freeing works).
    let mut pk = [0u8; 32];
    assert_eq!(
        kbk_exchange_public_key(c.ex, pk.as_mut_ptr()),
        KBK_STATUS_POISONED
    );
    assert_eq!(kbk_register_audit(c.reg), KBK_STATUS_POISONED);
    assert_eq!(kbk_ledger_check(c.ledger), KBK_STATUS_POISONED);
    kbk_producer_free(p);
    kbk_runtime_free(rt);
    c.free();
}
