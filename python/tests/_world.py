"""A whole small market built from the bindings (CA, register, exchange,
ledger, three investors), the Python twin of ``kabuken::exchange::sim``'s
wiring. Shared by the tests of the signed-message API."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any, DefaultDict, Dict, Iterable, Optional

import kabuken as k

CA_ID, REG_ID, EX_ID, SET_ID = 1, 2, 3, 4
ALICE, BOB, CAROL = 1000, 1001, 1002
INVESTORS = (ALICE, BOB, CAROL)
INST = 7
NOT_AFTER = 10**12
CASH = Decimal("100000.00")


def seed(n: int) -> bytes:
    return n.to_bytes(4, "little") * 8


class World:
    def __init__(self, policy: Optional[k.Policy] = None) -> None:
        self.now = 1
        self.ca = k.CertificateAuthority(CA_ID, "Test CA", k.KeyPair(seed(CA_ID)))
        self.keys: Dict[int, k.KeyPair] = {u: k.KeyPair(seed(u)) for u in (REG_ID, EX_ID, SET_ID) + INVESTORS}
        self.policy = policy or k.Policy(usage_limit=10**12, per_order_max=10**6, short_sale_ban=True)
        roles = {REG_ID: k.Role.REGISTER, EX_ID: k.Role.EXCHANGE, SET_ID: k.Role.SETTLEMENT}
        self.attestations: Dict[int, k.Message] = {}
        for u, key in self.keys.items():
            role = roles.get(u, k.Role.INVESTOR)
            pol = self.policy if role == k.Role.INVESTOR else k.Policy()
            self.attestations[u] = self.ca.issue(u, f"Party {u}", key.public_key, 0, NOT_AFTER, role, pol)
        reg_ids = self.store()
        ex_ids = self.store()
        self.register = k.Register(
            REG_ID, "Kabu Transfer Agent", "https://register.invalid", self.keys[REG_ID], reg_ids, id_secret=bytes(32)
        )
        self.register.add_instrument(INST, "Kabu KK", 19500101, 50, 10**9, conditions="ordinary issue")
        self.exchange = k.Exchange(EX_ID, self.keys[EX_ID], ex_ids, self.register, minor_unit="0.01")
        self.exchange.add_instrument(INST, "0.01", 10, 1, 100_000, 1_000_000)
        self.ledger = k.Ledger(SET_ID, self.keys[SET_ID])
        self.ledger.trust_exchange(EX_ID, self.exchange.public_key)
        for u in INVESTORS:
            self.ledger.register_investor(u, self.keys[u].public_key)
            self.ledger.open_account(u, u)
            self.ledger.deposit(u, CASH)
        self.seqs: DefaultDict[int, int] = defaultdict(int)

    def store(self) -> k.IdentityStore:
        s = k.IdentityStore(CA_ID, "Test CA", self.ca.public_key)
        for a in self.attestations.values():
            s.register(a)
        return s

    def seq(self, user: int) -> int:
        self.seqs[user] += 1
        return self.seqs[user]

    def issue(self, user: int, quantity: int) -> k.Certificate:
        req = k.sign_issue_request(
            self.keys[user], user, self.seq(user), INST, quantity, name_address=f"Party {user}, Tokyo"
        )
        return self.register.issue(req, self.now)

    def order(
        self, user: int, side: str, quantity: int, price: Optional[int], certs: Iterable[k.Certificate] = (), **kw: Any
    ) -> k.Message:
        return k.sign_order(
            self.keys[user],
            user,
            self.seq(user),
            INST,
            side,
            quantity,
            price,
            certificates=list(certs),
            name_address=f"Party {user}, Tokyo",
            account=user,
            **kw,
        )

    def submit(self, order: k.Message) -> k.Message:
        return self.exchange.submit(order, self.now, self.register, self.ledger)

    def claim(self, user: int, transfer_number: int) -> k.Certificate:
        req = k.sign_certificate_request(self.keys[user], user, self.seq(user), transfer_number)
        return self.register.claim_certificate(req, self.now)

    def check(self) -> None:
        self.exchange.check_invariants(self.register, self.ledger)
        self.register.audit()
        self.ledger.check_conservation()
