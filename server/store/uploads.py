"""The ``multipart_uploads`` and ``multipart_chunks`` tables: what a multipart session holds.

Only storage lives here; the rules (which session takes a chunk, when a report is accepted, when a
session expires) are ``server/multipart.py``'s, which composes these writes in one transaction.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from reelscribe.server.store.database import Database, Page, Where


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


def _chunk(row: sqlite3.Row) -> ChunkRow:
    data = dict(row)
    data["completed"] = bool(data["completed"])
    return ChunkRow(**data)


def insert_upload(db: sqlite3.Connection, upload: UploadRow) -> None:
    """Inside the caller's transaction (an asset and its session are created together)."""
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


class Uploads:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, upload_id: str) -> UploadRow | None:
        row = self._db.one("SELECT * FROM multipart_uploads WHERE id = ?", (upload_id,))
        return UploadRow(**dict(row)) if row else None

    def for_asset(self, asset_id: str) -> UploadRow | None:
        row = self._db.one("SELECT * FROM multipart_uploads WHERE asset_id = ?", (asset_id,))
        return UploadRow(**dict(row)) if row else None

    def list_active(self, page: Page) -> tuple[list[UploadRow], int]:
        where = Where()
        where.equal("status", "active")
        rows, total = self._db.paged("SELECT * FROM multipart_uploads", "multipart_uploads", where, page)
        return [UploadRow(**dict(r)) for r in rows], total

    def expired(self, now: str) -> list[UploadRow]:
        """Active sessions whose expiry is at or before ``now``."""
        rows = self._db.all("SELECT * FROM multipart_uploads WHERE status = 'active' AND expires_at <= ?", (now,))
        return [UploadRow(**dict(r)) for r in rows]

    def set_status(self, upload_id: str, status: str, now: str) -> None:
        with self._db.transaction() as db:
            db.execute("UPDATE multipart_uploads SET status = ?, updated_at = ? WHERE id = ?", (status, now, upload_id))

    def touch(self, upload_id: str, now: str) -> None:
        with self._db.transaction() as db:
            db.execute("UPDATE multipart_uploads SET updated_at = ? WHERE id = ?", (now, upload_id))

    def chunk(self, upload_id: str, chunk_index: int) -> ChunkRow | None:
        row = self._db.one(
            "SELECT * FROM multipart_chunks WHERE upload_id = ? AND chunk_index = ?", (upload_id, chunk_index)
        )
        return _chunk(row) if row else None

    def chunks(self, upload_id: str) -> dict[int, ChunkRow]:
        """Every received chunk of a session, by index."""
        rows = self._db.all("SELECT * FROM multipart_chunks WHERE upload_id = ? ORDER BY chunk_index", (upload_id,))
        return {r["chunk_index"]: _chunk(r) for r in rows}

    def put_chunk(self, upload_id: str, chunk_index: int, size: int, etag: str, now: str) -> None:
        """Record a received, not yet reported chunk (replacing an earlier copy)."""
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO multipart_chunks (upload_id, chunk_index, completed, size, etag, uploaded_at,"
                " updated_at) VALUES (?,?,0,?,?,?,?)",
                (upload_id, chunk_index, size, etag, now, now),
            )

    def complete_chunks(self, upload_id: str, indexes: set[int], now: str) -> int:
        """Mark chunks reported; returns how many of the session's chunks are now completed."""
        with self._db.transaction() as db:
            for index in indexes:
                db.execute(
                    "UPDATE multipart_chunks SET completed = 1, updated_at = ? WHERE upload_id = ? AND chunk_index = ?",
                    (now, upload_id, index),
                )
            return db.execute(
                "SELECT COUNT(*) FROM multipart_chunks WHERE upload_id = ? AND completed = 1", (upload_id,)
            ).fetchone()[0]

    def drop_chunks(self, upload_id: str) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM multipart_chunks WHERE upload_id = ?", (upload_id,))

    def needing_chunks(self) -> set[str]:
        """Sessions whose chunk files are still needed: active ones, and completed ones not yet assembled."""
        rows = self._db.all(
            "SELECT u.id FROM multipart_uploads u JOIN assets a ON a.id = u.asset_id"
            " WHERE u.status = 'active' OR (u.status = 'completed' AND a.status = 'processing')"
        )
        return {r[0] for r in rows}
