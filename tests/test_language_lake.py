"""The ``language`` columns in both table formats, and lakes landed before they existed.

An old lake is made the way an earlier version wrote it: the same rows without ``language``. New
videos then land beside them (the Delta tables evolve their schema on the write) and everything reads.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from reelscribe.core.flatten import segments_table
from reelscribe.core.lake import table_path, video_tables
from reelscribe.core.records import VideoRecord
from reelscribe.core.lake_format import TABLE_FORMATS, open_lake

INDEX = "6650a1b2c3d4e5f6a7b8c9d0"
AT = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def _tables(video_id: str, language: str | None) -> dict[str, pa.Table]:
    spoken = [{"start": 0.0, "end": 1.0, "value": "Guten Tag", "language": language}, {"start": 1.0, "end": 2.0, "value": "hello"}]
    segments = segments_table(spoken, video_id=video_id, task_id=f"task-{video_id}", retrieved_at=AT)
    record = VideoRecord(task_id=f"task-{video_id}", source=f"/v/{video_id}.mp4", content_sha256=f"sha-{video_id}",
                         duration=2.0, indexed_at=AT, retrieved_at=AT, language=language)
    return video_tables(video_id, segments, record)


def _without_language(tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
    return {name: table.drop_columns(["language"]) if "language" in table.column_names else table for name, table in tables.items()}


def _land_old(out: Path, table_format: str, video_id: str) -> None:
    """What an earlier version landed: the tables with no ``language`` column."""
    old = _without_language(_tables(video_id, None))
    if table_format == "delta":
        open_lake(str(out), "delta").write_batch(INDEX, {video_id: old})
    else:
        for name, table in old.items():
            Path(table_path(str(out), name, INDEX, video_id)).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, table_path(str(out), name, INDEX, video_id))


def _read(out: Path, table_format: str, table: str) -> list[dict]:
    if table_format == "delta":
        rows = DeltaTable(str(out / table)).to_pyarrow_table()
    else:
        rows = duckdb.sql(
            f"select * from read_parquet('{out}/{table}/**/*.parquet', hive_partitioning = true, union_by_name = true)"
        ).to_arrow_table()
    return sorted(rows.select(["video_id", "language"]).to_pylist(), key=lambda row: (row["video_id"], str(row["language"])))


@pytest.mark.parametrize("table_format", TABLE_FORMATS)
def test_an_old_lake_takes_new_videos_with_their_language(tmp_path: Path, table_format: str) -> None:
    out = tmp_path / "lake"
    _land_old(out, table_format, "old")
    lake = open_lake(str(out), table_format)
    segments = _tables("new", "de")["segments"]
    record = VideoRecord(task_id="task-new", source="/v/new.mp4", content_sha256="sha-new", duration=2.0,
                         indexed_at=AT, retrieved_at=AT, language="de")
    lake.write_video(INDEX, "new", segments, record)
    landed = lake.landed(INDEX)
    assert {sha: row.language for sha, row in landed.items()} == {"sha-old": None, "sha-new": "de"}
    assert _read(out, table_format, "videos") == [{"video_id": "new", "language": "de"}, {"video_id": "old", "language": None}]
    assert _read(out, table_format, "segments") == [
        {"video_id": "new", "language": None},
        {"video_id": "new", "language": "de"},
        {"video_id": "old", "language": None},
        {"video_id": "old", "language": None},
    ]
