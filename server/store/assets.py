"""The ``assets`` table: uploaded or fetched files of the assets path (``processing → ready|failed``)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from reelscribe.server.ids import utc_now
from reelscribe.server.store.database import Database, Page, Where, dumps, like_literal, loads, set_clause
from reelscribe.server.store.uploads import UploadRow, insert_upload


class AssetInUse(Exception):
    """Indexed assets still reference the asset; ``args[0]`` is how many."""


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
class AssetFilter:
    """``ids``: only these (``()`` matches nothing); ``filename_contains``: case-insensitive substring."""

    ids: tuple[str, ...] | None = None
    filename_contains: str | None = None
    statuses: tuple[str, ...] = ()

    def where(self) -> Where:
        where = Where()
        if self.ids is not None:
            if self.ids:
                where.any_of("id", self.ids)
            else:
                where.add("0")
        if self.filename_contains:
            where.add("{p}filename LIKE ?", f"%{like_literal(self.filename_contains)}%")
        where.any_of("status", self.statuses)
        return where


def _asset(row: sqlite3.Row) -> AssetRow:
    data = dict(row)
    data["user_metadata"] = loads(data["user_metadata"])
    data["has_audio"] = None if data["has_audio"] is None else bool(data["has_audio"])
    return AssetRow(**data)


class Assets:
    def __init__(self, db: Database) -> None:
        self._db = db

    def insert(self, asset: AssetRow, upload: UploadRow | None = None) -> None:
        """The asset row (and its multipart session, if any) in one transaction."""
        with self._db.transaction() as db:
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
                    dumps(asset.user_metadata),
                    asset.created_at,
                    asset.updated_at,
                ),
            )
            if upload is not None:
                insert_upload(db, upload)

    def get(self, asset_id: str) -> AssetRow | None:
        row = self._db.one("SELECT * FROM assets WHERE id = ?", (asset_id,))
        return _asset(row) if row else None

    def listing(self, filters: AssetFilter, page: Page) -> tuple[list[AssetRow], int]:
        rows, total = self._db.paged("SELECT * FROM assets", "assets", filters.where(), page)
        return [_asset(r) for r in rows], total

    def ids(self) -> set[str]:
        return {r[0] for r in self._db.all("SELECT id FROM assets")}

    def next_processable(self) -> AssetRow | None:
        """The oldest ``processing`` asset whose bytes are all here (a multipart one once its session completed)."""
        row = self._db.one(
            "SELECT a.* FROM assets a LEFT JOIN multipart_uploads u ON u.asset_id = a.id"
            " WHERE a.status = 'processing' AND (a.method != 'multipart' OR u.status = 'completed')"
            " ORDER BY a.created_at, a.rowid LIMIT 1"
        )
        return _asset(row) if row else None

    def update(self, asset_id: str, **fields: Any) -> bool:
        """Set asset columns; only while the asset is ``processing`` (False if it is gone or finished)."""
        fields["updated_at"] = utc_now()
        with self._db.transaction() as db:
            cur = db.execute(
                f"UPDATE assets SET {set_clause(fields)} WHERE id = ? AND status = 'processing'",
                [*fields.values(), asset_id],
            )
        return cur.rowcount == 1

    def delete(self, asset_id: str, *, force: bool) -> bool:
        """Delete the asset and its upload session; False if there is no such asset.

        Raises :class:`AssetInUse` when indexed assets reference it and ``force`` is false; with
        ``force`` they stay (a finished one keeps its transcription, an unfinished one fails).
        """
        with self._db.transaction() as db:
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
