"""One row per video for the summary artifact, built from the final state of each step."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from reelscribe.core.sources import SourceProblem

STATUSES = ("landed", "skipped", "duplicate", "deferred", "submitted", "failed-before", "failed")
OPTIONAL = ("duplicate", "deferred", "submitted", "failed-before")
"""Statuses the summary names only when a video has them."""


@dataclass(frozen=True)
class VideoReport:
    """``seconds`` is the video's duration as indexed; ``status`` is one of ``STATUSES``."""

    source: str
    status: str
    video_id: str | None = None
    segments: int | None = None
    seconds: float | None = None
    error: str | None = None
    error_code: str | None = None
    """The server's failure code of a failed video, where it gave one (``video_file_broken``…)."""
    confidence: float | None = None
    """The landed transcript's confidence (``videos.confidence``); ``low_confidence``: below the run's threshold."""
    low_confidence: bool | None = None
    language: str | None = None
    language_probability: float | None = None
    language_uncertain: bool | None = None

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


def report_for(source: str, states: list[Any]) -> VideoReport:
    """The report of one video from the states of its steps, in order (upload, wait, land[, commit]).

    The first failed step names the error; a step that never ran because its upstream failed
    carries no error of its own.
    """
    for state in states:
        if state.is_failed() or state.is_crashed():
            return VideoReport(source, "failed", error=_error_text(state), error_code=_error_code(state))
    upload, _, landed = (s.result(raise_on_failure=False) for s in states[:3])
    if landed.skipped:
        return VideoReport(source, "skipped", video_id=upload.video_id)
    return VideoReport(source, "landed", landed.video_id, landed.segments, landed.duration, **_quality(landed))


def submitted_report(source: str, states: list[Any]) -> VideoReport:
    """The webhook mode's report (upload, record): ``submitted``, to land when its completion event arrives."""
    for state in states:
        if state.is_failed() or state.is_crashed():
            return VideoReport(source, "failed", error=_error_text(state))
    upload = states[0].result(raise_on_failure=False)
    return VideoReport(source, "skipped" if upload.already_landed else "submitted", video_id=upload.video_id)


def land_report(source: str, states: list[Any]) -> VideoReport:
    """The report of a land step run on its own (``land-indexed``): land[, commit]."""
    for state in states:
        if state.is_failed() or state.is_crashed():
            return VideoReport(source, "failed", error=_error_text(state))
    landed = states[0].result(raise_on_failure=False)
    return VideoReport(source, "landed", landed.video_id, landed.segments, landed.duration, **_quality(landed))


def _quality(landed: Any) -> dict[str, Any]:
    """What a land step's result says of the transcript's confidence and language (``tasks.land.Landed``)."""
    names = ("confidence", "low_confidence", "language", "language_probability", "language_uncertain")
    return {name: getattr(landed, name, None) for name in names}


def quality_lines(reports: list[VideoReport]) -> list[str]:
    """The summary's lines naming the videos whose transcript confidence is low, and those whose
    detected language is uncertain (each below the run's threshold)."""
    low = [r for r in reports if r.status == "landed" and r.low_confidence]
    unsure = [r for r in reports if r.status == "landed" and r.language_uncertain]
    lines = []
    if low:
        lines.append("low confidence: " + ", ".join(f"{r.source} ({r.confidence:.2f})" for r in low))
    if unsure:
        lines.append(
            "language uncertain: "
            + ", ".join(f"{r.source} ({r.language or '?'} {r.language_probability:.2f})" for r in unsure)
        )
    return lines


def failed_report(source: str, error: BaseException) -> VideoReport:
    return VideoReport(source, "failed", error=f"{type(error).__name__}: {error}")


def deferred_report(source: str, seconds: float | None) -> VideoReport:
    """Over the run's bounds: not failed, not lost, first in line at the next run."""
    return VideoReport(source, "deferred", seconds=seconds)


def duplicate_report(source: str, copy_of: str) -> VideoReport:
    """Bytes that another source of the same run has: that one is sent, this one never is."""
    return VideoReport(source, "duplicate", error=f"copy of {copy_of}")


def failed_before_report(source: str, reason: str | None) -> VideoReport:
    """Content that failed earlier for a reason that will not change: not sent again, not a new failure."""
    return VideoReport(source, "failed-before", error=reason)


def problem_report(problem: SourceProblem) -> VideoReport:
    return VideoReport(problem.source, "failed", error=problem.message)


def _error_text(state: Any) -> str:
    exc = state.result(raise_on_failure=False)
    text = str(exc) if isinstance(exc, BaseException) else (state.message or state.name)
    return f"{type(exc).__name__}: {text}" if isinstance(exc, BaseException) else text


def _error_code(state: Any) -> str | None:
    code = getattr(state.result(raise_on_failure=False), "code", None)
    return code if isinstance(code, str) else None


def summary_markdown(reports: list[VideoReport]) -> str:
    counts = {status: sum(r.status == status for r in reports) for status in STATUSES}
    line = ", ".join(f"{n} {status}" for status, n in counts.items() if n or status not in OPTIONAL)
    return "; ".join([line, *quality_lines(reports)])
