"""S3 itself failing (503 SlowDown, 500 InternalError, resets, slow answers, answers lost after
S3 acted) and a store throttling (429, with and without Retry-After) between reelscribe and moto's
S3 server: claims, sources and the lake survive them."""

from __future__ import annotations

import uuid

import pyarrow.parquet as pq
import pytest
import s3fs
from pydantic import SecretStr

from reelscribe.core.claims import ClaimStore
from tests.s3faultproxy import (
    INTERNAL_ERROR,
    LOST_ANSWER,
    RESET,
    SLOW,
    SLOW_DOWN,
    THROTTLED,
    THROTTLED_RETRY_AFTER,
    S3FaultProxy,
    S3FaultProxyProcess,
)

INDEX = "6650a1b2c3d4e5f6a7b8c9d0"
SHA = "cd" * 32


def never_wait(seconds: float) -> None:
    raise AssertionError("the claimer waited: it took its own claim for someone else's")


@pytest.fixture
def faulty_s3(s3_bucket, moto_s3, monkeypatch):
    """Start a proxy with ``schedule`` in front of moto; every client the code builds goes through it."""
    proxies = []

    def start(schedule, every: int = 1) -> S3FaultProxy:
        proxy = S3FaultProxy(moto_s3.endpoint_url, schedule, every=every).__enter__()
        proxies.append(proxy)
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.root_url)
        s3fs.S3FileSystem.clear_instance_cache()
        return proxy

    yield start
    for proxy in proxies:
        proxy.__exit__(None, None, None)
    s3fs.S3FileSystem.clear_instance_cache()


def test_a_lost_answer_to_a_claims_create_is_known_as_our_own(s3_bucket, faulty_s3):
    proxy = faulty_s3({"PUT claims": [LOST_ANSWER]})
    store = ClaimStore(s3_bucket.url("lake"), sleep=never_wait)
    with store.hold(INDEX, SHA) as claim:
        assert claim.generation == 0
        (key,) = s3_bucket.keys("lake/_claims")
        assert key.endswith("/00000000.json")
    assert proxy.injected[("claims", "lost answer")] == 1
    assert s3_bucket.keys("lake/_claims") == []


def test_claims_hold_through_every_s3_fault(s3_bucket, faulty_s3):
    every_fault = [SLOW_DOWN, THROTTLED, INTERNAL_ERROR, RESET, THROTTLED_RETRY_AFTER, SLOW, LOST_ANSWER]
    proxy = faulty_s3({"claims": every_fault})
    store = ClaimStore(s3_bucket.url("lake"), sleep=never_wait)
    for content in ("cd" * 32, "ef" * 32, "01" * 32):
        with store.hold(INDEX, content) as claim:
            assert claim.generation == 0
    injected = {name for _, name in proxy.injected}
    assert injected == {"503 SlowDown", "429", "500 InternalError", "reset", "429 Retry-After", "slow answer", "lost answer"}
    assert s3_bucket.keys("lake/_claims") == []


@pytest.mark.usefixtures("prefect_engine")
def test_a_batch_from_s3_into_a_lake_on_s3_lands_once_through_s3_faults(api, s3_bucket, faulty_s3, tmp_path):
    from reelscribe.core.client import TwelveLabsClient
    from reelscribe.core.settings import Settings
    from reelscribe.flows.transcribe import transcribe_videos
    from tests.conftest import JFK
    from tests.media import make_video

    s3_bucket.put("videos/jfk.mp4", JFK.read_bytes())
    for seconds in (4, 5):
        clip = make_video(tmp_path / f"tone-{seconds}.mp4", seconds, audio="tone")
        s3_bucket.put(f"videos/{clip.name}", clip.read_bytes())
    every_fault = [SLOW_DOWN, INTERNAL_ERROR, RESET, THROTTLED, LOST_ANSWER, SLOW]
    proxy = faulty_s3({"source": every_fault, "lake": every_fault[1:] + every_fault[:1], "claims": every_fault[3:] + every_fault[:3]})
    name = f"s3-faults-{uuid.uuid4().hex[:8]}"

    reports = transcribe_videos(sources=[s3_bucket.url("videos/")], index_name=name, out=s3_bucket.url("lake"), upload="tasks")

    assert sorted(r.status for r in reports) == ["landed"] * 3, [(r.source, r.status, r.error) for r in reports]
    with TwelveLabsClient(Settings(base_url=api.base_url, api_key=SecretStr(api.api_key))) as client:
        index = client.find_index_by_name(name)
        assert len(list(client.iter_tasks(index.id))) == 3
    videos = pq.read_table(f"{s3_bucket.name}/lake/videos", filesystem=s3_bucket.fs)
    assert videos.num_rows == 3 and len(set(videos["video_id"].to_pylist())) == 3
    assert s3_bucket.keys("lake/_claims") == []
    kinds = {kind for kind, _ in proxy.injected}
    assert kinds == {"source", "lake", "claims"}
    assert {name for _, name in proxy.injected} == {"503 SlowDown", "500 InternalError", "reset", "429", "slow answer", "lost answer"}
    print("faults injected:", dict(proxy.injected), "requests:", dict(proxy.requests))


def test_a_lost_answer_to_a_delta_commit_is_known_as_our_own(s3_process_bucket, moto_s3_process, monkeypatch):
    """delta-rs sends the commit's conditional ``PUT`` once: a lost answer is an error after S3
    stored it. The writer finds its own transaction in the log and does not commit again. (The
    proxy runs in its own process: delta-rs holds the GIL during some requests.)"""
    from reelscribe.core.delta_lake import DeltaLake
    from tests.test_delta_lake import batch, current_segments

    with S3FaultProxyProcess(moto_s3_process.endpoint_url, {"PUT delta-commit": ["lost"]}) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.root_url)
        s3fs.S3FileSystem.clear_instance_cache()
        lake = DeltaLake(s3_process_bucket.url("lake"))
        lake.write_batch(INDEX, batch(["v1", "v2"]))
        assert proxy.injected()["delta-commit: lost answer"] >= 4  # each table's create and its commit
        for name in ("segments", "videos"):
            assert lake.open(name).version() == 1  # the empty table, then one commit: none twice
        assert sorted(r.video_id for r in lake.landed(INDEX).values()) == ["v1", "v2"]
        assert len(current_segments(lake)) == 6


def test_delta_commits_and_log_reads_hold_through_429s(s3_process_bucket, moto_s3_process, monkeypatch):
    """delta-rs's own client (object_store) retries a 429 itself, on the commit's conditional ``PUT``
    and on reads of the log, with or without ``Retry-After``: no commit is lost or made twice."""
    from reelscribe.core.delta_lake import DeltaLake
    from tests.test_delta_lake import batch, current_segments

    schedule = {"PUT delta-commit": ["429"], "delta-log": ["429-retry-after", "429"]}
    with S3FaultProxyProcess(moto_s3_process.endpoint_url, schedule) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.root_url)
        s3fs.S3FileSystem.clear_instance_cache()
        lake = DeltaLake(s3_process_bucket.url("lake"))
        lake.write_batch(INDEX, batch(["v1", "v2"]))
        injected = proxy.injected()
        assert injected["delta-commit: 429"] >= 4  # each table's create and its commit
        assert injected["delta-log: 429"] >= 1 and injected["delta-log: 429 Retry-After"] >= 1
        for name in ("segments", "videos"):
            assert lake.open(name).version() == 1
        assert sorted(r.video_id for r in lake.landed(INDEX).values()) == ["v1", "v2"]
        assert len(current_segments(lake)) == 6
