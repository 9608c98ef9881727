#!/usr/bin/env python3
"""A fake LLM upstream, so that the gateway example runs without internet (standard library: http.server).

POST any path with a JSON body ``{"prompt": "...", "max_tokens": N}`` (or OpenAI-style ``messages``): the answer
is a completion whose ``usage.total_tokens`` is the prompt's words plus min(max_tokens, 10 + the prompt's words).
``X-Fake-Status: 500`` in the request makes it fail with that status (and no usage), to show a released hold.

    python3 examples/python/fake_upstream.py --port 8081
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def completion(request: dict) -> dict:
    prompt = request.get("prompt") or " ".join(str(m.get("content", "")) for m in request.get("messages", [])
                                                if isinstance(m, dict))
    prompt_tokens = len(str(prompt).split())
    max_tokens = request.get("max_tokens") if isinstance(request.get("max_tokens"), int) else 256
    completion_tokens = max(0, min(max_tokens, 10 + prompt_tokens))
    return {"id": "cmpl-fake", "object": "text_completion", "model": "fake-1",
            "choices": [{"index": 0, "text": " ".join(["lorem"] * completion_tokens), "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    calls = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        type(self).calls += 1
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        failure = self.headers.get("X-Fake-Status")
        if failure and failure.isdigit():
            self.answer(int(failure), {"error": "the fake upstream was asked to fail"})
            return
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            self.answer(400, {"error": "not JSON"})
            return
        self.answer(200, completion(request if isinstance(request, dict) else {}))

    def answer(self, status: int, document: dict) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
        pass


def start(host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """Serves on a thread of its own; ``server.server_address[1]`` is the port, ``server.shutdown()`` stops it."""
    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description="A fake LLM upstream with token usage in its answers.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"fake upstream on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
