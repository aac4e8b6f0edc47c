"""The flows on a Delta lake: the real engine, the real local server, local disk and moto's S3."""

from __future__ import annotations

import shutil
import uuid

import pytest

from reelscribe.core.delta_lake import DeltaLake
from reelscribe.core.lake_maintenance import convert_lake
from reelscribe.core.schema import TERMS_TABLE
from reelscribe.flows.incremental import transcribe_new_videos
from reelscribe.flows.maintenance import compact_lake
from reelscribe.core.errors import BatchFailed
from reelscribe.flows.transcribe import transcribe_videos
from tests.flowruns import log_messages, task_run_names

pytestmark = pytest.mark.usefixtures("prefect_engine")


def current_rows(out: str) -> list[tuple[str, int, str]]:
    rows = DeltaLake(out).open("segments").to_pyarrow_dataset().to_table()
    return sorted(zip(rows["video_id"].to_pylist(), rows["segment"].to_pylist(), rows["value"].to_pylist()))


def test_a_batch_commits_together_a_bad_video_fails_alone_and_refresh_replaces(api, jfk_copy, tmp_path):
    (jfk_copy.parent / "copy.mp4").write_bytes(jfk_copy.read_bytes() + b"\0")
    (jfk_copy.parent / "broken.mp4").write_bytes(b"this is not a video at all" * 100)
    out, name = str(tmp_path / "lake"), f"delta-{uuid.uuid4().hex[:8]}"
    state = transcribe_videos(
        sources=[str(jfk_copy.parent)], index_name=name, out=out, table_format="delta", return_state=True
    )
    failure = state.result(raise_on_failure=False)
    assert isinstance(failure, BatchFailed)
    status = {r.source.rsplit("/", 1)[-1]: r.status for r in failure.reports}
    assert status == {"broken.mp4": "failed", "copy.mp4": "landed", "jfk.mp4": "landed"}
    lake = DeltaLake(out)
    landed = {r.video_id: r for r in lake.landed(lake_index(lake)).values()}
    assert len(landed) == 2 and lake.staged(lake_index(lake)) == []
    # One commit per table per batch (both videos in one, unless a minute passed between them).
    commits = [n for n in task_run_names(state.state_details.flow_run_id) if n.startswith("commit-")]
    assert 1 <= len(commits) <= 2
    assert lake.open("segments").version() == lake.open("videos").version() == len(commits)  # after the empty table
    before = current_rows(out)
    assert len(before) == sum(r.segment_count for r in landed.values())

    again = transcribe_videos(sources=[str(jfk_copy)], index_name=name, out=out, table_format="delta")
    assert [r.status for r in again] == ["skipped"]
    refreshed = transcribe_videos(sources=[str(jfk_copy)], index_name=name, out=out, table_format="delta", refresh=True)
    assert [r.status for r in refreshed] == ["landed"]
    assert current_rows(out) == before
    assert len(DeltaLake(out).landed(lake_index(lake))) == 2


def test_a_converted_lake_carries_on_and_compacts(api, jfk_copy, tmp_path):
    out, name = str(tmp_path / "lake"), f"convert-{uuid.uuid4().hex[:8]}"
    first = transcribe_videos(sources=[str(jfk_copy)], index_name=name, out=out)
    with pytest.raises(Exception, match="lake convert"):
        transcribe_videos(sources=[str(jfk_copy)], index_name=name, out=out, table_format="delta")
    converted = convert_lake(out)
    assert "segments" in converted and converted[-1] == "videos"  # plus words, utterances on the assets path
    later = jfk_copy.parent / "later.mp4"
    shutil.copy(jfk_copy, later)
    with later.open("ab") as handle:
        handle.write(b"\0")
    reports = transcribe_videos(sources=[str(jfk_copy.parent)], index_name=name, out=out, table_format="delta")
    assert sorted(r.status for r in reports) == ["landed", "skipped"]
    rows = current_rows(out)
    assert {v for v, _, _ in rows} == {first[0].video_id, *(r.video_id for r in reports if r.status == "landed")}
    results = compact_lake(out=out)
    # ... and the term index that convert wrote for search (compaction vacuums it too)
    assert {r.table for r in results} == {*converted, TERMS_TABLE}
    assert current_rows(out) == rows
    assert len(DeltaLake(out).open("segments").file_uris()) == 1


def test_nothing_new_on_s3_reads_the_landed_state_and_logs_how_long(api, jfk_copy, s3_process_bucket):
    out, name = s3_process_bucket.url("lake"), f"s3-{uuid.uuid4().hex[:8]}"
    reports = transcribe_new_videos(source=str(jfk_copy.parent), index_name=name, out=out, table_format="delta")
    assert [r.status for r in reports] == ["landed"]
    state = transcribe_new_videos(source=str(jfk_copy.parent), index_name=name, out=out, table_format="delta", return_state=True)
    assert state.result() == []
    messages = log_messages(state.state_details.flow_run_id)
    assert any("1 videos already landed" in m and "delta lake, read in" in m for m in messages), messages
    assert any(m.startswith("0 new videos") for m in messages)
    assert s3_process_bucket.keys("lake/_staging/videos") == []


def lake_index(lake: DeltaLake) -> str:
    (index_id,) = {r for r in lake.open("videos").to_pyarrow_dataset().to_table()["index_id"].to_pylist()}
    return index_id
