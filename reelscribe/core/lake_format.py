"""Which table format a lake uses, decided in one place: per-video Parquet files or Delta tables.

``parquet`` (``reelscribe.core.lake.Lake``): one file per video per table, read by any glob;
simple and fastest while the lake is small. ``delta`` (``reelscribe.core.delta_lake.DeltaLake``):
one Delta table per table, batch commits, in-place refresh and compaction; the format for a
lake that grows past about 10,000 videos or lives on an object store.

An existing lake's format is read from the lake (``lake_format``), by every command and flow:
a format asked for (``--table-format``, the flows' ``table_format``) only chooses the format of
a new lake, and is refused where it contradicts the lake (``resolve_table_format``). The switch
is the ``videos`` table: a lake is a Delta lake once ``videos/_delta_log`` holds a commit, which
is also the last step of ``lake convert``, so a conversion that stops earlier leaves a lake that
every reader and writer still takes for the per-video lake it was.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import fsspec

from reelscribe.core.errors import ConfigError, ReelscribeError
from reelscribe.core.failure_memory import FAILURES_TABLE
from reelscribe.core.lake import Lake
from reelscribe.core.lake_writer import LakeWriter
from reelscribe.core.schema import TABLES, TERMS_TABLE
from reelscribe.core.source_state import SOURCES_TABLE
from reelscribe.core.stores import filesystem, store_error
from reelscribe.core.table_format import DEFAULT_TABLE_FORMAT, DELTA_LOG, MARKER_TABLE, TABLE_FORMATS, TableFormat

__all__ = [
    "DEFAULT_TABLE_FORMAT", "LAKE_TABLES", "TABLE_FORMATS", "LakeKind", "LakeWriter", "TableFormat", "commits_in_batches",
    "has_delta_log", "lake_format", "lake_kind", "open_lake", "resolve_table_format",
]
LakeKind = Literal["missing", "not-a-lake", "parquet", "delta"]
LAKE_TABLES: tuple[str, ...] = (*TABLES, SOURCES_TABLE, FAILURES_TABLE, TERMS_TABLE)
"""Every table a lake root can hold; any other folder there (``subtitles/``, ``_claims/``,
``_pending/``, ``_staging/``, an export's own) is no table."""
# Delta files are named part-…; a per-video lake's are <video_id>.parquet.
_DELTA_DATA_PREFIX = "part-"
# A Delta log holds a table once it has a commit or a checkpoint; a crash can leave it empty.
_COMMIT = re.compile(r"^(\d{20}\.json|\d{20}\.checkpoint(\.\d+\.\d+)?\.parquet|_last_checkpoint)$")


def lake_format(out: str, **storage_options: Any) -> TableFormat | None:
    """The format of the lake under ``out``; ``None`` where no lake has been written yet.

    ``delta`` once ``videos`` has a Delta log with a commit; ``parquet`` once ``videos`` holds
    per-video files (whatever logs an interrupted ``lake convert`` left beside other tables);
    ``delta`` also where only other tables have a log (a new Delta lake whose first commit
    stopped before ``videos``). Two or three listings, no Delta engine.
    """
    fs, root = filesystem(out, **storage_options)
    root = root.rstrip("/")
    fs.invalidate_cache()
    try:
        if has_delta_log(fs, f"{root}/{MARKER_TABLE}"):
            return "delta"
        if _holds_video_files(fs, f"{root}/{MARKER_TABLE}"):
            return "parquet"
        if any(has_delta_log(fs, f"{root}/{name}") for name in LAKE_TABLES if name != MARKER_TABLE):
            return "delta"
    except ReelscribeError:
        raise
    except Exception as exc:  # noqa: BLE001 - every driver raises its own types: one line naming the store
        raise store_error(out, exc) from exc
    return None


def resolve_table_format(out: str, requested: TableFormat | None = None, **storage_options: Any) -> TableFormat:
    """The format to use for ``out``: the lake's own; for a new lake ``requested``, else the default.

    ``ConfigError`` (one line) if ``requested`` contradicts the lake or is no format."""
    if requested is not None and requested not in TABLE_FORMATS:
        raise ConfigError(f"unknown table format {requested!r}: expected one of {', '.join(TABLE_FORMATS)}")
    found = lake_format(out, **storage_options)
    if found is None:
        return requested or DEFAULT_TABLE_FORMAT
    if requested is not None and requested != found:
        raise ConfigError(_CONTRADICTION[found].format(out=out))
    return found


def open_lake(
    out: str, table_format: TableFormat | None = None, *, create: bool = False, **storage_options: Any
) -> LakeWriter:
    """The lake under ``out`` in its own format (``resolve_table_format``, for ``table_format``
    ``None``); ``ConfigError`` if ``table_format`` contradicts it.

    ``create``: a run's writer, which records a new Delta lake's format at once (its empty
    ``videos`` table), so a first run that lands nothing still leaves a Delta lake. Readers and
    ``plan`` leave it ``False`` and write nothing. ``storage_options``: fsspec's for ``out`` (a
    storage block's credentials), given to either format.
    """
    if table_format is None:
        table_format = resolve_table_format(out, None, **storage_options)
    else:
        _refuse_contradiction(out, table_format, **storage_options)
    if table_format == "parquet":
        return Lake(out, **storage_options)  # through fsspec: a per-video lake never loads the Delta engine
    from reelscribe.core.delta_lake import DeltaLake  # delta-rs loads only for a Delta lake

    delta = DeltaLake(out, **storage_options)
    if create:
        delta.create_marker()
    return delta


def _refuse_contradiction(out: str, table_format: TableFormat, **storage_options: Any) -> None:
    """``ConfigError`` if the lake under ``out`` is of the other format than ``table_format``.

    For the land steps, which open the lake for every video with the format their flow resolved:
    a ``parquet`` check lists only ``videos/_delta_log``, not a partition of per-video files.
    """
    if table_format not in TABLE_FORMATS:
        raise ConfigError(f"unknown table format {table_format!r}: expected one of {', '.join(TABLE_FORMATS)}")
    fs, root = filesystem(out, **storage_options)
    videos = f"{root.rstrip('/')}/{MARKER_TABLE}"
    fs.invalidate_cache()
    try:
        delta = has_delta_log(fs, videos)
        if table_format == "parquet" and delta:
            raise ConfigError(_CONTRADICTION["delta"].format(out=out))
        if table_format == "delta" and not delta and _holds_video_files(fs, videos):
            raise ConfigError(_CONTRADICTION["parquet"].format(out=out))
    except ReelscribeError:
        raise
    except Exception as exc:  # noqa: BLE001 - every driver raises its own types: one line naming the store
        raise store_error(out, exc) from exc


def lake_kind(out: str, **storage_options: Any) -> LakeKind:
    """What ``out`` holds: nothing (``missing``), something else (``not-a-lake``), or a lake of a format.

    For maintenance commands, which must not "succeed" on a mistyped path or turn a folder that
    merely has a ``videos/`` subfolder into Delta tables.
    """
    fs, root = filesystem(out, **storage_options)
    fs.invalidate_cache()
    if not fs.exists(root.rstrip("/")):
        return "missing"
    return lake_format(out, **storage_options) or "not-a-lake"


def commits_in_batches(table_format: TableFormat) -> bool:
    """Whether land steps stage videos for a later batch commit (``LakeWriter.commit``), known
    before a lake is opened."""
    return table_format == "delta"


def has_delta_log(fs: fsspec.AbstractFileSystem, table: str) -> bool:
    """Whether the table folder ``table`` has a Delta log with a commit (an empty one does not count)."""
    try:
        names = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(f"{table}/{DELTA_LOG}", detail=False)]
    except (FileNotFoundError, NotADirectoryError):
        return False
    return any(_COMMIT.match(n) for n in names)


def _holds_video_files(fs: fsspec.AbstractFileSystem, videos: str) -> bool:
    """Whether a ``videos`` table without a Delta log holds per-video files.

    Lists one partition. Data files of a Delta table whose first commit never happened do not count.
    """
    try:
        partitions = [p for p in fs.ls(videos, detail=False) if "index_id=" in p]
    except (FileNotFoundError, NotADirectoryError):
        return False
    for partition in partitions:
        names = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(partition, detail=False)]
        data = [n for n in names if n.endswith(".parquet") and not n.startswith((".", "_"))]
        if data:
            return not all(n.startswith(_DELTA_DATA_PREFIX) for n in data)
    return False


_CONTRADICTION = {
    "delta": "{out} is a Delta lake, not parquet: leave out --table-format (flow parameter table_format), "
    "the format is read from the lake",
    "parquet": "{out} is a per-video Parquet lake: to make it a Delta lake run `reelscribe lake convert {out}`, "
    "or leave out --table-format (flow parameter table_format) to use it as it is",
}
