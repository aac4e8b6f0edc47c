"""What a run will do, decided before it spends anything: new, changed, already landed, deferred.

Prefect-free, so ``reelscribe plan`` and ``reelscribe run``'s nothing-new check cost no engine.
A source's hash comes from the seen-source state when its listed identity matches, else from
reading it (``HASH_WORKERS`` at a time); "new" is a hash the index has not landed. Bounds take
the sources to send oldest first (by the store's modification time) and defer the rest, which
are then first in line at the next run.

A video whose length cannot be read (no PyAV, a URL, an unreadable header) is of *unknown*
length, never "0 minutes": under ``max_video_minutes`` it is sent only as the first video of a
run and then fills that run's budget, so a run overspends by at most one such video and the
video is never deferred for ever.

Two sources with the same bytes in one listing are one video: the first (in listing order) is
planned as usual and each later one is a ``duplicate`` naming it, never sent, its identity still
recorded. A hash the lake remembers as failed for a reason that will not change
(``reelscribe.core.failure_memory``) is ``failed-before``: reported with that reason, never sent
(the caller passes no remembered failures when the user asks to retry them).
"""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Mapping, NamedTuple

from reelscribe.core.durations import video_seconds
from reelscribe.core.errors import ConfigError, SourceError
from reelscribe.core.source_state import SeenSource, SeenSources
from reelscribe.core.sources import SourceKind, VideoSource, content_sha256
from reelscribe.core.stores import NO_STORE_OPTIONS, StoreOptions

log = logging.getLogger(__name__)

HASH_WORKERS = 4


class PlanStatus(StrEnum):
    """A found video's place in the plan; a member formats as its text (``reelscribe plan``'s output)."""

    NEW = "new"
    CHANGED = "changed"
    LANDED = "landed"
    DEFERRED = "deferred"
    UNREADABLE = "unreadable"
    DUPLICATE = "duplicate"
    FAILED_BEFORE = "failed-before"


STATUSES: tuple[PlanStatus, ...] = tuple(PlanStatus)
SENT: tuple[PlanStatus, ...] = (PlanStatus.NEW, PlanStatus.CHANGED, PlanStatus.UNREADABLE)
"""Statuses whose videos a run sends (an unreadable one, to fail with its own error)."""
HELD: tuple[PlanStatus, ...] = (PlanStatus.DEFERRED, PlanStatus.DUPLICATE, PlanStatus.FAILED_BEFORE)
TO_BOUND: tuple[PlanStatus, ...] = (PlanStatus.NEW, PlanStatus.CHANGED)
"""Statuses whose videos the bounds, the copy check and the remembered failures apply to."""
"""Statuses whose videos a run neither sends nor looks up: each gets its own report from the plan."""


@dataclass(frozen=True)
class Bounds:
    """At most ``max_videos`` videos and ``max_video_minutes`` minutes of video per run."""

    max_videos: int | None = None
    max_video_minutes: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_videos", "max_video_minutes"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"{name} must not be negative (got {value})")

    @property
    def needs_durations(self) -> bool:
        return self.max_video_minutes is not None


class PlannedVideo(NamedTuple):
    """One found video's place in the plan (a tuple: a plan of 100,000 builds one per video)."""

    source: VideoSource
    status: PlanStatus
    content_sha256: str | None
    seconds: float | None = None
    error: str | None = None
    """Why it is unreadable, or the remembered reason of a ``failed-before``."""
    copy_of: str | None = None
    """A ``duplicate``'s source: the URI of the source in this listing with the same bytes."""


@dataclass(frozen=True)
class Plan:
    """Every found video with its status, in the order found, and what the run learnt."""

    videos: tuple[PlannedVideo, ...]
    hashed: tuple[SeenSource, ...] = ()
    """Identities read this run: appended to the state (``LakeWriter.record_sources``)."""
    bytes_read: int = 0
    without_identity: int = 0
    """Sources whose listing gave no usable identity (no size, no time/ETag): hashed every run."""
    notice: str | None = None
    lengths_read: bool = False
    """Whether each new video's length was read (a bound by minutes, or ``reelscribe plan``)."""
    counts: dict[str, int] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        by_status = Counter(v.status for v in self.videos)
        self.counts.update({status: by_status[status] for status in STATUSES})

    @property
    def to_send(self) -> list[PlannedVideo]:
        return [v for v in self.videos if v.status in SENT]

    @property
    def passed_on(self) -> list[PlannedVideo]:
        """The videos a run hands to its upload step: those sent and those landed (reported ``skipped``)."""
        return [v for v in self.videos if v.status not in HELD]

    @property
    def deferred(self) -> list[PlannedVideo]:
        return [v for v in self.videos if v.status == PlanStatus.DEFERRED]

    @property
    def minutes(self) -> float | None:
        """Minutes of video to send, of those whose length is known (``None``: no length was read)."""
        known = [v.seconds for v in self.to_send if v.seconds is not None]
        return sum(known) / 60 if known else None

    @property
    def unknown_lengths(self) -> int:
        """Videos to send whose length was looked for and could not be read."""
        return sum(v.seconds is None for v in self.to_send if v.status != PlanStatus.UNREADABLE) if self.lengths_read else 0

    def summary(self) -> str:
        """``2 new, 1 changed, 5 already landed, 3 deferred; 3.4 min of video to send (+1 of unknown length)``."""
        c = self.counts
        parts = [f"{c['new']} new", *([f"{c['changed']} changed"] if c["changed"] else []), f"{c['landed']} already landed"]
        parts += [f"{c[s]} {s}" for s in ("deferred", "unreadable", "duplicate", "failed-before") if c[s]]
        text = ", ".join(parts)
        unknown = f" (+{self.unknown_lengths} of unknown length)" if self.unknown_lengths else ""
        if self.minutes is not None:
            return f"{text}; {self.minutes:.1f} min of video to send{unknown}"
        return f"{text}; {self.unknown_lengths} video(s) of unknown length to send" if unknown else text


def make_plan(
    found: list[VideoSource],
    landed: frozenset[str],
    seen: SeenSources,
    bounds: Bounds = Bounds(),
    *,
    durations: bool = False,
    store: StoreOptions = NO_STORE_OPTIONS,
    failed: Mapping[str, str] | None = None,
) -> Plan:
    """Hash what the state does not know, classify, mark copies, read durations if asked or bounded, bound.

    ``store``: the options object-store sources are read with (a storage block's). ``failed``:
    content hash -> reason, the failures this index remembers (empty: retry them)."""
    recognised = seen.recognise(found)
    known = [content_sha256(s) if s.kind == SourceKind.URL else sha for s, sha in zip(found, recognised.hashes)]  # a URL: its text
    unknown = [s for s, sha in zip(found, known) if sha is None]
    with ThreadPoolExecutor(max_workers=max(1, min(HASH_WORKERS, len(unknown)))) as pool:
        read = dict(zip((s.uri for s in unknown), pool.map(lambda s: _hash_or_error(s, store), unknown)))
    videos, hashed = [], []
    for source, sha, known_source in zip(found, known, recognised.known):
        if sha is not None:  # recognised by its identity (or a URL): no read, not changed
            videos.append(PlannedVideo(source, PlanStatus.LANDED if sha in landed else PlanStatus.NEW, sha))
            continue
        sha, error = read[source.uri]
        if sha and source.identity is not None and source.identity.usable:
            hashed.append(SeenSource(source.uri, source.identity, sha))
        videos.append(PlannedVideo(source, _status(sha, landed, changed=known_source), sha, error=error))
    videos = _mark_held(videos, failed or {})
    lengths_read = durations or bounds.needs_durations
    if lengths_read:
        videos = [_with_duration(v, store) if v.status in TO_BOUND else v for v in videos]
    videos, notice = _bound(videos, bounds)
    return Plan(
        tuple(videos),
        tuple(hashed),
        bytes_read=sum((s.identity.size or 0) for s in unknown if s.identity),
        without_identity=recognised.without_identity - sum(s.kind == SourceKind.URL for s in found),
        notice=notice,
        lengths_read=lengths_read,
    )


def _hash_or_error(source: VideoSource, store: StoreOptions) -> tuple[str | None, str | None]:
    """A file that cannot be read is sent anyway, so its upload fails with its own error."""
    try:
        return content_sha256(source, store), None
    except (SourceError, OSError) as exc:
        return None, str(exc)


def _status(sha: str | None, landed: frozenset[str], changed: bool) -> PlanStatus:
    """``changed``: the state knew this source under another identity (an overwritten object)."""
    if sha is None:
        return PlanStatus.UNREADABLE
    if sha in landed:
        return PlanStatus.LANDED
    return PlanStatus.CHANGED if changed else PlanStatus.NEW


def _mark_held(videos: list[PlannedVideo], failed: Mapping[str, str]) -> list[PlannedVideo]:
    """``failed-before`` for a remembered failure's hash, then ``duplicate`` for every later source
    with the bytes of an earlier one to be sent (one upload per content, whichever the count)."""
    first: dict[str, str] = {}
    marked = []
    for video in videos:
        sha = video.content_sha256
        if video.status in TO_BOUND and sha is not None:
            if sha in failed and video.source.kind != SourceKind.URL:
                video = video._replace(status=PlanStatus.FAILED_BEFORE, error=failed[sha])
            elif sha in first:
                video = video._replace(status=PlanStatus.DUPLICATE, copy_of=first[sha])
            else:
                first[sha] = video.source.uri
        marked.append(video)
    return marked


def _with_duration(video: PlannedVideo, store: StoreOptions) -> PlannedVideo:
    return video._replace(seconds=video_seconds(video.source, store))


def _bound(videos: list[PlannedVideo], bounds: Bounds) -> tuple[list[PlannedVideo], str | None]:
    """Take new and changed videos oldest first while both bounds hold; defer the rest.

    Strictly in order: a long video is never skipped for shorter, younger ones, so it is
    first at the next run. A video of unknown length is taken only as the run's first and
    then fills the minutes budget (see the module's docstring).
    """
    if bounds.max_videos is None and bounds.max_video_minutes is None:
        return videos, None
    order = sorted(
        (i for i, v in enumerate(videos) if v.status in TO_BOUND),
        key=lambda i: (_modified(videos[i].source), videos[i].source.uri),
    )
    taken, seconds, notice, full = 0, 0.0, None, False
    result = list(videos)
    budget = None if bounds.max_video_minutes is None else bounds.max_video_minutes * 60
    for i in order:
        video = videos[i]
        if budget is not None and video.seconds is None:  # unknown length: alone, and it fills the budget
            length, over_time = budget, taken > 0 or budget <= 0
        else:
            length = video.seconds or 0.0
            over_time = budget is not None and seconds + length > budget
        over_count = bounds.max_videos is not None and taken >= bounds.max_videos
        if full or over_count or over_time:
            if not full and over_time and taken == 0:
                shown = "unknown length" if video.seconds is None else f"{length / 60:.1f} min"
                notice = (
                    f"max_video_minutes {bounds.max_video_minutes:g} is below the first video's length "
                    f"({video.source.name}: {shown}): nothing sent this run"
                )
            full = True
            result[i] = video._replace(status=PlanStatus.DEFERRED, error=None)
            continue
        taken += 1
        seconds += length
    return result, notice


def _modified(source: VideoSource) -> int:
    """The store's modification time; sources without one go last."""
    mtime = source.identity.mtime_ns if source.identity else None
    return mtime if mtime is not None else 2**63
