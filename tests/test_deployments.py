"""Deployments end to end: a real Prefect server, `make deploy`, two real workers, the real local API.

The workers start without reelscribe (`make worker`: an environment with its dependencies only);
each run's pull step clones the deployed commit and installs it, as on a machine of its own. So
this test runs the committed code (HEAD), not uncommitted edits.

Every process here is a child in its own process group, killed (group and all) at teardown,
also when a test fails half-way.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import duckdb
import pytest
import requests

from reelscribe.deployments.serve import load_spec, to_deployment
from reelscribe.server.launcher import EmbeddedServer
from tests.conftest import JFK, ROOT
from tests.polling import wait_for, wait_until
from tests.prockit import Children, start_prefect_server
from tests.flowruns import artifacts_of, log_messages, reporting_to, task_run_names

BIN = Path(sys.executable).parent
INCREMENTAL = "transcribe-new-videos/hourly"
AD_HOC = "transcribe-videos/ad-hoc"
EXPORT = "export-subtitles/export-subtitles"
SECRET_SLUG = "secret/twelve-labs-api-key"
RUN_TIMEOUT_S = 240
WORKERS = ("worker-1", "worker-2")
# The Makefile's runtime install stamp: `-o` it so that make never reinstalls the venv this test runs in.
RUN_STAMP = ".venv/.installed-run"


@pytest.fixture(scope="module")
def prefect_api(children, tmp_path_factory, prefect_database) -> tuple[str, dict[str, str]]:
    """A `prefect server start` of its own (own PREFECT_HOME, own SQLite); its URL and the env for children."""
    # No scheduler: an hourly run it created could start on these workers at the top of the hour,
    # with the deployment's defaults (tests/test_schedules.py checks the scheduler). No triggers:
    # each completed hourly run here would start `export-subtitles` on the deployed lake (~/…).
    return start_prefect_server(
        children, tmp_path_factory.mktemp("prefect-home"), prefect_database,
        {"PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false", "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false"},
    )


@pytest.fixture
def real_api(prefect_api):
    """This process's Prefect client settings pointed at that server (over the session's test harness)."""
    with reporting_to(prefect_api[0]):
        yield prefect_api


def make(target: str, env: dict[str, str], *args: str, timeout: float = 240) -> str:
    """``make <target>`` as a user would type it."""
    done = subprocess.run(
        ["make", "-s", "-o", RUN_STAMP, target, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"make {target} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def wait_final(flow_run_id: UUID, children: Children):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return wait_for(
            lambda: client.read_flow_run(flow_run_id),
            lambda run: bool(run.state and run.state.is_final()),
            RUN_TIMEOUT_S,
            lambda: f"flow run {flow_run_id} to end\n{worker_logs(children)}",
            1,
        )


def worker_logs(children: Children) -> str:
    return "\n".join(children.tail(name) for name in WORKERS)


def summary_of(flow_run_id: UUID) -> str:
    (artifact,) = [a for a in artifacts_of(flow_run_id) if a.key == "transcribe-new-videos-summary"]
    return artifact.description


def logged(flow_run_id: UUID, text: str, within: float = 60) -> bool:
    """The flow's own process ships its logs; give the last batch a moment to arrive."""
    wait_until(lambda: any(text in m for m in log_messages(flow_run_id)), within, f"{text!r} in the flow run's logs", 1)
    return True


@pytest.mark.slow
@pytest.mark.timeout(720)
def test_hourly_incremental_deployment_runs_on_a_process_worker(real_api, children, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    url, env = real_api
    # The code's origin as a worker elsewhere would reach it; here, this clone. Its HEAD is read
    # around the deploy: the checkout may gain a commit meanwhile, and the deployed one is either.
    heads = [subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()]
    make("deploy", {**env, "REELSCRIBE_GIT_URL": str(ROOT)})
    heads.append(subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip())
    for name in WORKERS:
        children.start(name, ["make", "-s", "-o", RUN_STAMP, "worker", f"WORKER={name.rsplit('-', 1)[1]}"], env)

    with get_client(sync_client=True) as client:
        hourly = client.read_deployment_by_name(INCREMENTAL)
        ad_hoc = client.read_deployment_by_name(AD_HOC)
    head = hourly.pull_steps[0]["prefect.deployments.steps.git_clone"]["commit_sha"]
    assert head in heads, (head, heads)
    assert [(s.schedule.cron, s.schedule.timezone, s.active) for s in hourly.schedules] == [("0 * * * *", "UTC", True)]
    assert ad_hoc.schedules == []
    for deployment, required in ((hourly, "source"), (ad_hoc, "sources")):
        assert deployment.work_pool_name == "reelscribe" and "reelscribe" in deployment.tags and deployment.description
        # Any worker's runs beat every 30 s, as the heartbeat automation `make deploy` made expects (3 missed: Crashed).
        assert deployment.job_variables == {"env": {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30"}}
        clone, workdir, install = deployment.pull_steps
        assert clone["prefect.deployments.steps.git_clone"] | {"id": "clone"} == {"id": "clone", "repository": str(ROOT), "commit_sha": head}
        assert workdir == {"prefect.deployments.steps.set_working_directory": {"directory": "{{ clone.directory }}"}}
        assert install == {"deployments/install_once.py:install_once": {"commit": head, "requirements_file": "deployments/worker-requirements.txt"}}
        properties = deployment.parameter_openapi_schema["properties"]
        assert required in deployment.parameter_openapi_schema["required"]
        assert all(p.get("description") for p in properties.values()), properties
        assert deployment.parameters["credentials_block"] == SECRET_SLUG
        assert not any("key" in name for name in [*properties, *deployment.parameters])
    assert "s3://" in hourly.parameter_openapi_schema["properties"]["source"]["description"]
    assert_export_follows_hourly(hourly)
    with get_client(sync_client=True) as client:
        (crash,) = client.read_automations_by_name("reelscribe-crash-silent-runs")
    assert crash.enabled and crash.trigger.within.total_seconds() == 90 and crash.trigger.posture == "Proactive"

    api = EmbeddedServer(tmp_path / "local-api").start()
    try:
        # The README's step: the key travels in the environment, never on a command line.
        make("secret", {**env, "TWELVE_LABS_API_KEY": api.api_key})
        inbox, out = tmp_path / "inbox", tmp_path / "lake"
        inbox.mkdir()
        shutil.copy(JFK, inbox / "jfk.mp4")
        params = {"source": str(inbox), "out": str(out), "api_url": api.base_url, "upload": "tasks"}

        first = run_deployment(INCREMENTAL, parameters=params, timeout=0)
        first = wait_final(first.id, children)
        assert first.state.is_completed(), f"{first.state}\n{worker_logs(children)}"
        assert first.name.startswith("new-videos-reelscribe-")
        assert api.api_key not in json.dumps(first.parameters)
        segments = duckdb.sql(
            f"select index_id, video_id, segment, value from read_parquet('{out}/segments/**/*.parquet', hive_partitioning = true) order by segment"
        ).fetchall()
        assert segments and "country" in " ".join(row[3] for row in segments).lower()
        landed = duckdb.sql(f"select index_id, source from read_parquet('{out}/videos/**/*.parquet', hive_partitioning = true)").fetchall()
        assert [row[1] for row in landed] == [str(inbox / "jfk.mp4")]
        assert summary_of(first.id).startswith(f"reelscribe: 1 new video in {inbox} (0 already landed): 1 landed")
        steps = {"select-new-videos", "upload-jfk.mp4", "wait-jfk.mp4", "land-jfk.mp4"}
        assert steps <= set(task_run_names(first.id, including=steps))

        # The second trigger, from the command line as the README shows; nothing is new.
        make("run-incremental", env, f"RUN_ARGS=--params '{json.dumps(params)}' --watch --watch-timeout {RUN_TIMEOUT_S}",
             timeout=RUN_TIMEOUT_S + 60)
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs()
        (second,) = [r for r in runs if r.deployment_id == hourly.id and r.id != first.id]
        assert second.state.is_completed(), f"{second.state}\n{worker_logs(children)}"
        with get_client(sync_client=True) as client:
            online = {w.name for w in client.read_workers_for_work_pool("reelscribe") if w.status.value == "ONLINE"}
        assert online >= {"reelscribe-worker-1", "reelscribe-worker-2"}
        assert summary_of(second.id) == f"reelscribe: 0 new videos in {inbox} (1 already landed)"
        assert logged(second.id, "0 new videos")
        assert not any(name.startswith("upload-") for name in task_run_names(second.id, including={"select-new-videos"}))
        tasks = requests.get(
            f"{api.base_url}/tasks", params={"index_id": landed[0][0]}, headers={"x-api-key": api.api_key}, timeout=10
        ).json()["data"]
        assert len(tasks) == 1
        assert duckdb.sql(f"select count(*) from read_parquet('{out}/videos/**/*.parquet')").fetchall() == [(1,)]

        # A third run: two workers, three runs, so one worker ran the deployed commit twice, and
        # installed it only the first time (the pull step's install_once; each worker logs which).
        third = wait_final(run_deployment(INCREMENTAL, parameters=params, timeout=0).id, children)
        assert third.state.is_completed(), f"{third.state}\n{worker_logs(children)}"
        installs = {name: (children.logs / f"{name}.log").read_text(errors="replace") for name in WORKERS}
        fresh = sum(log.count(f"reelscribe {head} installed") for log in installs.values())
        again = sum(log.count(f"reelscribe {head} is installed already") for log in installs.values())
        assert fresh + again == 3 and 1 <= fresh <= len(WORKERS), f"{fresh} installs, {again} skipped\n{worker_logs(children)}"
        assert all(log.count(f"reelscribe {head} installed") <= 1 for log in installs.values()), "a worker installed one commit twice"
    finally:
        api.stop()


def assert_export_follows_hourly(hourly) -> None:
    """As registered by `make deploy`: `export-subtitles` has one trigger, on the hourly deployment's
    completed flow runs, and exports the hourly runs' lake."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        export = client.read_deployment_by_name(EXPORT)
        (automation,) = client.read_resource_related_automations(f"prefect.deployment.{export.id}")
    trigger = automation.trigger
    assert automation.enabled and trigger.expect == {"prefect.flow-run.Completed"} and trigger.posture == "Reactive"
    assert {"prefect.resource.role": "deployment", "prefect.resource.name": hourly.name} in [
        spec.root for spec in trigger.match_related
    ]
    (action,) = automation.actions
    assert action.deployment_id == export.id
    assert export.parameters["out"] == hourly.parameters["out"]


def test_serve_script_builds_the_same_deployments_as_the_yaml():
    """`make serve` and `make deploy` read one spec; no key can hide in either."""
    specs = {spec["name"]: spec for spec in load_spec()}
    assert set(specs) == {"hourly", "ad-hoc", "daily-compact", "land-indexed", "export-subtitles"}
    built = {spec["name"]: to_deployment(spec) for spec in specs.values()}
    hourly, ad_hoc = built["hourly"], built["ad-hoc"]
    assert f"{hourly.flow_name}/{hourly.name}" == INCREMENTAL and f"{ad_hoc.flow_name}/{ad_hoc.name}" == AD_HOC
    assert [s.schedule.cron for s in hourly.schedules] == ["0 * * * *"] and ad_hoc.schedules == []
    assert hourly.concurrency_limit == 1 and hourly.entrypoint == "reelscribe.flows.incremental.transcribe_new_videos"
    compact = built.pop("daily-compact")
    assert f"{compact.flow_name}/{compact.name}" == "compact-lake/daily-compact"
    assert [s.schedule.cron for s in compact.schedules] == ["30 3 * * *"] and compact.concurrency_limit == 1
    assert compact.parameters == {"out": specs["hourly"]["parameters"]["out"]}  # retention: the flow's own default
    export = built.pop("export-subtitles")
    assert f"{export.flow_name}/{export.name}" == EXPORT and export.schedules == [] and export.concurrency_limit == 1
    (trigger,) = export.triggers
    assert trigger.expect == {"prefect.flow-run.Completed"} and trigger.match.root == {"prefect.resource.id": "prefect.flow-run.*"}
    assert [spec.root for spec in trigger.match_related] == [
        {"prefect.resource.role": "flow", "prefect.resource.name": hourly.flow_name},
        {"prefect.resource.role": "deployment", "prefect.resource.name": hourly.name},
    ]
    for name, deployment in built.items():
        assert deployment.parameters == specs[name]["parameters"]
        assert deployment.parameters["credentials_block"] == SECRET_SLUG
        assert "{{" not in json.dumps(deployment.parameters)
        assert set(deployment.tags) >= {"reelscribe"} and deployment.description


def test_the_webhook_sweep_is_scheduled_only_where_webhooks_are_configured():
    """Shipped off (`make deploy`, `make serve`); `WEBHOOKS=1` serves it on (`serve.py --webhooks`), nothing else changes."""
    from reelscribe.deployments.sweep import with_sweep

    specs = load_spec()
    shipped = {spec["name"]: [s.active for s in to_deployment(spec).schedules] for spec in specs}
    served = {spec["name"]: [s.active for s in to_deployment(spec).schedules] for spec in with_sweep(specs)}
    assert shipped["land-indexed"] == [False] and served["land-indexed"] == [True]
    assert {k: v for k, v in served.items() if k != "land-indexed"} == {k: v for k, v in shipped.items() if k != "land-indexed"}


def test_the_scheduled_deployments_land_in_and_compact_one_delta_lake():
    """The hourly runs' lake is the one `daily-compact` compacts, in the format compaction needs (delta).

    Read as `prefect deploy` reads the file (YAML anchors resolved) and as `make serve` registers it.
    """
    built = {spec["name"]: to_deployment(spec).parameters for spec in load_spec()}
    writers = [built["hourly"], built["ad-hoc"]]
    lake = built["daily-compact"]["out"]
    assert [w["out"] for w in writers] == [lake, lake]
    assert [w["table_format"] for w in writers] == ["delta", "delta"]
    # Subtitles of that same lake, written beside it (a sibling folder, not inside a table).
    export = built["export-subtitles"]
    assert export["out"] == lake and Path(export["to"]).parent == Path(lake).parent and export["to"] != lake
    # Not relative to the temporary clone each run works in.
    assert Path(lake).expanduser().is_absolute() or "://" in lake
