"""The batch job: source → upload → wait until indexed → retrieve and land (Parquet)."""

from __future__ import annotations

from prefect import flow, get_run_logger, unmapped
from prefect.task_runners import TaskRunner
from prefect.artifacts import create_table_artifact
from prefect.futures import wait

from reelscribe.flows.params import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_WAIT_SECONDS,
    DEFAULT_OUT,
    DEFAULT_UPLOAD,
    ApiUrl,
    CredentialsBlock,
    Dask,
    IndexId,
    IndexName,
    MaxConcurrency,
    MaxWaitSeconds,
    Out,
    Refresh,
    Sources,
    StorageBlock,
    Upload,
    WindowEnd,
    WindowStart,
    describe_parameters,
    index_label,
)
from reelscribe.flows.report import VideoReport, problem_report, report_for, summary_markdown
from reelscribe.core.errors import ReelscribeError
from reelscribe.core.flatten import validate_window
from reelscribe.core.settings import Settings, UploadChoice
from reelscribe.core.sources import VideoSource, discover
from reelscribe.core.waiting import WaitOptions
from reelscribe.flows.runners import task_runner
from reelscribe.tasks.connection import resolve_settings
from reelscribe.tasks.index import prepare_index
from reelscribe.tasks.land import land_transcription
from reelscribe.tasks.upload import choose_upload_path, upload_video
from reelscribe.tasks.storage import use_storage_block
from reelscribe.tasks.wait import wait_for_indexing

SUMMARY_KEY = "transcribe-videos-summary"


class BatchFailed(ReelscribeError):
    """Some videos could not be landed; every other one was. ``reports`` lists them all."""

    def __init__(self, message: str, reports: list[VideoReport] = ()) -> None:
        super().__init__(message, list(reports))
        self.reports = list(reports)

    def __str__(self) -> str:
        return self.args[0]


def _run_name() -> str:
    from prefect.runtime import flow_run

    params = flow_run.parameters
    return f"transcribe-{index_label(params)}-{len(params.get('sources') or [])}-sources"


@flow(name="transcribe-videos", flow_run_name=_run_name, validate_parameters=True)
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
    storage_block: StorageBlock = None,
    dask: Dask = None,
    upload: Upload = DEFAULT_UPLOAD,
) -> list[VideoReport]:
    """Transcribe videos into ``<out>/segments`` and ``<out>/videos`` (and ``words``, ``utterances`` on the assets path), partitioned by index.

    A bad video never stops the batch: every other video lands, a table artifact lists each
    one, and the run ends Failed only after that if any video failed.
    """
    logger = get_run_logger()
    validate_window(start, end)
    settings = resolve_settings(api_url, credentials_block)
    runner = task_runner(dask, max_concurrency)
    use_storage_block(storage_block)
    found, problems = discover(sources)
    for problem in problems:
        logger.error("source %s", problem)
    reports = [problem_report(p) for p in problems]
    if found:
        index, landed = prepare_index(settings, index_id, index_name, out, storage_block)
        reports += transcribe_each(
            found, settings, index, landed, out=out, start=start, end=end,
            runner=runner, max_wait_seconds=max_wait_seconds, refresh=refresh, storage_block=storage_block,
            upload=upload,
        )
    return finish(reports)


def transcribe_each(
    found: list[VideoSource],
    settings: Settings,
    index: str,
    landed: frozenset[str],
    *,
    out: str,
    start: float | None,
    end: float | None,
    runner: TaskRunner,
    max_wait_seconds: float,
    refresh: bool = False,
    storage_block: str | None = None,
    upload: UploadChoice = DEFAULT_UPLOAD,
) -> list[VideoReport]:
    """The fan-out on ``runner`` (``flows.runners.task_runner``): upload → wait → land per video.

    One report each, in order. Everything passed here is picklable, for Dask workers. The upload
    path (tasks or assets) is chosen once for the batch.
    """
    options = WaitOptions(max_wait=max_wait_seconds)
    path = choose_upload_path(settings, upload)
    store = {"out": unmapped(out), "storage_block": unmapped(storage_block)}
    shared = {"settings": unmapped(settings), "index_id": unmapped(index)}
    with runner:
        uploads = runner.map(
            upload_video,
            {"source": found, "landed": unmapped(landed), "refresh": unmapped(refresh), "upload": unmapped(path),
             "options": unmapped(options), **shared, **store},
        )
        readies = runner.map(wait_for_indexing, {"uploaded": uploads, "options": unmapped(options), **shared})
        lands = runner.map(
            land_transcription,
            {"uploaded": uploads, "ready": readies, "start": unmapped(start), "end": unmapped(end), **shared, **store},
        )
        # Every future, not only the last step's: a Dask future keeps its state (and data) only
        # once waited on; read later, it would come from the API without its result.
        wait([*uploads, *readies, *lands])
    return [
        report_for(source.uri, [u.state, r.state, l.state])
        for source, u, r, l in zip(found, uploads, readies, lands)
    ]


def finish(reports: list[VideoReport], *, key: str = SUMMARY_KEY, headline: str = "") -> list[VideoReport]:
    """Publish the summary artifact, then end the run Failed if any video failed."""
    _publish(reports, key, headline)
    failed = [r for r in reports if r.status == "failed"]
    if failed:
        raise BatchFailed(
            f"{len(failed)} of {len(reports)} videos failed; first: {failed[0].source}: {failed[0].error}", reports
        )
    return reports


def _publish(reports: list[VideoReport], key: str, headline: str) -> None:
    counts = summary_markdown(reports)
    summary = f"{headline}: {counts}" if headline and reports else headline or counts
    get_run_logger().info("summary: %s", summary)
    create_table_artifact(
        table=[r.as_row() for r in reports],
        key=key,
        description=f"reelscribe: {summary}",
    )
