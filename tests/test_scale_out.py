"""Beyond one machine, with real parts on loopback: moto's S3, a `prefect server`, a Dask scheduler
with two worker processes, and the local API.

One Prefect server and one Dask cluster serve the whole module; each test has its own bucket and
index. The workers find S3 the way a user's machines do: through the standard AWS variables.
"""

from __future__ import annotations

import hashlib
import subprocess
import uuid
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pytest

from reelscribe.flows.incremental import transcribe_new_videos
from reelscribe.flows.transcribe import transcribe_videos
from reelscribe.server.launcher import EmbeddedServer
from tests.flowruns import reporting_to
from tests.media import make_video
from tests.polling import wait_for
from tests.prockit import BIN, Children, DaskCluster, start_prefect_server
from tests.test_pipeline import server_tasks
from tests.test_pipeline_assets import assets_with, indexed_assets

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
CLI_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def prefect_server(children, tmp_path_factory, prefect_database) -> tuple[str, dict[str, str]]:
    return start_prefect_server(children, tmp_path_factory.mktemp("prefect-home"), prefect_database)


@pytest.fixture(scope="module")
def cluster(children, prefect_server, moto_s3) -> DaskCluster:
    """Two worker processes that know the Prefect API and S3 only from their environment."""
    _, env = prefect_server
    return DaskCluster(children, {**env, **moto_s3.env()}).start()


@pytest.fixture
def prefect_api(prefect_server, monkeypatch):
    """This process's flows report to the module's Prefect server (over the session's harness)."""
    url, _ = prefect_server
    monkeypatch.setenv("PREFECT_API_URL", url)
    with reporting_to(url):
        yield url


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory) -> list[bytes]:
    """Short distinct clips (the local server accepts 4 s and longer)."""
    folder = tmp_path_factory.mktemp("clips")
    return [make_video(folder / f"clip{i}.mp4", 4.0 + 0.2 * i, audio="tone").read_bytes() for i in range(6)]


def put_clips(bucket, clips: list[bytes], prefix: str = "inbox") -> dict[str, str]:
    """Upload clips to ``s3://<bucket>/<prefix>/``; ``{url: sha256}``."""
    return {bucket.put(f"{prefix}/clip{i}.mp4", data): hashlib.sha256(data).hexdigest() for i, data in enumerate(clips)}


def lake_videos(bucket) -> list[tuple[str, str, str]]:
    """(index_id, source, content_sha256) of every landed video, read with DuckDB over s3fs."""
    bucket.fs.invalidate_cache()
    con = duckdb.connect()
    con.register_filesystem(bucket.fs)
    return sorted(con.sql(
        f"select index_id, source, content_sha256 from read_parquet('s3://{bucket.name}/lake/videos/**/*.parquet', hive_partitioning = true)"
    ).fetchall())


def tasks_run_by_workers(cluster: DaskCluster) -> int:
    """How many tasks the cluster's workers have executed, by their own count."""
    from distributed import Client

    with Client(cluster.address) as client:
        return sum(client.run(lambda dask_worker: dask_worker.state.executed_count).values())


def uploads(server, index_id: str, hashes) -> int:
    """Videos sent to the server for this index on either upload path (``auto`` picks assets on the
    local server): its tasks, plus the assets carrying these hashes, each indexed into it once."""
    assets = [a for sha in set(hashes) for a in assets_with(server, sha)]
    indexed = indexed_assets(server, index_id)
    assert len(indexed) == len(assets), "one indexed asset per asset"
    return len(server_tasks(server, index_id)) + len(assets)


def test_s3_inbox_lands_in_an_s3_lake_through_dask_workers_each_video_once(api, s3_bucket, cluster, prefect_api, clip_bytes):
    expected = put_clips(s3_bucket, clip_bytes[:3])
    name, lake = f"dask-{uuid.uuid4().hex[:8]}", s3_bucket.url("lake")
    before = tasks_run_by_workers(cluster)

    reports = transcribe_videos(sources=[s3_bucket.url("inbox/")], index_name=name, out=lake, dask=cluster.address)

    assert sorted((r.source, r.status) for r in reports) == [(url, "landed") for url in sorted(expected)]
    assert tasks_run_by_workers(cluster) - before == 3 * 3  # upload, wait, land per video
    landed = lake_videos(s3_bucket)
    (index_id,) = {row[0] for row in landed}
    assert [(source, sha) for _, source, sha in landed] == sorted(expected.items())
    assert uploads(api, index_id, expected.values()) == 3
    assert not [k for k in s3_bucket.keys("lake") if "/_claims/" in f"/{k}"], "claims are released"

    # The README's readers over the same S3 lake, configured by the same AWS_* variables:
    # DuckDB (above, through s3fs), pandas and polars.
    videos_dir = f"s3://{s3_bucket.name}/lake/videos"
    frame = pd.read_parquet(videos_dir)
    assert sorted(zip(frame["index_id"].astype(str), frame["source"])) == [(index_id, url) for url in sorted(expected)]
    rows = pl.read_parquet(f"{videos_dir}/**/*.parquet", hive_partitioning=True).sort("source")
    assert list(zip(rows["index_id"], rows["source"])) == [(index_id, url) for url in sorted(expected)]

    # Re-run on S3: nothing new is uploaded or landed again.
    again = transcribe_videos(sources=[s3_bucket.url("inbox/")], index_name=name, out=lake, dask=cluster.address)
    assert {r.status for r in again} == {"skipped"}
    assert uploads(api, index_id, expected.values()) == 3 and lake_videos(s3_bucket) == landed


def test_incremental_flow_on_an_s3_prefix_lands_only_new_content(api, s3_bucket, cluster, prefect_api, clip_bytes):
    """On the tasks path (the other tests here take the default, assets, on the local server)."""
    name, lake, inbox = f"inc-{uuid.uuid4().hex[:8]}", s3_bucket.url("lake"), s3_bucket.url("inbox/")
    first = put_clips(s3_bucket, clip_bytes[:2])
    reports = transcribe_new_videos(upload="tasks", source=inbox, index_name=name, out=lake, dask=cluster.address)
    assert sorted((r.source, r.status) for r in reports) == [(url, "landed") for url in sorted(first)]

    newcomer = s3_bucket.put("inbox/later/clip9.mp4", clip_bytes[2])
    reports = transcribe_new_videos(upload="tasks", source=inbox, index_name=name, out=lake, dask=cluster.address)
    assert [(r.source, r.status) for r in reports] == [(newcomer, "landed")]
    assert transcribe_new_videos(upload="tasks", source=inbox, index_name=name, out=lake, dask=cluster.address) == []
    # A prefix nothing has arrived under yet is "0 new videos", not an error.
    assert transcribe_new_videos(upload="tasks", source=s3_bucket.url("nothing-yet/"), index_name=name, out=lake) == []

    landed = lake_videos(s3_bucket)
    assert len(landed) == 3 and len({sha for _, _, sha in landed}) == 3
    assert len(server_tasks(api, landed[0][0])) == 3


def cli_env(prefect_server, moto_s3, server: EmbeddedServer, home: Path) -> dict[str, str]:
    """A "machine": its own temp dir and home, the shared Prefect API, S3 and local API by env."""
    _, env = prefect_server
    home.mkdir(parents=True, exist_ok=True)
    return {
        **env, **moto_s3.env(),
        "TWELVELABS_BASE_URL": server.base_url, "TWELVE_LABS_API_KEY": server.api_key,
        "TMPDIR": str(home), "HOME": str(home), "REELSCRIBE_HOME": str(home / "reelscribe"),
    }


def reelscribe(children: Children, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return children.start(name, [str(BIN / "reelscribe"), "run", *args], env)


def finished(children: Children, name: str, process: subprocess.Popen) -> int:
    try:
        return process.wait(CLI_TIMEOUT_S)
    finally:
        print(children.tail(name))


def test_two_machines_landing_the_same_new_videos_upload_each_once(
    api, s3_bucket, prefect_server, moto_s3, children, clip_bytes, tmp_path
):
    """Two `reelscribe run` processes, each its own temp dir and home (no shared lock folder)."""
    expected = put_clips(s3_bucket, clip_bytes)
    name = f"race-{uuid.uuid4().hex[:8]}"
    args = [s3_bucket.url("inbox/"), "--out", s3_bucket.url("lake"), "--index-name", name]
    runs = {
        machine: reelscribe(children, machine, args, cli_env(prefect_server, moto_s3, api, tmp_path / machine))
        for machine in (f"{name}-a", f"{name}-b")
    }
    assert {machine: finished(children, machine, process) for machine, process in runs.items()} == dict.fromkeys(runs, 0)

    landed = lake_videos(s3_bucket)
    (index_id,) = {row[0] for row in landed}
    assert sorted({(source, sha) for _, source, sha in landed}) == sorted(expected.items())
    assert uploads(api, index_id, expected.values()) == len(expected), "each video uploaded once"


def test_a_dask_worker_killed_mid_batch_uploads_nothing_twice(
    s3_bucket, prefect_server, moto_s3, cluster, children, prefect_api, clip_bytes, tmp_path
):
    """Prefect recomputes the upload results a dead worker held: the task runs again."""
    from distributed import Client

    from tests.flowruns import log_messages

    expected = put_clips(s3_bucket, clip_bytes[:4])
    name = f"kill-{uuid.uuid4().hex[:8]}"
    # The server holds every video at indexing until the test lets go: every upload has finished
    # while every video still waits, however loaded the machine.
    hold = tmp_path / "hold"
    hold.touch()
    held = EmbeddedServer(tmp_path / "held-api", extra_args=["--fault-hold-file", str(hold)]).start()
    try:
        env = cli_env(prefect_server, moto_s3, held, tmp_path / "machine")
        args = [s3_bucket.url("inbox/"), "--out", s3_bucket.url("lake"), "--index-name", name, "--dask", cluster.address]
        run = reelscribe(children, name, args, env)
        with Client(cluster.address) as client:
            victim = worker_holding_uploads(client, run, len(expected))
            cluster.kill_worker(victim)
            cluster.start_worker(f"{victim}-replacement")
        hold.unlink()
        assert finished(children, name, run) == 0

        index_id = index_named(held, name)
        assert uploads(held, index_id, expected.values()) == len(expected), "each video uploaded once"
        landed = lake_videos(s3_bucket)
        assert sorted((source, sha) for _, source, sha in landed) == sorted(expected.items())
        flow_run = flow_run_named(f"transcribe-{name}-1-sources")
        assert any("found existing" in m for m in log_messages(flow_run.id)), "an upload ran again"
    finally:
        held.stop()
        cluster.wait_for(2)


def worker_holding_uploads(client, run: subprocess.Popen, uploads: int, timeout: float = 180) -> str:
    """The name of a worker holding finished upload results, once all ``uploads`` have finished."""

    def held() -> dict:
        assert run.poll() is None, "the run ended before the worker could be killed"
        return {
            worker: [k for k in keys if str(k).startswith("upload_video-")]
            for worker, keys in client.has_what().items()
        }

    holding = wait_for(held, lambda h: len(set().union(*h.values())) == uploads, timeout, "every upload to finish", 0.2)
    worker = max(holding, key=lambda w: len(holding[w]))
    return client.scheduler_info()["workers"][worker]["name"]


def index_named(server: EmbeddedServer, name: str) -> str:
    import requests

    answer = requests.get(f"{server.base_url}/indexes", params={"index_name": name}, headers={"x-api-key": server.api_key}, timeout=10)
    answer.raise_for_status()
    (index,) = answer.json()["data"]
    return index["_id"]


def flow_run_named(name: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    with get_client(sync_client=True) as client:
        (flow_run,) = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])))
    return flow_run
