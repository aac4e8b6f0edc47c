"""Arrivals end to end: S3 → SQS → ``reelscribe watch`` → Prefect event → trigger → a run that lands.

Real parts only, one set for the module: moto's S3 and SQS (the bucket notifies the queue through
a real notification configuration), the watcher as a child process, a real ``prefect server
start`` (its scheduler off, so every run here was made by the trigger or by the test), the
``hourly`` deployment of ``deployments/prefect.yaml`` served with its trigger by
``python -m reelscribe.deployments.serve`` (the runner executes each run in a subprocess of its
own, as ``make serve`` does; a process worker would clone and install the commit for every run),
and the session's local API.

The test's copy of the spec differs from the shipped one only in the parameters, which name this
module's bucket, lake, API and index; the trigger is the shipped one (3 s debounce), and what the
Prefect server holds of it is checked (:func:`test_the_served_deployment_carries_its_trigger`).

The tests on these parts are marked ``slow``: 85 s together at a load of 3–4 on 2 cores (30 s
of it starting the parts), 150–250 s at a load of 6–14. "Once" is read in two places: the
lake's ``videos`` table holds one row per object, and the local API holds one task per video
(each was uploaded once).
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import signal
import subprocess
import urllib.parse
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import yaml
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from reelscribe.core.delta_lake import DeltaLake
from reelscribe.deployments.serve import SPEC, load_spec, to_deployment
from reelscribe.flows.incremental import SUMMARY_KEY
from tests.flowruns import reporting_to
from tests.media import make_video
from tests.polling import wait_for, wait_until
from tests.prockit import BIN, Children, start_prefect_server
from tests.test_events import notified_bucket, queue_is_empty, start_watcher
from tests.test_pipeline import server_tasks

DEPLOYMENT = "transcribe-new-videos/hourly"
PREFIX = "inbox/"
VISIBILITY_S = 5
"""The queue's visibility timeout: a message a killed watcher's long poll took comes back this soon."""
RUN_TIMEOUT_S = 300
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
prefect_http = requests.Session()
"""For the Prefect API: a 503 (its SQLite busy under load; nothing was written) is asked again, as Prefect's client does."""
prefect_http.mount("http://", HTTPAdapter(max_retries=Retry(total=8, backoff_factor=0.5, status_forcelist=[503], allowed_methods=None)))
widths = itertools.count()


@dataclass
class Arrivals:
    """This module's running parts and the handles the tests use on them."""

    api: str
    env: dict[str, str]
    children: Children
    moto_s3: object
    bucket: str
    queue_url: str
    s3: object
    sqs: object
    out: Path
    videos: Path
    local_api: object
    deployment_id: str
    watcher: subprocess.Popen
    notification: dict = field(default_factory=dict)
    started: set[str] = field(default_factory=set)
    """Runs the test created itself (the backfill); every other run of the deployment is the trigger's."""

    def put_videos(self, name: str, count: int) -> list[str]:
        """``count`` distinct tiny silent clips put under the prefix, all made first so that the puts
        come as one burst (as a copy of a folder does); their ``s3://`` URIs."""
        paths = [make_video(self.videos / f"{name}{i:02d}.mp4", 4.5, audio="silence", width=160 + 4 * next(widths), height=120)
                 for i in range(count)]
        for path in paths:
            self.s3.put_object(Bucket=self.bucket, Key=PREFIX + path.name, Body=path.read_bytes())
        return [f"s3://{self.bucket}/{PREFIX}{path.name}" for path in paths]

    def notifications(self, on: bool) -> None:
        self.s3.put_bucket_notification_configuration(Bucket=self.bucket, NotificationConfiguration=self.notification if on else {})

    def kill_watcher(self) -> None:
        """SIGKILL, as a crash would: no goodbye to SQS."""
        os.killpg(self.watcher.pid, signal.SIGKILL)
        self.watcher.wait(30)

    def start_watcher(self) -> None:
        self.watcher = start_watcher(self.children, self.env, self.moto_s3, self.queue_url)

    def queued(self) -> int:
        """Messages in the queue, visible or in flight (neither is deleted)."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        counts = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)["Attributes"]
        return sum(int(counts[n]) for n in names)

    def landed_sources(self) -> Counter:
        table = DeltaLake(str(self.out)).open("videos")
        return Counter(table.to_pyarrow_table(columns=["source"])["source"].to_pylist()) if table is not None else Counter()

    def wait_landed(self, uris: list[str]) -> None:
        wait_until(lambda: set(uris) <= set(self.landed_sources()), RUN_TIMEOUT_S, lambda: f"{uris} to land\n{self.logs()}", 1)

    def runs(self) -> list[dict]:
        body = {"flow_runs": {"deployment_id": {"any_": [self.deployment_id]}}, "sort": "EXPECTED_START_TIME_ASC"}
        response = prefect_http.post(f"{self.api}/flow_runs/filter", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def settled_runs(self) -> list[dict]:
        """Every run of the deployment, once each has ended (a queued second run included)."""
        return wait_for(self.runs, lambda runs: bool(runs) and all(r["state_type"] in FINAL for r in runs),
                        RUN_TIMEOUT_S, lambda: f"every run of {DEPLOYMENT} to end\n{self.logs()}", 1)

    def triggered(self) -> list[dict]:
        return [r for r in self.settled_runs() if r["id"] not in self.started]

    def run_as_the_scheduler_does(self) -> dict:
        """A run of the deployment with its own parameters, as the hourly schedule makes one; its final state."""
        response = prefect_http.post(f"{self.api}/deployments/{self.deployment_id}/create_flow_run", json={}, timeout=30)
        response.raise_for_status()
        run_id = response.json()["id"]
        self.started.add(run_id)
        return wait_for(lambda: prefect_http.get(f"{self.api}/flow_runs/{run_id}", timeout=30).json(),
                        lambda run: run["state_type"] in FINAL, RUN_TIMEOUT_S, lambda: f"run {run_id} to end\n{self.logs()}", 1)

    def summary(self, run_id: str) -> str:
        body = {"artifacts": {"flow_run_id": {"any_": [run_id]}, "key": {"any_": [SUMMARY_KEY]}}}
        (artifact,) = prefect_http.post(f"{self.api}/artifacts/filter", json=body, timeout=30).json()
        return artifact["description"]

    def assert_each_landed_once(self, uris: list[str]) -> None:
        assert self.landed_sources() == Counter(uris)
        (index_id,) = set(DeltaLake(str(self.out)).open("videos").to_pyarrow_table(columns=["index_id"])["index_id"].to_pylist())
        assert len(server_tasks(self.local_api, index_id)) == len(uris), "a video was uploaded twice"

    def logs(self) -> str:
        return "\n".join(self.children.tail(name) for name in ("serve", "watcher"))


def spec_for_the_test(shipped: Path, bucket: str, out: Path, api_url: str, index_name: str) -> dict:
    """The shipped spec's ``hourly`` deployment (its trigger as shipped), pointed at this module's parts."""
    spec = yaml.safe_load(shipped.read_text())
    (hourly,) = [copy.deepcopy(d) for d in spec["deployments"] if d["name"] == "hourly"]
    hourly["parameters"].update(source=f"s3://{bucket}/{PREFIX}", out=str(out), api_url=api_url, index_name=index_name, upload="tasks")
    return {**spec, "deployments": [hourly]}


@pytest.fixture(scope="module")
def arrivals(children, pipeline_server, moto_s3, tmp_path_factory, prefect_database):
    from prefect.blocks.system import Secret

    # No scheduler: every run is the trigger's or the test's. A run queued behind the deployment's
    # concurrency limit of 1 is looked at again after 2 s rather than 30.
    api, env = start_prefect_server(children, tmp_path_factory.mktemp("arrivals-prefect-home"), prefect_database, {
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "2",
    })
    bucket, queue_url, s3, sqs = notified_bucket(moto_s3)
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": str(VISIBILITY_S)})
    notification = s3.get_bucket_notification_configuration(Bucket=bucket)
    notification.pop("ResponseMetadata", None)
    work = tmp_path_factory.mktemp("arrivals")
    spec_file = work / "prefect.yaml"
    spec_file.write_text(yaml.safe_dump(spec_for_the_test(SPEC, bucket, work / "lake", pipeline_server.base_url, f"arrivals-{uuid.uuid4().hex[:8]}")))
    with reporting_to(api):  # `make secret`: the key the deployment's block names
        Secret(value=pipeline_server.api_key).save("twelve-labs-api-key", overwrite=True)
    serve_env = {**env, **moto_s3.env(), "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    children.start("serve", [str(BIN / "python"), "-m", "reelscribe.deployments.serve", str(spec_file)], serve_env)

    def deployment() -> dict | None:
        response = prefect_http.get(f"{api}/deployments/name/{DEPLOYMENT}", timeout=10)
        return response.json() if response.status_code == 200 else None

    found = wait_until(deployment, 120, lambda: f"{DEPLOYMENT} to be served\n{children.tail('serve')}", 0.5)
    watcher = start_watcher(children, env, moto_s3, queue_url)
    yield Arrivals(api, env, children, moto_s3, bucket, queue_url, s3, sqs, work / "lake", work / "videos",
                   pipeline_server, found["id"], watcher, notification)


@pytest.mark.slow
def test_the_served_deployment_carries_its_trigger(arrivals):
    """What the Prefect server holds (its Automations page) is the yaml's trigger and a run-deployment action."""
    # Besides the heartbeat automation that serving also creates (tests/test_killed_run.py).
    automations = wait_for(lambda: prefect_http.post(f"{arrivals.api}/automations/filter",
                                                     json={"automations": {"name": {"any_": ["reelscribe-new-objects"]}}}, timeout=10).json(),
                           bool, 60, "the trigger's automation")
    (automation,) = automations
    trigger, (action,) = automation["trigger"], automation["actions"]
    (shipped,) = [spec for spec in load_spec() if spec["name"] == "hourly"][0]["triggers"]
    assert automation["name"] == shipped["name"] == "reelscribe-new-objects" and automation["enabled"]
    assert (trigger["posture"], trigger["expect"], trigger["threshold"], trigger["within"]) == (
        "Reactive", ["reelscribe.source.created"], 1, shipped["within"])
    assert (action["type"], action["deployment_id"], action["schedule_after"]) == (
        "run-deployment", arrivals.deployment_id, shipped["schedule_after"])


@pytest.mark.slow
def test_twenty_arrivals_with_no_schedule_land_once_in_a_few_triggered_runs(arrivals):
    burst = arrivals.put_videos("burst", 20)
    arrivals.wait_landed(burst)
    runs = arrivals.triggered()
    assert all(r["state_type"] == "COMPLETED" for r in runs), [(r["name"], r["state_name"]) for r in runs]
    assert 1 <= len(runs) <= 3, f"debounced: 20 arrivals made {len(runs)} runs"
    arrivals.assert_each_landed_once(burst)
    wait_until(lambda: queue_is_empty(arrivals.sqs, arrivals.queue_url), 60, "every message deleted")


@pytest.mark.slow
def test_arrivals_while_the_watcher_is_down_wait_in_the_queue_and_land_once_after_its_restart(arrivals):
    """One of the waiting notifications is in the queue twice (SQS is at-least-once): it lands once too."""
    before = list(arrivals.landed_sources())
    arrivals.kill_watcher()
    queued = arrivals.put_videos("down", 2)
    assert arrivals.queued() == 2, "the notifications wait in the queue while nobody watches"
    (message,) = arrivals.sqs.receive_message(QueueUrl=arrivals.queue_url, MaxNumberOfMessages=1, VisibilityTimeout=0)["Messages"]
    arrivals.sqs.send_message(QueueUrl=arrivals.queue_url, MessageBody=message["Body"])  # the same notification again
    (record,) = json.loads(message["Body"])["Records"]
    twice = f"s3://{arrivals.bucket}/{urllib.parse.unquote_plus(record['s3']['object']['key'])}"  # keys come URL-encoded
    assert twice in queued
    runs_before = len(arrivals.runs())
    arrivals.start_watcher()
    arrivals.wait_landed(queued)
    assert len(arrivals.triggered()) > runs_before, "the redelivered notifications triggered a run"
    wait_until(lambda: queue_is_empty(arrivals.sqs, arrivals.queue_url), 60, "every message deleted")
    assert (arrivals.children.logs / "watcher.log").read_text().count(f"arrived: {twice}\n") == 2, "both copies were emitted"
    arrivals.assert_each_landed_once(before + queued)


@pytest.mark.slow
def test_the_hourly_backfill_lands_an_arrival_whose_notification_never_came_once(arrivals):
    """S3's notifications are not guaranteed; a run as the hourly schedule makes it lists the prefix and finds it."""
    before = list(arrivals.landed_sources())
    arrivals.notifications(on=False)
    lost = arrivals.put_videos("lost", 1)
    arrivals.notifications(on=True)
    backfill = arrivals.run_as_the_scheduler_does()
    assert backfill["state_type"] == "COMPLETED", arrivals.logs()
    assert arrivals.summary(backfill["id"]).startswith(
        f"reelscribe: 1 new video in s3://{arrivals.bucket}/{PREFIX} ({len(before)} already landed): 1 landed")
    arrivals.assert_each_landed_once(before + lost)


def test_the_shipped_trigger_lists_only_after_its_window_closes():
    """Events inside ``within`` of a firing start nothing, so the run must list after the window:
    with ``schedule_after`` < ``within`` an object arriving in between waits for the hourly run."""
    (hourly,) = [to_deployment(spec) for spec in load_spec() if spec["name"] == "hourly"]
    (trigger,) = hourly.triggers
    assert trigger.within > timedelta(0) and trigger.schedule_after >= trigger.within
