//! The compact trusted gateway (kabuken::runtime::gateway): certificate
//! reservation and transfer, cash, refusals that change nothing, the
//! runtime's back-pressure, shutdown, determinism by journal replay, market
//! data, and the register's documents.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use kabuken::book::Event;
use kabuken::certs::{CertIdKey, IdState};
use kabuken::crypto::{KeyPair, Signed};
use kabuken::exchange::Refusal;
use kabuken::runtime::gateway::sim::{market, GatewayMarketConfig};
use kabuken::runtime::gateway::{
    replay, DocumentInfo, DoneReason, Gateway, GatewayConfig, GatewayInstrument, GatewayOrder,
    GatewayReport, GatewayRuntime, GatewaySubmitError, ReportKind, TIF_FOK, TIF_IOC,
};
use kabuken::runtime::marketdata::Poll;

const TV: i64 = 3;

/// Two instruments, three accounts (0 and 1 hold 1,000 shares of
/// instrument 0 in one certificate each, serials 1 and 2; account 2 has
/// cash only).
fn small() -> Gateway {
    let mut g = Gateway::new();
    for id in [10, 11] {
        g.add_instrument(GatewayInstrument {
            id,
            tick_value: TV,
            lot_size: 10,
            band_low: 100,
            band_high: 200,
            max_qty: 10_000,
        })
        .unwrap();
    }
    let a = g.open_account(1001, 1_000_000).unwrap();
    let b = g.open_account(1002, 1_000_000).unwrap();
    let c = g.open_account(1003, 1_000_000).unwrap();
    assert_eq!((a, b, c), (0, 1, 2));
    assert_eq!(g.issue(0, 0, 1_000).unwrap(), 1);
    assert_eq!(g.issue(1, 0, 1_000).unwrap(), 2);
    g
}

fn run(g: &mut Gateway, orders: &[GatewayOrder]) -> Vec<GatewayReport> {
    let mut out = Vec::new();
    let first = g.stats().requests + 1;
    g.apply_batch(0, first, orders, &mut out);
    out.into_iter().map(|(_, r)| r).collect()
}

fn kinds(rs: &[GatewayReport]) -> Vec<u8> {
    rs.iter().map(|r| r.kind).collect()
}

const ACC: u8 = ReportKind::Accepted as u8;
const REF: u8 = ReportKind::Refused as u8;
const FILL: u8 = ReportKind::Fill as u8;
const DONE: u8 = ReportKind::Done as u8;

#[test]
fn a_fill_spends_the_sellers_certificate_and_makes_the_buyers_and_the_change() {
    let mut g = small();
    // Account 0 sells 300 of its 1,000-share certificate at 150.
    let r = run(&mut g, &[GatewayOrder::sell(1, 0, 0, 150, 300, 1)]);
    assert_eq!(kinds(&r), [ACC]);
    let sell = r[0].order;
    assert_eq!(g.certificate(1).unwrap().state, IdState::Reserved(sell));
    // Account 2 buys 100 at 160: fills at the maker's 150.
    let r = run(&mut g, &[GatewayOrder::buy(2, 2, 0, 160, 100)]);
    assert_eq!(kinds(&r), [ACC, FILL, FILL, DONE]);
    let buy = r[0].order;
    let (fb, fs) = (r[1], r[2]);
    assert_eq!((fb.tag, fb.order, fb.price, fb.qty), (2, buy, 150, 100));
    assert_eq!((fs.tag, fs.order, fs.price, fs.qty), (1, sell, 150, 100));
    assert_eq!(fb.matched, 1);
    assert_eq!(r[3].code, DoneReason::Filled as u16);
    // Certificate 1 is spent; the buyer's (100) is live, the change (900)
    // is reserved to the resting sell.
    assert_eq!(g.certificate(1).unwrap().state, IdState::Spent);
    let new = g.certificate(fb.cert).unwrap();
    assert_eq!((new.holder, new.shares, new.state), (2, 100, IdState::Live));
    let change = g.certificate(fs.cert).unwrap();
    assert_eq!(
        (change.holder, change.shares, change.state),
        (0, 900, IdState::Reserved(sell))
    );
    // Cash: the buyer paid 150 * 100 * TV; nothing stays reserved for a
    // finished order (the improvement from 160 was released).
    let value = 150 * 100 * TV;
    assert_eq!(g.account(2).unwrap().cash, 1_000_000 - value);
    assert_eq!(g.account(2).unwrap().reserved, 0);
    assert_eq!(g.account(0).unwrap().cash, 1_000_000 + value);
    // The rest of the sell fills against a second buyer, then the order is
    // done and the last change (700) is live again.
    let r = run(&mut g, &[GatewayOrder::buy(3, 1, 0, 150, 200)]);
    assert_eq!(kinds(&r), [ACC, FILL, FILL, DONE, DONE]);
    let last_change = r[2].cert;
    assert_eq!(g.certificate(fs.cert).unwrap().state, IdState::Spent);
    let c = g.certificate(last_change).unwrap();
    assert_eq!((c.holder, c.shares, c.state), (0, 700, IdState::Live));
    assert_eq!(r[3].order, sell);
    assert_eq!(
        r[3].cert, last_change,
        "the sell's done report names the released change"
    );
    assert_eq!(g.shares_of(0, 0), 700);
    assert_eq!(g.shares_of(1, 0), 1_200);
    assert_eq!(g.shares_of(2, 0), 100);
    let t = g.transfers();
    assert_eq!(t.len(), 2);
    assert_eq!((t[0].spent, t[0].new, t[0].change), (1, fb.cert, fs.cert));
    assert_eq!((t[1].spent, t[1].change), (fs.cert, last_change));
    g.check_invariants().unwrap();
}

#[test]
fn cancel_releases_cash_and_certificate() {
    let mut g = small();
    let r = run(
        &mut g,
        &[
            GatewayOrder::sell(1, 0, 0, 180, 500, 1),
            GatewayOrder::buy(2, 2, 0, 120, 200),
        ],
    );
    assert_eq!(kinds(&r), [ACC, ACC]);
    let (sell, buy) = (r[0].order, r[1].order);
    assert_eq!(g.account(2).unwrap().reserved, 120 * 200 * TV);
    // Someone else may not cancel them.
    let r = run(&mut g, &[GatewayOrder::cancel(3, 1, sell)]);
    assert_eq!(
        (r[0].kind, r[0].code),
        (REF, Refusal::NotAccountOwner.code())
    );
    let r = run(
        &mut g,
        &[
            GatewayOrder::cancel(4, 0, sell),
            GatewayOrder::cancel(5, 2, buy),
        ],
    );
    assert_eq!(kinds(&r), [ACC, DONE, ACC, DONE]);
    assert_eq!(
        (r[1].qty, r[1].cert, r[1].code),
        (500, 1, DoneReason::Cancelled as u16)
    );
    assert_eq!(g.certificate(1).unwrap().state, IdState::Live);
    assert_eq!(g.account(2).unwrap().reserved, 0);
    // A done order cannot be cancelled again.
    let r = run(&mut g, &[GatewayOrder::cancel(6, 0, sell)]);
    assert_eq!((r[0].kind, r[0].code), (REF, Refusal::UnknownOrder.code()));
    g.check_invariants().unwrap();
}

#[test]
fn ioc_and_fok_remainders_are_cancelled() {
    let mut g = small();
    run(&mut g, &[GatewayOrder::sell(1, 0, 0, 150, 100, 1)]);
    // FOK for more than rests: nothing trades.
    let r = run(
        &mut g,
        &[GatewayOrder::buy(2, 2, 0, 150, 200).with_tif(TIF_FOK)],
    );
    assert_eq!(kinds(&r), [ACC, DONE]);
    assert_eq!((r[1].qty, r[1].code), (200, DoneReason::Cancelled as u16));
    assert_eq!(g.stats().fills, 0);
    assert_eq!(g.account(2).unwrap().reserved, 0);
    // IOC for more than rests: the 100 trade, 100 are cancelled.
    let r = run(
        &mut g,
        &[GatewayOrder::buy(3, 2, 0, 150, 200).with_tif(TIF_IOC)],
    );
    assert_eq!(kinds(&r), [ACC, FILL, FILL, DONE, DONE]);
    assert_eq!(r[4].qty, 100);
    assert_eq!(g.account(2).unwrap().reserved, 0);
    assert_eq!(g.account(2).unwrap().cash, 1_000_000 - 150 * 100 * TV);
    g.check_invariants().unwrap();
}

#[test]
fn refused_requests_change_nothing() {
    let mut g = small();
    // A resting sell holds certificate 2; certificate 1 is then spent.
    run(&mut g, &[GatewayOrder::sell(1, 1, 0, 190, 100, 2)]);
    run(
        &mut g,
        &[
            GatewayOrder::sell(2, 0, 0, 150, 1_000, 1),
            GatewayOrder::buy(3, 2, 0, 150, 1_000),
        ],
    );
    assert_eq!(g.certificate(1).unwrap().state, IdState::Spent);
    g.check_invariants().unwrap();
    let mut bad_kind = GatewayOrder::buy(9, 2, 0, 150, 10);
    bad_kind.kind = 7;
    let mut reserved = GatewayOrder::buy(9, 2, 0, 150, 10);
    reserved.reserved[3] = 1;
    let mut buy_cert = GatewayOrder::buy(9, 2, 0, 150, 10);
    buy_cert.cert = 2;
    let cases: Vec<(GatewayOrder, Refusal)> = vec![
        (bad_kind, Refusal::InvalidOrderType),
        (reserved, Refusal::InvalidOrderType),
        (
            GatewayOrder::buy(9, 2, 0, 150, 10).with_tif(9),
            Refusal::InvalidOrderType,
        ),
        (
            GatewayOrder::buy(9, 2, 5, 150, 10),
            Refusal::UnknownInstrument,
        ),
        (GatewayOrder::buy(9, 7, 0, 150, 10), Refusal::UnknownAccount),
        (GatewayOrder::buy(9, 2, 0, 150, 0), Refusal::InvalidQuantity),
        (
            GatewayOrder::buy(9, 2, 0, 150, 20_000),
            Refusal::InvalidQuantity,
        ),
        (GatewayOrder::buy(9, 2, 0, 150, 15), Refusal::LotSize),
        (GatewayOrder::buy(9, 2, 0, 99, 10), Refusal::PriceOutOfBand),
        (GatewayOrder::buy(9, 2, 0, 201, 10), Refusal::PriceOutOfBand),
        (buy_cert, Refusal::CertificatesOnBuy),
        (
            GatewayOrder::buy(9, 2, 0, 200, 10_000),
            Refusal::InsufficientFunds,
        ),
        (
            GatewayOrder::sell(9, 0, 0, 150, 10, 0),
            Refusal::CertificateNotRecognised,
        ),
        (
            GatewayOrder::sell(9, 0, 0, 150, 10, 999),
            Refusal::CertificateNotRecognised,
        ),
        (
            GatewayOrder::sell(9, 1, 1, 150, 10, 2),
            Refusal::CertificateMismatch,
        ),
        (GatewayOrder::sell(9, 0, 0, 150, 10, 2), Refusal::NotHolder),
        (
            GatewayOrder::sell(9, 1, 0, 150, 10, 2),
            Refusal::CertificateInUse,
        ),
        (
            GatewayOrder::sell(9, 0, 0, 150, 10, 1),
            Refusal::CertificateSpent,
        ),
        (GatewayOrder::cancel(9, 2, 0), Refusal::UnknownOrder),
        (GatewayOrder::cancel(9, 2, 999), Refusal::UnknownOrder),
    ];
    // Account 2 now holds 1,000 shares in a new certificate: selling more
    // than it covers is refused too.
    let held = g.holdings(2).next().unwrap().serial;
    let mut cases = cases;
    cases.push((
        GatewayOrder::sell(9, 2, 0, 150, 2_000, held),
        Refusal::InsufficientCertificates,
    ));
    for (o, why) in cases {
        let before = g.state_hash();
        let r = run(&mut g, &[o]);
        assert_eq!(r.len(), 1, "{o:?}");
        assert_eq!(
            (r[0].kind, r[0].code, r[0].tag),
            (REF, why.code(), 9),
            "{o:?}"
        );
        assert_eq!(g.state_hash(), before, "{o:?} changed the state");
    }
    g.check_invariants().unwrap();
}

#[test]
fn set_up_calls_refuse_bad_input() {
    use kabuken::runtime::gateway::GatewayError;
    let mut g = small();
    let spec = GatewayInstrument {
        id: 12,
        tick_value: 1,
        lot_size: 1,
        band_low: 1,
        band_high: 10,
        max_qty: 10,
    };
    for bad in [
        GatewayInstrument {
            lot_size: 0,
            ..spec
        },
        GatewayInstrument {
            band_low: 0,
            ..spec
        },
        GatewayInstrument {
            band_high: 0,
            ..spec
        },
        GatewayInstrument {
            tick_value: 0,
            ..spec
        },
        GatewayInstrument { max_qty: 0, ..spec },
    ] {
        assert_eq!(g.add_instrument(bad), Err(GatewayError::BadInstrument));
    }
    assert_eq!(
        g.add_instrument(GatewayInstrument { id: 10, ..spec }),
        Err(GatewayError::DuplicateInstrument)
    );
    assert_eq!(g.open_account(9, -1), Err(GatewayError::BadAmount));
    assert_eq!(g.deposit(9, 1), Err(GatewayError::UnknownAccount));
    assert_eq!(g.deposit(0, 0), Err(GatewayError::BadAmount));
    assert_eq!(g.deposit(0, i64::MAX), Err(GatewayError::Overflow));
    // The total stays below i64::MAX, so no account can overflow later.
    assert_eq!(
        g.open_account(9, i64::MAX - 100),
        Err(GatewayError::Overflow)
    );
    assert_eq!(g.issue(9, 0, 1), Err(GatewayError::UnknownAccount));
    assert_eq!(g.issue(0, 9, 1), Err(GatewayError::UnknownInstrument));
    assert_eq!(g.issue(0, 0, 0), Err(GatewayError::BadAmount));
    g.check_invariants().unwrap();
}

/// The fills reported, replayed over the starting positions, give the
/// gateway's final holdings and cash.
#[test]
fn reports_account_for_every_share_and_every_yen() {
    let m = market(
        &GatewayMarketConfig {
            seed: 3,
            investors: 6,
            instruments: 2,
            orders: 4_000,
            first_instrument: 100,
        },
        1,
    );
    let mut g = m.gateway;
    let accounts = g.account_count() as u32;
    let mut shares: HashMap<(u32, u32), i128> = HashMap::new();
    let mut cash: HashMap<u32, i128> = HashMap::new();
    for a in 0..accounts {
        cash.insert(a, i128::from(g.account(a).unwrap().cash));
        for i in 0..2 {
            shares.insert((a, i), g.shares_of(a, i) as i128);
        }
    }
    let flow = &m.flows[0];
    let mut out = Vec::new();
    let mut seq = 1;
    for chunk in flow.chunks(100) {
        g.apply_batch(0, seq, chunk, &mut out);
        seq += chunk.len() as u64;
        g.check_invariants().unwrap();
    }
    let by_tag: HashMap<u64, &GatewayOrder> = flow.iter().map(|o| (o.tag, o)).collect();
    let mut answered = HashSet::new();
    for (_, r) in &out {
        if r.kind == ACC || r.kind == REF {
            assert!(answered.insert(r.tag), "two answers for {}", r.tag);
        }
        if r.kind == FILL {
            let o = by_tag[&r.tag];
            let sign = if o.kind == 0 { 1 } else { -1 };
            *shares.get_mut(&(o.account, o.instrument)).unwrap() += sign * i128::from(r.qty);
            *cash.get_mut(&o.account).unwrap() -= sign * i128::from(r.price) * i128::from(r.qty);
        }
    }
    assert_eq!(answered.len(), flow.len());
    assert!(g.stats().fills > 1_000, "the flow trades: {:?}", g.stats());
    for a in 0..accounts {
        assert_eq!(
            i128::from(g.account(a).unwrap().cash),
            cash[&a],
            "cash of {a}"
        );
        for i in 0..2 {
            assert_eq!(
                g.shares_of(a, i) as i128,
                shares[&(a, i)],
                "shares of {a} in {i}"
            );
        }
    }
}

fn gateway_market(seed: u64, orders: usize, producers: usize) -> (Gateway, Vec<Vec<GatewayOrder>>) {
    let m = market(
        &GatewayMarketConfig {
            seed,
            investors: 12,
            instruments: 3,
            orders,
            first_instrument: 100,
        },
        producers,
    );
    (m.gateway, m.flows)
}

/// Many producer threads, tiny queues: every order answered exactly once,
/// nothing lost under back-pressure, and the journal replayed through the
/// synchronous gateway gives the same reports and the same state.
#[test]
fn runtime_under_back_pressure_equals_its_journal_replayed() {
    let producers = 4;
    let (g, flows) = gateway_market(11, 6_000, producers);
    let cfg = GatewayConfig {
        max_producers: producers,
        queue_batches: 2,
        batch: 8,
        report_batches: 2,
        journal: true,
        depth: 3,
        event_capacity: 1 << 10,
        keep_transfers: true,
    };
    let rt = GatewayRuntime::start(g, cfg).unwrap();
    let mut sub = rt.subscribe().unwrap();
    type Done = (
        Vec<GatewayReport>,
        u64,
        kabuken::runtime::gateway::GatewayProducer,
    );
    let done: Vec<Done> = std::thread::scope(|s| {
        let hs: Vec<_> = flows
            .iter()
            .map(|f| {
                let mut p = rt.producer().unwrap();
                s.spawn(move || {
                    let mut mine = Vec::new();
                    let mut full = 0;
                    for chunk in f.chunks(13) {
                        loop {
                            match p.submit(chunk) {
                                Ok(()) => break,
                                Err(GatewaySubmitError::Full) => {
                                    full += 1;
                                    if p.poll(|r| mine.push(*r)) == 0 {
                                        std::thread::yield_now();
                                    }
                                }
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                    let answers = |m: &Vec<GatewayReport>| {
                        m.iter().filter(|r| r.kind == ACC || r.kind == REF).count()
                    };
                    while answers(&mine) < f.len() {
                        p.poll_timeout(Duration::from_millis(50), |r| mine.push(*r));
                    }
                    (mine, full, p)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Market events arrive while the runtime runs (the ring holds 1,024).
    let mut events = 0;
    while let Poll::Event(_) | Poll::Lagged { .. } = sub.poll() {
        events += 1;
    }
    assert!(events > 0);
    let depth = rt.depth_reader(100).unwrap();
    let out = rt.shutdown();
    assert!(!out.failed);
    // Fills of resting orders caused by other producers' later orders
    // arrive after a producer's own answers: poll what is left.
    let mut got = Vec::new();
    let mut fulls = 0;
    for (mut mine, full, mut p) in done {
        p.poll(|r| mine.push(*r));
        fulls += full;
        got.push(mine);
    }
    assert!(fulls > 0, "the queues never filled");
    let g = out.gateway;
    g.check_invariants().unwrap();
    for (p, mine) in got.iter().enumerate() {
        let tags: Vec<u64> = mine
            .iter()
            .filter(|r| r.kind == ACC || r.kind == REF)
            .map(|r| r.tag)
            .collect();
        let want: Vec<u64> = flows[p].iter().map(|o| o.tag).collect();
        assert_eq!(
            tags, want,
            "producer {p}: every order answered once, in order"
        );
    }
    // Replay.
    let (mut fresh, _) = gateway_market(11, 6_000, producers);
    let replayed = replay(&mut fresh, &out.journal);
    assert_eq!(fresh.state_hash(), g.state_hash());
    for (p, mine) in got.iter().enumerate() {
        let want: Vec<GatewayReport> = replayed
            .iter()
            .filter(|(q, _)| usize::from(*q) == p)
            .map(|(_, r)| *r)
            .collect();
        assert_eq!(
            mine.len(),
            want.len(),
            "producer {p}: as many reports as the replay"
        );
        if let Some(k) = (0..mine.len()).find(|&k| mine[k] != want[k]) {
            panic!(
                "producer {p}: report {k} differs from the replay: {:?} vs {:?}",
                mine[k], want[k]
            );
        }
    }
    // Sequence numbers: 1..=n, each once.
    let mut seqs: Vec<u64> = out
        .journal
        .iter()
        .flat_map(|e| e.first_seq..e.first_seq + e.orders.len() as u64)
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=6_000).collect::<Vec<_>>());
    // The depth reader shows the final book.
    let snap = depth.read();
    let book = g.book(g.instrument_index(100).unwrap()).unwrap();
    assert_eq!(snap.best_bid(), book.best_bid());
    assert_eq!(snap.best_ask(), book.best_ask());
}

#[test]
fn shutdown_drains_and_later_submits_are_refused() {
    let (g, flows) = gateway_market(5, 3_000, 1);
    let rt = GatewayRuntime::start(
        g,
        GatewayConfig {
            journal: false,
            ..GatewayConfig::default()
        },
    )
    .unwrap();
    let mut p = rt.producer().unwrap();
    // More than the queue ever holds at once: refused, nothing went in.
    let cap = GatewayConfig::default().batch * GatewayConfig::default().queue_batches;
    let too_many = vec![flows[0][0]; cap + 1];
    assert_eq!(p.submit(&too_many), Err(GatewaySubmitError::TooLarge));
    assert_eq!(p.queued_batches(), 0);
    for part in flows[0].chunks(cap) {
        p.submit_wait(part, |_| {}).unwrap();
    }
    let out = rt.shutdown();
    assert_eq!(
        out.stats.orders, 3_000,
        "shutdown applied everything submitted"
    );
    let mut answers = 0;
    p.poll(|r| {
        if r.kind == ACC || r.kind == REF {
            answers += 1;
        }
    });
    assert_eq!(answers, 3_000);
    assert_eq!(p.submit(&flows[0][..1]), Err(GatewaySubmitError::Closed));
    out.gateway.check_invariants().unwrap();
}

#[test]
fn bad_configuration_is_refused() {
    for cfg in [
        GatewayConfig {
            max_producers: 0,
            ..GatewayConfig::default()
        },
        GatewayConfig {
            batch: 0,
            ..GatewayConfig::default()
        },
        GatewayConfig {
            queue_batches: 0,
            ..GatewayConfig::default()
        },
        GatewayConfig {
            report_batches: 0,
            ..GatewayConfig::default()
        },
        GatewayConfig {
            depth: 5_000,
            ..GatewayConfig::default()
        },
    ] {
        assert!(GatewayRuntime::start(small(), cfg).is_err(), "{cfg:?}");
    }
    let rt = GatewayRuntime::start(
        small(),
        GatewayConfig {
            max_producers: 1,
            ..GatewayConfig::default()
        },
    )
    .unwrap();
    let p = rt.producer().unwrap();
    assert!(rt.producer().is_none(), "one producer slot");
    drop(p);
    assert!(rt.producer().is_none(), "a slot is not reused");
    let _ = rt.shutdown();
}

#[test]
fn the_event_stream_carries_every_trade() {
    let (g, flows) = gateway_market(8, 2_000, 1);
    let rt = GatewayRuntime::start(
        g,
        GatewayConfig {
            event_capacity: 1 << 16,
            ..GatewayConfig::default()
        },
    )
    .unwrap();
    let mut sub = rt.subscribe().unwrap();
    let mut p = rt.producer().unwrap();
    p.submit_wait(&flows[0], |_| {}).unwrap();
    let out = rt.shutdown();
    let mut trades = 0;
    let mut last = None;
    loop {
        match sub.poll() {
            Poll::Event(e) => {
                if let Some(l) = last {
                    assert_eq!(e.seq, l + 1, "sequence numbers follow each other");
                }
                last = Some(e.seq);
                if matches!(e.event, Event::Trade { .. }) {
                    trades += 1;
                }
            }
            Poll::Empty => break,
            Poll::Lagged { missed } => panic!("lagged by {missed}"),
        }
    }
    assert_eq!(trades, out.gateway.stats().fills);
}

#[test]
fn documents_are_batch_signed_and_name_the_holder() {
    let mut g = small();
    let r = run(
        &mut g,
        &[
            GatewayOrder::sell(1, 0, 0, 150, 300, 1),
            GatewayOrder::buy(2, 2, 0, 150, 300),
        ],
    );
    let new = r
        .iter()
        .find(|r| r.kind == FILL && r.tag == 2)
        .unwrap()
        .cert;
    let key = KeyPair::from_seed(&[4; 32]);
    let ids = CertIdKey::from_bytes([5; 32]);
    let info = DocumentInfo {
        register_id: 77,
        register_name: "Register".into(),
        register_address: "https://register.example/".into(),
        company_name: "Company".into(),
        company_founded: 20_010_101,
        lifetime: 1_000,
        holder_names: vec!["Alice".into(), "Bob".into(), "Carol".into()],
    };
    // Serial 1 is spent: no document for it.
    let docs = g.documents(&[1, new, 2], &info, &ids, &key, 50).unwrap();
    assert_eq!(docs.len(), 2);
    let d = &docs[0];
    d.verify(&key.public()).unwrap();
    assert_eq!(d.signer, 77);
    assert_eq!(
        (d.body.holder, d.body.holder_name.as_str()),
        (1003, "Carol")
    );
    assert_eq!(
        (d.body.shares, d.body.instrument, d.body.expiry),
        (300, 10, 1_050)
    );
    assert!(ids.check(10, &d.body.id));
    assert_eq!(d.body.id.serial, new);
    assert_eq!(Some(d.body.id), g.cert_id(new, &ids));
    // The wire form decodes and verifies again; a flipped byte does not.
    let bytes = d.to_bytes();
    let back = Signed::<kabuken::certs::Certificate>::from_bytes(&bytes).unwrap();
    back.verify(&key.public()).unwrap();
    let mut bad = bytes.clone();
    bad[20] ^= 1;
    assert!(Signed::<kabuken::certs::Certificate>::from_bytes(&bad)
        .map_or(true, |b| b.verify(&key.public()).is_err()));
}

/// The same flow through the synchronous exchange (trusted, signatures
/// verified upstream: the full path with signed register documents) and
/// through the gateway: the same requests accepted, the same matches in the
/// same order (buyer's order, seller's order, price, quantity), and the
/// same change in every investor's holdings.
#[test]
fn the_gateway_matches_and_transfers_like_the_exchange() {
    use kabuken::book::TimeInForce;
    use kabuken::runtime::sim::{defer, flow, market as rt_market, MarketConfig};
    use kabuken::runtime::Request;
    use kabuken::types::Side;

    let orders = 1_500;
    let mut m = rt_market(&MarketConfig {
        seed: 9,
        investors: 6,
        instruments: 2,
        orders,
        first_instrument: 100,
    });
    // The gateway holds the same investors and the certificates in their
    // wallets (what the flow sells).
    let mut g = Gateway::new();
    for &i in &m.instruments {
        let spec = *m.shard.exchange.spec(i).unwrap();
        g.add_instrument(GatewayInstrument {
            id: i,
            tick_value: 1,
            lot_size: spec.lot_size,
            band_low: spec.band_low,
            band_high: spec.band_high,
            max_qty: spec.max_qty,
        })
        .unwrap();
    }
    let mut account = HashMap::new();
    let mut serial = HashMap::new();
    for c in &m.clients {
        let a = g.open_account(c.id, i64::MAX / 64).unwrap();
        account.insert(c.id, a);
        for (&inst, certs) in &c.wallet {
            let k = g.instrument_index(inst).unwrap();
            for cert in certs {
                let s = g.issue(a, k, cert.body.shares).unwrap();
                serial.insert(cert.body.id.serial, s);
            }
        }
    }
    let before: Vec<(u64, InstrumentIdx, u128)> =
        holdings(&m.shard.exchange, &m.clients, &m.instruments);
    let requests = flow(&mut m.clients, &m.instruments, orders, 1, 9, true).remove(0);
    let gw: Vec<GatewayOrder> = requests
        .iter()
        .enumerate()
        .map(|(k, r)| {
            let Request::Order(o) = r else {
                panic!("orders only")
            };
            let b = &o.body;
            let tif = match b.tif {
                TimeInForce::Ioc => TIF_IOC,
                TimeInForce::Fok => TIF_FOK,
                _ => 0,
            };
            let (a, i) = (
                account[&b.user_id],
                g.instrument_index(b.instrument).unwrap(),
            );
            let p = b.price.unwrap();
            match b.side {
                Side::Buy => GatewayOrder::buy(k as u64, a, i, p, b.quantity),
                Side::Sell => GatewayOrder::sell(
                    k as u64,
                    a,
                    i,
                    p,
                    b.quantity,
                    serial[&b.certificates[0].body.id.serial],
                ),
            }
            .with_tif(tif)
        })
        .collect();
    // The exchange.
    defer(&mut m.shard);
    let mut tag_of = HashMap::new();
    for (k, r) in requests.iter().enumerate() {
        let Request::Order(o) = r else { unreachable!() };
        let s = &mut m.shard;
        let receipt = s
            .exchange
            .submit(o, 1, &mut s.register, &mut s.ledger)
            .unwrap_or_else(|e| panic!("order {k} refused: {:?}", e.body));
        tag_of.insert(receipt.body.reception_number, k as u64);
    }
    m.shard
        .exchange
        .check_invariants(&m.shard.register, &m.shard.ledger)
        .unwrap();
    let ex_matches: Vec<(u64, u64, i64, u64)> = m
        .shard
        .exchange
        .matches()
        .iter()
        .map(|x| {
            (
                tag_of[&x.buy_order],
                tag_of[&x.sell_order],
                x.price,
                x.quantity,
            )
        })
        .collect();
    // The gateway.
    let reports = run(&mut g, &gw);
    assert!(
        reports.iter().all(|r| r.kind != REF),
        "the gateway refused an order"
    );
    g.check_invariants().unwrap();
    let tag = |n: u64| g.order(n).unwrap().tag;
    let gw_matches: Vec<(u64, u64, i64, u64)> = g
        .transfers()
        .iter()
        .map(|t| (tag(t.buy_order), tag(t.sell_order), t.price, t.quantity))
        .collect();
    assert!(
        ex_matches.len() > 300,
        "the flow trades: {}",
        ex_matches.len()
    );
    assert_eq!(ex_matches, gw_matches);
    // Holdings moved the same way.
    let after = holdings(&m.shard.exchange, &m.clients, &m.instruments);
    for (b, a) in before.iter().zip(&after) {
        let (user, inst) = (b.0, b.1);
        let delta_ex = a.2 as i128 - b.2 as i128;
        let gi = g.instrument_index(m.instruments[inst]).unwrap();
        let gw_now = g.shares_of(account[&user], gi) as i128;
        let gw_start: i128 = serial
            .values()
            .filter_map(|&s| g.certificate(s))
            .filter(|c| c.holder == account[&user] && c.instrument == gi && c.origin == 0)
            .map(|c| i128::from(c.shares))
            .sum();
        assert_eq!(
            gw_now - gw_start,
            delta_ex,
            "investor {user}, instrument {}",
            m.instruments[inst]
        );
    }
}

type InstrumentIdx = usize;

/// Every investor's shares per instrument, as the exchange's ID list shows.
fn holdings(
    ex: &kabuken::exchange::Exchange,
    clients: &[kabuken::exchange::sim::Client],
    instruments: &[u32],
) -> Vec<(u64, InstrumentIdx, u128)> {
    let mut out = Vec::new();
    for c in clients {
        let h = ex.holdings_of(c.id);
        for (k, &i) in instruments.iter().enumerate() {
            let n: u128 = h
                .iter()
                .filter(|x| x.instrument == i)
                .map(|x| u128::from(x.shares))
                .sum();
            out.push((c.id, k, n));
        }
    }
    out
}

#[test]
fn an_account_does_not_trade_with_itself() {
    let mut g = small();
    run(&mut g, &[GatewayOrder::sell(1, 0, 0, 150, 100, 1)]);
    // The same account's crossing buy is cancelled (the newest order), as
    // on the exchange; the resting sell stays.
    let r = run(&mut g, &[GatewayOrder::buy(2, 0, 0, 160, 100)]);
    assert_eq!(kinds(&r), [ACC, DONE]);
    assert_eq!((r[1].qty, r[1].code), (100, DoneReason::Cancelled as u16));
    assert_eq!(g.stats().fills, 0);
    assert_eq!(g.account(0).unwrap().reserved, 0);
    assert_eq!(g.certificate(1).unwrap().state, IdState::Reserved(1));
    g.check_invariants().unwrap();
}

/// Random requests, valid and not (unknown serials and orders, other
/// accounts' certificates, cancels of done orders, bad kinds): every
/// refusal leaves the state as it was, every request is answered once, and
/// the invariants hold throughout.
#[test]
fn random_requests_keep_the_invariants() {
    for seed in 1..=12u64 {
        let mut rng = kabuken::replay::synth::SplitMix64::new(seed);
        let mut g = small();
        for a in 0..3 {
            for i in 0..2 {
                for _ in 0..4 {
                    g.issue(a, i, 10 * (1 + rng.next() % 50)).unwrap();
                }
            }
        }
        for step in 0..1_500u64 {
            let r = rng.next();
            let account = (rng.next() % 4) as u32; // 3: unknown
            let inst = (rng.next() % 3) as u32; // 2: unknown
            let price = 95 + (rng.next() % 110) as i64; // some out of band
            let qty = 10 * (rng.next() % 40) + u64::from(rng.next() % 25 == 0); // some 0, some off-lot
            let serials = g.certificate_count() + 2;
            let orders = g.order_count() + 2;
            let mut o = match r % 10 {
                0..=3 => GatewayOrder::buy(step, account, inst, price, qty),
                4..=7 => GatewayOrder::sell(step, account, inst, price, qty, rng.next() % serials),
                8 => GatewayOrder::cancel(step, account, rng.next() % orders),
                _ => {
                    let mut o = GatewayOrder::buy(step, account, inst, price, qty);
                    o.kind = (rng.next() % 5) as u8;
                    o.tif = (rng.next() % 4) as u8;
                    o
                }
            };
            if rng.next() % 7 == 0 {
                o.tif = TIF_IOC;
            }
            let before = g.state_hash();
            let reports = run(&mut g, &[o]);
            let answers: Vec<_> = reports
                .iter()
                .filter(|x| x.kind == ACC || x.kind == REF)
                .collect();
            assert_eq!(answers.len(), 1, "seed {seed} step {step}");
            assert_eq!(reports[0].tag, step);
            if reports[0].kind == REF {
                assert_eq!(reports.len(), 1);
                assert_eq!(
                    g.state_hash(),
                    before,
                    "seed {seed} step {step}: {o:?} refused but changed the state"
                );
            }
            if step % 100 == 0 {
                g.check_invariants()
                    .unwrap_or_else(|e| panic!("seed {seed} step {step}: {e:?}"));
            }
        }
        g.check_invariants().unwrap();
        assert!(
            g.stats().fills > 0 && g.stats().refused > 0,
            "seed {seed}: {:?}",
            g.stats()
        );
    }
}

/// Administration while the gateway runs: deposits, issues and new
/// accounts are applied in sequence with the orders (before any batch
/// submitted after `control` returned), journalled, and replayed alike.
#[test]
fn controls_apply_in_sequence_and_replay() {
    use kabuken::runtime::gateway::{GatewayControl, GatewayError};
    let rt = GatewayRuntime::start(
        small(),
        GatewayConfig {
            journal: true,
            ..GatewayConfig::default()
        },
    )
    .unwrap();
    let mut p = rt.producer().unwrap();
    let t = Duration::from_secs(5);
    let mut reports = Vec::new();
    let mut answer = |p: &mut kabuken::runtime::gateway::GatewayProducer, o: GatewayOrder| {
        p.submit_wait(&[o], |r| reports.push(*r)).unwrap();
        loop {
            if let Some(r) = reports
                .iter()
                .find(|r| r.tag == o.tag && (r.kind == ACC || r.kind == REF))
            {
                return *r;
            }
            p.poll_timeout(t, |r| reports.push(*r));
        }
    };
    // 200 * 10,000 * 3 = 6,000,000: more than account 2 has.
    let big = GatewayOrder::buy(1, 2, 0, 200, 10_000);
    let r = answer(&mut p, big);
    assert_eq!((r.kind, r.code), (REF, Refusal::InsufficientFunds.code()));
    let h = rt
        .control(GatewayControl::Deposit {
            account: 2,
            amount: 5_000_000,
        })
        .unwrap();
    assert_eq!(h.wait(t), Some(Ok(0)));
    let r = answer(&mut p, GatewayOrder { tag: 2, ..big });
    assert_eq!(r.kind, ACC);
    // A new account, a certificate issued to it, sold into the resting buy.
    let acct = rt
        .control(GatewayControl::OpenAccount { owner: 9, cash: 0 })
        .unwrap()
        .wait(t)
        .unwrap()
        .unwrap() as u32;
    assert_eq!(acct, 3);
    let serial = rt
        .control(GatewayControl::Issue {
            holder: acct,
            instrument: 0,
            shares: 500,
        })
        .unwrap()
        .wait(t)
        .unwrap()
        .unwrap();
    let r = answer(&mut p, GatewayOrder::sell(3, acct, 0, 200, 500, serial));
    assert_eq!(r.kind, ACC);
    // Bad controls change nothing and say why.
    for (c, e) in [
        (
            GatewayControl::Deposit {
                account: 99,
                amount: 1,
            },
            GatewayError::UnknownAccount,
        ),
        (
            GatewayControl::Issue {
                holder: 0,
                instrument: 9,
                shares: 1,
            },
            GatewayError::UnknownInstrument,
        ),
        (
            GatewayControl::OpenAccount { owner: 1, cash: -5 },
            GatewayError::BadAmount,
        ),
    ] {
        assert_eq!(rt.control(c).unwrap().wait(t), Some(Err(e)));
    }
    let out = rt.shutdown();
    p.poll(|r| reports.push(*r));
    let g = out.gateway;
    g.check_invariants().unwrap();
    assert_eq!(g.shares_of(acct, 0), 0);
    assert_eq!(g.shares_of(2, 0), 500);
    assert_eq!(g.account(acct).unwrap().cash, 200 * 500 * TV);
    assert_eq!(
        out.journal.iter().map(|e| e.controls.len()).sum::<usize>(),
        6
    );
    let mut fresh = small();
    let replayed: Vec<GatewayReport> = replay(&mut fresh, &out.journal)
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert_eq!(replayed, reports);
    assert_eq!(fresh.state_hash(), g.state_hash());
}

#[test]
fn day_orders_expire_at_the_end_of_the_day() {
    use kabuken::runtime::gateway::{GatewayControl, TIF_DAY};
    let rt = GatewayRuntime::start(
        small(),
        GatewayConfig {
            journal: true,
            ..GatewayConfig::default()
        },
    )
    .unwrap();
    let mut p = rt.producer().unwrap();
    let mut reports = Vec::new();
    let orders = [
        GatewayOrder::sell(1, 0, 0, 180, 300, 1).with_tif(TIF_DAY),
        GatewayOrder::buy(2, 2, 0, 120, 100).with_tif(TIF_DAY),
        GatewayOrder::sell(3, 1, 0, 190, 100, 2),
    ];
    p.submit_wait(&orders, |r| reports.push(*r)).unwrap();
    let t = Duration::from_secs(5);
    let n = rt.control(GatewayControl::EndOfDay).unwrap().wait(t);
    assert_eq!(n, Some(Ok(2)));
    let depth = rt.depth_reader(10).unwrap();
    let out = rt.shutdown();
    p.poll(|r| reports.push(*r));
    let done: Vec<(u64, u16, u64)> = reports
        .iter()
        .filter(|r| r.kind == DONE)
        .map(|r| (r.tag, r.code, r.qty))
        .collect();
    let expired = DoneReason::Expired as u16;
    assert_eq!(done, [(1, expired, 300), (2, expired, 100)]);
    let g = out.gateway;
    g.check_invariants().unwrap();
    assert_eq!(g.certificate(1).unwrap().state, IdState::Live);
    assert_eq!(g.account(2).unwrap().reserved, 0);
    assert_eq!(
        g.book(0).unwrap().best_ask(),
        Some((190, 100)),
        "the GTC order stays"
    );
    assert_eq!(g.book(0).unwrap().best_bid(), None);
    assert_eq!(
        depth.read().best_bid(),
        None,
        "depth republished at the end of the day"
    );
    // The journal replays to the same reports and state.
    let mut fresh = small();
    let replayed: Vec<GatewayReport> = replay(&mut fresh, &out.journal)
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert_eq!(replayed, reports);
    assert_eq!(fresh.state_hash(), g.state_hash());
}

#[test]
fn a_buy_whose_value_overflows_is_refused() {
    let mut g = small();
    let big = g
        .add_instrument(GatewayInstrument {
            id: 99,
            tick_value: i64::MAX / 1_000,
            lot_size: 1,
            band_low: 1,
            band_high: 1_000_000,
            max_qty: 1_000_000,
        })
        .unwrap();
    let before = g.state_hash();
    let r = run(&mut g, &[GatewayOrder::buy(1, 2, big, 2_000, 1)]);
    assert_eq!((r[0].kind, r[0].code), (REF, Refusal::Overflow.code()));
    assert_eq!(g.state_hash(), before);
    g.check_invariants().unwrap();
}
