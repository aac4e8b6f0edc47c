"""Subtitles beside the lake: a deployment runs this after each landing (or on a schedule).

Exporting again overwrites each file whole, so running it after every landing run keeps the
folder in step with the lake; each format is its own task.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from prefect.artifacts import create_table_artifact
from pydantic import Field

from reelscribe.core.export import ExportedFile
from reelscribe.core.subtitles import SubtitleFormat
from reelscribe.flows.params import DEFAULT_OUT, IndexId, Out, describe_parameters
from reelscribe.tasks.export import export_subtitles

SUMMARY_KEY = "export-subtitles-summary"
SUBTITLES_DIR = "subtitles"
"""Where the files go by default: ``<out>/subtitles/`` (not a table: no reader of the lake looks there)."""

Formats = Annotated[
    list[SubtitleFormat],
    Field(min_length=1, description="Subtitle formats to write: srt, vtt (WebVTT), txt (one cue a line), json (cues with times)."),
]
To = Annotated[str | None, Field(description="Folder or filesystem URI (s3://…) for the files. Default: <out>/subtitles.")]
Videos = Annotated[list[str] | None, Field(description="Only these video ids. Default: every video (of index_id).")]


def default_target(out: str) -> str:
    return f"{out.rstrip('/')}/{SUBTITLES_DIR}"


@flow(name="export-subtitles", flow_run_name="export-{out}", validate_parameters=True)
@describe_parameters
def export_lake_subtitles(
    out: Out = DEFAULT_OUT,
    formats: Formats = ["vtt", "srt"],  # noqa: B006 - Prefect copies parameter defaults
    to: To = None,
    index_id: IndexId = None,
    videos: Videos = None,
) -> list[ExportedFile]:
    """Write every video of the lake under ``out`` as subtitle files, one per video and format."""
    target = to or default_target(out)
    written = [f for fmt in formats for f in export_subtitles(out, target, fmt, index_id, videos)]
    create_table_artifact(
        table=[vars(f) for f in written],
        key=SUMMARY_KEY,
        description=f"reelscribe: {len(written)} subtitle file(s) of {out} in {target}",
    )
    return written
