"""Secrets: a recognisable API key appears nowhere a run leaves anything behind.

One run with the right key and one failing video, one run with a wrong key, and one ``reelscribe
run -v`` subprocess; then the key is looked for in captured logs and output, the server's log,
the Prefect API's flow runs, task runs, logs and artifacts, the Prefect database file itself,
Prefect's local result storage, every file in the lake, the error texts, and every file in the
server's data dir. The webhook secret likewise, with the local server signing its webhooks
(``--webhook-secret-env``) and ``reelscribe webhooks serve`` verifying them (``--secret-env``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import traceback
import uuid
from pathlib import Path

import pytest
import requests
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId
from sqlalchemy.engine import make_url

from reelscribe.flows.transcribe import transcribe_videos
from reelscribe.core.errors import ApiAuthError, BatchFailed
from reelscribe.server.launcher import free_port
from reliability_kit import cli_env, distinct_videos, index_id_named, kill_group, point_at, prefect_api_url, server_tasks, start_cli, wait_until
from tests.flowruns import send_queued_records
from tests.polling import wait_for

pytestmark = pytest.mark.usefixtures("prefect_engine")

CANARY = f"tlk_SECRET_canary_{uuid.uuid4().hex}"
WRONG = f"tlk_SECRET_canary_wrong_{uuid.uuid4().hex}"
WEBHOOK_SECRET = f"whsec_SECRET_canary_{uuid.uuid4().hex}"
SECRETS = (CANARY.encode(), WRONG.encode(), WEBHOOK_SECRET.encode())


def leaks(data: bytes | str) -> list[str]:
    raw = data.encode() if isinstance(data, str) else data
    return [s.decode()[:28] + "…" for s in SECRETS if s in raw]


def files_leaking(root: Path) -> list[str]:
    return [str(p) for p in Path(root).rglob("*") if p.is_file() and leaks(p.read_bytes())]


def _prefect_records(flow_run_ids: list) -> list[str]:
    """Everything the Prefect API holds about these runs, as JSON text."""
    send_queued_records()
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=flow_run_ids)))
        tasks = wait_for(lambda: client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=flow_run_ids))),
                         bool, 60, "the runs' task runs recorded", 0.5)
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=flow_run_ids)))
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=flow_run_ids)))
    assert runs and tasks and artifacts and logs
    return [record.model_dump_json() for record in (*runs, *tasks, *artifacts, *logs)]


def _prefect_db_files() -> list[Path]:
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    database = make_url(PREFECT_SERVER_DATABASE_CONNECTION_URL.value()).database
    assert database and Path(database).is_file()
    return sorted(Path(database).parent.glob(Path(database).name + "*"))  # the file, its -wal and -shm


@pytest.mark.slow
def test_the_api_key_appears_nowhere(own_server, tmp_path, monkeypatch, caplog, capfd):
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    caplog.set_level(logging.DEBUG)
    server = own_server(api_key=CANARY)
    monkeypatch.setenv("TWELVELABS_BASE_URL", server.base_url)
    folder = tmp_path / "in"
    distinct_videos(folder, 2)
    (folder / "broken.mp4").write_bytes(b"not a video" * 100)
    out = tmp_path / "lake"
    errors: list[BaseException] = []

    monkeypatch.setenv("TWELVE_LABS_API_KEY", CANARY)
    ok = transcribe_videos(sources=[str(folder)], index_name="secrets", out=str(out), return_state=True)
    monkeypatch.setenv("TWELVE_LABS_API_KEY", WRONG)
    refused = transcribe_videos(sources=[str(folder)], index_name="secrets", out=str(out), return_state=True)
    for state, kind in ((ok, BatchFailed), (refused, ApiAuthError)):
        exc = state.result(raise_on_failure=False)
        assert isinstance(exc, kind), exc
        errors.append(exc)
    env = cli_env(server, prefect_api_url(), TWELVE_LABS_API_KEY=CANARY)
    cli = start_cli(["run", str(folder), "--index-name", "secrets", "--out", str(tmp_path / "cli-lake"), "-v"], env, tmp_path / "cli.log")
    assert cli.wait(300) == 1  # the broken video fails; the others landed or were skipped

    captured = capfd.readouterr()
    texts = {
        "caplog": caplog.text + "\n".join(str(r.__dict__) for r in caplog.records),
        "stdout/stderr": captured.out + captured.err,
        "cli output": (tmp_path / "cli.log").read_text(),
        "errors": "\n".join(
            "".join(traceback.format_exception(exc)) + repr(exc) + repr(getattr(exc, "reports", "")) for exc in errors
        ),
    }
    assert "api_key_invalid" in texts["errors"] and "broken.mp4" in texts["errors"]
    for i, record in enumerate(_prefect_records([ok.state_details.flow_run_id, refused.state_details.flow_run_id])):
        texts[f"prefect record {i}"] = record
    assert {name: leaks(text) for name, text in texts.items() if leaks(text)} == {}

    server.stop()  # flush the server's SQLite WAL and log
    storage = Path(PREFECT_LOCAL_STORAGE_PATH.value())
    places = {
        "server data dir": files_leaking(server.data_dir),
        "lakes": files_leaking(out) + files_leaking(tmp_path / "cli-lake"),
        "prefect database": [str(p) for p in _prefect_db_files() if leaks(p.read_bytes())],
        "prefect result storage": files_leaking(storage) if storage.is_dir() else [],
    }
    assert list(out.rglob("*.parquet")) and server.log_path.is_file()
    assert {name: found for name, found in places.items() if found} == {}


def _stored_events(resource_ids: list[str]) -> list[dict]:
    body = {"filter": {"resource": {"id": resource_ids}, "event": {"prefix": ["twelvelabs."]}}, "limit": 50}
    response = requests.post(f"{prefect_api_url()}/events/filter", json=body, timeout=30)
    response.raise_for_status()
    return response.json()["events"]


@pytest.mark.slow
def test_the_webhook_secret_appears_nowhere(own_server, tmp_path, monkeypatch, caplog, capfd):
    """The local server signs its webhooks with the secret, the receiver verifies them and emits events."""
    caplog.set_level(logging.DEBUG)
    port = free_port()
    receiver_url = f"http://127.0.0.1:{port}/webhooks/twelvelabs"
    monkeypatch.setenv("REELSCRIBE_TEST_WEBHOOK_SECRET", WEBHOOK_SECRET)  # the server's environment (EmbeddedServer inherits it)
    server = own_server("--webhook-url", receiver_url, "--webhook-secret-env", "REELSCRIBE_TEST_WEBHOOK_SECRET",
                        "--allow-url-network", "127.0.0.0/8")
    receiver = start_cli(["webhooks", "serve", "--port", str(port), "--secret-env", "REELSCRIBE_TEST_WEBHOOK_SECRET"],
                         cli_env(server, prefect_api_url(), REELSCRIBE_TEST_WEBHOOK_SECRET=WEBHOOK_SECRET), tmp_path / "receiver.log")
    try:
        def listening() -> bool:
            assert receiver.poll() is None, (tmp_path / "receiver.log").read_text()
            try:
                return requests.get(receiver_url, timeout=2).status_code == 405
            except requests.ConnectionError:
                return False

        wait_until(listening, 60, "the receiver to listen", 0.2)
        point_at(monkeypatch, server)
        folder = tmp_path / "in"
        distinct_videos(folder, 2)
        out = tmp_path / "lake"
        state = transcribe_videos(sources=[str(folder)], index_name="webhook-secrets", out=str(out), upload="tasks", return_state=True)
        assert [r.status for r in state.result()] == ["landed", "landed"]
        tasks = [f"twelvelabs.task.{t['_id']}" for t in server_tasks(server, index_id_named(server, "webhook-secrets"))]
        events = wait_for(lambda: _stored_events(tasks), lambda found: len(found) == len(tasks), 60,
                          "an event per task from the server's webhooks", 0.5)

        # Refused deliveries: their answers (the error texts a sender sees) and log lines.
        body = json.dumps({"id": "whe_forged", "type": "index.task.ready", "data": {"id": "task_forged"}}).encode()
        now = int(time.time())

        def signed(secret: str, at: int) -> str:
            return f"t={at},v1={hmac.new(secret.encode(), f'{at}.'.encode() + body, hashlib.sha256).hexdigest()}"

        refusals = [
            requests.post(receiver_url, data=body, headers={"Content-Type": "application/json", **header}, timeout=30)
            for header in ({"TL-Signature": signed("not-the-secret", now)}, {"TL-Signature": signed(WEBHOOK_SECRET, now - 3600)}, {})
        ]
        assert [r.status_code for r in refusals] == [401, 401, 401]
    finally:
        kill_group(receiver)

    captured = capfd.readouterr()
    texts = {
        "caplog": caplog.text + "\n".join(str(r.__dict__) for r in caplog.records),
        "stdout/stderr": captured.out + captured.err,
        "receiver log": (tmp_path / "receiver.log").read_text(),
        "events": json.dumps(events),
        "refusals": "\n".join(f"{r.status_code} {r.headers} {r.text}" for r in refusals),
    }
    # The receiver's own lines reach its log (so the leak check above reads them): each emitted event, each refusal's reason.
    assert texts["receiver log"].count(" emitted\n") == len(tasks) and "webhook refused (401): signature does not match" in texts["receiver log"]
    assert all(e["event"] == "twelvelabs.index.task.ready" for e in events)
    for i, record in enumerate(_prefect_records([state.state_details.flow_run_id])):
        texts[f"prefect record {i}"] = record
    assert {name: leaks(text) for name, text in texts.items() if leaks(text)} == {}

    server.stop()  # flush the server's SQLite WAL and log
    places = {
        "server data dir (its log too)": files_leaking(server.data_dir) + files_leaking(server.log_path.parent),
        "lake": files_leaking(out),
        "prefect database": [str(p) for p in _prefect_db_files() if leaks(p.read_bytes())],
    }
    assert "delivered" in server.log_path.read_text()
    assert {name: found for name, found in places.items() if found} == {}
