"""The ``indexed_assets`` table: the assets path's work queue
(``pending → queued → validating → indexing → ready|failed``) and its transcriptions.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from reelscribe.server.ids import utc_now
from reelscribe.server.store.database import Database, Page, Since, Where, dumps, loads, set_clause
from reelscribe.server.store.queue import WorkQueue

class AlreadyIndexed(Exception):
    """The asset already has an indexed asset (not failed) in that index; ``args[0]`` is its id."""


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
    language_info: dict[str, Any] | None = field(default=None, repr=False)
    """The video's detected language beyond its segments' (``language_probability``, ``languages``)."""
    error_code: str | None = None
    error_message: str | None = None
    indexed_at: str | None = None


@dataclass(frozen=True)
class IndexedAssetFilter:
    """Times are at-or-after bounds in ``ids.format_time`` form."""

    index_id: str | None = None
    asset_id: str | None = None
    statuses: tuple[str, ...] = ()
    filename: str | None = None
    created_at: str | None = None
    updated_at: str | None = None

    def where(self) -> Where:
        where = Where()
        for column in ("index_id", "asset_id", "filename"):
            where.equal(column, getattr(self, column))
        where.any_of("status", self.statuses)
        where.since(Since(created_at=self.created_at, updated_at=self.updated_at))
        return where


_COLUMNS = (
    "id, index_id, asset_id, status, filename, size, duration, width, height, fps, user_metadata,"
    " error_code, error_message, created_at, updated_at, indexed_at"
)


def _indexed_asset(row: sqlite3.Row, *, with_transcription: bool = False) -> IndexedAssetRow:
    data = dict(row)
    data["user_metadata"] = loads(data["user_metadata"])
    data["transcription"] = loads(data.get("transcription")) if with_transcription else None
    data["language_info"] = loads(data.get("language_info")) if with_transcription else None
    return IndexedAssetRow(**data)


class IndexedAssets(WorkQueue[IndexedAssetRow]):
    def __init__(self, db: Database) -> None:
        super().__init__(db, "indexed_assets", _COLUMNS, _indexed_asset)

    def insert(self, row: IndexedAssetRow) -> None:
        """Raises :class:`AlreadyIndexed` if the asset has an indexed asset (not failed) in the index."""
        try:
            with self._db.transaction() as db:
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
                        dumps(row.user_metadata),
                        row.created_at,
                        row.updated_at,
                    ),
                )
        except sqlite3.IntegrityError:
            existing = self._db.one(
                "SELECT id FROM indexed_assets WHERE index_id = ? AND asset_id = ? AND status != 'failed'",
                (row.index_id, row.asset_id),
            )
            raise AlreadyIndexed(existing[0] if existing else "") from None

    def get(self, index_id: str, indexed_asset_id: str, *, with_transcription: bool = False) -> IndexedAssetRow | None:
        columns = _COLUMNS + (", transcription, language_info" if with_transcription else "")
        row = self._db.one(
            f"SELECT {columns} FROM indexed_assets WHERE id = ? AND index_id = ?", (indexed_asset_id, index_id)
        )
        return _indexed_asset(row, with_transcription=with_transcription) if row else None

    def listing(self, filters: IndexedAssetFilter, page: Page) -> tuple[list[IndexedAssetRow], int]:
        rows, total = self._db.paged(f"SELECT {_COLUMNS} FROM indexed_assets", "indexed_assets", filters.where(), page)
        return [_indexed_asset(r) for r in rows], total

    def update(self, indexed_asset_id: str, expected_status: str, **fields: Any) -> bool:
        """Set columns if the indexed asset is still in ``expected_status``; False otherwise (gone or moved on)."""
        fields["updated_at"] = utc_now()
        with self._db.transaction() as db:
            cur = db.execute(
                f"UPDATE indexed_assets SET {set_clause(fields)} WHERE id = ? AND status = ?",
                [*fields.values(), indexed_asset_id, expected_status],
            )
        return cur.rowcount == 1

    def finish(
        self, indexed_asset_id: str, transcription: list[dict[str, Any]] | None, language_info: dict[str, Any] | None = None
    ) -> bool:
        """``indexing`` → ``ready`` with the transcription (and the video's language info, where detected);
        False if it is gone or no longer indexing."""
        return self.update(
            indexed_asset_id, "indexing", status="ready", transcription=dumps(transcription),
            language_info=dumps(language_info), indexed_at=utc_now(),
        )

    def requeue_interrupted(self) -> int:
        """After a restart: indexed assets caught validating or indexing go back to ``queued``."""
        return self.requeue(("validating", "indexing"), "queued")

    def transcription_of_asset(self, asset_id: str) -> IndexedAssetRow | None:
        """The indexed asset whose transcription stands for the asset's: a ready one, else the newest."""
        row = self._db.one(
            f"SELECT {_COLUMNS}, transcription, language_info FROM indexed_assets WHERE asset_id = ?"
            " ORDER BY status = 'ready' DESC, created_at DESC, rowid DESC LIMIT 1",
            (asset_id,),
        )
        return _indexed_asset(row, with_transcription=True) if row else None
