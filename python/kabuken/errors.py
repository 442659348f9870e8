"""The kabuken exception hierarchy: one family per engine module.

Every error kabuken raises on purpose derives from :class:`KabukenError`.
Wrong argument types raise :class:`TypeError` and out-of-range numbers
:class:`OverflowError` or :class:`ValueError`, as usual in Python; nothing
that crosses the boundary crashes the interpreter.

::

    KabukenError
    ├── ConfigError (also ValueError)      invalid BookConfig / OobConfig
    ├── BookError                           a command the book refused (.reason)
    ├── MarketError                         unknown or duplicate instrument
    ├── ReplayError                         a workload could not be replayed
    │   └── FormatError (also ValueError)   a malformed Flash or LOBSTER file
    └── OobError                            out-of-band verification (.kind)
        ├── AuthenticationFailed, InvalidSession, ContractorDisabled,
        ├── AboveMaximum, AnswerRejected, TooManyPending,
        ├── NoFreeCallbackLine, MethodUnavailable, RandomnessFailure,
        └── DuplicateUserCode, UnknownContractor, InvalidRecord, InvalidOobConfig

Families for the engine modules still to come (certificates, identity,
register, settlement, exchange, runtime) are added here as those modules
are bound, each as a direct subclass of :class:`KabukenError`.
"""

from __future__ import annotations


class KabukenError(Exception):
    """Base class of every error kabuken raises on purpose."""


class ConfigError(KabukenError, ValueError):
    """A configuration (book, out-of-band service) is inconsistent."""


class BookError(KabukenError):
    """The book refused a command; the book is unchanged.

    ``reason`` is the stable name of the engine's ``RejectReason``
    (``"unknown_order"``, ``"duplicate_id"``, ...), ``code`` its number,
    ``command`` the refused command (``"new"``, ``"cancel"``, ``"reduce"``,
    ``"modify"``) and ``order_id`` the order id it named.
    """

    reason: str
    code: int
    command: str
    order_id: int

    def __init__(self, message: str, reason: str, code: int, command: str, order_id: int) -> None:
        super().__init__(message)
        self.reason = reason
        self.code = code
        self.command = command
        self.order_id = order_id


class MarketError(KabukenError):
    """A market-level call named an unknown instrument or listed one twice."""

    instrument: int

    def __init__(self, message: str, instrument: int) -> None:
        super().__init__(message)
        self.instrument = instrument


class ReplayError(KabukenError):
    """A workload or data file could not be replayed."""


class FormatError(ReplayError, ValueError):
    """A Flash workload or LOBSTER file is malformed."""


class OobError(KabukenError):
    """Out-of-band verification refused a call. ``kind`` names the variant."""

    kind: str

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class AuthenticationFailed(OobError):
    """Login refused (uniform on purpose: never says which check failed)."""


class InvalidSession(OobError):
    """The session token is unknown, ended or expired."""


class ContractorDisabled(OobError):
    """The contractor is disabled."""


class AboveMaximum(OobError):
    """The amount exceeds the contractor's maximum."""


class AnswerRejected(OobError):
    """An answer confirmed or cancelled nothing (uniform on purpose)."""


class TooManyPending(OobError):
    """The contractor already has the maximum number of pending requests."""


class NoFreeCallbackLine(OobError):
    """Every callback line is busy."""


class MethodUnavailable(OobError):
    """The method table asks for a biometric check but no verifier is set."""


class RandomnessFailure(OobError):
    """The random number generator misbehaved."""


class DuplicateUserCode(OobError):
    """A contractor with this user code is already registered."""


class UnknownContractor(OobError):
    """No contractor with this id."""


class InvalidRecord(OobError, ValueError):
    """A contractor specification is invalid."""


class InvalidOobConfig(OobError, ValueError):
    """The out-of-band service configuration is invalid."""


__all__ = [
    "KabukenError",
    "ConfigError",
    "BookError",
    "MarketError",
    "ReplayError",
    "FormatError",
    "OobError",
    "AuthenticationFailed",
    "InvalidSession",
    "ContractorDisabled",
    "AboveMaximum",
    "AnswerRejected",
    "TooManyPending",
    "NoFreeCallbackLine",
    "MethodUnavailable",
    "RandomnessFailure",
    "DuplicateUserCode",
    "UnknownContractor",
    "InvalidRecord",
    "InvalidOobConfig",
]
