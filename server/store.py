"""SQLite persistence: the one place with SQL.

One connection in WAL mode, guarded by a lock (requests run in a thread pool and the indexing workers
are threads; SQLite serialises writers anyway, and every statement here is short). Rows come back as
frozen dataclasses; turning them into API JSON is ``views.py``'s job.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
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
"""


class DuplicateName(Exception):
    """An index with that name already exists."""


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


_INDEX_SELECT = """
SELECT i.*, COUNT(v.id) AS video_count, COALESCE(SUM(v.duration), 0.0) AS total_duration
FROM indexes i LEFT JOIN videos v ON v.index_id = i.id
"""
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
