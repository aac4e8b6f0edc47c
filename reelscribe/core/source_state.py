"""The seen-source state: which content hash a source object had, keyed by its store identity.

A run lists its sources; the listing gives each object's identity without reading it (local
files: size and ``mtime_ns``; S3: size, ETag, LastModified, VersionId). A source whose identity
equals a recorded one is not opened: its recorded hash stands. Any other source is hashed and
its identity recorded, so a renamed or copied file is read once and then known by its new name.

The content hash stays the truth. The state only saves reads: the landed set and the upload's
exactly-once lookup are keyed by the hash, so a lost or unreadable state costs a re-read, never
a duplicate. An overwrite changes the modification time even on a store that reuses ETags, and
the time is part of the identity; a listing without a usable identity is always hashed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, NamedTuple, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from reelscribe.core.schema import SOURCES_SCHEMA

SOURCES_TABLE = "sources"
_MODIFIED_KEYS = ("mtime", "LastModified", "last_modified", "updated", "modified", "created")
_ETAG_KEYS = ("ETag", "etag")
_VERSION_KEYS = ("VersionId", "version_id", "generation")
_IDENTITY_COLUMNS = ("size", "mtime_ns", "etag", "version_id")


class SourceIdentity(NamedTuple):
    """What the store says about an object without reading it; equal identities, same bytes.

    A tuple, so a listing's identities turn into columns with one ``zip``.
    """

    size: int | None
    mtime_ns: int | None
    etag: str | None = None
    version_id: str | None = None

    @property
    def usable(self) -> bool:
        """A size and something that changes on every overwrite (a time, an ETag, a version)."""
        return self.size is not None and any(v is not None for v in (self.mtime_ns, self.etag, self.version_id))


_NO_IDENTITY = SourceIdentity(None, None)


def identity_from_stat(stat: os.stat_result) -> SourceIdentity:
    return SourceIdentity(size=stat.st_size, mtime_ns=stat.st_mtime_ns)


def identity_from_info(info: Mapping[str, Any]) -> SourceIdentity:
    """An fsspec ``info()``/``find(detail=True)`` entry as an identity (s3fs, gcsfs, memory, local…)."""
    size = info.get("size", info.get("Size"))
    return SourceIdentity(
        size=int(size) if size is not None else None,
        mtime_ns=_first(info, _MODIFIED_KEYS, _to_ns),
        etag=_first(info, _ETAG_KEYS, str),
        version_id=_first(info, _VERSION_KEYS, str),
    )


@dataclass(frozen=True)
class SeenSource:
    """One row of the state: ``source`` had ``content_sha256`` while it had ``identity``."""

    source: str
    identity: SourceIdentity
    content_sha256: str


class SeenSources:
    """The state as read from a lake: the latest recorded identity and hash of each source.

    Kept as Arrow columns and matched against a whole listing at once (``recognise``): at
    100,000 sources a dict of per-row Python tuples cost more than the read itself.
    """

    def __init__(self, table: pa.Table | None = None) -> None:
        """``table``: rows of ``SOURCES_SCHEMA`` in any order, duplicates allowed (the latest wins)."""
        if table is None or table.num_rows == 0:
            self._table = None
        else:
            self._table = (latest_per_source(table) if holds_older_rows(table) else table).combine_chunks()

    def __len__(self) -> int:
        return 0 if self._table is None else self._table.num_rows

    def sources_under(self, prefix: str) -> list[str]:
        """The recorded sources whose URI starts with ``prefix``, sorted: where the last run found them."""
        if self._table is None:
            return []
        under = self._table["source"].filter(pc.starts_with(self._table["source"], prefix))
        return pc.take(under, pc.array_sort_indices(under)).to_pylist()

    def recognise(self, sources: Sequence[Any]) -> Recognised:
        """Match a listing (anything with ``uri`` and ``identity``) against the state, in Arrow."""
        if not sources:
            return Recognised([], [], 0)
        listed = _listing(sources)
        usable = _usable(listed)
        without_identity = len(sources) - pc.sum(usable).as_py()
        if self._table is None:
            return Recognised([None] * len(sources), [False] * len(sources), without_identity)
        at = pc.index_in(listed["source"], value_set=self._table["source"])
        recorded = self._table.take(at)
        same = pc.and_(pc.is_valid(at), usable)
        for name in _IDENTITY_COLUMNS:
            same = pc.and_(same, _equal(listed[name], recorded[name]))
        hashes = pc.if_else(same, recorded["content_sha256"], pa.scalar(None, pa.string()))
        return Recognised(hashes.to_pylist(), pc.is_valid(at).to_pylist(), without_identity)


class Recognised(NamedTuple):
    """A listing matched against the state, source by source."""

    hashes: list[str | None]
    """The recorded hash where the listed identity is usable and equals the recorded one."""
    known: list[bool]
    """Whether the state holds the source at all (under this or an older identity)."""
    without_identity: int
    """Sources whose listed identity is not usable (no size, or neither time, ETag nor version)."""


def _listing(sources: Sequence[Any]) -> pa.Table:
    """The listed identities as columns (a source without one: all null, so never recognised)."""
    identities = [s.identity or _NO_IDENTITY for s in sources]
    size, mtime_ns, etag, version_id = (list(column) for column in zip(*identities))
    return pa.table(
        {"source": [s.uri for s in sources], "size": size, "mtime_ns": mtime_ns, "etag": etag, "version_id": version_id},
        schema=pa.schema([SOURCES_SCHEMA.field(name) for name in ("source", *_IDENTITY_COLUMNS)]),
    )


def _usable(listed: pa.Table) -> pa.ChunkedArray:
    """``SourceIdentity.usable`` for a whole listing: a size and a time, an ETag or a version."""
    changes = pc.or_(pc.or_(pc.is_valid(listed["mtime_ns"]), pc.is_valid(listed["etag"])), pc.is_valid(listed["version_id"]))
    return pc.and_(pc.is_valid(listed["size"]), changes)


def _equal(listed: pa.ChunkedArray, recorded: pa.ChunkedArray) -> pa.ChunkedArray:
    """Equal values, or both missing (a local file has no ETag on either side)."""
    both_missing = pc.and_(pc.is_null(listed), pc.is_null(recorded))
    return pc.or_(pc.fill_null(pc.equal(listed, recorded), False), both_missing)


def sources_table(rows: Sequence[SeenSource], seen_at: datetime | None = None) -> pa.Table:
    """Rows to append to the ``sources`` table, all stamped ``seen_at`` (now, UTC)."""
    stamp = seen_at or datetime.now(timezone.utc)
    return pa.Table.from_pylist(
        [
            {
                "source": row.source,
                "size": row.identity.size,
                "mtime_ns": row.identity.mtime_ns,
                "etag": row.identity.etag,
                "version_id": row.identity.version_id,
                "content_sha256": row.content_sha256,
                "seen_at": stamp,
            }
            for row in rows
        ],
        schema=SOURCES_SCHEMA,
    )


def latest_per_source(table: pa.Table) -> pa.Table:
    """One row per source, its latest, ordered by source: what merging and compaction keep.

    An older identity of a source is never matched again (the listing gives only the current
    one), so dropping it loses nothing, and the state stays one row per source however often
    objects are overwritten.
    """
    ordered = table.sort_by([("source", "ascending"), ("seen_at", "descending")])
    if ordered.num_rows < 2:
        return ordered
    sources = ordered["source"].combine_chunks()
    first_of_each = pa.concat_arrays([pa.array([True]), pc.not_equal(sources.slice(1), sources.slice(0, len(sources) - 1))])
    return ordered.filter(first_of_each)


def holds_older_rows(table: pa.Table) -> bool:
    """Whether some source has more than one row (appends since the last merge overwrote it)."""
    return pc.count_distinct(table["source"]).as_py() < table.num_rows


def _first(info: Mapping[str, Any], keys: tuple[str, ...], convert: Any) -> Any:
    for key in keys:
        value = info.get(key)
        if value is not None and value != "":
            return convert(value)
    return None


def _to_ns(value: Any) -> int:
    """A modification time as integer nanoseconds: datetimes, ISO text or epoch seconds."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return int(moment.timestamp() * 1_000_000) * 1000
    return int(float(value) * 1_000_000_000)
