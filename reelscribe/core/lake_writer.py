"""The one interface of a lake, whatever its table format: what flows and tasks may call.

Two formats implement it (``reelscribe.core.lake.Lake``, per-video Parquet files, and
``reelscribe.core.delta_lake.DeltaLake``, Delta tables); ``lake_format.open_lake`` picks one.
A new table format is a third class with these methods, added to ``open_lake``. The flows and
tasks never import a format's module (an import-linter contract in ``pyproject.toml``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Mapping, Protocol, Sequence, runtime_checkable

import pyarrow as pa

if TYPE_CHECKING:
    from reelscribe.core.records import LandedRecord, LandedVideo, VideoRecord
    from reelscribe.core.source_state import SeenSource, SeenSources


STALE_TEMP_AGE_S = 3600.0
"""How old a crashed writer's leftover (temp file, staged video) is before a clean-up takes it
(a live writer finishes a file, and commits what it staged, in far less)."""


@dataclass(frozen=True)
class CleanupReport:
    """What a clean-up finished: videos an interrupted run left staged, now committed, and the
    temp files of crashed writers it removed."""

    committed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.committed or self.removed)

    def __add__(self, other: CleanupReport) -> CleanupReport:
        return CleanupReport(self.committed + other.committed, self.removed + other.removed)


@runtime_checkable
class LakeWriter(Protocol):
    """Stage and commit videos, read what landed, keep the seen-source state, clean up."""

    out: str

    @property
    def commits_in_batches(self) -> bool:
        """Whether ``stage_video`` only stages (a later ``commit`` lands) or lands at once."""

    def stage_video(
        self,
        index_id: str,
        video_id: str,
        segments: pa.Table,
        video: VideoRecord,
        extra: Mapping[str, pa.Table] | None = None,
    ) -> LandedVideo:
        """Publish one video's validated tables: landed (per-video) or staged for ``commit``."""

    def write_video(
        self,
        index_id: str,
        video_id: str,
        segments: pa.Table,
        video: VideoRecord,
        extra: Mapping[str, pa.Table] | None = None,
    ) -> LandedVideo:
        """Land one video now."""

    def commit(self, index_id: str, video_ids: Iterable[str]) -> list[str]:
        """Land the staged videos among ``video_ids``; returns the ids landed by this call."""

    def landed(self, index_id: str) -> dict[str, LandedRecord]:
        """``content_sha256`` -> videos row of every video landed in ``index_id``."""

    def landed_hashes(self, index_id: str) -> frozenset[str]:
        """The content hashes landed in ``index_id``."""

    def seen_sources(self) -> SeenSources:
        """The seen-source state; empty (never an error) when missing or unreadable."""

    def record_sources(self, rows: Sequence[SeenSource]) -> None:
        """Append identities hashed by this run to the state."""

    def clean_up(self, index_id: str, older_than_s: float = STALE_TEMP_AGE_S) -> CleanupReport:
        """Finish what crashed writers left in ``index_id`` longer than ``older_than_s`` ago."""
