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
from tests.polling import wait_until
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
def prefect_server(tmp_path_factory, prefect_database) -> Iterator[tuple[str, dict[str, str], Children]]:
    children = Children(tmp_path_factory.mktemp("events-logs"))
    url, env = start_prefect_server(children, tmp_path_factory.mktemp("events-prefect-home"), prefect_database)
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
        "old": receiver.post(delivery(ids["old"]), timestamp=now - 3600),
        "future": receiver.post(delivery(ids["future"]), timestamp=now + 3600),
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


def test_no_secret_refuses_to_start(prefect_server):
    import subprocess

    result = subprocess.run(
        [str(BIN / "reelscribe"), "webhooks", "serve", "--secret-env", "SURELY_UNSET_VARIABLE_X"],
        capture_output=True, text=True, timeout=120, env=prefect_server[1],
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "reelscribe: error: no webhook secret: set $SURELY_UNSET_VARIABLE_X or give --secret-block secret/<name>"
    ]


@pytest.mark.parametrize("command", [["webhooks", "serve", "--secret-env", "TEST_WEBHOOK_SECRET"], ["watch", "--queue", "http://127.0.0.1:9/q"]])
def test_no_prefect_api_refuses_to_start(command, tmp_path):
    """Without PREFECT_API_URL, Prefect's client would start a temporary server that accepts every
    event and runs nothing: a delivery answered, a message deleted, an arrival lost."""
    import subprocess

    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PREFECT_HOME": str(tmp_path / "prefect"), "TEST_WEBHOOK_SECRET": "s"}
    result = subprocess.run([str(BIN / "reelscribe"), *command], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("reelscribe: error: PREFECT_API_URL is not set: events would go to a temporary Prefect server"), line


# Arrivals: moto's S3 notifies moto's SQS; `reelscribe watch` turns the messages into Prefect events.


def arrivals_about(api_url: str, prefix: str) -> list[dict]:
    body = {"filter": {"event": {"name": ["reelscribe.source.created"]}, "resource": {"id_prefix": [prefix]}}, "limit": 50}
    response = requests.post(f"{api_url}/events/filter", json=body, timeout=30)
    response.raise_for_status()
    return response.json()["events"]


def wait_arrivals(api_url: str, prefix: str, count: int, timeout: float = 90.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while len(found := arrivals_about(api_url, prefix)) < count:
        assert time.monotonic() < deadline, f"{len(found)} of {count} arrival events stored within {timeout} s"
        time.sleep(0.5)
    return found


def notified_bucket(moto_s3) -> tuple[str, str, object, object]:
    """A bucket whose ObjectCreated notifications go to a new queue, set up as the README shows."""
    import boto3

    kwargs = dict(endpoint_url=moto_s3.endpoint_url, region_name="us-east-1",
                  aws_access_key_id="reelscribe-test-key", aws_secret_access_key="reelscribe-test-secret")
    sqs, s3 = boto3.client("sqs", **kwargs), boto3.client("s3", **kwargs)
    name = f"arrivals-{uuid.uuid4().hex[:10]}"
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.create_bucket(Bucket=name)
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sqs:SendMessage", "Resource": arn,
        "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{name}"}}}]}
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration={"QueueConfigurations": [
        {"QueueArn": arn, "Events": ["s3:ObjectCreated:*"], "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "inbox/"}]}}}]})
    return name, queue_url, s3, sqs


def start_watcher(children: Children, env: dict[str, str], moto_s3, queue_url: str, name: str = "watcher"):
    return children.start(name, [str(BIN / "reelscribe"), "watch", "--queue", queue_url], {**env, **moto_s3.env()})


def queue_is_empty(sqs, queue_url: str) -> bool:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    counts = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return all(int(counts[n]) == 0 for n in names)


def test_twenty_arrivals_become_twenty_events_and_a_malformed_message_is_dropped(prefect_server, moto_s3):
    api_url, env, children = prefect_server
    bucket, queue_url, s3, sqs = notified_bucket(moto_s3)
    start_watcher(children, env, moto_s3, queue_url)
    sqs.send_message(QueueUrl=queue_url, MessageBody="this is not a bucket notification")
    for i in range(20):
        s3.put_object(Bucket=bucket, Key=f"inbox/video {i:02d}.mp4", Body=f"bytes {i}".encode())
    s3.put_object(Bucket=bucket, Key="elsewhere/ignored.mp4", Body=b"not under the prefix")
    found = wait_arrivals(api_url, f"s3://{bucket}/", 20)
    assert sorted(e["resource"]["prefect.resource.id"] for e in found) == [
        f"s3://{bucket}/inbox/video {i:02d}.mp4" for i in range(20)
    ]
    assert {e["payload"]["size"] for e in found} == {len(f"bytes {i}".encode()) for i in range(20)}
    deadline = time.monotonic() + 60
    while not queue_is_empty(sqs, queue_url):
        assert time.monotonic() < deadline, "messages left in the queue: not deleted after their events were accepted"
        time.sleep(0.5)
    log = (children.logs / "watcher.log").read_text()
    assert "dropped: body is not JSON" in log
    assert children.running[-1][0].poll() is None, "a malformed message must not stop the watcher"


def test_the_watcher_refuses_to_start_while_prefect_is_unreachable_and_deletes_nothing(prefect_server, moto_s3):
    """With no Prefect server to accept them, the watcher does not start (exit 2, one line) and nothing
    is deleted; a watcher that can reach Prefect then emits them."""
    import subprocess

    api_url, env, children = prefect_server
    bucket, queue_url, s3, sqs = notified_bucket(moto_s3)
    s3.put_object(Bucket=bucket, Key="inbox/kept.mp4", Body=b"kept")
    wait_until(lambda: not queue_is_empty(sqs, queue_url), 30, "the notification in the queue")
    unreachable = f"http://127.0.0.1:{free_port()}/api"
    blind = subprocess.run([str(BIN / "reelscribe"), "watch", "--queue", queue_url], capture_output=True, text=True, timeout=120,
                           env={**env, **moto_s3.env(), "PREFECT_API_URL": unreachable})
    assert blind.returncode == 2, blind.stderr
    (line,) = blind.stderr.strip().splitlines()
    assert line.startswith(f"reelscribe: error: the Prefect API at {unreachable} does not answer ("), line
    assert not queue_is_empty(sqs, queue_url), "nothing may be deleted"
    start_watcher(children, env, moto_s3, queue_url, name="watcher-again")
    (event,) = wait_arrivals(api_url, f"s3://{bucket}/", 1)
    assert event["resource"]["prefect.resource.id"] == f"s3://{bucket}/inbox/kept.mp4"


def test_notification_parsing():
    from reelscribe.events.watcher import MalformedMessage, arrivals

    record = {"eventName": "ObjectCreated:Put", "eventTime": "2026-12-01T11:00:00Z",
              "s3": {"bucket": {"name": "b"}, "object": {"key": "inbox/a+b%C3%A9.mp4", "size": 3, "eTag": "e", "sequencer": "01"}}}
    removed = {**record, "eventName": "ObjectRemoved:Delete"}
    (only,) = arrivals(json.dumps({"Records": [record, removed]}))
    assert (only.uri, only.size, only.sequencer) == ("s3://b/inbox/a bé.mp4", 3, "01")
    assert arrivals(json.dumps({"Event": "s3:TestEvent", "Bucket": "b"})) == []
    for bad in ("", "[]", "{}", json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}]})):
        with pytest.raises(MalformedMessage):
            arrivals(bad)


def test_the_hourly_deployment_is_also_triggered_by_arrivals_debounced():
    from datetime import timedelta

    from reelscribe.deployments.serve import load_spec, to_deployment

    (hourly,) = [to_deployment(spec) for spec in load_spec() if spec["name"] == "hourly"]
    (trigger,) = hourly.triggers
    assert trigger.expect == {"reelscribe.source.created"} and trigger.posture == "Reactive"
    assert (trigger.threshold, trigger.within, trigger.schedule_after) == (1, timedelta(seconds=3), timedelta(seconds=3))
    assert [s.schedule.cron for s in hourly.schedules] == ["0 * * * *"], "the schedule stays as the backfill"
