"""kabuken: an embeddable exchange core for electronic stock certificates.

The native module :mod:`kabuken._native` binds the Rust engine; this package
re-exports it and adds thin conveniences (dtype coercion for the bulk path,
optional pandas frames). No business logic lives in Python.

Bound so far: the order book (:class:`Book`, :class:`Market`), bulk replay
(:func:`replay`), the Flash and LOBSTER loaders, out-of-band verification
(:class:`OobService`), keys and signed messages (:class:`KeyPair`,
:class:`PublicKey`, :class:`Message`, the ``sign_*`` builders), identity
(:class:`CertificateAuthority`, :class:`IdentityStore`), certificates and
the register (:class:`Certificate`, :class:`Register`,
:class:`IdListFollower`), settlement (:class:`Ledger`) and the exchange
(:class:`Exchange`), and the concurrent runtime (:class:`Runtime`,
:class:`Producer`): many threads submitting signed requests, batch
verification, one sequencer, batch signing.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional, Union

import numpy as np

from . import errors
from ._native import (
    CMD_ADVANCE_TIME,
    CMD_CANCEL,
    CMD_EXPIRE_DAY,
    CMD_MODIFY,
    CMD_NEW,
    CMD_REDUCE,
    EV_ACCEPTED,
    EV_CANCELLED,
    EV_MODIFIED,
    EV_REDUCED,
    EV_REJECTED,
    EV_TRADE,
    NO_PRICE,
    Accepted,
    Book,
    BookConfig,
    Cancelled,
    CancelReason,
    CommandKind,
    LevelInfo,
    Market,
    Modified,
    ModifyPriority,
    OrderInfo,
    Reduced,
    Rejected,
    RejectReason,
    Side,
    StpMode,
    TimeInForce,
    Trade,
    flash_report_sha256,
    load_flash,
    load_lobster,
    parse_flash,
)
from ._native import __version__ as __version__
from ._native import lobster_top_of_book as _lobster_top_of_book
from ._native import replay_columns as _replay_columns
from .errors import (
    BookError,
    ConfigError,
    FormatError,
    KabukenError,
    MarketError,
    OobError,
    ReplayError,
)
from .frames import depth_frame, events_frame, matches_frame, top_of_book_frame, trades_frame
from ._native import (
    SECOND,
    ConfirmationInfo,
    DuressReport,
    ConfirmResponse,
    Device,
    LockedOutNotice,
    OobConfig,
    OobService,
    PendingRequest,
    SessionToken,
    Submission,
    Transaction,
    biometric_challenge,
    seal_message,
)
from ._native import (
    Account,
    BatchProof,
    CertId,
    Certificate,
    CertificateAuthority,
    Exchange,
    Holding,
    IdentityStore,
    IdListFollower,
    KeyPair,
    Ledger,
    MarketData,
    MatchRecord,
    Message,
    MsgKind,
    OrderRecord,
    Outgoing,
    Party,
    Policy,
    PublicKey,
    Record,
    Register,
    Role,
    Settlement,
    Simulation,
    TransferRecord,
    blake3,
    refusal_codes,
    sign_account_inquiry,
    sign_batch,
    sign_cancel,
    sign_certificate_request,
    sign_direct_transfer_request,
    sign_holdings_inquiry,
    sign_issue_request,
    sign_modify,
    sign_order,
    sign_reduce,
    sign_reissue_request,
    sign_settlement_request,
    sign_transfer_request,
    verify_batch,
)
from ._native import (
    DepthSnapshot,
    Lagged,
    MarketEvent,
    Notification,
    Producer,
    Response,
    Runtime,
    RuntimeOutcome,
    RuntimeStats,
    Subscriber,
)
from ._native import (
    GATEWAY_ACCEPTED,
    GATEWAY_BUY,
    GATEWAY_CANCEL,
    GATEWAY_DONE,
    GATEWAY_DONE_CANCELLED,
    GATEWAY_DONE_EXPIRED,
    GATEWAY_DONE_FILLED,
    GATEWAY_FILL,
    GATEWAY_ORDER_DTYPE,
    GATEWAY_REFUSED,
    GATEWAY_REPORT_DTYPE,
    GATEWAY_SELL,
    GATEWAY_TIF_DAY,
    GATEWAY_TIF_FOK,
    GATEWAY_TIF_GTC,
    GATEWAY_TIF_IOC,
    Gateway,
    GatewayAccount,
    GatewayCertificate,
    GatewayOrderView,
    GatewayJournal,
    GatewayOutcome,
    GatewayProducer,
    GatewayRuntime,
    GatewayRuntimeStats,
    GatewayStats,
    GatewayTransfer,
)
from .errors import (
    Backpressure,
    ControlTimeout,
    KabukenRuntimeError,
    RuntimeBusy,
    RuntimeClosed,
    RuntimeFailed,
)
from .errors import (
    CertificateError,
    CryptoError,
    DecodeError,
    ExchangeError,
    GatewayError,
    IdentityError,
    IdListError,
    InvariantViolation,
    RegisterError,
    RequestRefused,
    SettlementError,
)

Event = Union[Accepted, Trade, Cancelled, Reduced, Modified, Rejected]
"""Any event a book call returns."""

# The dtype of each command column of :func:`replay`.
COMMAND_DTYPES: Dict[str, Any] = {
    "kind": np.uint8,
    "id": np.uint64,
    "side": np.uint8,
    "tif": np.uint8,
    "qty": np.uint64,
    "price": np.int64,
    "market": np.uint8,
    "post_only": np.uint8,
    "owner": np.uint64,
    "stp": np.uint8,
    "time": np.uint64,
}


# The layout of one event row of the native bulk replay (64 bytes).
EVENT_DTYPE = np.dtype(
    {
        "names": ["index", "id", "maker_id", "price", "qty", "remaining", "taker_remaining", "kind", "side", "reason"],
        "formats": ["=u8", "=u8", "=u8", "=i8", "=u8", "=u8", "=u8", "u1", "u1", "u1"],
        "offsets": [0, 8, 16, 24, 32, 40, 48, 56, 57, 58],
        "itemsize": 64,
    }
)


def _columns(commands: Union[Mapping[str, Any], np.ndarray]) -> Dict[str, np.ndarray]:
    if isinstance(commands, np.ndarray):
        names = commands.dtype.names
        if names is None:
            raise TypeError("a numpy command array must be a structured array with named fields")
        source: Mapping[str, Any] = {n: commands[n] for n in names}
    elif isinstance(commands, Mapping):
        source = commands
    else:
        raise TypeError(
            f"commands must be a mapping of columns or a structured array, not {type(commands).__name__}"
        )
    out: Dict[str, np.ndarray] = {}
    for name, dtype in COMMAND_DTYPES.items():
        if name not in source or source[name] is None:
            continue
        col = np.asarray(source[name])
        if col.ndim != 1:
            raise ValueError(f"column {name!r} must be one-dimensional")
        if col.dtype != dtype:
            if col.dtype.kind not in "biu":
                raise TypeError(f"column {name!r} must hold integers, not {col.dtype}")
            if col.size and (col.min() < np.iinfo(dtype).min or col.max() > np.iinfo(dtype).max):
                raise ValueError(f"column {name!r} has values outside {np.dtype(dtype).name}")
            col = col.astype(dtype)
        out[name] = np.ascontiguousarray(col)
    if "kind" not in out or "id" not in out:
        raise KeyError("the 'kind' and 'id' columns are required")
    return out


def replay(
    commands: Union[Mapping[str, Any], np.ndarray],
    book: Optional[Book] = None,
    config: Optional[BookConfig] = None,
    events: bool = True,
) -> Dict[str, np.ndarray]:
    """Replays command columns into a book; returns the events as columns.

    ``commands`` is a mapping of equal-length 1-D arrays (or a structured
    array with these fields); only ``kind`` and ``id`` are required:

    ========== ======= ==========================================================
    column     dtype   meaning
    ========== ======= ==========================================================
    kind       uint8   CMD_NEW 0, CMD_CANCEL 1, CMD_MODIFY 2, CMD_REDUCE 3,
                       CMD_ADVANCE_TIME 4, CMD_EXPIRE_DAY 5
    id         uint64  order id
    side       uint8   0 buy, 1 sell
    tif        uint8   0 GTC, 1 IOC, 2 FOK, 3 DAY, 4 GTD (expiry in ``time``)
    qty        uint64  quantity (new, modify) or the reduction (reduce)
    price      int64   limit price in ticks (new, modify)
    market     uint8   1: a market order (price ignored)
    post_only  uint8   1: post-only
    owner      uint64  self-trade prevention owner (0: none)
    stp        uint8   StpMode value
    time       uint64  GTD expiry (new) or the new time (advance_time)
    ========== ======= ==========================================================

    :func:`load_flash` returns exactly such columns. Arrays of the right
    dtype are used without a copy; others are converted. The GIL is released
    while the book works. Refused commands appear as ``EV_REJECTED`` events.

    The result maps ``index`` (the causing command's row), ``kind`` (EV_*),
    ``id`` (the order; a trade's taker), ``maker_id`` (a trade's maker; a
    rejection's CommandKind), ``side`` (a trade's taker side), ``price``
    (NO_PRICE when none), ``qty``, ``remaining`` (a trade's maker remainder,
    a reduce's remainder), ``taker_remaining`` and ``reason`` (CancelReason
    or RejectReason value) to numpy arrays. With ``events=False`` only
    ``{"counts": uint64[6]}`` (events per EV_* kind) is returned, for runs
    that want the final book.
    """
    if book is None:
        book = Book(config)
    elif config is not None:
        raise ValueError("pass either a book or a config, not both")
    out = _replay_columns(_columns(commands), book, events)
    if not events:
        return out
    rows = out["rows"][: out["count"]].reshape(-1).view(EVENT_DTYPE)
    return {name: rows[name] for name in EVENT_DTYPE.names or ()}


def lobster_top_of_book(
    path: Union[str, "os.PathLike[str]"],
    levels: int = 5,
    compare_levels: Optional[int] = None,
    as_frame: bool = False,
) -> Any:
    """The book's top ``levels`` levels after every message of a LOBSTER zip.

    Returns ``(columns, summary)``: ``columns`` maps ``time_ns`` (rows,),
    ``bid_price``/``ask_price`` (rows, levels; dollars, NaN when empty) and
    ``bid_size``/``ask_size`` (rows, levels) to numpy arrays; ``summary`` says
    how many rows agreed with the orderbook file before resynchronisation.
    With ``as_frame=True`` (needs pandas) the columns come as a DataFrame
    indexed by time (see :func:`top_of_book_frame`).
    """
    cols, summary = _lobster_top_of_book(path, levels, compare_levels)
    if as_frame:
        return top_of_book_frame(cols), summary
    return cols, summary


# The integer range of each field of GATEWAY_ORDER_DTYPE.
_GATEWAY_FIELDS: Dict[str, Any] = {
    "tag": np.uint64,
    "price": np.int64,
    "qty": np.uint64,
    "cert": np.uint64,
    "order": np.uint64,
    "account": np.uint32,
    "instrument": np.uint32,
    "kind": np.uint8,
    "tif": np.uint8,
}


def gateway_orders(
    kind: Any,
    tag: Any,
    account: Any,
    instrument: Any = 0,
    price: Any = 0,
    qty: Any = 0,
    cert: Any = 0,
    order: Any = 0,
    tif: Any = GATEWAY_TIF_GTC,
) -> np.ndarray:
    """A numpy array of :data:`GATEWAY_ORDER_DTYPE` from columns.

    Every argument is an integer or a 1-D array-like of integers; scalars
    are repeated to the length of the arrays, which must all have the same
    length. ``kind`` is ``GATEWAY_BUY``, ``GATEWAY_SELL`` (covered by the
    certificate serial ``cert``) or ``GATEWAY_CANCEL`` (of order number
    ``order``); ``tif`` is ``GATEWAY_TIF_GTC``, ``_IOC`` or ``_FOK``.
    Floats, booleans and other types raise ``TypeError``; values outside a
    field's range (negative quantities, for example) raise ``ValueError``.
    """
    given = {
        "kind": kind,
        "tag": tag,
        "account": account,
        "instrument": instrument,
        "price": price,
        "qty": qty,
        "cert": cert,
        "order": order,
        "tif": tif,
    }
    cols: Dict[str, np.ndarray] = {}
    length: Optional[int] = None
    for name, value in given.items():
        col = np.asarray(value)
        if col.dtype.kind not in "iu" or col.dtype == np.bool_:
            raise TypeError(f"{name} must hold integers, not {col.dtype}")
        if col.ndim > 1:
            raise ValueError(f"{name} must be a scalar or one-dimensional")
        if col.ndim == 1:
            if length is not None and len(col) != length:
                raise ValueError(f"{name} has {len(col)} values, other columns {length}")
            length = len(col)
        info = np.iinfo(_GATEWAY_FIELDS[name])
        if col.size and (int(col.min()) < info.min or int(col.max()) > info.max):
            raise ValueError(f"{name} has values outside {np.dtype(_GATEWAY_FIELDS[name]).name}")
        cols[name] = col
    if int(cols["kind"].max(initial=0)) > GATEWAY_CANCEL:
        raise ValueError("kind must be GATEWAY_BUY, GATEWAY_SELL or GATEWAY_CANCEL (0..=2)")
    if int(cols["tif"].max(initial=0)) > GATEWAY_TIF_DAY:
        raise ValueError("tif must be GATEWAY_TIF_GTC, _IOC, _FOK or _DAY (0..=3)")
    out = np.zeros(1 if length is None else length, dtype=GATEWAY_ORDER_DTYPE)
    for name, col in cols.items():
        out[name] = col
    return out


def gateway_buy(
    tag: int, account: int, instrument: int, price: int, qty: int, tif: int = GATEWAY_TIF_GTC
) -> np.ndarray:
    """One limit buy as a 1-element array of :data:`GATEWAY_ORDER_DTYPE`."""
    return gateway_orders(GATEWAY_BUY, tag, account, instrument, price, qty, tif=tif)


def gateway_sell(
    tag: int,
    account: int,
    instrument: int,
    price: int,
    qty: int,
    cert: int,
    tif: int = GATEWAY_TIF_GTC,
) -> np.ndarray:
    """One limit sell covered by certificate ``cert``, as a 1-element array."""
    return gateway_orders(GATEWAY_SELL, tag, account, instrument, price, qty, cert=cert, tif=tif)


def gateway_cancel(tag: int, account: int, order: int) -> np.ndarray:
    """A cancel of order number ``order`` of ``account``, as a 1-element array."""
    return gateway_orders(GATEWAY_CANCEL, tag, account, order=order)


__all__ = [
    "__version__",
    "errors",
    "KabukenError",
    "ConfigError",
    "BookError",
    "MarketError",
    "ReplayError",
    "FormatError",
    "OobError",
    "Side",
    "TimeInForce",
    "StpMode",
    "CancelReason",
    "RejectReason",
    "CommandKind",
    "ModifyPriority",
    "BookConfig",
    "Book",
    "Market",
    "Event",
    "Accepted",
    "Trade",
    "Cancelled",
    "Reduced",
    "Modified",
    "Rejected",
    "LevelInfo",
    "OrderInfo",
    "replay",
    "COMMAND_DTYPES",
    "CMD_NEW",
    "CMD_CANCEL",
    "CMD_MODIFY",
    "CMD_REDUCE",
    "CMD_ADVANCE_TIME",
    "CMD_EXPIRE_DAY",
    "EV_ACCEPTED",
    "EV_TRADE",
    "EV_CANCELLED",
    "EV_MODIFIED",
    "EV_REDUCED",
    "EV_REJECTED",
    "NO_PRICE",
    "load_flash",
    "parse_flash",
    "flash_report_sha256",
    "load_lobster",
    "lobster_top_of_book",
    "trades_frame",
    "events_frame",
    "depth_frame",
    "top_of_book_frame",
    "OobService",
    "SECOND",
    "DuressReport",
    "OobConfig",
    "Device",
    "Transaction",
    "SessionToken",
    "Submission",
    "PendingRequest",
    "ConfirmationInfo",
    "ConfirmResponse",
    "LockedOutNotice",
    "seal_message",
    "biometric_challenge",
    "CryptoError",
    "DecodeError",
    "IdentityError",
    "CertificateError",
    "RegisterError",
    "IdListError",
    "SettlementError",
    "ExchangeError",
    "RequestRefused",
    "InvariantViolation",
    "KeyPair",
    "PublicKey",
    "MsgKind",
    "Message",
    "blake3",
    "verify_batch",
    "BatchProof",
    "sign_batch",
    "sign_order",
    "sign_cancel",
    "sign_reduce",
    "sign_modify",
    "sign_issue_request",
    "sign_certificate_request",
    "sign_direct_transfer_request",
    "sign_holdings_inquiry",
    "sign_reissue_request",
    "sign_transfer_request",
    "sign_settlement_request",
    "sign_account_inquiry",
    "Role",
    "Policy",
    "CertificateAuthority",
    "IdentityStore",
    "Party",
    "CertId",
    "Certificate",
    "Record",
    "TransferRecord",
    "Register",
    "IdListFollower",
    "Account",
    "Settlement",
    "Ledger",
    "OrderRecord",
    "MatchRecord",
    "Holding",
    "MarketData",
    "Outgoing",
    "Exchange",
    "Simulation",
    "Runtime",
    "Producer",
    "Response",
    "RuntimeStats",
    "RuntimeOutcome",
    "Notification",
    "DepthSnapshot",
    "MarketEvent",
    "Lagged",
    "Subscriber",
    "KabukenRuntimeError",
    "RuntimeBusy",
    "Backpressure",
    "RuntimeClosed",
    "RuntimeFailed",
    "ControlTimeout",
    "refusal_codes",
    "matches_frame",
    "GatewayError",
    "Gateway",
    "GatewayAccount",
    "GatewayCertificate",
    "GatewayOrderView",
    "GatewayTransfer",
    "GatewayStats",
    "GatewayRuntime",
    "GatewayProducer",
    "GatewayRuntimeStats",
    "GatewayJournal",
    "GatewayOutcome",
    "GATEWAY_ORDER_DTYPE",
    "GATEWAY_REPORT_DTYPE",
    "GATEWAY_BUY",
    "GATEWAY_SELL",
    "GATEWAY_CANCEL",
    "GATEWAY_TIF_GTC",
    "GATEWAY_TIF_IOC",
    "GATEWAY_TIF_FOK",
    "GATEWAY_TIF_DAY",
    "GATEWAY_ACCEPTED",
    "GATEWAY_REFUSED",
    "GATEWAY_FILL",
    "GATEWAY_DONE",
    "GATEWAY_DONE_FILLED",
    "GATEWAY_DONE_CANCELLED",
    "GATEWAY_DONE_EXPIRED",
    "gateway_orders",
    "gateway_buy",
    "gateway_sell",
    "gateway_cancel",
]
