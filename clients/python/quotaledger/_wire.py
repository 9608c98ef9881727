"""What both clients share about the connection: settings, the Hello exchange, splitting the stream into answers,
and the table of requests waiting for theirs."""

from __future__ import annotations

import itertools
import os
import ssl as _ssl
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from ._keys import read_key
from ._protocol import (FRAME_HEADER, HEADER, HEADER_LENGTH, LENGTH_PREFIX, SCHEMA_ID, SCHEMA_VERSION, Hello,
                        HelloResult, ResultCode, Role, SnapshotResult)
from ._protocol import Result as ResultMessage
from ._types import (AuthenticationError, LedgerConnectionError, LedgerTimeoutError, RequestId, Result,
                     SnapshotReport)

DEFAULT_PORT = 7070
MAX_BACKOFF = 5.0
MIN_FRAME = 16
"""The shortest frame a server accepts: header and correlation id (docs/protocol.md, "Framing")."""


@dataclass(frozen=True)
class Settings:
    """How a client connects and retries (the keyword arguments of both clients)."""

    endpoints: tuple[tuple[str, int], ...]
    """The ledgers to connect to, (host, port) each, in this order: one ledger, or the members of a cluster."""
    key: str
    ssl: _ssl.SSLContext | None
    server_hostname: str | None
    timeout: float
    attempts: int
    connect_timeout: float
    reconnect_backoff: float
    max_frame_length: int

    @property
    def address(self) -> str:
        """Every endpoint, for messages about the client as a whole."""
        return ",".join(endpoint_name(endpoint) for endpoint in self.endpoints)


def endpoint_name(endpoint: tuple[str, int]) -> str:
    host, port = endpoint
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_endpoints(spec: str | Iterable[str]) -> tuple[tuple[str, int], ...]:
    """``"host:port,host:port"`` or a sequence of ``"host:port"`` as (host, port) pairs; ValueError naming a
    malformed entry."""
    entries = spec.split(",") if isinstance(spec, str) else list(spec)
    parsed = []
    for entry in entries:
        host, _, port = entry.strip().rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]  # [IPv6]:port
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"endpoint {entry.strip()!r} is not host:port (port 1-65535)")
        parsed.append((host, int(port)))
    if not parsed:
        raise ValueError("endpoints is empty: give host:port for every ledger")
    return tuple(parsed)


def reconnect_plan(settings_: Settings, lost: int) -> Iterator[tuple[int, float]]:
    """The endpoints to try in turn after the connection to endpoint ``lost`` failed, each with the seconds to wait
    before it: the next endpoints at once (a cluster: another member), ``lost`` itself last, and the backoff (from
    reconnect_backoff, doubling to MAX_BACKOFF) only before each further round of them all. With one endpoint,
    the backoff before every attempt."""
    count = len(settings_.endpoints)
    delay = settings_.reconnect_backoff
    for attempt in itertools.count():
        wait = 0.0
        if attempt % count == 0 and (attempt or count == 1):
            wait = delay
            delay = min(delay * 2, MAX_BACKOFF)
        yield (lost + 1 + attempt) % count, wait


def unreachable(settings_: Settings, last: LedgerConnectionError) -> LedgerConnectionError:
    """The error of a first connection that no endpoint took: with several, how many were tried and the last
    one's reason."""
    if len(settings_.endpoints) == 1:
        return last
    return LedgerConnectionError(f"cannot connect to any of {len(settings_.endpoints)} endpoints "
                                 f"({settings_.address}); the last: {last}")


def settings(host: str, port: int, endpoints: str | Iterable[str] | None, key: str | None,
             key_file: str | os.PathLike[str] | None, data_dir: str | os.PathLike[str], tls: bool | _ssl.SSLContext,
             cafile: str | os.PathLike[str] | None, server_hostname: str | None, timeout: float, attempts: int,
             connect_timeout: float, reconnect_backoff: float, max_frame_length: int) -> Settings:
    api_key = read_key(key, key_file, data_dir)
    try:
        encoded = api_key.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("the API key must be ASCII") from None
    if not 0 < len(encoded) <= Hello.API_KEY_MAX_LENGTH:
        raise ValueError(f"the API key must be 1 to {Hello.API_KEY_MAX_LENGTH} characters")
    if timeout <= 0 or connect_timeout <= 0 or attempts < 1 or reconnect_backoff <= 0:
        raise ValueError("timeout, connect_timeout and reconnect_backoff must be > 0, attempts >= 1")
    context: _ssl.SSLContext | None
    if isinstance(tls, _ssl.SSLContext):
        context = tls
    elif tls or cafile is not None:
        context = _ssl.create_default_context(cafile=os.fspath(cafile) if cafile is not None else None)
    else:
        context = None
    return Settings(parse_endpoints(endpoints) if endpoints is not None else ((host, port),), api_key, context,
                    server_hostname, timeout, attempts, connect_timeout, reconnect_backoff, max_frame_length)


def hello_frame(key: str) -> bytes:
    """The first frame of every connection: Hello, version 2, correlation id 0."""
    encoded = key.encode("ascii")
    frame = bytearray(Hello.frame_length(encoded))
    Hello.encode(frame, 0, 0, SCHEMA_VERSION, encoded)
    return bytes(frame)


def check_hello(frame: bytes, address: str) -> Role:
    """The answer to Hello (a frame without its length prefix): the role, or the reason as an error."""
    if len(frame) < HEADER_LENGTH:
        raise LedgerConnectionError(f"{address} answered Hello with a frame too short to read")
    block_length, template, schema, version = HEADER.unpack_from(frame, 0)
    if schema == SCHEMA_ID and template == HelloResult.TEMPLATE_ID and len(frame) >= 8 + HelloResult.BLOCK_LENGTH:
        _, code, role, server_version = HelloResult.decode(frame, 8, block_length, version)
        if code == ResultCode.OK:
            if server_version != SCHEMA_VERSION:
                raise LedgerConnectionError(f"{address} answers in protocol version {server_version}, not "
                                            f"{SCHEMA_VERSION}")
            return Role(role)
        raise AuthenticationError(f"{address} refused the API key: {ResultCode(code).name}", ResultCode(code))
    if schema == SCHEMA_ID and template == ResultMessage.TEMPLATE_ID and len(frame) >= 8 + 10:
        code = ResultCode(frame[8 + 9])
        if code == ResultCode.UNSUPPORTED_VERSION:
            raise LedgerConnectionError(f"{address} does not speak protocol version {SCHEMA_VERSION} "
                                        "(an older ledger)")
        raise AuthenticationError(f"{address} refused the Hello: {code.name}", code)
    raise LedgerConnectionError(f"{address} answered Hello with template {template} of schema {schema}: "
                                "not a quota ledger?")


class StreamError(Exception):
    """The stream is out of step (a frame length no server sends): drop the connection."""


_LENGTH = LENGTH_PREFIX.unpack_from
_FRAME_HEADER = FRAME_HEADER.unpack_from
_RESULT_TEMPLATE = ResultMessage.TEMPLATE_ID
_RESULT_BLOCK = ResultMessage.BLOCK_LENGTH
_RESULT = ResultMessage.BLOCK.unpack_from
_RESULT_DECODE = ResultMessage.decode
_SNAPSHOT_TEMPLATE = SnapshotResult.TEMPLATE_ID
_new_result = tuple.__new__
_RESULT_SHORTEST = min(ResultMessage.BLOCK_LENGTHS.values())
_SNAPSHOT_SHORTEST = min(SnapshotResult.BLOCK_LENGTHS.values())

# A pending request is a tuple (target, request id hi, request id lo, holder, offset[, deadline]): the target gets
# the answer; the frame as first encoded is at ``offset`` in holder[0], the bytes of the batch it went out in, and
# holder[1] is that batch's deadline (None until it is written). A resend is those very bytes. The deadline is the
# sixth item for snapshots, which have a table and a longer deadline of their own.
TARGET = 0
HI = 1
LO = 2
HOLDER = 3
OFFSET = 4
SLOW_DEADLINE = 5


def frame_of(entry: tuple) -> bytes:
    data = entry[HOLDER][0]
    offset = entry[OFFSET]
    return data[offset:offset + 4 + _LENGTH(data, offset)[0]]


def parse(data: bytes, pending: dict[int, tuple], slow: dict[int, tuple], max_frame: int,
          deliver: Callable[[tuple, Result | SnapshotReport], Any]) -> int:
    """Splits ``data`` into frames, takes the request each answer belongs to out of ``pending`` (or ``slow``: the
    snapshots) and hands it with its Result (or SnapshotReport) to ``deliver``.

    Returns the bytes consumed: a frame cut short waits for the next read. Answers to requests no longer pending
    (the second answer to a resend, a protocol error for a dead frame) are dropped. Raises StreamError on a frame
    length no ledger sends (the stream is out of step: drop the connection)."""
    position = 0
    end = len(data)
    while end - position >= 12:  # every frame has its length and a header
        length, block_length, template, schema, version = _FRAME_HEADER(data, position)
        if length < 8 or length > max_frame:
            raise StreamError(f"a frame of {length} bytes")
        following = position + 4 + length
        if following > end:
            break
        if schema == SCHEMA_ID and length >= 8 + block_length:
            if template == _RESULT_TEMPLATE:
                if block_length >= _RESULT_BLOCK:
                    fields = _RESULT(data, position + 12)
                elif block_length >= _RESULT_SHORTEST:  # a version-1 Result
                    fields = _RESULT_DECODE(data, position + 12, block_length, version)
                else:
                    raise StreamError(f"a Result block of {block_length} bytes")
                entry = pending.pop(fields[0], None)
                if entry is None:
                    entry = slow.pop(fields[0], None)
                if entry is not None:
                    deliver(entry, _new_result(Result, (entry[1], entry[2]) + fields))
            elif template == _SNAPSHOT_TEMPLATE:
                if block_length < _SNAPSHOT_SHORTEST:
                    raise StreamError(f"a SnapshotResult block of {block_length} bytes")
                correlation_id, code, sequence, size, pause = SnapshotResult.decode(
                    data, position + 12, block_length, version)
                entry = slow.pop(correlation_id, None)
                if entry is not None:
                    deliver(entry, SnapshotReport(ResultCode(code), sequence, size, pause))
        position = following
    return position


def expired(pending: dict[int, tuple], attempts: dict[int, int], now: float, settings_: Settings,
            ) -> tuple[list[tuple[int, tuple]], list[tuple[tuple, LedgerTimeoutError]]]:
    """Takes out of ``pending`` the requests whose deadline has passed, walking from the oldest: those with
    attempts left, to be sent again (the same frame: the same request id), and those that ran out, with their
    error. ``attempts`` counts the sends of the requests sent more than once."""
    due = []
    for correlation_id, entry in pending.items():
        deadline = entry[HOLDER][1]
        if deadline is None or deadline > now:
            break  # deadlines grow along the table: a resend goes to its end
        due.append(correlation_id)
    again = []
    failed = []
    for correlation_id in due:
        entry = pending.pop(correlation_id)
        sent = attempts.get(correlation_id, 1)
        if sent >= settings_.attempts:
            attempts.pop(correlation_id, None)
            failed.append((entry, timeout_error(entry, sent, settings_)))
        else:
            attempts[correlation_id] = sent + 1
            again.append((correlation_id, entry))
    return again, failed


def timeout_error(entry: tuple, sent: int, settings_: Settings) -> LedgerTimeoutError:
    which = f" (request id {RequestId(entry[HI], entry[LO])})" if entry[HI] or entry[LO] else ""
    return LedgerTimeoutError(f"no answer from {settings_.address} after {sent} attempt{'s' if sent > 1 else ''} "
                              f"of {settings_.timeout:g} s{which}")


def tls_reason(ex: _ssl.SSLError) -> str:
    """Why a TLS handshake failed, in words, with a hint when the server does not speak TLS at all."""
    reason = getattr(ex, "verify_message", None) or ex.reason or str(ex)
    if ex.reason == "WRONG_VERSION_NUMBER":
        return f"{reason} (the server does not speak TLS?)"
    return str(reason)


monotonic = time.monotonic

__all__ = ["Settings", "settings", "endpoint_name", "parse_endpoints", "reconnect_plan", "unreachable", "hello_frame",
           "check_hello", "parse", "expired", "StreamError", "Result", "MIN_FRAME", "DEFAULT_PORT", "MAX_BACKOFF",
           "monotonic", "tls_reason"]
