"""One row per video for the summary artifact, built from the final state of each step."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from reelscribe.core.sources import SourceProblem



class ReportStatus(StrEnum):
    """What became of one video in a run; a member formats as its text, which the summary, the
    CLI's lines and JSON show."""

    LANDED = "landed"
    SKIPPED = "skipped"
    DUPLICATE = "duplicate"
    DEFERRED = "deferred"
    SUBMITTED = "submitted"
    FAILED_BEFORE = "failed-before"
    FAILED = "failed"


STATUSES = tuple(ReportStatus)
"""In the summary's order."""
OPTIONAL = (ReportStatus.DUPLICATE, ReportStatus.DEFERRED, ReportStatus.SUBMITTED, ReportStatus.FAILED_BEFORE)
"""Statuses the summary names only when a video has them."""


@dataclass(frozen=True)
class VideoReport:
    """``seconds`` is the video's duration as indexed."""

    source: str
    status: ReportStatus
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", ReportStatus(self.status))  # a status given as text becomes the member

    def as_row(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status.value}


def report_for(source: str, *, upload: Any, wait: Any, land: Any, commit: Any | None = None) -> VideoReport:
    """The report of one video from the final states of its steps (``commit``: a Delta lake's, if it was staged).

    The first failed step, in the order they ran, names the error; a step that never ran because
    its upstream failed carries no error of its own.
    """
    for state in (upload, wait, land, *([commit] if commit is not None else [])):
        if state.is_failed() or state.is_crashed():
            return VideoReport(source, ReportStatus.FAILED, error=_error_text(state), error_code=_error_code(state))
    uploaded, landed = upload.result(raise_on_failure=False), land.result(raise_on_failure=False)
    if landed.skipped:
        return VideoReport(source, ReportStatus.SKIPPED, video_id=uploaded.video_id)
    return VideoReport(source, ReportStatus.LANDED, landed.video_id, landed.segments, landed.duration, **_quality(landed))


def submitted_report(source: str, states: list[Any]) -> VideoReport:
    """The webhook mode's report (upload, record): ``submitted``, to land when its completion event arrives."""
    for state in states:
        if state.is_failed() or state.is_crashed():
            return VideoReport(source, ReportStatus.FAILED, error=_error_text(state))
    upload = states[0].result(raise_on_failure=False)
    status = ReportStatus.SKIPPED if upload.already_landed else ReportStatus.SUBMITTED
    return VideoReport(source, status, video_id=upload.video_id)


def land_report(source: str, states: list[Any]) -> VideoReport:
    """The report of a land step run on its own (``land-indexed``): land[, commit]."""
    for state in states:
        if state.is_failed() or state.is_crashed():
            return VideoReport(source, ReportStatus.FAILED, error=_error_text(state))
    landed = states[0].result(raise_on_failure=False)
    return VideoReport(source, ReportStatus.LANDED, landed.video_id, landed.segments, landed.duration, **_quality(landed))


def _quality(landed: Any) -> dict[str, Any]:
    """What a land step's result says of the transcript's confidence and language (``tasks.land.Landed``)."""
    names = ("confidence", "low_confidence", "language", "language_probability", "language_uncertain")
    return {name: getattr(landed, name, None) for name in names}


def quality_lines(reports: list[VideoReport]) -> list[str]:
    """The summary's lines naming the videos whose transcript confidence is low, and those whose
    detected language is uncertain (each below the run's threshold)."""
    low = [r for r in reports if r.status == ReportStatus.LANDED and r.low_confidence]
    unsure = [r for r in reports if r.status == ReportStatus.LANDED and r.language_uncertain]
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
    return VideoReport(source, ReportStatus.FAILED, error=f"{type(error).__name__}: {error}")


def deferred_report(source: str, seconds: float | None) -> VideoReport:
    """Over the run's bounds: not failed, not lost, first in line at the next run."""
    return VideoReport(source, ReportStatus.DEFERRED, seconds=seconds)


def duplicate_report(source: str, copy_of: str) -> VideoReport:
    """Bytes that another source of the same run has: that one is sent, this one never is."""
    return VideoReport(source, ReportStatus.DUPLICATE, error=f"copy of {copy_of}")


def failed_before_report(source: str, reason: str | None) -> VideoReport:
    """Content that failed earlier for a reason that will not change: not sent again, not a new failure."""
    return VideoReport(source, ReportStatus.FAILED_BEFORE, error=reason)


def problem_report(problem: SourceProblem) -> VideoReport:
    return VideoReport(problem.source, ReportStatus.FAILED, error=problem.message)


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
