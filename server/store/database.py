"""The one SQLite connection, its transactions, filters and paging: every table module goes through here.

One connection in WAL mode, guarded by a re-entrant lock (requests run in a thread pool and the
indexing workers are threads; SQLite serialises writers anyway, and every statement is short).
A :meth:`Database.transaction` opened inside another on the same thread joins it, so a rule that
spans tables (``multipart.report_chunks``) composes the table modules' writes into one commit.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal, get_args

SortField = Literal["created_at", "updated_at"]


@dataclass(frozen=True)
class Page:
    """Which slice of a listing to return, and in which order."""

    number: int = 1
    limit: int = 10
    sort_by: SortField = "created_at"
    descending: bool = True

    def order_sql(self, prefix: str = "") -> str:
        """ORDER BY terms; rowid breaks ties so paging is stable."""
        if self.sort_by not in get_args(SortField):
            raise ValueError(f"cannot sort by {self.sort_by!r}")
        direction = "DESC" if self.descending else "ASC"
        return f"{prefix}{self.sort_by} {direction}, {prefix}rowid {direction}"


@dataclass(frozen=True)
class Since:
    """The ``created_at``/``updated_at`` filters: rows at or after each time (``ids.format_time`` form)."""

    created_at: str | None = None
    updated_at: str | None = None


@dataclass(frozen=True)
class Range:
    """``field`` at least (``gte``) or at most (``lte``) ``value``."""

    field: str
    bound: str
    value: float


class Where:
    """A WHERE clause built from typed filters: column names are the table modules', values are bound."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, condition: str, *params: Any) -> None:
        self.parts.append(condition.format(p=self.prefix))
        self.params.extend(params)

    def equal(self, column: str, value: Any) -> None:
        if value is not None:
            self.add(f"{{p}}{column} = ?", value)

    def any_of(self, column: str, values: Sequence[Any]) -> None:
        if values:
            self.add(f"{{p}}{column} IN ({marks(values)})", *values)

    def since(self, since: Since) -> None:
        for column, value in (("created_at", since.created_at), ("updated_at", since.updated_at)):
            if value is not None:
                self.add(f"{{p}}{column} >= ?", value)

    def within(self, ranges: Sequence[Range], columns: Sequence[str]) -> None:
        for found in ranges:
            if found.field not in columns:  # column names are never taken from the request
                raise ValueError(f"no range filter on {found.field!r}")
            self.add(f"{{p}}{found.field} {'>=' if found.bound == 'gte' else '<='} ?", found.value)

    def sql(self) -> str:
        return (" WHERE " + " AND ".join(self.parts)) if self.parts else ""


def marks(values: Sequence[Any]) -> str:
    """``?,?,?`` for an IN list of ``values``."""
    return ",".join("?" * len(values))


def like_literal(text: str) -> str:
    """Drop LIKE wildcards and JSON quoting characters from a filter value."""
    return "".join(ch for ch in text if ch not in '%_"\\')


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def set_clause(fields: dict[str, Any]) -> str:
    """``a = ?, b = ?`` for an UPDATE of ``fields`` (names are the caller's columns, values bound)."""
    return ", ".join(f"{name} = ?" for name in fields)


ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("videos", "language_info", "TEXT"),
    ("indexed_assets", "language_info", "TEXT"),
)
"""``(table, column, declaration)`` of each column added to ``schema.sql`` after its table first shipped."""


class Database:
    """The connection, created with ``schema.sql``; ``transaction`` for writes, ``one``/``all``/``paged`` for reads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._depth = 0
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(files(__package__).joinpath("schema.sql").read_text(encoding="utf-8"))
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """Bring a database made by an earlier version up to ``schema.sql``: its new columns, added (never dropped)."""
        for table, column, declaration in ADDED_COLUMNS:
            present = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on any exception); nested ones join the outer."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._db
                finally:
                    self._depth -= 1
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            finally:
                self._depth = 0
            self._db.execute("COMMIT")

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute(sql, params).fetchone()

    def paged(
        self, select: str, count_from: str, filters: Where, page: Page, *, group: str = ""
    ) -> tuple[list[sqlite3.Row], int]:
        """One page of ``select`` plus the total count of matching rows."""
        where, params, prefix = filters.sql(), filters.params, filters.prefix
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM {count_from}{where}", params).fetchone()[0]
            rows = self._db.execute(
                f"{select}{where}{group} ORDER BY {page.order_sql(prefix)} LIMIT ? OFFSET ?",
                [*params, page.limit, (page.number - 1) * page.limit],
            ).fetchall()
        return rows, total
