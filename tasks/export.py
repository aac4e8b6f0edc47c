"""Write a lake's videos as subtitle files: the one step of the export flow."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from reelscribe.core.export import ExportedFile, export_lake


@task(name="export-subtitles", task_run_name="export-{fmt}", cache_policy=NO_CACHE)
def export_subtitles(
    out: str, to: str, fmt: str, index_id: str | None = None, videos: list[str] | None = None
) -> list[ExportedFile]:
    """One ``fmt`` file per video of ``out`` (of ``index_id``, or only ``videos``) under ``to``."""
    written = export_lake(out, to, fmt, index_id=index_id, videos=videos or ())
    get_run_logger().info("wrote %d %s file(s) to %s", len(written), fmt, to)
    return written
