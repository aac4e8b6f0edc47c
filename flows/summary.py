"""The end of every flow run: the summary table artifact, then Failed if any video failed."""

from __future__ import annotations

from prefect import get_run_logger
from prefect.artifacts import create_table_artifact

from reelscribe.core.errors import BatchFailed
from reelscribe.flows.report import ReportStatus, VideoReport, summary_markdown

SUMMARY_KEY = "transcribe-videos-summary"


def finish(reports: list[VideoReport], *, key: str = SUMMARY_KEY, headline: str = "") -> list[VideoReport]:
    """Publish the summary artifact, then end the run Failed if any video failed."""
    _publish(reports, key, headline)
    failed = [r for r in reports if r.status == ReportStatus.FAILED]
    if failed:
        raise BatchFailed(
            f"{len(failed)} of {len(reports)} videos failed; first: {failed[0].source}: {failed[0].error}", reports
        )
    return reports


def _publish(reports: list[VideoReport], key: str, headline: str) -> None:
    counts = summary_markdown(reports)
    summary = f"{headline}: {counts}" if headline and reports else headline or counts
    get_run_logger().info("summary: %s", summary)
    create_table_artifact(
        table=[r.as_row() for r in reports],
        key=key,
        description=f"reelscribe: {summary}",
    )
