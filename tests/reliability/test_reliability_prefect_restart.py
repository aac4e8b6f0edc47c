"""The Prefect server restarted mid-batch, in the two set-ups where every step reports to it:
``reelscribe run --dask`` on a real Dask cluster, and a deployment run on a process worker.

The moment is fixed by the local API, not by a clock: every video is uploaded and held at
``indexing`` (``--fault-hold-file``) when the Prefect server is stopped, and the hold is released
while it is down. The server comes back on the same port and SQLite file once the batch has gone
as far as it can without it (see the test). Prefect's client retries each call to its API
(``PREFECT_CLIENT_MAX_RETRIES``, 5 by default: waits of 2, 4, 8, 16 and 32 s, ±20 %, at least
49 s in all); these tests raise it to 8 (at least 408 s), so that how long the restart takes on a
loaded machine cannot decide the outcome.
"""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path
from typing import Callable

import pytest

from reelscribe.deployments.serve import load_spec, to_deployment
from reliability_kit import REELSCRIBE, assert_lake_sound, distinct_videos, landed_count, running, server_get, sha256_of, wait_until
from tests.flowruns import reporting_to
from tests.prockit import BIN, DaskCluster, PrefectServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

VIDEOS = 4
CLIENT_RETRIES = "8"
POOL = "restart-pool"
AD_HOC = "ad-hoc"  # transcribe-videos/ad-hoc in deployments/prefect.yaml
RUN_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def launched_prefect(children, tmp_path_factory, prefect_database) -> PrefectServer:
    """The module's own Prefect server (no scheduler: nothing but the tests' runs starts), launched
    but not waited for: the Dask cluster and the local API start beside it."""
    home = tmp_path_factory.mktemp("prefect-home")
    return PrefectServer(children, home, prefect_database, {"PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false"}).launch()


@pytest.fixture(scope="module")
def prefect(launched_prefect, cluster, held_api) -> PrefectServer:
    """That server once healthy (after the slower fixtures that started beside it)."""
    return launched_prefect.wait_healthy()


@pytest.fixture(scope="module")
def hold(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hold") / "hold"


@pytest.fixture(scope="module")
def held_api(tmp_path_factory, hold):
    """The local API, holding every task and indexed asset at ``indexing`` while ``hold`` exists."""
    with running(tmp_path_factory.mktemp("api"), "--fault-hold-file", str(hold)) as server:
        yield server


def machine_env(prefect: PrefectServer, api, home: Path) -> dict[str, str]:
    """What a user's machine sets: the Prefect API, the video API and its key, a home of its own."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        **prefect.env, "TWELVELABS_BASE_URL": api.base_url, "TWELVE_LABS_API_KEY": api.api_key,
        "HOME": str(home), "TMPDIR": str(home), "REELSCRIBE_HOME": str(home / "reelscribe"), "PYTHONUNBUFFERED": "1",
        "PREFECT_CLIENT_MAX_RETRIES": CLIENT_RETRIES,
    }


def sent(api, index_name: str) -> int:
    """Videos the local API holds for that index, on either upload path: its tasks and indexed assets."""
    found = server_get(api, "indexes", index_name=index_name).json().get("data")
    if not found:
        return 0
    index_id = found[0]["_id"]
    tasks = server_get(api, "tasks", index_id=index_id, page_limit=50).json()["data"]
    assets = server_get(api, f"indexes/{index_id}/indexed-assets", page_limit=50).json()["data"]
    return len(tasks) + len(assets)


def uploads_of(api, hashes: set[str]) -> dict[str, int]:
    """How many assets the local API holds per content hash (the upload path ``reelscribe run`` takes on it)."""
    found: dict[str, int] = dict.fromkeys(hashes, 0)
    page = 1
    while data := server_get(api, "assets", page=page, page_limit=50).json()["data"]:
        for asset in data:
            sha = (asset.get("user_metadata") or {}).get("reelscribe_sha256")
            if sha in found:
                found[sha] += 1
        page += 1
    return found


def restart_once(
    prefect: PrefectServer, hold: Path, gone_far: Callable[[], bool], alive: Callable[[], bool],
    logs: Callable[[], str], sig: signal.Signals,
) -> float:
    """Stop Prefect with ``sig``, release the held videos, wait until ``gone_far()``, start Prefect
    again on the same port and database. Returns the outage: down until healthy again, in s."""
    prefect.stop(sig)
    down = time.monotonic()
    hold.unlink()
    wait_until(lambda: gone_far() or not alive(), RUN_TIMEOUT_S, lambda: f"the batch to go on without Prefect\n{logs()}", 0.2)
    assert alive(), f"the run ended while Prefect was down\n{logs()}"
    prefect.start()
    outage = time.monotonic() - down
    print(f"prefect down for {outage:.1f} s ({sig.name})")
    return outage


def indexed(api, index_name: str) -> int:
    """The index's indexed assets that are ``ready`` on the local API."""
    (index,) = server_get(api, "indexes", index_name=index_name).json()["data"]
    assets = server_get(api, f"indexes/{index['_id']}/indexed-assets", page_limit=50).json()["data"]
    return sum(a["status"] == "ready" for a in assets)


def task_run_states(prefect: PrefectServer, flow_run_id) -> dict[str, int]:
    """How many of the flow run's task runs the (restarted) server holds in each state: what it learnt."""
    from collections import Counter

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: prefect.url}), get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return dict(Counter(run.state_name for run in runs))


def flow_runs(prefect: PrefectServer) -> list:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: prefect.url}), get_client(sync_client=True) as client:
        return client.read_flow_runs()


def assert_landed_once(api, out: Path, index_name: str, clips: list[Path]) -> None:
    """Every video in the lake once (no row twice), and sent to the local API once."""
    expected = {sha256_of(p) for p in clips}
    lake = assert_lake_sound(out)
    assert lake.hashes == expected and len(lake.videos) == VIDEOS
    assert sent(api, index_name) == VIDEOS, "one task or indexed asset per video"
    assert uploads_of(api, expected) == dict.fromkeys(expected, 1), "each video uploaded once"


@pytest.fixture(scope="module")
def cluster(children, launched_prefect) -> DaskCluster:
    """A scheduler and two workers that know the Prefect API from their environment only."""
    return DaskCluster(children, launched_prefect.env).start()


def test_a_prefect_restart_mid_batch_under_dask_and_a_deployment_run_lands_every_video_once(
    prefect, cluster, held_api, hold, children, tmp_path
):
    """Two batches in flight at once, on one Prefect server killed (SIGKILL) while every video of
    both is held at ``indexing``: ``reelscribe run --dask`` (a real scheduler and two workers) and a
    deployment run on a process worker (its flow in a thread pool).

    The hold is released while Prefect is down. Under Dask the steps need no API (their state events
    wait for it): every video lands meanwhile. In the thread pool each land step reads its inputs'
    states from the API as it starts, so that batch waits in Prefect's client retries once its
    videos are indexed. Prefect comes back once both have gone that far: both runs carry on, each
    video lands once and is uploaded once, the worker survives, and the restarted server records
    both runs Completed.
    """
    from prefect.deployments import run_deployment

    tag = uuid.uuid4().hex[:8]
    dask_name, dask_out, dask_clips = f"restart-dask-{tag}", tmp_path / "dask-lake", distinct_videos(tmp_path / "dask-in", VIDEOS)
    deploy_name, deploy_out = f"restart-deploy-{tag}", tmp_path / "deploy-lake"
    deploy_clips = distinct_videos(tmp_path / "deploy-in", VIDEOS, first=VIDEOS)  # contents of their own
    hold.touch()
    # The worker makes its pool; the flow runs in the worker's interpreter, which has reelscribe.
    worker = children.start(
        "prefect-worker",
        [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--type", "process", "--limit", "1", "--name", "restart-worker"],
        machine_env(prefect, held_api, tmp_path / "worker-home"),
    )
    run = children.start(
        dask_name,
        [str(REELSCRIBE), "run", str(tmp_path / "dask-in"), "--out", str(dask_out), "--index-name", dask_name, "--dask", cluster.address, "-v"],
        machine_env(prefect, held_api, tmp_path / "cli-home"),
    )
    logs = lambda: f"{children.tail(dask_name)}\n{children.tail('prefect-worker')}"  # noqa: E731
    alive = lambda: run.poll() is None and worker.poll() is None  # noqa: E731
    (spec,) = [s for s in load_spec() if s["name"] == AD_HOC]
    params = {"sources": [str(tmp_path / "deploy-in")], "out": str(deploy_out), "index_name": deploy_name,
              "api_url": held_api.base_url, "credentials_block": None, "table_format": "parquet"}
    with reporting_to(prefect.url):
        wait_until(lambda: pool_exists(POOL) or worker.poll() is not None, RUN_TIMEOUT_S, lambda: f"the worker's pool\n{logs()}", 0.5)
        to_deployment(spec).apply(work_pool_name=POOL)
        flow_run = run_deployment(f"transcribe-videos/{AD_HOC}", parameters=params, timeout=0)

    wait_until(
        lambda: (sent(held_api, dask_name), sent(held_api, deploy_name)) == (VIDEOS, VIDEOS) or not alive(),
        RUN_TIMEOUT_S, lambda: f"every upload of both batches\n{logs()}", 0.2,
    )
    restart_once(
        prefect, hold, lambda: landed_count(dask_out) == VIDEOS and indexed(held_api, deploy_name) == VIDEOS, alive, logs,
        signal.SIGKILL,
    )

    assert run.wait(RUN_TIMEOUT_S) == 0, logs()
    final = wait_final(prefect, flow_run.id, logs)
    assert final.state.is_completed(), f"{final.state}\n{logs()}"
    assert worker.poll() is None, f"the worker died with the server\n{logs()}"
    assert_landed_once(held_api, dask_out, dask_name, dask_clips)
    assert_landed_once(held_api, deploy_out, deploy_name, deploy_clips)
    (dask_run,) = [r for r in flow_runs(prefect) if r.name == f"transcribe-{dask_name}-1-sources"]
    assert dask_run.state.is_completed(), dask_run.state
    for label, run_id in (("dask", dask_run.id), ("deployment", final.id)):
        print(f"{label} run: task runs in the restarted server by state: {task_run_states(prefect, run_id)}")


def pool_exists(name: str) -> bool:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            return bool(client.read_work_pool(name))
        except ObjectNotFound:
            return False


def wait_final(prefect: PrefectServer, flow_run_id, logs: Callable[[], str]):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: prefect.url}), get_client(sync_client=True) as client:
        return wait_until(
            lambda: (run := client.read_flow_run(flow_run_id)).state.is_final() and run,
            RUN_TIMEOUT_S, lambda: f"flow run {flow_run_id} to end\n{logs()}", 0.5,
        )
