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
_STATE_COLUMNS = ("source", "size", "mtime_ns", "etag", "version_id", "content_sha256")


class SourceIdentity(NamedTuple):
    """What the store says about an object without reading it; equal identities, same bytes.

    A tuple, so the state's 100,000 rows compare without building an object each.
    """

    size: int | None
    mtime_ns: int | None
    etag: str | None = None
    version_id: str | None = None

    @property
    def usable(self) -> bool:
        """A size and something that changes on every overwrite (a time, an ETag, a version)."""
        return self.size is not None and any(v is not None for v in (self.mtime_ns, self.etag, self.version_id))


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
    """The state as read from a lake: the latest recorded identity and hash of each source."""

    def __init__(self, rows: dict[str, tuple[tuple, str]] | None = None) -> None:
        """``rows``: source -> (identity as a plain tuple ``(size, mtime_ns, etag, version_id)``, hash); kept, not copied."""
        self._rows = {} if rows is None else rows

    def __len__(self) -> int:
        return len(self._rows)

    def knows(self, source: str) -> bool:
        return source in self._rows

    def hash_of(self, source: str, identity: SourceIdentity | None) -> str | None:
        """The recorded hash, only when ``identity`` is usable and equals the recorded one."""
        if identity is None or not identity.usable:
            return None
        recorded = self._rows.get(source)
        return recorded[1] if recorded and recorded[0] == identity else None

    @classmethod
    def from_table(cls, table: pa.Table) -> SeenSources:
        """Rows in any order; the latest ``seen_at`` of each source wins.

        Ordered by time in Arrow, then one ``dict(zip(...))`` whose later keys overwrite earlier
        ones: the 100,000-row state becomes a dict without a Python statement per row.
        """
        table = table.sort_by("seen_at")
        source, size, mtime, etag, version, sha = (table[name].to_pylist() for name in _STATE_COLUMNS)
        return cls(dict(zip(source, zip(zip(size, mtime, etag, version), sha))))


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
