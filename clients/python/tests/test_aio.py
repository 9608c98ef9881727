"""The asyncio client against a live ``ledger serve`` started by the test."""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
import unittest
from pathlib import Path

from support import (LedgerCluster, LedgerServer, Proxy, closed_port, fresh_user, gateway_key, require_jar,
                     self_signed_certificate, shared_server)

from quotaledger import (AsyncLedgerClient, AuthenticationError, ClientClosedError, LedgerClient,
                         LedgerConnectionError, LedgerTimeoutError, Op, Period, RejectedError, RequestId, ResultCode,
                         Role)

SERVICE = 7


class AsyncClientTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self) -> None:
        self.server = shared_server()
        self.client = await AsyncLedgerClient.connect("127.0.0.1", self.server.port,
                                                      key_file=self.server.admin_key_file)

    async def asyncTearDown(self) -> None:
        await self.client.close()

    async def test_should_apply_operations_and_raise_rejections(self) -> None:
        c = self.client
        user = fresh_user()
        self.assertEqual(Role.ADMIN, c.role)
        self.assertEqual(1_000, (await c.credit(user, 1_000)).balance)
        self.assertEqual(10, (await c.grant(user, SERVICE, 10, Period.MONTH)).free_remaining)
        charged = await c.deduct(user, SERVICE, 30)
        self.assertEqual((10, 20, 980), (charged.from_free, charged.from_balance, charged.balance))
        hold = await c.reserve(user, SERVICE, 100, ttl_millis=30_000)
        settled = await c.settle(hold.request_id, 150)
        self.assertTrue(settled.exceeded_hold)
        self.assertEqual(830, settled.balance)
        key = user + 1
        self.assertTrue((await c.set_virtual_key(user, key, unlimited=True, services=[SERVICE])).ok)
        queried = await c.query(user, SERVICE, virtual_key_id=key)
        self.assertEqual((Op.QUERY, -1), (queried.op, queried.amount))
        with self.assertRaises(RejectedError) as caught:
            await c.deduct(user, SERVICE, 10_000)
        self.assertEqual(ResultCode.INSUFFICIENT_FUNDS, caught.exception.code)
        self.assertEqual(830, caught.exception.result.balance)
        self.assertEqual(ResultCode.OK, (await c.take_snapshot()).code)

    async def test_should_pipeline_thousands_of_requests_in_one_connection(self) -> None:
        user = fresh_user()
        await self.client.credit(user, 10_000_000)
        futures = [self.client.deduct(user, SERVICE, amount) for amount in range(1, 2_001)]
        results = await asyncio.gather(*futures)
        self.assertEqual(list(range(1, 2_001)), [r.amount for r in results])
        self.assertEqual(10_000_000 - sum(range(1, 2_001)), (await self.client.query(user)).balance)

    async def test_should_answer_through_a_callback_without_futures(self) -> None:
        user = fresh_user()
        await self.client.credit(user, 50)
        answers: list = []
        finished = asyncio.Event()

        def on_result(result, error) -> None:
            answers.append(result.code if error is None else error)
            if len(answers) == 100:
                finished.set()

        sender = self.client.with_callback(on_result)
        for _ in range(100):
            self.assertIsInstance(sender.deduct(user, SERVICE, 1), int)  # the correlation id
        await asyncio.wait_for(finished.wait(), 20)
        self.assertEqual(50, answers.count(ResultCode.OK))
        self.assertEqual(50, answers.count(ResultCode.INSUFFICIENT_FUNDS))

    async def test_should_refuse_admin_operations_to_a_gateway(self) -> None:
        async with await AsyncLedgerClient.connect("127.0.0.1", self.server.port, gateway_key()) as gateway:
            self.assertEqual(Role.GATEWAY, gateway.role)
            with self.assertRaises(RejectedError) as caught:
                await gateway.set_price(1, 1, 1_000_000)
            self.assertEqual(ResultCode.FORBIDDEN, caught.exception.code)

    async def test_should_refuse_a_wrong_key(self) -> None:
        with self.assertRaises(AuthenticationError):
            await AsyncLedgerClient.connect("127.0.0.1", self.server.port, "qlk_wrong")

    async def test_should_fail_waiting_requests_when_closed(self) -> None:
        client = await AsyncLedgerClient.connect("127.0.0.1", self.server.port, key_file=self.server.admin_key_file)
        future = client.query(1)
        await client.close()
        with self.assertRaises(ClientClosedError):
            await future
        with self.assertRaises(ClientClosedError):
            client.query(1)


class AsyncRetryTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self) -> None:
        self.server = shared_server()
        self.proxy = Proxy(self.server.port)
        self.direct = LedgerClient("127.0.0.1", self.server.port, key_file=self.server.admin_key_file)

    async def asyncTearDown(self) -> None:
        self.proxy.close()
        self.direct.close()

    async def connect(self, **settings) -> AsyncLedgerClient:
        client = await AsyncLedgerClient.connect("127.0.0.1", self.proxy.port, key_file=self.server.admin_key_file,
                                                 reconnect_backoff=0.05, **settings)
        self.addAsyncCleanup(client.close)
        return client

    async def test_should_resend_the_same_request_after_a_timeout(self) -> None:
        client = await self.connect(timeout=0.3)
        user = fresh_user()
        self.direct.credit(user, 100)
        self.proxy.drop_results = 1
        request_id = RequestId.random()
        result = await client.deduct(user, SERVICE, 30, request_id=request_id)
        self.assertEqual((True, 70, request_id), (result.duplicate, result.balance, result.request_id))
        self.assertEqual(70, self.direct.query(user).balance)

    async def test_should_fail_after_the_last_attempt(self) -> None:
        client = await self.connect(timeout=0.2, attempts=2)
        self.proxy.swallow = True
        started = time.monotonic()
        with self.assertRaises(LedgerTimeoutError):
            await client.query(1)
        self.assertGreaterEqual(time.monotonic() - started, 0.35)

    async def test_should_reconnect_and_resend_what_waits(self) -> None:
        client = await self.connect(timeout=60)  # no resend by timeout within the test: the reconnect's only
        user = fresh_user()
        self.direct.credit(user, 1_000)
        self.proxy.swallow = True
        futures = [client.deduct(user, SERVICE, 10) for _ in range(50)]
        deadline = time.monotonic() + 10
        while self.direct.query(user).balance != 500 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        self.proxy.swallow = False
        self.proxy.cut()
        results = await asyncio.wait_for(asyncio.gather(*futures), 10)
        self.assertTrue(all(r.duplicate for r in results))
        self.assertEqual(500, self.direct.query(user).balance)
        self.assertTrue(client.connected)
        self.assertEqual(490, (await client.deduct(user, SERVICE, 10)).balance)

    async def test_should_connect_to_the_first_endpoint_that_takes_the_connection(self) -> None:
        endpoints = [f"127.0.0.1:{closed_port()}", f"127.0.0.1:{self.server.port}"]
        async with await AsyncLedgerClient.connect(endpoints=endpoints,
                                                   key_file=self.server.admin_key_file) as client:
            self.assertEqual(5, (await client.credit(fresh_user(), 5)).balance)
        with self.assertRaises(LedgerConnectionError) as caught:
            await AsyncLedgerClient.connect(endpoints=f"127.0.0.1:{closed_port()},127.0.0.1:{closed_port()}", key="k")
        self.assertIn("cannot connect to any of 2 endpoints", str(caught.exception))

    async def test_should_fail_over_to_the_next_endpoint_and_resend_what_waits_with_the_same_ids(self) -> None:
        second = Proxy(self.server.port)  # the proxies: two members of a cluster, as the client sees them
        self.addCleanup(second.close)
        client = await self.connect(timeout=60,  # only the failover resends
                                    endpoints=[f"127.0.0.1:{self.proxy.port}", f"127.0.0.1:{second.port}"])
        user = fresh_user()
        self.direct.credit(user, 100)
        self.proxy.swallow = True  # the deducts are applied, their answers die with the member
        futures = [client.deduct(user, SERVICE, 10) for _ in range(5)]
        deadline = time.monotonic() + 10
        while self.direct.query(user).balance != 50 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        self.proxy.close()
        results = await asyncio.wait_for(asyncio.gather(*futures), 10)
        self.assertTrue(all(r.duplicate for r in results), "answered as retries of applied requests")
        self.assertEqual([90, 80, 70, 60, 50], [r.balance for r in results])
        self.assertEqual(40, (await client.deduct(user, SERVICE, 10)).balance)
        self.assertEqual(1, second.accepted, "one connection to the next endpoint")

    async def test_should_queue_requests_while_reconnecting(self) -> None:
        client = await self.connect(timeout=60)
        user = fresh_user()
        self.direct.credit(user, 100)
        self.proxy.cut()
        await asyncio.sleep(0.05)
        result = await asyncio.wait_for(client.deduct(user, SERVICE, 1), 10)
        self.assertEqual(99, result.balance)


class AsyncClusterFailoverTest(unittest.IsolatedAsyncioTestCase):
    def setUp(self) -> None:
        require_jar()
        self.cluster = LedgerCluster(3)
        self.addCleanup(self.cluster.close)

    async def test_should_resend_what_waits_on_another_member_when_one_is_killed(self) -> None:
        leader = self.cluster.leader()
        follower, other = self.cluster.members[(leader + 1) % 3], self.cluster.members[(leader + 2) % 3]
        proxy = Proxy(follower.port)  # holds the follower's answers back, so that they die with it
        self.addCleanup(proxy.close)
        endpoints = [f"127.0.0.1:{port}" for port in (proxy.port, other.port, self.cluster.members[leader].port)]
        client = await AsyncLedgerClient.connect(endpoints=endpoints, key=self.cluster.admin_key, timeout=60)
        self.addAsyncCleanup(client.close)
        direct = LedgerClient("127.0.0.1", other.port, key=self.cluster.admin_key)
        self.addCleanup(direct.close)
        user = fresh_user()
        await client.credit(user, 100)
        proxy.swallow = True
        futures = [client.deduct(user, SERVICE, 10) for _ in range(5)]
        deadline = time.monotonic() + 30
        while direct.query(user).balance != 50 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        follower.kill()
        proxy.close()
        results = await asyncio.wait_for(asyncio.gather(*futures), 30)
        self.assertTrue(all(r.duplicate for r in results), "answered as retries of applied requests")
        self.assertEqual([90, 80, 70, 60, 50], [r.balance for r in results])
        self.assertEqual(40, (await client.deduct(user, SERVICE, 10)).balance)


class AsyncTlsTest(unittest.IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        require_jar()
        cls.pki = Path(tempfile.mkdtemp(prefix="quotaledger-pki-"))
        cls.cert, key, cls.tool = self_signed_certificate(cls.pki)
        print(f"\n{cls.__name__}: self-signed certificate made with {cls.tool}", file=sys.stderr)
        cls.server = LedgerServer(tls_cert=cls.cert, tls_key=key).start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.close()
        shutil.rmtree(cls.pki, ignore_errors=True)

    async def test_should_speak_tls(self) -> None:
        async with await AsyncLedgerClient.connect("127.0.0.1", self.server.port, key_file=self.server.admin_key_file,
                                                   cafile=self.cert) as client:
            user = fresh_user()
            await client.credit(user, 10)
            results = await asyncio.gather(*(client.deduct(user, SERVICE, 1) for _ in range(10)))
            self.assertEqual(list(range(9, -1, -1)), sorted((r.balance for r in results), reverse=True))

    async def test_should_refuse_an_untrusted_certificate(self) -> None:
        with self.assertRaises(LedgerConnectionError) as caught:
            await AsyncLedgerClient.connect("127.0.0.1", self.server.port, key_file=self.server.admin_key_file,
                                            tls=True)
        self.assertIn("certificate", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
