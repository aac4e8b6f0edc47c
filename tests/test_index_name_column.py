"""``videos.index_name``: an addition. A lake landed before it existed still reads (null), both formats."""

from __future__ import annotations

import dataclasses

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from reelscribe.core.delta_lake import DeltaLake
from reelscribe.core.lake import Lake, video_tables
from reelscribe.core.schema import VIDEOS_SCHEMA
from tests.test_delta_lake import INDEX, record, segments

OLD_VIDEOS_SCHEMA = pa.schema([f for f in VIDEOS_SCHEMA if f.name != "index_name"])


def old_videos_row(video_id: str) -> pa.Table:
    """The videos row of ``video_id`` as a version without the column wrote it."""
    row = video_tables(video_id, segments(video_id, 2), record(video_id))["videos"]
    return row.select(OLD_VIDEOS_SCHEMA.names).cast(OLD_VIDEOS_SCHEMA)


@pytest.mark.parametrize("table_format", ["parquet", "delta"])
def test_an_old_lake_reads_and_new_landings_carry_the_index_name(tmp_path, table_format):
    out = str(tmp_path / "lake")
    old = old_videos_row("v-old")
    if table_format == "parquet":
        partition = tmp_path / "lake" / "videos" / f"index_id={INDEX}"
        partition.mkdir(parents=True)
        pq.write_table(old, partition / "v-old.parquet")
        lake = Lake(out)
        lake.write_video(INDEX, "v-new", segments("v-new", 2), dataclasses.replace(record("v-new"), index_name="talks"))
    else:
        write_deltalake(f"{out}/videos", old.append_column("index_id", pa.array([INDEX])), partition_by=["index_id"])
        lake = DeltaLake(out)
        batch = {"v-new": video_tables("v-new", segments("v-new", 2),
                                       dataclasses.replace(record("v-new"), index_name="talks"))}
        lake.write_batch(INDEX, batch)
    landed = {r.video_id: r.index_name for r in lake.landed(INDEX).values()}
    assert landed == {"v-old": None, "v-new": "talks"}
