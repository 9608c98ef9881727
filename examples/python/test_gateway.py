"""The gateway example against the fake upstream and a live ledger (started by the test)."""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "clients" / "python" / "tests"))

from support import fresh_user, gateway_key, shared_server  # noqa: E402

import fake_upstream  # noqa: E402
from gateway import Gateway  # noqa: E402
from quotaledger import AsyncLedgerClient, LedgerClient  # noqa: E402

SERVICE = 41


async def call(port: int, body: dict | None, headers: dict[str, str]) -> tuple[int, dict[str, str], dict]:
    """One HTTP/1.1 request with asyncio streams: status, headers (lower-case names), JSON body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    payload = json.dumps(body).encode() if body is not None else b""
    head = ["POST /v1/completions HTTP/1.1", "Host: gateway", f"Content-Length: {len(payload)}",
            "Content-Type: application/json"] + [f"{k}: {v}" for k, v in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
    answer = await reader.read()
    writer.close()
    head_text, _, body_bytes = answer.partition(b"\r\n\r\n")
    lines = head_text.decode().split("\r\n")
    fields = dict((k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:]))
    return int(lines[0].split()[1]), fields, json.loads(body_bytes or b"{}")


class GatewayTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self) -> None:
        server = shared_server()
        self.admin = LedgerClient("127.0.0.1", server.port, key_file=server.admin_key_file)
        self.upstream = fake_upstream.start()
        self.ledger = await AsyncLedgerClient.connect("127.0.0.1", server.port, gateway_key())
        self.gateway = Gateway(self.ledger, ("127.0.0.1", self.upstream.server_address[1]), SERVICE, 256, 60_000,
                               10.0)
        self.http = await asyncio.start_server(self.gateway.handle, "127.0.0.1", 0)
        self.port = self.http.sockets[0].getsockname()[1]

    async def asyncTearDown(self) -> None:
        self.http.close()
        await self.http.wait_closed()
        await self.ledger.close()
        self.upstream.shutdown()
        self.upstream.server_close()
        self.admin.close()

    async def test_should_charge_what_the_upstream_used(self) -> None:
        user = fresh_user()
        self.admin.credit(user, 1_000)
        status, headers, body = await call(self.port, {"prompt": "one two three", "max_tokens": 100},
                                           {"X-User-Id": str(user)})
        used = body["usage"]["total_tokens"]
        self.assertEqual((200, 3 + 13), (status, used))
        self.assertEqual(str(used), headers["x-ledger-charged"])
        account = self.admin.query(user)
        self.assertEqual((1_000 - used, 0), (account.balance, account.held))
        self.assertEqual(str(account.balance), headers["x-ledger-balance"])

    async def test_should_price_the_units_by_the_users_group(self) -> None:
        user = fresh_user()
        group = secrets.randbelow(1 << 30) + 1_000
        self.admin.credit(user, 1_000)
        self.admin.set_price(group, SERVICE, 2_500_000)
        self.admin.set_group(user, group)
        status, headers, body = await call(self.port, {"prompt": "a b", "max_tokens": 5}, {"X-User-Id": str(user)})
        self.assertEqual((200, 2 + 5), (status, body["usage"]["total_tokens"]))
        self.assertEqual("18", headers["x-ledger-charged"])  # the hold of ceil(7 x 2.5) = 18, all of it used
        self.assertEqual(1_000 - 18, self.admin.query(user).balance)

    async def test_should_release_the_hold_when_the_upstream_fails(self) -> None:
        user = fresh_user()
        self.admin.credit(user, 1_000)
        status, headers, _ = await call(self.port, {"prompt": "x", "max_tokens": 10},
                                        {"X-User-Id": str(user), "X-Fake-Status": "503"})
        self.assertEqual((503, "0"), (status, headers["x-ledger-charged"]))
        account = self.admin.query(user)
        self.assertEqual((1_000, 0), (account.balance, account.held))

    async def test_should_release_the_hold_when_the_upstream_is_down(self) -> None:
        user = fresh_user()
        self.admin.credit(user, 1_000)
        self.upstream.shutdown()
        self.upstream.server_close()
        status, _, body = await call(self.port, {"prompt": "x"}, {"X-User-Id": str(user)})
        self.assertEqual((502, "the upstream failed"), (status, body["error"]))
        account = self.admin.query(user)
        self.assertEqual((1_000, 0), (account.balance, account.held))

    async def test_should_refuse_before_the_upstream_when_the_ledger_refuses(self) -> None:
        user = fresh_user()
        self.admin.credit(user, 10)
        calls = fake_upstream.Handler.calls
        status, _, body = await call(self.port, {"prompt": "x", "max_tokens": 50}, {"X-User-Id": str(user)})
        self.assertEqual((402, "INSUFFICIENT_FUNDS", 10), (status, body["error"], body["balance"]))
        self.admin.set_rate_limit(user, requests=1, per_millis=600_000)
        self.assertEqual(200, (await call(self.port, {"prompt": "x", "max_tokens": 1}, {"X-User-Id": str(user)}))[0])
        status, headers, body = await call(self.port, {"prompt": "x", "max_tokens": 1}, {"X-User-Id": str(user)})
        self.assertEqual((429, "RATE_LIMITED"), (status, body["error"]))
        self.assertGreaterEqual(int(headers["retry-after"]), 1)
        self.assertEqual(calls + 1, fake_upstream.Handler.calls)

    async def test_should_go_through_the_virtual_key(self) -> None:
        user = fresh_user()
        key = user + 7
        self.admin.credit(user, 1_000)
        self.admin.set_virtual_key(user, key, budget=15)
        status, _, body = await call(self.port, {"prompt": "x", "max_tokens": 20},
                                     {"X-User-Id": str(user), "X-Virtual-Key": str(key)})
        self.assertEqual((402, "VIRTUAL_KEY_BUDGET_EXCEEDED"), (status, body["error"]))
        status, _, body = await call(self.port, {"prompt": "x", "max_tokens": 4},
                                     {"X-User-Id": str(user), "X-Virtual-Key": str(key)})
        self.assertEqual(200, status)
        self.assertEqual(5, self.admin.query(user, virtual_key_id=key).key_spent)

    async def test_should_ask_for_the_user(self) -> None:
        status, _, body = await call(self.port, {"prompt": "x"}, {})
        self.assertEqual(400, status)
        self.assertIn("X-User-Id", body["error"])


if __name__ == "__main__":
    unittest.main()
