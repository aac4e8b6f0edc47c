"""The batch job: source → upload → wait until indexed → retrieve and land (Parquet)."""

from __future__ import annotations

from prefect import flow, get_run_logger

from reelscribe.flows.params import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_WAIT_SECONDS,
    DEFAULT_HAND_OFF,
    DEFAULT_OUT,
    DEFAULT_UPLOAD,
    DEFAULT_WAIT_MODE,
    ApiUrl,
    CredentialsBlock,
    Dask,
    HandOffParam,
    IndexId,
    IndexName,
    DEFAULT_MIN_CONFIDENCE,
    DEFAULT_MIN_LANGUAGE_PROBABILITY,
    MaxConcurrency,
    MinConfidence,
    MinLanguageProbability,
    MaxVideoMinutes,
    MaxVideos,
    MaxWaitSeconds,
    Out,
    Refresh,
    RetryFailed,
    Sources,
    StorageBlock,
    TableFormatParam,
    Upload,
    WaitParam,
    WindowEnd,
    WindowStart,
    describe_parameters,
    index_label,
)
from reelscribe.flows.report import VideoReport, problem_report
from reelscribe.core.confidence import Thresholds
from reelscribe.core.flatten import validate_window
from reelscribe.core.lake_format import resolve_table_format
from reelscribe.core.sources import discover
from reelscribe.flows.batch import checked_bounds, deployment_clone, reports_in_plan_order, transcribe_each
from reelscribe.flows.interrupt import cancelled_on_interrupt
from reelscribe.flows.runners import task_runner
from reelscribe.flows.summary import finish
from reelscribe.tasks.connection import resolve_settings
from reelscribe.tasks.index import prepare_index
from reelscribe.tasks.progress import batch_found, video_finished
from reelscribe.tasks.select import remember_failures, select_videos
from reelscribe.tasks.storage import store_options


def _run_name() -> str:
    from prefect.runtime import flow_run

    params = flow_run.parameters
    return f"transcribe-{index_label(params)}-{len(params.get('sources') or [])}-sources"


@flow(name="transcribe-videos", flow_run_name=_run_name, validate_parameters=True)
@cancelled_on_interrupt  # Ctrl-C in the CLI: the run ends Cancelled (flows/interrupt.py)
@describe_parameters
def transcribe_videos(
    sources: Sources,
    index_name: IndexName = None,
    index_id: IndexId = None,
    out: Out = DEFAULT_OUT,
    api_url: ApiUrl = None,
    credentials_block: CredentialsBlock = None,
    start: WindowStart = None,
    end: WindowEnd = None,
    max_concurrency: MaxConcurrency = DEFAULT_MAX_CONCURRENCY,
    max_wait_seconds: MaxWaitSeconds = DEFAULT_MAX_WAIT_SECONDS,
    refresh: Refresh = False,
    table_format: TableFormatParam = None,
    storage_block: StorageBlock = None,
    dask: Dask = None,
    upload: Upload = DEFAULT_UPLOAD,
    max_videos: MaxVideos = None,
    max_video_minutes: MaxVideoMinutes = None,
    hand_off: HandOffParam = DEFAULT_HAND_OFF,
    wait: WaitParam = DEFAULT_WAIT_MODE,
    retry_failed: RetryFailed = False,
    min_confidence: MinConfidence = DEFAULT_MIN_CONFIDENCE,
    min_language_probability: MinLanguageProbability = DEFAULT_MIN_LANGUAGE_PROBABILITY,
) -> list[VideoReport]:
    """Transcribe videos into ``<out>/segments`` and ``<out>/videos`` (and ``words``, ``utterances`` on the assets path), partitioned by index.

    A bad video never stops the batch: every other video lands, a table artifact lists each
    one, and the run ends Failed only after that if any video failed. Videos over the bounds
    are reported ``deferred`` (not failed).
    """
    logger = get_run_logger()
    validate_window(start, end)
    bounds = checked_bounds(max_videos, max_video_minutes)
    settings = resolve_settings(api_url, credentials_block)
    runner = task_runner(dask, max_concurrency)
    found, problems = discover(sources, relative_to=deployment_clone(), store=store_options(storage_block))
    for problem in problems:
        logger.error("source %s", problem)
    reports = [problem_report(p) for p in problems]
    for report in reports:
        video_finished(report)
    batch_found(len(found))
    if found:
        # The lake's own format; table_format only chooses a new lake's (and is refused if it contradicts the lake).
        table_format = resolve_table_format(out, table_format, **store_options(storage_block).of(out))
        index, landed = prepare_index(settings, index_id, index_name, out, storage_block, table_format)
        # With refresh every video is sent again: the plan then sees nothing as landed.
        plan = select_videos(found, frozenset() if refresh else landed, out, bounds, table_format, storage_block,
                             index=index, retry_failed=retry_failed)
        sent = plan.passed_on  # deferred, duplicate and failed-before videos are not sent (nor in the bar's total)
        batch_found(len(sent))
        sent_reports = transcribe_each(
            [v.source for v in sent], settings, index, landed, out=out, start=start,
            end=end, runner=runner, max_wait_seconds=max_wait_seconds, refresh=refresh, storage_block=storage_block,
            table_format=table_format, upload=upload, hand_off=hand_off, index_name=index_name,
            hashes=[v.content_sha256 for v in sent], wait=wait,
            thresholds=Thresholds(min_confidence, min_language_probability),
        )
        remember_failures(sent, sent_reports, out, index, table_format, storage_block)
        reports += reports_in_plan_order(plan, sent_reports)
    return finish(reports)
