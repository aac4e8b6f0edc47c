"""The assets path (``POST /assets``, then an indexed asset): API v1.3's way in.

Submit: find or upload the asset, then find or create its indexed asset (``asset_upload``).
Wait: poll the indexed asset, whose id is the video id. Retrieve: its transcription as
``segments``, and ``words``, ``utterances`` and ``sentences`` when the server provides them
(``GET /assets/{id}/transcription``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import pyarrow as pa

from reelscribe.core.claims import ClaimStore
from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.confidence import language_probability, language_windows
from reelscribe.core.errors import ConfigError, TranscriptInvalid
from reelscribe.core.flatten import segments_table, sentences_table, utterances_table, words_table
from reelscribe.core.ingest_paths.asset_upload import submit_asset
from reelscribe.core.ingest_paths.base import Job, LandRequest, Retrieved, Submission
from reelscribe.core.records import VideoRecord
from reelscribe.core.models import AssetTranscription, IndexedAsset, SystemMetadata
from reelscribe.core.retry import poll_intervals
from reelscribe.core.sources import VideoSource
from reelscribe.core.stores import NO_STORE_OPTIONS, StoreOptions
from reelscribe.core.transcripts import windowed
from reelscribe.core.waiting import WaitOptions, wait_until_asset_indexed

log = logging.getLogger(__name__)

ASSET_VIEWS = ("words", "sentences", "utterances")
"""What the assets path asks ``/assets/{id}/transcription`` for: each lands as its own table."""


@dataclass(frozen=True)
class AssetsPath:
    """The job is the indexed asset; its id is the video id, known at once."""

    name = "assets"
    job_kind = "indexed asset"

    def require(self, client: TwelveLabsClient) -> None:
        if client.api_version == "v1.2":
            raise ConfigError("the assets path needs API v1.3; this server URL names v1.2 (use --upload tasks)")

    def offered_by(self, client: TwelveLabsClient) -> bool:
        """A v1.2 server has no assets path, so it is never asked."""
        return client.api_version != "v1.2" and client.offers_assets()

    def submit(
        self, client: TwelveLabsClient, index_id: str, source: VideoSource, sha256: str, *, claims: ClaimStore,
        options: WaitOptions = WaitOptions(), store: StoreOptions = NO_STORE_OPTIONS,
    ) -> Submission:
        return submit_asset(
            client, index_id, source, sha256, direct_limit=client.settings.direct_upload_limit, options=options,
            claims=claims, store=store,
        )

    def describe(self, submission: Submission) -> str:
        return f"indexed asset of asset {submission.asset_id}"

    def wait(
        self, client: TwelveLabsClient, index_id: str, submission: Submission, options: WaitOptions, *,
        on_change: Callable[[Job, float], None] | None = None,
    ) -> IndexedAsset:
        return wait_until_asset_indexed(client, index_id, submission.job_id, options, on_change=on_change)

    def status(self, client: TwelveLabsClient, index_id: str, job_id: str) -> IndexedAsset:
        return client.get_indexed_asset(index_id, job_id)

    def as_ready(
        self, index_id: str, submission: Submission, *, duration: float | None, completed_at: datetime | None
    ) -> IndexedAsset:
        return IndexedAsset(
            _id=submission.job_id, asset_id=submission.asset_id, status="ready",
            system_metadata=SystemMetadata(duration=duration), indexed_at=completed_at, updated_at=completed_at,
        )

    def retrieve(self, client: TwelveLabsClient, request: LandRequest) -> Retrieved:
        """The indexed asset's id is its video id (and stands in the ``task_id`` columns: it is the indexing job)."""
        ready = request.ready
        if not ready.asset_id:
            raise TranscriptInvalid(f"indexed asset {ready.id} is ready but names no asset_id")
        indexed = client.get_indexed_asset(request.index_id, ready.id, transcription=True)
        segments = windowed(indexed.transcription, request.start, request.end)
        views = retrieve_asset_views(client, ready.asset_id, request.wait)
        retrieved_at = datetime.now(timezone.utc)
        table = segments_table(segments, video_id=ready.id, task_id=ready.id, retrieved_at=retrieved_at)
        extra: dict[str, pa.Table] = {}
        if views is not None and views.words is not None:
            words = windowed(views.words, request.start, request.end, "word")
            extra["words"] = words_table(words, video_id=ready.id, segments=table)
        if views is not None and views.utterances is not None:
            utterances = windowed(views.utterances, request.start, request.end, "utterance")
            extra["utterances"] = utterances_table(utterances, video_id=ready.id)
        if views is not None and views.sentences is not None:
            sentences = windowed(views.sentences, request.start, request.end, "sentence")
            extra["sentences"] = sentences_table(sentences, video_id=ready.id)
        meta = indexed.system_metadata
        record = VideoRecord(
            task_id=ready.id,
            source=request.source,
            content_sha256=request.content_sha256,
            index_name=request.index_name,
            duration=meta.duration if meta else None,
            indexed_at=indexed.indexed_at or indexed.updated_at,
            retrieved_at=retrieved_at,
            asset_id=ready.asset_id,
            language=indexed.language,
            language_probability=language_probability(indexed.language_probability, ready.id),
            languages=language_windows(indexed.languages, ready.id),
        )
        return Retrieved(ready.id, table, record, extra)


def retrieve_asset_views(
    client: TwelveLabsClient,
    asset_id: str,
    options: WaitOptions,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> AssetTranscription | None:
    """The asset's words, sentences and utterances once prepared; ``None`` when it has none, failed, or is still not ready at ``options.max_wait``.

    Words are an extra: a video whose words cannot be had still lands its segments (counts null).
    """
    deadline = clock() + options.max_wait
    intervals = poll_intervals(options.first_poll, options.poll_factor, options.max_poll)
    while True:
        views = client.get_asset_transcription(asset_id, ASSET_VIEWS)
        if views is None or not views.is_pending:
            break
        remaining = deadline - clock()
        if remaining <= 0:
            log.warning("asset %s: word-level transcription still %s after %.0f s; landing without it", asset_id, views.status, options.max_wait)
            return None
        sleep(min(next(intervals), remaining))
    if views is not None and views.status != "ready":
        log.warning("asset %s: word-level transcription is %s (%s); landing without it", asset_id, views.status, views.error)
        return None
    return views
