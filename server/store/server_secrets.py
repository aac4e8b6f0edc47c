"""The ``server_secrets`` table: keys the server makes once and keeps across restarts."""

from __future__ import annotations

from collections.abc import Callable

from reelscribe.server.store.database import Database


class Secrets:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get_or_create(self, name: str, make: Callable[[], str]) -> str:
        """The secret ``name``, created with ``make`` on first use (e.g. the presigned-URL key)."""
        with self._db.transaction() as db:
            row = db.execute("SELECT value FROM server_secrets WHERE name = ?", (name,)).fetchone()
            if row is not None:
                return row[0]
            value = make()
            db.execute("INSERT INTO server_secrets (name, value) VALUES (?, ?)", (name, value))
            return value
