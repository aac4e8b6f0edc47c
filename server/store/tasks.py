"""The ``tasks`` table: the tasks path's work queue (``validating → pending → indexing → ready|failed``)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Literal

from reelscribe.server.ids import utc_now
from reelscribe.server.store.database import Database, Page, Since, Where, dumps, loads, marks, set_clause
from reelscribe.server.store.queue import WorkQueue

TaskStatus = Literal["ready", "uploading", "validating", "pending", "queued", "indexing", "failed"]
UNFINISHED = ("validating", "pending", "indexing")


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
class TaskFilter:
    index_id: str | None = None
    statuses: tuple[str, ...] = ()
    filename: str | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    since: Since = Since()

    def where(self) -> Where:
        where = Where()
        where.equal("index_id", self.index_id)
        where.any_of("status", self.statuses)
        for column in ("filename", "duration", "width", "height"):
            where.equal(column, getattr(self, column))
        where.since(self.since)
        return where


def _task(row: sqlite3.Row) -> TaskRow:
    data = dict(row)
    data["user_metadata"] = loads(data["user_metadata"])
    return TaskRow(**data)


class Tasks(WorkQueue[TaskRow]):
    def __init__(self, db: Database) -> None:
        super().__init__(db, "tasks", "*", _task)

    def insert(self, task: TaskRow) -> None:
        with self._db.transaction() as db:
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
                    dumps(task.user_metadata),
                    task.created_at,
                    task.updated_at,
                ),
            )

    def get(self, task_id: str) -> TaskRow | None:
        row = self._db.one("SELECT * FROM tasks WHERE id = ?", (task_id,))
        return _task(row) if row else None

    def listing(self, filters: TaskFilter, page: Page) -> tuple[list[TaskRow], int]:
        rows, total = self._db.paged("SELECT * FROM tasks", "tasks", filters.where(), page)
        return [_task(r) for r in rows], total

    def of_video(self, index_id: str, video_id: str) -> TaskRow | None:
        """The task that creates (or created) ``video_id`` in ``index_id``."""
        row = self._db.one("SELECT * FROM tasks WHERE video_id = ? AND index_id = ?", (video_id, index_id))
        return _task(row) if row else None

    def update(self, task_id: str, **fields: Any) -> bool:
        """Set task columns (``status``, probe results, ``error_*``); False if the task is gone."""
        fields["updated_at"] = utc_now()
        with self._db.transaction() as db:
            cur = db.execute(f"UPDATE tasks SET {set_clause(fields)} WHERE id = ?", [*fields.values(), task_id])
        return cur.rowcount == 1

    def requeue_interrupted(self) -> int:
        """After a restart: tasks caught mid-indexing go back to ``pending``; validating ones stay."""
        return self.requeue(("indexing",), "pending")

    def unfinished_video_ids(self) -> set[str]:
        """Video ids whose media file is still needed: those of tasks not yet ready or failed."""
        rows = self._db.all(f"SELECT video_id FROM tasks WHERE status IN ({marks(UNFINISHED)})", UNFINISHED)
        return {r[0] for r in rows}

    def finish_ready(
        self, task: TaskRow, transcription: list[dict[str, Any]] | None, language_info: dict[str, Any] | None = None
    ) -> bool:
        """Create the video and mark the task ``ready`` in one transaction; False if the task is gone.

        ``language_info``: the video's ``language_probability`` and ``languages`` where detected."""
        now = utc_now()
        with self._db.transaction() as db:
            cur = db.execute(
                "UPDATE tasks SET status = 'ready', updated_at = ? WHERE id = ? AND status = 'indexing'", (now, task.id)
            )
            if cur.rowcount != 1:
                return False
            db.execute(
                "INSERT OR REPLACE INTO videos (id, index_id, task_id, filename, size, duration, width, height, fps,"
                " user_metadata, transcription, created_at, updated_at, indexed_at, language_info)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
                    dumps(task.user_metadata),
                    dumps(transcription),
                    task.created_at,
                    now,
                    now,
                    dumps(language_info),
                ),
            )
        return True
