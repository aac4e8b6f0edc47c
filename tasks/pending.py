"""The webhook mode's steps: record a submission, find it again when its completion arrives, poll it once at its deadline.

See ``reelscribe.core.pending`` for the record and why it lives in the lake's store.
"""

from __future__ import annotations

import time

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.confidence import Thresholds
from reelscribe.core.ingest_paths.base import IngestPath, Job, Submission
from reelscribe.core.lake_format import TableFormat, open_lake
from reelscribe.core.pending import PendingStore, PendingSubmission
from reelscribe.core.settings import Settings
from reelscribe.core.waiting import WaitOptions
from reelscribe.tasks.progress import video_done, video_failed
from reelscribe.tasks.retrying import RETRY_TRANSIENT
from reelscribe.tasks.storage import store_options


@task(
    name="record-submission",
    task_run_name="submitted-{uploaded.source.name}",
    cache_policy=NO_CACHE,
    **RETRY_TRANSIENT,
    on_completion=[video_done],
    on_failure=[video_failed],
)
def record_submission(
    uploaded: Submission,
    path: IngestPath,
    index_id: str,
    out: str,
    options: WaitOptions,
    table_format: TableFormat,
    storage_block: str | None = None,
    start: float | None = None,
    end: float | None = None,
    index_name: str | None = None,
    refresh: bool = False,
    thresholds: Thresholds = Thresholds(),
) -> PendingSubmission | None:
    """Write what the landing run needs; ``None`` when the video had already landed (nothing submitted).

    The deadline is ``options.max_wait`` from now: then the safety net polls once. A reused task
    (found, not created) may have sent its webhook long ago: its deadline is now.
    """
    if uploaded.already_landed:
        return None
    now = time.time()
    kept = PendingStore(out, **store_options(storage_block).of(out)).add(PendingSubmission(
        uploaded, path, index_id=index_id, submitted_at=now, deadline=now if uploaded.reused else now + options.max_wait,
        index_name=index_name, start=start, end=end, table_format=table_format, refresh=refresh,
        min_confidence=thresholds.min_confidence, min_language_probability=thresholds.min_language_probability,
    ))
    get_run_logger().info(
        "%s: submitted as %s %s; lands when its webhook arrives (polled once at %s if none does)",
        uploaded.source.name, path.job_kind, uploaded.job_id,
        time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(kept.deadline)),
    )
    return kept


@task(name="find-submission", task_run_name="find-{job_id}", cache_policy=NO_CACHE, **RETRY_TRANSIENT)
def find_submission(out: str, job_id: str, storage_block: str | None = None) -> PendingSubmission | None:
    return PendingStore(out, **store_options(storage_block).of(out)).get(job_id)


@task(name="overdue-submissions", cache_policy=NO_CACHE, **RETRY_TRANSIENT)
def overdue_submissions(out: str, storage_block: str | None = None) -> list[PendingSubmission]:
    """The submissions past their deadline, whose webhook never came."""
    store = PendingStore(out, **store_options(storage_block).of(out))
    pending = store.all()
    due = [s for s in pending if s.is_due(store.clock())]
    get_run_logger().info("%d of %d pending submissions in %s are past their deadline", len(due), len(pending), out)
    return due


@task(name="poll-once", task_run_name="poll-{submission.job_id}", cache_policy=NO_CACHE, **RETRY_TRANSIENT)
def poll_once(settings: Settings, submission: PendingSubmission) -> Job:
    """One status request (the deadline poll, or a failed job's reason)."""
    with TwelveLabsClient(settings) as client:
        return submission.path.status(client, submission.index_id, submission.job_id)


@task(name="is-landed", task_run_name="is-landed-{submission.job_id}", cache_policy=NO_CACHE, **RETRY_TRANSIENT)
def is_landed(out: str, submission: PendingSubmission, storage_block: str | None = None) -> bool:
    """Whether the submission's content already landed in its index (a duplicate completion, another run)."""
    lake = open_lake(out, **store_options(storage_block).of(out))  # the lake's format now, whatever it was at submission
    return submission.submission.content_sha256 in lake.landed_hashes(submission.index_id)


@task(name="forget-submission", task_run_name="forget-{job_id}", cache_policy=NO_CACHE, **RETRY_TRANSIENT)
def forget_submission(out: str, job_id: str, storage_block: str | None = None) -> None:
    PendingStore(out, **store_options(storage_block).of(out)).remove(job_id)
