"""SQLite persistence: the one place with SQL.

One connection in WAL mode, guarded by a lock (requests run in a thread pool and the indexing workers
are threads; SQLite serialises writers anyway, and every statement here is short). Rows come back as
frozen dataclasses; turning them into API JSON is ``views.py``'s job.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from reelscribe.server.ids import utc_now

TaskStatus = Literal["ready", "uploading", "validating", "pending", "queued", "indexing", "failed"]
SortField = Literal["created_at", "updated_at"]
TERMINAL = ("ready", "failed")
UNFINISHED = ("validating", "pending", "indexing")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS indexes (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    models TEXT NOT NULL,
    addons TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    index_id TEXT NOT NULL,
    video_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    filename TEXT NOT NULL,
    source_url TEXT,
    size INTEGER,
    user_metadata TEXT,
    duration REAL,
    width INTEGER,
    height INTEGER,
    fps REAL,
    error_code TEXT,
    error_message TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks(status);
CREATE INDEX IF NOT EXISTS tasks_index ON tasks(index_id);
CREATE TABLE IF NOT EXISTS videos (
    id TEXT PRIMARY KEY,
    index_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    filename TEXT NOT NULL,
    size INTEGER,
    duration REAL NOT NULL,
    width INTEGER,
    height INTEGER,
    fps REAL,
    user_metadata TEXT,
    transcription TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    indexed_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS videos_index ON videos(index_id);
CREATE TABLE IF NOT EXISTS assets (
    id TEXT PRIMARY KEY,
    method TEXT NOT NULL,
    status TEXT NOT NULL,
    filename TEXT NOT NULL,
    file_type TEXT NOT NULL,
    source_url TEXT,
    size INTEGER,
    duration REAL,
    width INTEGER,
    height INTEGER,
    fps REAL,
    has_audio INTEGER,
    user_metadata TEXT,
    error_message TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS assets_status ON assets(status);
CREATE TABLE IF NOT EXISTS multipart_uploads (
    id TEXT PRIMARY KEY,
    asset_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    total_size INTEGER NOT NULL,
    chunk_size INTEGER NOT NULL,
    total_chunks INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS multipart_chunks (
    upload_id TEXT NOT NULL,
    chunk_index INTEGER NOT NULL,
    completed INTEGER NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    uploaded_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (upload_id, chunk_index)
);
CREATE TABLE IF NOT EXISTS indexed_assets (
    id TEXT PRIMARY KEY,
    index_id TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    status TEXT NOT NULL,
    filename TEXT NOT NULL,
    size INTEGER,
    duration REAL,
    width INTEGER,
    height INTEGER,
    fps REAL,
    user_metadata TEXT,
    transcription TEXT,
    error_code TEXT,
    error_message TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    indexed_at TEXT
);
CREATE INDEX IF NOT EXISTS indexed_assets_status ON indexed_assets(status);
CREATE INDEX IF NOT EXISTS indexed_assets_asset ON indexed_assets(asset_id);
CREATE UNIQUE INDEX IF NOT EXISTS indexed_assets_once ON indexed_assets(index_id, asset_id) WHERE status != 'failed';
CREATE TABLE IF NOT EXISTS server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class DuplicateName(Exception):
    """An index with that name already exists."""


class AlreadyIndexed(Exception):
    """The asset already has an indexed asset (not failed) in that index; ``args[0]`` is its id."""


class AssetInUse(Exception):
    """Indexed assets still reference the asset; ``args[0]`` is how many."""


class UploadClosed(Exception):
    """The multipart session no longer takes chunks; ``args[0]`` is its status."""


class ChunkAlreadyCompleted(Exception):
    """The chunk was reported complete, so its bytes are final."""


class ChunkReportRejected(Exception):
    """A reported chunk does not match what was received; ``kind`` says how, ``chunk_index`` which."""

    def __init__(self, kind: str, chunk_index: int) -> None:
        super().__init__(kind, chunk_index)
        self.kind = kind
        self.chunk_index = chunk_index


@dataclass(frozen=True)
class Page:
    """Which slice of a listing to return, and in which order."""

    number: int = 1
    limit: int = 10
    sort_by: SortField = "created_at"
    descending: bool = True

    def order_sql(self, prefix: str = "") -> str:
        """ORDER BY terms; rowid breaks ties so paging is stable."""
        if self.sort_by not in get_args(SortField):
            raise ValueError(f"cannot sort by {self.sort_by!r}")
        direction = "DESC" if self.descending else "ASC"
        return f"{prefix}{self.sort_by} {direction}, {prefix}rowid {direction}"


@dataclass(frozen=True)
class Since:
    """The ``created_at``/``updated_at`` filters: rows at or after each time (``ids.format_time`` form)."""

    created_at: str | None = None
    updated_at: str | None = None


@dataclass(frozen=True)
class IndexFilter:
    """``model_family`` matches a model name's start; every one of ``model_options`` must be enabled."""

    name: str | None = None
    model_family: str | None = None
    model_options: tuple[str, ...] = ()
    since: Since = Since()


@dataclass(frozen=True)
class TaskFilter:
    index_id: str | None = None
    statuses: tuple[str, ...] = ()
    filename: str | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    since: Since = Since()


@dataclass(frozen=True)
class VideoFilter:
    index_id: str
    filename: str | None = None
    since: Since = Since()


class _Where:
    """A WHERE clause built from typed filters: column names are this module's, values are bound."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, condition: str, *params: Any) -> None:
        self.parts.append(condition.format(p=self.prefix))
        self.params.extend(params)

    def equal(self, column: str, value: Any) -> None:
        if value is not None:
            self.add(f"{{p}}{column} = ?", value)

    def any_of(self, column: str, values: Sequence[Any]) -> None:
        if values:
            self.add(f"{{p}}{column} IN ({','.join('?' * len(values))})", *values)

    def since(self, since: Since) -> None:
        for column, value in (("created_at", since.created_at), ("updated_at", since.updated_at)):
            if value is not None:
                self.add(f"{{p}}{column} >= ?", value)

    def sql(self) -> str:
        return (" WHERE " + " AND ".join(self.parts)) if self.parts else ""


def _like_literal(text: str) -> str:
    """Drop LIKE wildcards and JSON quoting characters from a filter value."""
    return "".join(ch for ch in text if ch not in '%_"\\')


def _index_where(filters: IndexFilter) -> _Where:
    """Index filters name columns as ``i.<column>``; model filters match the stored JSON."""
    where = _Where("i.")
    where.equal("name", filters.name)
    if filters.model_family is not None:
        where.add("{p}models LIKE ?", f'%"model_name":"{_like_literal(filters.model_family)}%')
    for option in filters.model_options:
        where.add("{p}models LIKE ?", f'%"model_options":[%"{_like_literal(option)}"%')
    where.since(filters.since)
    return where


def _task_where(filters: TaskFilter) -> _Where:
    where = _Where()
    where.equal("index_id", filters.index_id)
    where.any_of("status", filters.statuses)
    for column in ("filename", "duration", "width", "height"):
        where.equal(column, getattr(filters, column))
    where.since(filters.since)
    return where


def _video_where(filters: VideoFilter) -> _Where:
    where = _Where()
    where.equal("index_id", filters.index_id)
    where.equal("filename", filters.filename)
    where.since(filters.since)
    return where


@dataclass(frozen=True)
class AssetFilter:
    """``ids``: only these (``()`` matches nothing); ``filename_contains``: case-insensitive substring."""

    ids: tuple[str, ...] | None = None
    filename_contains: str | None = None
    statuses: tuple[str, ...] = ()



@dataclass(frozen=True)
class IndexedAssetFilter:
    """Times are at-or-after bounds in ``ids.format_time`` form."""

    index_id: str | None = None
    asset_id: str | None = None
    statuses: tuple[str, ...] = ()
    filename: str | None = None
    created_at: str | None = None
    updated_at: str | None = None



def _active_uploads() -> _Where:
    where = _Where()
    where.equal("status", "active")
    return where


def _asset_where(filters: AssetFilter) -> _Where:
    where = _Where()
    if filters.ids is not None:
        if filters.ids:
            where.any_of("id", filters.ids)
        else:
            where.add("0")
    if filters.filename_contains:
        where.add("{p}filename LIKE ?", f"%{_like_literal(filters.filename_contains)}%")
    where.any_of("status", filters.statuses)
    return where


def _indexed_asset_where(filters: IndexedAssetFilter) -> _Where:
    where = _Where()
    for column in ("index_id", "asset_id", "filename"):
        where.equal(column, getattr(filters, column))
    where.any_of("status", filters.statuses)
    where.since(Since(created_at=filters.created_at, updated_at=filters.updated_at))
    return where


@dataclass(frozen=True)
class IndexRow:
    id: str
    name: str
    models: list[dict[str, Any]]
    addons: list[str]
    created_at: str
    updated_at: str
    video_count: int = 0
    total_duration: float = 0.0


@dataclass(frozen=True)
class TaskRow:
    id: str
    index_id: str
    video_id: str
    status: str
    filename: str
    created_at: str
    updated_at: str
    source_url: str | None = None
    size: int | None = None
    user_metadata: dict[str, Any] | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class VideoRow:
    id: str
    index_id: str
    task_id: str
    filename: str
    duration: float
    created_at: str
    updated_at: str
    indexed_at: str
    size: int | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    user_metadata: dict[str, Any] | None = None
    transcription: list[dict[str, Any]] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class AssetRow:
    id: str
    method: str
    status: str
    filename: str
    file_type: str
    created_at: str
    updated_at: str
    source_url: str | None = None
    size: int | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    has_audio: bool | None = None
    user_metadata: dict[str, Any] | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class UploadRow:
    """A multipart upload session (``status``: active, completed, failed or expired)."""

    id: str
    asset_id: str
    status: str
    total_size: int
    chunk_size: int
    total_chunks: int
    created_at: str
    updated_at: str
    expires_at: str


@dataclass(frozen=True)
class ChunkRow:
    """A received chunk; ``completed`` once the client reported it with the matching ETag."""

    upload_id: str
    chunk_index: int
    completed: bool
    size: int
    etag: str
    uploaded_at: str
    updated_at: str


@dataclass(frozen=True)
class IndexedAssetRow:
    id: str
    index_id: str
    asset_id: str
    status: str
    filename: str
    created_at: str
    updated_at: str
    size: int | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    user_metadata: dict[str, Any] | None = None
    transcription: list[dict[str, Any]] | None = field(default=None, repr=False)
    error_code: str | None = None
    error_message: str | None = None
    indexed_at: str | None = None


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def _index(row: sqlite3.Row) -> IndexRow:
    return IndexRow(
        id=row["id"],
        name=row["name"],
        models=json.loads(row["models"]),
        addons=json.loads(row["addons"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        video_count=row["video_count"],
        total_duration=row["total_duration"],
    )


def _task(row: sqlite3.Row) -> TaskRow:
    data = dict(row)
    data["user_metadata"] = _loads(data["user_metadata"])
    return TaskRow(**data)


def _video(row: sqlite3.Row, *, with_transcription: bool = False) -> VideoRow:
    data = dict(row)
    data["user_metadata"] = _loads(data["user_metadata"])
    data["transcription"] = _loads(data.get("transcription")) if with_transcription else None
    return VideoRow(**data)


def _asset(row: sqlite3.Row) -> AssetRow:
    data = dict(row)
    data["user_metadata"] = _loads(data["user_metadata"])
    data["has_audio"] = None if data["has_audio"] is None else bool(data["has_audio"])
    return AssetRow(**data)


def _chunk(row: sqlite3.Row) -> ChunkRow:
    data = dict(row)
    data["completed"] = bool(data["completed"])
    return ChunkRow(**data)


def _indexed_asset(row: sqlite3.Row, *, with_transcription: bool = False) -> IndexedAssetRow:
    data = dict(row)
    data["user_metadata"] = _loads(data["user_metadata"])
    data["transcription"] = _loads(data.get("transcription")) if with_transcription else None
    return IndexedAssetRow(**data)


# An index's videos: those of the tasks path and the ready indexed assets of the assets path.
_INDEX_SELECT = """
SELECT i.*, COUNT(v.id) AS video_count, COALESCE(SUM(v.duration), 0.0) AS total_duration
FROM indexes i LEFT JOIN (
    SELECT id, index_id, duration FROM videos
    UNION ALL SELECT id, index_id, duration FROM indexed_assets WHERE status = 'ready'
) v ON v.index_id = i.id
"""
_INDEXED_ASSET_COLUMNS = (
    "id, index_id, asset_id, status, filename, size, duration, width, height, fps, user_metadata,"
    " error_code, error_message, created_at, updated_at, indexed_at"
)
INDEXED_ASSET_UNFINISHED = ("pending", "queued", "validating", "indexing")
_VIDEO_COLUMNS = (
    "id, index_id, task_id, filename, size, duration, width, height, fps, user_metadata,"
    " created_at, updated_at, indexed_at"
)


class Store:
    """All reads and writes of the server's state."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute(sql, params).fetchone()

    def _paged(
        self, select: str, count_from: str, filters: _Where, page: Page, *, group: str = ""
    ) -> tuple[list[sqlite3.Row], int]:
        """One page of ``select`` plus the total count of matching rows."""
        where, params, prefix = filters.sql(), filters.params, filters.prefix
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM {count_from}{where}", params).fetchone()[0]
            rows = self._db.execute(
                f"{select}{where}{group} ORDER BY {page.order_sql(prefix)} LIMIT ? OFFSET ?",
                [*params, page.limit, (page.number - 1) * page.limit],
            ).fetchall()
        return rows, total

    # Indexes

    def create_index(self, index_id: str, name: str, models: list[dict[str, Any]], addons: list[str]) -> IndexRow:
        now = utc_now()
        try:
            with self._tx() as db:
                db.execute(
                    "INSERT INTO indexes (id, name, models, addons, created_at, updated_at) VALUES (?,?,?,?,?,?)",
                    (index_id, name, _dumps(models), _dumps(addons), now, now),
                )
        except sqlite3.IntegrityError:
            raise DuplicateName(name) from None
        return IndexRow(index_id, name, models, addons, now, now)

    def get_index(self, index_id: str) -> IndexRow | None:
        row = self._one(f"{_INDEX_SELECT} WHERE i.id = ? GROUP BY i.id", (index_id,))
        return _index(row) if row else None

    def list_indexes(self, filters: IndexFilter, page: Page) -> tuple[list[IndexRow], int]:
        rows, total = self._paged(_INDEX_SELECT, "indexes i", _index_where(filters), page, group=" GROUP BY i.id")
        return [_index(r) for r in rows], total

    def rename_index(self, index_id: str, name: str) -> bool:
        try:
            with self._tx() as db:
                cur = db.execute("UPDATE indexes SET name = ?, updated_at = ? WHERE id = ?", (name, utc_now(), index_id))
        except sqlite3.IntegrityError:
            raise DuplicateName(name) from None
        return cur.rowcount == 1

    def delete_index(self, index_id: str) -> bool:
        """Delete the index with its videos and tasks (workers notice their task is gone and clean up)."""
        with self._tx() as db:
            db.execute("DELETE FROM videos WHERE index_id = ?", (index_id,))
            db.execute("DELETE FROM tasks WHERE index_id = ?", (index_id,))
            db.execute("DELETE FROM indexed_assets WHERE index_id = ?", (index_id,))
            return db.execute("DELETE FROM indexes WHERE id = ?", (index_id,)).rowcount == 1

    # Tasks

    def insert_task(self, task: TaskRow) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO tasks (id, index_id, video_id, status, filename, source_url, size, user_metadata,"
                " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    task.id,
                    task.index_id,
                    task.video_id,
                    task.status,
                    task.filename,
                    task.source_url,
                    task.size,
                    _dumps(task.user_metadata),
                    task.created_at,
                    task.updated_at,
                ),
            )

    def get_task(self, task_id: str) -> TaskRow | None:
        row = self._one("SELECT * FROM tasks WHERE id = ?", (task_id,))
        return _task(row) if row else None

    def list_tasks(self, filters: TaskFilter, page: Page) -> tuple[list[TaskRow], int]:
        rows, total = self._paged("SELECT * FROM tasks", "tasks", _task_where(filters), page)
        return [_task(r) for r in rows], total

    def task_of_video(self, index_id: str, video_id: str) -> TaskRow | None:
        """The task that creates (or created) ``video_id`` in ``index_id``."""
        row = self._one("SELECT * FROM tasks WHERE video_id = ? AND index_id = ?", (video_id, index_id))
        return _task(row) if row else None

    def delete_finished_task(self, task_id: str) -> bool:
        """Delete a ``ready`` or ``failed`` task; False if it is gone or still in progress."""
        with self._tx() as db:
            cur = db.execute(f"DELETE FROM tasks WHERE id = ? AND status IN {TERMINAL!r}", (task_id,))
            return cur.rowcount == 1

    def claim(self, from_status: str, to_status: str) -> TaskRow | None:
        """Atomically move the oldest task in ``from_status`` to ``to_status`` and return it."""
        with self._tx() as db:
            row = db.execute(
                "SELECT id FROM tasks WHERE status = ? ORDER BY created_at, rowid LIMIT 1", (from_status,)
            ).fetchone()
            if row is None:
                return None
            db.execute("UPDATE tasks SET status = ?, updated_at = ? WHERE id = ?", (to_status, utc_now(), row[0]))
            return _task(db.execute("SELECT * FROM tasks WHERE id = ?", (row[0],)).fetchone())

    def update_task(self, task_id: str, **fields: Any) -> bool:
        """Set task columns (``status``, probe results, ``error_*``); False if the task is gone."""
        fields["updated_at"] = utc_now()
        names = ", ".join(f"{name} = ?" for name in fields)
        with self._tx() as db:
            cur = db.execute(f"UPDATE tasks SET {names} WHERE id = ?", [*fields.values(), task_id])
        return cur.rowcount == 1

    def requeue_unfinished(self) -> int:
        """After a restart: tasks caught mid-indexing go back to ``pending``; validating ones stay."""
        with self._tx() as db:
            return db.execute(
                "UPDATE tasks SET status = 'pending', updated_at = ? WHERE status = 'indexing'", (utc_now(),)
            ).rowcount

    def unfinished_video_ids(self) -> set[str]:
        """Video ids whose media file is still needed: those of tasks not yet ready or failed."""
        marks = ",".join("?" * len(UNFINISHED))
        return {r[0] for r in self._all(f"SELECT video_id FROM tasks WHERE status IN ({marks})", UNFINISHED)}

    def oldest(self, status: str) -> TaskRow | None:
        row = self._one("SELECT * FROM tasks WHERE status = ? ORDER BY created_at, rowid LIMIT 1", (status,))
        return _task(row) if row else None

    def finish_ready(self, task: TaskRow, transcription: list[dict[str, Any]] | None) -> bool:
        """Create the video and mark the task ``ready`` in one transaction; False if the task is gone."""
        now = utc_now()
        with self._tx() as db:
            cur = db.execute(
                "UPDATE tasks SET status = 'ready', updated_at = ? WHERE id = ? AND status = 'indexing'", (now, task.id)
            )
            if cur.rowcount != 1:
                return False
            db.execute(
                "INSERT OR REPLACE INTO videos (id, index_id, task_id, filename, size, duration, width, height, fps,"
                " user_metadata, transcription, created_at, updated_at, indexed_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    task.video_id,
                    task.index_id,
                    task.id,
                    task.filename,
                    task.size,
                    task.duration,
                    task.width,
                    task.height,
                    task.fps,
                    _dumps(task.user_metadata),
                    _dumps(transcription),
                    task.created_at,
                    now,
                    now,
                ),
            )
        return True

    # Videos

    def get_video(self, index_id: str, video_id: str, *, with_transcription: bool = False) -> VideoRow | None:
        columns = _VIDEO_COLUMNS + (", transcription" if with_transcription else "")
        row = self._one(f"SELECT {columns} FROM videos WHERE id = ? AND index_id = ?", (video_id, index_id))
        return _video(row, with_transcription=with_transcription) if row else None

    def list_videos(self, filters: VideoFilter, page: Page) -> tuple[list[VideoRow], int]:
        rows, total = self._paged(f"SELECT {_VIDEO_COLUMNS} FROM videos", "videos", _video_where(filters), page)
        return [_video(r) for r in rows], total

    def delete_video(self, index_id: str, video_id: str) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM videos WHERE id = ? AND index_id = ?", (video_id, index_id)).rowcount == 1

    def update_video_metadata(self, index_id: str, video_id: str, changes: dict[str, Any]) -> bool:
        """Merge ``changes`` into the video's user metadata; a ``None`` value deletes that key."""
        with self._tx() as db:
            row = db.execute(
                "SELECT user_metadata FROM videos WHERE id = ? AND index_id = ?", (video_id, index_id)
            ).fetchone()
            if row is None:
                return False
            merged = dict(_loads(row[0]) or {})
            for key, value in changes.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            db.execute(
                "UPDATE videos SET user_metadata = ?, updated_at = ? WHERE id = ?",
                (_dumps(merged) if merged else None, utc_now(), video_id),
            )
        return True

    # Assets

    def insert_asset(self, asset: AssetRow, upload: UploadRow | None = None) -> None:
        """The asset row (and its multipart session, if any) in one transaction."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO assets (id, method, status, filename, file_type, source_url, size, user_metadata,"
                " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    asset.id,
                    asset.method,
                    asset.status,
                    asset.filename,
                    asset.file_type,
                    asset.source_url,
                    asset.size,
                    _dumps(asset.user_metadata),
                    asset.created_at,
                    asset.updated_at,
                ),
            )
            if upload is not None:
                db.execute(
                    "INSERT INTO multipart_uploads (id, asset_id, status, total_size, chunk_size, total_chunks,"
                    " created_at, updated_at, expires_at) VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        upload.id,
                        upload.asset_id,
                        upload.status,
                        upload.total_size,
                        upload.chunk_size,
                        upload.total_chunks,
                        upload.created_at,
                        upload.updated_at,
                        upload.expires_at,
                    ),
                )

    def get_asset(self, asset_id: str) -> AssetRow | None:
        row = self._one("SELECT * FROM assets WHERE id = ?", (asset_id,))
        return _asset(row) if row else None

    def list_assets(self, filters: AssetFilter, page: Page) -> tuple[list[AssetRow], int]:
        rows, total = self._paged("SELECT * FROM assets", "assets", _asset_where(filters), page)
        return [_asset(r) for r in rows], total

    def asset_ids(self) -> set[str]:
        return {r[0] for r in self._all("SELECT id FROM assets")}

    def next_processable_asset(self) -> AssetRow | None:
        """The oldest ``processing`` asset whose bytes are all here (a multipart one once its session completed)."""
        row = self._one(
            "SELECT a.* FROM assets a LEFT JOIN multipart_uploads u ON u.asset_id = a.id"
            " WHERE a.status = 'processing' AND (a.method != 'multipart' OR u.status = 'completed')"
            " ORDER BY a.created_at, a.rowid LIMIT 1"
        )
        return _asset(row) if row else None

    def update_asset(self, asset_id: str, **fields: Any) -> bool:
        """Set asset columns; only while the asset is ``processing`` (False if it is gone or finished)."""
        fields["updated_at"] = utc_now()
        names = ", ".join(f"{name} = ?" for name in fields)
        with self._tx() as db:
            cur = db.execute(
                f"UPDATE assets SET {names} WHERE id = ? AND status = 'processing'", [*fields.values(), asset_id]
            )
        return cur.rowcount == 1

    def delete_asset(self, asset_id: str, *, force: bool) -> bool:
        """Delete the asset and its upload session; False if there is no such asset.

        Raises :class:`AssetInUse` when indexed assets reference it and ``force`` is false; with
        ``force`` they stay (a finished one keeps its transcription, an unfinished one fails).
        """
        with self._tx() as db:
            if db.execute("SELECT 1 FROM assets WHERE id = ?", (asset_id,)).fetchone() is None:
                return False
            refs = db.execute("SELECT COUNT(*) FROM indexed_assets WHERE asset_id = ?", (asset_id,)).fetchone()[0]
            if refs and not force:
                raise AssetInUse(refs)
            db.execute(
                "DELETE FROM multipart_chunks WHERE upload_id IN (SELECT id FROM multipart_uploads WHERE asset_id = ?)",
                (asset_id,),
            )
            db.execute("DELETE FROM multipart_uploads WHERE asset_id = ?", (asset_id,))
            db.execute("DELETE FROM assets WHERE id = ?", (asset_id,))
        return True

    # Multipart upload sessions

    def get_upload(self, upload_id: str) -> UploadRow | None:
        row = self._one("SELECT * FROM multipart_uploads WHERE id = ?", (upload_id,))
        return UploadRow(**dict(row)) if row else None

    def upload_for_asset(self, asset_id: str) -> UploadRow | None:
        row = self._one("SELECT * FROM multipart_uploads WHERE asset_id = ?", (asset_id,))
        return UploadRow(**dict(row)) if row else None

    def list_active_uploads(self, page: Page) -> tuple[list[UploadRow], int]:
        rows, total = self._paged(
            "SELECT * FROM multipart_uploads", "multipart_uploads", _active_uploads(), page
        )
        return [UploadRow(**dict(r)) for r in rows], total

    def chunks(self, upload_id: str) -> dict[int, ChunkRow]:
        """Every received chunk of a session, by index."""
        rows = self._all("SELECT * FROM multipart_chunks WHERE upload_id = ? ORDER BY chunk_index", (upload_id,))
        return {r["chunk_index"]: _chunk(r) for r in rows}

    def record_chunk(self, upload_id: str, chunk_index: int, size: int, etag: str, now: str) -> None:
        """Remember a received chunk (replacing an unreported earlier copy).

        Raises :class:`UploadClosed` unless the session is active and unexpired at ``now``, and
        :class:`ChunkAlreadyCompleted` if the chunk was already reported.
        """
        with self._tx() as db:
            upload = db.execute("SELECT status, expires_at FROM multipart_uploads WHERE id = ?", (upload_id,)).fetchone()
            if upload is None:
                raise UploadClosed("deleted")
            if upload["status"] != "active" or upload["expires_at"] <= now:
                raise UploadClosed("expired" if upload["status"] == "active" else upload["status"])
            old = db.execute(
                "SELECT completed FROM multipart_chunks WHERE upload_id = ? AND chunk_index = ?", (upload_id, chunk_index)
            ).fetchone()
            if old is not None and old["completed"]:
                raise ChunkAlreadyCompleted()
            db.execute(
                "INSERT OR REPLACE INTO multipart_chunks (upload_id, chunk_index, completed, size, etag, uploaded_at,"
                " updated_at) VALUES (?,?,0,?,?,?,?)",
                (upload_id, chunk_index, size, etag, now, now),
            )

    def report_chunks(self, upload_id: str, reports: Sequence[tuple[int, str, int]], now: str) -> tuple[int, int, int, bool]:
        """Mark reported chunks ``(index, etag, size)`` completed, all or none.

        Returns ``(newly completed, duplicates, total completed, session now complete)``. Raises
        :class:`UploadClosed` for a session that is not active (a completed one accepts repeats of
        its reports, so a client that lost the answer can ask again) and
        :class:`ChunkReportRejected` for a chunk never received or whose ETag or size differ.
        """
        with self._tx() as db:
            upload = db.execute("SELECT * FROM multipart_uploads WHERE id = ?", (upload_id,)).fetchone()
            if upload is None:
                raise UploadClosed("deleted")
            status = upload["status"]
            if status == "active" and upload["expires_at"] <= now:
                raise UploadClosed("expired")
            if status not in ("active", "completed"):
                raise UploadClosed(status)
            rows = {
                r["chunk_index"]: _chunk(r)
                for r in db.execute("SELECT * FROM multipart_chunks WHERE upload_id = ?", (upload_id,)).fetchall()
            }
            fresh: set[int] = set()
            duplicates = 0
            for index, etag, size in reports:
                row = rows.get(index)
                if row is None:
                    raise ChunkReportRejected("not_uploaded", index)
                if row.etag != etag:
                    raise ChunkReportRejected("etag_mismatch", index)
                if row.size != size:
                    raise ChunkReportRejected("size_mismatch", index)
                if row.completed or index in fresh:
                    duplicates += 1
                else:
                    fresh.add(index)
            if fresh and status != "active":
                raise UploadClosed(status)
            for index in fresh:
                db.execute(
                    "UPDATE multipart_chunks SET completed = 1, updated_at = ? WHERE upload_id = ? AND chunk_index = ?",
                    (now, upload_id, index),
                )
            total = db.execute(
                "SELECT COUNT(*) FROM multipart_chunks WHERE upload_id = ? AND completed = 1", (upload_id,)
            ).fetchone()[0]
            complete = total == upload["total_chunks"]
            if complete and status == "active":
                db.execute(
                    "UPDATE multipart_uploads SET status = 'completed', updated_at = ? WHERE id = ?", (now, upload_id)
                )
            elif fresh:
                db.execute("UPDATE multipart_uploads SET updated_at = ? WHERE id = ?", (now, upload_id))
        return len(fresh), duplicates, total, complete

    def expire_uploads(self, now: str) -> list[UploadRow]:
        """Active sessions past their expiry become ``expired`` and their assets ``failed``; returns them."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT * FROM multipart_uploads WHERE status = 'active' AND expires_at <= ?", (now,)
            ).fetchall()
            for row in rows:
                db.execute("UPDATE multipart_uploads SET status = 'expired', updated_at = ? WHERE id = ?", (now, row["id"]))
                db.execute("DELETE FROM multipart_chunks WHERE upload_id = ?", (row["id"],))
                db.execute(
                    "UPDATE assets SET status = 'failed', error_message = ?, updated_at = ?"
                    " WHERE id = ? AND status = 'processing'",
                    ("The multipart upload session expired before every chunk was reported.", now, row["asset_id"]),
                )
        return [UploadRow(**dict(r)) for r in rows]

    def uploads_needing_chunks(self) -> set[str]:
        """Sessions whose chunk files are still needed: active ones, and completed ones not yet assembled."""
        rows = self._all(
            "SELECT u.id FROM multipart_uploads u JOIN assets a ON a.id = u.asset_id"
            " WHERE u.status = 'active' OR (u.status = 'completed' AND a.status = 'processing')"
        )
        return {r[0] for r in rows}

    # Indexed assets

    def insert_indexed_asset(self, row: IndexedAssetRow) -> None:
        """Raises :class:`AlreadyIndexed` if the asset has an indexed asset (not failed) in the index."""
        try:
            with self._tx() as db:
                db.execute(
                    "INSERT INTO indexed_assets (id, index_id, asset_id, status, filename, size, duration, width,"
                    " height, fps, user_metadata, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        row.id,
                        row.index_id,
                        row.asset_id,
                        row.status,
                        row.filename,
                        row.size,
                        row.duration,
                        row.width,
                        row.height,
                        row.fps,
                        _dumps(row.user_metadata),
                        row.created_at,
                        row.updated_at,
                    ),
                )
        except sqlite3.IntegrityError:
            existing = self._one(
                "SELECT id FROM indexed_assets WHERE index_id = ? AND asset_id = ? AND status != 'failed'",
                (row.index_id, row.asset_id),
            )
            raise AlreadyIndexed(existing[0] if existing else "") from None

    def get_indexed_asset(
        self, index_id: str, indexed_asset_id: str, *, with_transcription: bool = False
    ) -> IndexedAssetRow | None:
        columns = _INDEXED_ASSET_COLUMNS + (", transcription" if with_transcription else "")
        row = self._one(
            f"SELECT {columns} FROM indexed_assets WHERE id = ? AND index_id = ?", (indexed_asset_id, index_id)
        )
        return _indexed_asset(row, with_transcription=with_transcription) if row else None

    def list_indexed_assets(self, filters: IndexedAssetFilter, page: Page) -> tuple[list[IndexedAssetRow], int]:
        select = f"SELECT {_INDEXED_ASSET_COLUMNS} FROM indexed_assets"
        rows, total = self._paged(select, "indexed_assets", _indexed_asset_where(filters), page)
        return [_indexed_asset(r) for r in rows], total

    def delete_finished_indexed_asset(self, indexed_asset_id: str) -> bool:
        with self._tx() as db:
            cur = db.execute(f"DELETE FROM indexed_assets WHERE id = ? AND status IN {TERMINAL!r}", (indexed_asset_id,))
            return cur.rowcount == 1

    def claim_indexed_asset(self, from_status: str, to_status: str) -> IndexedAssetRow | None:
        """Atomically move the oldest indexed asset in ``from_status`` to ``to_status`` and return it."""
        with self._tx() as db:
            row = db.execute(
                "SELECT id FROM indexed_assets WHERE status = ? ORDER BY created_at, rowid LIMIT 1", (from_status,)
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE indexed_assets SET status = ?, updated_at = ? WHERE id = ?", (to_status, utc_now(), row[0])
            )
            fetched = db.execute(f"SELECT {_INDEXED_ASSET_COLUMNS} FROM indexed_assets WHERE id = ?", (row[0],))
            return _indexed_asset(fetched.fetchone())

    def update_indexed_asset(self, indexed_asset_id: str, expected_status: str, **fields: Any) -> bool:
        """Set columns if the indexed asset is still in ``expected_status``; False otherwise (gone or moved on)."""
        fields["updated_at"] = utc_now()
        names = ", ".join(f"{name} = ?" for name in fields)
        with self._tx() as db:
            cur = db.execute(
                f"UPDATE indexed_assets SET {names} WHERE id = ? AND status = ?",
                [*fields.values(), indexed_asset_id, expected_status],
            )
        return cur.rowcount == 1

    def finish_indexed_asset(self, indexed_asset_id: str, transcription: list[dict[str, Any]] | None) -> bool:
        """``indexing`` → ``ready`` with the transcription; False if it is gone or no longer indexing."""
        now = utc_now()
        return self.update_indexed_asset(
            indexed_asset_id, "indexing", status="ready", transcription=_dumps(transcription), indexed_at=now
        )

    def requeue_indexed_assets(self) -> int:
        """After a restart: indexed assets caught validating or indexing go back to ``queued``."""
        with self._tx() as db:
            return db.execute(
                "UPDATE indexed_assets SET status = 'queued', updated_at = ? WHERE status IN ('validating', 'indexing')",
                (utc_now(),),
            ).rowcount

    def asset_transcription(self, asset_id: str) -> IndexedAssetRow | None:
        """The indexed asset whose transcription stands for the asset's: a ready one, else the newest."""
        row = self._one(
            f"SELECT {_INDEXED_ASSET_COLUMNS}, transcription FROM indexed_assets WHERE asset_id = ?"
            " ORDER BY status = 'ready' DESC, created_at DESC, rowid DESC LIMIT 1",
            (asset_id,),
        )
        return _indexed_asset(row, with_transcription=True) if row else None

    # Secrets

    def secret(self, name: str, make: Callable[[], str]) -> str:
        """A persistent server secret (created with ``make`` on first use), e.g. the presigned-URL key."""
        with self._tx() as db:
            row = db.execute("SELECT value FROM server_secrets WHERE name = ?", (name,)).fetchone()
            if row is not None:
                return row[0]
            value = make()
            db.execute("INSERT INTO server_secrets (name, value) VALUES (?, ?)", (name, value))
            return value
