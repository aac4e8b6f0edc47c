"""Step 1: put a video into the index (or find it already there), once."""

from __future__ import annotations

from dataclasses import dataclass

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from reelscribe.core.claims import ClaimStore
from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.ingest import submit_video
from reelscribe.core.settings import Settings
from reelscribe.core.sources import VideoSource, content_sha256
from reelscribe.tasks.progress import video_failed
from reelscribe.tasks.retrying import RETRY_TRANSIENT
from reelscribe.tasks.storage import use_storage_block


@dataclass(frozen=True)
class Uploaded:
    """What the next steps need: small on purpose (ids and a hash, never bytes)."""

    source: VideoSource
    content_sha256: str
    task_id: str | None
    video_id: str | None
    reused: bool = False
    already_landed: bool = False


@task(
    name="upload",
    task_run_name="upload-{source.name}",
    **RETRY_TRANSIENT,
    cache_policy=NO_CACHE,
    on_failure=[video_failed],
)
def upload_video(
    source: VideoSource,
    index_id: str,
    settings: Settings,
    landed: frozenset[str],
    refresh: bool = False,
    *,
    out: str,
    storage_block: str | None = None,
) -> Uploaded:
    """Hash the video; skip it if that content already landed; else find or create its task.

    The lookup and upload run under the content's claim in the lake ``out``, which every machine
    and Dask worker landing there sees (``reelscribe.core.claims``).
    """
    logger = get_run_logger()
    use_storage_block(storage_block)
    sha256 = content_sha256(source)
    if sha256 in landed and not refresh:
        logger.info("%s already landed in index %s (sha256 %s…): skipped", source.name, index_id, sha256[:12])
        return Uploaded(source, sha256, None, None, already_landed=True)
    with TwelveLabsClient(settings) as client:
        submitted = submit_video(client, index_id, source, sha256, claims=ClaimStore(out))
    verb = "found existing" if submitted.reused else "created"
    logger.info("%s: %s task %s (video %s)", source.name, verb, submitted.task_id, submitted.video_id)
    return Uploaded(source, sha256, submitted.task_id, submitted.video_id, reused=submitted.reused)
