"""The blocking client against a live ``ledger serve`` started by the test."""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

from support import (LedgerCluster, LedgerServer, Proxy, closed_port, fresh_user, gateway_key, require_jar,
                     self_signed_certificate, shared_server, wait_until)

from quotaledger import (AuthenticationError, ClientClosedError, LedgerClient, LedgerConnectionError,
                         LedgerTimeoutError, Op, Period, RejectedError, RequestId, ResultCode, Role)

SERVICE = 7


class BlockingClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.server = shared_server()
        cls.client = LedgerClient("127.0.0.1", cls.server.port, key_file=cls.server.admin_key_file)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.client.close()

    def test_should_apply_every_operation_of_protocol_version_2(self) -> None:
        c = self.client
        user = fresh_user()
        self.assertEqual(Role.ADMIN, c.role)
        credited = c.credit(user, 10_000)
        self.assertEqual((Op.CREDIT, ResultCode.OK, 10_000), (credited.op, credited.code, credited.balance))
        self.assertEqual(100, c.grant(user, SERVICE, 100, Period.DAY).free_remaining)
        self.assertEqual(500, c.set_limit(user, 500).credit_limit)

        charged = c.deduct(user, SERVICE, 150)
        self.assertEqual((100, 50, 9_950, 0), (charged.from_free, charged.from_balance, charged.balance,
                                               charged.free_remaining))
        hold = c.reserve(user, SERVICE, 300, ttl_millis=60_000)
        self.assertEqual((300, 9_650), (hold.held, hold.balance))
        settled = c.settle(hold.request_id, 120)
        self.assertEqual((180, 9_830, 0), (settled.returned, settled.balance, settled.held))
        other = c.reserve(user, SERVICE, 40, ttl_millis=60_000)
        self.assertEqual(40, c.release(other.request_id).returned)

        self.assertTrue(c.freeze(user).frozen)
        with self.assertRaises(RejectedError) as frozen:
            c.deduct(user, SERVICE, 1)
        self.assertEqual(ResultCode.FROZEN, frozen.exception.code)
        self.assertFalse(c.unfreeze(user).frozen)

        group = user % 60_000 + 1
        self.assertTrue(c.set_price(group, SERVICE, 2_500_000).ok)
        self.assertTrue(c.set_group(user, group).ok)
        priced = c.deduct(user, SERVICE, units=3)
        self.assertEqual((3, 8), (priced.units, priced.amount))  # ceil(3 x 2.5)

        key = user + 1
        made = c.set_virtual_key(user, key, budget=1_000, reset_period=Period.DAY, services=[SERVICE, 8])
        self.assertEqual((key, 1_000, 1_000), (made.virtual_key_id, made.amount, made.key_budget_remaining))
        self.assertTrue(c.set_virtual_key_service_budget(user, key, SERVICE, 50).ok)
        through = c.deduct(user, SERVICE, 20, virtual_key_id=key)
        self.assertEqual((key, 20, 30), (through.virtual_key_id, through.key_spent, through.key_budget_remaining))
        with self.assertRaises(RejectedError) as not_allowed:
            c.deduct(user, 9, 1, virtual_key_id=key)
        self.assertEqual(ResultCode.SERVICE_NOT_ALLOWED, not_allowed.exception.code)
        queried = c.query(user, SERVICE, virtual_key_id=key)
        self.assertEqual((Op.QUERY, 20, None), (queried.op, queried.key_spent, queried.request_id))
        self.assertTrue(c.revoke_virtual_key(user, key).key_revoked)
        with self.assertRaises(RejectedError) as revoked:
            c.deduct(user, SERVICE, 1, virtual_key_id=key)
        self.assertEqual(ResultCode.VIRTUAL_KEY_REVOKED, revoked.exception.code)

        self.assertTrue(c.set_rate_limit(user, requests=1, per_millis=60_000).ok)
        c.deduct(user, SERVICE, 1)
        with self.assertRaises(RejectedError) as limited:
            c.deduct(user, SERVICE, 1)
        self.assertEqual(ResultCode.RATE_LIMITED, limited.exception.code)
        self.assertGreater(limited.exception.result.retry_after_millis, 0)
        self.assertTrue(c.set_rate_limit(user, per_millis=0).ok)
        self.assertTrue(c.set_spend_window(user, 10, 60_000).ok)
        with self.assertRaises(RejectedError) as window:
            c.deduct(user, SERVICE, 11)
        self.assertEqual(ResultCode.SPEND_WINDOW_EXCEEDED, window.exception.code)
        self.assertTrue(c.set_spend_window(user, 0, 60_000).ok)
        self.assertTrue(c.set_concurrency(user, 1).ok)
        c.reserve(user, SERVICE, 1, ttl_millis=60_000)
        with self.assertRaises(RejectedError) as capped:
            c.reserve(user, SERVICE, 1, ttl_millis=60_000)
        self.assertEqual(ResultCode.CONCURRENCY_LIMITED, capped.exception.code)

        self.assertEqual(ResultCode.OK, c.take_snapshot().code)

    def test_should_raise_a_rejection_with_its_code_and_the_account_as_it_is(self) -> None:
        user = fresh_user()
        self.client.credit(user, 100)
        with self.assertRaises(RejectedError) as caught:
            self.client.deduct(user, SERVICE, 101)
        self.assertEqual(ResultCode.INSUFFICIENT_FUNDS, caught.exception.code)
        self.assertEqual((100, 0), (caught.exception.result.balance, caught.exception.result.from_balance))
        with self.assertRaises(RejectedError) as unknown:
            self.client.settle(RequestId.random(), 1)
        self.assertEqual(ResultCode.UNKNOWN_HOLD, unknown.exception.code)

    def test_should_answer_a_same_id_request_with_the_original_result(self) -> None:
        user = fresh_user()
        self.client.credit(user, 100)
        request_id = RequestId.random()
        first = self.client.deduct(user, SERVICE, 30, request_id=request_id)
        again = self.client.deduct(user, SERVICE, 30, request_id=request_id)
        self.assertEqual((False, True, 70, 70), (first.duplicate, again.duplicate, first.balance, again.balance))
        with self.assertRaises(RejectedError) as conflict:
            self.client.deduct(user, SERVICE, 31, request_id=request_id)
        self.assertEqual(ResultCode.REQUEST_ID_CONFLICT, conflict.exception.code)

    def test_should_pipeline_many_requests_and_match_each_answer_to_its_request(self) -> None:
        user = fresh_user()
        self.client.credit(user, 1_000_000)
        futures = [self.client.futures.deduct(user, SERVICE, amount) for amount in range(1, 501)]
        results = [future.result(30) for future in futures]
        self.assertEqual(list(range(1, 501)), [r.amount for r in results])
        self.assertEqual(len({r.correlation_id for r in results}), 500)
        self.assertEqual(1_000_000 - sum(range(1, 501)), self.client.query(user).balance)

    def test_should_be_usable_from_many_threads_at_once(self) -> None:
        user = fresh_user()
        self.client.credit(user, 1_000_000)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                for _ in range(50):
                    self.client.deduct(user, SERVICE, 2)
            except BaseException as ex:  # noqa: B902 - reported by the assertion below
                errors.append(ex)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertEqual([], errors)
        self.assertEqual(1_000_000 - 8 * 50 * 2, self.client.query(user).balance)

    def test_should_call_back_with_refusals_as_results(self) -> None:
        user = fresh_user()
        self.client.credit(user, 10)
        answers: list = []
        done = threading.Event()

        def on_result(result, error) -> None:
            answers.append((result, error))
            if len(answers) == 2:
                done.set()

        sender = self.client.with_callback(on_result)
        sender.deduct(user, SERVICE, 10)
        sender.deduct(user, SERVICE, 10)
        self.assertTrue(done.wait(10))
        self.assertEqual([ResultCode.OK, ResultCode.INSUFFICIENT_FUNDS], sorted(r.code for r, _ in answers))
        self.assertEqual([None, None], [e for _, e in answers])

    def test_should_read_the_admin_key_from_the_data_directory(self) -> None:
        with LedgerClient("127.0.0.1", self.server.port, data_dir=self.server.data / "ledger") as client:
            self.assertEqual(Role.ADMIN, client.role)

    def test_should_refuse_an_admin_operation_to_a_gateway_key_and_keep_the_connection(self) -> None:
        user = fresh_user()
        self.client.credit(user, 10)
        with LedgerClient("127.0.0.1", self.server.port, gateway_key()) as gateway:
            self.assertEqual(Role.GATEWAY, gateway.role)
            with self.assertRaises(RejectedError) as forbidden:
                gateway.credit(user, 1)
            self.assertEqual(ResultCode.FORBIDDEN, forbidden.exception.code)
            self.assertEqual(9, gateway.deduct(user, SERVICE, 1).balance)

    def test_should_refuse_a_wrong_key_without_retrying(self) -> None:
        with self.assertRaises(AuthenticationError) as caught:
            LedgerClient("127.0.0.1", self.server.port, "qlk_wrong")
        self.assertEqual(ResultCode.UNAUTHENTICATED, caught.exception.code)

    def test_should_say_when_nothing_listens(self) -> None:
        with self.assertRaises(LedgerConnectionError) as caught:
            LedgerClient("127.0.0.1", 1, "k", connect_timeout=2)
        self.assertIn("cannot connect to 127.0.0.1:1", str(caught.exception))

    def test_should_connect_to_the_first_endpoint_that_takes_the_connection(self) -> None:
        endpoints = f"127.0.0.1:{closed_port()},127.0.0.1:{self.server.port}"
        with LedgerClient(endpoints=endpoints, key_file=self.server.admin_key_file) as client:
            self.assertEqual(5, client.credit(fresh_user(), 5).balance)
        with self.assertRaises(LedgerConnectionError) as caught:
            LedgerClient(endpoints=[f"127.0.0.1:{closed_port()}", f"127.0.0.1:{closed_port()}"], key="k")
        self.assertIn("cannot connect to any of 2 endpoints", str(caught.exception))

    def test_should_refuse_a_field_out_of_range_before_sending(self) -> None:
        with self.assertRaises(ValueError):
            self.client.deduct(1 << 63, SERVICE, 1)
        with self.assertRaises(ValueError):
            self.client.set_virtual_key(1, 2, services=range(2000))
        user = fresh_user()
        self.assertEqual(1, self.client.credit(user, 1).balance)  # nothing half-sent before


class RetryTest(unittest.TestCase):
    """Timeouts, same-id resends and reconnects, through a proxy that drops answers or cuts connections."""

    def setUp(self) -> None:
        self.server = shared_server()
        self.proxy = Proxy(self.server.port)
        self.addCleanup(self.proxy.close)
        self.client = LedgerClient("127.0.0.1", self.proxy.port, key_file=self.server.admin_key_file, timeout=0.3,
                                   attempts=3, reconnect_backoff=0.05)
        self.addCleanup(self.client.close)
        self.direct = LedgerClient("127.0.0.1", self.server.port, key_file=self.server.admin_key_file)
        self.addCleanup(self.direct.close)

    def test_should_resend_the_same_request_after_a_timeout_and_get_the_original_result(self) -> None:
        user = fresh_user()
        self.client.credit(user, 100)
        self.proxy.drop_results = 1  # the first answer is lost: the client hears nothing and sends it again
        result = self.client.deduct(user, SERVICE, 30)
        self.assertTrue(result.duplicate)
        self.assertEqual(70, result.balance)
        self.assertEqual(70, self.client.query(user).balance)

    def test_should_fail_after_the_last_attempt(self) -> None:
        user = fresh_user()
        self.client.credit(user, 100)
        self.proxy.swallow = True
        started = time.monotonic()
        with self.assertRaises(LedgerTimeoutError) as caught:
            self.client.deduct(user, SERVICE, 30)
        self.assertGreaterEqual(time.monotonic() - started, 0.85)  # three attempts of 0.3 s
        self.assertIn("after 3 attempts", str(caught.exception))
        self.proxy.swallow = False
        self.assertEqual(70, self.client.query(user).balance)  # charged once, whatever the resends

    def test_should_reconnect_and_resend_what_waits_with_the_same_ids(self) -> None:
        user = fresh_user()
        self.direct.credit(user, 1_000)
        client = LedgerClient("127.0.0.1", self.proxy.port, key_file=self.server.admin_key_file, timeout=60,
                              reconnect_backoff=0.05)  # no resend by timeout within the test: the reconnect's only
        self.addCleanup(client.close)
        self.proxy.swallow = True  # the deducts are applied, their answers lost with the connection
        futures = [client.futures.deduct(user, SERVICE, 10) for _ in range(20)]
        wait_until(lambda: self.direct.query(user).balance == 800, 10, "the deducts to be applied")
        self.proxy.swallow = False
        accepted = self.proxy.accepted
        self.proxy.cut()
        results = [future.result(10) for future in futures]
        self.assertGreater(self.proxy.accepted, accepted, "a new connection")
        self.assertTrue(all(r.duplicate for r in results))
        self.assertEqual(800, self.direct.query(user).balance)

    def test_should_fail_over_to_the_next_endpoint_and_resend_what_waits_with_the_same_ids(self) -> None:
        user = fresh_user()
        self.direct.credit(user, 100)
        second = Proxy(self.server.port)  # a and b: two members of a cluster, as the client sees them
        self.addCleanup(second.close)
        client = LedgerClient(endpoints=[f"127.0.0.1:{self.proxy.port}", f"127.0.0.1:{second.port}"],
                              key_file=self.server.admin_key_file, timeout=60)  # only the failover resends
        self.addCleanup(client.close)
        self.proxy.swallow = True  # the deducts are applied, their answers die with the member
        futures = [client.futures.deduct(user, SERVICE, 10) for _ in range(5)]
        wait_until(lambda: self.direct.query(user).balance == 50, 10, "the deducts to be applied")
        self.proxy.close()
        results = [future.result(10) for future in futures]
        self.assertTrue(all(r.duplicate for r in results), "answered as retries of applied requests")
        self.assertEqual([90, 80, 70, 60, 50], [r.balance for r in results])
        self.assertEqual(40, client.deduct(user, SERVICE, 10).balance)
        self.assertEqual(1, second.accepted, "one connection to the next endpoint")

    def test_should_fail_waiting_requests_when_closed(self) -> None:
        self.proxy.swallow = True
        future = self.client.futures.query(1)
        self.client.close()
        with self.assertRaises(ClientClosedError):
            future.result(5)
        with self.assertRaises(ClientClosedError):
            self.client.query(1)


class ClusterFailoverTest(unittest.TestCase):
    def setUp(self) -> None:
        require_jar()
        self.cluster = LedgerCluster(3)
        self.addCleanup(self.cluster.close)

    def test_should_resend_what_waits_on_another_member_when_one_is_killed(self) -> None:
        leader = self.cluster.leader()
        follower, other = self.cluster.members[(leader + 1) % 3], self.cluster.members[(leader + 2) % 3]
        proxy = Proxy(follower.port)  # holds the follower's answers back, so that they die with it
        self.addCleanup(proxy.close)
        endpoints = [f"127.0.0.1:{port}" for port in (proxy.port, other.port, self.cluster.members[leader].port)]
        client = LedgerClient(endpoints=endpoints, key=self.cluster.admin_key, timeout=60)  # only failover resends
        self.addCleanup(client.close)
        direct = LedgerClient("127.0.0.1", other.port, key=self.cluster.admin_key)
        self.addCleanup(direct.close)
        user = fresh_user()
        client.credit(user, 100)
        proxy.swallow = True
        futures = [client.futures.deduct(user, SERVICE, 10) for _ in range(5)]
        wait_until(lambda: direct.query(user).balance == 50, 30, "the cluster to commit the deducts")
        follower.kill()
        proxy.close()
        results = [future.result(30) for future in futures]
        self.assertTrue(all(r.duplicate for r in results), "answered as retries of applied requests")
        self.assertEqual([90, 80, 70, 60, 50], [r.balance for r in results])
        self.assertEqual(40, client.deduct(user, SERVICE, 10).balance)


class TlsTest(unittest.TestCase):
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

    def test_should_speak_tls_with_a_trusted_certificate(self) -> None:
        with LedgerClient("127.0.0.1", self.server.port, key_file=self.server.admin_key_file,
                          cafile=self.cert) as client:
            user = fresh_user()
            self.assertEqual(5, client.credit(user, 5).balance)
            futures = [client.futures.deduct(user, SERVICE, 1) for _ in range(5)]
            self.assertEqual([4, 3, 2, 1, 0], sorted((f.result(10).balance for f in futures), reverse=True))

    def test_should_check_the_certificate_and_its_name(self) -> None:
        with self.assertRaises(LedgerConnectionError) as untrusted:
            LedgerClient("127.0.0.1", self.server.port, key_file=self.server.admin_key_file, tls=True)
        self.assertIn("TLS handshake with", str(untrusted.exception))
        self.assertIn("certificate", str(untrusted.exception))
        with self.assertRaises(LedgerConnectionError) as wrong_name:
            LedgerClient("127.0.0.1", self.server.port, key_file=self.server.admin_key_file, cafile=self.cert,
                         server_hostname="ledger.example")
        self.assertIn("TLS handshake with", str(wrong_name.exception))

    def test_should_say_when_one_side_does_not_speak_tls(self) -> None:
        with self.assertRaises(LedgerConnectionError) as plain:
            LedgerClient("127.0.0.1", self.server.port, key_file=self.server.admin_key_file)
        self.assertIn("expect TLS", str(plain.exception))
        with self.assertRaises(LedgerConnectionError) as tls:
            LedgerClient("127.0.0.1", shared_server().port, key_file=self.server.admin_key_file, cafile=self.cert)
        self.assertIn("TLS", str(tls.exception))


if __name__ == "__main__":
    unittest.main()
