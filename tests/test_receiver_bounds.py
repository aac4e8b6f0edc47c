"""The receiver's body bound holds when the sender declares no length (chunked transfer encoding).

tests/test_events.py sends an oversized body with its ``Content-Length``; here the bytes arrive in
chunks with none, so only the streamed count can refuse them. The receiver app is the real one,
in process; its event sink records what it is given (the Prefect side is tests/test_events.py's).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from fastapi.testclient import TestClient

from reelscribe.events.defaults import PATH
from reelscribe.events.receiver import create_receiver

SECRET = "whsec_bounds_test"
BOUND = 1024


class RecordingSink:
    def __init__(self) -> None:
        self.events: list = []

    def emit(self, events) -> None:
        self.events.extend(events)


def signed_headers(body: bytes) -> dict[str, str]:
    t = int(time.time())
    digest = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "TL-Signature": f"t={t},v1={digest}"}


def delivery(tags: list[str]) -> bytes:
    return json.dumps({"id": f"whe_{len(tags)}_{sum(map(len, tags))}", "type": "index.task.ready",
                       "data": {"id": "task_bounds", "status": "ready", "tags": tags}}).encode()


def test_a_chunked_body_over_the_bound_gets_413_and_emits_nothing():
    sink = RecordingSink()
    big, small = delivery(["x" * 2 * BOUND]), delivery([])
    with TestClient(create_receiver(SECRET, sink, max_body=BOUND)) as client:
        chunks = [big[i : i + 256] for i in range(0, len(big), 256)]
        refused = client.post(PATH, content=iter(chunks), headers=signed_headers(big))
        assert "content-length" not in {k.lower() for k in refused.request.headers}
        assert (refused.status_code, sink.events) == (413, [])
        accepted = client.post(PATH, content=iter([small[:10], small[10:]]), headers=signed_headers(small))
    assert accepted.status_code == 200 and [e.event for e in sink.events] == ["twelvelabs.index.task.ready"]
