"""Which index a name denotes in the server's data, read without starting the server.

``reelscribe run`` asks this before deciding whether to start anything. The server's own database
is the only record, so an index deleted or recreated (a new id under the same name) is seen at
once; a copy kept elsewhere could go stale. Opened read-only through SQLite's URI mode: a server
running on the same data meanwhile is not disturbed (WAL readers take no write lock).
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

DB_FILE = "reelscribe-server.sqlite3"


def index_id_named(data_dir: Path, name: str) -> str | None:
    """The id of the index called ``name``; ``None`` if there is none or the data cannot be read."""
    path = data_dir / DB_FILE
    if not path.is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            row = db.execute("SELECT id FROM indexes WHERE name = ?", (name,)).fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None
