//! The compact trusted gateway under arbitrary requests (sled's pattern:
//! the fuzzer's bytes become a `Vec<Op>` replayed against the gateway):
//! every request is answered exactly once, a refused request changes
//! nothing (state hash), and the invariants of DESIGN.md section 3 hold
//! after every step (shares of live certificates equal shares issued,
//! every resting sell covered by its reserved certificate, every resting
//! buy by its reserved cash, cash conserved, no crossed book).
//!
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run gateway_ops` (from `fuzz/`).
#![no_main]

use arbitrary::Arbitrary;
use kabuken::runtime::gateway::{Gateway, GatewayInstrument, GatewayOrder, ReportKind};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    Order {
        kind: u8,
        tif: u8,
        account: u8,
        instrument: u8,
        price: u8,
        qty: u8,
        cert: u8,
        reserved: bool,
    },
    Cancel {
        account: u8,
        order: u8,
    },
    Issue {
        account: u8,
        instrument: u8,
        lots: u8,
    },
    Deposit {
        account: u8,
        amount: u16,
    },
}

fuzz_target!(|ops: Vec<Op>| {
    let mut g = Gateway::new();
    for id in [1, 2] {
        g.add_instrument(GatewayInstrument {
            id,
            tick_value: 2,
            lot_size: 10,
            band_low: 100,
            band_high: 140,
            max_qty: 1_000,
        })
        .unwrap();
    }
    for a in 0..3u64 {
        g.open_account(a + 1, 20_000).unwrap();
    }
    let mut seq = 1;
    for (k, op) in ops.into_iter().enumerate() {
        let o = match op {
            Op::Issue {
                account,
                instrument,
                lots,
            } => {
                let _ = g.issue(
                    u32::from(account % 4),
                    u32::from(instrument % 3),
                    u64::from(lots) * 10,
                );
                continue;
            }
            Op::Deposit { account, amount } => {
                let _ = g.deposit(u32::from(account % 4), i64::from(amount));
                continue;
            }
            Op::Cancel { account, order } => {
                GatewayOrder::cancel(k as u64, u32::from(account % 4), u64::from(order))
            }
            Op::Order {
                kind,
                tif,
                account,
                instrument,
                price,
                qty,
                cert,
                reserved,
            } => {
                let mut o = GatewayOrder {
                    tag: k as u64,
                    price: 90 + i64::from(price % 60),
                    qty: u64::from(qty),
                    cert: u64::from(cert),
                    order: 0,
                    account: u32::from(account % 4),
                    instrument: u32::from(instrument % 3),
                    kind: kind % 4,
                    tif: tif % 4,
                    reserved: [0; 6],
                };
                if reserved {
                    o.reserved[0] = 1;
                }
                o
            }
        };
        let before = g.state_hash();
        let mut out = Vec::new();
        g.apply(0, seq, &o, &mut out);
        seq += 1;
        let answers = out
            .iter()
            .filter(|(_, r)| {
                r.kind == ReportKind::Accepted as u8 || r.kind == ReportKind::Refused as u8
            })
            .count();
        assert_eq!(answers, 1);
        if out[0].1.kind == ReportKind::Refused as u8 {
            assert_eq!(out.len(), 1);
            assert_eq!(
                g.state_hash(),
                before,
                "{o:?} was refused but changed the state"
            );
        }
        if let Err(e) = g.check_invariants() {
            panic!("after {o:?}: {e:?}");
        }
    }
});
