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
    ├── OobError                            out-of-band verification (.kind)
    │   ├── AuthenticationFailed, InvalidSession, ContractorDisabled,
    │   ├── AboveMaximum, AnswerRejected, TooManyPending,
    │   ├── NoFreeCallbackLine, MethodUnavailable, RandomnessFailure,
    │   └── DuplicateUserCode, UnknownContractor, InvalidRecord, InvalidOobConfig
    ├── CryptoError                         bad or weak key, bad signature (.kind)
    ├── DecodeError (also ValueError)       malformed wire bytes (.kind)
    ├── IdentityError                       attestation / policy check (.kind, .detail)
    ├── CertificateError                    certificate or endorsement (.kind, .detail)
    ├── RegisterError                       the register refused (.kind, .detail)
    ├── IdListError                         a snapshot or delta refused (.kind)
    ├── SettlementError                     the ledger refused (.kind)
    ├── ExchangeError
    │   ├── RequestRefused                  signed refusal (.code, .reason, .notice)
    │   └── InvariantViolation              check_invariants (.violations)
    └── KabukenRuntimeError                 the concurrent runtime (kabuken.Runtime)
        ├── RuntimeBusy                     the object is owned by a running Runtime
        ├── Backpressure                    queue full: nothing taken, retry
        ├── RuntimeClosed                   the runtime is shut down
        ├── RuntimeFailed                   the sequencer failed (an engine bug)
        └── ControlTimeout                  a control was not applied in time

(The runtime family is named ``KabukenRuntimeError`` so that it does not
shadow Python's built-in :class:`RuntimeError`; it does not derive from it.)
"""

from __future__ import annotations

from typing import Any, List, Optional


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


class _Kinded(KabukenError):
    """A family whose errors carry the engine variant's stable name."""

    kind: str

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class _Detailed(KabukenError):
    """A family whose errors carry a kind and an optional detail (the
    nested error's kind, or the engine's explanation)."""

    kind: str
    detail: Optional[str]

    def __init__(self, message: str, kind: str, detail: Optional[str] = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.detail = detail


class CryptoError(_Kinded):
    """A key or signature check failed. ``kind``: ``"bad_key"``,
    ``"weak_key"``, ``"bad_signature"``, ``"batch_failed"``, ``"bad_batch"``;
    ``indices`` lists the bad items of a failed batch (else None)."""

    indices: Optional[List[int]]

    def __init__(self, message: str, kind: str, indices: Optional[List[int]] = None) -> None:
        super().__init__(message, kind)
        self.indices = None if indices is None else list(indices)


class DecodeError(_Kinded, ValueError):
    """Wire bytes are malformed. ``kind``: ``"truncated"``,
    ``"trailing_bytes"``, ``"too_long"``, ``"bad_utf8"``, ``"bad_tag"``,
    ``"bad_version"``, ``"wrong_kind"``, ``"non_canonical"``."""


class IdentityError(_Detailed):
    """An attestation or policy check failed. ``kind``: ``"unknown_party"``,
    ``"expired"``, ``"revoked"``, ``"bad_issuer"``, ``"crypto"``,
    ``"user_id_mismatch"``, ``"wrong_role"``, ``"policy_violation"``,
    ``"superseded"``; ``detail`` the crypto kind or policy text."""


class CertificateError(_Detailed):
    """A certificate or endorsement was refused. ``kind``: ``"expired"``,
    ``"restricted"``, ``"crypto"``, ``"wrong_register"``, ``"not_holder"``,
    ``"wrong_certificate"``, ``"wrong_recipient"``."""


class RegisterError(_Detailed):
    """The register refused a request; nothing changed. ``kind`` names the
    engine's ``RegisterError`` variant (``"identity"``, ``"certificate"``,
    ``"replay"``, ``"unknown_instrument"``, ``"forged_id"``, ``"unknown_id"``,
    ``"not_live"``, ``"digest_mismatch"``, ``"wrong_holder"``,
    ``"quantity_mismatch"``, ``"mismatch"``, ``"exceeds_authorized"``,
    ``"unknown_transfer"``, ``"not_your_transfer"``, ``"already_claimed"``,
    ``"bad_reissue"``, ``"text_too_long"``, ``"table_full"``, or ``"audit"``
    from ``Register.audit``); ``detail`` the nested error's kind."""


class IdListError(_Kinded):
    """An ID-list snapshot or delta was refused. ``kind``:
    ``"wrong_signer"``, ``"crypto"``, ``"wrong_instrument"``,
    ``"no_snapshot"``, ``"gap"``, ``"inconsistent"``, ``"stale"``."""


class SettlementError(_Kinded):
    """The ledger refused an operation; nothing changed. ``kind``:
    ``"unknown_account"``, ``"duplicate_account"``, ``"not_owner"``,
    ``"insufficient_funds"``, ``"bad_amount"``, ``"unknown_reservation"``,
    ``"reservation_too_small"``, ``"account_mismatch"``,
    ``"unknown_signer"``, ``"signature"``, ``"replay"``, ``"overflow"``,
    or ``"conservation"`` from ``Ledger.check_conservation``."""


class ExchangeError(KabukenError):
    """The exchange family."""


class RequestRefused(ExchangeError):
    """The exchange refused a request with a signed error notice; nothing
    changed. ``code`` is the refusal's wire code, ``reason`` its stable name
    (see ``kabuken.refusal_codes()``), ``reception_number`` the order it
    named (0 for a new order) and ``notice`` the signed notice
    (a :class:`kabuken.Message`)."""

    code: int
    reason: str
    reception_number: int
    notice: Any

    def __init__(self, message: str, code: int, reason: str, reception_number: int, notice: Any) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.reception_number = reception_number
        self.notice = notice


class InvariantViolation(ExchangeError):
    """``Exchange.check_invariants`` or ``Gateway.check_invariants`` found
    violations (``violations``)."""

    violations: List[str]

    def __init__(self, message: str, violations: List[str]) -> None:
        super().__init__(message)
        self.violations = list(violations)


class GatewayError(_Kinded, ExchangeError):
    """The trusted gateway refused a set-up call or query; nothing changed
    (orders are refused with a report instead). ``kind``:
    ``"bad_instrument"``, ``"duplicate_instrument"``,
    ``"unknown_instrument"``, ``"unknown_account"``, ``"bad_amount"``,
    ``"overflow"``, ``"full"``."""


class KabukenRuntimeError(KabukenError):
    """The concurrent runtime family (:class:`kabuken.Runtime`)."""


class RuntimeBusy(KabukenRuntimeError):
    """An ``Exchange``, ``Register`` or ``Ledger`` is owned by a running
    :class:`kabuken.Runtime` (a ``Gateway`` by a running
    :class:`kabuken.GatewayRuntime`); it is handed back by ``shutdown()``."""


class Backpressure(KabukenRuntimeError):
    """A producer's queue is full or its response credit is used up: the
    request was not taken (nothing is lost). Receive responses and retry,
    or use ``Producer.submit_wait``."""


class RuntimeClosed(KabukenRuntimeError):
    """The runtime is shut down: it takes no more requests."""


class RuntimeFailed(KabukenRuntimeError):
    """The runtime's sequencer failed (a panic in the engine: a bug). The
    runtime took no more requests, requests in flight got no answer, and
    the exchange, register and ledger it owned are not handed back (their
    state cannot be trusted); using them raises this error."""


class ControlTimeout(KabukenRuntimeError):
    """A control (``Runtime.add_party``, ``deposit``, ``end_of_day``, ...)
    was queued but not applied within its timeout; it stays queued and is
    applied in sequence later."""


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
    "GatewayError",
    "KabukenRuntimeError",
    "RuntimeBusy",
    "Backpressure",
    "RuntimeClosed",
    "RuntimeFailed",
    "ControlTimeout",
]
