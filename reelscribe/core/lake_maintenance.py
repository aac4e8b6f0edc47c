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

from deltalake import Field, Schema, convert_to_deltalake
from deltalake.schema import PrimitiveType

from reelscribe.core.delta_lake import (
    MARKER_TABLE,
    PARTITION,
    STAGING,
    DeltaLake,
    is_delta_table,
    retry_commits,
    writer_properties,
)
from reelscribe.core.errors import ConfigError
from reelscribe.core.lake import Lake
from reelscribe.core.lake_writer import CleanupReport
from reelscribe.core.source_state import SOURCES_TABLE
from reelscribe.core.stores import filesystem
from reelscribe.core.table_format import DEFAULT_RETENTION_HOURS
from reelscribe.core.term_index import INDEXED_TABLES, update_index

__all__ = [
    "COMPACT_TARGET_BYTES", "DEFAULT_RETENTION_HOURS", "Compacted", "compact_delta_table", "compact_table", "convert_lake",
    "delta_tables", "finish_interrupted",
]

log = logging.getLogger(__name__)

# Files of ~4 MB (~1,300 videos of 60 segments): refreshing a video rewrites the whole file that
# holds it (delta-rs writes no deletion vectors), so files stay small enough for that to take a
# fraction of a second; a query over 100,000 videos then reads ~75 files, which costs little.
COMPACT_TARGET_BYTES = 4 * 1024 * 1024


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


def convert_lake(out: str) -> list[str]:
    """Turn the per-video lake under ``out`` into Delta tables in place; returns the tables converted.

    Nothing is copied or re-transcribed: each table's existing files become its first Delta
    version (the log is written beside them). ``videos`` is converted last, so an interrupted
    conversion is finished by running it again (tables already converted are left alone).
    Stop per-video writers first: a file they write afterwards is not in the table.

    Every table is then compacted (``compact_table``): a converted table has one file per video,
    and reading 30,000 of them made each run's landed read several times slower than on a
    compacted lake. The per-video files stay until ``vacuum`` deletes them after the retention.
    """
    fs, root = filesystem(out)
    fs.invalidate_cache()
    if not fs.exists(f"{root.rstrip('/')}/{MARKER_TABLE}"):
        raise ConfigError(f"{out} holds no lake (no {MARKER_TABLE}/ table) to convert")
    names = sorted(
        n
        for n in (p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(root, detail=False) if fs.isdir(p))
        if not n.startswith(("_", ".")) and n != STAGING
    )
    per_video = Lake(out)
    index_ids = [
        p.rstrip("/").rsplit("=", 1)[-1] for p in fs.ls(f"{root.rstrip('/')}/{MARKER_TABLE}", detail=False) if "index_id=" in p
    ]
    for index_id in index_ids:
        per_video.clean_up(index_id, older_than_s=0)
    lake = DeltaLake(out)
    converted = []
    partition = Schema([Field(PARTITION, PrimitiveType("string"))])
    for name in [n for n in names if n != MARKER_TABLE] + [MARKER_TABLE]:
        if is_delta_table(lake.table_uri(name), lake.storage_options):
            continue
        # The seen-source state is one table for the whole lake, not partitioned by index.
        by_index = {} if name == SOURCES_TABLE else {"partition_by": partition, "partition_strategy": "hive"}
        convert_to_deltalake(lake.table_uri(name), mode="ignore", storage_options=lake.storage_options, **by_index)
        log.info("converted %s to a Delta table", lake.table_uri(name))
        converted.append(name)
    if converted:
        for name in lake.tables():
            result = compact_table(lake, name)
            log.info("compacted %s: %d files into %d", name, result.files_removed, result.files_added)
    return converted
