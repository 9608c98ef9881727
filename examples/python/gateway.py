#!/usr/bin/env python3
"""A metering HTTP reverse proxy in front of an LLM-style upstream, charging through the quota ledger.

Per request: RESERVE an estimate (prompt words + max_tokens, in units the ledger prices by the user's price group)
for the user in ``X-User-Id`` (through the virtual key in ``X-Virtual-Key``, if any), forward the request to the
upstream, then SETTLE what the answer says it used (``usage.total_tokens`` in its JSON, or an ``X-Usage-Units``
header) or RELEASE the hold when the upstream failed. A refusal by the ledger never reaches the upstream.

    python3 examples/python/gateway.py --upstream 127.0.0.1:8081 --key-file gateway.key --port 8080

Standard library only: asyncio streams and a deliberately small HTTP/1.1 (one request per connection,
Content-Length or chunked bodies; no streaming answers). See examples/python/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clients" / "python"))

from quotaledger import AsyncLedgerClient, LedgerError, RejectedError, ResultCode  # noqa: E402

LOG = logging.getLogger("gateway")
MAX_BODY = 1 << 20
MAX_ANSWER = 16 << 20
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
              "content-length", "host", "x-user-id", "x-virtual-key"}

# what a refusal of the ledger becomes for the caller
STATUS = {
    ResultCode.INSUFFICIENT_FUNDS: 402, ResultCode.UNKNOWN_ACCOUNT: 402,
    ResultCode.VIRTUAL_KEY_BUDGET_EXCEEDED: 402,
    ResultCode.RATE_LIMITED: 429, ResultCode.SPEND_WINDOW_EXCEEDED: 429, ResultCode.CONCURRENCY_LIMITED: 429,
    ResultCode.FROZEN: 403, ResultCode.UNKNOWN_VIRTUAL_KEY: 403, ResultCode.VIRTUAL_KEY_REVOKED: 403,
    ResultCode.VIRTUAL_KEY_EXPIRED: 403, ResultCode.SERVICE_NOT_ALLOWED: 403,
    ResultCode.INVALID_AMOUNT: 400, ResultCode.INVALID_ARGUMENT: 400,
}
REASONS = {200: "OK", 400: "Bad Request", 402: "Payment Required", 403: "Forbidden", 411: "Length Required",
           413: "Payload Too Large", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable"}


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Message:
    """An HTTP request or answer: the start line's parts, the headers in order, the body."""

    def __init__(self, start: list[str], headers: list[tuple[str, str]], body: bytes) -> None:
        self.start = start
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


async def read_message(reader: asyncio.StreamReader, limit: int, until_close: bool) -> Message | None:
    """One HTTP/1.1 message; None at end of stream before its first line. ``until_close``: a body with neither
    Content-Length nor chunked encoding runs to the end of the stream (an answer), else it is empty."""
    line = await reader.readline()
    if not line:
        return None
    start = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    if len(start) < 3 and not (len(start) == 2 and start[0].startswith("HTTP/")):
        raise HttpError(400, "a bad start line")
    headers = []
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon or len(headers) >= 100:
            raise HttpError(400, "a bad header")
        headers.append((name.strip(), value.strip()))
    message = Message(start, headers, b"")
    if (message.header("transfer-encoding") or "").lower() == "chunked":
        message.body = await read_chunked(reader, limit)
    elif message.header("content-length") is not None:
        try:
            length = int(message.header("content-length") or "")
        except ValueError:
            raise HttpError(400, "a bad Content-Length") from None
        if not 0 <= length <= limit:
            raise HttpError(413, f"a body of {length} bytes")
        message.body = await reader.readexactly(length)
    elif until_close:
        message.body = await reader.read(limit)
    return message


async def read_chunked(reader: asyncio.StreamReader, limit: int) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return bytes(body)
        if len(body) + size > limit:
            raise HttpError(413, "a body too large")
        body += await reader.readexactly(size)
        await reader.readline()


def write_message(writer: asyncio.StreamWriter, start: str, headers: list[tuple[str, str]], body: bytes) -> None:
    head = [start] + [f"{k}: {v}" for k, v in headers] + [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    writer.write("\r\n".join(head).encode("latin-1") + body)


def error(writer: asyncio.StreamWriter, status: int, message: str, extra: dict | None = None,
          headers: list[tuple[str, str]] | None = None) -> int:
    body = json.dumps({"error": message, **(extra or {})}).encode()
    write_message(writer, f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}",
                  [("Content-Type", "application/json")] + (headers or []), body)
    return status


def estimate_units(body: bytes, default: int) -> int:
    """What the request may cost, in tokens: the prompt's words and the most it lets the model answer."""
    try:
        request = json.loads(body) if body else {}
    except ValueError:
        return default
    if not isinstance(request, dict):
        return default
    prompt = request.get("prompt") or " ".join(str(m.get("content", "")) for m in request.get("messages", [])
                                                if isinstance(m, dict))
    max_tokens = request.get("max_tokens")
    if not isinstance(max_tokens, int) or max_tokens <= 0:
        max_tokens = default
    return len(str(prompt).split()) + max_tokens


def used_units(answer: Message) -> int | None:
    """What the upstream says the request used: X-Usage-Units, else usage.total_tokens of a JSON answer."""
    header = answer.header("x-usage-units")
    if header is not None and header.strip().isdigit():
        return int(header)
    try:
        usage = json.loads(answer.body).get("usage", {})
        total = usage.get("total_tokens")
        return total if isinstance(total, int) and total >= 0 else None
    except (ValueError, AttributeError):
        return None


class Gateway:
    """Reserve, forward, settle or release: one method per request (``handle``), one ledger connection for all."""

    def __init__(self, ledger: AsyncLedgerClient, upstream: tuple[str, int], service_id: int,
                 default_estimate: int, ttl_millis: int, upstream_timeout: float) -> None:
        self.ledger = ledger
        self.upstream = upstream
        self.service_id = service_id
        self.default_estimate = default_estimate
        self.ttl_millis = ttl_millis
        self.upstream_timeout = upstream_timeout

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status = await self._serve(reader, writer)
            LOG.debug("answered %s", status)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        try:
            request = await read_message(reader, MAX_BODY, until_close=False)
        except HttpError as ex:
            return error(writer, ex.status, str(ex))
        if request is None:
            return 0
        user_id = _positive(request.header("x-user-id"))
        if user_id is None:
            return error(writer, 400, "X-User-Id: a user id (a positive integer) is required")
        key_header = request.header("x-virtual-key")
        virtual_key_id = _positive(key_header) if key_header is not None else 0
        if virtual_key_id is None:
            return error(writer, 400, "X-Virtual-Key: a virtual key id (a positive integer)")

        units = estimate_units(request.body, self.default_estimate)
        try:
            hold = await self.ledger.reserve(user_id, self.service_id, units=units, ttl_millis=self.ttl_millis,
                                             virtual_key_id=virtual_key_id)
        except RejectedError as ex:
            result = ex.result
            retry = [("Retry-After", str(max(1, math.ceil(result.retry_after_millis / 1000))))] \
                if result.retry_after_millis > 0 else []
            return error(writer, STATUS.get(ex.code, 503), ex.code.name,
                         {"balance": result.balance, "held": result.held}, retry)
        except LedgerError as ex:
            LOG.warning("ledger unavailable: %s", ex)
            return error(writer, 503, "the quota ledger is unavailable")

        try:
            answer = await asyncio.wait_for(self._forward(request), self.upstream_timeout)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, HttpError, ValueError) as ex:
            await self._release(hold.request_id)
            LOG.warning("upstream failed: %r; hold released", ex)
            return error(writer, 502, "the upstream failed")

        status = int(answer.start[1]) if answer.start[1].isdigit() else 502
        used = used_units(answer)
        headers = [(k, v) for k, v in answer.headers if k.lower() not in HOP_BY_HOP]
        if status >= 500 or (status >= 400 and used is None):
            await self._release(hold.request_id)  # no work done: nothing charged
            headers.append(("X-Ledger-Charged", "0"))
        else:
            # the hold's amount was priced from ``units``; the final charge scales it to what was used
            actual = hold.amount if used is None else math.ceil(hold.amount * used / units)
            settled = await self._settle(hold.request_id, actual, hold.amount)
            if settled is not None:
                headers += [("X-Ledger-Charged", str(settled.amount)), ("X-Ledger-Balance", str(settled.balance))]
        write_message(writer, f"HTTP/1.1 {status} {' '.join(answer.start[2:]) or REASONS.get(status, '')}",
                      headers, answer.body)
        return status

    async def _forward(self, request: Message) -> Message:
        host, port = self.upstream
        reader, writer = await asyncio.open_connection(host, port)
        try:
            headers = [(k, v) for k, v in request.headers if k.lower() not in HOP_BY_HOP]
            write_message(writer, f"{request.start[0]} {request.start[1]} HTTP/1.1",
                          [("Host", f"{host}:{port}")] + headers, request.body)
            await writer.drain()
            answer = await read_message(reader, MAX_ANSWER, until_close=True)
            if answer is None:
                raise HttpError(502, "the upstream closed without an answer")
            return answer
        finally:
            writer.close()

    async def _settle(self, hold_id, actual: int, held: int):
        try:
            return await self.ledger.settle(hold_id, actual)
        except RejectedError as ex:
            if ex.code == ResultCode.INVALID_AMOUNT and actual > held:
                # beyond the settle cap (docs/semantics.md): charge the whole hold, and say so
                LOG.warning("usage %d far beyond the hold %d: settling the hold", actual, held)
                return await self._settle(hold_id, held, held)
            LOG.error("settle refused: %s", ex)
        except LedgerError as ex:
            LOG.error("settle failed (the hold expires after its ttl and gives everything back): %s", ex)
        return None

    async def _release(self, hold_id) -> None:
        try:
            await self.ledger.release(hold_id)
        except LedgerError as ex:
            LOG.error("release failed (the hold expires after its ttl): %s", ex)


def _positive(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    number = int(value)
    return number if 0 < number < 1 << 63 else None


def _address(value: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host or default_host, int(port)


async def serve(args: argparse.Namespace) -> None:
    ledger_host, ledger_port = _address(args.ledger)
    ledger = await AsyncLedgerClient.connect(ledger_host, ledger_port, key_file=args.key_file, data_dir=args.data)
    gateway = Gateway(ledger, _address(args.upstream), args.service, args.estimate, args.ttl_millis,
                      args.upstream_timeout)
    server = await asyncio.start_server(gateway.handle, args.host, args.port)
    port = server.sockets[0].getsockname()[1]
    print(f"gateway on http://{args.host}:{port} -> upstream {args.upstream}, ledger {args.ledger} "
          f"({ledger.role.name.lower()} key), service {args.service}", flush=True)
    try:
        async with server:
            await server.serve_forever()
    finally:
        await ledger.close()


def main() -> int:
    parser = argparse.ArgumentParser(description="Metering reverse proxy: reserve, forward, settle or release.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--upstream", default="127.0.0.1:8081", help="HOST:PORT of the upstream (plain HTTP)")
    parser.add_argument("--ledger", default="127.0.0.1:7070", help="HOST:PORT of the ledger")
    parser.add_argument("--key-file", help="the ledger key (a gateway key); else LEDGER_KEY, else DIR/admin.key")
    parser.add_argument("--data", default="data", help="the ledger's data directory, for its admin.key")
    parser.add_argument("--service", type=int, default=1, help="the ledger service id of this upstream")
    parser.add_argument("--estimate", type=int, default=256, help="max_tokens when a request gives none")
    parser.add_argument("--ttl-millis", type=int, default=120_000, help="how long a hold lives unsettled")
    parser.add_argument("--upstream-timeout", type=float, default=60.0, help="seconds for the upstream's answer")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(name)s: %(message)s")
    try:
        asyncio.run(serve(args))
    except LedgerError as ex:
        print(f"gateway: {ex}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
