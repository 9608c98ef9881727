#!/usr/bin/env python3
"""The Python client's conformance runner (conformance/README.md, "The runner contract").

    LEDGER_HOST=127.0.0.1 LEDGER_PORT=7070 LEDGER_ADMIN_KEY_FILE=... LEDGER_GATEWAY_KEY_FILE=... \\
    LEDGER_RUN_BASE=3000000 python3 clients/python/conformance.py conformance/scenarios

Plays each scenario with the blocking client (its ``futures`` for pipelined steps) and prints one line per scenario
on standard output: ``python <name> PASS`` or ``python <name> FAIL <step>: <what differed>``. Exit code 0 when all
passed, 1 when one did not, 2 when it cannot run (no arguments, a variable missing).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quotaledger import (AuthenticationError, LedgerClient, LedgerError, Period, RejectedError,  # noqa: E402
                         RequestId, Result, ResultCode, read_key)
from quotaledger._wire import hello_frame  # noqa: E402

CLIENT = "python"
WRONG_KEY = "qlk_conformance-wrong-key"

# the request's fields of each operation: JSON name -> (keyword of the client's method, kind)
_ID = ("request_id", "id")
_USER = ("user_id", "user")
_KEY = ("virtual_key_id", "key")
_SERVICE = ("service_id", "int")
OPERATIONS: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "DEDUCT": ("deduct", {"requestId": _ID, "userId": _USER, "serviceId": _SERVICE, "amount": ("amount", "int"),
                          "virtualKeyId": _KEY, "units": ("units", "int")}),
    "RESERVE": ("reserve", {"requestId": _ID, "userId": _USER, "serviceId": _SERVICE, "amount": ("amount", "int"),
                            "ttlMillis": ("ttl_millis", "int"), "virtualKeyId": _KEY, "units": ("units", "int")}),
    "SETTLE": ("settle", {"requestId": _ID, "holdId": ("hold_id", "hold"), "amount": ("actual", "int")}),
    "RELEASE": ("release", {"requestId": _ID, "holdId": ("hold_id", "hold")}),
    "CREDIT": ("credit", {"requestId": _ID, "userId": _USER, "amount": ("amount", "int")}),
    "GRANT": ("grant", {"requestId": _ID, "userId": _USER, "serviceId": _SERVICE,
                        "allowance": ("allowance", "int"), "period": ("period", "period")}),
    "SET_LIMIT": ("set_limit", {"requestId": _ID, "userId": _USER, "creditLimit": ("credit_limit", "int")}),
    "FREEZE": ("freeze", {"requestId": _ID, "userId": _USER}),
    "UNFREEZE": ("unfreeze", {"requestId": _ID, "userId": _USER}),
    "QUERY": ("query", {"userId": _USER, "serviceId": _SERVICE, "virtualKeyId": _KEY}),
    "SET_VIRTUAL_KEY": ("set_virtual_key", {
        "requestId": _ID, "userId": _USER, "virtualKeyId": _KEY, "budget": ("budget", "int"),
        "unlimited": ("unlimited", "bool"), "resetPeriod": ("reset_period", "period"),
        "resetMillis": ("reset_millis", "int"), "expiresAt": ("expires_at", "int"),
        "services": ("services", "services")}),
    "SET_VIRTUAL_KEY_SERVICE_BUDGET": ("set_virtual_key_service_budget", {
        "requestId": _ID, "userId": _USER, "virtualKeyId": _KEY, "serviceId": _SERVICE,
        "budget": ("budget", "int")}),
    "REVOKE_VIRTUAL_KEY": ("revoke_virtual_key", {"requestId": _ID, "userId": _USER, "virtualKeyId": _KEY}),
    "SET_PRICE": ("set_price", {"requestId": _ID, "groupId": ("group_id", "group"), "serviceId": _SERVICE,
                                "multiplier": ("multiplier", "int")}),
    "SET_GROUP": ("set_group", {"requestId": _ID, "userId": _USER, "groupId": ("group_id", "group")}),
    "SET_RATE_LIMIT": ("set_rate_limit", {"requestId": _ID, "userId": _USER, "virtualKeyId": _KEY,
                                          "requests": ("requests", "int"), "units": ("units", "int"),
                                          "perMillis": ("per_millis", "int")}),
    "SET_SPEND_WINDOW": ("set_spend_window", {"requestId": _ID, "userId": _USER, "virtualKeyId": _KEY,
                                              "max": ("max_amount", "int"), "perMillis": ("per_millis", "int")}),
    "SET_CONCURRENCY": ("set_concurrency", {"requestId": _ID, "userId": _USER, "virtualKeyId": _KEY,
                                            "max": ("max_holds", "int")}),
}
STEP_FIELDS = {"op", "expect", "expectCounts", "pipeline"}
FLAGS = {"duplicate": "duplicate", "exceededHold": "exceeded_hold", "frozen": "frozen", "keyRevoked": "key_revoked",
         "keyExpired": "key_expired"}
NUMBERS = {"fromFree": "from_free", "fromBalance": "from_balance", "returned": "returned", "balance": "balance",
           "held": "held", "creditLimit": "credit_limit", "freeRemaining": "free_remaining",
           "virtualKeyId": "virtual_key_id", "units": "units", "amount": "amount",
           "retryAfterMillis": "retry_after_millis", "keySpent": "key_spent",
           "keyBudgetRemaining": "key_budget_remaining"}
CODES = {code.name: code.value for code in ResultCode}  # the schema's names, protocol errors included
RAW_TIMEOUT = 10.0


class StepFailed(Exception):
    """The step's results differ from the scenario's (or the step cannot be played as written)."""


class Environment:
    def __init__(self) -> None:
        missing = [name for name in ("LEDGER_HOST", "LEDGER_PORT", "LEDGER_ADMIN_KEY_FILE", "LEDGER_GATEWAY_KEY_FILE",
                                     "LEDGER_RUN_BASE") if not os.environ.get(name)]
        if missing:
            raise ValueError(f"missing environment: {', '.join(missing)}")
        self.host = os.environ["LEDGER_HOST"]
        self.port = int(os.environ["LEDGER_PORT"])
        self.base = int(os.environ["LEDGER_RUN_BASE"])
        if self.base <= 0:
            raise ValueError("LEDGER_RUN_BASE must be a positive int64")
        self.keys = {"admin": read_key(key_file=os.environ["LEDGER_ADMIN_KEY_FILE"]),
                     "gateway": read_key(key_file=os.environ["LEDGER_GATEWAY_KEY_FILE"]),
                     "wrong": WRONG_KEY}

    def connect(self, who: str) -> LedgerClient:
        # one attempt, a long timeout: a resend would turn a slow answer into a duplicate
        return LedgerClient(self.host, self.port, self.keys[who], timeout=60, attempts=1)


class Scenario:
    """One scenario file played on one connection."""

    def __init__(self, env: Environment, document: dict[str, Any]) -> None:
        self.env = env
        self.document = document
        self.ids: dict[str, RequestId] = {}
        self.client: LedgerClient | None = None

    def run(self) -> tuple[int | None, str | None]:
        """(None, None) when it passed, else the step index and what differed."""
        who = self.document.get("connectAs", "admin")
        if who not in ("admin", "gateway"):
            return 0, f"connectAs {who!r}: admin or gateway"
        index = 0
        try:
            self.client = self.env.connect(who)
            for index, step in enumerate(self.document["steps"]):
                self.step(step)
        except StepFailed as ex:
            return index, str(ex)
        except LedgerError as ex:
            return index, f"{type(ex).__name__}: {ex}"
        finally:
            if self.client is not None:
                self.client.close()
        return None, None

    def step(self, step: dict[str, Any]) -> None:
        if "op" in step:
            self.operation(step)
        elif "sleepMillis" in step:
            _only(step, {"sleepMillis"})
            time.sleep(step["sleepMillis"] / 1000)
        elif "connect" in step:
            self.reconnect(step)
        elif "raw" in step:
            self.raw(step)
        else:
            raise StepFailed(f"not a step: {sorted(step)}")

    # --- operations

    def operation(self, step: dict[str, Any]) -> None:
        name = step["op"]
        if name not in OPERATIONS:
            raise StepFailed(f"unknown op {name!r}")
        method, fields = OPERATIONS[name]
        unknown = set(step) - STEP_FIELDS - set(fields)
        if unknown:
            raise StepFailed(f"{name} has no field {', '.join(sorted(unknown))}")
        if self.client is None:
            raise StepFailed("no connection (the last connect was refused)")
        pipeline = step.get("pipeline")
        if pipeline is None:
            if "expectCounts" in step:
                raise StepFailed("expectCounts needs pipeline")
            check(self.call(method, fields, step, None), step.get("expect", {}), self.env.base)
            return
        if not isinstance(pipeline, int) or not 1 <= pipeline <= 10_000:
            raise StepFailed(f"pipeline {pipeline!r}: 1 to 10000")
        futures = [self.call(method, fields, step, f"#{i}", pipelined=True) for i in range(pipeline)]
        results = [outcome(future) for future in futures]
        if "expectCounts" in step:
            counts: dict[str, int] = {}
            for result in results:
                counts[result.code.name] = counts.get(result.code.name, 0) + 1
            expected = step["expectCounts"]
            if counts != expected:
                raise StepFailed(f"codes: expected {json.dumps(expected, sort_keys=True)}, got "
                                 f"{json.dumps(counts, sort_keys=True)}")
        else:
            for i, result in enumerate(results):
                try:
                    check(result, step.get("expect", {}), self.env.base)
                except StepFailed as ex:
                    raise StepFailed(f"request #{i}: {ex}") from None

    def call(self, method: str, fields: dict[str, tuple[str, str]], step: dict[str, Any], suffix: str | None,
             pipelined: bool = False) -> Any:
        arguments: dict[str, Any] = {}
        for json_name, (keyword, kind) in fields.items():
            value = step.get(json_name)
            if kind == "id":
                arguments[keyword] = None if value is None else self.request_id(value + (suffix or ""))
            elif kind == "hold":
                arguments[keyword] = self.request_id(value) if value is not None else RequestId(0, 0)
            elif kind == "period":
                try:
                    arguments[keyword] = Period[value or "NONE"]
                except KeyError:
                    raise StepFailed(f"{json_name} {value!r}: NONE, DAY, WEEK or MONTH") from None
            elif kind == "bool":
                if value not in (None, True, False):
                    raise StepFailed(f"{json_name} {value!r}: true or false")
                arguments[keyword] = bool(value)
            elif kind == "services":
                arguments[keyword] = [_integer(json_name, s) for s in (value or [])]
            else:
                number = _integer(json_name, value or 0)
                if kind in ("user", "key", "group") and number > 0:
                    number += self.env.base
                arguments[keyword] = number
        target = self.client.futures if pipelined else self.client  # type: ignore[union-attr]
        try:
            return getattr(target, method)(**arguments)
        except RejectedError as ex:
            return ex.result
        except ValueError as ex:
            raise StepFailed(f"cannot send it: {ex}") from None

    def request_id(self, name: str) -> RequestId:
        if name not in self.ids:
            self.ids[name] = RequestId.random()
        return self.ids[name]

    # --- connections

    def reconnect(self, step: dict[str, Any]) -> None:
        _only(step, {"connect", "expect"})
        who = step["connect"].get("key")
        if who not in self.env.keys:
            raise StepFailed(f"connect key {who!r}: admin, gateway or wrong")
        expected = step.get("expect", {}).get("code", "OK")
        if self.client is not None:
            self.client.close()
            self.client = None
        try:
            self.client = self.env.connect(who)
            code = "OK"
        except AuthenticationError as ex:
            code = ex.code.name
        if code != expected:
            raise StepFailed(f"code: expected {expected}, got {code}")

    def raw(self, step: dict[str, Any]) -> None:
        _only(step, {"raw", "expect"})
        raw = step["raw"]
        expect = step.get("expect", {})
        unknown = set(expect) - {"code", "correlationId", "closed"}
        if unknown:
            raise StepFailed(f"a raw step cannot check {', '.join(sorted(unknown))}")
        try:
            data = bytes.fromhex("".join(raw["hex"].split()))
        except ValueError:
            raise StepFailed("hex: not hex digits") from None
        with socket.create_connection((self.env.host, self.env.port), timeout=RAW_TIMEOUT) as sock:
            reader = _Frames(sock)
            if raw.get("afterHello"):
                sock.sendall(hello_frame(self.env.keys[self.document.get("connectAs", "admin")]))
                hello = reader.next()
                if hello is None or hello[0] != 2 or hello[1][8] != 0:
                    raise StepFailed("the Hello before the raw bytes was not answered OK")
            sock.sendall(data)
            if "code" in expect:
                frame = reader.next()
                if frame is None:
                    raise StepFailed(f"code: expected {expect['code']}, the connection closed first")
                template, block = frame
                if template not in (2, 30, 31) or len(block) < 10:
                    raise StepFailed(f"code: expected {expect['code']}, got a frame of template {template}")
                code = block[9] if template == 30 else block[8]
                differences = []
                if code != CODES.get(expect["code"], -1):
                    differences.append(f"code: expected {expect['code']}, got {ResultCode(code).name}")
                if "correlationId" in expect:
                    (correlation_id,) = struct.unpack_from("<q", block)
                    if correlation_id != expect["correlationId"]:
                        differences.append(f"correlationId: expected {expect['correlationId']}, got "
                                           f"{correlation_id}")
                if differences:
                    raise StepFailed("; ".join(differences))
            if expect.get("closed"):
                if not reader.closes():
                    raise StepFailed(f"closed: expected true, still open after {RAW_TIMEOUT:g} s")


class _Frames:
    """Frames from a plain socket: (template id, root block and after), None once it closes."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> bool:
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return False
        except socket.timeout:
            raise StepFailed(f"no answer within {RAW_TIMEOUT:g} s") from None
        self.buffer += data
        return bool(data)

    def next(self) -> tuple[int, bytes] | None:
        while True:
            if len(self.buffer) >= 4:
                (length,) = struct.unpack_from("<I", self.buffer)
                if len(self.buffer) >= 4 + length and length >= 8:
                    frame, self.buffer = self.buffer[4:4 + length], self.buffer[4 + length:]
                    (template,) = struct.unpack_from("<H", frame, 2)
                    return template, frame[8:]
            if not self._fill():
                return None

    def closes(self) -> bool:
        deadline = time.monotonic() + RAW_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if not self._fill():
                    return True
            except StepFailed:
                return False
        return False


def outcome(future: Any) -> Result:
    """A pipelined request's result, accepted or refused."""
    try:
        return future.result(130)
    except RejectedError as ex:
        return ex.result
    except Exception as ex:  # noqa: BLE001 - a timeout or a lost connection fails the step, with its reason
        raise StepFailed(f"{type(ex).__name__}: {ex}") from None


def check(result: Result, expect: dict[str, Any], base: int) -> None:
    differences = []
    for name, wanted in expect.items():
        if name == "code":
            if result.code.name != wanted or wanted not in CODES:
                differences.append(f"code: expected {wanted}, got {result.code.name}")
        elif name in FLAGS:
            got = getattr(result, FLAGS[name])
            if got != wanted:
                differences.append(f"{name}: expected {json.dumps(wanted)}, got {json.dumps(got)}")
        elif name in NUMBERS:
            got = getattr(result, NUMBERS[name])
            if isinstance(wanted, dict):
                if set(wanted) - {"min", "max"}:
                    raise StepFailed(f"{name}: a number or {{min, max}}")
                if not wanted.get("min", got) <= got <= wanted.get("max", got):
                    differences.append(f"{name}: expected {json.dumps(wanted)}, got {got}")
            else:
                if name == "virtualKeyId" and wanted > 0:
                    wanted += base
                if got != wanted:
                    differences.append(f"{name}: expected {wanted}, got {got}")
        else:
            raise StepFailed(f"expect cannot check {name!r}")
    if differences:
        raise StepFailed("; ".join(differences))


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise StepFailed(f"{name} {value!r}: an integer")
    return value


def _only(step: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(step) - allowed
    if unknown:
        raise StepFailed(f"unknown field {', '.join(sorted(unknown))}")


def scenario_files(arguments: list[str]) -> list[Path]:
    files: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        files.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    return files


def main(arguments: list[str]) -> int:
    if not arguments:
        print("usage: conformance.py SCENARIO.json|DIR ... (see conformance/README.md)", file=sys.stderr)
        return 2
    try:
        env = Environment()
    except (ValueError, LedgerError) as ex:
        print(f"conformance.py: {ex}", file=sys.stderr)
        return 2
    passed = True
    for path in scenario_files(arguments):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            name = document["name"]
            if not isinstance(document.get("steps"), list):
                raise ValueError("no steps")
        except (OSError, ValueError, KeyError, TypeError) as ex:
            print(f"{CLIENT} {path.stem} FAIL -: cannot read it as a scenario: {ex}", flush=True)
            passed = False
            continue
        index, what = Scenario(env, document).run()
        if index is None:
            print(f"{CLIENT} {name} PASS", flush=True)
        else:
            print(f"{CLIENT} {name} FAIL {index}: {what}", flush=True)
            passed = False
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
