#!/usr/bin/env python3
"""Benchmark of the Python client against a running ledger.

    scripts/ledger serve --data /tmp/bench &
    python3 clients/python/bench.py --data /tmp/bench            # admin key from the data directory
    python3 clients/python/bench.py --port 7070 --key-file admin.key --seconds 10 --json

1. Pipelined deducts/s with the asyncio client over 1 and over 4 connections (one event loop, one core: Python runs
   one thread at a time), ``--in-flight`` requests outstanding per connection, each answered through a callback
   that sends the next; the frames of one loop tick go out in one write.
2. p50/p99 of a single blocking call: LedgerClient.deduct, one at a time.

The key must be an admin key (the bench credits its users first). Figures depend on the machine: say which.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quotaledger import AsyncLedgerClient, LedgerClient, LedgerError, read_key  # noqa: E402

SERVICE = 1
FUNDS = 1 << 60


class Driver:
    """Keeps ``window`` deducts in flight on one connection: every answer sends the next one."""

    def __init__(self, client: AsyncLedgerClient, user: int, window: int) -> None:
        self.user = user
        self.window = window
        self.running = True
        self.ok = 0
        self.refused = 0
        self.failed = 0
        self.outstanding = 0
        self.drained = asyncio.get_running_loop().create_future()
        self._deduct = client.with_callback(self._on_result).deduct

    def start(self) -> None:
        deduct = self._deduct
        user = self.user
        for _ in range(self.window):
            deduct(user, SERVICE, 1)
        self.outstanding = self.window

    def _on_result(self, result, error) -> None:
        if error is not None:
            self.failed += 1
        elif result.ok:
            self.ok += 1
        else:
            self.refused += 1
        if self.running:
            self._deduct(self.user, SERVICE, 1)
        else:
            self.outstanding -= 1
            if not self.outstanding and not self.drained.done():
                self.drained.set_result(None)


async def pipelined(args: argparse.Namespace, key: str, connections: int, users: list[int]) -> dict:
    clients = [await AsyncLedgerClient.connect(args.host, args.port, key, timeout=args.timeout)
               for _ in range(connections)]
    try:
        drivers = [Driver(client, users[i], args.in_flight) for i, client in enumerate(clients)]
        for driver in drivers:
            driver.start()
        await asyncio.sleep(args.warmup)
        counted = [d.ok + d.refused for d in drivers]
        started = time.perf_counter()
        await asyncio.sleep(args.seconds)
        elapsed = time.perf_counter() - started
        done = sum(d.ok + d.refused for d in drivers) - sum(counted)
        for driver in drivers:
            driver.running = False
        await asyncio.wait_for(asyncio.gather(*(d.drained for d in drivers)), args.timeout * 4 + 10)
        return {"connections": connections, "in_flight_per_connection": args.in_flight,
                "deducts_per_second": round(done / elapsed), "seconds": round(elapsed, 3),
                "refused": sum(d.refused for d in drivers), "failed": sum(d.failed for d in drivers)}
    finally:
        for client in clients:
            await client.close()


def latency(args: argparse.Namespace, key: str, user: int) -> dict:
    samples = []
    with LedgerClient(args.host, args.port, key, timeout=args.timeout) as client:
        for _ in range(200):  # warm-up
            client.deduct(user, SERVICE, 1)
        end = time.perf_counter() + args.latency_seconds
        clock = time.perf_counter_ns
        while time.perf_counter() < end:
            started = clock()
            client.deduct(user, SERVICE, 1)
            samples.append(clock() - started)
    samples.sort()
    return {"calls": len(samples), "p50_micros": round(samples[len(samples) // 2] / 1000, 1),
            "p99_micros": round(samples[min(len(samples) - 1, len(samples) * 99 // 100)] / 1000, 1),
            "max_micros": round(samples[-1] / 1000, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description="Pipelined deducts/s (asyncio) and blocking-call latency.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7070)
    parser.add_argument("--key-file", help="admin key file (else LEDGER_KEY, else DIR/admin.key)")
    parser.add_argument("--data", default="data", help="data directory whose admin.key to use (default: data)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per connection count")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring (default: 2)")
    parser.add_argument("--connections", default="1,4", help="connection counts to measure (default: 1,4)")
    parser.add_argument("--in-flight", type=int, default=4096, help="requests outstanding per connection")
    parser.add_argument("--latency-seconds", type=float, default=5.0, help="seconds of blocking calls (0: skip)")
    parser.add_argument("--timeout", type=float, default=5.0, help="client timeout per attempt")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    try:
        counts = [int(n) for n in args.connections.split(",") if n]
        if not counts or min(counts) < 1 or args.in_flight < 1 or args.seconds <= 0:
            raise ValueError
    except ValueError:
        print("bench.py: --connections takes counts like 1,4; --in-flight and --seconds must be > 0",
              file=sys.stderr)
        return 2
    try:
        key = read_key(None, args.key_file, args.data)
        users = [secrets.randbelow(1 << 40) + 1 for _ in range(max(counts) + 1)]
        with LedgerClient(args.host, args.port, key) as admin:
            for user in users:
                admin.credit(user, FUNDS)
        report: dict = {"client": "python", "python": platform.python_version(), "machine": platform.machine(),
                        "cpus": os.cpu_count(), "pipelined": []}
        for count in counts:
            figures = asyncio.run(pipelined(args, key, count, users))
            report["pipelined"].append(figures)
            if not args.json:
                print(f"python asyncio pipelined: {count} connection{'s' if count > 1 else ''}, {args.in_flight} "
                      f"in flight each: {figures['deducts_per_second']:,} deducts/s"
                      + (f" ({figures['refused']} refused, {figures['failed']} failed)"
                         if figures["refused"] or figures["failed"] else ""))
        if args.latency_seconds > 0:
            report["blocking"] = latency(args, key, users[-1])
            if not args.json:
                b = report["blocking"]
                print(f"python blocking deduct: p50 {b['p50_micros']} us, p99 {b['p99_micros']} us, max "
                      f"{b['max_micros']} us ({b['calls']:,} calls)")
    except (LedgerError, ValueError) as ex:
        print(f"bench.py: {ex}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
