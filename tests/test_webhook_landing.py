"""The webhook mode end to end: submit and return, land on the completion event, poll once at the deadline.

Real parts, one of each for the module: a `prefect server start`, `reelscribe webhooks serve`
posting to it, and the local API started with `--webhook-url` pointing at the receiver. The
flows run in this process against that Prefect server; the last test serves the `land-indexed`
deployment of `deployments/prefect.yaml` in a child process, so the landing there goes through its
real deployment trigger. Status requests are counted in the local API's access log
(`GET /v1.3/tasks/{id}`), the way BENCHMARKS section 11 counts them.
"""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from pathlib import Path

import duckdb
import pytest
import requests

from reelscribe.server.launcher import EmbeddedServer, free_port
from tests.conftest import JFK
from tests.flowruns import reporting_to
from tests.media import make_video
from tests.polling import wait_for, wait_until
from tests.prockit import BIN, start_prefect_server

SECRET = f"whsec_land_{uuid.uuid4().hex}"
SECRET_ENV = "TEST_LANDING_WEBHOOK_SECRET"
READY = "twelvelabs.index.task.ready"
FAILED = "twelvelabs.index.task.failed"


@pytest.fixture(scope="module")
def prefect_api(children, tmp_path_factory, prefect_database):
    """A real Prefect server (its triggers and actions run in it); this process's flows use it too."""
    url, env = start_prefect_server(children, tmp_path_factory.mktemp("landing-prefect-home"), prefect_database)
    with reporting_to(url):
        yield url, env


@pytest.fixture(scope="module")
def receiver_url(prefect_api, children) -> str:
    url, env = prefect_api
    port = free_port()
    children.start(
        "receiver", [str(BIN / "reelscribe"), "webhooks", "serve", "--port", str(port), "--secret-env", SECRET_ENV],
        {**env, SECRET_ENV: SECRET},
    )

    def up() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 404
        except requests.ConnectionError:
            return False

    wait_until(up, 60, lambda: children.tail("receiver"), 0.2)
    return f"http://127.0.0.1:{port}/webhooks/twelvelabs"


@pytest.fixture(scope="module")
def hooked_api(receiver_url, tmp_path_factory):
    """The local API sending its webhooks to the receiver."""
    mp = pytest.MonkeyPatch()
    mp.setenv(SECRET_ENV, SECRET)
    server = EmbeddedServer(
        tmp_path_factory.mktemp("landing-api"),
        extra_args=("--webhook-url", receiver_url, "--webhook-secret-env", SECRET_ENV, "--allow-url-network", "127.0.0.0/8"),
    )
    server.start()
    mp.delenv(SECRET_ENV)
    yield server
    server.stop()
    mp.undo()


@pytest.fixture
def api_env(hooked_api, monkeypatch):
    monkeypatch.setenv("TWELVE_LABS_API_KEY", hooked_api.api_key)
    return hooked_api


def events_about(api_url: str, job_id: str) -> list[dict]:
    body = {"filter": {"resource": {"id": [f"twelvelabs.task.{job_id}"]}, "event": {"prefix": ["twelvelabs."]}}, "limit": 50}
    response = requests.post(f"{api_url}/events/filter", json=body, timeout=30)
    response.raise_for_status()
    return response.json()["events"]


def completion_event(api_url: str, job_id: str) -> dict:
    (event,) = wait_for(lambda: events_about(api_url, job_id), bool, 120, f"the completion event of {job_id}", 0.3)
    return event


def status_polls(server: EmbeddedServer, job_id: str) -> int:
    """Status requests for a task or an indexed asset (the retrieval, ``?transcription=true``, is not one)."""
    log = server.log_path.read_text(errors="replace")
    return log.count(f"GET /v1.3/tasks/{job_id} ") + log.count(f"/indexed-assets/{job_id} ")


def landed_rows(out: Path) -> list[tuple[str, str]]:
    return duckdb.sql(
        f"select source, video_id from read_parquet('{out}/videos/**/*.parquet', hive_partitioning = true) order by source"
    ).fetchall()


def pending_jobs(out: Path) -> list[str]:
    return sorted(p.stem for p in (out / "_pending").glob("*.json"))


def pending_by_name(out: Path) -> dict[str, str]:
    """Each pending submission's job (task) id, by the video's file name."""
    records = [json.loads(p.read_text()) for p in (out / "_pending").glob("*.json")]
    return {Path(r["source"]).name: r["job_id"] for r in records}


def submit(paths: list[Path], out: Path, api: EmbeddedServer, index_name: str, upload: str = "tasks", **extra):
    from reelscribe.flows.transcribe import transcribe_videos

    return transcribe_videos(
        sources=[str(p) for p in paths], index_name=index_name, out=str(out), api_url=api.base_url, upload=upload,
        wait="webhook", **extra,
    )


def test_webhooks_land_each_video_once_with_no_status_poll(prefect_api, api_env, tmp_path):
    from reelscribe.flows.land_indexed import land_indexed
    from reelscribe.core.errors import BatchFailed

    api_url, _ = prefect_api
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(JFK, videos / "jfk.mp4")
    make_video(videos / "silent.mp4", 4.5, audio="silence")
    make_video(videos / "short.mp4", 2.0, audio="silence")  # under the server's 4 s minimum: its indexing fails
    out = tmp_path / "lake"

    reports = submit(sorted(videos.iterdir()), out, api_env, f"land-{uuid.uuid4().hex[:8]}")
    assert [r.status for r in reports] == ["submitted"] * 3
    task_of = pending_by_name(out)
    assert len(set(task_of.values())) == 3 and not (out / "videos").exists(), "the run returned before any landing"

    # The safety net polls only what is past its deadline (an hour away): nothing, while they index.
    assert land_indexed(out=str(out), api_url=api_env.base_url) == []
    assert pending_jobs(out) == sorted(task_of.values())

    ready = {name: completion_event(api_url, task_of[name]) for name in ("jfk.mp4", "silent.mp4")}
    failed = completion_event(api_url, task_of["short.mp4"])
    assert {e["event"] for e in ready.values()} == {READY} and failed["event"] == FAILED
    for name, event in ready.items():
        (report,) = land_indexed(completion=event["payload"], out=str(out), api_url=api_env.base_url)
        assert (report.status, Path(report.source).name) == ("landed", name)
    state = land_indexed(completion=failed["payload"], out=str(out), api_url=api_env.base_url, return_state=True)
    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, BatchFailed)
    (report,) = error.reports
    assert report.status == "failed" and report.error.startswith(f"IndexingFailed: indexing task {task_of['short.mp4']} failed: ")

    # The same webhook delivered again (after a receiver restart, say) lands nothing twice.
    assert land_indexed(completion=ready["jfk.mp4"]["payload"], out=str(out), api_url=api_env.base_url) == []
    rows = landed_rows(out)
    assert [Path(source).name for source, _ in rows] == ["jfk.mp4", "silent.mp4"]
    ((segments,),) = duckdb.sql(f"select string_agg(value, ' ') from read_parquet('{out}/segments/**/*.parquet')").fetchall()
    assert "country" in segments.lower()
    assert pending_jobs(out) == []
    assert {name: status_polls(api_env, task) for name, task in task_of.items()} == {
        "jfk.mp4": 0, "silent.mp4": 0, "short.mp4": 1,  # the failed one: one request, for its reason
    }


def test_a_lost_webhook_lands_by_one_poll_at_the_deadline(prefect_api, api_env, tmp_path):
    from reelscribe.flows.land_indexed import land_indexed

    api_url, _ = prefect_api
    video = make_video(tmp_path / "lost.mp4", 5.5, audio="silence")
    out = tmp_path / "lake"
    (report,) = submit([video], out, api_env, f"lost-{uuid.uuid4().hex[:8]}", max_wait_seconds=0.001)
    assert report.status == "submitted"
    (job,) = pending_jobs(out)
    completion_event(api_url, job)  # indexed; its event is "lost": nothing lands it
    (landed,) = land_indexed(out=str(out), api_url=api_env.base_url)
    assert landed.status == "landed"
    assert [Path(source).name for source, _ in landed_rows(out)] == ["lost.mp4"]
    assert status_polls(api_env, job) == 1
    assert pending_jobs(out) == []
    assert land_indexed(out=str(out), api_url=api_env.base_url) == []


@pytest.mark.parametrize("in_process", [False, True], ids=["runner", "in-process"])
def test_the_deployment_trigger_lands_a_video_when_its_webhook_arrives(prefect_api, api_env, children, tmp_path, in_process):
    """`land-indexed` as `prefect.yaml` declares it, served; the receiver's event runs it, nothing else does.

    Served by Prefect's runner (a subprocess per run) and with ``--in-process`` (the run is a
    thread of the serving process: its pid is the run's infrastructure pid). On the assets path
    (the other tests take the tasks path): the event names the indexed asset.
    """
    from prefect.client.orchestration import get_client

    api_url, env = prefect_api
    out = tmp_path / "lake"
    params = {"out": str(out), "api_url": api_env.base_url, "credentials_block": None}
    name = f"serve-land-indexed-{'in-process' if in_process else 'runner'}"
    served = children.start(
        name,
        [sys.executable, "-m", "tests.serve_deployments", json.dumps({"land-indexed": params}), *(["--in-process"] if in_process else [])],
        # In process, serving polls every second unless told otherwise (the lowest latency is its point).
        {**env, "TWELVE_LABS_API_KEY": api_env.api_key, **({} if in_process else {"PREFECT_RUNNER_POLL_FREQUENCY": "1"})},
    )

    try:  # the next case serves the same deployment: this one must be gone by then
        def registered() -> bool:  # by this child: the other case left the deployment (and its trigger) behind
            response = requests.get(f"{api_url}/deployments/name/land-indexed/land-indexed", timeout=30)
            return response.status_code == 200 and response.json()["parameters"].get("out") == str(out)

        wait_until(registered, 120, lambda: children.tail(name), 0.5)

        def automation() -> list[dict]:
            found = requests.post(f"{api_url}/automations/filter", json={}, timeout=30).json()
            return [a for a in found if a["name"] == "reelscribe-land-indexed"]

        (found,) = wait_for(automation, bool, 120, lambda: children.tail(name), 0.5)
        trigger = found["trigger"]
        assert trigger["posture"] == "Reactive" and trigger["within"] == 0
        assert set(trigger["expect"]) == {READY, FAILED}

        video = make_video(tmp_path / "triggered.mp4", 6.5, audio="silence")
        (report,) = submit([video], out, api_env, f"trig-{uuid.uuid4().hex[:8]}", upload="assets")
        assert report.status == "submitted"
        (job,) = pending_jobs(out)
        wait_until(lambda: not pending_jobs(out), 180, lambda: children.tail(name), 0.5)
        assert [Path(source).name for source, _ in landed_rows(out)] == ["triggered.mp4"]
        # One: the submission reads the indexed asset back once right after creating it
        # (core/ingest_paths/asset_upload.py, ensure_indexed_asset); nothing waits on it or polls it afterwards.
        assert status_polls(api_env, job) == 1
        def land_runs() -> list:  # the video landed before its run reached Completed
            with get_client(sync_client=True) as client:
                return [r for r in client.read_flow_runs() if r.name == f"land-{job}-ready"]

        runs = wait_for(land_runs, lambda found: bool(found) and all(r.state.is_final() for r in found), 60, lambda: children.tail(name), 0.5)
        assert len(runs) == 1 and runs[0].parameters["completion"]["data"]["id"] == job
        assert runs[0].state.is_completed(), runs[0].state
        assert (runs[0].infrastructure_pid == str(served.pid)) is in_process, (runs[0].infrastructure_pid, served.pid)
    finally:
        children.stop(served)
    if in_process:
        assert "deployment(s) in this process, polling every 1 s;" in (children.logs / f"{name}.log").read_text()
    if in_process:  # SIGTERM: it stops taking runs and pauses the schedules, as `serve` does on Ctrl-C
        assert requests.get(f"{api_url}/deployments/name/land-indexed/land-indexed", timeout=30).json()["paused"] is True


# -- the parts, without servers ------------------------------------------------------------------


def _pending(job_id: str, path_name: str, video_id: str, asset_id: str | None, submitted_at: float, deadline: float):
    from reelscribe.core.ingest_paths.base import Submission
    from reelscribe.core.ingest_paths.choose import path_named
    from reelscribe.core.pending import PendingSubmission
    from reelscribe.core.sources import VideoSource

    submission = Submission(VideoSource("/v/a.mp4", "file"), "ab" * 32, job_id=job_id, video_id=video_id, asset_id=asset_id)
    return PendingSubmission(submission, path_named(path_name), "idx", submitted_at, deadline)


def test_a_submission_is_recorded_once_so_a_resubmission_keeps_its_deadline(tmp_path):
    from dataclasses import replace

    from reelscribe.core.pending import PendingStore

    clock = iter([100.0, 5000.0])
    store = PendingStore(str(tmp_path), clock=lambda: next(clock))
    first = _pending("task_1", "tasks", "vid_1", None, 0.0, 3600.0)
    assert store.add(first) == first
    assert store.add(replace(first, submitted_at=50.0, deadline=3650.0)) == first
    assert store.due() == []  # at 100 s
    assert store.due() == [first]  # at 5000 s
    store.remove("task_1")
    store.remove("task_1")
    assert store.all() == [] and store.get("task_1") is None


@pytest.mark.parametrize(("path_name", "job_kind"), [("tasks", "task"), ("assets", "indexed asset")])
def test_a_record_the_previous_version_wrote_is_read_and_written_back_the_same(tmp_path, path_name, job_kind):
    """The on-disk record of the version before the ingest-path interface: flat, ``path`` by name."""
    from reelscribe.core.pending import PendingStore

    written = {
        "job_id": "job_1", "path": path_name, "index_id": "idx", "source": "s3://b/a.mp4", "source_kind": "remote",
        "content_sha256": "cd" * 32, "video_id": "vid_1", "asset_id": "asset_1" if path_name == "assets" else None,
        "submitted_at": 10.0, "deadline": 20.0, "index_name": "talks", "start": 1.0, "end": 9.0,
        "table_format": "delta", "refresh": True,
    }
    (tmp_path / "_pending").mkdir()
    (tmp_path / "_pending" / "job_1.json").write_text(json.dumps(written))
    store = PendingStore(str(tmp_path))
    (read,) = store.all()
    assert (read.path.name, read.path.job_kind, read.job_id, read.index_id) == (path_name, job_kind, "job_1", "idx")
    assert (read.submission.source.uri, read.submission.source.kind, read.submission.asset_id) == ("s3://b/a.mp4", "remote", written["asset_id"])
    assert (read.index_name, read.start, read.end, read.table_format, read.refresh) == ("talks", 1.0, 9.0, "delta", True)
    assert json.loads(read.to_json()) == written


def test_a_record_naming_a_path_this_version_lacks_is_a_clear_error(tmp_path):
    from reelscribe.core.errors import ConfigError
    from reelscribe.core.pending import PendingStore

    (tmp_path / "_pending").mkdir()
    (tmp_path / "_pending" / "job_2.json").write_text(
        '{"job_id": "job_2", "path": "uploads", "index_id": "idx", "source": "/v/a.mp4", "source_kind": "file", '
        '"content_sha256": "ab", "video_id": null, "asset_id": null, "submitted_at": 0, "deadline": 0}'
    )
    with pytest.raises(ConfigError, match="unknown ingest path 'uploads'"):
        PendingStore(str(tmp_path)).get("job_2")


def test_a_completion_is_read_from_the_receivers_event_payload():
    from reelscribe.core.errors import ConfigError, InvalidIdentifier
    from reelscribe.core.pending import Completion

    payload = {"webhook_id": "whe_1", "created_at": "2026-12-01T11:00:00+00:00",
               "data": {"id": "task_9", "status": "ready", "metadata": {"duration": 11.0}, "models": [], "tags": []}}
    done = Completion.from_event_payload(payload)
    assert (done.job_id, done.status, done.duration, done.webhook_id) == ("task_9", "ready", 11.0, "whe_1")
    pending = _pending("task_9", "tasks", "vid_9", None, 0.0, 1.0)
    task = pending.as_ready(done)
    assert (task.id, task.video_id, task.status.value, task.system_metadata.duration) == ("task_9", "vid_9", "ready", 11.0)
    assets = _pending("ia_9", "assets", "ia_9", "asset_9", 0.0, 1.0)
    assert (assets.as_ready(done).asset_id, assets.as_ready(done).indexed_at) == ("asset_9", done.completed_at)
    for bad in ({}, {"data": {"id": "task_9"}}, {"data": {"id": "task_9", "status": "indexing"}}):
        with pytest.raises(ConfigError):
            Completion.from_event_payload(bad)
    with pytest.raises(InvalidIdentifier):
        Completion.from_event_payload({"data": {"id": "../etc", "status": "ready"}})


def test_the_land_indexed_deployment_is_triggered_per_completion_and_lands_the_hourly_lake():
    from reelscribe.deployments.serve import load_spec, to_deployment

    specs = {spec["name"]: spec for spec in load_spec()}
    land = to_deployment(specs["land-indexed"])
    (trigger,) = land.triggers
    assert trigger.expect == {READY, FAILED} and trigger.posture == "Reactive"
    assert (trigger.threshold, trigger.within.total_seconds(), trigger.schedule_after.total_seconds()) == (1, 0, 0)
    assert trigger.parameters == {"completion": "{{ event.payload }}"}
    assert land.parameters["out"] == specs["hourly"]["parameters"]["out"]
    assert [s.schedule.cron for s in land.schedules] == ["*/10 * * * *"], "the safety net's sweep"
