"""Before the fan-out: which found videos a run sends, from the lake's landed set, seen-source state
and remembered failures; after it, the failures that will not change, remembered."""

from __future__ import annotations

from typing import Any, Sequence

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from reelscribe.core.errors import NoSpaceLeft
from reelscribe.core.failure_memory import Failure, PERMANENT_CODES, remember, remembered
from reelscribe.core.lake_format import DEFAULT_TABLE_FORMAT, TableFormat, open_lake
from reelscribe.core.plan import Bounds, Plan, PlannedVideo, make_plan
from reelscribe.core.source_state import SeenSources
from reelscribe.core.sources import SourceKind, VideoSource
from reelscribe.tasks.storage import store_options


@task(name="select-new-videos", task_run_name="select-new-videos", cache_policy=NO_CACHE)
def select_videos(
    found: list[VideoSource],
    landed: frozenset[str],
    out: str,
    bounds: Bounds = Bounds(),
    table_format: TableFormat = DEFAULT_TABLE_FORMAT,
    storage_block: str | None = None,
    known: SeenSources | None = None,
    index: str | None = None,
    retry_failed: bool = False,
) -> Plan:
    """The run's plan; the identities it had to hash are recorded in the lake's state at once
    (a state row says only what bytes an identity had, true whether or not the video lands).

    ``known``: the state as this run already read it (to split its listing), not read twice.
    ``index``: the index whose remembered failures are held back (``failed-before``), unless
    ``retry_failed``.
    """
    logger = get_run_logger()
    store = store_options(storage_block)
    lake = open_lake(out, table_format, **store.of(out))
    failed = remembered(lake, index) if index and not retry_failed else {}
    plan = make_plan(found, landed, lake.seen_sources() if known is None else known, bounds, store=store, failed=failed)
    if plan.without_identity:
        logger.warning(
            "%d source(s) have no usable identity in their store's listing (no size, no modification time or ETag): "
            "hashed at every run", plan.without_identity,
        )
    try:
        lake.record_sources(plan.hashed)
    except (NoSpaceLeft, OSError) as exc:
        # The state only spares re-reads: without it the next run hashes these again, nothing more.
        logger.warning("seen-source state not recorded (%s); the next run hashes these %d source(s) again", exc, len(plan.hashed))
    if plan.notice:
        logger.warning(plan.notice)
    logger.info("plan: %s (%d byte(s) read to hash)", plan.summary(), plan.bytes_read)
    return plan


def lasting_failures(sent: Sequence[PlannedVideo], reports: Sequence[Any]) -> list[Failure]:
    """The sent videos that failed for a reason their bytes would meet again (never a URL's).

    ``reports``: the flow's reports of ``sent``, in order (anything with ``status``, ``source``,
    ``error`` and ``error_code``)."""
    return [
        Failure(video.content_sha256, report.source, report.error_code, report.error or report.error_code)
        for video, report in zip(sent, reports)
        if report.status == "failed" and report.error_code in PERMANENT_CODES
        and video.content_sha256 and video.source.kind != SourceKind.URL
    ]


@task(name="remember-failures", task_run_name="remember-failures", cache_policy=NO_CACHE)
def remember_failures(
    sent: Sequence[PlannedVideo], reports: Sequence[Any], out: str, index: str,
    table_format: TableFormat = DEFAULT_TABLE_FORMAT, storage_block: str | None = None,
) -> int:
    """Record the run's lasting failures in the lake; a failure to record costs a resend, nothing more."""
    failures = lasting_failures(sent, reports)
    if not failures:
        return 0
    lake = open_lake(out, table_format, **store_options(storage_block).of(out))
    try:
        remember(lake, index, failures)
    except Exception as exc:  # noqa: BLE001 - either format's writer errors; the next run sends them again
        get_run_logger().warning("%d lasting failure(s) not remembered (%s): the next run sends them again", len(failures), exc)
        return 0
    return len(failures)
