"""The generated codecs: in step with the schema, with docs/protocol.md, and with themselves."""

from __future__ import annotations

import importlib.util
import random
import re
import struct
import sys
import tempfile
import unittest
from pathlib import Path

from support import CLIENT_ROOT, REPO

from quotaledger import _protocol as protocol


def _generator():
    spec = importlib.util.spec_from_file_location("generate", CLIENT_ROOT / "tools" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


class GeneratedCodecsTest(unittest.TestCase):
    def test_should_match_what_the_schema_generates(self) -> None:
        checked_in = (CLIENT_ROOT / "quotaledger" / "_protocol.py").read_text(encoding="utf-8")
        self.assertEqual(_generator().render(), checked_in,
                         "quotaledger/_protocol.py is stale: run python3 clients/python/tools/generate.py")

    def test_should_notice_a_schema_change(self) -> None:
        schema = (REPO / "ledger-protocol" / "src" / "main" / "resources" / "sbe" / "ledger-protocol.xml")
        changed = schema.read_text(encoding="utf-8").replace(
            '<field name="units" id="7" type="int64" sinceVersion="2"',
            '<field name="units" id="7" type="int32" sinceVersion="2"')
        self.assertNotEqual(schema.read_text(encoding="utf-8"), changed)
        with tempfile.TemporaryDirectory() as directory:
            copy = Path(directory) / "ledger-protocol.xml"
            copy.write_text(changed, encoding="utf-8")
            self.assertNotEqual(_generator().render(copy), _generator().render(schema))

    def test_should_have_the_block_lengths_of_the_protocol_document(self) -> None:
        document = (REPO / "docs" / "protocol.md").read_text(encoding="utf-8")
        rows = re.findall(r"^\| (\d+) \| (\w+) \| (—|\d+) / (\d+)", document, re.MULTILINE)
        self.assertGreaterEqual(len(rows), 22, "the message tables of docs/protocol.md")
        for template, name, v1, v2 in rows:
            message = protocol.MESSAGES[int(template)]
            self.assertEqual(name, message.__name__)
            expected = {2: int(v2)} if v1 == "—" else {1: int(v1), 2: int(v2)}
            self.assertEqual(expected, message.BLOCK_LENGTHS, name)
        self.assertEqual({row[1] for row in rows}, {m.__name__ for m in protocol.MESSAGES.values()})

    def test_should_put_each_field_at_its_documented_offset(self) -> None:
        frame = bytearray(protocol.Deduct.FRAME_LENGTH)
        end = protocol.Deduct.encode(frame, 0, 7, 0x0102, -3, 42, 9, 120, 5, 0)
        self.assertEqual(72, end)
        self.assertEqual((68, 60, 10, 7070, 2), struct.unpack_from("<IHHHH", frame))
        block = 12
        self.assertEqual(7, struct.unpack_from("<q", frame, block + 0)[0])
        self.assertEqual((0x0102, -3), struct.unpack_from("<qq", frame, block + 8))
        self.assertEqual(42, struct.unpack_from("<q", frame, block + 24)[0])
        self.assertEqual(9, struct.unpack_from("<i", frame, block + 32)[0])
        self.assertEqual(120, struct.unpack_from("<q", frame, block + 36)[0])
        self.assertEqual(5, struct.unpack_from("<q", frame, block + 44)[0])

    def test_should_encode_the_services_group_and_the_api_key(self) -> None:
        services = (3, 4, 70000)
        frame = bytearray(protocol.SetVirtualKey.frame_length(services))
        self.assertEqual(4 + 8 + 66 + 4 + 12, len(frame))
        protocol.SetVirtualKey.encode(frame, 0, 1, 2, 3, 4, 5, 6, 1, 2, 7, 8, services)
        self.assertEqual((4, 3), struct.unpack_from("<HH", frame, 12 + 66))
        self.assertEqual(services, struct.unpack_from("<iii", frame, 12 + 70))
        decoded = protocol.SetVirtualKey.decode(frame, 12, 66, 2)
        self.assertEqual((1, 2, 3, 4, 5, 6, 1, 2, 7, 8, [3, 4, 70000]), decoded)

        key = b"qlk_secret"
        hello = bytearray(protocol.Hello.frame_length(key))
        protocol.Hello.encode(hello, 0, 0, 2, key)
        self.assertEqual((0, 2, key), protocol.Hello.decode(hello, 12, 10, 2))
        self.assertEqual(len(hello) - 4, struct.unpack_from("<I", hello)[0])

    def test_should_decode_every_message_it_encodes(self) -> None:
        rng = random.Random(7)
        limits = {"q": 63, "i": 31, "H": None, "B": None}
        for message in protocol.MESSAGES.values():
            codes = message.BLOCK.format.lstrip("<")
            values = []
            for code in codes:
                if code in ("H",):
                    values.append(rng.randrange(1 << 16))
                elif code == "B":
                    values.append(rng.randrange(4))
                else:
                    bits = limits[code]
                    values.append(rng.randrange(-(1 << bits), 1 << bits))
            extra = []
            if message is protocol.SetVirtualKey:
                extra = [[1, 2]]
            if message is protocol.Hello:
                extra = [b"key"]
            frame = bytearray(message.frame_length(*extra))
            self.assertEqual(len(frame), message.encode(frame, 0, *values, *extra))
            decoded = message.decode(frame, 12, message.BLOCK_LENGTH, protocol.SCHEMA_VERSION)
            self.assertEqual(tuple(values) + tuple(extra), decoded, message.__name__)

    def test_should_read_a_version_1_result_with_zeros_for_the_version_2_fields(self) -> None:
        block = protocol.Result.BLOCK_V1.pack(9, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8)
        decoded = protocol.Result.decode(block, 0, 67, 1)
        self.assertEqual((9, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8) + (0,) * 6, decoded)

    def test_should_keep_a_code_it_does_not_know(self) -> None:
        code = protocol.ResultCode(99)
        self.assertEqual(99, code)
        self.assertEqual("UNKNOWN_99", code.name)
        self.assertNotEqual(protocol.ResultCode.OK, code)


if __name__ == "__main__":
    unittest.main()
