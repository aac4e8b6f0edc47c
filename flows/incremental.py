"""The scheduled job: transcribe only the videos of a source that have not landed yet.

"New" means a content hash (SHA-256 of the file's bytes) that the lake's ``videos`` table does
not hold for this index (``open_lake(out, table_format).landed(index_id)``). The lake is the only state: no cursor,
no watermark, no database. So a renamed or copied video is not new, a video whose landing
failed is new again at the next run, and wiping the lake lands everything again.

Cost: every run hashes every file under the source, i.e. reads all of its bytes
(``HASH_WORKERS`` files at a time). That is fine for a folder of a few GB; for a large bucket
the bytes read per run grow with the bucket, not with what is new. The cheaper scheme, not
built yet, keys a small cache on (path, size, mtime or ETag) and hashes only what changed. A
new video is hashed twice: here, and again by the upload task, which re-checks on its own.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from reelscribe.flows.params import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_WAIT_SECONDS,
    DEFAULT_OUT,
    DEFAULT_TABLE_FORMAT,
    DEFAULT_HAND_OFF,
    DEFAULT_UPLOAD,
    ApiUrl,
    CredentialsBlock,
    Dask,
    HandOffParam,
    IndexId,
    IndexName,
    MaxConcurrency,
    MaxWaitSeconds,
    Out,
    StorageBlock,
    TableFormatParam,
    Upload,
    WatchedSource,
    WindowEnd,
    WindowStart,
    describe_parameters,
    index_label,
)
from reelscribe.flows.report import VideoReport
from reelscribe.flows.transcribe import deployment_clone, finish, transcribe_each
from reelscribe.core.errors import ConfigError, NoVideosFound, SourceError
from reelscribe.core.flatten import validate_window
from reelscribe.core.sources import VideoSource, content_sha256, discover
from reelscribe.flows.runners import task_runner
from reelscribe.tasks.connection import resolve_settings
from reelscribe.tasks.index import prepare_index
from reelscribe.tasks.storage import use_storage_block

SUMMARY_KEY = "transcribe-new-videos-summary"
HASH_WORKERS = 4
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
    table_format: TableFormatParam = DEFAULT_TABLE_FORMAT,
    upload: Upload = DEFAULT_UPLOAD,
    hand_off: HandOffParam = DEFAULT_HAND_OFF,
) -> list[VideoReport]:
    """Transcribe the videos under ``source`` whose content has not landed in the index yet.

    Runs the same upload → wait → land fan-out as ``transcribe-videos``, on the new videos only,
    and attaches a table artifact listing them (empty, with "0 new videos", when there are none).
    An empty source is not an error; a source that does not exist is.
    """
    logger = get_run_logger()
    validate_window(start, end)
    if bool(index_id) == bool(index_name):
        raise ConfigError("give exactly one of index_id and index_name")
    settings = resolve_settings(api_url, credentials_block)
    runner = task_runner(dask, max_concurrency)
    use_storage_block(storage_block)
    found = _discover(source)
    index, landed = prepare_index(settings, index_id, index_name, out, storage_block, table_format) if found else (None, frozenset())
    new = select_new_videos(found, landed) if found else []
    headline = f"{len(new)} new video{'' if len(new) == 1 else 's'} in {source} ({len(found) - len(new)} already landed)"
    logger.info(headline)
    reports: list[VideoReport] = []
    if new:
        reports = transcribe_each(
            new, settings, index, landed, out=out, start=start, end=end,
            runner=runner, max_wait_seconds=max_wait_seconds, storage_block=storage_block, table_format=table_format,
            upload=upload, hand_off=hand_off, index_name=index_name,
        )
    return finish(reports, key=SUMMARY_KEY, headline=headline)


@task(name="select-new-videos", task_run_name="select-new-videos", cache_policy=NO_CACHE)
def select_new_videos(found: list[VideoSource], landed: frozenset[str]) -> list[VideoSource]:
    """The sources whose content has not landed, in order.

    A file that cannot be read counts as new, so the upload step reports it as a failed video
    with its own error instead of it silently never landing.
    """
    with ThreadPoolExecutor(max_workers=min(HASH_WORKERS, len(found))) as pool:
        hashes = list(pool.map(_hash_or_none, found))
    return [source for source, sha256 in zip(found, hashes) if sha256 is None or sha256 not in landed]


def _hash_or_none(source: VideoSource) -> str | None:
    try:
        return content_sha256(source)
    except (SourceError, OSError):
        return None


def _discover(source: str) -> list[VideoSource]:
    """The videos under ``source``; none when it holds none yet. Raises if it cannot be right."""
    found, problems = discover([source], relative_to=deployment_clone())
    for problem in problems:
        if isinstance(problem.error, NoVideosFound):
            get_run_logger().info("%s: no videos there yet (%s)", source, problem.message)
        else:
            raise SourceError(str(problem))
    return found
