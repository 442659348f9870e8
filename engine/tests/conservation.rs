//! Conservation: after any random sequence of issues, transfers (whole and
//! partial), direct transfers, splits, merges and lost-certificate reissues,
//! the shares of live certificates equal the shares issued, in the register's
//! records, in the ID table, and in the certificates the holders hold.

mod common;

use common::*;
use kabuken::certs::{endorse, Certificate};
use kabuken::crypto::Signed;
use kabuken::register::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Issue {
        user: usize,
        qty: u64,
    },
    Transfer {
        pick: usize,
        buyer: usize,
        pct: u64,
    },
    Direct {
        pick: usize,
        recipient: usize,
    },
    Split {
        pick: usize,
        parts: usize,
    },
    Merge {
        a: usize,
        b: usize,
    },
    Lost {
        pick: usize,
    },
    /// An exchange order reserves the certificate, fills part of it, and is
    /// then cancelled (the change's reservation released).
    ReservedFill {
        pick: usize,
        buyer: usize,
        pct: u64,
        order: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize, 1..2_000u64).prop_map(|(user, qty)| Op::Issue { user, qty }),
        (any::<usize>(), 0..3usize, 1..=100u64).prop_map(|(pick, buyer, pct)| Op::Transfer {
            pick,
            buyer,
            pct
        }),
        (any::<usize>(), 0..3usize).prop_map(|(pick, recipient)| Op::Direct { pick, recipient }),
        (any::<usize>(), 2..5usize).prop_map(|(pick, parts)| Op::Split { pick, parts }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Op::Merge { a, b }),
        any::<usize>().prop_map(|pick| Op::Lost { pick }),
        (any::<usize>(), 0..3usize, 1..=100u64, 1..1_000u64).prop_map(
            |(pick, buyer, pct, order)| Op::ReservedFill {
                pick,
                buyer,
                pct,
                order
            }
        ),
    ]
}

const USERS: [u64; 3] = [ALICE, BOB, CAROL];

fn run(ops: &[Op]) {
    let mut w = World::new();
    // Certificates in the holders' hands.
    let mut held: Vec<Signed<Certificate>> = Vec::new();
    let mut issued: u64 = 0;
    for op in ops {
        match *op {
            Op::Issue { user, qty } => {
                held.push(w.issue(USERS[user], qty));
                issued += qty;
            }
            Op::Transfer { pick, buyer, pct } if !held.is_empty() => {
                let cert = held.remove(pick % held.len());
                let qty = (cert.body.shares * pct / 100).max(1);
                let buyer = USERS[buyer];
                let seller = cert.body.holder;
                let r = w.transfer_req(&cert, buyer, qty, 1);
                let resp = w.reg.transfer(&r, NOW).expect("transfer");
                let n = resp.body.transfer_number;
                let bc = w.claim(buyer, n).expect("buyer claims");
                assert_eq!(bc.body.shares, qty);
                held.push(bc);
                if resp.body.change_cert_id.is_some() {
                    let ch = w.claim(seller, n).expect("seller claims change");
                    assert_eq!(ch.body.shares, cert.body.shares - qty);
                    held.push(ch);
                } else {
                    assert_eq!(qty, cert.body.shares);
                }
            }
            Op::Direct { pick, recipient } if !held.is_empty() => {
                let cert = held.remove(pick % held.len());
                let to = USERS[recipient];
                let e = endorse(&cert, to, 1, &key(cert.body.holder));
                let seq = w.next_seq(to);
                let r = w.sign(
                    to,
                    DirectTransferRequest {
                        user_id: to,
                        name_address: "x".into(),
                        certificate: cert.clone(),
                        endorsement: e,
                        seq,
                    },
                );
                let resp = w.reg.direct_transfer(&r, NOW).expect("direct");
                held.push(w.claim(to, resp.body.transfer_number).expect("claim"));
                // The old certificate is dead.
                let again = w.transfer_req(&cert, to, 1, 1);
                assert!(w.reg.transfer(&again, NOW).is_err());
            }
            Op::Split { pick, parts } if !held.is_empty() => {
                let i = pick % held.len();
                let shares = held[i].body.shares;
                let parts = parts as u64;
                let mut sizes = vec![shares / parts; parts as usize];
                sizes[0] += shares % parts;
                let holder = held[i].body.holder;
                let r = w.reissue_req(holder, ReissueKind::Split(held[i].body.id, sizes.clone()));
                let res = w.reg.reissue(&r, NOW);
                if sizes.contains(&0) {
                    assert!(res.is_err());
                } else {
                    held.remove(i);
                    held.extend(res.expect("split").body.certificates);
                }
            }
            Op::Merge { a, b } if held.len() >= 2 => {
                let (i, j) = (a % held.len(), b % held.len());
                let (ca, cb) = (&held[i], &held[j]);
                let holder = ca.body.holder;
                let r = w.reissue_req(holder, ReissueKind::Merge(vec![ca.body.id, cb.body.id]));
                let res = w.reg.reissue(&r, NOW);
                if i != j && cb.body.holder == holder {
                    let (hi, lo) = (i.max(j), i.min(j));
                    held.remove(hi);
                    held.remove(lo);
                    held.extend(res.expect("merge").body.certificates);
                } else {
                    assert!(res.is_err());
                }
            }
            Op::Lost { pick } if !held.is_empty() => {
                let c = held.remove(pick % held.len());
                let r = w.reissue_req(c.body.holder, ReissueKind::Lost(c.body.id));
                held.extend(w.reg.reissue(&r, NOW).expect("lost").body.certificates);
            }
            Op::ReservedFill {
                pick,
                buyer,
                pct,
                order,
            } if !held.is_empty() => {
                let cert = held.remove(pick % held.len());
                let ids = w.reg.id_table();
                ids.reserve(cert.body.id.serial, order).expect("reserve");
                let qty = (cert.body.shares * pct / 100).max(1);
                let (buyer, seller) = (USERS[buyer], cert.body.holder);
                let mut body = w.transfer_req(&cert, buyer, qty, 1).body;
                body.sell_order = Some(order);
                let r = w.sign(EXCH, body);
                let resp = w.reg.transfer(&r, NOW).expect("reserved transfer");
                w.reg.audit().expect("audit with a reserved change");
                held.push(
                    w.claim(buyer, resp.body.transfer_number)
                        .expect("buyer claims"),
                );
                if let Some(ch) = resp.body.change_cert_id {
                    ids.release(ch.serial, order)
                        .expect("change was reserved to the order");
                    held.push(w.claim(seller, resp.body.transfer_number).expect("change"));
                }
            }
            _ => {}
        }
        w.reg.audit().expect("audit");
        let in_hand: u64 = held.iter().map(|c| c.body.shares).sum();
        assert_eq!(in_hand, issued);
        assert_eq!(w.reg.issued(INST), Some(issued));
        assert_eq!(w.reg.id_table().outstanding(INST), u128::from(issued));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
    #[test]
    fn shares_are_conserved(ops in proptest::collection::vec(op(), 1..40)) {
        run(&ops);
    }
}
