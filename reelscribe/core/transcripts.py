"""Land one video's transcription: what its ingest path retrieved goes into the lake in one atomic write.

Every path lands ``segments`` and ``videos``; a path may add optional tables (the assets path's
``words``, ``utterances`` and ``sentences``). Retrieval belongs to the path (``reelscribe.core.ingest_paths``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple

from reelscribe.core.confidence import language_uncertain, video_confidence
from reelscribe.core.errors import TranscriptInvalid
from reelscribe.core.flatten import window_filter
from reelscribe.core.records import LandedVideo
from reelscribe.core.lake_writer import LakeWriter

if TYPE_CHECKING:  # the paths import ``windowed`` from here
    from reelscribe.core.client import TwelveLabsClient
    from reelscribe.core.ingest_paths.base import IngestPath, LandRequest


class Staged(NamedTuple):
    """Which video landed (or was staged, in a Delta lake), and where."""

    video_id: str
    landed: LandedVideo


def retrieve_and_land(client: TwelveLabsClient, lake: LakeWriter, path: IngestPath, request: LandRequest) -> Staged:
    """``request.ready`` is ``path``'s ready job. The videos row gets the transcript's confidence, and its
    language is marked uncertain below ``request.min_language_probability`` (``core.confidence``)."""
    got = path.retrieve(client, request)
    record = replace(
        got.record,
        confidence=video_confidence(got.segments, got.extra.get("words")),
        language_uncertain=language_uncertain(got.record.language_probability, request.min_language_probability),
    )
    landed = lake.stage_video(request.index_id, got.video_id, got.segments, record, extra=dict(got.extra))
    return Staged(got.video_id, replace(landed, record=record))


def windowed(segments: Any, start: float | None, end: float | None, kind: str = "segment") -> list[Any] | None:
    """The items of a transcription overlapping ``[start, end]``; ``TranscriptInvalid`` for one that is not a list."""
    if segments is None:
        return None
    if not isinstance(segments, list):
        raise TranscriptInvalid(f"transcription is {type(segments).__name__}, expected a list of {kind}s")
    return window_filter(segments, start, end, kind)
