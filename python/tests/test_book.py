"""The book from Python: every command and order type, queries, events."""

from __future__ import annotations

import pytest

import kabuken as k
from kabuken import (
    Accepted,
    Book,
    BookConfig,
    BookError,
    Cancelled,
    CancelReason,
    CommandKind,
    Modified,
    Reduced,
    RejectReason,
    Side,
    StpMode,
    TimeInForce,
    Trade,
)


def test_limit_orders_rest_and_match_at_maker_price() -> None:
    b = Book()
    (a,) = b.submit(1, Side.SELL, 300, 10_050)
    assert isinstance(a, Accepted) and (a.id, a.side, a.price, a.qty) == (1, Side.SELL, 10_050, 300)
    ev = b.submit(1 + 1, "buy", 100, 10_060, tif=TimeInForce.IOC)
    assert isinstance(ev[0], Accepted) and ev[0].price == 10_060
    t = ev[1]
    assert isinstance(t, Trade)
    assert (t.maker_id, t.taker_id, t.taker_side, t.price, t.qty) == (1, 2, Side.BUY, 10_050, 100)
    assert (t.maker_remaining, t.taker_remaining) == (200, 0)
    assert b.best_ask() == (10_050, 200)
    assert b.best_bid() is None
    assert len(b) == 1


def test_events_are_small_typed_objects() -> None:
    b = Book()
    (a,) = b.submit(7, Side.BUY, 10, 99)
    assert isinstance(a, Accepted)
    assert (a.id, a.side, a.price, a.qty) == (7, Side.BUY, 99, 10)
    assert "Accepted(id=7" in repr(a)
    with pytest.raises(AttributeError):
        a.id = 8  # type: ignore[misc]


def test_market_order_ioc_remainder_cancelled() -> None:
    b = Book()
    b.submit(1, Side.SELL, 5, 100)
    ev = b.submit(2, Side.BUY, 8)  # market: price None, IOC by default
    assert isinstance(ev[0], Accepted) and ev[0].price is None
    assert isinstance(ev[1], Trade) and ev[1].qty == 5
    c = ev[2]
    assert isinstance(c, Cancelled) and c.reason == CancelReason.UNFILLED and c.qty == 3
    assert c.price is None


def test_fok_kills_when_not_fillable() -> None:
    b = Book()
    b.submit(1, Side.SELL, 5, 100)
    ev = b.submit(2, Side.BUY, 6, 100, tif=TimeInForce.FOK)
    assert isinstance(ev[-1], Cancelled) and ev[-1].reason == CancelReason.FILL_OR_KILL
    assert b.best_ask() == (100, 5)
    ev = b.submit(3, Side.BUY, 5, 100, tif=TimeInForce.FOK)
    assert any(isinstance(e, Trade) for e in ev)
    assert len(b) == 0


def test_post_only_refused_when_crossing() -> None:
    b = Book()
    b.submit(1, Side.SELL, 5, 100)
    with pytest.raises(BookError) as ei:
        b.submit(2, Side.BUY, 5, 100, post_only=True)
    assert ei.value.reason == "post_only_would_cross"
    assert ei.value.code == int(RejectReason.POST_ONLY_WOULD_CROSS)
    assert ei.value.command == "new" and ei.value.order_id == 2
    b.submit(3, Side.BUY, 5, 99, post_only=True)
    assert b.order(3) is not None and b.order(3).post_only  # type: ignore[union-attr]


def test_day_and_gtd_expiry() -> None:
    b = Book()
    b.submit(1, Side.BUY, 5, 100, tif=TimeInForce.DAY)
    b.submit(2, Side.BUY, 5, 99, tif=TimeInForce.GTD, expire_at=1_000)
    o = b.order(2)
    assert o is not None and o.tif == TimeInForce.GTD and o.expire_at == 1_000
    ev = b.advance_time(1_000)
    assert [type(e) for e in ev] == [Cancelled] and ev[0].reason == CancelReason.EXPIRED  # type: ignore[union-attr]
    assert b.now == 1_000
    ev = b.expire_day()
    assert len(ev) == 1 and ev[0].id == 1  # type: ignore[union-attr]
    with pytest.raises(BookError) as ei:
        b.submit(3, Side.BUY, 5, 99, tif=TimeInForce.GTD, expire_at=500)
    assert ei.value.reason == "already_expired"
    with pytest.raises(ValueError):
        b.submit(4, Side.BUY, 5, 99, tif=TimeInForce.GTD)
    with pytest.raises(ValueError):
        b.submit(4, Side.BUY, 5, 99, expire_at=5_000)


def test_cancel_reduce_modify() -> None:
    b = Book()
    b.submit(1, Side.BUY, 10, 100)
    b.submit(2, Side.BUY, 10, 100)
    (r,) = b.reduce(1, 4)
    assert isinstance(r, Reduced) and (r.qty, r.remaining, r.reason) == (4, 6, CancelReason.REQUESTED)
    assert [o.id for o in b.level_orders(Side.BUY, 100)] == [1, 2]  # reduce keeps priority
    (m,) = b.modify(1, 100, 20)  # larger: loses priority
    assert isinstance(m, Modified) and (m.price, m.qty) == (100, 20)
    assert [o.id for o in b.level_orders(Side.BUY, 100)] == [2, 1]
    (c,) = b.cancel(2)
    assert isinstance(c, Cancelled) and c.reason == CancelReason.REQUESTED
    with pytest.raises(BookError) as ei:
        b.cancel(2)
    assert ei.value.reason == "unknown_order" and ei.value.command == "cancel"
    with pytest.raises(BookError):
        b.modify(99, 1, 1)
    with pytest.raises(BookError):
        b.reduce(99, 1)


def test_modify_into_cross_trades_as_taker() -> None:
    b = Book()
    b.submit(1, Side.SELL, 5, 101)
    b.submit(2, Side.BUY, 5, 100)
    ev = b.modify(2, 101, 5)
    assert isinstance(ev[0], Modified)
    assert isinstance(ev[1], Trade) and ev[1].maker_id == 1 and ev[1].price == 101


@pytest.mark.parametrize(
    "mode,expect",
    [
        (StpMode.CANCEL_NEWEST, {1}),
        (StpMode.CANCEL_OLDEST, {2}),
        (StpMode.CANCEL_BOTH, set()),
        (StpMode.DECREMENT, {1}),
        (StpMode.OFF, set()),
    ],
)
def test_self_trade_prevention(mode: StpMode, expect: set[int]) -> None:
    b = Book()
    b.submit(1, Side.SELL, 10, 100, owner=7)
    ev = b.submit(2, Side.BUY, 5 if mode == StpMode.DECREMENT else 10, 100, owner=7, stp=mode)
    resting = {o.id for side in (Side.BUY, Side.SELL) for o in b.orders(side)}
    assert resting == expect
    if mode == StpMode.OFF:
        assert any(isinstance(e, Trade) for e in ev)
    else:
        assert not any(isinstance(e, Trade) for e in ev)


def test_duplicate_and_invalid_quantities() -> None:
    b = Book(BookConfig(lot_size=10, max_qty=1_000, min_price=1, max_price=1_000))
    b.submit(1, Side.BUY, 10, 100)
    for args, reason in [
        ((1, Side.BUY, 10, 100), "duplicate_id"),
        ((2, Side.BUY, 0, 100), "invalid_quantity"),
        ((2, Side.BUY, 5_000, 100), "invalid_quantity"),
        ((2, Side.BUY, 15, 100), "lot_size"),
        ((2, Side.BUY, 10, 5_000), "price_out_of_range"),
    ]:
        h = b.state_hash()
        with pytest.raises(BookError) as ei:
            b.submit(*args)
        assert ei.value.reason == reason
        assert b.state_hash() == h  # refused: nothing changed
    with pytest.raises(BookError) as ei:
        b.submit(3, Side.BUY, 10, tif=TimeInForce.GTC)  # a market order cannot rest
    assert ei.value.reason == "invalid_order_type"


def test_book_full() -> None:
    b = Book(BookConfig(max_orders=1))
    b.submit(1, Side.BUY, 1, 1)
    with pytest.raises(BookError) as ei:
        b.submit(2, Side.BUY, 1, 2)
    assert ei.value.reason == "book_full"


def test_queries() -> None:
    b = Book()
    for i, p in enumerate([100, 99, 99, 98], start=1):
        b.submit(i, Side.BUY, 10 * i, p)
    b.submit(10, Side.SELL, 5, 101)
    lv = b.levels(Side.BUY)
    assert [(x.price, x.qty, x.orders) for x in lv] == [(100, 10, 1), (99, 50, 2), (98, 40, 1)]
    assert [x.price for x in b.levels("buy", 2)] == [100, 99]
    bl = b.best_level(Side.SELL)
    assert bl is not None and bl.price == 101
    d = b.depth_at(Side.BUY, 99)
    assert d is not None and d.qty == 50 and d.orders == 2
    assert b.depth_at(Side.BUY, 97) is None
    assert [o.id for o in b.orders(Side.BUY)] == [1, 2, 3, 4]
    o = b.order(3)
    assert o is not None and (o.side, o.price, o.qty, o.tif, o.stp) == (Side.BUY, 99, 30, TimeInForce.GTC, StpMode.OFF)
    assert b.order(12345) is None
    assert len(b.state_hash()) == 32
    assert b.heap_bytes() > 0
    assert b.config.lot_size == 1
    assert "Book(orders=5" in repr(b)
    b.clear()
    assert len(b) == 0 and b.best_bid() is None


def test_state_hash_is_deterministic() -> None:
    def build() -> Book:
        b = Book()
        for i in range(1, 200):
            side = Side.BUY if i % 2 else Side.SELL
            price = 100 + (i % 7) - 3
            try:
                b.submit(i, side, 1 + i % 5, price)
            except BookError:
                pass
        return b

    assert build().state_hash() == build().state_hash()


def test_flash_config_modify_always_loses() -> None:
    c = BookConfig.flash()
    assert c.modify_priority == k.ModifyPriority.ALWAYS_LOSE
    assert "BookConfig(" in repr(c)


def test_market_of_books() -> None:
    m = k.Market()
    m.add_instrument(1)
    m.add_instrument(2, BookConfig(lot_size=1))
    with pytest.raises(k.MarketError) as ei:
        m.add_instrument(1)
    assert ei.value.instrument == 1
    with pytest.raises(k.ConfigError):
        m.add_instrument(3, BookConfig(lot_size=0))
    m.submit(1, 7, Side.BUY, 5, 100)
    m.submit(2, 7, Side.SELL, 5, 90)
    assert m.best_bid(1) == (100, 5) and m.best_ask(2) == (90, 5)
    assert m.order_count(1) == 1 and m.order(1, 7) is not None
    assert [lv.price for lv in m.levels(1, "buy")] == [100]
    m.reduce(1, 7, 1)
    m.modify(1, 7, 101, 4)
    m.advance_time(1, 10)
    m.expire_day(1)
    with pytest.raises(k.MarketError):
        m.cancel(9, 7)
    assert m.instruments() == [1, 2]
    h = m.state_hash()
    book = m.remove_instrument(2)
    assert isinstance(book, Book) and book.best_ask() == (90, 5)
    assert m.state_hash() != h and len(m) == 1
    m.cancel(1, 7)
    with pytest.raises(BookError):
        m.cancel(1, 7)


def test_enums_are_ints() -> None:
    assert int(Side.SELL) == 1 and int(TimeInForce.GTD) == 4
    assert int(CommandKind.MODIFY) == 3 and int(RejectReason.BOOK_FULL) == 9
