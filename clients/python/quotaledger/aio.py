"""The asyncio client: one connection (asyncio streams), many requests in flight, the frames of one loop tick
written in one batch.

    client = await AsyncLedgerClient.connect("127.0.0.1", 7070, key_file="gateway.key")
    try:
        result = await client.deduct(user_id, service_id, 120)   # raises RejectedError when refused
    finally:
        await client.close()

Every operation returns an asyncio future right away (no coroutine per request): start many, then await them
(``asyncio.gather``). For the most throughput, ``with_callback(fn)`` gives the same operations answered through
``fn(result, error)`` instead of futures.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import ssl
import struct
from typing import Callable, Iterable

from ._ops import Operations
from ._protocol import LENGTH_PREFIX, Role, TakeSnapshot
from ._types import (AuthenticationError, ClientClosedError, LedgerConnectionError, LedgerError,
                     LedgerTimeoutError, RejectedError, RequestId, RequestIdLike, RequestIds, Result, SnapshotReport)
from ._wire import (DEFAULT_PORT, SLOW_DEADLINE, Settings, StreamError, check_hello, endpoint_name, expired,
                    frame_of, hello_frame, monotonic, parse, reconnect_plan, settings, tls_reason, unreachable)

LOG = logging.getLogger("quotaledger")

ResultCallback = Callable[["Result | SnapshotReport | None", "LedgerError | None"], None]
"""Called with the result (accepted or refused: check ``result.ok``), or with None and the reason there is none:
LedgerTimeoutError, ClientClosedError, AuthenticationError."""

_Future = asyncio.Future
_READ_SIZE = 1 << 18
_INT64_MAX = (1 << 63) - 1
_UINT64 = 1 << 64


class AsyncLedgerClient(Operations["asyncio.Future[Result]"]):
    """A pipelined asyncio client of the ledger; make one with ``await AsyncLedgerClient.connect(...)``.

    Resends a request with the very same frame (same request id) when its answer does not come within
    ``timeout`` seconds, up to ``attempts`` sends in all, and after a reconnect: the ledger answers a repeated id
    with the original result (``duplicate``), so a retry never charges twice. A lost connection is reopened in the
    background, with backoff from ``reconnect_backoff`` doubling to 5 s. A refused key closes the client.

    ``endpoints`` names the members of a cluster instead of ``host`` and ``port``: the client connects to the first
    that takes the connection, and when a connection fails or drops it goes on to the next one at once and sends
    every unanswered request there again with the same request id (the cluster answers a retry of an applied
    request with its first result, ``duplicate``); the backoff is waited, and doubled, only after trying them all.

    Use it from the event loop that connected it only."""

    def __init__(self, settings_: Settings) -> None:
        """Use connect()."""
        self._settings = settings_
        self._loop = asyncio.get_running_loop()
        self._ids = RequestIds()
        self._hi = self._ids.hi
        self._lo = self._ids.counter
        self._timeout = settings_.timeout
        self._max_length = settings_.max_frame_length + 4
        self._pending: dict[int, tuple] = {}
        self._slow: dict[int, tuple] = {}  # snapshots: one attempt, a long deadline, never resent
        self._attempts: dict[int, int] = {}  # sends of the requests sent more than once
        self._next_correlation_id = 1
        self._batch = bytearray(1 << 16)
        self._batch_length = 0
        self._holder: list = [None, None]
        self._flush_scheduled = False
        self._writer: asyncio.StreamWriter | None = None
        self._ready = False
        self._closed = False
        self._role = Role.NONE
        self._endpoint = 0  # which of the settings' endpoints the connection goes to
        self._hello = hello_frame(settings_.key)
        self._reader_task: asyncio.Task | None = None
        self._reconnect_task: asyncio.Task | None = None
        self._sweep_interval = min(0.05, settings_.timeout / 4)
        self._sweep_handle: asyncio.TimerHandle | None = None

    @classmethod
    async def connect(cls, host: str = "127.0.0.1", port: int = DEFAULT_PORT, key: str | None = None, *,
                      endpoints: str | Iterable[str] | None = None,
                      key_file: str | os.PathLike[str] | None = None, data_dir: str | os.PathLike[str] = "data",
                      tls: bool | ssl.SSLContext = False, cafile: str | os.PathLike[str] | None = None,
                      server_hostname: str | None = None, timeout: float = 2.0, attempts: int = 3,
                      connect_timeout: float = 5.0, reconnect_backoff: float = 0.1,
                      max_frame_length: int = 4096) -> AsyncLedgerClient:
        """Connects and authenticates. ``endpoints``: ``"host:port,host:port"`` or a sequence of ``"host:port"``,
        tried in this order (replaces ``host`` and ``port``). The key: ``key``, else ``key_file``'s first line, else
        LEDGER_KEY, else ``data_dir``/admin.key (as the CLI). TLS with ``tls=True`` (the system's CAs, or
        ``cafile``'s) or an ssl.SSLContext; ``server_hostname`` is the name the certificate must carry (default:
        the host of the endpoint in use).

        Raises LedgerConnectionError (no endpoint reachable, closed, TLS failure, an older ledger),
        AuthenticationError, ValueError (a malformed endpoint)."""
        client = cls(settings(host, port, endpoints, key, key_file, data_dir, tls, cafile, server_hostname, timeout,
                              attempts, connect_timeout, reconnect_backoff, max_frame_length))
        last = None
        for index in range(len(client._settings.endpoints)):
            try:
                reader, writer, role = await client._open(index)
                break
            except AuthenticationError:
                raise  # the members of a cluster share their keys: no other endpoint answers otherwise
            except LedgerConnectionError as ex:
                last = ex
        else:
            raise unreachable(client._settings, last)  # type: ignore[arg-type]
        client._start(reader, writer, role)
        client._sweep_handle = client._loop.call_later(client._sweep_interval, client._sweep)
        return client

    @property
    def role(self) -> Role:
        """The role the key authenticated with: GATEWAY or ADMIN."""
        return self._role

    @property
    def connected(self) -> bool:
        return self._ready

    @property
    def in_flight(self) -> int:
        """Requests waiting for their answer."""
        return len(self._pending) + len(self._slow)

    @property
    def request_ids(self) -> RequestIds:
        """The generator of this client's request ids (make a hold id before the reserve, for instance)."""
        return self._ids

    def with_callback(self, callback: ResultCallback) -> CallbackSender:
        """The operations answered through ``callback(result, error)``, without a future per request: the
        fastest way to keep many requests in flight. Refused results come as results; each call returns the
        request's correlation id."""
        return CallbackSender(self, callback)

    def take_snapshot(self) -> asyncio.Future[SnapshotReport]:
        """Admin: snapshot the running ledger now. One attempt (never resent), up to 10 x timeout x attempts."""
        future = self._loop.create_future()
        correlation_id = self._submit(future, self._slow, TakeSnapshot, TakeSnapshot.FRAME_LENGTH, False, ())
        self._slow[correlation_id] += (monotonic() + self._timeout * self._settings.attempts * 10,)
        return future

    async def close(self) -> None:
        """Closes the connection; requests still waiting fail with ClientClosedError."""
        if self._closed:
            return
        writer = self._writer
        self._shutdown(ClientClosedError("the client was closed"))
        if writer is not None:
            try:
                # TLS waits for the server's close_notify (up to 30 s by default): a second is plenty
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            except asyncio.TimeoutError:
                writer.transport.abort()
            except (OSError, ssl.SSLError):
                pass

    async def __aenter__(self) -> AsyncLedgerClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    # --- requests

    def _request(self, message: type, frame_length: int, request_id: RequestIdLike | None | bool,
                 fields: tuple) -> asyncio.Future[Result]:
        future = self._loop.create_future()
        self._submit(future, self._pending, message, frame_length, request_id, fields)
        return future

    def _submit(self, target: object, table: dict[int, tuple], message: type, length: int,
                request_id: RequestIdLike | None | bool, fields: tuple) -> int:
        """Encodes the frame into this tick's batch and registers the request; the batch is written once the
        tick's callbacks have run. Returns the correlation id."""
        if self._closed:
            raise ClientClosedError("the client is closed")
        if request_id is None:
            hi = self._hi
            lo = next(self._lo)
            if lo > _INT64_MAX:
                lo -= _UINT64
        elif request_id is False:
            hi = lo = 0
        else:
            hi, lo = RequestId.of(request_id)  # type: ignore[arg-type]
        if length > self._max_length:
            raise ValueError(f"{message.__name__}: a frame of {length - 4} bytes, beyond the maximum "
                             f"{self._max_length - 4}")
        correlation_id = self._next_correlation_id
        batch = self._batch
        offset = self._batch_length
        end = offset + length
        if end > len(batch):
            batch.extend(bytes(max(end - len(batch), len(batch))))
        try:
            if request_id is False:
                message.encode(batch, offset, correlation_id, *fields)
            else:
                message.encode(batch, offset, correlation_id, hi, lo, *fields)
        except struct.error as ex:
            raise ValueError(f"{message.__name__}: {ex} (fields {fields})") from None
        self._next_correlation_id = correlation_id + 1
        self._batch_length = end
        table[correlation_id] = (target, hi, lo, self._holder, offset)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        return correlation_id

    def _again(self, entries: list[tuple[int, tuple]]) -> None:
        """Sends requests again: their very frames, copied into this tick's batch (whose deadline they get)."""
        pending = self._pending
        for correlation_id, entry in entries:
            frame = frame_of(entry)
            offset = self._batch_length
            end = offset + len(frame)
            if end > len(self._batch):
                self._batch.extend(bytes(max(end - len(self._batch), len(self._batch))))
            self._batch[offset:end] = frame
            self._batch_length = end
            pending[correlation_id] = (entry[0], entry[1], entry[2], self._holder, offset)
        if entries and not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Writes the tick's batch; while reconnecting it is kept (its requests are sent again once connected)."""
        self._flush_scheduled = False
        length = self._batch_length
        if not length:
            return
        with memoryview(self._batch) as view:
            data = bytes(view[:length])  # the transport may keep it (TLS): never the reused buffer itself
        holder = self._holder
        holder[0] = data
        holder[1] = monotonic() + self._timeout
        self._holder = [None, None]
        self._batch_length = 0
        if self._ready:
            self._writer.write(data)  # type: ignore[union-attr]

    # --- answers

    def _deliver(self, entry: tuple, result: Result | SnapshotReport) -> None:
        target = entry[0]
        if self._attempts and result.__class__ is Result:
            self._attempts.pop(result[2], None)  # type: ignore[index]
        if target.__class__ is _Future:
            if not target.done():
                if result.__class__ is Result and result[4]:  # the code: not OK
                    target.set_exception(RejectedError(result))  # type: ignore[arg-type]
                else:
                    target.set_result(result)
        else:
            try:
                target(result, None)
            except Exception as ex:  # the client carries on; the loop's exception handler hears of it
                self._loop.call_exception_handler({"message": "quotaledger result callback failed",
                                                   "exception": ex})

    def _fail(self, entry: tuple, error: LedgerError) -> None:
        target = entry[0]
        if target.__class__ is _Future:
            if not target.done():
                target.set_exception(error)
        else:
            try:
                target(None, error)
            except Exception as ex:
                self._loop.call_exception_handler({"message": "quotaledger result callback failed",
                                                   "exception": ex})

    def _sweep(self) -> None:
        """Every few ms: sends again what timed out (the same frame), fails what ran out of attempts."""
        if self._closed:
            return
        now = monotonic()
        again, failed = expired(self._pending, self._attempts, now, self._settings)
        for entry, error in failed:
            self._fail(entry, error)
        self._again(again)
        if self._slow:
            for correlation_id, entry in list(self._slow.items()):
                if entry[SLOW_DEADLINE] <= now:
                    del self._slow[correlation_id]
                    self._fail(entry, LedgerTimeoutError(f"no answer to TAKE_SNAPSHOT from {self._settings.address}"
                                                         f" within {self._timeout * self._settings.attempts * 10:g} s"))
        self._sweep_handle = self._loop.call_later(self._sweep_interval, self._sweep)

    # --- the connection

    async def _open(self, index: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Role]:
        """Connects to endpoint ``index`` and authenticates; it becomes the endpoint in use."""
        s = self._settings
        host, port = s.endpoints[index]
        address = endpoint_name(s.endpoints[index])
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=s.ssl,
                                        server_hostname=(s.server_hostname or host) if s.ssl else None,
                                        limit=_READ_SIZE * 4),
                s.connect_timeout)
        except ssl.SSLError as ex:
            raise LedgerConnectionError(f"TLS handshake with {address} failed: {tls_reason(ex)}") from None
        except asyncio.TimeoutError:
            raise LedgerConnectionError(f"no connection to {address} within {s.connect_timeout:g} s") from None
        except OSError as ex:
            raise LedgerConnectionError(f"cannot connect to {address}: {ex.strerror or ex}") from None
        try:
            writer.write(self._hello)
            # a refused key is answered after a pause of about a second
            head = await asyncio.wait_for(reader.readexactly(4), s.connect_timeout + 2)
            (length,) = LENGTH_PREFIX.unpack(head)
            if not 8 <= length <= s.max_frame_length:
                raise LedgerConnectionError(f"{address} answered Hello with a {length}-byte frame: not a quota "
                                            "ledger?")
            body = await asyncio.wait_for(reader.readexactly(length), s.connect_timeout)
            role = check_hello(body, address)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            writer.close()
            raise LedgerConnectionError(f"connection closed by {address} before Hello (is it full, or does it "
                                        "expect TLS?)") from None
        except asyncio.TimeoutError:
            writer.close()
            raise LedgerConnectionError(f"no answer to Hello from {address}") from None
        except LedgerError:
            writer.close()
            raise
        self._endpoint = index
        return reader, writer, role

    def _start(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, role: Role) -> None:
        """Connected: what waits is sent again, oldest first, with the same ids (no double charge)."""
        self._flush()  # not ready yet: the batch encoded while away is kept, not written
        self._writer = writer
        self._role = role
        self._ready = True
        self._again(list(self._pending.items()))
        self._reader_task = self._loop.create_task(self._read(reader, writer))

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        leftover = b""
        max_frame = self._settings.max_frame_length
        deliver = self._deliver
        try:
            while True:
                chunk = await reader.read(_READ_SIZE)
                if not chunk:
                    break
                data = leftover + chunk if leftover else chunk
                used = parse(data, self._pending, self._slow, max_frame, deliver)
                leftover = data[used:] if used < len(data) else b""
        except (OSError, ssl.SSLError, StreamError) as ex:
            LOG.debug("connection to %s lost: %s", endpoint_name(self._settings.endpoints[self._endpoint]), ex)
        if self._writer is writer and not self._closed:
            self._lost()

    def _lost(self) -> None:
        self._ready = False
        if self._writer is not None:
            self._writer.close()
        lost = LedgerConnectionError(f"connection to {endpoint_name(self._settings.endpoints[self._endpoint])} lost "
                                     "while a snapshot ran")
        for entry in self._slow.values():
            self._fail(entry, lost)
        self._slow.clear()
        self._reconnect_task = self._loop.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        for index, delay in reconnect_plan(self._settings, self._endpoint):
            if delay:
                await asyncio.sleep(delay)
            if self._closed:
                return
            try:
                reader, writer, role = await self._open(index)
            except AuthenticationError as ex:
                self._shutdown(ex)
                return
            except LedgerConnectionError as ex:
                LOG.debug("reconnecting: %s", ex)
                continue
            if self._closed:
                writer.close()
                return
            self._start(reader, writer, role)
            return

    def _shutdown(self, error: LedgerError) -> None:
        self._closed = True
        self._ready = False
        if self._sweep_handle is not None:
            self._sweep_handle.cancel()
        current = asyncio.current_task()
        for task in (self._reader_task, self._reconnect_task):
            if task is not None and task is not current:
                task.cancel()
        if self._writer is not None:
            self._writer.close()
        entries = list(self._pending.values()) + list(self._slow.values())
        self._pending.clear()
        self._slow.clear()
        self._attempts.clear()
        for entry in entries:
            self._fail(entry, error)


class CallbackSender(Operations[int]):
    """The operations of an AsyncLedgerClient answered through one callback (``with_callback``); each returns
    the request's correlation id."""

    def __init__(self, client: AsyncLedgerClient, callback: ResultCallback) -> None:
        self._client = client
        self.callback = callback
        self._request = functools.partial(client._submit, callback, client._pending)  # type: ignore[method-assign]




__all__ = ["AsyncLedgerClient", "CallbackSender", "ResultCallback"]
