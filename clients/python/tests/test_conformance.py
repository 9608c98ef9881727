"""The conformance runner (clients/python/conformance.py) against a live ledger: its lines and exit codes."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from support import CLIENT_ROOT, REPO, gateway_key, shared_server

RUNNER = CLIENT_ROOT / "conformance.py"
OWN_SCENARIOS = CLIENT_ROOT / "tests" / "scenarios"
SUITE = REPO / "conformance" / "scenarios"


class ConformanceRunnerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.server = shared_server()
        cls.pki = Path(tempfile.mkdtemp(prefix="quotaledger-conformance-"))  # the gateway key file
        cls.gateway_file = cls.pki / "gateway.key"
        cls.gateway_file.write_text(gateway_key() + "\n")
        os.chmod(cls.gateway_file, 0o600)

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.pki, ignore_errors=True)

    def run_runner(self, *arguments: str, environment: bool = True) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
        if environment:
            env.update(LEDGER_HOST="127.0.0.1", LEDGER_PORT=str(self.server.port),
                       LEDGER_ADMIN_KEY_FILE=str(self.server.admin_key_file),
                       LEDGER_GATEWAY_KEY_FILE=str(self.gateway_file),
                       LEDGER_RUN_BASE=str(secrets.randbelow(2_000) * 1_000_000 + 1_000_000))  # int32 group ids
        return subprocess.run([sys.executable, str(RUNNER), *arguments], env=env, capture_output=True, text=True,
                              timeout=300)

    def test_should_pass_its_own_scenarios_with_one_line_each(self) -> None:
        done = self.run_runner(str(OWN_SCENARIOS))
        self.assertEqual(["python py-holds-duplicates PASS", "python py-raw-frames PASS"],
                         done.stdout.splitlines(), done.stderr)
        self.assertEqual(0, done.returncode)

    @unittest.skipUnless(SUITE.is_dir(), f"{SUITE} is not in this tree yet")
    def test_should_pass_the_conformance_suite(self) -> None:
        done = self.run_runner(str(SUITE))
        lines = done.stdout.splitlines()
        self.assertEqual(len(list(SUITE.glob("*.json"))), len(lines), done.stderr)
        self.assertEqual([], [line for line in lines if not line.endswith(" PASS")])
        self.assertEqual(0, done.returncode)

    def test_should_say_which_step_differed_and_exit_1(self) -> None:
        with tempfile.TemporaryDirectory() as directory:
            wrong = {"name": "wrong", "steps": [
                {"op": "CREDIT", "requestId": "c", "userId": 1, "amount": 10, "expect": {"code": "OK", "balance": 10}},
                {"op": "DEDUCT", "requestId": "d", "userId": 1, "serviceId": 7, "amount": 4,
                 "expect": {"code": "OK", "balance": 5, "duplicate": True}}]}
            typo = {"name": "typo", "steps": [{"op": "CREDIT", "requestId": "c", "userId": 1, "amout": 10,
                                               "expect": {"code": "OK"}}]}
            Path(directory, "a-wrong.json").write_text(json.dumps(wrong))
            Path(directory, "b-typo.json").write_text(json.dumps(typo))
            Path(directory, "c-broken.json").write_text("{")
            done = self.run_runner(directory)
        self.assertEqual(["python wrong FAIL 1: balance: expected 5, got 6; duplicate: expected true, got false",
                          "python typo FAIL 0: CREDIT has no field amout",
                          "python c-broken FAIL -: cannot read it as a scenario: Expecting property name enclosed in "
                          "double quotes: line 1 column 2 (char 1)"], done.stdout.splitlines())
        self.assertEqual(1, done.returncode)

    def test_should_exit_2_when_it_cannot_run(self) -> None:
        self.assertEqual(2, self.run_runner().returncode)
        done = self.run_runner(str(OWN_SCENARIOS), environment=False)
        self.assertEqual(2, done.returncode)
        self.assertIn("LEDGER_HOST", done.stderr)
        self.assertEqual("", done.stdout)


if __name__ == "__main__":
    unittest.main()
