"""The assets path through a faulty wire: one asset and one indexed asset per video, nothing lost.

As ``test_reliability_wire_faults`` does for the tasks path: the real flow, the real local server
behind ``FaultProxy`` (5xx, 429 with Retry-After, resets before and after the server acted), the
results checked in the lake and on the server through its own API. Half of the clips are above the
direct-upload limit set for the test, so multipart sessions (their chunk ``PUT``s through the proxy
too) meet the same faults.
"""

from __future__ import annotations

import uuid

import pytest

from reelscribe.flows.transcribe import transcribe_videos
from reliability_kit import assert_lake_sound, distinct_videos, index_id_named, server_get, sha256_of
from tests.faultproxy import FaultProxy, FaultRates

pytestmark = pytest.mark.usefixtures("prefect_engine")

# More than the 8 in flight at once. Each video makes at least seven requests, and with this seed
# every kind of fault comes up among the first 60, so 12 videos meet them all (the test checks each occurred).
VIDEOS = 12
RATES = FaultRates(server_error=0.2, rate_limited=0.1, reset=0.05, retry_after=1, seed=20261129)
FAULT_KINDS = ("status_503", "status_429", "reset_before", "lost_answer")


def every(server, path: str, **params) -> list[dict]:
    items, page = [], 1
    while True:
        response = server_get(server, path, page=page, page_limit=50, **params)
        response.raise_for_status()
        data = response.json()["data"]
        if not data:
            return items
        items += data
        page += 1


@pytest.mark.slow
def test_videos_through_a_faulty_wire_make_one_asset_and_one_indexed_asset_each(rapi, tmp_path, monkeypatch):
    clips = distinct_videos(tmp_path / "in", VIDEOS, prefix="asset")
    expected = {sha256_of(p) for p in clips}
    sizes = sorted(p.stat().st_size for p in clips)
    name, out = f"assets-wire-{uuid.uuid4().hex[:8]}", tmp_path / "lake"
    monkeypatch.setenv("REELSCRIBE_HTTP_ATTEMPTS", "30")
    monkeypatch.setenv("REELSCRIBE_DIRECT_UPLOAD_LIMIT", str(sizes[VIDEOS // 2]))
    with FaultProxy(rapi.root_url, rates=RATES, keep_host=True) as proxy:
        monkeypatch.setenv("TWELVELABS_BASE_URL", proxy.base_url)
        reports = transcribe_videos(sources=[str(tmp_path / "in")], index_name=name, out=str(out), max_concurrency=8, upload="assets")

    assert all(proxy.counts[kind] > 0 for kind in FAULT_KINDS), proxy.counts
    assert len(reports) == VIDEOS and {r.status for r in reports} == {"landed"}, [r for r in reports if r.status != "landed"]

    assets = [a for a in every(rapi, "assets") if (a.get("user_metadata") or {}).get("reelscribe_sha256") in expected]
    assert sorted(a["user_metadata"]["reelscribe_sha256"] for a in assets) == sorted(expected), "not one asset per video"
    methods = {a["method"] for a in assets}
    assert methods == {"direct", "multipart"} and {a["status"] for a in assets} == {"ready"}
    index_id = index_id_named(rapi, name)
    indexed = every(rapi, f"indexes/{index_id}/indexed-assets")
    assert sorted(i["asset_id"] for i in indexed) == sorted(a["_id"] for a in assets), "not one indexed asset per asset"

    lake = assert_lake_sound(out)
    assert len(lake.videos) == VIDEOS and lake.hashes == expected
    assert {v["video_id"] for v in lake.videos} == {i["_id"] for i in indexed}
    assert {v["asset_id"] for v in lake.videos} == {a["_id"] for a in assets}
