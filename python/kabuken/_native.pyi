"""Type stubs of the native module ``kabuken._native`` (checked against the
built module by ``python -m mypy.stubtest kabuken._native`` in the test
command).

Errors: the native functions raise the exceptions of :mod:`kabuken.errors`
(``KabukenError`` and its families: ``ConfigError``, ``BookError``,
``MarketError``, ``ReplayError``/``FormatError``, ``OobError`` and its
subclasses), ``TypeError`` for wrong argument types, ``OverflowError`` for
integers outside the parameter's range, ``ValueError`` for bad values, and
``OSError`` (e.g. ``FileNotFoundError``) for unreadable files.
"""

import os
from typing import Callable, Final, Optional, Union, final

import numpy as np
import numpy.typing as npt

__version__: str
__all__ = [
    "Accepted",
    "Book",
    "BookConfig",
    "CMD_ADVANCE_TIME",
    "CMD_CANCEL",
    "CMD_EXPIRE_DAY",
    "CMD_MODIFY",
    "CMD_NEW",
    "CMD_REDUCE",
    "CancelReason",
    "Cancelled",
    "CommandKind",
    "ConfirmResponse",
    "ConfirmationInfo",
    "Device",
    "DuressReport",
    "EV_ACCEPTED",
    "EV_CANCELLED",
    "EV_MODIFIED",
    "EV_REDUCED",
    "EV_REJECTED",
    "EV_TRADE",
    "LevelInfo",
    "LockedOutNotice",
    "Market",
    "Modified",
    "ModifyPriority",
    "NO_PRICE",
    "OobConfig",
    "OobService",
    "OrderInfo",
    "PendingRequest",
    "Reduced",
    "RejectReason",
    "Rejected",
    "SECOND",
    "SessionToken",
    "Side",
    "StpMode",
    "Submission",
    "TimeInForce",
    "Trade",
    "Transaction",
    "__version__",
    "biometric_challenge",
    "flash_report_sha256",
    "load_flash",
    "load_lobster",
    "lobster_top_of_book",
    "parse_flash",
    "replay_columns",
    "seal_message",
]

_SideArg = Union[Side, str]
_Path = Union[str, os.PathLike[str]]

# ---- enums -------------------------------------------------------------------

@final
class Side:
    BUY: Final[Side]
    SELL: Final[Side]
    def __int__(self) -> int: ...

@final
class TimeInForce:
    GTC: Final[TimeInForce]
    IOC: Final[TimeInForce]
    FOK: Final[TimeInForce]
    DAY: Final[TimeInForce]
    GTD: Final[TimeInForce]
    def __int__(self) -> int: ...

@final
class StpMode:
    OFF: Final[StpMode]
    CANCEL_NEWEST: Final[StpMode]
    CANCEL_OLDEST: Final[StpMode]
    CANCEL_BOTH: Final[StpMode]
    DECREMENT: Final[StpMode]
    def __int__(self) -> int: ...

@final
class CancelReason:
    REQUESTED: Final[CancelReason]
    UNFILLED: Final[CancelReason]
    FILL_OR_KILL: Final[CancelReason]
    EXPIRED: Final[CancelReason]
    SELF_TRADE: Final[CancelReason]
    def __int__(self) -> int: ...

@final
class RejectReason:
    DUPLICATE_ID: Final[RejectReason]
    UNKNOWN_ORDER: Final[RejectReason]
    INVALID_QUANTITY: Final[RejectReason]
    LOT_SIZE: Final[RejectReason]
    PRICE_OUT_OF_RANGE: Final[RejectReason]
    POST_ONLY_WOULD_CROSS: Final[RejectReason]
    INVALID_ORDER_TYPE: Final[RejectReason]
    ALREADY_EXPIRED: Final[RejectReason]
    BOOK_FULL: Final[RejectReason]
    def __int__(self) -> int: ...

@final
class CommandKind:
    NEW: Final[CommandKind]
    CANCEL: Final[CommandKind]
    REDUCE: Final[CommandKind]
    MODIFY: Final[CommandKind]
    def __int__(self) -> int: ...

@final
class ModifyPriority:
    KEEP_ON_DECREASE: Final[ModifyPriority]
    ALWAYS_LOSE: Final[ModifyPriority]
    def __int__(self) -> int: ...

# ---- book --------------------------------------------------------------------

@final
class BookConfig:
    """A book's fixed rules. Raises ``ConfigError`` when inconsistent."""

    @property
    def lot_size(self) -> int: ...
    @property
    def max_qty(self) -> int: ...
    @property
    def min_price(self) -> int: ...
    @property
    def max_price(self) -> int: ...
    @property
    def modify_priority(self) -> ModifyPriority: ...
    @property
    def max_orders(self) -> int: ...
    @property
    def direct_id_limit(self) -> int: ...
    def __new__(
        cls,
        *,
        lot_size: int = 1,
        max_qty: int = ...,
        min_price: int = ...,
        max_price: int = ...,
        modify_priority: ModifyPriority = ...,
        max_orders: int = ...,
        direct_id_limit: int = ...,
    ) -> BookConfig: ...
    @staticmethod
    def flash() -> BookConfig: ...

@final
class Accepted:
    @property
    def id(self) -> int: ...
    @property
    def side(self) -> Side: ...
    @property
    def price(self) -> Optional[int]: ...
    @property
    def qty(self) -> int: ...

@final
class Trade:
    @property
    def maker_id(self) -> int: ...
    @property
    def taker_id(self) -> int: ...
    @property
    def taker_side(self) -> Side: ...
    @property
    def price(self) -> int: ...
    @property
    def qty(self) -> int: ...
    @property
    def maker_remaining(self) -> int: ...
    @property
    def taker_remaining(self) -> int: ...

@final
class Cancelled:
    @property
    def id(self) -> int: ...
    @property
    def side(self) -> Side: ...
    @property
    def price(self) -> Optional[int]: ...
    @property
    def qty(self) -> int: ...
    @property
    def reason(self) -> CancelReason: ...

@final
class Reduced:
    @property
    def id(self) -> int: ...
    @property
    def side(self) -> Side: ...
    @property
    def qty(self) -> int: ...
    @property
    def remaining(self) -> int: ...
    @property
    def reason(self) -> CancelReason: ...

@final
class Modified:
    @property
    def id(self) -> int: ...
    @property
    def side(self) -> Side: ...
    @property
    def price(self) -> int: ...
    @property
    def qty(self) -> int: ...

@final
class Rejected:
    @property
    def id(self) -> int: ...
    @property
    def command(self) -> CommandKind: ...
    @property
    def reason(self) -> RejectReason: ...

_Event = Union[Accepted, Trade, Cancelled, Reduced, Modified, Rejected]

@final
class LevelInfo:
    @property
    def price(self) -> int: ...
    @property
    def qty(self) -> int: ...
    @property
    def orders(self) -> int: ...

@final
class OrderInfo:
    @property
    def id(self) -> int: ...
    @property
    def side(self) -> Side: ...
    @property
    def price(self) -> int: ...
    @property
    def qty(self) -> int: ...
    @property
    def owner(self) -> int: ...
    @property
    def stp(self) -> StpMode: ...
    @property
    def tif(self) -> TimeInForce: ...
    @property
    def expire_at(self) -> Optional[int]: ...
    @property
    def post_only(self) -> bool: ...
    @property
    def priority(self) -> int: ...

@final
class Book:
    """A single-instrument price-time order book. Commands return their
    events; a refused command raises ``BookError`` and changes nothing."""

    def __new__(cls, config: Optional[BookConfig] = None) -> Book: ...
    def submit(
        self,
        id: int,
        side: _SideArg,
        qty: int,
        price: Optional[int] = None,
        *,
        tif: Optional[TimeInForce] = None,
        expire_at: Optional[int] = None,
        post_only: bool = False,
        owner: int = 0,
        stp: StpMode = ...,
    ) -> list[_Event]: ...
    def cancel(self, id: int) -> list[_Event]: ...
    def reduce(self, id: int, by: int) -> list[_Event]: ...
    def modify(self, id: int, price: int, qty: int) -> list[_Event]: ...
    def advance_time(self, now: int) -> list[_Event]: ...
    def expire_day(self) -> list[_Event]: ...
    def clear(self) -> None: ...
    def best_bid(self) -> Optional[tuple[int, int]]: ...
    def best_ask(self) -> Optional[tuple[int, int]]: ...
    def best_level(self, side: _SideArg) -> Optional[LevelInfo]: ...
    def depth_at(self, side: _SideArg, price: int) -> Optional[LevelInfo]: ...
    def levels(self, side: _SideArg, n: Optional[int] = None) -> list[LevelInfo]: ...
    def order(self, id: int) -> Optional[OrderInfo]: ...
    def orders(self, side: _SideArg) -> list[OrderInfo]: ...
    def level_orders(self, side: _SideArg, price: int) -> list[OrderInfo]: ...
    def state_hash(self) -> bytes: ...
    def heap_bytes(self) -> int: ...
    @property
    def now(self) -> int: ...
    @property
    def config(self) -> BookConfig: ...
    def __len__(self) -> int: ...

@final
class Market:
    """Books keyed by instrument. Unknown or duplicate instruments raise
    ``MarketError``."""

    def __new__(cls) -> Market: ...
    def add_instrument(self, instrument: int, config: Optional[BookConfig] = None) -> None: ...
    def remove_instrument(self, instrument: int) -> Book: ...
    def instruments(self) -> list[int]: ...
    def submit(
        self,
        instrument: int,
        id: int,
        side: _SideArg,
        qty: int,
        price: Optional[int] = None,
        *,
        tif: Optional[TimeInForce] = None,
        expire_at: Optional[int] = None,
        post_only: bool = False,
        owner: int = 0,
        stp: StpMode = ...,
    ) -> list[_Event]: ...
    def cancel(self, instrument: int, id: int) -> list[_Event]: ...
    def reduce(self, instrument: int, id: int, by: int) -> list[_Event]: ...
    def modify(self, instrument: int, id: int, price: int, qty: int) -> list[_Event]: ...
    def advance_time(self, instrument: int, now: int) -> list[_Event]: ...
    def expire_day(self, instrument: int) -> list[_Event]: ...
    def best_bid(self, instrument: int) -> Optional[tuple[int, int]]: ...
    def best_ask(self, instrument: int) -> Optional[tuple[int, int]]: ...
    def levels(self, instrument: int, side: _SideArg, n: Optional[int] = None) -> list[LevelInfo]: ...
    def order(self, instrument: int, id: int) -> Optional[OrderInfo]: ...
    def order_count(self, instrument: int) -> int: ...
    def state_hash(self) -> bytes: ...
    def __len__(self) -> int: ...

# ---- bulk paths and loaders ---------------------------------------------------

CMD_NEW: int
CMD_CANCEL: int
CMD_MODIFY: int
CMD_REDUCE: int
CMD_ADVANCE_TIME: int
CMD_EXPIRE_DAY: int
EV_ACCEPTED: int
EV_TRADE: int
EV_CANCELLED: int
EV_MODIFIED: int
EV_REDUCED: int
EV_REJECTED: int
NO_PRICE: int

def replay_columns(
    columns: dict[str, npt.NDArray[np.generic]], book: Book, events: bool = True
) -> dict[str, npt.NDArray[np.generic]]:
    """The native bulk replay (``kabuken.replay`` coerces dtypes first)."""

def load_flash(path: _Path) -> dict[str, npt.NDArray[np.generic]]:
    """A Flash workload (``.bin`` or ``.bin.xz``) as command columns."""

def parse_flash(data: bytes) -> dict[str, npt.NDArray[np.generic]]:
    """The bytes of a Flash workload as command columns."""

def flash_report_sha256(path: _Path) -> str:
    """SHA-256 of the canonical report stream of a Flash workload."""

def load_lobster(path: _Path) -> tuple[dict[str, npt.NDArray[np.generic]], npt.NDArray[np.int64]]:
    """A LOBSTER zip: message columns and the (rows, 4 * levels) orderbook."""

def lobster_top_of_book(
    path: _Path, levels: int = 5, compare_levels: Optional[int] = None
) -> tuple[dict[str, npt.NDArray[np.generic]], dict[str, object]]:
    """Top levels after every LOBSTER message, and a reconstruction summary."""

# ---- out-of-band verification -------------------------------------------------

SECOND: int

@final
class Transaction:
    def __new__(
        cls, instrument: int, side: _SideArg, quantity: int, amount: int, limit: Optional[int] = None
    ) -> Transaction: ...
    @property
    def instrument(self) -> int: ...
    @property
    def side(self) -> Side: ...
    @property
    def quantity(self) -> int: ...
    @property
    def limit(self) -> Optional[int]: ...
    @property
    def amount(self) -> int: ...
    def digest(self) -> bytes: ...
    def encode(self) -> bytes: ...
    def short_summary(self) -> str: ...
    def spoken_summary(self) -> str: ...

@final
class Device:
    def __new__(cls, address: str, kind: str = "sms", seal_key: Optional[bytes] = None) -> Device: ...
    @property
    def address(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def seal_key(self) -> Optional[bytes]: ...

@final
class PendingRequest:
    @property
    def request_ref(self) -> int: ...
    @property
    def contractor(self) -> int: ...
    @property
    def transaction(self) -> Transaction: ...
    @property
    def tx_digest(self) -> bytes: ...
    @property
    def method(self) -> str: ...
    @property
    def submitted_at(self) -> int: ...
    @property
    def expires_at(self) -> int: ...
    def matches(self, tx: Transaction) -> bool: ...

@final
class Submission:
    @property
    def request(self) -> PendingRequest: ...
    @property
    def disposition(self) -> str: ...

@final
class ConfirmationInfo:
    @property
    def request_ref(self) -> int: ...
    @property
    def contractor(self) -> int: ...
    @property
    def code(self) -> str: ...
    @property
    def cancel_code(self) -> str: ...
    @property
    def line(self) -> Optional[int]: ...
    @property
    def transaction(self) -> Transaction: ...
    @property
    def tx_digest(self) -> bytes: ...
    @property
    def method(self) -> str: ...
    @property
    def issued_at(self) -> int: ...
    @property
    def expires_at(self) -> int: ...
    def short_text(self) -> str: ...
    def spoken_text(self) -> str: ...

@final
class LockedOutNotice:
    @property
    def request_ref(self) -> int: ...
    @property
    def at(self) -> int: ...

@final
class DuressReport:
    @property
    def request(self) -> PendingRequest: ...
    @property
    def user_code(self) -> str: ...
    @property
    def line(self) -> Optional[int]: ...
    @property
    def at(self) -> int: ...
    @property
    def with_cancel(self) -> bool: ...

@final
class ConfirmResponse:
    @property
    def kind(self) -> str: ...
    @property
    def request_ref(self) -> int: ...
    def encode(self) -> bytes: ...

@final
class SessionToken:
    def __new__(cls, id: int, secret: bytes) -> SessionToken: ...
    @property
    def id(self) -> int: ...
    @property
    def secret(self) -> bytes: ...

@final
class OobConfig:
    def __new__(
        cls,
        pepper: bytes,
        *,
        argon2: Union[str, tuple[int, int, int], None] = None,
        code_digits: int = 8,
        request_ttl: int = ...,
        max_wrong_answers: int = 5,
        max_login_failures: int = 5,
        session_ttl: int = ...,
        callback_lines: list[int] = ...,
        max_pending_per_contractor: int = 64,
        finished_ttl: int = ...,
    ) -> OobConfig: ...
    @property
    def code_digits(self) -> int: ...
    @property
    def request_ttl(self) -> int: ...
    @property
    def callback_lines(self) -> list[int]: ...

@final
class OobService:
    """Out-of-band verification. Hooks are Python callables:
    ``hold(request)``, ``forward(request)``, ``release(request, reason)``,
    ``deliver(device, notice) -> bool | None``, ``alarm(report)``,
    ``biometric(contractor, challenge, sample) -> bool``."""

    def __new__(
        cls,
        config: OobConfig,
        *,
        hold: Optional[Callable[[PendingRequest], object]] = None,
        forward: Optional[Callable[[PendingRequest], object]] = None,
        release: Optional[Callable[[PendingRequest, str], object]] = None,
        deliver: Optional[Callable[[Device, Union[ConfirmationInfo, LockedOutNotice]], object]] = None,
        alarm: Optional[Callable[[DuressReport], object]] = None,
        biometric: Optional[Callable[[int, bytes, bytes], object]] = None,
        seed: Optional[int] = None,
    ) -> OobService: ...
    def register_contractor(
        self,
        user_code: str,
        pin: str,
        devices: list[Device],
        second_codes: list[tuple[str, str]],
        *,
        threshold: int,
        max_amount: int,
        methods: Optional[list[tuple[int, str]]] = None,
        rolling_window: Optional[int] = None,
        delivery: str = "broadcast",
        fallback_after: Optional[int] = None,
        disabled: bool = False,
        now: int = 0,
    ) -> int: ...
    def contractor_id(self, user_code: str) -> Optional[int]: ...
    def is_disabled(self, contractor: int) -> Optional[bool]: ...
    def pending_count(self, contractor: int) -> Optional[int]: ...
    def disable_contractor(self, contractor: int, now: int) -> None: ...
    def enable_contractor(self, contractor: int, now: int) -> None: ...
    def login(self, user_code: str, pin: str, now: int) -> SessionToken: ...
    def logout(self, session: SessionToken, now: int) -> None: ...
    def submit(self, session: SessionToken, transaction: Transaction, now: int) -> Submission: ...
    def answer(
        self,
        user_code: str,
        request_ref: int,
        code: str,
        second_code: str,
        tx_digest: bytes,
        now: int,
        *,
        line: Optional[int] = None,
        seal: Optional[bytes] = None,
        biometric: Optional[bytes] = None,
    ) -> ConfirmResponse: ...
    def sweep(self, now: int) -> dict[str, int]: ...
    def stats(self) -> dict[str, int]: ...
    def audit_head(self) -> tuple[int, bytes]: ...
    def audit_records(self) -> list[dict[str, object]]: ...
    def verify_audit(self) -> bool: ...

def seal_message(request_ref: int, tx_digest: bytes, code: str) -> bytes: ...
def biometric_challenge(request_ref: int, tx_digest: bytes) -> bytes: ...
