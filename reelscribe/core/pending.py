"""Submissions waiting for their completion webhook: what a landing run needs to find and land each one.

With ``wait="webhook"`` a run submits each video and returns; the video lands later, when the
platform's ``index.task.ready`` webhook arrives (a Prefect event, then a ``land-indexed`` run).
The webhook names only the task or indexed asset, so the submitting run records the rest here,
in the lake's own store, where every machine landing that lake sees it::

    <out>/_pending/<job id>.json    {job_id, path, index_id, source, content_sha256, deadline, …}

``job id``: the ingest path's job (``Submission.job_id``: a task, an indexed asset), what the
webhook's ``data.id`` names; ``path``: the path's ``name``. A record is written once: a later run
that submits the same content again finds the same job (``core.ingest``) and keeps the first
record, so its deadline is not pushed back. It is removed once the video landed or failed.
``deadline``: when the safety net polls the job once if no webhook came (``land-indexed`` without
a completion); for a submission that found an existing job with no record (sent by a polling run,
say), whose webhook may be long gone, it is the submission itself, so the next sweep polls it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Literal

from reelscribe.core.confidence import DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_LANGUAGE_PROBABILITY, Thresholds
from reelscribe.core.errors import ConfigError
from reelscribe.core.ids import validate_partition_id
from reelscribe.core.ingest_paths.base import IngestPath, Job, Submission
from reelscribe.core.ingest_paths.choose import path_named
from reelscribe.core.sources import VideoSource
from reelscribe.core.stores import open_store

PENDING_DIR = "_pending"
_SUFFIX = ".json"


@dataclass(frozen=True)
class PendingSubmission:
    """One submitted video waiting for its webhook: the submission, the path it took, and what its landing needs.

    Stored flat (``to_json``), under the field names and path names earlier versions wrote, so a
    record either version wrote is read by the other.
    """

    submission: Submission
    path: IngestPath
    index_id: str
    submitted_at: float
    deadline: float
    index_name: str | None = None
    start: float | None = None
    end: float | None = None
    table_format: str = "parquet"
    refresh: bool = False
    """Land again even if the content already landed (the submitting run's ``refresh``)."""
    min_confidence: float | None = None
    min_language_probability: float | None = None
    """The submitting run's thresholds (``core.confidence``), which its landing applies (``None``: the default,
    as for a record written before they were kept)."""

    def thresholds(self) -> Thresholds:
        return Thresholds(
            DEFAULT_MIN_CONFIDENCE if self.min_confidence is None else self.min_confidence,
            DEFAULT_MIN_LANGUAGE_PROBABILITY if self.min_language_probability is None else self.min_language_probability,
        )

    @property
    def job_id(self) -> str:
        return self.submission.job_id

    def is_due(self, now: float) -> bool:
        return now >= self.deadline

    def as_ready(self, completion: Completion) -> Job:
        """The ready job as the webhook told it: what the land step needs, with no status request."""
        return self.path.as_ready(
            self.index_id, self.submission, duration=completion.duration, completed_at=completion.completed_at
        )

    def to_json(self) -> bytes:
        s = self.submission
        return json.dumps({
            "job_id": s.job_id, "path": self.path.name, "index_id": self.index_id, "source": s.source.uri,
            "source_kind": s.source.kind, "content_sha256": s.content_sha256, "video_id": s.video_id,
            "asset_id": s.asset_id, "submitted_at": self.submitted_at, "deadline": self.deadline,
            "index_name": self.index_name, "start": self.start, "end": self.end, "table_format": self.table_format,
            "refresh": self.refresh,
            **{name: getattr(self, name) for name in _THRESHOLDS if getattr(self, name) is not None},
        }).encode()

    @classmethod
    def from_json(cls, data: bytes) -> PendingSubmission:
        """``ConfigError`` for a record naming a path this version does not have."""
        fields: dict[str, Any] = json.loads(data)
        submission = Submission(
            VideoSource(fields["source"], fields["source_kind"]), fields["content_sha256"], job_id=fields["job_id"],
            video_id=fields.get("video_id"), asset_id=fields.get("asset_id"),
        )
        rest = {name: fields[name] for name in _OPTIONAL if name in fields}
        return cls(submission, path_named(fields["path"]), fields["index_id"], fields["submitted_at"], fields["deadline"], **rest)


_THRESHOLDS = ("min_confidence", "min_language_probability")
_OPTIONAL = ("index_name", "start", "end", "table_format", "refresh", *_THRESHOLDS)


@dataclass(frozen=True)
class Completion:
    """A finished indexing as the receiver's Prefect event carries it (the webhook's ``id``, ``created_at``, ``data``)."""

    job_id: str
    status: Literal["ready", "failed"]
    duration: float | None = None
    completed_at: datetime | None = None
    webhook_id: str | None = None

    @classmethod
    def from_event_payload(cls, payload: Mapping[str, Any]) -> Completion:
        """``ConfigError`` for a payload that is not a ``twelvelabs.index.task.*`` event's."""
        try:
            data = payload["data"]
            job_id = validate_partition_id(str(data["id"]), "task id")
            status = data["status"]
            duration = (data.get("metadata") or {}).get("duration")
            created = payload.get("created_at")
            completed_at = datetime.fromisoformat(created.replace("Z", "+00:00")) if isinstance(created, str) else None
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ConfigError(f"completion is not a twelvelabs.index.task event's payload ({type(exc).__name__}: {exc})") from None
        if status not in ("ready", "failed"):
            raise ConfigError(f"completion status must be 'ready' or 'failed', not {status!r}")
        return cls(job_id, status, float(duration) if isinstance(duration, (int, float)) else None, completed_at,
                   payload.get("webhook_id"))


class PendingStore:
    """The pending submissions under ``<out>/_pending`` (any fsspec URL or path)."""

    def __init__(self, out: str, *, clock: Callable[[], float] = time.time, **storage_options: Any) -> None:
        self.fs, root = open_store(out, **storage_options)
        self.root = f"{root.rstrip('/')}/{PENDING_DIR}"
        self.clock = clock

    def add(self, submission: PendingSubmission) -> PendingSubmission:
        """Record ``submission`` unless its job already has a record; the record that stays is returned."""
        path = self._path(submission.job_id)
        existing = self.get(submission.job_id)
        if existing is not None:
            return existing
        self.fs.makedirs(self.root, exist_ok=True)
        self.fs.pipe_file(path, submission.to_json())
        return submission

    def get(self, job_id: str) -> PendingSubmission | None:
        try:
            return PendingSubmission.from_json(self.fs.cat_file(self._path(job_id)))
        except FileNotFoundError:
            return None

    def remove(self, job_id: str) -> None:
        try:
            self.fs.rm_file(self._path(job_id))
        except FileNotFoundError:
            pass

    def all(self) -> list[PendingSubmission]:
        """Every pending submission, oldest first."""
        self.fs.invalidate_cache(self.root)
        try:
            names = self.fs.ls(self.root, detail=False)
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            if name.endswith(_SUFFIX):
                try:
                    found.append(PendingSubmission.from_json(self.fs.cat_file(name)))
                except FileNotFoundError:  # landed and removed since the listing
                    continue
        return sorted(found, key=lambda s: s.submitted_at)

    def due(self) -> list[PendingSubmission]:
        """The submissions whose deadline has passed (their webhook never came)."""
        now = self.clock()
        return [s for s in self.all() if s.is_due(now)]

    def _path(self, job_id: str) -> str:
        return f"{self.root}/{validate_partition_id(job_id, 'job id')}{_SUFFIX}"
