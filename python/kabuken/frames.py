"""Optional pandas views of kabuken results. pandas is never required: these
functions import it when called and raise ImportError with a hint when it is
missing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, Union

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    from ._native import Book, Exchange, MatchRecord


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as e:  # pragma: no cover - exercised without pandas
        raise ImportError("this helper needs pandas: pip install pandas") from e
    return pandas


def events_frame(events: Mapping[str, np.ndarray]) -> "pd.DataFrame":
    """The event columns of :func:`kabuken.replay` as a DataFrame."""
    pd = _pandas()
    return pd.DataFrame({k: np.asarray(v) for k, v in events.items()})


def trades_frame(events: Union[Mapping[str, np.ndarray], Sequence[Any]]) -> "pd.DataFrame":
    """The trades among ``events``: the columns of :func:`kabuken.replay`, or
    a list of event objects from single book calls. Columns: ``index`` (the
    causing command's row; columns input only), ``maker_id``, ``taker_id``,
    ``taker_side`` (0 buy, 1 sell), ``price``, ``qty``, ``maker_remaining``,
    ``taker_remaining``."""
    pd = _pandas()
    from ._native import EV_TRADE, Trade

    if isinstance(events, Mapping):
        t = np.asarray(events["kind"]) == EV_TRADE
        return pd.DataFrame(
            {
                "index": np.asarray(events["index"])[t],
                "maker_id": np.asarray(events["maker_id"])[t],
                "taker_id": np.asarray(events["id"])[t],
                "taker_side": np.asarray(events["side"])[t],
                "price": np.asarray(events["price"])[t],
                "qty": np.asarray(events["qty"])[t],
                "maker_remaining": np.asarray(events["remaining"])[t],
                "taker_remaining": np.asarray(events["taker_remaining"])[t],
            }
        )
    rows = [
        (e.maker_id, e.taker_id, int(e.taker_side), e.price, e.qty, e.maker_remaining, e.taker_remaining)
        for e in events
        if isinstance(e, Trade)
    ]
    return pd.DataFrame(
        rows,
        columns=["maker_id", "taker_id", "taker_side", "price", "qty", "maker_remaining", "taker_remaining"],
    )


def depth_frame(book: "Book", levels: Optional[int] = 10) -> "pd.DataFrame":
    """The book's depth: one row per level (bids best first, then asks) with
    ``side`` ("buy"/"sell"), ``level`` (0 = best), ``price``, ``qty``,
    ``orders``."""
    pd = _pandas()
    from ._native import Side

    rows = []
    for side, name in ((Side.BUY, "buy"), (Side.SELL, "sell")):
        for i, lv in enumerate(book.levels(side, levels)):
            rows.append((name, i, lv.price, lv.qty, lv.orders))
    return pd.DataFrame(rows, columns=["side", "level", "price", "qty", "orders"])


def top_of_book_frame(columns: Mapping[str, np.ndarray]) -> "pd.DataFrame":
    """The columns of :func:`kabuken.lobster_top_of_book` as a DataFrame
    indexed by time after midnight (a Timedelta), with ``bid_price_1``,
    ``bid_size_1``, ``ask_price_1``, ... per level, and ``spread`` and
    ``mid`` of the best level."""
    pd = _pandas()
    bp = np.asarray(columns["bid_price"])
    ap = np.asarray(columns["ask_price"])
    bs = np.asarray(columns["bid_size"])
    asz = np.asarray(columns["ask_size"])
    data: dict[str, np.ndarray] = {}
    for level in range(bp.shape[1]):
        data[f"bid_price_{level + 1}"] = bp[:, level]
        data[f"bid_size_{level + 1}"] = bs[:, level]
        data[f"ask_price_{level + 1}"] = ap[:, level]
        data[f"ask_size_{level + 1}"] = asz[:, level]
    data["spread"] = ap[:, 0] - bp[:, 0]
    data["mid"] = (ap[:, 0] + bp[:, 0]) / 2
    index = pd.to_timedelta(np.asarray(columns["time_ns"]).astype(np.int64), unit="ns")
    return pd.DataFrame(data, index=pd.Index(index, name="time"))


_MATCH_COLUMNS = [
    "match_number",
    "buy_order",
    "sell_order",
    "instrument",
    "serial",
    "quantity",
    "price",
    "amount",
    "buyer",
    "seller",
    "transfer_number",
    "new_serial",
    "change_serial",
]


def matches_frame(matches: Union["Exchange", Sequence["MatchRecord"]]) -> "pd.DataFrame":
    """The exchange's trades (its match list, or any list of
    :class:`kabuken.MatchRecord`, e.g. ``exchange.trades_of(user)``) as a
    DataFrame, one row per match: ``match_number``, ``buy_order`` and
    ``sell_order`` (reception numbers), ``instrument``, ``serial`` (the sold
    certificate ID's serial), ``quantity``, ``price`` (ticks), ``amount``
    (a ``decimal.Decimal``, object column), ``buyer``, ``seller``,
    ``transfer_number``, ``new_serial`` and ``change_serial`` (None when the
    certificate was sold whole)."""
    pd = _pandas()
    records = matches.matches() if hasattr(matches, "matches") else matches
    rows = [
        (
            m.match_number,
            m.buy_order,
            m.sell_order,
            m.instrument,
            m.cert_id.serial,
            m.quantity,
            m.price,
            m.amount,
            m.buyer,
            m.seller,
            m.transfer_number,
            m.new_cert_id.serial,
            None if m.change_cert_id is None else m.change_cert_id.serial,
        )
        for m in records
    ]
    return pd.DataFrame(rows, columns=_MATCH_COLUMNS)


__all__ = ["events_frame", "trades_frame", "depth_frame", "top_of_book_frame", "matches_frame"]
