"""Fetch one video's transcription and land it: retrieval, flattening and the atomic write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.errors import TranscriptInvalid
from reelscribe.core.flatten import segments_table, window_filter
from reelscribe.core.lake import Lake, LandedVideo, VideoRecord
from reelscribe.core.models import Task


def retrieve_segments(
    client: TwelveLabsClient, index_id: str, video_id: str, start: float | None, end: float | None
) -> list[Any] | None:
    """Segments overlapping ``[start, end]``; ``None`` when the video has no speech.

    v1.2 servers apply the window themselves on the classic endpoint; v1.3 servers give the whole
    transcript on the video object and the window is applied here, with the same overlap rule.
    """
    if client.api_version == "v1.2":
        return client.get_transcription_v12(index_id, video_id, start, end)
    segments = client.get_video(index_id, video_id, transcription=True).transcription
    if segments is None:
        return None
    if not isinstance(segments, list):
        raise TranscriptInvalid(f"transcription is {type(segments).__name__}, expected a list of segments")
    return window_filter(segments, start, end)


@dataclass(frozen=True)
class LandRequest:
    index_id: str
    task: Task
    source: str
    content_sha256: str
    start: float | None = None
    end: float | None = None


def retrieve_and_land(client: TwelveLabsClient, lake: Lake, request: LandRequest) -> LandedVideo:
    task = request.task
    if not task.video_id:
        raise TranscriptInvalid(f"task {task.id} is ready but names no video_id")
    segments = retrieve_segments(client, request.index_id, task.video_id, request.start, request.end)
    retrieved_at = datetime.now(timezone.utc)
    table = segments_table(segments, video_id=task.video_id, task_id=task.id, retrieved_at=retrieved_at)
    meta = task.system_metadata
    record = VideoRecord(
        task_id=task.id,
        source=request.source,
        content_sha256=request.content_sha256,
        duration=meta.duration if meta else None,
        indexed_at=task.updated_at,
        retrieved_at=retrieved_at,
    )
    return lake.write_video(request.index_id, task.video_id, table, record)
