"""Which table format a lake uses, decided in one place: per-video Parquet files or Delta tables.

``parquet`` (``reelscribe.core.lake.Lake``): one file per video per table, read by any glob;
simple and fastest while the lake is small. ``delta`` (``reelscribe.core.delta_lake.DeltaLake``):
one Delta table per table, batch commits, in-place refresh and compaction; the format for a
lake that grows past about 10,000 videos or lives on an object store. A lake is one or the
other: opening it as the wrong one is refused with the command that fixes it.
"""

from __future__ import annotations

from typing import Any, Literal

import fsspec

from reelscribe.core.errors import ConfigError
from reelscribe.core.lake import Lake
from reelscribe.core.lake_writer import LakeWriter
from reelscribe.core.table_format import DEFAULT_TABLE_FORMAT, DELTA_LOG, MARKER_TABLE, TABLE_FORMATS, TableFormat

__all__ = [
    "DEFAULT_TABLE_FORMAT", "TABLE_FORMATS", "LakeKind", "LakeWriter", "TableFormat", "commits_in_batches", "lake_kind",
    "open_lake",
]
LakeKind = Literal["missing", "not-a-lake", "parquet", "delta"]
# Delta files are named part-…; a per-video lake's are <video_id>.parquet.
_DELTA_DATA_PREFIX = "part-"


def open_lake(out: str, table_format: TableFormat = DEFAULT_TABLE_FORMAT, **storage_options: Any) -> LakeWriter:
    """The lake under ``out`` in ``table_format``; ``ConfigError`` if ``out`` holds the other one.

    ``storage_options``: fsspec's for ``out`` (a storage block's credentials), given to either format."""
    if table_format not in TABLE_FORMATS:
        raise ConfigError(f"unknown table format {table_format!r}: expected one of {', '.join(TABLE_FORMATS)}")
    if table_format == "parquet":
        # Through fsspec, not delta-rs: a per-video lake never needs the Delta engine.
        lake = Lake(out, **storage_options)
        log_dir = f"{lake.root.rstrip('/')}/{MARKER_TABLE}/{DELTA_LOG}"
        lake.fs.invalidate_cache(log_dir)
        if lake.fs.exists(log_dir):
            raise ConfigError(_MISMATCH["delta"].format(out=out))
        return lake
    from reelscribe.core.delta_lake import DeltaLake, is_delta_table  # delta-rs loads only for a Delta lake

    delta = DeltaLake(out, **storage_options)
    if not is_delta_table(delta.table_uri(MARKER_TABLE), delta.storage_options) and _holds_video_files(
        delta.fs, f"{delta.root}/{MARKER_TABLE}"
    ):
        raise ConfigError(_MISMATCH["parquet"].format(out=out))
    return delta


def lake_kind(out: str) -> LakeKind:
    """What ``out`` holds: nothing (``missing``), something else (``not-a-lake``), or a lake of a format.

    For maintenance commands, which must not "succeed" on a mistyped path or turn a folder that
    merely has a ``videos/`` subfolder into Delta tables.
    """
    from reelscribe.core.delta_lake import DeltaLake, is_delta_table

    delta = DeltaLake(out)
    delta.fs.invalidate_cache()
    if not delta.fs.exists(delta.root):
        return "missing"
    if is_delta_table(delta.table_uri(MARKER_TABLE), delta.storage_options):
        return "delta"
    if _holds_video_files(delta.fs, f"{delta.root}/{MARKER_TABLE}"):
        return "parquet"
    return "not-a-lake"


def commits_in_batches(table_format: TableFormat) -> bool:
    """Whether land steps stage videos for a later batch commit (``LakeWriter.commit``), known
    before a lake is opened."""
    return table_format == "delta"


def _holds_video_files(fs: fsspec.AbstractFileSystem, videos: str) -> bool:
    """Whether a ``videos`` table without a Delta log holds per-video files.

    Lists one partition: paid only before a Delta lake's first commit or on the way to the
    error. Data files of a Delta table whose first commit never happened do not count.
    """
    fs.invalidate_cache()
    try:
        partitions = [p for p in fs.ls(videos, detail=False) if "index_id=" in p]
    except FileNotFoundError:
        return False
    for partition in partitions:
        names = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(partition, detail=False)]
        data = [n for n in names if n.endswith(".parquet") and not n.startswith((".", "_"))]
        if data:
            return not all(n.startswith(_DELTA_DATA_PREFIX) for n in data)
    return False


_MISMATCH = {
    "delta": "{out} is a Delta lake: run with --table-format delta (flow parameter table_format='delta')",
    "parquet": "{out} is a per-video Parquet lake: convert it first with `reelscribe lake convert {out}`, "
    "or run with --table-format parquet",
}
