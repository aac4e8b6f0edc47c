"""A killed run does not stay Running: the shipped heartbeat automation marks it Crashed.

Real parts: a ``prefect server start`` of its own (its scheduler off: every run here is the
test's), the ``hourly`` deployment of ``deployments/prefect.yaml`` served by
``python -m reelscribe.deployments.serve`` as ``make serve`` does (heartbeats every 30 s, the
Makefile's setting, and the automation ``make deploy`` and ``make serve`` create), and the
session's local API. The serving process and the flow run's own process are both SIGKILLed, as
when the machine is lost: nothing is left to report the run's end, so only the automation can.
The time from the kill to Crashed is printed (bench/results/killed-run.md); the test bounds it
by the automation's window plus the server's evaluation delay, never by a wall-clock goal.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from reelscribe.core.delta_lake import DeltaLake
from reelscribe.deployments.automations import MISSED_HEARTBEATS, NAME
from tests.flowruns import reporting_to
from tests.media import make_video
from tests.polling import wait_for, wait_until
from tests.prockit import BIN, start_prefect_server
from tests.test_pipeline import server_tasks

DEPLOYMENT = "transcribe-new-videos/hourly"
HEARTBEAT_S = 30
CRASHED_WITHIN_S = MISSED_HEARTBEATS * HEARTBEAT_S + 90  # the window, plus the evaluation loop and a loaded machine
RUN_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def prefect_api(children, tmp_path_factory, prefect_database) -> tuple[str, dict[str, str]]:
    return start_prefect_server(children, tmp_path_factory.mktemp("killed-run-prefect-home"), prefect_database, {
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "2",
    })


def flow_run(api: str, run_id: str) -> dict:
    return requests.get(f"{api}/flow_runs/{run_id}", timeout=30).json()


def heartbeats(api: str, run_id: str) -> list[dict]:
    body = {"filter": {"event": {"prefix": ["prefect.flow-run.heartbeat"]}, "resource": {"id": [f"prefect.flow-run.{run_id}"]}}}
    return requests.post(f"{api}/events/filter", json=body, timeout=30).json()["events"]


def processes_of_run(run_id: str) -> list[int]:
    """The pids whose environment names this flow run: the process that executes it."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if f"PREFECT__FLOW_RUN_ID={run_id}".encode() in environ.split(b"\0"):
                found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_killed_run_becomes_crashed_and_the_next_run_lands_the_rest(prefect_api, children, pipeline_server, tmp_path):
    from prefect.blocks.system import Secret

    api, env = prefect_api
    with reporting_to(api):
        Secret(value=pipeline_server.api_key).save("twelve-labs-api-key", overwrite=True)
    inbox, out = tmp_path / "inbox", tmp_path / "lake"
    videos = [make_video(inbox / "long.mp4", 30, audio="silence"),
              make_video(inbox / "short-1.mp4", 4, audio="silence", width=160, height=120),
              make_video(inbox / "short-2.mp4", 4, audio="silence", width=164, height=120)]
    params = {"source": str(inbox), "out": str(out), "api_url": pipeline_server.base_url, "index_name": f"killed-{tmp_path.name}",
              "table_format": "delta", "upload": "tasks", "credentials_block": "secret/twelve-labs-api-key"}
    serve_env = {**env, "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_S), "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    serve_command = [str(BIN / "python"), "-m", "tests.serve_deployments", json.dumps({"hourly": params})]

    serving = children.start("serve-1", serve_command, serve_env)
    deployment = wait_until(lambda: (r := requests.get(f"{api}/deployments/name/{DEPLOYMENT}", timeout=10)).ok and r.json(),
                            120, lambda: f"{DEPLOYMENT} to be served\n{children.tail('serve-1')}", 0.5)
    (automation,) = wait_for(lambda: requests.post(f"{api}/automations/filter", json={"automations": {"name": {"any_": [NAME]}}},
                                                   timeout=10).json(), bool, 60, "the heartbeat automation")
    trigger, (action,) = automation["trigger"], automation["actions"]
    assert (trigger["posture"], trigger["after"], trigger["within"]) == ("Proactive", ["prefect.flow-run.heartbeat"], MISSED_HEARTBEATS * HEARTBEAT_S)
    assert (action["type"], action["state"]) == ("change-flow-run-state", "CRASHED")

    first = requests.post(f"{api}/deployments/{deployment['id']}/create_flow_run", json={}, timeout=30).json()["id"]
    wait_until(lambda: flow_run(api, first)["state_type"] == "RUNNING" and heartbeats(api, first) and processes_of_run(first),
               RUN_TIMEOUT_S, lambda: f"run {first} running with a heartbeat\n{children.tail('serve-1')}", 0.2)
    # The machine is lost: the serving process first (so that nothing sees its child die), then the run's own.
    victims = processes_of_run(first)
    os.killpg(serving.pid, signal.SIGKILL)
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    killed_at = time.monotonic()
    serving.wait(30)
    wait_until(lambda: not processes_of_run(first), 30, "the killed run's process to be gone")
    assert flow_run(api, first)["state_type"] == "RUNNING", "nothing but the automation may end the killed run"

    crashed = wait_for(lambda: flow_run(api, first), lambda run: run["state_type"] != "RUNNING", CRASHED_WITHIN_S,
                       lambda: f"the killed run {first} to leave Running\n{children.tail('prefect-server')}", 1)
    print(f"\nkilled run {first}: Crashed {time.monotonic() - killed_at:.1f} s after SIGKILL "
          f"(heartbeat {HEARTBEAT_S} s, window {MISSED_HEARTBEATS * HEARTBEAT_S} s)")
    assert crashed["state_type"] == "CRASHED", crashed["state"]
    assert crashed["state"]["message"].startswith("No heartbeat for"), crashed["state"]["message"]

    children.start("serve-2", serve_command, serve_env)
    second = requests.post(f"{api}/deployments/{deployment['id']}/create_flow_run", json={}, timeout=30).json()["id"]
    ended = wait_for(lambda: flow_run(api, second), lambda run: run["state_type"] in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"},
                     RUN_TIMEOUT_S, lambda: f"the next run {second} to end\n{children.tail('serve-2')}", 1)
    assert ended["state_type"] == "COMPLETED", f"{ended['state']}\n{children.tail('serve-2')}"
    table = DeltaLake(str(out)).open("videos").to_pyarrow_table(columns=["source", "index_id"])
    assert Counter(table["source"].to_pylist()) == Counter(str(v) for v in videos), "each video landed once"
    (index_id,) = set(table["index_id"].to_pylist())
    assert len(server_tasks(pipeline_server, index_id)) == len(videos), "no video was uploaded twice"
