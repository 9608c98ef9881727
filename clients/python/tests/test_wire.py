"""Splitting the stream into answers and the table of waiting requests: no ledger needed."""

from __future__ import annotations

import unittest

import support  # noqa: F401  (puts the package on the path)

from quotaledger import LedgerTimeoutError, ResultCode, SnapshotReport
from quotaledger import _protocol as protocol
from quotaledger._wire import (Settings, StreamError, expired, frame_of, parse, parse_endpoints, reconnect_plan,
                               unreachable)
from quotaledger._types import LedgerConnectionError


def result_frame(correlation_id: int, code: int = 0, balance: int = 0) -> bytes:
    frame = bytearray(protocol.Result.FRAME_LENGTH)
    protocol.Result.encode(frame, 0, correlation_id, 1, code, 0, 0, 0, 0, balance, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    return bytes(frame)


class ParseTest(unittest.TestCase):
    def setUp(self) -> None:
        self.delivered: list = []
        self.pending = {7: ("a", 1, 2, [None, None], 0), 8: ("b", 3, 4, [None, None], 0)}

    def deliver(self, entry: tuple, result: object) -> None:
        self.delivered.append((entry[0], result))

    def test_should_hand_each_answer_to_its_request_whatever_the_order(self) -> None:
        data = result_frame(8, balance=80) + result_frame(7, code=1, balance=70)
        self.assertEqual(len(data), parse(data, self.pending, {}, 4096, self.deliver))
        (first, eight), (second, seven) = self.delivered
        self.assertEqual(("b", 80, (3, 4)), (first, eight.balance, tuple(eight.request_id)))
        self.assertEqual(("a", ResultCode.INSUFFICIENT_FUNDS), (second, seven.code))
        self.assertEqual({}, self.pending)

    def test_should_wait_for_the_rest_of_a_frame_cut_short(self) -> None:
        data = result_frame(7) + result_frame(8)
        used = parse(data[:150], self.pending, {}, 4096, self.deliver)
        self.assertEqual(protocol.Result.FRAME_LENGTH, used)
        self.assertEqual(1, len(self.delivered))
        self.assertEqual(len(data) - used, parse(data[used:], self.pending, {}, 4096, self.deliver))
        self.assertEqual(2, len(self.delivered))

    def test_should_drop_answers_no_request_waits_for_and_frames_it_does_not_know(self) -> None:
        unknown = bytearray(protocol.HelloResult.FRAME_LENGTH)
        protocol.HelloResult.encode(unknown, 0, 7, 0, 2, 2)
        data = result_frame(99) + bytes(unknown) + result_frame(7)
        self.assertEqual(len(data), parse(data, self.pending, {}, 4096, self.deliver))
        self.assertEqual(["a"], [target for target, _ in self.delivered])

    def test_should_read_a_version_1_result(self) -> None:
        block = protocol.Result.BLOCK_V1.pack(7, 1, 0, 0, 0, 0, 0, 55, 0, 0, 0)
        data = protocol.FRAME_HEADER.pack(8 + 67, 67, 30, 7070, 1) + block
        parse(data, self.pending, {}, 4096, self.deliver)
        self.assertEqual((55, 0), (self.delivered[0][1].balance, self.delivered[0][1].amount))

    def test_should_give_a_snapshot_its_report(self) -> None:
        frame = bytearray(protocol.SnapshotResult.FRAME_LENGTH)
        protocol.SnapshotResult.encode(frame, 0, 5, 0, 100, 2048, 30)
        slow = {5: ("s", 0, 0, [None, None], 0, 0.0)}
        parse(bytes(frame), {}, slow, 4096, self.deliver)
        self.assertEqual(("s", SnapshotReport(ResultCode.OK, 100, 2048, 30)), self.delivered[0])

    def test_should_refuse_a_stream_out_of_step(self) -> None:
        with self.assertRaises(StreamError):
            parse((4097).to_bytes(4, "little") + bytes(12), self.pending, {}, 4096, self.deliver)
        short = protocol.FRAME_HEADER.pack(8 + 20, 20, 30, 7070, 2) + bytes(20)
        with self.assertRaises(StreamError):
            parse(short, self.pending, {}, 4096, self.deliver)


class ExpiredTest(unittest.TestCase):
    def test_should_send_again_until_the_last_attempt_then_fail(self) -> None:
        settings = Settings((("h", 1),), "k", None, None, 1.0, 2, 1.0, 0.1, 4096)
        batch = result_frame(1) + result_frame(2)
        sent = [batch, 10.0]
        later = [batch, 20.0]
        pending = {1: ("a", 0, 9, sent, 0), 2: ("b", 0, 0, later, protocol.Result.FRAME_LENGTH)}
        attempts: dict[int, int] = {}
        again, failed = expired(pending, attempts, 15.0, settings)
        self.assertEqual(([1], [], {1: 2}), ([c for c, _ in again], failed, attempts))
        self.assertEqual(result_frame(1), frame_of(again[0][1]))
        self.assertEqual([2], list(pending))  # the caller puts the resent one back, at the end

        pending[1] = ("a", 0, 9, [batch, 16.0], 0)
        again, failed = expired(pending, attempts, 25.0, settings)
        self.assertEqual([2], [c for c, _ in again])
        self.assertEqual("a", failed[0][0][0])
        self.assertIsInstance(failed[0][1], LedgerTimeoutError)
        self.assertIn("after 2 attempts", str(failed[0][1]))
        self.assertEqual({2: 2}, attempts)

    def test_should_leave_a_batch_not_written_yet(self) -> None:
        settings = Settings((("h", 1),), "k", None, None, 1.0, 2, 1.0, 0.1, 4096)
        pending = {1: ("a", 0, 0, [None, None], 0)}
        self.assertEqual(([], []), expired(pending, {}, 1e9, settings))


class EndpointsTest(unittest.TestCase):
    def test_should_read_endpoints_as_a_list_or_one_string(self) -> None:
        expected = (("ledger-1", 7070), ("10.0.0.2", 7071), ("::1", 7072))
        self.assertEqual(expected, parse_endpoints("ledger-1:7070, 10.0.0.2:7071,[::1]:7072"))
        self.assertEqual(expected, parse_endpoints(["ledger-1:7070", "10.0.0.2:7071", "[::1]:7072"]))
        for wrong in ("ledger-1", "ledger-1:", ":7070", "ledger-1:0", "ledger-1:65536", "ledger-1:x", ""):
            with self.assertRaises(ValueError, msg=wrong):
                parse_endpoints(["a:1", wrong])

    def test_should_go_to_the_next_endpoints_at_once_and_back_off_after_each_round(self) -> None:
        three = Settings((("a", 1), ("b", 2), ("c", 3)), "k", None, None, 1.0, 2, 1.0, 0.1, 4096)
        plan = reconnect_plan(three, 1)  # the connection to b dropped
        self.assertEqual([(2, 0.0), (0, 0.0), (1, 0.0), (2, 0.1), (0, 0.0), (1, 0.0), (2, 0.2)],
                         [next(plan) for _ in range(7)])
        one = Settings((("a", 1),), "k", None, None, 1.0, 2, 1.0, 2.0, 4096)
        plan = reconnect_plan(one, 0)
        self.assertEqual([(0, 2.0), (0, 4.0), (0, 5.0), (0, 5.0)], [next(plan) for _ in range(4)])

    def test_should_say_how_many_endpoints_it_tried(self) -> None:
        last = LedgerConnectionError("cannot connect to b:2: refused")
        two = Settings((("a", 1), ("b", 2)), "k", None, None, 1.0, 2, 1.0, 0.1, 4096)
        self.assertEqual("cannot connect to any of 2 endpoints (a:1,b:2); the last: cannot connect to b:2: refused",
                         str(unreachable(two, last)))
        self.assertIs(last, unreachable(Settings((("b", 2),), "k", None, None, 1.0, 2, 1.0, 0.1, 4096), last))


if __name__ == "__main__":
    unittest.main()
