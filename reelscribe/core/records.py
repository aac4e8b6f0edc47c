"""The records a lake writes and reads back, shared by every table format and both ingest paths.

They live apart from any writer, so that the ingest paths and the lake interface need no lake
implementation to name them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, kw_only=True)
class VideoRecord:
    """What the videos table says about one landed video besides its ids and segment count."""

    task_id: str
    source: str
    content_sha256: str
    duration: float | None
    indexed_at: datetime | None
    retrieved_at: datetime
    asset_id: str | None = None
    index_name: str | None = None
    language: str | None = None
    """The video's spoken language as the server says it (``None`` where it does not)."""
    language_probability: float | None = None
    """How sure the server is of ``language`` (0 to 1; ``None`` where it does not say)."""
    languages: list[dict[str, Any]] | None = None
    """Each detected window's ``{start, end, language, probability}``, where the server gives them."""
    language_uncertain: bool | None = None
    """``language_probability`` below the run's threshold (``None``: no probability to judge)."""
    confidence: float | None = None
    """The transcript's confidence (``reelscribe.core.confidence.video_confidence``)."""


@dataclass(frozen=True, kw_only=True)
class LandedRecord(VideoRecord):
    """One row of the videos table as read back."""

    video_id: str
    segment_count: int
    word_count: int | None = None
    utterance_count: int | None = None
    sentence_count: int | None = None


@dataclass(frozen=True)
class LandedVideo:
    """Where ``write_video`` put a video (local paths or full URIs) and how many segments."""

    segments_path: str
    videos_path: str
    segment_count: int
    counts: dict[str, int] = field(default_factory=dict)
    """Rows landed in each optional table given (``words``, ``utterances``, ``sentences``)."""
    record: VideoRecord | None = None
    """The videos row's record as landed (its language, confidence…), where the caller sets it."""
