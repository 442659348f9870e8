use kabuken::runtime::sim::{flow, market, MarketConfig};
use kabuken::runtime::Request;
use std::time::Instant;
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(60000, |s| s.parse().unwrap());
    let mut m = market(&MarketConfig {
        seed: 23,
        investors: 50,
        instruments: 4,
        orders: n,
    });
    let flows = flow(&mut m.clients, &m.instruments, n, 1, 23, true);
    let s = &mut m.shard;
    s.exchange.set_deferred_signing(true);
    s.exchange.set_verified_upstream(true);
    s.register.set_deferred_signing(true);
    let t = Instant::now();
    let mut docs = 0;
    let mut outs = 0;
    for (k, r) in flows[0].iter().enumerate() {
        let Request::Order(o) = r else { continue };
        let _ = s.exchange.submit(o, 1, &mut s.register, &mut s.ledger);
        docs += s.register.take_unsigned().len();
        outs += s.exchange.drain_outbox().len();
        if k % 10000 == 9999 {
            eprintln!("{k}: {:.0}/s", (k + 1) as f64 / t.elapsed().as_secs_f64());
        }
    }
    let e = t.elapsed().as_secs_f64();
    println!(
        "{n} orders in {e:.3}s = {:.0}/s; docs {docs} outs {outs}",
        n as f64 / e
    );
}
