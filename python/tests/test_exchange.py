# mypy: disable-error-code="arg-type, call-arg"
"""The ledger and the exchange: orders through reception, matching,
transfer, completion and settlement; amendments; refusals carrying their
code; expiry; queries; invariants; and every message kind decoded."""

from __future__ import annotations

from decimal import Decimal

import pytest

import kabuken as k
from kabuken import errors as E

from _world import ALICE, BOB, CAROL, CASH, EX_ID, INST, REG_ID, SET_ID, World


def test_ledger_accounts_and_amounts() -> None:
    led = k.Ledger(SET_ID, k.KeyPair(b"\x04" * 32))
    assert led.user_id == SET_ID and "Ledger(" in repr(led)
    led.open_account(1, 100)
    with pytest.raises(E.SettlementError) as ei:
        led.open_account(1, 100)
    assert ei.value.kind == "duplicate_account"
    led.deposit(1, 100)
    led.deposit(1, "0.25")
    led.deposit(1, Decimal("1.5E+1"))
    a = led.account(1)
    assert a is not None and a.available == Decimal("115.25") and a.reserved == 0 and a.owner == 100
    assert "Account(" in repr(a)
    led.withdraw(1, Decimal("15.25"))
    with pytest.raises(E.SettlementError) as ei:
        led.withdraw(1, 1000)
    assert ei.value.kind == "insufficient_funds"
    for bad in (0, -1, "-3"):
        with pytest.raises(E.SettlementError) as ei:
            led.deposit(1, bad)
        assert ei.value.kind == "bad_amount"
    with pytest.raises(E.SettlementError) as ei:
        led.deposit(2, 1)
    assert ei.value.kind == "unknown_account"
    for wrong in (1.5, True, None, [1]):
        with pytest.raises(TypeError):
            led.deposit(1, wrong)
    for junk in ("abc", "NaN", "1e999"):
        with pytest.raises(ValueError):
            led.deposit(1, junk)
    led.reserve(9, 1, 100, 30)
    assert led.reserved_for(9) == 30 and led.reservation_count == 1
    with pytest.raises(E.SettlementError) as ei:
        led.reserve(9, 1, 101, 1)
    led.release(9, 30)
    assert led.reserved_for(9) is None
    assert set(led.accounts()) == {1}
    t = led.totals()
    assert t["deposited"] == Decimal("115.25") and t["withdrawn"] == Decimal("15.25") and t["settlements"] == 0
    led.check_conservation()


def trade(w: World) -> tuple[k.Certificate, k.Message, k.Message]:
    cert = w.issue(ALICE, 1000)
    sell = w.order(ALICE, "sell", 300, 1000, [cert])
    r1 = w.submit(sell)
    buy = w.order(BOB, k.Side.BUY, 300, 1000)
    r2 = w.submit(buy)
    return cert, r1, r2


def test_full_trade_transfer_settlement() -> None:
    w = World()
    cert, r1, r2 = trade(w)
    for r in (r1, r2):
        assert r.kind == k.MsgKind.RECEPTION_RECEIPT and r.signer == EX_ID
        r.verify(w.exchange.public_key)
    assert r1.body()["reception_number"] == 1 and r2.body()["reception_number"] == 2
    ms = w.exchange.matches()
    assert len(ms) == 1
    m = ms[0]
    assert (m.buyer, m.seller, m.quantity, m.price, m.buy_order, m.sell_order) == (BOB, ALICE, 300, 1000, 2, 1)
    assert m.amount == Decimal("3000.00") and m.cert_id == cert.id and m.change_cert_id is not None
    assert "MatchRecord(" in repr(m)
    assert [x.match_number for x in w.exchange.trades_of(BOB)] == [1] and w.exchange.trades_of(CAROL) == []
    # Delivery versus payment.
    bob = w.ledger.account(BOB)
    alice = w.ledger.account(ALICE)
    assert bob is not None and alice is not None
    assert bob.available == CASH - Decimal("3000") and alice.available == CASH + Decimal("3000")
    assert [s.amount for s in w.ledger.settlements()] == [Decimal("3000.00")]
    assert "Settlement(" in repr(w.ledger.settlements()[0])
    # Completion notices to both parties, in the outbox.
    out = w.exchange.drain_outbox()
    comp = [o for o in out if o.kind == "completion"]
    assert sorted(o.user for o in comp) == [ALICE, BOB]
    for o in comp:
        assert o.message is not None and o.message.kind == k.MsgKind.COMPLETION_NOTICE
        body = o.message.body()
        assert body["transfer_number"] == m.transfer_number and body["quantity"] == 300
        assert "Outgoing(" in repr(o)
    assert w.exchange.drain_outbox() == []
    # The buyer claims the new certificate; the register and the list agree.
    new = w.claim(BOB, m.transfer_number)
    assert new.id == m.new_cert_id and new.shares == 300
    held = w.exchange.holdings_of(BOB)
    assert [(h.serial, h.shares, h.reserved_to) for h in held] == [(new.serial, 300, None)]
    assert "Holding(" in repr(held[0])
    rec = w.exchange.order(1)
    assert rec is not None and rec.state == "filled" and rec.filled == 300 and rec.side == k.Side.SELL
    assert rec.quantity == 300 and rec.open == 0 and rec.user == ALICE and rec.price == 1000
    assert len(rec.request_hash) == 32 and rec.tif == k.TimeInForce.GTC and rec.account == ALICE
    assert w.exchange.order(999) is None and "OrderRecord(" in repr(rec)
    md = w.exchange.market_data(INST)
    assert md is not None and md.last_price == 1000 and md.volume == 300 and md.best_bid is None
    assert w.exchange.market_data(999) is None and "MarketData(" in repr(md)
    st = w.exchange.stats()
    assert st["orders"] == 2 and st["accepted"] == 2 and st["matches"] == 1 and st["anomalies"] == []
    assert st["settled"] == Decimal("3000.00")
    w.check()


def test_matches_frame() -> None:
    pd = pytest.importorskip("pandas")
    w = World()
    trade(w)
    df = k.matches_frame(w.exchange)
    assert isinstance(df, pd.DataFrame) and len(df) == 1
    assert list(df["quantity"]) == [300] and list(df["buyer"]) == [BOB] and df["amount"][0] == Decimal("3000.00")
    assert len(k.matches_frame(w.exchange.trades_of(CAROL))) == 0


def test_refusals_carry_code_and_signed_notice() -> None:
    w = World()
    cert = w.issue(ALICE, 1000)
    codes = dict(k.refusal_codes())
    assert codes[7] == "replay" and len(codes) >= 37
    # Off the lot size.
    with pytest.raises(E.RequestRefused) as ei:
        w.submit(w.order(ALICE, "sell", 305, 1000, [cert]))
    err = ei.value
    assert err.reason == "lot_size" and codes[err.code] == "lot_size" and err.reception_number == 0
    assert isinstance(err, E.ExchangeError)
    assert err.notice.kind == k.MsgKind.ERROR_NOTICE and err.notice.body()["reason_name"] == "lot_size"
    err.notice.verify(w.exchange.public_key)
    # Short sale: a sell without certificates.
    with pytest.raises(E.RequestRefused) as ei:
        w.submit(w.order(ALICE, "sell", 10, 1000))
    assert ei.value.reason == "insufficient_certificates"
    # Somebody else's certificate.
    with pytest.raises(E.RequestRefused) as ei:
        w.submit(w.order(BOB, "sell", 10, 1000, [cert]))
    assert ei.value.reason == "not_holder"
    # Outside the band, replayed, unknown instrument, not enough cash.
    with pytest.raises(E.RequestRefused) as ei:
        w.submit(w.order(BOB, "buy", 10, 10**7))
    assert ei.value.reason == "price_out_of_band"
    good = w.order(BOB, "buy", 10, 900)
    w.submit(good)
    with pytest.raises(E.RequestRefused) as ei:
        w.submit(good)
    assert ei.value.reason == "replay"
    with pytest.raises(E.RequestRefused) as ei:
        w.submit(
            k.sign_order(w.keys[BOB], BOB, w.seq(BOB), 999, "buy", 10, 900, account=BOB)
        )
    assert ei.value.reason == "unknown_instrument"
    with pytest.raises(E.RequestRefused) as ei:
        w.submit(w.order(CAROL, "buy", 10_000, 99_000))
    assert ei.value.reason == "insufficient_funds"
    # A copied certificate can be sold only once.
    w.submit(w.order(ALICE, "sell", 100, 1100, [cert]))
    with pytest.raises(E.RequestRefused) as ei:
        w.submit(w.order(ALICE, "sell", 100, 1100, [cert]))
    assert ei.value.reason == "certificate_in_use"
    assert w.exchange.stats()["refusals"]["replay"] == 1
    w.check()


def test_cancel_reduce_modify_and_expiry() -> None:
    w = World()
    cert = w.issue(ALICE, 1000)
    w.submit(w.order(ALICE, "sell", 500, 1100, [cert]))
    w.submit(w.order(BOB, "buy", 200, 900))
    w.submit(w.order(BOB, "buy", 100, 800, tif=k.TimeInForce.GTD, expire_at=50))
    w.submit(w.order(CAROL, "buy", 100, 700, tif=k.TimeInForce.DAY))
    md = w.exchange.market_data(INST, 10)
    assert md is not None and md.best_ask == (1100, 500) and md.best_bid == (900, 200) and len(md.bids) == 3
    # Reduce Alice's sell by 100 (keeps priority).
    rr = w.exchange.reduce(k.sign_reduce(w.keys[ALICE], ALICE, w.seq(ALICE), 1, 100), w.now, w.register, w.ledger)
    assert rr.body()["reception_number"] == 1
    assert w.exchange.order(1).open == 400  # type: ignore[union-attr]
    # Modify Bob's buy to cross: trades at the maker's price.
    w.exchange.modify(k.sign_modify(w.keys[BOB], BOB, w.seq(BOB), 2, 1100, 200), w.now, w.register, w.ledger)
    assert [(m.quantity, m.price) for m in w.exchange.matches()] == [(200, 1100)]
    # Only the owner may cancel.
    with pytest.raises(E.RequestRefused) as ei:
        w.exchange.cancel(k.sign_cancel(w.keys[BOB], BOB, w.seq(BOB), 1), w.now, w.register, w.ledger)
    assert ei.value.reception_number == 1
    w.exchange.cancel(k.sign_cancel(w.keys[ALICE], ALICE, w.seq(ALICE), 1), w.now, w.register, w.ledger)
    assert w.exchange.order(1).state == "cancelled"  # type: ignore[union-attr]
    released = [o for o in w.exchange.drain_outbox() if o.kind == "released"]
    assert released and released[0].user == ALICE and released[0].state == "cancelled"
    assert sum(c.shares for c in released[0].certificates) == 800  # the change of the 1000
    with pytest.raises(E.RequestRefused) as ei:
        w.exchange.cancel(k.sign_cancel(w.keys[ALICE], ALICE, w.seq(ALICE), 1), w.now, w.register, w.ledger)
    assert ei.value.reason == "unknown_order"
    # GTD expires with time, DAY at the end of the day; cash comes back.
    w.exchange.advance_time(60, w.register, w.ledger)
    assert w.exchange.order(3).state == "expired"  # type: ignore[union-attr]
    assert w.exchange.order(4).state == "open"  # type: ignore[union-attr]
    assert [o.reception_number for o in w.exchange.open_orders_of(CAROL)] == [4]
    w.exchange.expire_day(61, w.register, w.ledger)
    assert w.exchange.order(4).state == "expired"  # type: ignore[union-attr]
    assert w.ledger.account(CAROL).reserved == 0  # type: ignore[union-attr]
    assert w.exchange.open_orders_of(CAROL) == []
    w.check()


def test_exchange_bad_input() -> None:
    w = World()
    with pytest.raises(E.ConfigError):
        w.exchange.add_instrument(8, "0", 10, 1, 100, 1000)
    with pytest.raises(E.ConfigError):
        w.exchange.add_instrument(8, "0.01", 10, 100, 1, 1000)
    with pytest.raises(TypeError):
        w.exchange.add_instrument(8, 0.01, 10, 1, 100, 1000)
    w.exchange.add_instrument(8, 1, 1, 1, 100, 1000)
    assert w.exchange.instruments() == [INST, 8]
    spec = w.exchange.spec(INST)
    assert spec is not None and spec["tick"] == Decimal("0.01") and spec["lot_size"] == 10
    assert w.exchange.spec(999) is None
    order = w.order(BOB, "buy", 10, 900)
    with pytest.raises(TypeError):
        w.exchange.submit(order, w.now, w.ledger, w.register)
    with pytest.raises(TypeError):
        w.exchange.submit(order.body(), w.now, w.register, w.ledger)
    with pytest.raises(E.DecodeError) as ei:
        w.exchange.submit(k.sign_cancel(w.keys[BOB], BOB, 1, 1), w.now, w.register, w.ledger)
    assert ei.value.kind == "wrong_kind"
    with pytest.raises(E.DecodeError):
        w.exchange.submit(order.to_bytes()[:-3], w.now, w.register, w.ledger)
    with pytest.raises(OverflowError):
        w.exchange.submit(order, -5, w.register, w.ledger)
    with pytest.raises(ValueError):
        k.sign_order(w.keys[BOB], BOB, 1, INST, "buy", 10, 900, tif=k.TimeInForce.GTD)
    with pytest.raises(ValueError):
        k.sign_order(w.keys[BOB], BOB, 1, INST, "buy", 10, 900, expire_at=5)
    with pytest.raises(ValueError):
        k.sign_order(w.keys[BOB], BOB, 1, INST, "north", 10, 900)
    with pytest.raises(TypeError):
        k.sign_order(w.keys[BOB], BOB, 1, INST, "sell", 10, 900, certificates=b"abc")
    with pytest.raises(TypeError):
        k.sign_order(w.keys[BOB], BOB, 1, INST, "sell", 10, 900, certificates=[1, 2])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        k.sign_order(w.keys[BOB], BOB, 1, INST, "buy", 10, 900, cash_cap=1.5)
    with pytest.raises(OverflowError):
        k.sign_order(w.keys[BOB], BOB, 1, INST, "buy", -10, 900)
    with pytest.raises(TypeError):
        k.Exchange(EX_ID, w.keys[EX_ID], w.store(), w.ledger)
    w.check()


def test_account_inquiry_and_settlement_request() -> None:
    w = World()
    inq = k.sign_account_inquiry(w.keys[BOB], BOB, w.seq(BOB), BOB)
    ans = w.ledger.inquiry(inq)
    b = ans.body()
    assert ans.kind == k.MsgKind.ACCOUNT_ANSWER and ans.signer == SET_ID
    assert b["available"] == CASH and b["reserved"] == 0 and b["request_hash"] == inq.digest() and b["owner"] == BOB
    ans.verify(w.ledger.public_key)
    with pytest.raises(E.SettlementError) as ei:
        w.ledger.inquiry(k.sign_account_inquiry(w.keys[BOB], BOB, w.seq(BOB), ALICE))
    assert ei.value.kind == "not_owner"
    with pytest.raises(E.SettlementError) as ei:
        w.ledger.inquiry(inq)
    assert ei.value.kind == "replay"
    # A settlement request from an untrusted signer is refused.
    rogue = k.sign_settlement_request(w.keys[CAROL], CAROL, 1, 1, 1, "10", "0", BOB, ALICE)
    rb = rogue.body()
    assert rb["amount"] == Decimal(10) and rb["release"] == 0
    with pytest.raises(E.SettlementError) as ei:
        w.ledger.settle(rogue)
    assert ei.value.kind == "unknown_signer"
    # Signed by the exchange but without a reservation.
    req = k.sign_settlement_request(w.keys[EX_ID], EX_ID, 1, 1, 77, "10", "0", BOB, ALICE)
    with pytest.raises(E.SettlementError) as ei:
        w.ledger.settle(req)
    assert ei.value.kind == "unknown_reservation"
    w.ledger.reserve(77, BOB, BOB, 12)
    s = w.ledger.settle(req)
    assert (s.match_number, s.amount, s.buyer_account, s.seller_account) == (1, 10, BOB, ALICE)
    w.ledger.check_conservation()


def test_every_message_kind_decodes() -> None:
    w = World()
    seen: dict[k.MsgKind, k.Message] = {}

    def see(m: k.Message) -> k.Message:
        again = k.Message(m.to_bytes())
        assert again == m and again.body().keys() == m.body().keys()
        seen[m.kind] = m
        return m

    see(w.attestations[ALICE])
    see(w.ca.revoke([99], 1))
    cert, r1, r2 = trade(w)
    see(cert.to_message())
    see(k.sign_issue_request(w.keys[ALICE], ALICE, 1, INST, 1))
    see(r1)
    order = see(w.order(CAROL, "buy", 10, 900, cash_cap="50.5"))
    assert order.body()["cash_cap"] == Decimal("50.5") and order.body()["side"] == k.Side.BUY
    see(k.sign_reduce(w.keys[CAROL], CAROL, 1, 1, 5))
    see(k.sign_modify(w.keys[CAROL], CAROL, 1, 1, 900, 5))
    see(k.sign_cancel(w.keys[CAROL], CAROL, 1, 1))
    out = w.exchange.drain_outbox()
    for o in out:
        if o.message is not None:
            see(o.message)
    with pytest.raises(E.RequestRefused) as ei:
        w.submit(w.order(ALICE, "sell", 10, 1000))
    see(ei.value.notice)
    m = w.exchange.matches()[0]
    see(k.sign_certificate_request(w.keys[BOB], BOB, 1, m.transfer_number))
    tr = see(k.sign_transfer_request(w.keys[EX_ID], EX_ID, 99, 5, INST, cert.id, 1, BOB, ALICE, cert, sell_order=1))
    assert tr.body()["sell_order"] == 1
    c2 = w.issue(ALICE, 10)
    e = see(c2.endorse(BOB, 1, w.keys[ALICE]))
    dt = see(k.sign_direct_transfer_request(w.keys[BOB], BOB, w.seq(BOB), c2, e))
    see(w.register.direct_transfer(dt, w.now))
    hi = see(k.sign_holdings_inquiry(w.keys[ALICE], ALICE, w.seq(ALICE)))
    see(w.register.holdings(hi, w.now))
    c3 = w.issue(ALICE, 10)
    ri = see(k.sign_reissue_request(w.keys[ALICE], ALICE, w.seq(ALICE), INST, "lost", [c3.id]))
    see(w.register.reissue(ri, w.now))
    see(w.register.id_list_snapshot(INST))
    see(w.register.id_list_deltas(INST)[-1])
    see(k.sign_settlement_request(w.keys[EX_ID], EX_ID, 1, 1, 1, 1, 0, BOB, ALICE))
    ai = see(k.sign_account_inquiry(w.keys[BOB], BOB, w.seq(BOB), BOB))
    see(w.ledger.inquiry(ai))
    missing = {getattr(k.MsgKind, n) for n in dir(k.MsgKind) if n.isupper()} - set(seen)
    assert missing == set(), missing
    w.check()
