"""The scheduled job: transcribe only the videos of a source that have not landed yet.

"New" means a content hash (SHA-256 of the file's bytes) that the lake's ``videos`` table does
not hold for this index. The lake is the only state: no cursor, no watermark, no database.
So a renamed or copied video is not new, a video whose landing failed is new again at the next
run, and wiping the lake lands everything again.

Cost: a source whose store identity (size, modification time, ETag, VersionId: what the
listing gives, no read) is in the lake's seen-source state keeps its recorded hash and is not
opened; only new or changed objects are read, once to hash (the hash then travels to the
upload) and once by the upload stream. A run with nothing new lists the source, reads the
state and the landed set, and reads no video byte. ``max_videos`` and ``max_video_minutes``
bound a run; what is over them is deferred to the next run, oldest first.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from reelscribe.flows.params import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_WAIT_SECONDS,
    DEFAULT_OUT,
    DEFAULT_HAND_OFF,
    DEFAULT_UPLOAD,
    DEFAULT_WAIT_MODE,
    ApiUrl,
    CredentialsBlock,
    Dask,
    HandOffParam,
    IndexId,
    IndexName,
    MaxConcurrency,
    MaxVideoMinutes,
    MaxVideos,
    MaxWaitSeconds,
    Out,
    RetryFailed,
    StorageBlock,
    TableFormatParam,
    Upload,
    WaitParam,
    WatchedSource,
    WindowEnd,
    WindowStart,
    describe_parameters,
    index_label,
)
from reelscribe.flows.report import VideoReport
from reelscribe.flows.batch import checked_bounds, deployment_clone, reports_in_plan_order, transcribe_each
from reelscribe.flows.summary import finish
from reelscribe.core.errors import ConfigError, NoVideosFound, SourceError
from reelscribe.core.flatten import validate_window
from reelscribe.core.lake_format import open_lake, resolve_table_format
from reelscribe.core.plan import HELD, SENT, Plan
from reelscribe.core.source_state import SeenSources
from reelscribe.core.sources import VideoSource, discover
from reelscribe.core.stores import StoreOptions
from reelscribe.flows.runners import task_runner
from reelscribe.tasks.connection import resolve_settings
from reelscribe.tasks.index import prepare_index
from reelscribe.tasks.select import remember_failures, select_videos
from reelscribe.tasks.storage import store_options

SUMMARY_KEY = "transcribe-new-videos-summary"
# ``discover`` words every "this place holds no videos" problem this way; for a watched
# folder that is the normal state between arrivals, not an error.


def _run_name() -> str:
    from prefect.runtime import flow_run

    return f"new-videos-{index_label(flow_run.parameters)}-{flow_run.scheduled_start_time:%Y%m%d-%H%M%S}"


@flow(name="transcribe-new-videos", flow_run_name=_run_name, validate_parameters=True)
@describe_parameters
def transcribe_new_videos(
    source: WatchedSource,
    index_name: IndexName = None,
    index_id: IndexId = None,
    out: Out = DEFAULT_OUT,
    api_url: ApiUrl = None,
    credentials_block: CredentialsBlock = None,
    start: WindowStart = None,
    end: WindowEnd = None,
    max_concurrency: MaxConcurrency = DEFAULT_MAX_CONCURRENCY,
    max_wait_seconds: MaxWaitSeconds = DEFAULT_MAX_WAIT_SECONDS,
    storage_block: StorageBlock = None,
    dask: Dask = None,
    table_format: TableFormatParam = None,
    upload: Upload = DEFAULT_UPLOAD,
    max_videos: MaxVideos = None,
    max_video_minutes: MaxVideoMinutes = None,
    hand_off: HandOffParam = DEFAULT_HAND_OFF,
    wait: WaitParam = DEFAULT_WAIT_MODE,
    retry_failed: RetryFailed = False,
) -> list[VideoReport]:
    """Transcribe the videos under ``source`` whose content has not landed in the index yet.

    Runs the same upload → wait → land fan-out as ``transcribe-videos``, on the new videos only,
    and attaches a table artifact listing them (empty, with "0 new videos", when there are none).
    An empty source is not an error; a source that does not exist is. Videos over the bounds
    are listed ``deferred``: not failed, first in line at the next run. A copy of another new
    video is listed ``duplicate`` and a remembered lasting failure ``failed-before`` (sent again
    with ``retry_failed``); neither is sent, neither fails the run.
    """
    logger = get_run_logger()
    validate_window(start, end)
    if bool(index_id) == bool(index_name):
        raise ConfigError("give exactly one of index_id and index_name")
    bounds = checked_bounds(max_videos, max_video_minutes)
    settings = resolve_settings(api_url, credentials_block)
    runner = task_runner(dask, max_concurrency)
    store = store_options(storage_block)
    # The state the selection matches against also splits a large S3 listing into ranges listed at once.
    table_format = resolve_table_format(out, table_format, **store.of(out))  # the lake's own; table_format chooses a new lake's
    known = open_lake(out, table_format, **store.of(out)).seen_sources()
    found = _discover(source, store, known)
    index, landed = prepare_index(settings, index_id, index_name, out, storage_block, table_format) if found else (None, frozenset())
    plan = select_videos(found, landed, out, bounds, table_format, storage_block, known, index=index,
                         retry_failed=retry_failed) if found else Plan(())
    sending = plan.to_send
    headline = _headline(plan, source)
    logger.info(headline)
    reports: list[VideoReport] = []
    if sending:
        reports = transcribe_each(
            [v.source for v in sending], settings, index, landed, out=out, start=start, end=end,
            runner=runner, max_wait_seconds=max_wait_seconds, storage_block=storage_block, table_format=table_format,
            upload=upload, hashes=[v.content_sha256 for v in sending], hand_off=hand_off, index_name=index_name,
            wait=wait,
        )
        remember_failures(sending, reports, out, index, table_format, storage_block)
    waiting = Plan(tuple(v for v in plan.videos if v.status in (*SENT, *HELD)))
    return finish(reports_in_plan_order(waiting, reports), key=SUMMARY_KEY, headline=headline)


def _headline(plan: Plan, source: str) -> str:
    """``2 new videos in <source> (5 already landed)``, with the changed and deferred counts when any."""
    sent = len(plan.to_send)
    extra = "".join(f", {plan.counts[s]} {s}" for s in ("changed", "deferred", "duplicate", "failed-before") if plan.counts[s])
    minutes = f"; {plan.minutes:.1f} min" if plan.minutes is not None else ""
    minutes += f" (+{plan.unknown_lengths} of unknown length)" if plan.unknown_lengths else ""
    return f"{sent} new video{'' if sent == 1 else 's'} in {source} ({plan.counts['landed']} already landed{extra}){minutes}"


def _discover(source: str, store: StoreOptions, known: SeenSources) -> list[VideoSource]:
    """The videos under ``source`` (listed with ``store``'s options, in key ranges from ``known``
    where large); none when it holds none yet. Raises if it cannot be right."""
    found, problems = discover([source], relative_to=deployment_clone(), store=store, known=known)
    for problem in problems:
        if isinstance(problem.error, NoVideosFound):
            get_run_logger().info("%s: no videos there yet (%s)", source, problem.message)
        else:
            raise SourceError(str(problem))
    return found
