"""The ``videos`` table: the tasks path's finished videos and their transcriptions."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from reelscribe.server.ids import utc_now
from reelscribe.server.store.database import Database, Page, Range, Since, Where, dumps, loads


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
    language_info: dict[str, Any] | None = field(default=None, repr=False)
    """The video's detected language beyond its segments' (``language_probability``, ``languages``)."""


@dataclass(frozen=True)
class VideoFilter:
    index_id: str
    filename: str | None = None
    since: Since = Since()
    ranges: tuple[Range, ...] = ()

    def where(self) -> Where:
        where = Where()
        where.equal("index_id", self.index_id)
        where.equal("filename", self.filename)
        where.since(self.since)
        where.within(self.ranges, RANGE_COLUMNS)
        return where


RANGE_COLUMNS = ("duration", "fps", "width", "height", "size")
_COLUMNS = (
    "id, index_id, task_id, filename, size, duration, width, height, fps, user_metadata,"
    " created_at, updated_at, indexed_at"
)


def _video(row: sqlite3.Row, *, with_transcription: bool = False) -> VideoRow:
    data = dict(row)
    data["user_metadata"] = loads(data["user_metadata"])
    data["transcription"] = loads(data.get("transcription")) if with_transcription else None
    data["language_info"] = loads(data.get("language_info")) if with_transcription else None
    return VideoRow(**data)


class Videos:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, index_id: str, video_id: str, *, with_transcription: bool = False) -> VideoRow | None:
        columns = _COLUMNS + (", transcription, language_info" if with_transcription else "")
        row = self._db.one(f"SELECT {columns} FROM videos WHERE id = ? AND index_id = ?", (video_id, index_id))
        return _video(row, with_transcription=with_transcription) if row else None

    def listing(self, filters: VideoFilter, page: Page) -> tuple[list[VideoRow], int]:
        rows, total = self._db.paged(f"SELECT {_COLUMNS} FROM videos", "videos", filters.where(), page)
        return [_video(r) for r in rows], total

    def delete(self, index_id: str, video_id: str) -> bool:
        with self._db.transaction() as db:
            return db.execute("DELETE FROM videos WHERE id = ? AND index_id = ?", (video_id, index_id)).rowcount == 1

    def update_metadata(self, index_id: str, video_id: str, changes: dict[str, Any]) -> bool:
        """Merge ``changes`` into the video's user metadata; a ``None`` value deletes that key."""
        with self._db.transaction() as db:
            row = db.execute(
                "SELECT user_metadata FROM videos WHERE id = ? AND index_id = ?", (video_id, index_id)
            ).fetchone()
            if row is None:
                return False
            merged = dict(loads(row[0]) or {})
            for key, value in changes.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            db.execute(
                "UPDATE videos SET user_metadata = ?, updated_at = ? WHERE id = ?",
                (dumps(merged) if merged else None, utc_now(), video_id),
            )
        return True
