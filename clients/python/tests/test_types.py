"""Request ids, results and reading the key: no ledger needed."""

from __future__ import annotations

import os
import shutil
import tempfile
import unittest
import uuid
import warnings
from pathlib import Path

import support  # noqa: F401  (puts the package on the path)

from quotaledger import (KeyNotFoundError, Op, RequestId, RequestIds, ResultCode, read_key)
from quotaledger._types import make_result


class RequestIdsTest(unittest.TestCase):
    def test_should_count_the_low_half_up_under_one_random_high_half(self) -> None:
        ids = RequestIds()
        first, second = ids.next(), ids.next()
        self.assertNotEqual(0, ids.hi)
        self.assertEqual(first.hi, second.hi)
        self.assertEqual(first.lo + 1, second.lo)
        self.assertNotEqual(RequestIds().hi, ids.hi)

    def test_should_wrap_the_low_half_as_a_signed_64_bit_counter(self) -> None:
        ids = RequestIds(hi=5, first_lo=(1 << 63) - 1)  # as drawn: a signed 64-bit value
        self.assertEqual((1 << 63) - 1, ids.next_lo())
        self.assertEqual(-(1 << 63), ids.next_lo())
        self.assertEqual(-(1 << 63) + 1, ids.next_lo())

    def test_should_never_make_the_nil_id(self) -> None:
        self.assertNotEqual(0, RequestIds(hi=0).hi)

    def test_should_convert_to_and_from_a_uuid(self) -> None:
        value = uuid.UUID("f0000000-0000-0001-8000-000000000002")
        request_id = RequestId.of(value)
        self.assertEqual(-0x0FFFFFFFFFFFFFFF, request_id.hi)
        self.assertEqual(-0x7FFFFFFFFFFFFFFE, request_id.lo)
        self.assertEqual(value, request_id.uuid)
        self.assertEqual(request_id, RequestId.of(str(value)))
        self.assertEqual(request_id, RequestId.of((request_id.hi, request_id.lo)))


class ResultTest(unittest.TestCase):
    def test_should_name_its_fields(self) -> None:
        request_id = RequestId(1, 2)
        result = make_result(request_id, (77, 1, 1, 1, 10, 20, 0, 500, 5, 100, 3, 9, 0, 30, 0, 12, -1))
        self.assertEqual(request_id, result.request_id)
        self.assertEqual(77, result.correlation_id)
        self.assertEqual(Op.DEDUCT, result.op)
        self.assertEqual(ResultCode.INSUFFICIENT_FUNDS, result.code)
        self.assertFalse(result.ok)
        self.assertTrue(result.duplicate)
        self.assertEqual((10, 20, 500, 5, 100, 3), (result.from_free, result.from_balance, result.balance,
                                                     result.held, result.credit_limit, result.free_remaining))
        self.assertEqual((9, 0, 30, 0, 12, -1), (result.virtual_key_id, result.units, result.amount,
                                                 result.retry_after_millis, result.key_spent,
                                                 result.key_budget_remaining))
        self.assertEqual("INSUFFICIENT_FUNDS", result.as_dict()["code"])

    def test_should_take_an_unknown_code_for_a_rejection(self) -> None:
        result = make_result(None, (1, 99, 200) + (0,) * 14)
        self.assertFalse(result.ok)
        self.assertEqual("UNKNOWN_200", result.code.name)
        self.assertEqual("UNKNOWN_99", result.op.name)


class ReadKeyTest(unittest.TestCase):
    def setUp(self) -> None:
        self.directory = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.directory, True)

    def write(self, name: str, text: str, mode: int = 0o600) -> Path:
        path = self.directory / name
        path.write_text(text)
        os.chmod(path, mode)
        return path

    def test_should_prefer_the_key_then_the_file_then_the_environment_then_the_data_directory(self) -> None:
        key_file = self.write("gateway.key", "\n  from-file  \nsecond\n")
        self.write("admin.key", "from-data-dir\n")
        environ = {"LEDGER_KEY": " from-env "}
        self.assertEqual("given", read_key("given", None, self.directory, environ))
        self.assertEqual("from-file", read_key(None, key_file, self.directory, environ))
        self.assertEqual("from-env", read_key(None, None, self.directory, environ))
        self.assertEqual("from-data-dir", read_key(None, None, self.directory, {"LEDGER_KEY": "  "}))

    def test_should_say_where_it_looked_when_there_is_no_key(self) -> None:
        with self.assertRaises(KeyNotFoundError) as caught:
            read_key(None, None, self.directory / "nowhere", {})
        self.assertIn("LEDGER_KEY", str(caught.exception))
        self.assertIn("admin.key", str(caught.exception))
        with self.assertRaises(KeyNotFoundError):
            read_key(None, self.write("empty.key", "\n \n"), self.directory, {})
        with self.assertRaises(ValueError):
            read_key("a", "b")

    def test_should_warn_when_other_users_may_read_the_key_file(self) -> None:
        exposed = self.write("exposed.key", "k\n", 0o644)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.assertEqual("k", read_key(None, exposed, self.directory, {}))
        self.assertTrue(any("chmod 600" in str(w.message) for w in caught))


if __name__ == "__main__":
    unittest.main()
