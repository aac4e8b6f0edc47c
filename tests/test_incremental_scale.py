"""The seen-source state at scale: the hourly flow with nothing new on a many-object S3 prefix
issues no object GET (counted at a proxy in front of moto's S3 server, under the real engine and
the real local API), and the state stays one row per source however often objects are overwritten.

The suite uses 1,000 objects: 10,000 cost 76 s here (moto's in-process listing of ten pages of
1,000 keys, twice, under the load of a shared machine), over this file's budget. The code path
does not depend on the count (one listing, one Arrow match); ``bench/bench_incremental.py``
measures 10,000 on moto (BENCHMARKS.md section 13)."""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from reelscribe.core.flatten import segments_table
from reelscribe.core.lake import SOURCES_FILES_BEFORE_MERGE
from reelscribe.core.records import VideoRecord
from reelscribe.core.lake_format import open_lake
from reelscribe.core.source_state import SeenSource
from reelscribe.core.sources import discover
from tests.test_seen_sources import object_gets, plan_run, recorded_s3

OBJECTS = 1_000
BODY = b"one small video body"
"""Every object alike, so one landed video covers them all: nothing is new, at the cost of one landing."""
NOW = datetime(2026, 1, 2, tzinfo=timezone.utc)


def put_many(bucket_name: str, prefix: str, count: int, body: bytes) -> None:
    """Objects put straight into moto's in-process backend: as many HTTP PUTs would cost the suite
    half a minute. Everything the code under test does with them goes over HTTP, as with S3."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    for n in range(count):
        backend.put_object(bucket_name, f"{prefix}{n:05}.mp4", body)


def created_index(name: str) -> str:
    from reelscribe.core.client import TwelveLabsClient
    from reelscribe.core.ingest import resolve_index
    from reelscribe.core.settings import Settings

    with TwelveLabsClient(Settings.from_env()) as client:
        return resolve_index(client, None, name).id


@pytest.mark.usefixtures("prefect_engine")
def test_the_hourly_flow_with_nothing_new_on_a_large_prefix_issues_no_object_get(api, s3_bucket, tmp_path, monkeypatch):
    from reelscribe.flows.incremental import transcribe_new_videos

    put_many(s3_bucket.name, "cams/", OBJECTS, BODY)
    sha256 = hashlib.sha256(BODY).hexdigest()
    prefix, out, name = s3_bucket.url("cams/"), str(tmp_path / "lake"), f"scale-{uuid.uuid4().hex[:8]}"
    found, problems = discover([prefix])
    assert len(found) == OBJECTS and not problems
    # The state and the landed video an earlier run would have left, written through the lake-writer API.
    lake = open_lake(out, "delta")
    lake.record_sources([SeenSource(s.uri, s.identity, sha256) for s in found])
    index_id = created_index(name)
    segments = segments_table([{"start": 0.0, "end": 1.0, "value": "hi"}], video_id="v0", task_id="t0", retrieved_at=NOW)
    lake.write_video(index_id, "v0", segments, VideoRecord(
        task_id="t0", source=found[0].uri, content_sha256=sha256, duration=1.0, indexed_at=NOW, retrieved_at=NOW))

    with recorded_s3(monkeypatch) as requests:
        reports = transcribe_new_videos(source=prefix, index_name=name, out=out, table_format="delta")
    assert reports == []
    assert object_gets(requests) == set()
    assert any("list-type=2" in path for _, path in requests), "the listing went through the proxy"


def overwrite(path: Path, run: int) -> None:
    path.write_bytes(f"content {run}".encode())
    os.utime(path, ns=(10**18 + run, 10**18 + run))  # a new identity whatever the clock's resolution


@pytest.mark.parametrize("table_format", ["parquet", "delta"])
def test_the_state_stays_one_row_per_source_when_objects_are_overwritten(tmp_path, table_format):
    folder, out = tmp_path / "inbox", tmp_path / "lake"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        (folder / name).write_bytes(name.encode())
    lake = open_lake(str(out), table_format)
    plan_run(str(folder), lake, frozenset())
    runs = 2 * SOURCES_FILES_BEFORE_MERGE
    for run in range(runs):
        overwrite(folder / "a.mp4", run)
        assert plan_run(str(folder), lake, frozenset()).counts["changed"] == 1
    rows = pq.read_table(out / "sources").num_rows
    if table_format == "parquet":  # merged as written: at most one file per run since the last merge
        assert rows <= 3 + SOURCES_FILES_BEFORE_MERGE
    else:  # appended as written, reduced by the daily compaction
        from reelscribe.core.lake_maintenance import compact_delta_table

        assert rows == 3 + runs
        compact_delta_table(str(out), "sources")
        from deltalake import DeltaTable

        assert DeltaTable(str(out / "sources")).to_pyarrow_dataset().count_rows() == 3
    state = lake.seen_sources()
    assert len(state) == 3
    again = plan_run(str(folder), lake, frozenset())
    assert again.bytes_read == 0 and again.counts["new"] == 3, "the latest identity of a.mp4 survived"
