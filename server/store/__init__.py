"""The server's state in SQLite: one module per table (or aggregate), all through one ``Database``.

``database.py`` holds the connection, transactions, filters and paging; ``schema.sql`` the schema;
``queue.py`` the claim/requeue/delete-finished operations both work queues (tasks, indexed assets)
share. A new table gets its own module here, a statement in ``schema.sql`` and an attribute on
:class:`Store`. Rules that span tables and are not storage (a multipart session's chunk rules) live
beside their feature (``server/multipart.py``) and compose these writes in one ``transaction()``.
Rows come back as frozen dataclasses; turning them into API JSON is ``views.py``'s job.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from sqlite3 import Connection

from reelscribe.server.store.assets import AssetFilter, AssetInUse, AssetRow, Assets
from reelscribe.server.store.database import Database, Page, Range, Since, SortField
from reelscribe.server.store.indexed_assets import AlreadyIndexed, IndexedAssetFilter, IndexedAssetRow, IndexedAssets
from reelscribe.server.store.indexes import DuplicateName, IndexFilter, Indexes, IndexRow
from reelscribe.server.store.queue import TERMINAL
from reelscribe.server.store.server_secrets import Secrets
from reelscribe.server.store.tasks import TaskFilter, TaskRow, Tasks, TaskStatus
from reelscribe.server.store.uploads import ChunkRow, UploadRow, Uploads
from reelscribe.server.store.videos import RANGE_COLUMNS, VideoFilter, VideoRow, Videos

__all__ = [
    "TERMINAL",
    "AlreadyIndexed",
    "AssetFilter",
    "AssetInUse",
    "AssetRow",
    "ChunkRow",
    "DuplicateName",
    "IndexFilter",
    "IndexRow",
    "IndexedAssetFilter",
    "IndexedAssetRow",
    "Page",
    "RANGE_COLUMNS",
    "Range",
    "Since",
    "SortField",
    "Store",
    "TaskFilter",
    "TaskRow",
    "TaskStatus",
    "UploadRow",
    "VideoFilter",
    "VideoRow",
]


class Store:
    """All reads and writes of the server's state, one attribute per table."""

    def __init__(self, path: Path) -> None:
        self._db = Database(path)
        self.indexes = Indexes(self._db)
        self.tasks = Tasks(self._db)
        self.videos = Videos(self._db)
        self.assets = Assets(self._db)
        self.uploads = Uploads(self._db)
        self.indexed_assets = IndexedAssets(self._db)
        self.secrets = Secrets(self._db)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One commit for several table writes (each table method joins it)."""
        with self._db.transaction() as db:
            yield db

    def close(self) -> None:
        self._db.close()
