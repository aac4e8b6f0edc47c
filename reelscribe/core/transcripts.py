"""Fetch one video's transcription and land it: retrieval, flattening and the atomic write.

Both paths land the same ``segments`` and ``videos``; the assets path also lands ``words`` and
``utterances`` when the server provides them (``GET /assets/{id}/transcription``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, NamedTuple

import pyarrow as pa

from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.errors import TranscriptInvalid
from reelscribe.core.flatten import segments_table, utterances_table, window_filter, words_table
from reelscribe.core.lake import LandedVideo, VideoRecord
from reelscribe.core.lake_writer import LakeWriter
from reelscribe.core.models import AssetTranscription, IndexedAsset, Task
from reelscribe.core.retry import poll_intervals
from reelscribe.core.waiting import WaitOptions

log = logging.getLogger(__name__)

ASSET_VIEWS = ("words", "utterances")
"""What the assets path asks ``/assets/{id}/transcription`` for (sentences are not landed)."""


class Transcript(NamedTuple):
    """``segments``: ``None`` when the video has no speech; ``language``: ``None`` where the server does not say."""

    segments: list[Any] | None
    language: str | None


def retrieve_segments(
    client: TwelveLabsClient, index_id: str, video_id: str, start: float | None, end: float | None
) -> Transcript:
    """Segments overlapping ``[start, end]``, and the video's language.

    v1.2 servers apply the window themselves on the classic endpoint (which has no room for a video's
    language); v1.3 servers give the whole transcript on the video object and the window is applied
    here, with the same overlap rule.
    """
    if client.api_version == "v1.2":
        return Transcript(client.get_transcription_v12(index_id, video_id, start, end), None)
    video = client.get_video(index_id, video_id, transcription=True)
    return Transcript(_windowed(video.transcription, start, end), video.language)


def _windowed(segments: Any, start: float | None, end: float | None, kind: str = "segment") -> list[Any] | None:
    if segments is None:
        return None
    if not isinstance(segments, list):
        raise TranscriptInvalid(f"transcription is {type(segments).__name__}, expected a list of {kind}s")
    return window_filter(segments, start, end, kind)


@dataclass(frozen=True)
class LandRequest:
    """``task``: the ready indexing task (tasks path) or indexed asset (assets path)."""

    index_id: str
    task: Task | IndexedAsset
    source: str
    content_sha256: str
    start: float | None = None
    end: float | None = None
    index_name: str | None = None
    wait: WaitOptions = WaitOptions()
    """The batch's wait (``max_wait_seconds``, poll steps), also for a word-level transcription still being prepared."""


def retrieve_and_land(client: TwelveLabsClient, lake: LakeWriter, request: LandRequest) -> LandedVideo:
    if isinstance(request.task, IndexedAsset):
        return _land_indexed_asset(client, lake, request, request.task)
    task = request.task
    if not task.video_id:
        raise TranscriptInvalid(f"task {task.id} is ready but names no video_id")
    segments, language = retrieve_segments(client, request.index_id, task.video_id, request.start, request.end)
    retrieved_at = datetime.now(timezone.utc)
    table = segments_table(segments, video_id=task.video_id, task_id=task.id, retrieved_at=retrieved_at)
    meta = task.system_metadata
    record = VideoRecord(
        task_id=task.id,
        source=request.source,
        content_sha256=request.content_sha256,
        index_name=request.index_name,
        duration=meta.duration if meta else None,
        indexed_at=task.updated_at,
        retrieved_at=retrieved_at,
        language=language,
    )
    return lake.stage_video(request.index_id, task.video_id, table, record)


def _land_indexed_asset(client: TwelveLabsClient, lake: LakeWriter, request: LandRequest, ready: IndexedAsset) -> LandedVideo:
    """The indexed asset's id is its video id (and stands in the ``task_id`` columns: it is the indexing job)."""
    if not ready.asset_id:
        raise TranscriptInvalid(f"indexed asset {ready.id} is ready but names no asset_id")
    indexed = client.get_indexed_asset(request.index_id, ready.id, transcription=True)
    segments = _windowed(indexed.transcription, request.start, request.end)
    views = retrieve_asset_views(client, ready.asset_id, request.wait)
    retrieved_at = datetime.now(timezone.utc)
    table = segments_table(segments, video_id=ready.id, task_id=ready.id, retrieved_at=retrieved_at)
    extra: dict[str, pa.Table] = {}
    if views is not None and views.words is not None:
        words = _windowed(views.words, request.start, request.end, "word")
        extra["words"] = words_table(words, video_id=ready.id, segments=table)
    if views is not None and views.utterances is not None:
        utterances = _windowed(views.utterances, request.start, request.end, "utterance")
        extra["utterances"] = utterances_table(utterances, video_id=ready.id)
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
    )
    return lake.stage_video(request.index_id, ready.id, table, record, extra=extra)


def retrieve_asset_views(
    client: TwelveLabsClient,
    asset_id: str,
    options: WaitOptions,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> AssetTranscription | None:
    """The asset's words and utterances once prepared; ``None`` when it has none, failed, or is still not ready at ``options.max_wait``.

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
