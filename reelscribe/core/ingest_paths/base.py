"""What every ingest path does, and the records that pass between its steps.

An ingest path is one way a video gets into an index: submit it (exactly once), wait until it is
indexed, retrieve what the lake lands. The steps, the pending records and the webhook landing
hold an ``IngestPath`` and call it; none of them knows which path it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Protocol

import pyarrow as pa

from reelscribe.core.claims import ClaimStore
from reelscribe.core.confidence import DEFAULT_MIN_LANGUAGE_PROBABILITY
from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.records import VideoRecord
from reelscribe.core.models import IndexedAsset, Task
from reelscribe.core.sources import VideoSource
from reelscribe.core.stores import StoreOptions
from reelscribe.core.waiting import WaitOptions

Job = Task | IndexedAsset
"""What a path waits on: the platform's indexing job for one video (its status, once ready what to retrieve)."""


@dataclass(frozen=True)
class Submission:
    """One video on its way in: what the wait, land and pending steps need (ids and a hash, never bytes).

    ``job_id``: the indexing job the path waits on, the id a completion webhook names.
    ``video_id``: the indexed video, where already known. ``asset_id``: the uploaded file, on a
    path that has one. ``already_landed``: its content was in the lake, nothing was submitted.
    """

    source: VideoSource
    content_sha256: str
    job_id: str | None = None
    video_id: str | None = None
    asset_id: str | None = None
    reused: bool = False
    already_landed: bool = False


@dataclass(frozen=True)
class LandRequest:
    """``ready``: the path's ready job."""

    index_id: str
    ready: Job
    source: str
    content_sha256: str
    start: float | None = None
    end: float | None = None
    index_name: str | None = None
    wait: WaitOptions = WaitOptions()
    """The batch's wait (``max_wait_seconds``, poll steps), also for a word-level transcription still being prepared."""
    min_language_probability: float = DEFAULT_MIN_LANGUAGE_PROBABILITY
    """Below this a detected language lands marked uncertain (``videos.language_uncertain``)."""


@dataclass(frozen=True)
class Retrieved:
    """One video's transcription as the lake stages it: ``segments`` and its ``videos`` row, and any optional tables."""

    video_id: str
    segments: pa.Table
    record: VideoRecord
    extra: Mapping[str, pa.Table] = field(default_factory=dict)


class IngestPath(Protocol):
    """One way in. Implementations hold no state (field-less frozen dataclasses: equal across pickling), so one
    instance is chosen per batch and sent to every worker."""

    name: str
    """What a pending record stores to find this path again (``choose.path_named``); never changes once written."""
    job_kind: str
    """What its job is called in a log line (``task``, ``indexed asset``)."""

    def require(self, client: TwelveLabsClient) -> None:
        """``ConfigError`` if ``client``'s server cannot take this path (checked before anything is sent)."""

    def offered_by(self, client: TwelveLabsClient) -> bool:
        """Whether ``auto`` may take this path on ``client``'s server (may ask the server once)."""

    def submit(
        self, client: TwelveLabsClient, index_id: str, source: VideoSource, sha256: str, *, claims: ClaimStore,
        options: WaitOptions, store: StoreOptions,
    ) -> Submission:
        """Find or create ``source``'s job in ``index_id``, exactly once, under the content's claim in ``claims``.

        An object-store source is read with ``store``'s options."""

    def describe(self, submission: Submission) -> str:
        """The submission in a log line (``task …``, ``indexed asset of asset …``)."""

    def wait(
        self, client: TwelveLabsClient, index_id: str, submission: Submission, options: WaitOptions, *,
        on_change: Callable[[Job, float], None] | None = None,
    ) -> Job:
        """The ready job; ``IndexingFailed`` or ``IndexingTimedOut`` otherwise."""

    def status(self, client: TwelveLabsClient, index_id: str, job_id: str) -> Job:
        """One status request for the job (the webhook mode's deadline poll, a failed job's reason)."""

    def as_ready(
        self, index_id: str, submission: Submission, *, duration: float | None, completed_at: datetime | None
    ) -> Job:
        """The ready job as a completion webhook told it: what ``retrieve`` needs, with no status request."""

    def retrieve(self, client: TwelveLabsClient, request: LandRequest) -> Retrieved:
        """The ready job's transcription, as the lake stages it."""
