"""Failures that will not change, remembered in the lake so that later runs do not send them again.

A video that the server refuses for what its bytes are (broken or not a video, a language the
engine does not speak, too long or too short, a resolution or size out of bounds) fails the same
way every time it is sent: sending it again costs an upload and an indexing task, and would end
every later run Failed. Such a failure is recorded by its content hash in the index it failed in
(table ``failures``, ``schema.FAILURES_SCHEMA``); the plan then reports it ``failed-before`` with
its reason. New bytes are a new hash, so an edited video is tried again; ``retry_failed`` (the
CLI's ``--retry-failed``) tries every remembered one again.

Only the server's own codes decide (``PERMANENT_CODES``); a timeout, a 5xx or a refused
connection is never remembered, and neither is a URL source (its hash is of the URL, whose
content may change).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from reelscribe.core.errors import TransientError
from reelscribe.core.lake_writer import LakeWriter
from reelscribe.core.schema import FAILURES_SCHEMA

log = logging.getLogger(__name__)

FAILURES_TABLE = "failures"
PERMANENT_CODES = frozenset(
    {
        "video_file_broken",
        "language_not_supported",
        "video_duration_too_long",
        "video_duration_too_short",
        "video_resolution_too_low",
        "video_resolution_too_high",
        "video_resolution_invalid_aspect_ratio",
        "video_filesize_too_large",
        "asset_failed",
    }
)
"""The server's failure codes that the same bytes would get again (API notes: the tasks' errors), and
``asset_failed``: an uploaded asset the platform could not process (it gives no code of its own)."""


@dataclass(frozen=True)
class Failure:
    """One video's content that failed in an index for a reason that will not change."""

    content_sha256: str
    source: str
    code: str
    reason: str


def permanent_code(error: BaseException | None) -> str | None:
    """The server's code of ``error`` if it is one that the same bytes would get again, else ``None``
    (also for a transient error, whatever code it carries: a 5xx or 429 may pass)."""
    if isinstance(error, TransientError):
        return None
    code = getattr(error, "code", None)
    return code if code in PERMANENT_CODES else None


def remembered(lake: LakeWriter, index_id: str) -> dict[str, str]:
    """Content hash -> the reason it failed in ``index_id``, as its run reported it (the latest, if
    it failed more than once).

    An unreadable table remembers nothing (each video is tried again), never a wrong thing.
    """
    try:
        table = _read(lake)
    except Exception as exc:  # noqa: BLE001 - either format's reader errors; remembering nothing is safe
        log.warning("remembered failures in %s are unreadable (each video is tried again): %s", lake.out, exc)
        return {}
    if table is None or table.num_rows == 0:
        return {}
    rows = table.filter(pc.equal(table["index_id"], index_id)).sort_by("failed_at").to_pylist()
    return {row["content_sha256"]: row["reason"] for row in rows}


def remember(lake: LakeWriter, index_id: str, failures: Sequence[Failure]) -> None:
    """Append ``failures`` (one file, or one Delta commit); nothing when there are none."""
    if not failures:
        return
    stamp = datetime.now(timezone.utc)
    table = pa.Table.from_pylist(
        [{"index_id": index_id, "content_sha256": f.content_sha256, "source": f.source, "code": f.code,
          "reason": f.reason, "failed_at": stamp} for f in failures],
        schema=FAILURES_SCHEMA,
    )
    delta = _delta(lake)
    if delta is not None:
        from deltalake import write_deltalake

        from reelscribe.core.delta_lake import retry_commits, writer_properties

        retry_commits(
            lambda: write_deltalake(delta.table_uri(FAILURES_TABLE), table, mode="append",
                                    storage_options=delta.storage_options, writer_properties=writer_properties()),
            what=f"{len(failures)} remembered failure(s)",
        )
        return
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, coerce_timestamps="us", allow_truncated_timestamps=False)
    name = f"part-{stamp:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:12]}.parquet"
    lake._publish(f"{_folder(lake)}/{name}", sink.getvalue())  # type: ignore[attr-defined]


def _read(lake: LakeWriter) -> pa.Table | None:
    delta = _delta(lake)
    if delta is not None:
        table = delta.open(FAILURES_TABLE)
        return None if table is None else table.to_pyarrow_dataset().to_table(columns=FAILURES_SCHEMA.names)
    files = lake._published_files(_folder(lake))  # type: ignore[attr-defined]
    return lake._read_files(files, FAILURES_SCHEMA) if files else None  # type: ignore[attr-defined]


def _folder(lake: LakeWriter) -> str:
    return f"{lake.root.rstrip('/')}/{FAILURES_TABLE}"  # type: ignore[attr-defined]


def _delta(lake: LakeWriter):
    """The lake as a ``DeltaLake`` (delta-rs loaded only for one), else ``None``."""
    if not lake.commits_in_batches:
        return None
    from reelscribe.core.delta_lake import DeltaLake

    return lake if isinstance(lake, DeltaLake) else None
