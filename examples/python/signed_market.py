"""A whole market from Python, every message signed: a CA attests the
parties, the register issues Alice 1,000 shares, Alice sells 300 through the
exchange, Bob buys them, the register transfers (Bob's new certificate and
Alice's change), the ledger settles, Bob claims his certificate and checks
his cash with a signed inquiry, and a refused order shows its signed
refusal.

    python examples/python/signed_market.py

Prints what happened and exits 0 if every invariant holds.
"""

from __future__ import annotations

from decimal import Decimal

import kabuken as k

CA, REGISTER, EXCHANGE, SETTLEMENT, ALICE, BOB = 1, 2, 3, 4, 1000, 1001
INSTRUMENT, NOW = 7, 1


def main() -> int:
    keys = {u: k.KeyPair(bytes([u % 256]) * 32) for u in (CA, REGISTER, EXCHANGE, SETTLEMENT, ALICE, BOB)}
    ca = k.CertificateAuthority(CA, "Example CA", keys[CA])
    roles = {REGISTER: k.Role.REGISTER, EXCHANGE: k.Role.EXCHANGE, SETTLEMENT: k.Role.SETTLEMENT}
    investor_policy = k.Policy(usage_limit=10**12, per_order_max=10**5, short_sale_ban=True)
    attestations = [
        ca.issue(u, f"Party {u}", keys[u].public_key, 0, 10**12, roles.get(u, k.Role.INVESTOR),
                 k.Policy() if u in roles else investor_policy)
        for u in (REGISTER, EXCHANGE, SETTLEMENT, ALICE, BOB)
    ]

    def identities() -> k.IdentityStore:
        store = k.IdentityStore(CA, "Example CA", ca.public_key)
        for a in attestations:
            store.register(a)
        return store

    register = k.Register(REGISTER, "Example Transfer Agent", "https://register.invalid", keys[REGISTER], identities())
    register.add_instrument(INSTRUMENT, "Example KK", 19500101, par_value=50, authorized=10**9)
    exchange = k.Exchange(EXCHANGE, keys[EXCHANGE], identities(), register)
    exchange.add_instrument(INSTRUMENT, tick="0.01", lot_size=10, band_low=1, band_high=100_000, max_qty=10**6)
    ledger = k.Ledger(SETTLEMENT, keys[SETTLEMENT])
    ledger.trust_exchange(EXCHANGE, exchange.public_key)
    for u in (ALICE, BOB):
        ledger.register_investor(u, keys[u].public_key)
        ledger.open_account(u, u)
        ledger.deposit(u, "100000.00")

    cert = register.issue(k.sign_issue_request(keys[ALICE], ALICE, 1, INSTRUMENT, 1000, "Alice, Tokyo"), NOW)
    print(f"issued: {cert}")
    sell = k.sign_order(keys[ALICE], ALICE, 2, INSTRUMENT, "sell", 300, 1000, certificates=[cert], account=ALICE)
    buy = k.sign_order(keys[BOB], BOB, 1, INSTRUMENT, "buy", 300, 1000, name_address="Bob, Osaka", account=BOB)
    for order in (sell, buy):
        receipt = exchange.submit(order, NOW, register, ledger)
        receipt.verify(exchange.public_key)
        assert receipt.body()["request_hash"] == order.digest()
        print(f"received: {receipt.body()['reception_number']}")
    (m,) = exchange.matches()
    print(f"matched: {m}")
    for out in exchange.drain_outbox():
        print(f"sent to {out.user}: {out.kind}")
    bob_cert = register.claim_certificate(k.sign_certificate_request(keys[BOB], BOB, 2, m.transfer_number), NOW)
    alice_change = register.claim_certificate(k.sign_certificate_request(keys[ALICE], ALICE, 3, m.transfer_number), NOW)
    print(f"Bob holds {bob_cert.shares}, Alice keeps {alice_change.shares} as change")
    answer = ledger.inquiry(k.sign_account_inquiry(keys[BOB], BOB, 3, BOB))
    answer.verify(ledger.public_key)
    assert answer.body()["available"] == Decimal("97000.00")
    print(f"Bob's cash: {answer.body()['available']}")
    try:
        exchange.submit(k.sign_order(keys[BOB], BOB, 4, INSTRUMENT, "sell", 10, 1000, account=BOB), NOW, register, ledger)
    except k.RequestRefused as e:
        print(f"refused: {e.reason} (code {e.code}), signed by {e.notice.signer}")
    exchange.check_invariants(register, ledger)
    print("invariants hold")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
