"""The lake writer: one video's transcript -> hive-partitioned Parquet files, one per table.

Layout (``table_path`` is the only place that knows it; the tables are ``schema.TABLES``)::

    <out>/segments/index_id=<id>/<video_id>.parquet     one row per segment
    <out>/words/index_id=<id>/<video_id>.parquet        one row per word (when the server gives words)
    <out>/utterances/index_id=<id>/<video_id>.parquet   one row per speaker turn (likewise)
    <out>/videos/index_id=<id>/<video_id>.parquet       one row per video: the commit marker

A video counts as landed once its ``videos`` row exists, so that file is written last.

Every file is published whole. On a local filesystem it is written to a hidden temp name in the
same directory (``.<video_id>.parquet.<uuid>.tmp``: no ``*.parquet`` glob, pyarrow dataset or
Spark listing picks it up) and moved into place with ``os.replace``, which is atomic within a
directory; a crash leaves at most a stray temp file (see ``clean_up``), never a torn
``.parquet``. On object stores (``s3://``, ``gs://``, ``memory://``...) the encoded bytes go up
in one ``pipe_file`` PUT: an object becomes visible only once completely uploaded, and there is no
rename to make atomic (an S3 "rename" is a copy plus a delete). Either way concurrent writers of
the same video give last-writer-wins per file, and a re-run overwrites rather than duplicates.

Readers: ``read_parquet('<out>/segments/**/*.parquet', hive_partitioning = true)`` in DuckDB gives
``index_id`` as a column. DuckDB guesses partition types, so an all-digit id would come back as
BIGINT; pass ``hive_types = {'index_id': VARCHAR}`` where ids might be all digits.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Iterable, Literal, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from reelscribe.core.errors import NoSpaceLeft
from reelscribe.core.ids import validate_partition_id
from reelscribe.core.lake_writer import STALE_TEMP_AGE_S, CleanupReport
from reelscribe.core.records import LandedRecord, LandedVideo, VideoRecord
from reelscribe.core.schema import SEGMENTS_SCHEMA, SOURCES_SCHEMA, TABLES, VIDEOS_SCHEMA, require_utc
from reelscribe.core.source_state import SOURCES_TABLE, SeenSource, SeenSources, latest_per_source, sources_table
from reelscribe.core.stores import filesystem

__all__ = [
    "SEGMENTS_SCHEMA",
    "VIDEOS_SCHEMA",
    "Lake",
    "LandedRecord",
    "LandedVideo",
    "TableName",
    "partition_dir",
    "VideoRecord",
    "table_glob",
    "table_path",
    "validate_partition_id",
    "video_tables",
]

log = logging.getLogger(__name__)

TableName = Literal["segments", "words", "utterances", "sentences", "videos"]
_TABLES: tuple[TableName, ...] = tuple(TABLES)  # type: ignore[assignment]
OPTIONAL_TABLES: tuple[TableName, ...] = ("words", "utterances", "sentences")
"""Tables landed only when the server provides them; each has a count column in ``videos``."""
_COUNT_COLUMN = {"words": "word_count", "utterances": "utterance_count", "sentences": "sentence_count"}
_TEMP_SUFFIX = ".tmp"
# The state is one file per run that hashed anything; past this many, the writer merges them
# into one, so the read stays one or a few files at any age of the lake.
SOURCES_FILES_BEFORE_MERGE = 16
_PARQUET_SUFFIX = ".parquet"
# int64 microsecond timestamps marked UTC-adjusted, never INT96, so every reader agrees on them;
# only the PLAIN and dictionary encodings, which every Parquet reader decodes.
_PARQUET_OPTIONS: dict[str, Any] = {
    "coerce_timestamps": "us",
    "allow_truncated_timestamps": False,
    "use_deprecated_int96_timestamps": False,
}
# Dictionary pages only where values repeat; a dictionary for free text or unique floats costs
# time and makes the file bigger. Min/max statistics of free text help no query.
_ENCODING: dict[str, dict[str, Any]] = {
    "segments": {
        "use_dictionary": ["video_id", "task_id", "retrieved_at"],
        "write_statistics": [n for n in SEGMENTS_SCHEMA.names if n != "value"],
    },
    "words": {
        "use_dictionary": ["video_id"],
        "write_statistics": [n for n in TABLES["words"].names if n != "value"],
    },
    "utterances": {
        "use_dictionary": ["video_id", "speaker"],
        "write_statistics": [n for n in TABLES["utterances"].names if n != "value"],
    },
    "sentences": {
        "use_dictionary": ["video_id"],
        "write_statistics": [n for n in TABLES["sentences"].names if n != "value"],
    },
    "videos": {"use_dictionary": False},
    SOURCES_TABLE: {"use_dictionary": False, "write_statistics": ["source", "seen_at"]},
}


def partition_dir(out: str, table: TableName, index_id: str) -> str:
    """``<out>/<table>/index_id=<id>``: the directory holding one index's files of a table."""
    return f"{_table_root(out, table)}/index_id={validate_partition_id(index_id)}"


def table_glob(out: str, table: TableName) -> str:
    """``<out>/<table>/**/*.parquet``: what readers pass to DuckDB (``hive_partitioning = true``)."""
    return f"{_table_root(out, table)}/**/*{_PARQUET_SUFFIX}"


def _table_root(out: str, table: TableName) -> str:
    if table not in _TABLES:
        raise ValueError(f"unknown lake table {table!r}: expected one of {_TABLES}")
    if not out:
        raise ValueError("the lake location (out) must not be empty")
    return f"{out.rstrip('/')}/{table}"


def table_path(out: str, table: TableName, index_id: str, video_id: str) -> str:
    """``<out>/<table>/index_id=<id>/<video_id>.parquet``, both ids validated."""
    name = validate_partition_id(video_id, "video_id")
    return f"{partition_dir(out, table, index_id)}/{name}{_PARQUET_SUFFIX}"


class Lake:
    """Writes and inspects the lake under ``out``: a local path or any fsspec URI."""

    def __init__(
        self,
        out: str,
        *,
        compression: str = "snappy",
        fsync: bool = False,
        **storage_options: Any,
    ) -> None:
        """``out`` plus fsspec ``storage_options`` (credentials, endpoint...) for object stores.

        ``compression``: snappy (default) is the fastest to write and read and the one every
        Parquet reader has; ``"zstd"`` makes files about a third smaller for ~50% more encode
        time. ``fsync``: the atomic rename already guarantees no torn file after a process
        crash, like pyarrow, Spark and DuckDB writers, which do not fsync either.
        ``fsync=True`` also orders and persists every publish against power loss (about 1 ms a
        file); without it a power cut can leave a truncated file behind a rename, to be fixed
        by landing that video again (``refresh``).
        """
        if not out:
            raise ValueError("the lake location (out) must not be empty")
        self.out = out
        self.fs, self.root = filesystem(out, **storage_options)
        self.is_local = isinstance(self.fs, LocalFileSystem)
        self.compression = compression
        self.fsync = fsync

    def write_video(
        self,
        index_id: str,
        video_id: str,
        segments: pa.Table,
        video: VideoRecord,
        extra: Mapping[str, pa.Table] | None = None,
    ) -> LandedVideo:
        """Land one video: its segments file, the ``extra`` tables given, then its videos row.

        ``extra`` maps an optional table (``words``, ``utterances``, ``sentences``) to its rows for this video.
        A re-land replaces the video's landing whole: after the commit marker, a file an earlier
        landing left in an optional table not given now is removed, so no table describes
        another transcript than the videos row (whose counts say ``null`` for it).
        """
        extra = dict(extra or {})
        tables = {"segments": segments, **extra}
        for name, table in tables.items():
            _check_table(name, table, video_id)
        counts = {name: table.num_rows for name, table in extra.items()}
        row = _video_row(video_id, segments.num_rows, counts, video)
        for name in (n for n in _TABLES if n in tables):
            self._publish(table_path(self.root, name, index_id, video_id), self._encode(tables[name], name))
        videos_path = table_path(self.root, "videos", index_id, video_id)
        self._publish(videos_path, self._encode(row, "videos"))
        for name in OPTIONAL_TABLES:
            if name not in extra:
                self._remove(table_path(self.root, name, index_id, video_id))
        segments_path = table_path(self.root, "segments", index_id, video_id)
        return LandedVideo(self._uri(segments_path), self._uri(videos_path), segments.num_rows, counts)

    def landed(self, index_id: str) -> dict[str, LandedRecord]:
        """``content_sha256`` -> videos row for every video landed in ``index_id``.

        Reads only that index's partition, all files as one dataset. If that fails, files are
        read one by one and an unreadable one is skipped with a warning: its video is simply
        not landed and will be landed again. With two rows for one hash the latest wins.
        """
        files = self._published_files(partition_dir(self.root, "videos", index_id))
        if not files:
            return {}
        table = self._read_videos(files).sort_by("retrieved_at")
        return {row["content_sha256"]: LandedRecord(**row) for row in table.to_pylist()}

    def landed_hashes(self, index_id: str) -> frozenset[str]:
        """The content hashes landed in ``index_id``: what a run needs to skip landed videos."""
        return frozenset(self.landed(index_id))

    @property
    def commits_in_batches(self) -> bool:
        """Each video's files are final once written: there is nothing to commit later."""
        return False

    def stage_video(
        self,
        index_id: str,
        video_id: str,
        segments: pa.Table,
        video: VideoRecord,
        extra: Mapping[str, pa.Table] | None = None,
    ) -> LandedVideo:
        """In a per-video lake staging is landing: ``write_video``."""
        return self.write_video(index_id, video_id, segments, video, extra)

    def commit(self, index_id: str, video_ids: Iterable[str]) -> list[str]:
        """Nothing is ever staged here, so nothing is landed by a commit."""
        return []

    def seen_sources(self) -> SeenSources:
        """The state in ``<out>/sources/``: every run's file read as one dataset.

        A file that cannot be read is skipped with a warning: its sources are hashed again.
        """
        files = self._published_files(self._sources_dir())
        if not files:
            return SeenSources()
        return SeenSources(self._read_files(files, SOURCES_SCHEMA))

    def record_sources(self, rows: Sequence[SeenSource]) -> None:
        """Publish this run's rows as one new file; merge the files once there are many.

        Merging writes the latest row of each source into one file, then removes the files it
        read; a run that adds a file meanwhile keeps it. Two merges at once leave duplicate
        rows, which readers collapse.
        """
        if not rows:
            return
        directory = self._sources_dir()
        self._publish(f"{directory}/{_sources_file_name()}", self._encode(sources_table(rows), SOURCES_TABLE))
        files = self._published_files(directory)
        if len(files) <= SOURCES_FILES_BEFORE_MERGE:
            return
        merged = latest_per_source(self._read_files(files, SOURCES_SCHEMA))
        self._publish(f"{directory}/{_sources_file_name()}", self._encode(merged, SOURCES_TABLE))
        for path in files:
            self._remove(path)

    def clean_up(self, index_id: str, older_than_s: float = STALE_TEMP_AGE_S) -> CleanupReport:
        """Remove temp files that crashed writers left in ``index_id`` (``removed``).

        Only files older than ``older_than_s`` go, so a writer still at work keeps its own.
        Object stores never get temp files, so there is nothing to do there.
        """
        if not self.is_local:
            return CleanupReport()
        cutoff = time.time() - older_than_s
        removed = []
        for table in _TABLES:
            for path in _stale_temps(partition_dir(self.root, table, index_id), cutoff):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
                    removed.append(path)
        return CleanupReport(removed=tuple(removed))

    def _sources_dir(self) -> str:
        return f"{self.root.rstrip('/')}/{SOURCES_TABLE}"

    def _encode(self, table: pa.Table, name: TableName) -> pa.Buffer:
        """The whole file in memory first, so publishing it is a single write."""
        sink = pa.BufferOutputStream()
        pq.write_table(
            table, sink, compression=self.compression, **_PARQUET_OPTIONS, **_ENCODING[name]
        )
        return sink.getvalue()

    def _publish(self, path: str, data: pa.Buffer) -> None:
        if self.is_local:
            _replace_atomically(path, data, fsync=self.fsync)
        else:
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            self.fs.pipe_file(path, data.to_pybytes())

    def _remove(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(path)

    def _published_files(self, directory: str) -> list[str]:
        # Object-store clients cache listings per process; other processes land files here.
        self.fs.invalidate_cache(directory)
        try:
            paths = self.fs.ls(directory, detail=False)
        except FileNotFoundError:
            return []
        return sorted(p for p in paths if _is_published(p.rstrip("/").rsplit("/", 1)[-1]))

    def _read_videos(self, files: list[str]) -> pa.Table:
        return self._read_files(files, VIDEOS_SCHEMA)

    def _read_files(self, files: list[str], schema: pa.Schema) -> pa.Table:
        arrow_fs = self._arrow_fs()
        try:
            dataset = ds.dataset(files, schema=schema, format="parquet", filesystem=arrow_fs)
            return dataset.to_table()
        except (pa.ArrowException, OSError):
            return _read_each(files, arrow_fs, schema)

    def _arrow_fs(self) -> pafs.FileSystem:
        """pyarrow's native local filesystem is much faster than going through Python."""
        if self.is_local:
            return pafs.LocalFileSystem()
        return pafs.PyFileSystem(pafs.FSSpecHandler(self.fs))

    def _uri(self, path: str) -> str:
        return path if self.is_local else self.fs.unstrip_protocol(path)


def video_tables(
    video_id: str, segments: pa.Table, video: VideoRecord, extra: Mapping[str, pa.Table] | None = None
) -> dict[str, pa.Table]:
    """One video's validated rows per table, ``videos`` last: what every lake format writes."""
    tables = {"segments": segments, **dict(extra or {})}
    for name, table in tables.items():
        _check_table(name, table, video_id)
    counts = {name: table.num_rows for name, table in tables.items() if name != "segments"}
    return {**tables, "videos": _video_row(video_id, segments.num_rows, counts, video)}


def _check_table(name: str, table: pa.Table, video_id: str) -> None:
    """Refuse a table that is not ``reelscribe.core.flatten`` output of ``name`` for this very video."""
    if name not in _TABLES or name == "videos":
        raise ValueError(f"{name!r} is not a lake table a video's rows go to: expected one of {OPTIONAL_TABLES}")
    if not table.schema.equals(TABLES[name]):
        raise ValueError(
            f"{name} for video {video_id!r} do not have {name.upper()}_SCHEMA "
            f"(got {table.schema}); build them with reelscribe.core.flatten.{name}_table"
        )
    if table.num_rows and not pc.all(pc.equal(table["video_id"], video_id)).as_py():
        raise ValueError(f"{name} table holds rows of another video than {video_id!r}")


def _video_row(video_id: str, segment_count: int, counts: Mapping[str, int], video: VideoRecord) -> pa.Table:
    require_utc(video.retrieved_at, "retrieved_at")
    if video.indexed_at is not None:
        require_utc(video.indexed_at, "indexed_at")
    ids = {"video_id": video_id, "segment_count": segment_count}
    ids |= {_COUNT_COLUMN[name]: counts.get(name) for name in OPTIONAL_TABLES}
    row = {name: ids[name] if name in ids else getattr(video, name) for name in VIDEOS_SCHEMA.names}
    return pa.Table.from_pylist([row], schema=VIDEOS_SCHEMA)


def _replace_atomically(path: str, data: pa.Buffer, *, fsync: bool) -> None:
    """Write a hidden sibling temp file, then ``os.replace`` it over ``path``."""
    directory, name = os.path.split(path)
    os.makedirs(directory, exist_ok=True)
    temp = os.path.join(directory, f".{name}.{uuid.uuid4().hex}{_TEMP_SUFFIX}")
    try:
        with open(temp, "xb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temp)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise NoSpaceLeft(f"{path}: no space left on the disk holding the lake ({directory}); free space there or land elsewhere") from exc
        raise
    if fsync:
        _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Makes the rename itself durable; some filesystems cannot open a directory for it."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _is_published(name: str) -> bool:
    """A ``.parquet`` file readers see: not hidden (temp files) and not ``_``-prefixed."""
    return name.endswith(_PARQUET_SUFFIX) and not name.startswith((".", "_"))


def _stale_temps(directory: str, cutoff: float) -> list[str]:
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    return [
        entry.path
        for entry in entries
        if entry.name.startswith(".") and entry.name.endswith(_TEMP_SUFFIX) and _mtime(entry) < cutoff
    ]


def _mtime(entry: os.DirEntry[str]) -> float:
    """A temp file can vanish (renamed by its writer) between listing and ``stat``."""
    try:
        return entry.stat().st_mtime
    except FileNotFoundError:
        return float("inf")


def _read_each(files: list[str], filesystem: pafs.FileSystem, schema: pa.Schema) -> pa.Table:
    """The slow path: read files one at a time, skipping (and logging) unreadable ones.

    One open handle per file: a path opened twice (footer, then data) could meet two versions
    of a file that a concurrent writer replaces in between.
    """
    tables = []
    for path in files:
        try:
            with filesystem.open_input_file(path) as handle:
                tables.append(pq.read_table(handle, schema=schema))
        except (pa.ArrowException, OSError) as error:
            log.warning("skipping unreadable file %s (what it records is done again): %s", path, error)
    return pa.concat_tables(tables) if tables else schema.empty_table()


def _sources_file_name() -> str:
    """Sortable by time, unique per writer: ``part-<utc>-<uuid>.parquet``."""
    return f"part-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:12]}{_PARQUET_SUFFIX}"
