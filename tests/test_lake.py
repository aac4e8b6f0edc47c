"""The lake writer against real Parquet, read back by DuckDB, pandas, polars and pyarrow."""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import fsspec
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reelscribe.core import lake as lake_module
from reelscribe.core.errors import InvalidIdentifier
from reelscribe.core.flatten import segments_table
from reelscribe.core.lake_writer import CleanupReport
from reelscribe.core.lake import SEGMENTS_SCHEMA, VIDEOS_SCHEMA, Lake, table_glob, table_path, validate_partition_id
from reelscribe.core.records import LandedRecord, VideoRecord

INDEX = "6650a1b2c3d4e5f6a7b8c9d0"
OTHER_INDEX = "6650a1b2c3d4e5f6a7b8ffff"
RETRIEVED = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def transcript(count: int, word: str = "word") -> list[dict[str, object]]:
    return [{"start": i * 1.0, "end": i + 0.9, "value": f"{word} {i}"} for i in range(count)]


def record(sha: str = "sha-a", task_id: str = "task-a", **changes: object) -> VideoRecord:
    fields: dict[str, object] = {
        "task_id": task_id,
        "source": f"/videos/{sha}.mp4",
        "content_sha256": sha,
        "duration": 12.5,
        "indexed_at": RETRIEVED - timedelta(minutes=5),
        "retrieved_at": RETRIEVED,
    }
    return VideoRecord(**(fields | changes))  # type: ignore[arg-type]


def land(
    lake: Lake, video_id: str, count: int, *, index_id: str = INDEX, sha: str | None = None,
    task_id: str = "task-a", retrieved_at: datetime = RETRIEVED,
) -> lake_module.LandedVideo:
    table = segments_table(
        transcript(count), video_id=video_id, task_id=task_id, retrieved_at=retrieved_at
    )
    video = record(sha or f"sha-{video_id}", task_id, retrieved_at=retrieved_at)
    return lake.write_video(index_id, video_id, table, video)


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def lake(out: Path) -> Lake:
    return Lake(str(out))


@pytest.fixture
def memory_url() -> Iterator[str]:
    url = f"memory://lake-{uuid.uuid4().hex}"
    yield url
    fs, root = fsspec.core.url_to_fs(url)
    if fs.exists(root):
        fs.rm(root, recursive=True)


# --- identifiers and paths ---------------------------------------------------------------------

@pytest.mark.parametrize(
    "bad",
    ["", ".", "..", "../etc", "a/b", "a\\b", "a=b", "a%2Fb", "a.b", " a", "a b", "a\tb", "a\n",
     "a\x00b", "é", "x" * 129],
)
def test_unsafe_ids_are_refused_naming_the_value(bad: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        validate_partition_id(bad, "video_id")
    message = str(caught.value)
    assert f"invalid video_id {bad!r}" in message
    assert "letters, digits, '_' and '-'" in message


@pytest.mark.parametrize("bad", [None, 123, b"abc"])
def test_non_string_ids_are_refused(bad: object) -> None:
    with pytest.raises(InvalidIdentifier, match="invalid index_id"):
        validate_partition_id(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("good", ["a", "abc-DEF_123", INDEX, "x" * 128])
def test_safe_ids_pass_unchanged(good: str) -> None:
    assert validate_partition_id(good) == good


def test_table_path_is_the_hive_layout() -> None:
    assert table_path("s3://bucket/lake/", "segments", INDEX, "vid1") == (
        f"s3://bucket/lake/segments/index_id={INDEX}/vid1.parquet"
    )
    assert table_path("/data", "videos", "i", "v") == "/data/videos/index_id=i/v.parquet"


@pytest.mark.parametrize(("index_id", "video_id"), [("../x", "v"), ("i", "../../etc/passwd")])
def test_table_path_validates_both_ids(index_id: str, video_id: str) -> None:
    with pytest.raises(InvalidIdentifier):
        table_path("/data", "segments", index_id, video_id)


def test_table_glob_matches_every_partition() -> None:
    assert table_glob("s3://bucket/lake/", "videos") == "s3://bucket/lake/videos/**/*.parquet"


def test_paths_know_only_two_tables() -> None:
    with pytest.raises(ValueError, match="unknown lake table 'chunks'"):
        table_path("/data", "chunks", "i", "v")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown lake table 'chunks'"):
        table_glob("/data", "chunks")  # type: ignore[arg-type]


def test_write_refuses_unsafe_ids_before_writing(lake: Lake, out: Path) -> None:
    with pytest.raises(InvalidIdentifier):
        land(lake, "../escape", 2)
    assert not out.exists()


# --- round trip through real Parquet -----------------------------------------------------------

def test_round_trip_through_duckdb_with_hive_partitioning(lake: Lake, out: Path) -> None:
    land(lake, "vid1", 3)
    land(lake, "vid2", 2)
    land(lake, "vid3", 4, index_id=OTHER_INDEX)
    rows = duckdb.sql(
        f"select index_id, video_id, count(*) as n, min(segment), max(segment), min(retrieved_at) "
        f"from read_parquet('{table_glob(str(out), 'segments')}', hive_partitioning = true) "
        f"group by all order by video_id"
    ).fetchall()
    assert [r[:5] for r in rows] == [
        (INDEX, "vid1", 3, 0, 2), (INDEX, "vid2", 2, 0, 1), (OTHER_INDEX, "vid3", 4, 0, 3)
    ]
    assert rows[0][5] == RETRIEVED
    videos = duckdb.sql(
        f"select index_id, video_id, segment_count, content_sha256 "
        f"from read_parquet('{out}/videos/**/*.parquet', hive_partitioning = true) order by video_id"
    ).fetchall()
    assert videos == [
        (INDEX, "vid1", 3, "sha-vid1"), (INDEX, "vid2", 2, "sha-vid2"),
        (OTHER_INDEX, "vid3", 4, "sha-vid3"),
    ]


def test_duckdb_column_types(lake: Lake, out: Path) -> None:
    land(lake, "vid1", 1)
    types = dict(
        duckdb.sql(
            f"select column_name, column_type from (describe select * from "
            f"read_parquet('{out}/segments/**/*.parquet', hive_partitioning = true))"
        ).fetchall()
    )
    assert types == {
        "video_id": "VARCHAR", "segment": "INTEGER", "start": "DOUBLE", "end": "DOUBLE",
        "value": "VARCHAR", "task_id": "VARCHAR", "retrieved_at": "TIMESTAMP WITH TIME ZONE",
        "language": "VARCHAR", "avg_logprob": "DOUBLE", "no_speech_prob": "DOUBLE", "compression_ratio": "DOUBLE",
        "index_id": "VARCHAR",
    }


def test_pandas_reads_the_lake(lake: Lake, out: Path) -> None:
    land(lake, "vid1", 3)
    frame = pd.read_parquet(out / "segments")
    assert list(frame["value"]) == ["word 0", "word 1", "word 2"]
    assert set(frame["index_id"].astype(str)) == {INDEX}
    assert str(frame["retrieved_at"].dtype) == "datetime64[us, UTC]"


def test_polars_reads_the_lake(lake: Lake, out: Path) -> None:
    land(lake, "vid1", 3)
    frame = pl.read_parquet(f"{out}/videos/**/*.parquet", hive_partitioning=True)
    assert frame["index_id"].to_list() == [INDEX]
    assert frame["segment_count"].to_list() == [3]
    assert frame.schema["retrieved_at"] == pl.Datetime("us", "UTC")


def test_files_hold_the_exact_schemas_without_index_id(lake: Lake) -> None:
    landed = land(lake, "vid1", 2)
    assert pq.read_schema(landed.segments_path).equals(SEGMENTS_SCHEMA)
    assert pq.read_schema(landed.videos_path).equals(VIDEOS_SCHEMA)


@pytest.mark.parametrize(("compression", "codec"), [(None, "SNAPPY"), ("zstd", "ZSTD")])
def test_parquet_is_compressed_with_int64_utc_micro_timestamps(
    out: Path, compression: str | None, codec: str
) -> None:
    lake = Lake(str(out)) if compression is None else Lake(str(out), compression=compression)
    landed = land(lake, "vid1", 2)
    meta = pq.ParquetFile(landed.segments_path).metadata
    at = SEGMENTS_SCHEMA.get_field_index("retrieved_at")
    assert {meta.row_group(0).column(i).compression for i in range(meta.num_columns)} == {codec}
    assert meta.row_group(0).column(at).physical_type == "INT64"
    logical = meta.schema.column(at).logical_type
    assert logical.type == "TIMESTAMP"
    assert '"isAdjustedToUTC":true' in logical.to_json().replace(" ", "")
    assert '"timeUnit":"microseconds"' in logical.to_json().replace(" ", "")


def test_fsync_mode_lands_the_same_files(out: Path) -> None:
    land(Lake(str(out), fsync=True), "vid1", 2)
    assert files_under(out) == [
        f"segments/index_id={INDEX}/vid1.parquet", f"videos/index_id={INDEX}/vid1.parquet"
    ]


def test_a_video_without_speech_lands_with_zero_rows(lake: Lake, out: Path) -> None:
    table = segments_table(None, video_id="quiet", task_id="t", retrieved_at=RETRIEVED)
    landed = lake.write_video(INDEX, "quiet", table, record("sha-q", duration=None, indexed_at=None))
    assert landed.segment_count == 0
    assert pq.read_table(landed.segments_path).num_rows == 0
    row = lake.landed(INDEX)["sha-q"]
    assert (row.segment_count, row.duration, row.indexed_at) == (0, None, None)


def test_landed_video_reports_paths_and_count(lake: Lake, out: Path) -> None:
    landed = land(lake, "vid1", 3)
    assert landed.segments_path == f"{out}/segments/index_id={INDEX}/vid1.parquet"
    assert landed.videos_path == f"{out}/videos/index_id={INDEX}/vid1.parquet"
    assert landed.segment_count == 3


def test_file_uri_works(out: Path) -> None:
    land(Lake(f"file://{out}"), "vid1", 2)
    assert files_under(out) == [
        f"segments/index_id={INDEX}/vid1.parquet", f"videos/index_id={INDEX}/vid1.parquet"
    ]


def test_memory_uri_works(memory_url: str) -> None:
    lake = Lake(memory_url)
    landed = land(lake, "vid1", 3)
    assert landed.segments_path.startswith("memory://")
    fs, _ = fsspec.core.url_to_fs(memory_url)
    with fs.open(landed.segments_path, "rb") as handle:
        assert pq.read_table(handle)["value"].to_pylist() == ["word 0", "word 1", "word 2"]
    assert lake.landed(INDEX)["sha-vid1"].segment_count == 3


# --- write_video contract -------------------------------------------------------------------------

def test_rerun_overwrites_instead_of_duplicating(lake: Lake, out: Path) -> None:
    land(lake, "vid1", 5)
    land(lake, "vid1", 3, task_id="task-b")
    assert duckdb.sql(
        f"select count(*), list(distinct task_id) "
        f"from read_parquet('{out}/segments/**/*.parquet', hive_partitioning = true)"
    ).fetchall() == [(3, ["task-b"])]
    assert duckdb.sql(
        f"select count(*) from read_parquet('{out}/videos/**/*.parquet')"
    ).fetchall() == [(1,)]
    assert len(files_under(out)) == 2


def test_segments_of_another_schema_are_refused(lake: Lake) -> None:
    wrong = pa.table({"video_id": ["vid1"], "value": ["x"]})
    with pytest.raises(ValueError, match="do not have SEGMENTS_SCHEMA"):
        lake.write_video(INDEX, "vid1", wrong, record())


def test_segments_of_another_video_are_refused(lake: Lake) -> None:
    table = segments_table(transcript(2), video_id="vid1", task_id="t", retrieved_at=RETRIEVED)
    with pytest.raises(ValueError, match="another video than 'vid2'"):
        lake.write_video(INDEX, "vid2", table, record())


@pytest.mark.parametrize("field", ["retrieved_at", "indexed_at"])
def test_naive_datetimes_are_refused(lake: Lake, out: Path, field: str) -> None:
    table = segments_table(transcript(1), video_id="v", task_id="t", retrieved_at=RETRIEVED)
    with pytest.raises(ValueError, match=f"{field} must be a timezone-aware datetime"):
        lake.write_video(INDEX, "v", table, record(**{field: datetime(2024, 1, 1)}))
    assert not out.exists()


def test_crash_before_rename_leaves_no_visible_file(
    lake: Lake, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(src: str, dst: str) -> None:
        raise OSError("disk vanished")

    monkeypatch.setattr(lake_module.os, "replace", crash)
    with pytest.raises(OSError, match="disk vanished"):
        land(lake, "vid1", 3)
    assert files_under(out) == []
    assert lake.landed(INDEX) == {}


def test_interrupted_write_keeps_the_previous_version_whole(
    lake: Lake, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = land(lake, "vid1", 3)
    real_replace = os.replace

    def interrupt_on_videos(src: str, dst: str) -> None:
        if "/videos/" in dst:
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(lake_module.os, "replace", interrupt_on_videos)
    with pytest.raises(KeyboardInterrupt):
        land(lake, "vid1", 7)
    assert sorted(files_under(out)) == [
        f"segments/index_id={INDEX}/vid1.parquet", f"videos/index_id={INDEX}/vid1.parquet"
    ]
    assert pq.read_table(first.segments_path).num_rows == 7
    assert lake.landed(INDEX)["sha-vid1"].segment_count == 3


def test_crash_while_encoding_writes_nothing(
    lake: Lake, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_writer(*args: object, **kwargs: object) -> None:
        raise pa.ArrowIOError("writer died")

    monkeypatch.setattr(lake_module.pq, "write_table", broken_writer)
    with pytest.raises(pa.ArrowIOError):
        land(lake, "vid1", 3)
    assert not out.exists() or files_under(out) == []


def test_segments_first_then_videos_row(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    order: list[str] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        order.append(dst.split("/")[-3])
        real_replace(src, dst)

    monkeypatch.setattr(lake_module.os, "replace", spy)
    land(lake, "vid1", 1)
    assert order == ["segments", "videos"]


# --- landed() ---------------------------------------------------------------------------------

def test_landed_of_an_unknown_index_is_empty(lake: Lake) -> None:
    assert lake.landed(INDEX) == {}


def test_landed_maps_content_hash_to_its_row(lake: Lake) -> None:
    land(lake, "vid1", 3)
    land(lake, "vid2", 0)
    land(lake, "vid9", 1, index_id=OTHER_INDEX)
    landed = lake.landed(INDEX)
    assert sorted(landed) == ["sha-vid1", "sha-vid2"]
    assert landed["sha-vid1"] == LandedRecord(
        video_id="vid1", segment_count=3, task_id="task-a", source="/videos/sha-vid1.mp4",
        content_sha256="sha-vid1", duration=12.5, indexed_at=RETRIEVED - timedelta(minutes=5),
        retrieved_at=RETRIEVED,
    )


def test_landed_prefers_the_latest_row_for_one_hash(lake: Lake) -> None:
    land(lake, "new", 2, sha="same", retrieved_at=RETRIEVED + timedelta(hours=1))
    land(lake, "old", 5, sha="same")
    assert lake.landed(INDEX)["same"].video_id == "new"


def test_landed_ignores_temp_and_corrupt_files(
    lake: Lake, out: Path, caplog: pytest.LogCaptureFixture
) -> None:
    land(lake, "vid1", 3)
    folder = out / "videos" / f"index_id={INDEX}"
    (folder / f".vid2.parquet.{uuid.uuid4().hex}.tmp").write_bytes(b"PAR1 half a file")
    (folder / "vid3.parquet").write_bytes(b"not parquet at all")
    (folder / "notes.txt").write_text("hello")
    with caplog.at_level(logging.WARNING, logger="reelscribe.core.lake"):
        landed = lake.landed(INDEX)
    assert list(landed) == ["sha-vid1"]
    assert "vid3.parquet" in caplog.text and "skipping unreadable" in caplog.text


def test_landed_reads_thousands_of_files(lake: Lake) -> None:
    for n in range(1500):
        land(lake, f"v{n}", 1)
    landed = lake.landed(INDEX)
    assert len(landed) == 1500
    assert {record.video_id for record in landed.values()} == {f"v{n}" for n in range(1500)}


# --- stale temp files -----------------------------------------------------------------------------

def test_clean_up_removes_only_old_temp_files(lake: Lake, out: Path) -> None:
    land(lake, "vid1", 1)
    folder = out / "segments" / f"index_id={INDEX}"
    old = folder / f".vid2.parquet.{uuid.uuid4().hex}.tmp"
    fresh = folder / f".vid3.parquet.{uuid.uuid4().hex}.tmp"
    for temp in (old, fresh):
        temp.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    assert lake.clean_up(INDEX) == CleanupReport(removed=(str(old),))
    assert fresh.exists() and (folder / "vid1.parquet").exists()


def test_clean_up_of_an_unknown_index_or_object_store(memory_url: str, lake: Lake) -> None:
    assert not lake.clean_up(INDEX)
    assert not Lake(memory_url).clean_up(INDEX)


# --- concurrency ------------------------------------------------------------------------------

WRITERS = {"A": 40, "B": 400}


def hammer(out: str, writer: str, rounds: int) -> None:
    """Land the same video again and again; each writer's version is recognisable."""
    lake = Lake(out)
    count = WRITERS[writer]
    for _ in range(rounds):
        land(lake, "shared", count, task_id=f"task-{writer}", sha="same")


def check_whole(path: Path) -> bool:
    """A readable file whose rows all come from one writer, in full.

    Read through one open handle: ``pq.read_table(path)`` opens the path twice (footer, then
    data) and could pair one version's footer with the next version's bytes.
    """
    try:
        with open(path, "rb") as handle:
            table = pq.read_table(handle)
    except FileNotFoundError:
        return False
    tasks = set(table["task_id"].to_pylist())
    assert len(tasks) == 1, f"mixed file: {tasks}"
    writer = tasks.pop().removeprefix("task-")
    assert table.num_rows == WRITERS[writer], "torn file"
    return True


def test_two_processes_writing_one_video_never_tear_a_file(
    out: Path, caplog: pytest.LogCaptureFixture
) -> None:
    context = multiprocessing.get_context("spawn")
    writers = [
        context.Process(target=hammer, args=(str(out), name, 150)) for name in WRITERS
    ]
    for process in writers:
        process.start()
    segments = out / "segments" / f"index_id={INDEX}" / "shared.parquet"
    reader, reads = Lake(str(out)), 0
    while any(p.is_alive() for p in writers):
        reads += check_whole(segments)
        assert {r.segment_count for r in reader.landed(INDEX).values()} <= set(WRITERS.values())
    for process in writers:
        process.join()
        assert process.exitcode == 0
    assert check_whole(segments) and reads > 10
    assert files_under(out) == [
        f"segments/index_id={INDEX}/shared.parquet", f"videos/index_id={INDEX}/shared.parquet"
    ]
    assert Lake(str(out)).landed(INDEX)["same"].segment_count in WRITERS.values()
    assert "skipping unreadable" not in caplog.text


def test_all_digit_index_ids_read_as_text_with_hive_types(lake: Lake, out: Path) -> None:
    land(lake, "vid1", 1, index_id="0123")
    rows = duckdb.sql(
        f"select index_id from read_parquet('{out}/segments/**/*.parquet', "
        f"hive_partitioning = true, hive_types = {{'index_id': VARCHAR}})"
    ).fetchall()
    assert rows == [("0123",)]


def test_the_demo_shows_a_lake_whose_path_has_a_quote(tmp_path: Path, capsys) -> None:
    """The path goes to DuckDB as a parameter, never pasted into the SQL text."""
    from reelscribe.cli.terminal import show_lake

    out = tmp_path / "it's a lake"
    land(Lake(str(out)), "vid-quote", 3)
    show_lake(str(out))
    shown = capsys.readouterr().out
    assert "vid-quote" in shown and "word 2" in shown
