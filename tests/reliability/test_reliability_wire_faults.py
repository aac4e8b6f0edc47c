"""Faults on the wire: 5xx, 429 with Retry-After, resets and lost answers lose nothing and duplicate nothing.

The real flow talks to the real local server through ``FaultProxy``; what landed is checked in the
lake with DuckDB and on the server through its own API (not through the proxy).
"""

from __future__ import annotations

import uuid

import pytest

from reelscribe.flows.transcribe import transcribe_videos
from reliability_kit import assert_lake_sound, distinct_videos, index_id_named, server_tasks, sha256_of
from tests.faultproxy import FaultProxy, FaultRates

pytestmark = pytest.mark.usefixtures("prefect_engine")

# More than the 16 in flight at once; every kind of fault is met well within the first 20
# videos' requests (with this seed each kind comes up among the first 15); the test checks each occurred.
VIDEOS = 20
# 35 % of requests fail; 30 tries per call make exhausting the budget a 0.35**30 ≈ 2e-14 event.
RATES = FaultRates(server_error=0.2, rate_limited=0.1, reset=0.05, retry_after=1, seed=20240605)
FAULT_KINDS = ("status_503", "status_429", "reset_before", "lost_answer")


@pytest.mark.slow
def test_videos_through_a_faulty_wire_land_exactly_once(rapi, tmp_path, monkeypatch):
    clips = distinct_videos(tmp_path / "in", VIDEOS)
    expected = {sha256_of(p) for p in clips}
    assert len(expected) == VIDEOS
    name, out = f"wire-{uuid.uuid4().hex[:8]}", tmp_path / "lake"
    monkeypatch.setenv("REELSCRIBE_HTTP_ATTEMPTS", "30")
    with FaultProxy(rapi.root_url, rates=RATES) as proxy:
        monkeypatch.setenv("TWELVELABS_BASE_URL", proxy.base_url)
        reports = transcribe_videos(upload="tasks", sources=[str(tmp_path / "in")], index_name=name, out=str(out), max_concurrency=16)

    assert all(proxy.counts[kind] > 0 for kind in FAULT_KINDS), proxy.counts
    assert len(reports) == VIDEOS and {r.status for r in reports} == {"landed"}, [r for r in reports if r.status != "landed"]

    index_id = index_id_named(rapi, name)
    tasks = server_tasks(rapi, index_id)
    assert len(tasks) == VIDEOS, f"{len(tasks)} tasks on the server for {VIDEOS} videos"
    assert {t["user_metadata"]["reelscribe_sha256"] for t in tasks} == expected
    assert {t["status"] for t in tasks} == {"ready"}

    lake = assert_lake_sound(out)
    assert len(lake.videos) == VIDEOS and lake.hashes == expected
    assert {v["video_id"] for v in lake.videos} == {t["video_id"] for t in tasks}
    assert {v["index_id"] for v in lake.videos} == {index_id}
