"""The ``indexes`` table and the index aggregate: an index owns its videos, tasks and indexed assets."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from reelscribe.server.ids import utc_now
from reelscribe.server.store.database import Database, Page, Since, Where, dumps, like_literal


class DuplicateName(Exception):
    """An index with that name already exists."""


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
class IndexFilter:
    """``model_family`` matches a model name's start; every one of ``model_options`` must be enabled."""

    name: str | None = None
    model_family: str | None = None
    model_options: tuple[str, ...] = ()
    since: Since = Since()

    def where(self) -> Where:
        """Columns are named ``i.<column>``; model filters match the stored JSON."""
        where = Where("i.")
        where.equal("name", self.name)
        if self.model_family is not None:
            where.add("{p}models LIKE ?", f'%"model_name":"{like_literal(self.model_family)}%')
        for option in self.model_options:
            where.add("{p}models LIKE ?", f'%"model_options":[%"{like_literal(option)}"%')
        where.since(self.since)
        return where


# An index's videos: those of the tasks path and the ready indexed assets of the assets path.
_SELECT = """
SELECT i.*, COUNT(v.id) AS video_count, COALESCE(SUM(v.duration), 0.0) AS total_duration
FROM indexes i LEFT JOIN (
    SELECT id, index_id, duration FROM videos
    UNION ALL SELECT id, index_id, duration FROM indexed_assets WHERE status = 'ready'
) v ON v.index_id = i.id
"""


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


class Indexes:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, index_id: str, name: str, models: list[dict[str, Any]], addons: list[str]) -> IndexRow:
        now = utc_now()
        try:
            with self._db.transaction() as db:
                db.execute(
                    "INSERT INTO indexes (id, name, models, addons, created_at, updated_at) VALUES (?,?,?,?,?,?)",
                    (index_id, name, dumps(models), dumps(addons), now, now),
                )
        except sqlite3.IntegrityError:
            raise DuplicateName(name) from None
        return IndexRow(index_id, name, models, addons, now, now)

    def get(self, index_id: str) -> IndexRow | None:
        row = self._db.one(f"{_SELECT} WHERE i.id = ? GROUP BY i.id", (index_id,))
        return _index(row) if row else None

    def listing(self, filters: IndexFilter, page: Page) -> tuple[list[IndexRow], int]:
        rows, total = self._db.paged(_SELECT, "indexes i", filters.where(), page, group=" GROUP BY i.id")
        return [_index(r) for r in rows], total

    def rename(self, index_id: str, name: str) -> bool:
        try:
            with self._db.transaction() as db:
                cur = db.execute("UPDATE indexes SET name = ?, updated_at = ? WHERE id = ?", (name, utc_now(), index_id))
        except sqlite3.IntegrityError:
            raise DuplicateName(name) from None
        return cur.rowcount == 1

    def delete(self, index_id: str) -> bool:
        """Delete the index with its videos and tasks (workers notice their task is gone and clean up)."""
        with self._db.transaction() as db:
            db.execute("DELETE FROM videos WHERE index_id = ?", (index_id,))
            db.execute("DELETE FROM tasks WHERE index_id = ?", (index_id,))
            db.execute("DELETE FROM indexed_assets WHERE index_id = ?", (index_id,))
            return db.execute("DELETE FROM indexes WHERE id = ?", (index_id,)).rowcount == 1
