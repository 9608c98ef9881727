#!/usr/bin/env python3
"""The gateway example in one command: a ledger, a fake upstream, the gateway, and a few requests through it.

    python3 examples/python/demo.py

Starts ``scripts/ledger serve`` on a temporary data directory (the first run builds the ledger: a minute or two),
makes a gateway key with ``scripts/ledger keys add``, funds user 1 with the admin key, starts the fake upstream and
the gateway, sends four requests and shows what each was charged, then stops everything.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "clients" / "python"))
sys.path.insert(0, str(HERE))

import fake_upstream  # noqa: E402
from gateway import Gateway  # noqa: E402
from quotaledger import AsyncLedgerClient, AuthenticationError, LedgerClient  # noqa: E402

SERVICE = 1


def start_ledger(data: Path) -> tuple[subprocess.Popen, int]:
    env = dict(os.environ, LEDGER_JAVA_OPTS=os.environ.get("LEDGER_JAVA_OPTS", "-Xmx512m"))
    log = open(data.parent / f"{data.name}.log", "w")  # the ledger's own log, out of the demo's way
    process = subprocess.Popen([str(ROOT / "scripts" / "ledger"), "serve", "--data", str(data), "--port", "0",
                                "--metrics-port", "0", "--no-projector"], stdout=subprocess.PIPE, stderr=log,
                               env=env, text=True)
    for line in process.stdout:  # type: ignore[union-attr]
        print(f"  | {line.rstrip()}")
        if line.startswith("ledger serving "):
            return process, int(line.split()[2].rsplit(":", 1)[1])
    raise SystemExit("demo: the ledger did not start (see above)")


def post(url: str, user: int, body: dict, headers: dict[str, str] | None = None) -> tuple[int, dict, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "X-User-Id": str(user),
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read())
    except urllib.error.HTTPError as answer:
        return answer.code, dict(answer.headers), json.loads(answer.read() or b"{}")


async def run(port: int, data: Path, gateway_key: str) -> None:
    upstream = fake_upstream.start()
    for _ in range(50):  # the ledger reads its keys file again within a second of a change
        try:
            ledger = await AsyncLedgerClient.connect("127.0.0.1", port, gateway_key)
            break
        except AuthenticationError:
            await asyncio.sleep(0.1)
    else:
        raise SystemExit("demo: the ledger did not take the new gateway key")
    gateway = Gateway(ledger, ("127.0.0.1", upstream.server_address[1]), SERVICE, 256, 120_000, 30.0)
    server = await asyncio.start_server(gateway.handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/completions"
    print(f"gateway on {url}, fake upstream on port {upstream.server_address[1]}\n")
    cases = [
        ("a completion", 1, {"prompt": "write a haiku about ledgers", "max_tokens": 100}, {}),
        ("the upstream fails: the hold is released", 1, {"prompt": "hello", "max_tokens": 50},
         {"X-Fake-Status": "500"}),
        ("a user without funds: refused before the upstream", 2, {"prompt": "hello", "max_tokens": 50}, {}),
        ("another completion", 1, {"prompt": "and one more", "max_tokens": 20}, {}),
    ]
    with LedgerClient("127.0.0.1", port, data_dir=data) as admin:
        for title, user, body, headers in cases:
            status, answer_headers, answer = await asyncio.to_thread(post, url, user, body, headers)
            account = admin.query(1)
            print(f"{title}:\n  HTTP {status}, charged {answer_headers.get('X-Ledger-Charged', '-')}, "
                  f"usage {answer.get('usage', {}).get('total_tokens', '-')}, error {answer.get('error', '-')}; "
                  f"user 1: balance {account.balance}, held {account.held}")
    server.close()
    await server.wait_closed()
    await ledger.close()
    upstream.shutdown()


def main() -> int:
    data = Path(tempfile.mkdtemp(prefix="gateway-demo-"))
    process = None
    try:
        print("starting the ledger (scripts/ledger serve) ...")
        process, port = start_ledger(data)
        key = subprocess.run([str(ROOT / "scripts" / "ledger"), "keys", "add", "--role", "gateway", "--name",
                              "demo-gateway", "--data", str(data)], check=True, capture_output=True,
                             text=True).stdout.strip()
        with LedgerClient("127.0.0.1", port, data_dir=data) as admin:
            print(f"credit user 1: balance {admin.credit(1, 1_000).balance}; user 2: balance "
                  f"{admin.credit(2, 10).balance}")
        asyncio.run(run(port, data, key))
        return 0
    finally:
        if process is not None:
            process.terminate()
            process.wait(30)
        shutil.rmtree(data, ignore_errors=True)
        Path(data.parent / f"{data.name}.log").unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
