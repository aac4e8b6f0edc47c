"""``reelscribe webhooks serve`` against a real Prefect server: signed deliveries become Prefect events.

One Prefect server (tests/prockit.py) and one receiver process for the module. "Nothing emitted"
is checked after a barrier: a valid delivery sent after the refused ones, once its event is
stored, proves the Prefect server has processed everything sent before it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from reelscribe.server.launcher import free_port
from tests.prockit import BIN, Children, start_prefect_server

SECRET = f"whsec_canary_{uuid.uuid4().hex}"
PATH = "/webhooks/twelvelabs"


class PrefectEvents:
    """Reads the real Prefect server's stored events."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url

    def about(self, resource_id: str) -> list[dict]:
        body = {"filter": {"resource": {"id": [resource_id]}, "event": {"prefix": ["twelvelabs."]}}, "limit": 50}
        response = requests.post(f"{self.api_url}/events/filter", json=body, timeout=30)
        response.raise_for_status()
        return response.json()["events"]

    def wait_for(self, resource_id: str, timeout: float = 60.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while not (found := self.about(resource_id)):
            assert time.monotonic() < deadline, f"no event about {resource_id} stored within {timeout} s"
            time.sleep(0.2)
        return found


class Receiver:
    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log

    def post(self, body: bytes, *, timestamp: int | None = None, secret: str = SECRET, headers: dict | None = None) -> requests.Response:
        t = int(time.time()) if timestamp is None else timestamp
        signed = {
            "Content-Type": "application/json",
            "TL-Signature": f"t={t},v1={hmac.new(secret.encode(), f'{t}.'.encode() + body, hashlib.sha256).hexdigest()}",
        }
        return requests.post(self.url, data=body, headers={**signed, **(headers or {})}, timeout=30)


def delivery(task_id: str, kind: str = "index.task.ready", event_id: str | None = None) -> bytes:
    event = {
        "id": event_id or f"whe_{uuid.uuid4().hex}",
        "created_at": "2026-12-01T11:00:00+00:00",
        "type": kind,
        "data": {"id": task_id, "metadata": {"duration": 11.0}, "status": kind.rsplit(".", 1)[1],
                 "models": [{"name": "marengo3.0", "options": ["visual", "audio"]}], "tags": []},
    }
    return json.dumps(event).encode()


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory) -> Iterator[tuple[str, dict[str, str], Children]]:
    children = Children(tmp_path_factory.mktemp("events-logs"))
    url, env = start_prefect_server(children, tmp_path_factory.mktemp("events-prefect-home"))
    yield url, env, children
    children.stop_all()


@pytest.fixture(scope="module")
def receiver(prefect_server) -> Receiver:
    url, env, children = prefect_server
    port = free_port()
    children.start(
        "receiver",
        [str(BIN / "reelscribe"), "webhooks", "serve", "--port", str(port), "--secret-env", "TEST_WEBHOOK_SECRET",
         "--max-body", "4096"],
        {**env, "TEST_WEBHOOK_SECRET": SECRET},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(base, timeout=2)
            break
        except requests.ConnectionError:
            assert time.monotonic() < deadline, children.tail("receiver")
            time.sleep(0.2)
    return Receiver(base + PATH, children.logs / "receiver.log")


@pytest.fixture(scope="module")
def events(prefect_server) -> PrefectEvents:
    return PrefectEvents(prefect_server[0])


def test_a_signed_delivery_becomes_one_prefect_event_even_when_delivered_twice(receiver, events):
    task_id = f"task_{uuid.uuid4().hex[:12]}"
    body = delivery(task_id)
    answers: list[requests.Response] = []
    start = threading.Barrier(2)

    def send() -> None:
        start.wait()
        answers.append(receiver.post(body))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    again = receiver.post(body)
    assert sorted(a.status_code for a in [*answers, again]) == [200, 200, 200]
    assert sorted(a.json()["emitted"] for a in [*answers, again]) == [False, False, True]
    (event,) = events.wait_for(f"twelvelabs.task.{task_id}")
    assert event["event"] == "twelvelabs.index.task.ready"
    assert event["payload"]["webhook_id"] == json.loads(body)["id"]
    assert event["payload"]["data"]["status"] == "ready"
    barrier = f"task_{uuid.uuid4().hex[:12]}"
    assert receiver.post(delivery(barrier, "index.task.failed")).json()["emitted"] is True
    (failed,) = events.wait_for(f"twelvelabs.task.{barrier}")
    assert failed["event"] == "twelvelabs.index.task.failed"
    assert len(events.about(f"twelvelabs.task.{task_id}")) == 1


def test_refused_deliveries_get_4xx_and_emit_nothing(receiver, events):
    ids = {case: f"task_{case}_{uuid.uuid4().hex[:8]}" for case in ("sig", "old", "big", "nohdr", "ctype", "future")}
    now = int(time.time())
    big = json.loads(delivery(ids["big"]))
    big["data"]["tags"] = ["x" * 5000]
    answers = {
        "sig": receiver.post(delivery(ids["sig"]), secret="not-the-secret"),
        "old": receiver.post(delivery(ids["old"]), timestamp=now - 301),
        "future": receiver.post(delivery(ids["future"]), timestamp=now + 301),
        "big": receiver.post(json.dumps(big).encode()),
        "nohdr": requests.post(receiver.url, data=delivery(ids["nohdr"]), headers={"Content-Type": "application/json"}, timeout=30),
        "ctype": receiver.post(delivery(ids["ctype"]), headers={"Content-Type": "text/plain"}),
    }
    assert {case: a.status_code for case, a in answers.items()} == {
        "sig": 401, "old": 401, "future": 401, "big": 413, "nohdr": 401, "ctype": 415,
    }
    for answer in answers.values():
        assert SECRET not in answer.text
    barrier = f"task_{uuid.uuid4().hex[:12]}"
    assert receiver.post(delivery(barrier)).status_code == 200
    events.wait_for(f"twelvelabs.task.{barrier}")
    assert {case: events.about(f"twelvelabs.task.{task_id}") for case, task_id in ids.items()} == {
        case: [] for case in ids
    }


def test_other_event_types_are_acknowledged_without_an_event(receiver, events):
    task_id = f"task_{uuid.uuid4().hex[:12]}"
    answer = receiver.post(delivery(task_id, "analyze.task.ready"))
    assert answer.status_code == 202
    barrier = f"task_{uuid.uuid4().hex[:12]}"
    receiver.post(delivery(barrier))
    events.wait_for(f"twelvelabs.task.{barrier}")
    assert events.about(f"twelvelabs.task.{task_id}") == []


def test_the_secret_is_in_no_log_or_event(receiver, events, prefect_server):
    barrier = f"task_{uuid.uuid4().hex[:12]}"
    receiver.post(delivery(barrier), secret="wrong")
    receiver.post(delivery(barrier))
    stored = events.wait_for(f"twelvelabs.task.{barrier}")
    assert SECRET not in json.dumps(stored)
    assert SECRET not in receiver.log.read_text()
    assert SECRET not in prefect_server[2].tail("prefect-server", 10**7)


def test_no_secret_refuses_to_start(tmp_path):
    import subprocess

    result = subprocess.run(
        [str(BIN / "reelscribe"), "webhooks", "serve", "--secret-env", "SURELY_UNSET_VARIABLE_X"],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "reelscribe: error: no webhook secret: set $SURELY_UNSET_VARIABLE_X or give --secret-block secret/<name>"
    )
