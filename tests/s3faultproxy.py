"""S3's own faults, on a schedule, between the code under test and moto's S3 server.

``S3FaultProxy`` is a ``FaultProxy`` whose rule sorts every request into a kind (``claims``,
``delta-commit`` for a ``PUT`` of ``_delta_log/<version>.json``, ``delta-log``, ``lake``,
``source``) and fails the first try of distinct requests (method and path: a client's retry is
the same request again) of that kind: the n-th of them meets the n-th fault of the kind's
schedule, round and round; its retries are forwarded. With ``every=N`` only one distinct request
in N is failed. Deterministic: which request meets which fault depends on the requests, never
on timing or chance.

Faults answer as S3 does: ``503 SlowDown`` and ``500 InternalError`` with S3's XML error body,
a reset connection, a slow answer (held, then forwarded), and an answer lost after S3 acted; and
as S3-compatible stores and gateways that throttle do: ``429 Too Many Requests`` with a body that
names no S3 error code, with or without ``Retry-After``.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from urllib.parse import unquote

from tests.faultproxy import FORWARD, Fault, FaultProxy

SLOW_ANSWER_S = 0.3


def s3_error(status: int, code: str, message: str) -> Fault:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>faultproxy</RequestId></Error>"
    ).encode()
    return Fault("status", status=status, body=body, headers={"Content-Type": "application/xml"})


SLOW_DOWN = s3_error(503, "SlowDown", "Please reduce your request rate.")
INTERNAL_ERROR = s3_error(500, "InternalError", "We encountered an internal error. Please try again.")
THROTTLED = Fault("status", status=429, body=b"Too Many Requests", headers={"Content-Type": "text/plain"})
THROTTLED_RETRY_AFTER = Fault("status", status=429, body=b"", headers={"Retry-After": "1"})
RESET = Fault("reset_before")
LOST_ANSWER = Fault("lost_answer")
SLOW = Fault("slow", hold=lambda: time.sleep(SLOW_ANSWER_S))
NAMES = {id(SLOW_DOWN): "503 SlowDown", id(INTERNAL_ERROR): "500 InternalError", id(RESET): "reset",
         id(LOST_ANSWER): "lost answer", id(SLOW): "slow answer", id(THROTTLED): "429",
         id(THROTTLED_RETRY_AFTER): "429 Retry-After"}

_DELTA_COMMIT = re.compile(r"/_delta_log/\d{20}\.json$")


def kind_of(method: str, path: str) -> str:
    """Which part of reelscribe a request serves, read from its (percent-decoded) key or prefix."""
    target = unquote(path)
    key = target.split("?", 1)[0]
    if "/_claims/" in target or "prefix=lake/_claims" in target:
        return "claims"
    if "/_delta_log/" in target or "_delta_log" in target.split("?", 1)[-1]:
        return "delta-commit" if method == "PUT" and _DELTA_COMMIT.search(key) else "delta-log"
    if "/lake" in key or "prefix=lake" in target:
        return "lake"
    return "source"


class S3FaultProxy(FaultProxy):
    """``schedule[kind]`` (or ``schedule["PUT claims"]``, for one method): the faults dealt in turn to
    the first tries of that kind's distinct requests (every ``every``-th one)."""

    def __init__(self, upstream: str, schedule: Mapping[str, Sequence[Fault]], *, every: int = 1) -> None:
        self.schedule = {kind: tuple(faults) for kind, faults in schedule.items()}
        self.every = every
        self.tries: Counter[tuple[str, str]] = Counter()
        self.distinct: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.injected: Counter[tuple[str, str]] = Counter()
        self._rule_lock = threading.Lock()
        super().__init__(upstream, self._decide_s3, keep_host=True)

    def _decide_s3(self, method: str, path: str) -> Fault:
        kind = kind_of(method, path)
        request = (method, path)
        faults = self.schedule.get(f"{method} {kind}", self.schedule.get(kind, ()))
        with self._rule_lock:
            self.requests[kind] += 1
            self.tries[request] += 1
            if self.tries[request] > 1 or not faults:
                return FORWARD
            key = f"{method} {kind}" if f"{method} {kind}" in self.schedule else kind
            self.distinct[key] += 1
            if (self.distinct[key] - 1) % self.every:
                return FORWARD
            fault = faults[((self.distinct[key] - 1) // self.every) % len(faults)]
            self.injected[(kind, NAMES.get(id(fault), fault.kind))] += 1
            return fault


COUNTS_PATH = "/__faultproxy__/injected"
FAULTS = {"slowdown": SLOW_DOWN, "internal": INTERNAL_ERROR, "reset": RESET, "lost": LOST_ANSWER, "slow": SLOW,
          "429": THROTTLED, "429-retry-after": THROTTLED_RETRY_AFTER}


class S3FaultProxyProcess:
    """An ``S3FaultProxy`` in a child process, for clients that hold the GIL while they wait (delta-rs).

    ``schedule`` maps a kind to fault names (``FAULTS``); ``injected()`` asks the child for its counts.
    """

    def __init__(self, upstream: str, schedule: Mapping[str, Sequence[str]]) -> None:
        self.upstream = upstream
        self.schedule = schedule
        self._process = None
        self.root_url = ""

    def __enter__(self) -> "S3FaultProxyProcess":
        import json
        import subprocess
        import sys

        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.s3faultproxy", self.upstream, json.dumps(dict(self.schedule))],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        )
        self.root_url = self._process.stdout.readline().strip()
        assert self.root_url.startswith("http://"), "the fault proxy did not start"
        return self

    def injected(self) -> dict[str, int]:
        import json
        import urllib.request

        with urllib.request.urlopen(f"{self.root_url}{COUNTS_PATH}", timeout=30) as answer:
            return json.loads(answer.read())

    def __exit__(self, *exc: object) -> None:
        self._process.terminate()
        self._process.wait(30)


def _serve(upstream: str, schedule_json: str) -> None:
    import json

    schedule = {kind: [FAULTS[name] for name in names] for kind, names in json.loads(schedule_json).items()}
    proxy = S3FaultProxy(upstream, schedule)
    decide = proxy.rule

    def rule(method: str, path: str) -> Fault:
        if path == COUNTS_PATH:
            counts = {f"{kind}: {name}": n for (kind, name), n in proxy.injected.items()}
            return Fault("status", status=200, body=json.dumps(counts).encode(), headers={"Content-Type": "application/json"})
        return decide(method, path)

    proxy.rule = rule
    with proxy:
        print(proxy.root_url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    import sys

    _serve(sys.argv[1], sys.argv[2])
