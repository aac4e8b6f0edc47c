"""The work-queue operations both indexing paths share: claim the oldest row in a status, requeue
after a restart, delete once finished. Tasks and indexed assets are each a :class:`WorkQueue` over
their own table.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from reelscribe.server.ids import utc_now
from reelscribe.server.store.database import Database, marks

Row = TypeVar("Row")

TERMINAL = ("ready", "failed")
"""The statuses a piece of work ends in."""


class WorkQueue(Generic[Row]):
    """Status transitions of one table whose rows are work items (``status``, ``created_at``, ``rowid``)."""

    def __init__(self, db: Database, table: str, columns: str, convert: Callable[[sqlite3.Row], Row]) -> None:
        self._db = db
        self._table = table
        self._columns = columns
        self._convert = convert

    def oldest(self, status: str) -> Row | None:
        row = self._db.one(
            f"SELECT {self._columns} FROM {self._table} WHERE status = ? ORDER BY created_at, rowid LIMIT 1", (status,)
        )
        return self._convert(row) if row else None

    def claim(self, from_status: str, to_status: str) -> Row | None:
        """Atomically move the oldest row in ``from_status`` to ``to_status`` and return it."""
        with self._db.transaction() as db:
            row = db.execute(
                f"SELECT id FROM {self._table} WHERE status = ? ORDER BY created_at, rowid LIMIT 1", (from_status,)
            ).fetchone()
            if row is None:
                return None
            db.execute(f"UPDATE {self._table} SET status = ?, updated_at = ? WHERE id = ?", (to_status, utc_now(), row[0]))
            return self._convert(db.execute(f"SELECT {self._columns} FROM {self._table} WHERE id = ?", (row[0],)).fetchone())

    def requeue(self, from_statuses: Sequence[str], to_status: str) -> int:
        """After a restart: rows caught in ``from_statuses`` go back to ``to_status``; returns how many."""
        with self._db.transaction() as db:
            return db.execute(
                f"UPDATE {self._table} SET status = ?, updated_at = ? WHERE status IN ({marks(from_statuses)})",
                (to_status, utc_now(), *from_statuses),
            ).rowcount

    def delete_finished(self, row_id: str) -> bool:
        """Delete a ``ready`` or ``failed`` row; False if it is gone or still in progress."""
        with self._db.transaction() as db:
            cur = db.execute(f"DELETE FROM {self._table} WHERE id = ? AND status IN ({marks(TERMINAL)})", (row_id, *TERMINAL))
            return cur.rowcount == 1
