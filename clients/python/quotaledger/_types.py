"""Request ids, results and errors: what both clients hand to their callers."""

from __future__ import annotations

import itertools
import secrets
import uuid
from operator import itemgetter
from typing import NamedTuple, Union

from ._protocol import Op, ResultCode, ResultFlags

_INT64_MAX = (1 << 63) - 1
_UINT64 = 1 << 64


def _signed(value: int) -> int:
    return value - _UINT64 if value > _INT64_MAX else value


class RequestId(NamedTuple):
    """A 128-bit request id as on the wire: ``hi`` (a UUID's most significant bits) and ``lo``, signed int64 each."""

    hi: int
    lo: int

    @classmethod
    def of(cls, value: RequestIdLike) -> RequestId:
        """A RequestId from a RequestId, a (hi, lo) pair, a uuid.UUID or a UUID string."""
        if isinstance(value, RequestId):
            return value
        if isinstance(value, tuple):
            hi, lo = value
            return cls(_signed(hi & (_UINT64 - 1)), _signed(lo & (_UINT64 - 1)))
        if isinstance(value, str):
            value = uuid.UUID(value)
        if isinstance(value, uuid.UUID):
            return cls(_signed(value.int >> 64), _signed(value.int & (_UINT64 - 1)))
        raise TypeError(f"not a request id: {value!r}")

    @classmethod
    def random(cls) -> RequestId:
        """A random id (never 0:0); a client's RequestIds is cheaper per id."""
        return cls.of(uuid.uuid4())

    @property
    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=((self.hi % _UINT64) << 64) | (self.lo % _UINT64))

    def __str__(self) -> str:
        return str(self.uuid)


RequestIdLike = Union[RequestId, uuid.UUID, str, "tuple[int, int]"]

_new_request_id = tuple.__new__


class RequestIds:
    """Request ids without a secure random draw per id (docs/protocol.md, "Making request ids"): ``hi`` is 64
    random bits drawn once (never 0, so an id is never the nil id 0:0), ``lo`` starts at 64 random bits and counts
    up by one per id, wrapping from 2^63 - 1 to -2^63 as int64 arithmetic does. Thread-safe: ``next`` on an
    itertools.count is atomic."""

    __slots__ = ("hi", "counter")

    def __init__(self, hi: int | None = None, first_lo: int | None = None) -> None:
        while hi is None or hi == 0:
            hi = _signed(secrets.randbits(64))
        self.hi = hi
        self.counter = itertools.count(_signed(secrets.randbits(64)) if first_lo is None else first_lo)
        """Counts the low halves; past 2^63 - 1 a value is taken minus 2^64 (next_lo)."""

    def next_lo(self) -> int:
        lo = next(self.counter)
        return lo - _UINT64 if lo > _INT64_MAX else lo

    def next(self) -> RequestId:
        return _new_request_id(RequestId, (self.hi, self.next_lo()))


_CODES = [ResultCode(value) for value in range(256)]
_OPS = [Op(value) for value in range(256)]

_HI = 0
_LO = 1
_OP = 3
_CODE = 4
_FLAGS = 5


class Result(tuple):
    """The ledger's answer to one request (the Result message, docs/protocol.md and docs/semantics.md#results).

    A tuple underneath (cheap to make on the hot path): the request id's two halves (0, 0 for QUERY), then the
    Result message's fields in wire order. Version-2 fields are 0 from a version-1 answer."""

    __slots__ = ()

    correlation_id: int = property(itemgetter(2))  # type: ignore[assignment]
    op_value: int = property(itemgetter(3))  # type: ignore[assignment]  # the raw byte
    code_value: int = property(itemgetter(4))  # type: ignore[assignment]  # the raw byte
    flags_value: int = property(itemgetter(5))  # type: ignore[assignment]
    from_free: int = property(itemgetter(6))  # type: ignore[assignment]
    from_balance: int = property(itemgetter(7))  # type: ignore[assignment]
    returned: int = property(itemgetter(8))  # type: ignore[assignment]
    balance: int = property(itemgetter(9))  # type: ignore[assignment]
    held: int = property(itemgetter(10))  # type: ignore[assignment]
    credit_limit: int = property(itemgetter(11))  # type: ignore[assignment]
    free_remaining: int = property(itemgetter(12))  # type: ignore[assignment]
    virtual_key_id: int = property(itemgetter(13))  # type: ignore[assignment]
    units: int = property(itemgetter(14))  # type: ignore[assignment]
    amount: int = property(itemgetter(15))  # type: ignore[assignment]
    retry_after_millis: int = property(itemgetter(16))  # type: ignore[assignment]
    key_spent: int = property(itemgetter(17))  # type: ignore[assignment]
    key_budget_remaining: int = property(itemgetter(18))  # type: ignore[assignment]

    FIELDS = ("request_id_hi", "request_id_lo", "correlation_id", "op", "code", "flags", "from_free",
              "from_balance", "returned", "balance", "held", "credit_limit", "free_remaining", "virtual_key_id",
              "units", "amount", "retry_after_millis", "key_spent", "key_budget_remaining")

    @property
    def request_id(self) -> RequestId | None:
        """The request's id (a reserve's is the hold id); None for QUERY."""
        if self[_HI] or self[_LO]:
            return _new_request_id(RequestId, (self[_HI], self[_LO]))
        return None

    @property
    def op(self) -> Op:
        return _OPS[self[_OP]]

    @property
    def code(self) -> ResultCode:
        """The result code; one this client does not know is ResultCode.UNKNOWN_<n>, a rejection."""
        return _CODES[self[_CODE]]

    @property
    def ok(self) -> bool:
        return self[_CODE] == 0

    @property
    def flags(self) -> ResultFlags:
        return ResultFlags(self[_FLAGS])

    @property
    def duplicate(self) -> bool:
        """A retry of an accepted request: this is the original result."""
        return bool(self[_FLAGS] & ResultFlags.DUPLICATE)

    @property
    def exceeded_hold(self) -> bool:
        return bool(self[_FLAGS] & ResultFlags.EXCEEDED_HOLD)

    @property
    def frozen(self) -> bool:
        return bool(self[_FLAGS] & ResultFlags.FROZEN)

    @property
    def key_revoked(self) -> bool:
        return bool(self[_FLAGS] & ResultFlags.KEY_REVOKED)

    @property
    def key_expired(self) -> bool:
        return bool(self[_FLAGS] & ResultFlags.KEY_EXPIRED)

    def as_dict(self) -> dict[str, object]:
        """Every field by name (op and code as names, the request id as a UUID string or None)."""
        values: dict[str, object] = dict(zip(self.FIELDS[2:], self[2:]))
        request_id = self.request_id
        values["request_id"] = None if request_id is None else str(request_id)
        values["op"] = self.op.name
        values["code"] = self.code.name
        values.update(duplicate=self.duplicate, exceeded_hold=self.exceeded_hold, frozen=self.frozen,
                      key_revoked=self.key_revoked, key_expired=self.key_expired)
        return values

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value}" for name, value in zip(self.FIELDS[6:], self[6:]) if value)
        flags = f", flags={self.flags!r}" if self[_FLAGS] else ""
        return f"Result({self.op.name} {self.code.name}{flags}{', ' if shown else ''}{shown})"


_new_result = tuple.__new__


def make_result(request_id: RequestId | None, fields: tuple) -> Result:
    """A Result from the request id and the Result message's fields in wire order."""
    hi, lo = (0, 0) if request_id is None else request_id
    return _new_result(Result, (hi, lo) + tuple(fields))


class SnapshotReport(NamedTuple):
    """The answer to TAKE_SNAPSHOT: ``code`` OK once the snapshot is durable, UNAVAILABLE while another runs."""

    code: ResultCode
    sequence: int
    bytes: int
    pause_micros: int


class LedgerError(Exception):
    """Everything this package raises about the ledger."""


class RejectedError(LedgerError):
    """The ledger answered with a code other than OK: a rejection (INSUFFICIENT_FUNDS, RATE_LIMITED, ...),
    UNAVAILABLE (retry later with the same request id) or a protocol error (FORBIDDEN, MALFORMED, ...).
    ``result`` is the whole answer: a rejection reports the account as it is now (docs/semantics.md#results)."""

    def __init__(self, result: Result) -> None:
        super().__init__(f"{result.op.name} rejected: {result.code.name}")
        self.result = result

    @property
    def code(self) -> ResultCode:
        return self.result.code


class LedgerTimeoutError(LedgerError, TimeoutError):
    """No answer after every attempt (each ``timeout`` long, the same request id each time)."""


class LedgerConnectionError(LedgerError, ConnectionError):
    """The ledger cannot be reached, closed the connection at once, failed the TLS handshake, or does not speak
    protocol version 2."""


class AuthenticationError(LedgerError):
    """The ledger refused the API key (UNAUTHENTICATED); retrying with it does not help."""

    def __init__(self, message: str, code: ResultCode = ResultCode.UNAUTHENTICATED) -> None:
        super().__init__(message)
        self.code = code


class ClientClosedError(LedgerError):
    """The client was closed (by you, or after the key was refused) before the request got its answer."""


class KeyNotFoundError(LedgerError, ValueError):
    """No API key where one was looked for (read_key)."""
