"""bench.py runs end to end (a fraction of a second against the test's ledger: a smoke test, not a measurement)."""

from __future__ import annotations

import json
import subprocess
import sys
import unittest

from support import CLIENT_ROOT, shared_server


class BenchTest(unittest.TestCase):
    def test_should_report_pipelined_throughput_and_blocking_latency(self) -> None:
        server = shared_server()
        done = subprocess.run([sys.executable, str(CLIENT_ROOT / "bench.py"), "--port", str(server.port),
                               "--key-file", str(server.admin_key_file), "--seconds", "0.3", "--warmup", "0.1",
                               "--connections", "1,2", "--in-flight", "64", "--latency-seconds", "0.2", "--json"],
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(0, done.returncode, done.stderr)
        report = json.loads(done.stdout)
        self.assertEqual([1, 2], [p["connections"] for p in report["pipelined"]])
        self.assertTrue(all(p["deducts_per_second"] > 0 and p["failed"] == 0 and p["refused"] == 0
                            for p in report["pipelined"]))
        self.assertGreater(report["blocking"]["calls"], 0)
        self.assertLessEqual(report["blocking"]["p50_micros"], report["blocking"]["p99_micros"])

    def test_should_refuse_bad_arguments_with_exit_2(self) -> None:
        done = subprocess.run([sys.executable, str(CLIENT_ROOT / "bench.py"), "--connections", "x"],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(2, done.returncode)
        self.assertIn("--connections", done.stderr)


if __name__ == "__main__":
    unittest.main()
