"""Step 1: put a video into the index (or find it already there), once, by the batch's ingest path."""

from __future__ import annotations

from dataclasses import replace

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from reelscribe.core.claims import ClaimStore
from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.handoff import DEFAULT_HAND_OFF, HandOff, sent_as
from reelscribe.core.ingest_paths.base import IngestPath, Submission
from reelscribe.core.ingest_paths.choose import choose_ingest_path
from reelscribe.core.settings import Settings, UploadChoice
from reelscribe.core.sources import VideoSource
from reelscribe.core.sources import content_sha256 as hash_content
from reelscribe.core.waiting import WaitOptions
from reelscribe.tasks.progress import video_failed
from reelscribe.tasks.retrying import RETRY_TRANSIENT
from reelscribe.tasks.storage import store_options


@task(name="choose-upload-path", cache_policy=NO_CACHE, **RETRY_TRANSIENT)
def choose_upload_path(settings: Settings, upload: UploadChoice) -> IngestPath:
    """The batch's ingest path for this server (``auto``: assets where it offers them), chosen once and passed down."""
    with TwelveLabsClient(settings) as client:
        path = choose_ingest_path(client, upload)
    get_run_logger().info("upload: %s path (asked for %s)", path.name, upload)
    return path


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
    path: IngestPath,
    refresh: bool = False,
    options: WaitOptions = WaitOptions(),
    *,
    out: str,
    storage_block: str | None = None,
    content_sha256: str | None = None,
    hand_off: HandOff = DEFAULT_HAND_OFF,
) -> Submission:
    """Skip the video if its content already landed; else find or create its job on ``path``.

    ``content_sha256``: the hash the selection computed (or knew from the seen-source state),
    so a new video's bytes are read once more only by the upload stream; hashed here if not given.

    The lookup and upload run under the content's claim in the lake ``out``, which every machine
    and Dask worker landing there sees (``reelscribe.core.claims``). ``hand_off="url"`` sends an
    object-store video as a presigned URL the API fetches (``reelscribe.core.handoff``).
    """
    logger = get_run_logger()
    store = store_options(storage_block)
    sha256 = content_sha256 or hash_content(source, store)
    if sha256 in landed and not refresh:
        logger.info("%s already landed in index %s (sha256 %s…): skipped", source.name, index_id, sha256[:12])
        return Submission(source, sha256, already_landed=True)
    with TwelveLabsClient(settings) as client:
        sent = sent_as(source, hand_off, settings.hand_off_expiry_s, store)
        done = path.submit(client, index_id, sent, sha256, claims=ClaimStore(out, **store.of(out)), options=options, store=store)
    verb = "found existing" if done.reused else "created"
    logger.info("%s: %s %s (video %s)", source.name, verb, path.describe(done), done.video_id)
    return replace(done, source=source)  # the video as the batch names it, not the URL it may have been sent as
