"""How sure a transcript is: one figure per video, and when a detected language is only a guess.

Pure functions over the flattened tables and the API's language fields; the thresholds are the
run's (``--min-confidence``, ``--min-language-probability``). A video's confidence is the mean
``probability`` of its words where the platform gives one per word; else the mean of its segments'
``exp(avg_logprob)`` (the geometric mean of the decoded tokens' probabilities) weighted by each
segment's duration: both lie between 0 and 1, and both are ``None`` where the platform says nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from reelscribe.core.errors import ConfigError, TranscriptInvalid

__all__ = [
    "DEFAULT_MIN_CONFIDENCE",
    "DEFAULT_MIN_LANGUAGE_PROBABILITY",
    "Thresholds",
    "is_low",
    "language_uncertain",
    "language_windows",
    "video_confidence",
]

DEFAULT_MIN_CONFIDENCE = 0.5
"""Below this a video's transcript is named as low-confidence in the run's summary."""
DEFAULT_MIN_LANGUAGE_PROBABILITY = 0.5
"""Below this a detected language is marked uncertain (faster-whisper's own detection threshold)."""


@dataclass(frozen=True)
class Thresholds:
    """The run's two thresholds, each a probability from 0 to 1."""

    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    min_language_probability: float = DEFAULT_MIN_LANGUAGE_PROBABILITY

    def __post_init__(self) -> None:
        for name in ("min_confidence", "min_language_probability"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ConfigError(f"{name} must be a number from 0 to 1, got {value!r}")


def video_confidence(segments: pa.Table, words: pa.Table | None = None) -> float | None:
    """The video's confidence (module docstring); ``None`` where neither words nor segments carry one."""
    if words is not None and "probability" in words.column_names:
        mean = pc.mean(words["probability"]).as_py()
        if mean is not None:
            return round(float(mean), 4)
    if "avg_logprob" not in segments.column_names:
        return None
    logprob = segments["avg_logprob"].to_pylist()
    length = pc.subtract(segments["end"], segments["start"]).to_pylist()
    total = weighted = 0.0
    for value, seconds in zip(logprob, length):
        if value is None:
            continue
        weight = max(float(seconds), 1e-3)  # a zero-length segment still counts a little
        total += weight
        weighted += math.exp(float(value)) * weight
    return round(weighted / total, 4) if total else None


def is_low(confidence: float | None, threshold: float) -> bool:
    """Whether ``confidence`` is below ``threshold`` (no confidence is never low: nothing to judge)."""
    return confidence is not None and confidence < threshold


def language_uncertain(probability: float | None, threshold: float) -> bool | None:
    """``True`` below ``threshold``; ``None`` where the platform gave no probability to judge."""
    return None if probability is None else probability < threshold


def language_probability(value: Any, video_id: str) -> float | None:
    """The API's ``language_probability``: a number from 0 to 1, or absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise TranscriptInvalid(f"transcript of video {video_id!r}: 'language_probability' must be a number from 0 to 1, got {value!r}")
    return float(value)


def language_windows(value: Any, video_id: str) -> list[dict[str, Any]] | None:
    """The API's ``languages`` (``[{start, end, language, probability}]``) as the lake lands them, or ``None``."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise TranscriptInvalid(f"transcript of video {video_id!r}: 'languages' must be an array of objects, got {value!r:.60}")
    windows = []
    for ordinal, item in enumerate(value):
        try:
            window = {
                "start": _number(item.get("start")),
                "end": _number(item.get("end")),
                "language": _text(item.get("language")),
                "probability": _number(item.get("probability")),
            }
        except (TypeError, ValueError) as exc:
            raise TranscriptInvalid(f"transcript of video {video_id!r}: languages {ordinal}: {exc}") from None
        windows.append(window)
    return windows


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"expected a finite number or null, got {value!r}")
    return float(value)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"'language' must be a string or null, got {value!r}")
