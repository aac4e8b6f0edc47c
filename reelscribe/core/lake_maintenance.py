"""Keeping a Delta lake fast: compaction, checkpoints and clean-up; and converting a per-video lake.

``compact_table`` is safe while runs are landing: compaction only rewrites files that were
appended (``optimize.compact`` fails rather than commit over a conflicting change, and is
retried against the newer version), and ``vacuum`` deletes only files that no version within
the retention window references, so a reader that opened an older version keeps its files and a
writer's not-yet-committed files are younger than any retention. Keep the default 7 days on a
shared store: a shorter one can delete files a long query or a slow writer still needs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import fsspec

from deltalake import Field, Schema, convert_to_deltalake
from deltalake.schema import PrimitiveType

from reelscribe.core.delta_lake import MARKER_TABLE, PARTITION, DeltaLake, retry_commits, writer_properties
from reelscribe.core.errors import ConfigError
from reelscribe.core.lake import Lake
from reelscribe.core.lake_format import LAKE_TABLES, lake_kind
from reelscribe.core.lake_writer import CleanupReport
from reelscribe.core.schema import TERMS_TABLE
from reelscribe.core.source_state import SOURCES_TABLE
from reelscribe.core.stores import filesystem
from reelscribe.core.table_format import DEFAULT_RETENTION_HOURS, DELTA_LOG
from reelscribe.core.term_index import INDEXED_TABLES, update_index

__all__ = [
    "COMPACT_TARGET_BYTES", "CONVERTING", "DEFAULT_RETENTION_HOURS", "Compacted", "compact_delta_table", "compact_table", "convert_lake",
    "delta_tables", "finish_interrupted",
]

log = logging.getLogger(__name__)

# Files of ~4 MB (~1,300 videos of 60 segments): refreshing a video rewrites the whole file that
# holds it (delta-rs writes no deletion vectors), so files stay small enough for that to take a
# fraction of a second; a query over 100,000 videos then reads ~75 files, which costs little.
COMPACT_TARGET_BYTES = 4 * 1024 * 1024
_PARTITION_SCHEMA = Schema([Field(PARTITION, PrimitiveType("string"))])


@dataclass(frozen=True)
class Compacted:
    """What one table's maintenance did."""

    table: str
    files_removed: int
    files_added: int
    version: int
    vacuumed: int


def compact_table(
    lake: DeltaLake, name: str, *, retention_hours: int = DEFAULT_RETENTION_HOURS
) -> Compacted:
    """Compact small files, write a checkpoint, delete files unreferenced for ``retention_hours``;
    for ``segments`` and ``words``, then index the terms of the files it left (``term_index``).

    The seen-source state is first reduced to its latest row per source (``reduce_sources``),
    so it stays one row per source however often objects are overwritten.
    """
    table = lake.open(name)
    if table is None:
        raise ConfigError(f"{lake.table_uri(name)} is not a Delta table")
    if name == SOURCES_TABLE and (dropped := lake.reduce_sources()):
        log.info("seen-source state: %d superseded row(s) dropped", dropped)

    def compact() -> dict:
        table.update_incremental()
        return table.optimize.compact(target_size=COMPACT_TARGET_BYTES, writer_properties=writer_properties())

    metrics = retry_commits(compact, what=f"compaction of {name}")
    table.update_incremental()
    table.create_checkpoint()
    table.cleanup_metadata()
    vacuumed = table.vacuum(retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False)
    if name in INDEXED_TABLES:  # the term index of the files compaction left (search: term_index)
        update_index(lake, name)
    return Compacted(
        table=name,
        files_removed=int(metrics.get("numFilesRemoved", 0)),
        files_added=int(metrics.get("numFilesAdded", 0)),
        version=table.version(),
        vacuumed=len(vacuumed),
    )


def delta_tables(out: str) -> list[str]:
    """The Delta tables of the lake under ``out`` (the compaction flow's work list)."""
    return DeltaLake(out).tables()


def compact_delta_table(out: str, name: str, *, retention_hours: int = DEFAULT_RETENTION_HOURS) -> Compacted:
    """``compact_table`` of the Delta lake under ``out``."""
    return compact_table(DeltaLake(out), name, retention_hours=retention_hours)


def finish_interrupted(out: str) -> CleanupReport:
    """Commit what runs that died left staged over an hour ago, in every index of ``out``."""
    lake = DeltaLake(out)
    report = CleanupReport()
    for index_id in lake.staging_indexes():
        report += lake.clean_up(index_id)
    return report


CONVERTING = "_converting"
"""A file at the lake root while ``convert_lake`` is at work: a re-run finishes what it started."""


def convert_lake(out: str) -> list[str]:
    """Turn the per-video lake under ``out`` into Delta tables in place, all or nothing; returns the tables converted.

    Nothing is copied or re-transcribed: each table's existing files become its first Delta
    version (the log is written beside them). Only the lake's tables are converted
    (``lake_format.LAKE_TABLES``); other folders (``subtitles/``, ``_claims/``, …) are left alone.

    The ``videos`` table is the switch (``lake_format``): until its log is written the lake
    reads and lands as the per-video lake it was, and the logs written beside the other tables
    are ignored; a re-run discards them and converts every table again, so files a per-video
    run landed meanwhile are in. After the switch every table is compacted (``compact_table``;
    reading one file per video made each run's landed read several times slower); a re-run
    finishes an interrupted compaction (``CONVERTING`` marks it). The per-video files stay
    until ``vacuum`` deletes them after the retention. Stop per-video runs first: a file they
    write after the switch is in no table (its video is sent again by the next run).
    """
    kind = lake_kind(out)
    fs, root = filesystem(out)
    root = root.rstrip("/")
    if kind in ("missing", "not-a-lake"):
        raise ConfigError(f"{out} holds no lake (no {MARKER_TABLE}/ table with landed videos) to convert")
    if kind == "delta":
        if not fs.exists(f"{root}/{CONVERTING}"):
            return []
        lake = DeltaLake(out)
        _finish(lake, fs, root)
        return [n for n in lake.tables() if n not in (TERMS_TABLE, MARKER_TABLE)] + [MARKER_TABLE]
    fs.pipe_file(f"{root}/{CONVERTING}", b"")
    per_video = Lake(out)
    for index_id in _index_ids(fs, f"{root}/{MARKER_TABLE}"):
        per_video.clean_up(index_id, older_than_s=0)
    tables = [n for n in LAKE_TABLES if n != TERMS_TABLE]
    for name in tables:
        _discard_log(fs, f"{root}/{name}")
    names = [n for n in tables if _holds_data(fs, f"{root}/{n}")]
    lake = DeltaLake(out)
    for name in [n for n in names if n != MARKER_TABLE] + [MARKER_TABLE]:
        _convert_table(lake, fs, f"{root}/{name}", name)
    _finish(lake, fs, root)
    return [n for n in names if n != MARKER_TABLE] + [MARKER_TABLE]


def _convert_table(lake: DeltaLake, fs: fsspec.AbstractFileSystem, folder: str, name: str) -> None:
    """Write the table's first Delta version over the files it holds (partitioned by index where it is)."""
    by_index = {"partition_by": _PARTITION_SCHEMA, "partition_strategy": "hive"} if _index_ids(fs, folder) else {}
    convert_to_deltalake(lake.table_uri(name), mode="ignore", storage_options=lake.storage_options, **by_index)
    log.info("converted %s to a Delta table", lake.table_uri(name))


def _finish(lake: DeltaLake, fs: fsspec.AbstractFileSystem, root: str) -> None:
    """Compact every table of the converted lake, then drop the ``CONVERTING`` mark."""
    fs.invalidate_cache()  # the listings above must not hide the files compaction writes (same fsspec instance)
    for name in lake.tables():
        if name == TERMS_TABLE:
            continue  # written by the compaction of segments and words
        result = compact_table(lake, name)
        log.info("compacted %s: %d files into %d", name, result.files_removed, result.files_added)
    fs.rm_file(f"{root}/{CONVERTING}")


def _discard_log(fs: fsspec.AbstractFileSystem, folder: str) -> None:
    """Remove a Delta log an interrupted conversion left beside a per-video table (no reader uses it)."""
    log_dir = f"{folder}/{DELTA_LOG}"
    fs.invalidate_cache(folder)
    if fs.exists(log_dir):
        fs.rm(log_dir, recursive=True)
        log.info("discarded the log an interrupted conversion left in %s", folder)


def _index_ids(fs: fsspec.AbstractFileSystem, folder: str) -> list[str]:
    try:
        entries = fs.ls(folder, detail=False)
    except FileNotFoundError:
        return []
    return [e.rstrip("/").rsplit("=", 1)[-1] for e in entries if e.rstrip("/").rsplit("/", 1)[-1].startswith(f"{PARTITION}=")]


def _holds_data(fs: fsspec.AbstractFileSystem, folder: str) -> bool:
    """Whether ``folder`` holds a Parquet data file, directly or in an index's partition."""
    try:
        entries = fs.ls(folder, detail=True)
    except FileNotFoundError:
        return False
    for entry in entries:
        name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
        if name.startswith((".", "_")):
            continue
        if entry["type"] == "file" and name.endswith(".parquet"):
            return True
        if entry["type"] == "directory" and name.startswith(f"{PARTITION}=") and _holds_data(fs, entry["name"]):
            return True
    return False
