"""Steps 3 and 4: retrieve the transcription and land it as Parquet; and the batch commit.

One task for both, on purpose: a transcript passed between two tasks would be a copy in a task
result that nobody reads, and landing is idempotent (a re-run overwrites the video's files), so
the pair is safe to retry as a whole.

In a Delta lake the land task stages the video (``LakeWriter.stage_video``) and ``commit_landed``
commits the staged videos of a batch at once: one Delta commit per table for many videos.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from reelscribe.core.claims import ClaimStore
from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.confidence import Thresholds, is_low
from reelscribe.core.ingest_paths.base import IngestPath, Job, LandRequest, Submission
from reelscribe.core.lake_format import DEFAULT_TABLE_FORMAT, TableFormat, commits_in_batches, open_lake
from reelscribe.core.settings import Settings
from reelscribe.core.transcripts import retrieve_and_land
from reelscribe.core.waiting import WaitOptions
from reelscribe.tasks.progress import video_done, video_failed
from reelscribe.tasks.retrying import RETRY_TRANSIENT
from reelscribe.tasks.storage import store_options


@dataclass(frozen=True)
class Landed:
    """``staged``: written to a Delta lake's staging area, landed once ``commit_landed`` ran."""

    video_id: str | None
    segments: int
    duration: float | None
    skipped: bool = False
    staged: bool = False
    confidence: float | None = None
    """The transcript's confidence (``core.confidence``); ``low_confidence``: below the run's ``min_confidence``."""
    low_confidence: bool | None = None
    language: str | None = None
    language_probability: float | None = None
    language_uncertain: bool | None = None


@task(
    name="retrieve-and-land",
    task_run_name="land-{uploaded.source.name}",
    **RETRY_TRANSIENT,
    cache_policy=NO_CACHE,
    on_completion=[video_done],
    on_failure=[video_failed],
)
def land_transcription(
    uploaded: Submission,
    ready: Job | None,
    index_id: str,
    settings: Settings,
    out: str,
    path: IngestPath,
    start: float | None = None,
    end: float | None = None,
    storage_block: str | None = None,
    table_format: TableFormat = DEFAULT_TABLE_FORMAT,
    options: WaitOptions = WaitOptions(),
    index_name: str | None = None,
    thresholds: Thresholds = Thresholds(),
) -> Landed:
    """``ready``: ``path``'s ready job. ``options``: the batch's wait, which also bounds waiting for a path's optional tables (words)."""
    if ready is None:
        return Landed(video_id=None, segments=0, duration=None, skipped=True)
    request = LandRequest(
        index_id=index_id,
        ready=ready,
        source=uploaded.source.uri,
        content_sha256=uploaded.content_sha256,
        start=start,
        end=end,
        wait=options,
        index_name=index_name,
        min_language_probability=thresholds.min_language_probability,
    )
    staged = commits_in_batches(table_format)
    storage = store_options(storage_block).of(out)
    lake = open_lake(out, table_format, **storage)
    with TwelveLabsClient(settings) as client:
        video_id, landed = retrieve_and_land(client, lake, path, request)
    ClaimStore(out, **storage).forget(index_id, uploaded.content_sha256)
    extra = "".join(f", {n} {name}" for name, n in landed.counts.items())
    get_run_logger().info(
        "%s: %s %d segments%s of video %s", uploaded.source.name, "staged" if staged else "landed",
        landed.segment_count, extra, video_id,
    )
    duration = ready.system_metadata.duration if ready.system_metadata else None
    record = landed.record
    quality = {} if record is None else dict(
        confidence=record.confidence, low_confidence=is_low(record.confidence, thresholds.min_confidence),
        language=record.language, language_probability=record.language_probability,
        language_uncertain=record.language_uncertain,
    )
    return Landed(video_id=video_id, segments=landed.segment_count, duration=duration, staged=staged, **quality)


@task(name="commit-landed", task_run_name="commit-{index_id}", **RETRY_TRANSIENT, cache_policy=NO_CACHE)
def commit_landed(out: str, index_id: str, video_ids: list[str], storage_block: str | None = None) -> list[str]:
    """Commit staged videos to the Delta lake in one batch (one commit per table).

    Safe to retry: a commit replaces these videos' rows, and what was committed is unstaged (a
    video another run committed first is simply not found staged). Retried as a step only after a
    transient failure; the store's own faults are retried inside delta-rs (``core/stores.py``).
    """
    committed = open_lake(out, "delta", **store_options(storage_block).of(out)).commit(index_id, video_ids)
    get_run_logger().info("committed %d of %d staged videos to %s", len(committed), len(video_ids), out)
    return committed
