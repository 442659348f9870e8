//! The trusted gateway through the C ABI against the engine: the same
//! seeded flow of buys, sells (each naming a certificate its seller may or
//! may not still hold), cancels and refused requests goes through the
//! engine's `Gateway::apply_batch`, through `kbk_gateway_apply` in uneven
//! chunks (reports into small caller arrays, the rest taken from the
//! queue), through `kbk_gateway_apply_callback`, and through a
//! `kbk_gateway_runtime` with one producer and tiny queues. Every report,
//! the state hash, the counters, accounts, certificates, orders and
//! transfers must agree; and the documents made through C are the engine's
//! bytes.

use crate::abi_exchange_tests::{ok, take};
use crate::crypto::*;
use crate::gateway::*;
use crate::runtime::kbk_quote;
use crate::status::*;
use core::ffi::c_void;
use core::ptr::{null, null_mut};
use engine::certs::{CertIdKey, IdState};
use engine::crypto::KeyPair;
use engine::replay::synth::SplitMix64;
use engine::runtime::gateway::{
    DocumentInfo, Gateway, GatewayInstrument, GatewayOrder, GatewayReport, TIF_FOK, TIF_IOC,
};

const ACCOUNTS: u32 = 6;
const ORDERS: usize = 3000;

fn spec(id: u32) -> GatewayInstrument {
    GatewayInstrument {
        id,
        tick_value: 3,
        lot_size: 10,
        band_low: 90,
        band_high: 110,
        max_qty: 10_000,
    }
}

/// The engine's gateway and the C one, set up alike.
fn both() -> (Gateway, *mut kbk_gateway, Vec<u64>) {
    let mut g = Gateway::new();
    let mut c = null_mut();
    ok(kbk_gateway_new(&mut c));
    let mut certs = Vec::new();
    for id in [5, 6] {
        let s = spec(id);
        let i = g.add_instrument(s).unwrap();
        let cs = kbk_gateway_instrument {
            tick_value: s.tick_value,
            lot_size: s.lot_size,
            band_low: s.band_low,
            band_high: s.band_high,
            max_qty: s.max_qty,
            id,
            reserved: 0,
        };
        let mut ci = 99;
        ok(kbk_gateway_add_instrument(c, &cs, &mut ci));
        assert_eq!(ci, i);
    }
    for a in 0..ACCOUNTS {
        let cash = 5_000_000 * i64::from(a % 3);
        let i = g.open_account(1000 + u64::from(a), cash).unwrap();
        let mut ci = 99;
        ok(kbk_gateway_open_account(
            c,
            1000 + u64::from(a),
            cash,
            &mut ci,
        ));
        assert_eq!(ci, i);
        if a % 3 == 0 {
            g.deposit(a, 1).unwrap();
            ok(kbk_gateway_deposit(c, a, 1));
        }
        for inst in 0..2 {
            let s = g.issue(a, inst, 200 + 10 * u64::from(a)).unwrap();
            let mut cs = 0;
            ok(kbk_gateway_issue(
                c,
                a,
                inst,
                200 + 10 * u64::from(a),
                &mut cs,
            ));
            assert_eq!(cs, s);
            certs.push(s);
        }
    }
    (g, c, certs)
}

/// A seeded flow: sells mostly name a live certificate of their seller
/// (found by running the flow on a scratch gateway as it is made), some a
/// random one (refused unless it happens to fit); cancels name earlier
/// orders; one account index in seven is unknown.
fn flow(seed: u64, prelude: fn(&mut Gateway)) -> Vec<GatewayOrder> {
    let (mut scratch, c, _) = both();
    kbk_gateway_free(c);
    prelude(&mut scratch);
    let mut rng = SplitMix64::new(seed);
    let mut v = Vec::with_capacity(ORDERS);
    let mut sink = Vec::new();
    for k in 0..ORDERS {
        let tag = k as u64 + 1;
        let account = rng.below(u64::from(ACCOUNTS) + 1) as u32;
        let inst = rng.below(2) as u32;
        let price = 95 + rng.below(11) as i64;
        let qty = 10 * (1 + rng.below(8));
        let o = match rng.below(10) {
            0..=3 => GatewayOrder::buy(tag, account, inst, price, qty),
            4..=7 => {
                let live: Vec<u64> = scratch
                    .holdings(account)
                    .filter(|c| c.instrument == inst && c.state == IdState::Live)
                    .map(|c| c.serial)
                    .collect();
                let cert = if live.is_empty() || rng.chance(10) {
                    1 + rng.below(scratch.certificate_count() + 2)
                } else {
                    live[rng.below(live.len() as u64) as usize]
                };
                GatewayOrder::sell(tag, account, inst, price, qty, cert)
            }
            _ => GatewayOrder::cancel(tag, account, 1 + rng.below(tag)),
        };
        let o = match rng.below(10) {
            0 => o.with_tif(TIF_IOC),
            1 => o.with_tif(TIF_FOK),
            _ => o,
        };
        scratch.apply(0, tag, &o, &mut sink);
        v.push(o);
    }
    v
}

fn to_c(o: &GatewayOrder) -> kbk_gateway_order {
    kbk_gateway_order {
        tag: o.tag,
        price: o.price,
        qty: o.qty,
        cert: o.cert,
        order: o.order,
        account: o.account,
        instrument: o.instrument,
        kind: o.kind,
        tif: o.tif,
        reserved: o.reserved,
    }
}

fn engine_reports(g: &mut Gateway, orders: &[GatewayOrder]) -> Vec<kbk_gateway_report> {
    let mut out = Vec::new();
    let first = g.next_seq();
    g.apply_batch(0, first, orders, &mut out);
    out.iter().map(|(_, r)| report_to_c(r)).collect()
}

fn hash(c: *mut kbk_gateway) -> [u8; 32] {
    let mut h = [0u8; 32];
    ok(kbk_gateway_state_hash(c, h.as_mut_ptr()));
    h
}

/// Everything a query can show agrees between the engine and C.
fn same_state(g: &Gateway, c: *mut kbk_gateway) {
    assert_eq!(hash(c), g.state_hash());
    ok(kbk_gateway_check_invariants(c));
    g.check_invariants().unwrap();
    let mut st = kbk_gateway_counters::default();
    ok(kbk_gateway_stats(c, &mut st));
    let s = g.stats();
    assert_eq!(
        (st.requests, st.accepted, st.refused, st.fills),
        (s.requests, s.accepted, s.refused, s.fills)
    );
    assert_eq!(
        u128::from(st.shares_lo) | (u128::from(st.shares_hi) << 64),
        s.shares
    );
    assert_eq!(
        u128::from(st.value_lo) | (u128::from(st.value_hi) << 64),
        s.value
    );
    assert_eq!(st.certificates, g.certificate_count());
    assert_eq!(st.orders, g.order_count());
    assert!(s.fills > 100, "the flow trades: {s:?}");
    for a in 0..ACCOUNTS {
        let mut ca = kbk_gateway_account_info::default();
        ok(kbk_gateway_account(c, a, &mut ca));
        let ea = g.account(a).unwrap();
        assert_eq!(
            (ca.owner, ca.cash, ca.reserved),
            (ea.owner, ea.cash, ea.reserved)
        );
        for inst in 0..2 {
            let mut sh = 0;
            ok(kbk_gateway_shares_of(c, a, inst, &mut sh));
            assert_eq!(u128::from(sh), g.shares_of(a, inst));
        }
        let want: Vec<u64> = g.holdings(a).map(|c| c.serial).collect();
        let mut got = vec![0u64; want.len()];
        let mut n = 0;
        ok(kbk_gateway_holdings(
            c,
            a,
            got.as_mut_ptr(),
            got.len(),
            &mut n,
        ));
        assert_eq!(n, want.len());
        assert_eq!(got, want);
    }
    for serial in 1..=g.certificate_count() {
        let mut cc = kbk_gateway_cert_info::default();
        ok(kbk_gateway_certificate(c, serial, &mut cc));
        let e = g.certificate(serial).unwrap();
        assert_eq!(
            (cc.serial, cc.shares, cc.origin, cc.instrument, cc.holder),
            (e.serial, e.shares, e.origin, e.instrument, e.holder)
        );
    }
    for number in 1..=g.order_count() {
        let mut co = kbk_gateway_order_info::default();
        ok(kbk_gateway_order_by_number(c, number, &mut co));
        let e = g.order(number).unwrap();
        assert_eq!(
            (
                co.tag,
                co.open,
                co.filled,
                co.cash_reserved,
                co.cert,
                co.done
            ),
            (
                e.tag,
                e.open,
                e.filled,
                e.cash_reserved,
                e.cert,
                u8::from(e.done)
            )
        );
    }
    let mut tc = 0;
    ok(kbk_gateway_transfer_count(c, &mut tc));
    assert_eq!(tc, g.transfers().len());
    for (i, t) in g.transfers().iter().enumerate() {
        let mut ct = kbk_gateway_transfer_info::default();
        ok(kbk_gateway_transfer(c, i, &mut ct));
        assert_eq!(
            (
                ct.number,
                ct.spent,
                ct.new_cert,
                ct.change,
                ct.price,
                ct.quantity
            ),
            (t.number, t.spent, t.new, t.change, t.price, t.quantity)
        );
    }
    for inst in 0..2 {
        let mut q = kbk_quote::default();
        ok(kbk_gateway_quote(c, inst, &mut q));
        let b = g.book(inst).unwrap();
        assert_eq!(q.has_bid == 1, b.best_bid().is_some());
        assert_eq!(q.has_ask == 1, b.best_ask().is_some());
        if let Some((p, qty)) = b.best_bid() {
            assert_eq!((q.bid_price, q.bid_qty), (p, qty));
        }
    }
}

#[test]
fn apply_through_c_agrees_with_the_engine() {
    let orders = flow(7, |_| {});
    let (mut g, c, _) = both();
    let want = engine_reports(&mut g, &orders);
    let corders: Vec<kbk_gateway_order> = orders.iter().map(to_c).collect();
    let mut got = Vec::new();
    let mut buf = vec![kbk_gateway_report::default(); 7];
    let mut start = 0;
    let mut rng = SplitMix64::new(3);
    while start < corders.len() {
        let len = (1 + rng.below(40) as usize).min(corders.len() - start);
        let mut n = 0;
        ok(kbk_gateway_apply(
            c,
            corders[start..].as_ptr(),
            len,
            buf.as_mut_ptr(),
            buf.len(),
            &mut n,
        ));
        got.extend_from_slice(&buf[..n]);
        loop {
            ok(kbk_gateway_take_reports(
                c,
                buf.as_mut_ptr(),
                buf.len(),
                &mut n,
            ));
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        start += len;
    }
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);
    same_state(&g, c);

    // Documents through C are the engine's bytes.
    let key = KeyPair::from_seed(&[9; 32]);
    let mut ck = null_mut();
    ok(kbk_keypair_from_seed([9u8; 32].as_ptr(), &mut ck));
    let info = DocumentInfo {
        register_id: 77,
        register_name: "Register".into(),
        register_address: "Address".into(),
        company_name: "Company".into(),
        company_founded: 20_010_101,
        lifetime: 500,
        holder_names: vec!["Zero".into(), "One".into()],
    };
    let names = [c"Zero".as_ptr(), c"One".as_ptr()];
    let ci = kbk_gateway_document_info {
        register_id: 77,
        lifetime: 500,
        register_name: c"Register".as_ptr(),
        register_address: c"Address".as_ptr(),
        company_name: c"Company".as_ptr(),
        holder_names: names.as_ptr(),
        holder_names_len: 2,
        company_founded: 20_010_101,
        reserved: 0,
        id_secret: [5; 32],
    };
    let serials: Vec<u64> = (1..=g.certificate_count()).collect();
    let docs = g
        .documents(&serials, &info, &CertIdKey::from_bytes([5; 32]), &key, 40)
        .unwrap();
    assert!(docs.len() > ACCOUNTS as usize && docs.len() < serials.len());
    let mut out = vec![null_mut(); serials.len()];
    let mut n = 0;
    ok(kbk_gateway_documents(
        c,
        &ci,
        ck,
        serials.as_ptr(),
        serials.len(),
        40,
        out.as_mut_ptr(),
        out.len(),
        &mut n,
    ));
    assert_eq!(n, docs.len());
    for (d, m) in docs.iter().zip(&out[..n]) {
        assert_eq!(take(*m), d.to_bytes());
    }
    kbk_keypair_free(ck);
    kbk_gateway_free(c);
}

extern "C" fn collect(ud: *mut c_void, r: *const kbk_gateway_report) {
    // SAFETY: `ud` is the test's `Vec`, and `r` is valid during the call.
    unsafe { (*ud.cast::<Vec<kbk_gateway_report>>()).push(*r) };
}

#[test]
fn apply_callback_through_c_agrees_with_the_engine() {
    let orders = flow(8, |_| {});
    let (mut g, c, _) = both();
    let want = engine_reports(&mut g, &orders);
    let corders: Vec<kbk_gateway_order> = orders.iter().map(to_c).collect();
    let mut got: Vec<kbk_gateway_report> = Vec::new();
    for chunk in corders.chunks(100) {
        ok(kbk_gateway_apply_callback(
            c,
            chunk.as_ptr(),
            chunk.len(),
            Some(collect),
            (&mut got as *mut Vec<kbk_gateway_report>).cast(),
        ));
    }
    assert_eq!(got, want);
    let mut pending = 9;
    ok(kbk_gateway_pending_reports(c, &mut pending));
    assert_eq!(pending, 0);
    same_state(&g, c);
    kbk_gateway_free(c);
}

#[test]
fn the_gateway_runtime_through_c_agrees_with_the_engine() {
    // Controls on the running gateway, before the orders; the same calls
    // on the engine's (and on the scratch gateway the flow is made with).
    fn prelude(g: &mut Gateway) {
        g.deposit(1, 700).unwrap();
        g.issue(2, 1, 90).unwrap();
    }
    let orders = flow(9, prelude);
    let (mut g, c, _) = both();
    // The engine takes the same three controls, with the sequence numbers
    // the running gateway gives them (1, 2, 3; the third is refused).
    let mut sink = Vec::new();
    g.apply_control(
        1,
        &engine::runtime::gateway::GatewayControl::Deposit {
            account: 1,
            amount: 700,
        },
        &mut sink,
    )
    .unwrap();
    g.apply_control(
        2,
        &engine::runtime::gateway::GatewayControl::Issue {
            holder: 2,
            instrument: 1,
            shares: 90,
        },
        &mut sink,
    )
    .unwrap();
    assert!(g
        .apply_control(
            3,
            &engine::runtime::gateway::GatewayControl::Deposit {
                account: 99,
                amount: 700,
            },
            &mut sink,
        )
        .is_err());
    assert!(sink.is_empty());
    let serial = g.certificate_count();
    let want = engine_reports(&mut g, &orders);
    let corders: Vec<kbk_gateway_order> = orders.iter().map(to_c).collect();
    let mut cfg = kbk_gateway_runtime_config::default();
    ok(kbk_gateway_runtime_config_default(&mut cfg));
    cfg.max_producers = 1;
    cfg.queue_batches = 2;
    cfg.batch = 16;
    cfg.report_batches = 3;
    let mut rt = null_mut();
    ok(kbk_gateway_runtime_start(c, &cfg, &mut rt));
    let mut ctl = null_mut();
    let mut result = 9;
    ok(kbk_gateway_runtime_deposit(rt, 1, 700, &mut ctl));
    ok(kbk_gateway_control_wait(ctl, 5_000_000_000, &mut result));
    assert_eq!(result, 0);
    kbk_gateway_control_free(ctl);
    ok(kbk_gateway_runtime_issue(rt, 2, 1, 90, &mut ctl));
    ok(kbk_gateway_control_wait(ctl, 5_000_000_000, &mut result));
    assert_eq!(result, serial);
    kbk_gateway_control_free(ctl);
    ok(kbk_gateway_runtime_deposit(rt, 99, 700, &mut ctl));
    assert_eq!(
        kbk_gateway_control_wait(ctl, 5_000_000_000, &mut result),
        KBK_STATUS_GATEWAY_UNKNOWN_ACCOUNT
    );
    assert_eq!(result, serial, "written only on success");
    kbk_gateway_control_free(ctl);
    let mut p = null_mut();
    ok(kbk_gateway_runtime_producer_new(rt, &mut p));
    let mut got = Vec::new();
    let mut buf = vec![kbk_gateway_report::default(); 5];
    let mut fulls = 0;
    for chunk in corders.chunks(20) {
        loop {
            match kbk_gateway_producer_submit(p, chunk.as_ptr(), chunk.len()) {
                KBK_STATUS_OK => break,
                KBK_STATUS_RUNTIME_FULL => fulls += 1,
                s => panic!("submit: {s}"),
            }
            let mut n = 0;
            ok(kbk_gateway_producer_poll(
                p,
                buf.as_mut_ptr(),
                buf.len(),
                &mut n,
            ));
            got.extend_from_slice(&buf[..n]);
        }
    }
    assert!(fulls > 0);
    let mut rs = kbk_gateway_runtime_counters::default();
    ok(kbk_gateway_runtime_shutdown(rt, c, &mut rs));
    assert_eq!(rs.orders, ORDERS as u64);
    loop {
        let mut n = 0;
        ok(kbk_gateway_producer_poll(
            p,
            buf.as_mut_ptr(),
            buf.len(),
            &mut n,
        ));
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);
    same_state(&g, c);
    kbk_gateway_producer_free(p);
    kbk_gateway_runtime_free(rt);
    kbk_gateway_free(c);
}

#[test]
fn records_have_the_engines_layout() {
    // Field by field (the compile-time checks compare offsets): a record
    // made in C reads back as the engine's.
    let o = GatewayOrder::sell(1, 2, 3, 4, 5, 6).with_tif(TIF_IOC);
    let c = to_c(&o);
    assert_eq!(core::mem::size_of_val(&c), 56);
    assert_eq!(
        (c.kind, c.tif, c.cert),
        (KBK_GATEWAY_SELL, KBK_GATEWAY_TIF_IOC, 6)
    );
    let r = GatewayReport {
        tag: 1,
        seq: 2,
        order: 3,
        price: -4,
        qty: 5,
        cert: 6,
        matched: 7,
        kind: 2,
        reserved: 0,
        code: 9,
        reserved2: 0,
    };
    let cr = report_to_c(&r);
    assert_eq!(core::mem::size_of_val(&cr), 64);
    assert_eq!(
        (cr.tag, cr.seq, cr.order, cr.price, cr.qty, cr.cert, cr.matched, cr.kind, cr.code),
        (1, 2, 3, -4, 5, 6, 7, KBK_GATEWAY_FILL, 9)
    );
    // Null orders with a length are refused before anything happens.
    let (_, g, _) = both();
    let mut n = 0;
    assert_eq!(
        kbk_gateway_apply(g, null(), 1, null_mut(), 0, &mut n),
        KBK_STATUS_NULL_ARGUMENT
    );
    kbk_gateway_free(g);
}
