"""The completion trigger fires once per completed hourly run, also while another writer holds the database.

``export-subtitles`` runs after each Completed run of ``hourly`` (its trigger in
``deployments/prefect.yaml``). Prefect evaluates that trigger in its server, writing the trigger's
state to the server's database; on SQLite every write waits while another connection holds the
write lock (up to ``PREFECT_API_DATABASE_TIMEOUT``, 10 s), and a trigger evaluation that fails is
retried three times, then dropped. So here a second process writes to the same SQLite file all the
time, holding its write lock for 0.2 s of every 0.5 s, while hourly runs complete one after
another: each completion must still start exactly one export. The runs are made Completed through
the API as a worker would report them; nothing executes either deployment (no worker, no serve).
"""

from __future__ import annotations

import sys
import textwrap
import uuid

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from reelscribe.deployments.serve import load_spec, to_deployment
from tests.flowruns import reporting_to
from tests.polling import wait_for
from tests.prockit import start_prefect_server

COMPLETIONS = 3
TRIGGERED_WITHIN_S = 180
HOLD_S, GAP_S = 0.2, 0.3

prefect_http = requests.Session()
"""Asks again after a 503 (the server's SQLite busy; nothing was written), as Prefect's own client does."""
prefect_http.mount("http://", HTTPAdapter(max_retries=Retry(total=8, backoff_factor=0.5, status_forcelist=[503], allowed_methods=None)))

SECOND_WRITER = textwrap.dedent(f"""
    import sqlite3, sys, time
    db = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
    db.execute("create table if not exists another_job (at real)")
    while True:
        db.execute("begin immediate")
        db.execute("insert into another_job values (?)", (time.time(),))
        time.sleep({HOLD_S})
        db.execute("commit")
        time.sleep({GAP_S})
""")


@pytest.fixture(scope="module")
def prefect_api(children, tmp_path_factory, prefect_database):
    home = tmp_path_factory.mktemp("second-writer-prefect-home")
    api, env = start_prefect_server(children, home, prefect_database, {"PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false"})
    with reporting_to(api):
        specs = {spec["name"]: spec for spec in load_spec()}
        ids = {name: str(to_deployment({**specs[name], "schedules": []}).apply()) for name in ("hourly", "export-subtitles")}
    return api, env, home, ids


def runs_of(api: str, deployment_id: str) -> list[dict]:
    body = {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}}
    return prefect_http.post(f"{api}/flow_runs/filter", json=body, timeout=60).json()


def complete_a_run(api: str, deployment_id: str) -> str:
    """A run of the deployment, reported Running and then Completed, as its process would."""
    response = prefect_http.post(f"{api}/deployments/{deployment_id}/create_flow_run", json={"name": f"hourly-{uuid.uuid4().hex[:6]}"},
                                 timeout=60)
    assert response.ok, response.text
    run = response.json()
    for state in ("PENDING", "RUNNING", "COMPLETED"):
        response = prefect_http.post(f"{api}/flow_runs/{run['id']}/set_state", json={"state": {"type": state}, "force": True}, timeout=60)
        assert response.ok and response.json()["status"] == "ACCEPT", response.text
    return run["id"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_each_completed_hourly_run_starts_one_export_under_a_second_writer(prefect_api, children):
    api, env, home, ids = prefect_api
    writer = children.start("second-writer", [sys.executable, "-c", SECOND_WRITER, str(home / "prefect.db")], env)
    try:
        completed = [complete_a_run(api, ids["hourly"]) for _ in range(COMPLETIONS)]
        exports = wait_for(lambda: runs_of(api, ids["export-subtitles"]), lambda runs: len(runs) >= COMPLETIONS, TRIGGERED_WITHIN_S,
                           lambda: f"{COMPLETIONS} export runs\n{children.tail('prefect-server')}", 1)
        assert writer.poll() is None, children.tail("second-writer")
    finally:
        children.stop(writer)
    assert len(completed) == len(exports) == COMPLETIONS, [r["name"] for r in exports]
    assert not (home / "dlq").exists() or not any((home / "dlq").iterdir()), "an event was dropped to the dead-letter queue"
