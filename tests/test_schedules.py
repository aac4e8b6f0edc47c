"""Schedules that fire, and deployments a worker can fetch: one real Prefect server, `make deploy`.

The deployment tests trigger their runs by hand, so they cannot notice a scheduler that creates
nothing (prefect 3.8.8 with SQLAlchemy 2.1: `Can't evaluate bulk DML statement` every loop,
zero SCHEDULED runs). Here the server's scheduler runs every second and nothing is triggered.
"""

from __future__ import annotations

import subprocess

import pytest
import requests

from reelscribe.deployments.serve import load_spec
from tests.conftest import ROOT
from tests.polling import wait_for
from tests.prockit import Children, start_prefect_server

RUN_STAMP = ".venv/.installed-run"  # `-o` it: make must never reinstall the venv this test runs in
SCHEDULED_WITHIN_S = 120
SCHEDULER_ERRORS = ("Error scheduling deployment", "Traceback (most recent call last)", "sqlalchemy.exc.",
                    "Can't evaluate bulk DML statement")


@pytest.fixture(scope="module")
def prefect_api(children, tmp_path_factory, prefect_database) -> tuple[str, dict[str, str]]:
    return start_prefect_server(
        children,
        tmp_path_factory.mktemp("prefect-home"),
        prefect_database,
        {
            "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1",
            "PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS": "1",
        },
    )


def make_deploy(env: dict[str, str], **more: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "-s", "-o", RUN_STAMP, "deploy"], cwd=ROOT, env={**env, **more}, capture_output=True, text=True, timeout=300
    )


def deployments(url: str) -> list[dict]:
    return requests.post(f"{url}/deployments/filter", json={}, timeout=10).json()


def scheduled_runs(url: str, deployment_id: str) -> list[dict]:
    body = {"flow_runs": {"deployment_id": {"any_": [deployment_id]}, "state": {"type": {"any_": ["SCHEDULED"]}}}}
    return requests.post(f"{url}/flow_runs/filter", json=body, timeout=10).json()


def scheduler_errors(children: Children) -> list[str]:
    log = (children.logs / "prefect-server.log").read_text(errors="replace")
    return sorted({line.strip() for line in log.splitlines()
                   if any(marker in line for marker in SCHEDULER_ERRORS) or ("| ERROR" in line and "scheduler" in line.lower())})


@pytest.mark.timeout(600)
def test_a_schedule_creates_its_runs(prefect_api, children):
    url, env = prefect_api
    done = make_deploy(env, REELSCRIBE_GIT_URL=str(ROOT))
    assert done.returncode == 0, f"make deploy failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    registered = {d["name"]: d for d in deployments(url)}
    scheduled = {spec["name"] for spec in load_spec() if any(s.get("active", True) for s in spec.get("schedules") or [])}
    assert scheduled == {"hourly", "daily-compact"} and scheduled <= set(registered)
    assert all(any(s["active"] for s in registered[name]["schedules"]) for name in scheduled)
    # The webhook deadline sweep is registered with its schedule off: no webhook is configured here.
    assert [s["active"] for s in registered["land-indexed"]["schedules"]] == [False]

    def runs_of(names: set[str]) -> dict[str, list[dict]]:
        errors = scheduler_errors(children)
        assert not errors, "the scheduler fails:\n" + "\n".join(errors[:5]) + "\n" + children.tail("prefect-server")
        return {name: scheduled_runs(url, registered[name]["id"]) for name in names}

    runs = wait_for(
        lambda: runs_of(scheduled), lambda runs: all(runs.values()), SCHEDULED_WITHIN_S,
        lambda: f"SCHEDULED runs of {sorted(scheduled)}\n{children.tail('prefect-server')}", 1,
    )
    for run in runs["hourly"]:
        assert run["expected_start_time"].endswith(":00:00Z"), run["expected_start_time"]  # 0 * * * *
    for run in runs["daily-compact"]:
        assert "T03:30:00" in run["expected_start_time"], run["expected_start_time"]  # 30 3 * * * UTC
    (ad_hoc,) = [d for d in registered.values() if d["name"] == "ad-hoc"]
    assert scheduled_runs(url, ad_hoc["id"]) == []
    assert scheduled_runs(url, registered["land-indexed"]["id"]) == [], "the sweep runs only where webhooks are configured"

    # Where webhooks are configured: deploying with WEBHOOKS=1 turns the sweep on, and its runs come.
    done = make_deploy(env, REELSCRIBE_GIT_URL=str(ROOT), WEBHOOKS="1")
    assert done.returncode == 0, f"make deploy WEBHOOKS=1 failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    sweeps = wait_for(lambda: runs_of({"land-indexed"})["land-indexed"], bool, SCHEDULED_WITHIN_S,
                      lambda: f"SCHEDULED runs of land-indexed\n{children.tail('prefect-server')}", 1)
    for run in sweeps:  # */10 * * * *: the deadline sweep of webhook-mode submissions
        assert run["expected_start_time"][14:19] in {f"{m}0:00" for m in range(6)}, run["expected_start_time"]
    # Deploying twice leaves one heartbeat automation (updated in place), as the deployments' own triggers.
    names = [a["name"] for a in requests.post(f"{url}/automations/filter", json={}, timeout=10).json()]
    assert names.count("reelscribe-crash-silent-runs") == 1, names
    runs_of(set())  # and still no scheduler error


def test_deploy_refuses_a_commit_its_remote_lacks(prefect_api, tmp_path):
    """Workers `git fetch <remote> <commit>`: a commit only this clone has would crash every run."""
    url, env = prefect_api
    remote = tmp_path / "remote"
    for command in (["init", "-q", str(remote)], ["-C", str(remote), "-c", "user.name=t", "-c", "user.email=t@t",
                                                   "commit", "-q", "--allow-empty", "-m", "another history"]):
        subprocess.run(["git", *command], check=True, capture_output=True)
    before = deployments(url)
    done = make_deploy(env, REELSCRIBE_GIT_URL=str(remote))
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    ours = [line for line in done.stderr.splitlines() if line.startswith("reelscribe: error: ")]
    assert done.returncode != 0 and len(ours) == 1, done.stderr
    assert f"commit {head} is on no branch or tag of {remote}" in ours[0]
    assert "REELSCRIBE_GIT_URL=$(pwd)" in ours[0] and "git push" in ours[0]
    assert "work-pool" not in done.stdout + done.stderr, "nothing may run after the refusal"
    assert deployments(url) == before
