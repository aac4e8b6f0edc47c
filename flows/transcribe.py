"""The batch job: source → upload → wait until indexed → retrieve and land (Parquet)."""

from __future__ import annotations

from typing import Annotated

from prefect import flow, get_run_logger, unmapped
from prefect.artifacts import create_table_artifact
from prefect.futures import wait
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field

from flows.report import VideoReport, problem_report, report_for, summary_markdown
from reelscribe.errors import ReelscribeError
from reelscribe.flatten import validate_window
from reelscribe.sources import discover
from reelscribe.waiting import WaitOptions
from tasks.connection import resolve_settings
from tasks.index import prepare_index
from tasks.land import land_transcription
from tasks.upload import upload_video
from tasks.wait import wait_for_indexing


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
    target = params.get("index_name") or params.get("index_id") or "index"
    return f"transcribe-{target}-{len(params.get('sources') or [])}-sources"


@flow(name="transcribe-videos", flow_run_name=_run_name, validate_parameters=True)
def transcribe_videos(
    sources: Annotated[list[str], Field(min_length=1, description="Video files, folders, globs, http(s) URLs or fsspec URIs (s3://…).")],
    index_name: Annotated[str | None, Field(description="Index to use, created if missing. Give this or index_id.")] = None,
    index_id: Annotated[str | None, Field(description="Existing index id. Give this or index_name.")] = None,
    out: Annotated[str, Field(description="Lake root: a local path or a filesystem URI (s3://bucket/lake).")] = "lake",
    api_url: Annotated[str | None, Field(description="API base URL with version, e.g. https://api.twelvelabs.io/v1.3. Default: the credentials block's, else TWELVELABS_BASE_URL.")] = None,
    credentials_block: Annotated[str | None, Field(description="Block holding the API key: 'secret/<name>' or 'twelve-labs-credentials/<name>'. Default: TWELVE_LABS_API_KEY.")] = None,
    start: Annotated[float | None, Field(ge=0, description="Keep only segments overlapping the window from this second.")] = None,
    end: Annotated[float | None, Field(ge=0, description="Keep only segments overlapping the window up to this second.")] = None,
    max_concurrency: Annotated[int, Field(ge=1, le=256, description="Videos in flight at once.")] = 8,
    max_wait_seconds: Annotated[float, Field(gt=0, description="Give up waiting for one video's indexing after this long.")] = 3600.0,
    refresh: Annotated[bool, Field(description="Land again videos that already landed.")] = False,
) -> list[VideoReport]:
    """Transcribe videos into ``<out>/segments`` and ``<out>/videos``, partitioned by index.

    A bad video never stops the batch: every other video lands, a table artifact lists each
    one, and the run ends Failed only after that if any video failed.
    """
    logger = get_run_logger()
    validate_window(start, end)
    settings = resolve_settings(api_url, credentials_block)
    found, problems = discover(sources)
    for problem in problems:
        logger.error("source %s", problem)
    reports = [problem_report(p) for p in problems]
    if found:
        index, landed = prepare_index(settings, index_id, index_name, out)
        options = WaitOptions(max_wait=max_wait_seconds)
        shared = {"settings": unmapped(settings), "index_id": unmapped(index)}
        with ThreadPoolTaskRunner(max_workers=max_concurrency) as runner:
            uploads = runner.map(
                upload_video, {"source": found, "landed": unmapped(landed), "refresh": unmapped(refresh), **shared}
            )
            readies = runner.map(wait_for_indexing, {"uploaded": uploads, "settings": unmapped(settings), "options": unmapped(options)})
            lands = runner.map(
                land_transcription,
                {"uploaded": uploads, "ready": readies, "out": unmapped(out), "start": unmapped(start), "end": unmapped(end), **shared},
            )
            wait(lands)
        reports += [
            report_for(source.uri, [u.state, r.state, l.state])
            for source, u, r, l in zip(found, uploads, readies, lands)
        ]
    _publish(reports)
    failed = [r for r in reports if r.status == "failed"]
    if failed:
        raise BatchFailed(
            f"{len(failed)} of {len(reports)} videos failed; first: {failed[0].source}: {failed[0].error}", reports
        )
    return reports


def _publish(reports: list[VideoReport]) -> None:
    summary = summary_markdown(reports)
    get_run_logger().info("summary: %s", summary)
    create_table_artifact(
        table=[r.as_row() for r in reports],
        key="transcribe-videos-summary",
        description=f"reelscribe: {summary}",
    )
