"""The lake as Delta tables (delta-rs): batch commits, in-place refresh, a landed read from the log.

Layout: each table is one Delta table at ``<out>/<table>/`` (``_delta_log/`` beside hive
partition directories ``index_id=<id>/part-….parquet``), so the table names, columns and
partitioning are those of the per-video lake (``reelscribe.core.lake``); ``index_id`` is the
Delta partition column.

Writes. ``write_batch`` lands any number of videos with **one commit per table**: an overwrite
whose predicate is ``index_id = '<id>' AND video_id IN (…)``. A video landed twice is replaced,
never duplicated, also when two writers land it at the same time (Delta's conflict check sees
the overlap; the loser retries). The ``videos`` table is committed last: a video counts as
landed once its ``videos`` row is in the table's current version, as in the per-video lake.

Staging (how a flow batches commits without losing per-video isolation). A land task publishes
its video's validated tables with ``stage_video`` to ``<out>/_staging/`` (the per-video writer,
atomic files, ``videos`` file last as the marker) and returns; a committer calls
``commit_staged`` every few videos and at the end, then deletes what it committed (marker
first). A failed video stages nothing and blocks nobody; a run that dies leaves its staged
videos, which the next run's ``clean_up`` commits once they are an hour old (a live
run commits its own long before), so nothing retrieved is lost. ``_staging`` starts with ``_``:
Spark, pyarrow and Delta readers skip it.

Concurrency: delta-rs commits by a conditional create of ``_delta_log/<version>.json`` (local
disk: create-if-absent; S3: a PUT with ``If-None-Match: *``, which AWS S3 and moto honour); a
writer that loses a race and whose change conflicts gets ``CommitFailedError`` and retries here
(``COMMIT_RETRY``, through the one retry loop of ``reelscribe.core.retry``). An object store that ignores ``If-None-Match`` can lose
a commit silently: use one that honours it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from deltalake import CommitProperties, DeltaTable, Transaction, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from reelscribe.core.lake import Lake, partition_dir, table_path, validate_partition_id, video_tables
from reelscribe.core.records import LandedRecord, LandedVideo, VideoRecord
from reelscribe.core.lake_writer import STALE_TEMP_AGE_S, CleanupReport
from reelscribe.core.retry import RetryPolicy, retrying
from reelscribe.core.schema import SOURCES_SCHEMA, TABLES, VIDEOS_SCHEMA
from reelscribe.core.source_state import (
    SOURCES_TABLE,
    SeenSource,
    SeenSources,
    holds_older_rows,
    latest_per_source,
    sources_table,
)
from reelscribe.core.settings import Environment
from reelscribe.core.stores import filesystem
from reelscribe.core.table_format import MARKER_TABLE

__all__ = ["COMMIT_RETRY", "DeltaLake", "VideoTables", "is_delta_table"]

log = logging.getLogger(__name__)

VideoTables = Mapping[str, pa.Table]
"""One video's rows per table name (``segments``, ``videos``, …), without ``index_id``."""

PARTITION = "index_id"
STAGING = "_staging"
COMMIT_RETRY = RetryPolicy(max_attempts=8, base_delay=0.1, max_delay=2.0)
# Row groups DuckDB can read in parallel; the Rust writer's default is ~1 M rows.
ROW_GROUP_ROWS = 131_072
_T = TypeVar("_T")


def is_delta_table(uri: str, storage_options: Mapping[str, str] | None = None) -> bool:
    """``True`` if ``uri`` holds a Delta log (one small request)."""
    return DeltaTable.is_deltatable(uri, storage_options=dict(storage_options or {}))


class DeltaLake:
    """Writes and inspects the Delta lake under ``out``: a local path or an ``s3://`` URI.

    ``storage_options`` are fsspec's (s3fs's ``key``, ``secret``, ``client_kwargs``…), as for
    ``Lake``: the staging area and listings use them as they are, and delta-rs gets the same in its
    own names (``self.storage_options``, ``delta_storage_options``). Without them the standard AWS
    variables apply (``AWS_ENDPOINT_URL``, ``AWS_ALLOW_HTTP``, ``AWS_REGION``, keys…).
    """

    def __init__(self, out: str, **storage_options: Any) -> None:
        if not out:
            raise ValueError("the lake location (out) must not be empty")
        self.out = out.rstrip("/")
        self.storage_options = delta_storage_options(self.out, storage_options)
        self.staging = Lake(f"{self.out}/{STAGING}", **storage_options)
        self.fs, self.root = filesystem(self.out, **storage_options)
        self._known: set[str] = set()

    # -- the interface of Lake -------------------------------------------------------------

    def write_video(
        self,
        index_id: str,
        video_id: str,
        segments: pa.Table,
        video: VideoRecord,
        extra: Mapping[str, pa.Table] | None = None,
    ) -> LandedVideo:
        """Land one video now (one commit per table); flows batch with ``stage_video`` instead.

        ``extra``: rows of optional tables (``words``, ``utterances``, ``sentences``), as for ``Lake``.
        """
        self.write_batch(index_id, {video_id: video_tables(video_id, segments, video, extra)})
        counts = {name: table.num_rows for name, table in (extra or {}).items()}
        return LandedVideo(self.table_uri("segments"), self.table_uri(MARKER_TABLE), segments.num_rows, counts)

    def landed(self, index_id: str) -> dict[str, LandedRecord]:
        """``content_sha256`` -> videos row for every video in the current version of ``index_id``.

        Read from the Delta log's file list, pruned to the partition: no directory listing.
        With two rows for one hash the latest wins.
        """
        table = self._read_partition(MARKER_TABLE, validate_partition_id(index_id))
        if table is None:
            return {}
        names = [n for n in VIDEOS_SCHEMA.names if n in table.column_names]
        rows = table.select(names).sort_by("retrieved_at").to_pylist()
        return {row["content_sha256"]: LandedRecord(**row) for row in rows}

    def landed_hashes(self, index_id: str) -> frozenset[str]:
        """The content hashes landed in ``index_id``: one column read, what every run starts with."""
        table = self._read_partition(MARKER_TABLE, validate_partition_id(index_id), columns=["content_sha256"])
        return frozenset() if table is None else frozenset(table["content_sha256"].to_pylist())

    def clean_up(self, index_id: str, older_than_s: float = STALE_TEMP_AGE_S) -> CleanupReport:
        """Finish what interrupted runs left: commit their staged videos, drop stale temp files."""
        report = self.staging.clean_up(index_id, older_than_s)
        stale = self._staged_ids(index_id, older_than_s=older_than_s)
        committed = self.commit_staged(index_id, stale) if stale else []
        if committed:
            log.info("committed %d video(s) staged by an interrupted run in %s", len(committed), index_id)
        return CleanupReport(committed=tuple(committed)) + report

    @property
    def commits_in_batches(self) -> bool:
        """Land steps stage; the flow commits every few videos (``commit``)."""
        return True

    def commit(self, index_id: str, video_ids: Iterable[str]) -> list[str]:
        return self.commit_staged(index_id, video_ids)

    def seen_sources(self) -> SeenSources:
        """The ``sources`` Delta table's current version; empty if missing or unreadable."""
        table = self.open(SOURCES_TABLE)
        if table is None:
            return SeenSources()
        try:
            return SeenSources(table.to_pyarrow_dataset().to_table(columns=SOURCES_SCHEMA.names))
        except (DeltaError, pa.ArrowException, OSError) as error:
            log.warning("the seen-source state in %s is unreadable (every source is hashed again): %s", self.out, error)
            return SeenSources()

    def record_sources(self, rows: Sequence[SeenSource]) -> None:
        """Append this run's rows in one commit (appends never conflict; ``lake compact`` reduces them)."""
        if not rows:
            return
        retry_commits(
            lambda: write_deltalake(
                self.table_uri(SOURCES_TABLE), sources_table(rows), mode="append",
                storage_options=self.storage_options, writer_properties=writer_properties(),
            ),
            what=f"{len(rows)} seen source(s)",
        )

    def reduce_sources(self) -> int:
        """Rewrite the ``sources`` table as the latest row per source; returns the rows dropped.

        Appends keep every identity an overwritten object ever had; without this the state grows
        with every overwrite, without bound. The
        overwrite removes only the files of the version it read: rows a run appends meanwhile
        stay, and their duplicates (if any) collapse on read and at the next reduction.
        """
        table = self.open(SOURCES_TABLE)
        if table is None:
            return 0

        def reduce() -> int:
            table.update_incremental()
            rows = table.to_pyarrow_dataset().to_table(columns=SOURCES_SCHEMA.names)
            if not holds_older_rows(rows):
                return 0
            write_deltalake(table, latest_per_source(rows), mode="overwrite", writer_properties=writer_properties())
            return rows.num_rows - pc.count_distinct(rows["source"]).as_py()

        return retry_commits(reduce, what="reducing the seen-source state")

    # -- batches ---------------------------------------------------------------------------

    def write_batch(self, index_id: str, videos: Mapping[str, VideoTables]) -> list[str]:
        """Land (or replace) every video of ``videos`` with one commit per table, ``videos`` last.

        A table that holds rows of earlier versions of these videos but none now (a refresh
        that found no words, say) is committed too, so no stale row survives a refresh.
        """
        validate_partition_id(index_id)
        ids = [validate_partition_id(v, "video_id") for v in videos]
        if not ids:
            return []
        # Only the per-video tables (schema.TABLES): the lake's other tables (sources, terms, and any
        # state a run keeps beside them) hold no rows of these videos.
        names = {name for tables in videos.values() for name in tables} | set(self.tables()) & set(TABLES)
        for name in sorted(names - {MARKER_TABLE}) + [MARKER_TABLE]:
            parts = [tables[name] for tables in videos.values() if name in tables]
            if parts:
                self._replace(name, index_id, ids, _with_partition(parts, index_id))
            elif (existing := self.open(name)) is not None:
                self._replace(name, index_id, ids, existing.to_pyarrow_dataset().schema.empty_table())
        return ids

    def stage_video(
        self,
        index_id: str,
        video_id: str,
        segments: pa.Table,
        video: VideoRecord,
        extra: Mapping[str, pa.Table] | None = None,
    ) -> LandedVideo:
        """Publish a validated video to the staging area; ``commit_staged`` lands it."""
        return self.staging.write_video(index_id, video_id, segments, video, extra)

    def commit_staged(self, index_id: str, video_ids: Iterable[str]) -> list[str]:
        """Commit the staged videos among ``video_ids`` in one batch; returns the ids committed.

        Data files are read before the markers and markers deleted before data files, so a
        video whose marker is read here had all its files in place (a concurrent committer that
        finished it first makes this a harmless replacement).
        """
        wanted = list(dict.fromkeys(validate_partition_id(v, "video_id") for v in video_ids))
        tables = self._read_staged(index_id, wanted)
        markers = tables.pop(MARKER_TABLE, None)
        if markers is None or markers.num_rows == 0:
            return []
        present = markers["video_id"].to_pylist()
        batch: dict[str, dict[str, pa.Table]] = {v: {} for v in present}
        for name, rows in [*tables.items(), (MARKER_TABLE, markers)]:
            for video_id in present:
                batch[video_id][name] = rows.filter(pc.equal(rows["video_id"], video_id))
        committed = self.write_batch(index_id, batch)
        self._unstage(index_id, committed, [MARKER_TABLE, *tables])
        return committed

    def staging_indexes(self) -> list[str]:
        """Ids of the indexes with anything in the staging area."""
        directory = f"{self.staging.root}/{MARKER_TABLE}"
        try:
            names = [_name(p) for p in self.staging.fs.ls(directory, detail=False)]
        except FileNotFoundError:
            return []
        return sorted(n.split("=", 1)[1] for n in names if n.startswith(f"{PARTITION}="))

    def staged(self, index_id: str) -> list[str]:
        """Ids of the videos waiting in the staging area of ``index_id``."""
        return self._staged_ids(index_id, older_than_s=None)

    # -- tables ----------------------------------------------------------------------------

    def table_uri(self, name: str) -> str:
        return f"{self.out}/{name}"

    def tables(self) -> list[str]:
        """Names of the Delta tables under ``out`` (directories holding a ``_delta_log``)."""
        try:
            entries = self.fs.ls(self.root, detail=True)
        except FileNotFoundError:
            return []
        names = [_name(e["name"]) for e in entries if e["type"] == "directory"]
        return sorted(n for n in names if not n.startswith(("_", ".")) and self._exists(n))

    def create_marker(self) -> None:
        """Create the empty ``videos`` table if missing: the lake is a Delta lake from then on (``lake_format``)."""
        self._ensure(MARKER_TABLE, VIDEOS_SCHEMA.append(pa.field(PARTITION, pa.string(), nullable=False)))

    def open(self, name: str) -> DeltaTable | None:
        """The table's current version, or ``None`` if nothing was committed to it yet."""
        try:
            return DeltaTable(self.table_uri(name), storage_options=self.storage_options)
        except TableNotFoundError:
            return None

    def _exists(self, name: str) -> bool:
        return is_delta_table(self.table_uri(name), self.storage_options)

    def _read_partition(self, name: str, index_id: str, columns: list[str] | None = None) -> pa.Table | None:
        table = self.open(name)
        if table is None:
            return None
        # Tuple filters, not a SQL string: in deltalake 1.6.6 a SQL pruning predicate leaves a
        # thread that aborts the interpreter at exit.
        dataset = table.to_pyarrow_dataset(file_pruning_predicate=[(PARTITION, "=", index_id)])
        return dataset.to_table(columns=columns, filter=pc.field(PARTITION) == index_id)

    def _ensure(self, name: str, schema: pa.Schema) -> None:
        """Create the table empty before its first write, once, whoever wins.

        Two writers whose data commit also creates the table both commit (delta-rs checks no
        conflict against a table that did not exist when it started), duplicating rows; so the
        empty table comes first and every data commit has a version to conflict against.
        """
        if name in self._known or self._exists(name):
            self._known.add(name)
            return
        try:
            DeltaTable.create(
                self.table_uri(name), schema=schema, mode="ignore", partition_by=[PARTITION],
                storage_options=self.storage_options,
            )
        except (DeltaError, OSError):  # another writer created it, or our create's answer was lost
            if not self._exists(name):
                raise
        self._known.add(name)

    def _replace(self, name: str, index_id: str, video_ids: Sequence[str], rows: pa.Table) -> None:
        self._ensure(name, rows.schema)
        listed = ", ".join(f"'{v}'" for v in video_ids)
        predicate = f"{PARTITION} = '{index_id}' AND video_id IN ({listed})"
        def commit() -> None:
            transaction = _transaction(index_id)
            try:
                write_deltalake(
                    self.table_uri(name),
                    rows,
                    mode="overwrite",
                    predicate=predicate,
                    partition_by=[PARTITION],
                    schema_mode="merge",
                    storage_options=self.storage_options,
                    writer_properties=writer_properties(),
                    commit_properties=CommitProperties(app_transactions=[transaction]),
                )
            except OSError:
                if not self._committed(name, transaction):
                    raise
                log.info("commit of %s in %s: its answer was lost, but the commit is ours", name, index_id)

        retry_commits(commit, what=f"{name} of {len(video_ids)} video(s) in {index_id}")

    def _committed(self, name: str, transaction: Transaction) -> bool:
        """Whether a commit that failed on the wire took effect anyway (delta-rs 1.6.6 does not
        retry the conditional ``PUT`` of ``_delta_log/<version>.json``, so a lost answer is an
        ``OSError`` after S3 stored it): the table's latest version of our application id is ours."""
        try:
            found = DeltaTable(self.table_uri(name), storage_options=self.storage_options).transaction_version(transaction.app_id)
        except (DeltaError, OSError):
            return False
        return found == transaction.version

    # -- staging ---------------------------------------------------------------------------

    def _staged_ids(self, index_id: str, *, older_than_s: float | None) -> list[str]:
        directory = partition_dir(self.staging.root, MARKER_TABLE, index_id)
        try:
            entries = self.staging.fs.ls(directory, detail=True)
        except FileNotFoundError:
            return []
        cutoff = None if older_than_s is None else time.time() - older_than_s
        ids = []
        for entry in entries:
            name = _name(entry["name"])
            if name.startswith((".", "_")) or not name.endswith(".parquet"):
                continue
            if cutoff is None or _modified(entry) < cutoff:
                ids.append(name.removesuffix(".parquet"))
        return sorted(ids)

    def _read_staged(self, index_id: str, video_ids: list[str]) -> dict[str, pa.Table]:
        """Each staged table's rows for ``video_ids``, the marker table read last."""
        try:
            names = [_name(e) for e in self.staging.fs.ls(self.staging.root, detail=False)]
        except FileNotFoundError:
            return {}
        names = sorted(n for n in names if not n.startswith((".", "_")) and n != MARKER_TABLE)
        found: dict[str, pa.Table] = {}
        for name in [*names, MARKER_TABLE]:
            paths = [table_path(self.staging.root, name, index_id, v) for v in video_ids]
            rows = self._read_files([p for p in paths if self.staging.fs.exists(p)])
            if rows is not None:
                found[name] = rows
        return found

    def _read_files(self, paths: list[str]) -> pa.Table | None:
        if not paths:
            return None
        filesystem = self._staging_fs()
        try:
            return ds.dataset(paths, format="parquet", filesystem=filesystem).to_table()
        except FileNotFoundError:
            # A concurrent committer finished some of them: read what is left, one by one.
            tables = []
            for path in paths:
                try:
                    tables.append(ds.dataset([path], format="parquet", filesystem=filesystem).to_table())
                except FileNotFoundError:
                    continue
            return pa.concat_tables(tables) if tables else None

    def _staging_fs(self) -> pafs.FileSystem:
        if self.staging.is_local:
            return pafs.LocalFileSystem()
        return pafs.PyFileSystem(pafs.FSSpecHandler(self.staging.fs))

    def _unstage(self, index_id: str, video_ids: list[str], names: list[str]) -> None:
        """Delete committed videos' staged files, markers first."""
        for name in names:
            paths = [table_path(self.staging.root, name, index_id, v) for v in video_ids]
            for path in paths:
                try:
                    self.staging.fs.rm_file(path)
                except FileNotFoundError:
                    continue



def delta_storage_options(out: str, conf: Mapping[str, Any]) -> dict[str, str]:
    """delta-rs options for ``out`` from the s3fs options ``conf`` (a storage block's), in delta-rs' names.

    Without them delta-rs reads the standard AWS variables itself. delta-rs also refuses
    plain-HTTP endpoints unless told: an ``http://`` endpoint (a local S3 such as MinIO or moto)
    is that consent.
    """
    if not out.startswith(("s3://", "s3a://")):
        return {}
    client = conf.get("client_kwargs") or {}
    options = {
        name: str(value)
        for name, value in (
            ("AWS_ACCESS_KEY_ID", conf.get("key")),
            ("AWS_SECRET_ACCESS_KEY", conf.get("secret")),
            ("AWS_SESSION_TOKEN", conf.get("token")),
            ("AWS_ENDPOINT_URL", client.get("endpoint_url")),
            ("AWS_REGION", client.get("region_name")),
        )
        if value
    }
    endpoint = options.get("AWS_ENDPOINT_URL") or Environment().aws_endpoint_url or ""
    if endpoint.startswith("http://"):
        options["AWS_ALLOW_HTTP"] = "true"
    return options


def writer_properties() -> WriterProperties:
    """Snappy and row groups small enough for DuckDB to scan a big file on every core."""
    return WriterProperties(compression="SNAPPY", max_row_group_size=ROW_GROUP_ROWS)


def _transaction(index_id: str) -> Transaction:
    """Make concurrent commits into one index conflict, so the loser retries against the winner.

    delta-rs 1.6.6 does not check an overwrite's predicate against files a concurrent commit
    added: two writers landing the same new video would both commit, duplicating its rows.
    Both commits carry the same application id (a Delta ``txn`` action); the conflict checker
    refuses the second (``CommitFailedError``), whose retry then replaces the winner's rows.
    """
    return Transaction(f"reelscribe:{index_id}", time.time_ns() // 1000)


def _with_partition(parts: list[pa.Table], index_id: str) -> pa.Table:
    rows = pa.concat_tables(parts)
    column = pa.array([index_id] * rows.num_rows, pa.string())
    return rows.append_column(pa.field(PARTITION, pa.string(), nullable=False), column)


def retry_commits(commit: Callable[[], _T], *, what: str) -> _T:
    """Run a Delta commit again after ``CommitFailedError`` (a concurrent conflicting commit)."""
    for attempt in retrying(COMMIT_RETRY, what=f"commit of {what}", log=log.info, retry_on=(CommitFailedError,)):
        with attempt:
            return commit()
    raise AssertionError("unreachable: retrying() re-raises the last error")


def _name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def _modified(entry: Mapping[str, Any]) -> float:
    """A listing entry's modification time in epoch seconds (local ``mtime``, S3 ``LastModified``)."""
    value = entry.get("mtime", entry.get("LastModified", entry.get("last_modified")))
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    return float(value) if value is not None else 0.0
