"""A loopback reverse proxy that sits between the flow and the real local server and misbehaves.

It forwards every request to the upstream server and, by rule or at random, answers 5xx or 429
without forwarding, resets the connection before forwarding, forwards and then resets (the answer
is lost although the server acted: the case that makes naive retries upload twice), or rewrites
a JSON answer (to feed the client malformed transcriptions the real server never sends).
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import urlsplit

CHUNK = 1 << 16


@dataclass(frozen=True)
class Fault:
    """What to do with one request. ``kind``: forward, status, reset_before, lost_answer, mutate, slow.

    ``body``: the raw bytes a ``status`` fault answers with (default: a JSON error body).
    ``hold``: for ``slow``, called before forwarding (a test's barrier: the answer is as slow as it says).
    """

    kind: str = "forward"
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    mutate: Callable[[Any], Any] | None = None
    body: bytes | None = None
    hold: Callable[[], None] | None = None


FORWARD = Fault()


def once(fault: Fault, matches: Callable[[str, str], bool]) -> Callable[[str, str], Fault]:
    """A ``FaultProxy`` rule: ``fault`` for the first request ``matches(method, path)``, then forward."""
    left = [1]
    lock = threading.Lock()

    def rule(method: str, path: str) -> Fault:
        with lock:
            hit = left[0] > 0 and matches(method, path)
            if hit:
                left[0] -= 1
        return fault if hit else FORWARD

    return rule


@dataclass(frozen=True)
class FaultRates:
    """Random faults: shares of requests answered 5xx, 429, or reset (half before, half after forwarding)."""

    server_error: float = 0.0
    rate_limited: float = 0.0
    reset: float = 0.0
    retry_after: int = 1
    seed: int = 0


class FaultProxy:
    def __init__(
        self,
        upstream_root: str,
        rule: Callable[[str, str], Fault] | None = None,
        rates: FaultRates | None = None,
        *,
        keep_host: bool = False,
    ):
        """``keep_host``: forward the client's ``Host``, so URLs the server builds from it (multipart
        chunk URLs) point back at the proxy and their requests meet its faults too."""
        up = urlsplit(upstream_root)
        self._keep_host = keep_host
        self._upstream = (up.hostname, up.port)
        self.rule = rule
        self.rates = rates
        self._rng = random.Random(rates.seed if rates else 0)
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                fault = proxy._decide(self.command, self.path)
                proxy._count(fault.kind)
                if fault.kind == "status":
                    proxy._count(f"status_{fault.status}")  # 429 and 5xx told apart
                if fault.kind == "status":
                    self._drain()  # an unread body would be parsed as the connection's next request
                    body = fault.body if fault.body is not None else _error_body(fault.status)
                    return self._reply(fault.status, body, fault.headers)
                if fault.kind == "reset_before":
                    self._drain()
                    return self._reset()
                if fault.kind == "slow" and fault.hold is not None:
                    fault.hold()
                status, headers, payload = proxy._forward(self)
                if fault.kind == "lost_answer":
                    return self._reset()
                if fault.kind == "mutate" and fault.mutate and status == 200:
                    payload = json.dumps(fault.mutate(json.loads(payload))).encode()
                self._reply(status, payload, headers)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

            def _drain(self) -> None:
                remaining = int(self.headers.get("Content-Length") or 0)
                while remaining > 0:
                    remaining -= len(self.rfile.read(min(CHUNK, remaining)) or b"x" * remaining)

            def _reset(self) -> None:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

            def _reply(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
                head = self.command == "HEAD"  # its Content-Length is the object's, and it has no body
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in ("transfer-encoding", "connection") and (head or key.lower() != "content-length"):
                        self.send_header(key, value)
                if not head:
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if not head:
                    self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1.3"

    def _count(self, kind: str) -> None:
        with self._lock:
            self.counts[kind] += 1

    def _decide(self, method: str, path: str) -> Fault:
        if self.rule:
            fault = self.rule(method, path)
            if fault.kind != "forward":
                return fault
        if not self.rates:
            return FORWARD
        with self._lock:
            roll = self._rng.random()
        r = self.rates
        if roll < r.server_error:
            return Fault("status", status=503)
        if roll < r.server_error + r.rate_limited:
            return Fault("status", status=429, headers={"Retry-After": str(r.retry_after)})
        if roll < r.server_error + r.rate_limited + r.reset / 2:
            return Fault("reset_before")
        if roll < r.server_error + r.rate_limited + r.reset:
            return Fault("lost_answer")
        return FORWARD

    def _forward(self, handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        length = int(handler.headers.get("Content-Length") or 0)

        def body():
            remaining = length
            while remaining > 0:
                chunk = handler.rfile.read(min(CHUNK, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk

        dropped = ("connection",) if self._keep_host else ("host", "connection")
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in dropped}
        conn = http.client.HTTPConnection(*self._upstream, timeout=120)
        try:
            conn.request(handler.command, handler.path, body=body() if length else None, headers=headers)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _error_body(status: int) -> bytes:
    code = "too_many_requests" if status == 429 else "internal_error"
    return json.dumps({"code": code, "message": f"injected by the test proxy ({status})"}).encode()
