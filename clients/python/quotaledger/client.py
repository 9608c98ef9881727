"""The blocking client: thread-safe, one connection, many requests in flight.

    with LedgerClient("127.0.0.1", 7070, key_file="gateway.key") as client:
        result = client.deduct(user_id, service_id, 120)          # blocks; raises RejectedError when refused
        future = client.futures.deduct(user_id, service_id, 120)  # concurrent.futures.Future: pipelined

A caller encodes its frame and writes it to the socket itself (no hand-over to another thread); one I/O thread
reads the answers, hands each to the request with its correlation id, resends what timed out and reconnects.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import selectors
import socket
import ssl
import struct
import threading
from typing import Any, Callable, Iterable

from ._ops import Operations
from ._protocol import LENGTH_PREFIX, Role, TakeSnapshot
from ._types import (AuthenticationError, ClientClosedError, LedgerConnectionError, LedgerError, LedgerTimeoutError,
                     RejectedError, RequestId, RequestIdLike, RequestIds, Result, SnapshotReport)
from ._wire import (DEFAULT_PORT, HOLDER, MAX_BACKOFF, SLOW_DEADLINE, Settings, StreamError, check_hello,
                    endpoint_name, expired, frame_of, hello_frame, monotonic, parse, reconnect_plan, settings,
                    tls_reason, unreachable)

ResultCallback = Callable[["Result | SnapshotReport | None", "LedgerError | None"], None]
"""Called on the client's I/O thread with the result (accepted or refused: check ``result.ok``), or with None and
the reason there is none (LedgerTimeoutError, ClientClosedError, AuthenticationError). Keep it short, and never
make a blocking call of the client in it (the I/O thread would wait for itself)."""

_READ_SIZE = 1 << 18
_HIGH_WATER = 4 << 20  # bytes waiting for the socket beyond which callers wait (the server reads slower)


class LedgerClient(Operations[Result]):
    """A thread-safe, pipelined, blocking client of the ledger; connects (and authenticates) when made.

    Every operation blocks until its result and raises RejectedError when the ledger refuses it; ``futures`` has
    the same operations returning concurrent.futures.Future, ``with_callback(fn)`` with a callback. A request
    whose answer does not come within ``timeout`` seconds is resent with the very same frame (the same request
    id), up to ``attempts`` sends in all, and so is every unanswered request after a reconnect: the ledger answers
    a repeated id with the original result (``duplicate``), so a retry never charges twice. Then
    LedgerTimeoutError. A lost connection is reopened in the background (backoff from ``reconnect_backoff``,
    doubling to 5 s); a refused key closes the client (AuthenticationError).

    ``endpoints`` names the members of a cluster instead of ``host`` and ``port``: the client connects to the first
    that takes the connection, and when a connection fails or drops it goes on to the next one at once and sends
    every unanswered request there again with the same request id (the cluster answers a retry of an applied
    request with its first result, ``duplicate``); the backoff is waited, and doubled, only after trying them
    all."""

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT, key: str | None = None, *,
                 endpoints: str | Iterable[str] | None = None,
                 key_file: str | os.PathLike[str] | None = None, data_dir: str | os.PathLike[str] = "data",
                 tls: bool | ssl.SSLContext = False, cafile: str | os.PathLike[str] | None = None,
                 server_hostname: str | None = None, timeout: float = 2.0, attempts: int = 3,
                 connect_timeout: float = 5.0, reconnect_backoff: float = 0.1, max_frame_length: int = 4096) -> None:
        """Connects and authenticates. ``endpoints``: ``"host:port,host:port"`` or a sequence of ``"host:port"``,
        tried in this order (replaces ``host`` and ``port``). The key: ``key``, else ``key_file``'s first line, else
        LEDGER_KEY, else ``data_dir``/admin.key (as the CLI). TLS with ``tls=True`` (the system's CAs, or
        ``cafile``'s) or an ssl.SSLContext; ``server_hostname`` is the name the certificate must carry (default:
        the host of the endpoint in use).

        Raises LedgerConnectionError (no endpoint reachable, closed, TLS failure, an older ledger),
        AuthenticationError, ValueError (a malformed endpoint)."""
        self._settings = settings(host, port, endpoints, key, key_file, data_dir, tls, cafile, server_hostname, timeout,
                                  attempts, connect_timeout, reconnect_backoff, max_frame_length)
        self._ids = RequestIds()
        self._hello = hello_frame(self._settings.key)
        # guards the tables, the connection, the bytes to send and the TLS state; never held while blocking
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._pending: dict[int, tuple] = {}
        self._slow: dict[int, tuple] = {}  # snapshots: one attempt, a long deadline, never resent
        self._attempts: dict[int, int] = {}  # sends of the requests sent more than once
        self._next_correlation_id = 1
        self._scratch = bytearray(max_frame_length + 4)
        self._out = bytearray()
        self._closed = False
        self._stop = threading.Event()
        self._endpoint = 0  # which of the settings' endpoints the connection goes to; only the opening thread sets it
        self._waker, self._wakeup = socket.socketpair()
        self._waker.setblocking(False)
        self._wakeup.setblocking(False)
        self.futures = FutureSender(self)
        """The same operations, each returning a concurrent.futures.Future (rejections as RejectedError)."""
        try:
            self._connection: _Connection | None = self._open_first()
        except BaseException:
            self._waker.close()
            self._wakeup.close()
            raise
        self._role = self._connection.role
        self._thread = threading.Thread(target=self._run, name=f"quotaledger-{self._settings.address}",
                                        daemon=True)
        self._thread.start()

    @property
    def role(self) -> Role:
        """The role the key authenticated with: GATEWAY or ADMIN."""
        return self._role

    @property
    def connected(self) -> bool:
        return self._connection is not None

    @property
    def in_flight(self) -> int:
        """Requests waiting for their answer."""
        return len(self._pending) + len(self._slow)

    @property
    def request_ids(self) -> RequestIds:
        """The generator of this client's request ids (make a hold id before the reserve, for instance)."""
        return self._ids

    def with_callback(self, callback: ResultCallback) -> CallbackSender:
        """The operations answered through ``callback(result, error)`` on the I/O thread; each returns None."""
        return CallbackSender(self, callback)

    def take_snapshot(self) -> SnapshotReport:
        """Admin: snapshot the running ledger now and wait until it is durable (code OK; UNAVAILABLE while
        another runs). One attempt, never resent, up to 10 x timeout x attempts."""
        waiter = _Waiter()
        allowed = self._settings.timeout * self._settings.attempts * 10
        self._submit(waiter, self._slow, TakeSnapshot, TakeSnapshot.FRAME_LENGTH, False, (), allowed)
        return waiter.wait(allowed + self._settings.timeout)

    def close(self) -> None:
        """Closes the connection; requests still waiting fail with ClientClosedError."""
        self._shutdown(ClientClosedError("the client was closed"))
        if threading.current_thread() is not self._thread:
            self._thread.join(5)

    def __enter__(self) -> LedgerClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- requests

    def _request(self, message: type, frame_length: int, request_id: RequestIdLike | None | bool,
                 fields: tuple) -> Result:
        waiter = _Waiter()
        self._submit(waiter, self._pending, message, frame_length, request_id, fields)
        s = self._settings
        # the I/O thread fails the request after its last attempt; this bound only guards against a lost thread
        return waiter.wait(s.timeout * (s.attempts + 1) + s.connect_timeout * len(s.endpoints) + MAX_BACKOFF)

    def _submit(self, target: Callable, table: dict[int, tuple], message: type, length: int,
                request_id: RequestIdLike | None | bool, fields: tuple, slow: float = 0.0) -> int:
        """Encodes and registers the request and writes it (what the socket takes now; the I/O thread writes the
        rest). Returns the correlation id."""
        if request_id is None:
            hi = self._ids.hi
            lo = self._ids.next_lo()
        elif request_id is False:
            hi = lo = 0
        else:
            hi, lo = RequestId.of(request_id)  # type: ignore[arg-type]
        if length > self._settings.max_frame_length + 4:
            raise ValueError(f"{message.__name__}: a frame of {length - 4} bytes, beyond the maximum "
                             f"{self._settings.max_frame_length}")
        wake = False
        with self._lock:
            if self._closed:
                raise ClientClosedError("the client is closed")
            correlation_id = self._next_correlation_id
            try:
                if request_id is False:
                    message.encode(self._scratch, 0, correlation_id, *fields)
                else:
                    message.encode(self._scratch, 0, correlation_id, hi, lo, *fields)
            except struct.error as ex:
                raise ValueError(f"{message.__name__}: {ex} (fields {fields})") from None
            self._next_correlation_id = correlation_id + 1
            with memoryview(self._scratch) as view:
                frame = bytes(view[:length])
            now = monotonic()
            if slow:
                table[correlation_id] = (target, hi, lo, [frame, now], 0, now + slow)
            else:
                table[correlation_id] = (target, hi, lo, [frame, now + self._settings.timeout], 0)
            connection = self._connection
            if connection is not None:
                wake = self._send(connection, frame)
                if wake and len(self._out) > _HIGH_WATER:
                    self._wake()
                    wake = False
                    while len(self._out) > _HIGH_WATER and not self._closed and self._connection is connection:
                        self._drained.wait(0.1)  # the server reads slower than we write: wait for the I/O thread
        if wake:
            self._wake()
        return correlation_id

    def _send(self, connection: _Connection, plain: bytes) -> bool:
        """Queues the bytes and writes what the socket takes now (non-blocking). Under the lock.

        Returns whether bytes are left for the I/O thread to write once the socket can take them."""
        self._out += connection.wire(plain)
        try:
            sent = connection.sock.send(self._out)
            del self._out[:sent]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            return True  # the I/O thread sees the connection fail and reconnects
        return bool(self._out)

    def _wake(self) -> None:
        try:
            self._waker.send(b"\0")
        except OSError:
            pass  # full: it is awake already

    # --- the I/O thread

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._wakeup, selectors.EVENT_READ)
        interval = min(0.05, self._settings.timeout / 4)
        next_sweep = monotonic() + interval
        registered: tuple[socket.socket, int] | None = None
        try:
            while not self._closed:
                connection = self._connection
                if connection is None:
                    if registered is not None:
                        selector.unregister(registered[0])
                        registered = None
                    self._reconnect()
                    continue
                try:
                    events = selectors.EVENT_READ | (selectors.EVENT_WRITE if self._out else 0)
                    if registered is None or registered[0] is not connection.sock:
                        if registered is not None:
                            selector.unregister(registered[0])
                        selector.register(connection.sock, events)
                        registered = (connection.sock, events)
                    elif registered[1] != events:
                        selector.modify(connection.sock, events)
                        registered = (connection.sock, events)
                    ready = selector.select(max(0.0, next_sweep - monotonic()))
                except (OSError, ValueError, KeyError):
                    if self._closed:
                        break  # close() closed the socket under the selector
                    selector.close()  # a socket closed while registered: start from a clean selector
                    selector = selectors.DefaultSelector()
                    selector.register(self._wakeup, selectors.EVENT_READ)
                    registered = None
                    continue
                for key, mask in ready:
                    if key.fileobj is self._wakeup:
                        try:
                            while self._wakeup.recv(4096):
                                pass
                        except (BlockingIOError, InterruptedError):
                            pass
                        continue
                    if mask & selectors.EVENT_WRITE:
                        self._write_out(connection)
                    if mask & selectors.EVENT_READ:
                        self._read(connection)
                if monotonic() >= next_sweep:
                    self._sweep()
                    next_sweep = monotonic() + interval
        finally:
            selector.close()
            self._waker.close()
            self._wakeup.close()

    def _write_out(self, connection: _Connection) -> None:
        with self._lock:
            if self._connection is not connection or not self._out:
                return
            try:
                sent = connection.sock.send(self._out)
                del self._out[:sent]
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                pass  # the read side sees it
            if len(self._out) <= _HIGH_WATER:
                self._drained.notify_all()

    def _read(self, connection: _Connection) -> None:
        try:
            raw = connection.sock.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
            return
        except OSError:
            raw = b""
        done: list = []
        deliver = _collect(done)
        with self._lock:
            if self._connection is not connection:
                return
            try:
                if not raw:
                    raise ConnectionError("closed by the server")
                plain, tls_out = connection.plain(raw)
                if tls_out:
                    self._out += tls_out
                data = connection.inbound + plain if connection.inbound else plain
                used = parse(data, self._pending, self._slow, self._settings.max_frame_length, deliver)
                connection.inbound = data[used:]
                if self._attempts:
                    for _, result in done:
                        if result.__class__ is Result:
                            self._attempts.pop(result[2], None)
            except (ConnectionError, ssl.SSLError, StreamError):
                # what waits is sent again after the reconnect, except snapshots (never resent)
                self._connection = None
                self._out.clear()
                self._drained.notify_all()
                connection.close()
                lost = LedgerConnectionError(f"connection to {endpoint_name(self._settings.endpoints[self._endpoint])} "
                                             "lost while a snapshot ran")
                done.extend((entry, lost) for entry in self._slow.values())
                self._slow.clear()
        for entry, outcome in done:
            if isinstance(outcome, LedgerError):
                entry[0](None, outcome)
            else:
                entry[0](outcome, None)

    def _sweep(self) -> None:
        with self._lock:
            now = monotonic()
            again, failures = expired(self._pending, self._attempts, now, self._settings)
            for correlation_id, entry in again:  # the same frame, a new deadline, at the end of the table
                self._pending[correlation_id] = entry[:3] + ([entry[HOLDER][0], now + self._settings.timeout], 0)
            for correlation_id, entry in list(self._slow.items()):
                if entry[SLOW_DEADLINE] <= now:
                    del self._slow[correlation_id]
                    failures.append((entry, LedgerTimeoutError(
                        f"no answer to TAKE_SNAPSHOT from {self._settings.address} within "
                        f"{self._settings.timeout * self._settings.attempts * 10:g} s")))
            if again and self._connection is not None:
                self._send(self._connection, b"".join(frame_of(entry) for _, entry in again))
        for entry, error in failures:
            _fail(entry, error)

    def _reconnect(self) -> None:
        """Opens a new connection (the endpoints in turn, sweeping while it waits); then resends what waits, oldest
        first."""
        for index, delay in reconnect_plan(self._settings, self._endpoint):
            retry_at = monotonic() + delay
            while not self._closed and monotonic() < retry_at:
                self._stop.wait(min(0.05, max(0.0, retry_at - monotonic())))
                self._sweep()
            if self._closed:
                return
            try:
                connection = self._open(index)
            except AuthenticationError as ex:
                self._shutdown(ex)
                return
            except LedgerConnectionError:
                continue
            with self._lock:
                if self._closed:
                    connection.close()
                    return
                self._connection = connection
                self._out.clear()
                frames = [frame_of(entry) for entry in self._pending.values()]
                if frames:
                    self._send(connection, b"".join(frames))
            return

    def _open_first(self) -> _Connection:
        """The first connection: the endpoints in order, until one takes it."""
        last = None
        for index in range(len(self._settings.endpoints)):
            try:
                return self._open(index)
            except AuthenticationError:
                raise  # the members of a cluster share their keys: no other endpoint answers otherwise
            except LedgerConnectionError as ex:
                last = ex
        raise unreachable(self._settings, last)  # type: ignore[arg-type]

    def _open(self, index: int) -> _Connection:
        """Connects to endpoint ``index`` and authenticates; it becomes the endpoint in use."""
        s = self._settings
        host, port = s.endpoints[index]
        address = endpoint_name(s.endpoints[index])
        try:
            sock = socket.create_connection((host, port), timeout=s.connect_timeout)
        except socket.timeout:
            raise LedgerConnectionError(f"no connection to {address} within {s.connect_timeout:g} s") from None
        except OSError as ex:
            raise LedgerConnectionError(f"cannot connect to {address}: {ex.strerror or ex}") from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = _Connection(sock, s, host, address)
            connection.send_blocking(self._hello)
            # a refused key is answered after a pause of about a second
            connection.role = check_hello(connection.read_frame_blocking(s.connect_timeout + 2), address)
            sock.setblocking(False)
            self._endpoint = index
            return connection
        except BaseException:
            sock.close()
            raise

    def _shutdown(self, error: LedgerError) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop.set()
            connection, self._connection = self._connection, None
            entries = list(self._pending.values()) + list(self._slow.values())
            self._pending.clear()
            self._slow.clear()
            self._attempts.clear()
            self._drained.notify_all()
        self._wake()
        if connection is not None:
            connection.close()
        for entry in entries:
            _fail(entry, error)


def _fail(entry: tuple, error: LedgerError) -> None:
    entry[0](None, error)


def _collect(done: list) -> Callable[[tuple, object], None]:
    def deliver(entry: tuple, result: object) -> None:
        done.append((entry, result))
    return deliver


class _Connection:
    """A connected socket, TLS through memory BIOs: the SSL object is only touched under the client's lock, so
    callers can write while the I/O thread reads (an SSLSocket may not be used by two threads at once)."""

    def __init__(self, sock: socket.socket, s: Settings, host: str, address: str) -> None:
        self.sock = sock
        self.inbound = b""
        self.role = Role.NONE
        self._address = address
        self._tls: ssl.SSLObject | None = None
        if s.ssl is None:
            return
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = s.ssl.wrap_bio(self._incoming, self._outgoing, server_hostname=s.server_hostname or host)
        try:
            while True:
                try:
                    self._tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    self._flush_blocking()
                    raw = sock.recv(_READ_SIZE)
                    if not raw:
                        raise LedgerConnectionError(f"TLS handshake with {address} failed: the connection was "
                                                    "closed (does the server speak TLS?)") from None
                    self._incoming.write(raw)
            self._flush_blocking()
        except ssl.SSLError as ex:
            raise LedgerConnectionError(f"TLS handshake with {address} failed: {tls_reason(ex)}") from None
        except OSError as ex:
            raise LedgerConnectionError(f"TLS handshake with {address} failed: {ex.strerror or ex}") from None

    def _flush_blocking(self) -> None:
        data = self._outgoing.read()
        if data:
            self.sock.sendall(data)

    def wire(self, plain: bytes) -> bytes:
        """The bytes to send for ``plain``."""
        if self._tls is None:
            return plain
        self._tls.write(plain)
        return self._outgoing.read()

    def plain(self, raw: bytes) -> tuple[bytes, bytes]:
        """The application bytes in what was received, and what TLS itself has to send back (rarely anything)."""
        if self._tls is None:
            return raw, b""
        self._incoming.write(raw)
        chunks = []
        while True:
            try:
                chunks.append(self._tls.read(_READ_SIZE))
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                raise ConnectionError("TLS closed by the server") from None
        return b"".join(chunks), self._outgoing.read()

    def send_blocking(self, plain: bytes) -> None:
        self.sock.sendall(self.wire(plain))

    def read_frame_blocking(self, timeout: float) -> bytes:
        """One frame, without its length prefix (while connecting: the socket blocks)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                if len(self.inbound) >= 4:
                    (length,) = LENGTH_PREFIX.unpack_from(self.inbound)
                    if not 8 <= length <= 1 << 16:
                        raise LedgerConnectionError(f"{self._address} answered with a {length}-byte frame: not a "
                                                    "quota ledger?")
                    if len(self.inbound) >= 4 + length:
                        frame = self.inbound[4:4 + length]
                        self.inbound = self.inbound[4 + length:]
                        return frame
                raw = self.sock.recv(_READ_SIZE)
                if not raw:
                    raise ConnectionError
                plain, tls_out = self.plain(raw)
                if tls_out:
                    self.sock.sendall(tls_out)
                self.inbound += plain
        except socket.timeout:
            raise LedgerConnectionError(f"no answer to Hello from {self._address}") from None
        except (ConnectionError, ssl.SSLError):
            raise LedgerConnectionError(f"connection closed by {self._address} before Hello (is it full, or does "
                                        "it expect TLS?)") from None
        except OSError as ex:
            raise LedgerConnectionError(f"{self._address}: {ex.strerror or ex}") from None

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class _Waiter:
    """A blocking call's rendezvous with the I/O thread: a lock released when the answer (or failure) is in."""

    __slots__ = ("_lock", "_result", "_error")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self._result: Result | SnapshotReport | None = None
        self._error: LedgerError | None = None

    def __call__(self, result: Result | SnapshotReport | None, error: LedgerError | None) -> None:
        self._result = result
        self._error = error
        self._lock.release()

    def wait(self, bound: float) -> Any:
        """The result (a Result or a SnapshotReport); raises RejectedError, or the failure."""
        if not self._lock.acquire(timeout=bound):
            raise LedgerTimeoutError(f"no answer within {bound:g} s")
        if self._error is not None:
            raise self._error
        result = self._result
        if result.__class__ is Result and not result.ok:  # type: ignore[union-attr]
            raise RejectedError(result)  # type: ignore[arg-type]
        return result


class _ResultFuture(concurrent.futures.Future):
    """A future that is its own callback: a request allocates this one object."""

    def __call__(self, result: Result | SnapshotReport | None, error: LedgerError | None) -> None:
        if error is not None:
            self.set_exception(error)
        elif result.__class__ is Result and not result.ok:  # type: ignore[union-attr]
            self.set_exception(RejectedError(result))  # type: ignore[arg-type]
        else:
            self.set_result(result)


class FutureSender(Operations["concurrent.futures.Future[Result]"]):
    """The operations of a LedgerClient returning concurrent.futures.Future (``client.futures``)."""

    def __init__(self, client: LedgerClient) -> None:
        self._client = client

    def _request(self, message: type, frame_length: int, request_id: RequestIdLike | None | bool,
                 fields: tuple) -> concurrent.futures.Future[Result]:
        future = _ResultFuture()
        self._client._submit(future, self._client._pending, message, frame_length, request_id, fields)
        return future


class CallbackSender(Operations[int]):
    """The operations of a LedgerClient answered through one callback (``with_callback``); each returns the
    request's correlation id."""

    def __init__(self, client: LedgerClient, callback: ResultCallback) -> None:
        self._client = client
        self.callback = callback
        self._request = functools.partial(client._submit, callback, client._pending)  # type: ignore[method-assign]


__all__ = ["LedgerClient", "FutureSender", "CallbackSender", "ResultCallback"]
