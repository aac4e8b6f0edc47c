"""Compacted Delta lakes for ``bench_search``, written in bulk and kept under ``bench/out/lakes``.

A lake of ``n`` videos is what ``bench_lake_scale.build_delta`` + ``compact_table`` leave (the
same rows: ``segments_of(n)`` and ``record_of(n)`` for every video, one index, partitioned by
``index_id=``, the lake's writer properties and compaction's 4 MB file target, a checkpoint),
but each table is written in one commit from columns built with Arrow compute, not landed video
by video: 100,000 videos take about a minute instead of twenty. Built once into a temporary
folder and renamed into place, so a cache hit is always a whole lake; re-runs reuse it.

``indexed_lake`` then adds the term index as compaction writes it (``term_index.update_index``
of ``segments``, the call ``compact_table`` ends with, and a checkpoint): incremental, so a lake cached before the
index existed, or one whose indexing was interrupted, is completed in place by the next run.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake

from bench.bench_lake_scale import _HALF, _POOL, INDEX, RETRIEVED, SEGMENTS, video_id
from bench.common import OUT
from reelscribe.core.delta_lake import PARTITION, DeltaLake, writer_properties
from reelscribe.core.lake_maintenance import COMPACT_TARGET_BYTES
from reelscribe.core.schema import SEGMENTS_SCHEMA, UTC_MICROS, VIDEOS_SCHEMA
from reelscribe.core.term_index import TERMS_TABLE, update_index

LAKES = OUT / "lakes"
# Bump when the rows or the layout change, so that a cached lake of the old shape is not reused.
LAYOUT = "v1"
CHUNK_VIDEOS = 20_000
_HEADS = pa.array([s[:_HALF] for s in _POOL], pa.string())
_TAILS = pa.array([s[_HALF:] for s in _POOL], pa.string())


def cached_lake(size: int) -> tuple[str, float | None]:
    """The lake of ``size`` videos, and how long building it took (``None``: reused from the cache)."""
    final = LAKES / f"search-delta-{size}-{LAYOUT}"
    if final.exists():
        return str(final), None
    started = time.perf_counter()
    building = LAKES / f".building-{final.name}"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    for name, schema, batches in (
        ("segments", SEGMENTS_SCHEMA, _segment_batches(size)),
        ("videos", VIDEOS_SCHEMA, _video_batches(size)),
    ):
        with_partition = schema.append(pa.field(PARTITION, pa.string(), nullable=False))
        write_deltalake(
            str(building / name),
            pa.RecordBatchReader.from_batches(with_partition, batches),
            partition_by=[PARTITION],
            target_file_size=COMPACT_TARGET_BYTES,
            writer_properties=writer_properties(),
        )
        DeltaTable(str(building / name)).create_checkpoint()
    building.rename(final)
    return str(final), time.perf_counter() - started


def indexed_lake(size: int) -> tuple[str, float | None, float | None]:
    """``cached_lake(size)`` with its term index; and how long building each took (``None``: cached)."""
    out, built_s = cached_lake(size)
    started = time.perf_counter()
    lake = DeltaLake(out)
    update = update_index(lake, "segments")
    if update.indexed:
        lake.open(TERMS_TABLE).create_checkpoint()  # as the daily compaction leaves it
    return out, built_s, (time.perf_counter() - started) if update.indexed else None


def _chunks(size: int) -> Iterator[np.ndarray]:
    for first in range(0, size, CHUNK_VIDEOS):
        yield np.arange(first, min(first + CHUNK_VIDEOS, size), dtype=np.int64)


def _segment_batches(size: int) -> Iterator[pa.RecordBatch]:
    """``bench_lake_scale.segments_of(n)`` for every video, a chunk of videos at a time."""
    pool = len(_POOL)
    for videos in _chunks(size):
        n = np.repeat(videos, SEGMENTS)
        i = np.tile(np.arange(SEGMENTS, dtype=np.int64), len(videos))
        ids = pa.array([video_id(int(v)) for v in videos], pa.string())
        per_row = pa.array(np.repeat(np.arange(len(videos)), SEGMENTS))
        starts = i.astype(np.float64) * 3.0
        rows = len(n)
        yield pa.RecordBatch.from_arrays(
            [
                ids.take(per_row),
                pa.array(i.astype(np.int32)),
                pa.array(starts),
                pa.array(starts + 2.5),
                pc.binary_join_element_wise(
                    _HEADS.take(pa.array((n * 7919 + i * 31) % pool)), _TAILS.take(pa.array((n * 104729 + i * 17) % pool)), ""
                ),
                pc.binary_join_element_wise("task-", ids.take(per_row), ""),
                pa.array(np.full(rows, _micros(), dtype="datetime64[us]"), UTC_MICROS),
                pa.nulls(rows, pa.string()),
                pa.array(np.full(rows, INDEX, dtype=object), pa.string()),
            ],
            schema=SEGMENTS_SCHEMA.append(pa.field(PARTITION, pa.string(), nullable=False)),
        )


def _video_batches(size: int) -> Iterator[pa.RecordBatch]:
    """``bench_lake_scale.record_of(n)``'s row for every video."""
    for videos in _chunks(size):
        ids = [video_id(int(v)) for v in videos]
        rows = len(ids)
        when = pa.array(np.full(rows, _micros(), dtype="datetime64[us]"), UTC_MICROS)
        columns = {
            "video_id": pa.array(ids, pa.string()),
            "task_id": pa.array([f"task-{v}" for v in ids], pa.string()),
            "source": pa.array([f"s3://videos/{v}.mp4" for v in ids], pa.string()),
            "content_sha256": pa.array([f"{int(v):064x}" for v in videos], pa.string()),
            "duration": pa.array(np.full(rows, 180.0)),
            "segment_count": pa.array(np.full(rows, SEGMENTS, dtype=np.int32)),
            "indexed_at": when,
            "retrieved_at": when,
        }
        arrays = [columns.get(f.name, pa.nulls(rows, f.type)) for f in VIDEOS_SCHEMA]
        arrays.append(pa.array([INDEX] * rows, pa.string()))
        yield pa.RecordBatch.from_arrays(arrays, schema=VIDEOS_SCHEMA.append(pa.field(PARTITION, pa.string(), nullable=False)))


def _micros() -> np.datetime64:
    return np.datetime64(RETRIEVED.replace(tzinfo=None), "us")
