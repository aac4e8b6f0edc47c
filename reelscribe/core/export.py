"""Subtitle files from the lake: one file per video, named after its source, in a folder or bucket.

Everything that can be wrong is found before the first file is written: no lake at ``out``, an
index or video the lake does not hold, a target that cannot be written. Each file is published
whole (a temp file renamed over it locally; one PUT on an object store), so a reader never sees
half a subtitle file and exporting again overwrites.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import fsspec
from fsspec.implementations.local import LocalFileSystem

from reelscribe.core.errors import NotInLake, StoreError
from reelscribe.core.lake_sql import LakeReader, open_reader
from reelscribe.core.sources import source_key
from reelscribe.core.stores import check_lake, open_store
from reelscribe.core.subtitles import SUBTITLE_FORMATS, Cue, TimedWord, build_cues, format_cues, segment_words

__all__ = ["ExportedFile", "Selected", "cues_of", "export_lake", "select_videos", "subtitle_names"]

_UNSAFE = re.compile(r"[^\w.-]+")


@dataclass(frozen=True)
class Selected:
    index_id: str
    video_id: str
    source: str
    has_words: bool


@dataclass(frozen=True)
class ExportedFile:
    """One file written: where, for which video, how many cues, built from words or segments."""

    path: str
    index_id: str
    video_id: str
    source: str
    cues: int
    built_from: str


def select_videos(reader: LakeReader, *, videos: Sequence[str] = (), sources: Sequence[str] = ()) -> list[Selected]:
    """The landed videos asked for (all that ``reader`` reads: ``LakeReader.only_index``);
    ``NotInLake`` names a video id or source that it does not hold."""
    landed = [Selected(*row) for row in reader.videos()]
    index_id = ", ".join(reader.narrowed) if reader.narrowed else None
    if not videos and not sources:
        return landed
    by_id = {v.video_id for v in landed}
    by_source = {v.source for v in landed}
    wanted: set[str] = set()
    for video_id in videos:
        if video_id not in by_id:
            raise NotInLake(f"video {video_id!r} is not in the lake {reader.out}" + _in(index_id))
    for source in sources:
        # As typed, or as a run records it (a relative local path made absolute): either names it.
        matches = {source, source_key(source)} & by_source
        if not matches:
            raise NotInLake(f"no video from source {source!r} in the lake {reader.out}" + _in(index_id))
        wanted |= matches
    return [v for v in landed if v.video_id in videos or v.source in wanted]


def _in(index_id: str | None) -> str:
    return f" (index {index_id})" if index_id else ""


def cues_of(reader: LakeReader, video: Selected) -> tuple[list[Cue], str]:
    """The video's cues, from its words where the lake has them (breaking at its sentences' ends too), else
    from its segments."""
    if video.has_words and "words" in reader.tables:
        rows = reader.words_of(video.index_id, video.video_id)
        if rows:
            ends = [s[2] for s in reader.sentences_of(video.index_id, video.video_id)]
            return build_cues([TimedWord(r[3], r[1], r[2], r[4]) for r in rows], ends), "words"
    return build_cues(segment_words(reader.segments_of(video.index_id, video.video_id))), "segments"


def subtitle_names(videos: Sequence[Selected], fmt: str) -> dict[tuple[str, str], str]:
    """``<source's stem>.<fmt>`` per video; videos whose stems collide get ``<stem>.<video_id>.<fmt>``."""
    stems = {(v.index_id, v.video_id): _stem(v) for v in videos}
    taken = Counter(stems.values())
    return {
        key: f"{stem}.{fmt}" if taken[stem] == 1 else f"{stem}.{key[1]}.{fmt}" for key, stem in stems.items()
    }


def _stem(video: Selected) -> str:
    path = urlsplit(video.source).path if "://" in video.source else video.source
    stem = PurePosixPath(path.replace("\\", "/")).stem
    return _UNSAFE.sub("_", stem).strip("._") or video.video_id


def export_lake(
    out: str,
    to: str,
    fmt: str,
    *,
    index_id: str | None = None,
    index_name: str | None = None,
    videos: Sequence[str] = (),
    sources: Sequence[str] = (),
) -> list[ExportedFile]:
    """Write one ``fmt`` file per selected video under ``to`` (of the index ``index_id``, or the
    index(es) the lake names ``index_name``); returns what was written."""
    if fmt not in SUBTITLE_FORMATS:
        raise ValueError(f"unknown subtitle format {fmt!r}: expected one of {', '.join(SUBTITLE_FORMATS)}")
    with open_reader(out) as reader:
        reader.only_index(index_id=index_id, index_name=index_name)
        selected = select_videos(reader, videos=videos, sources=sources)
        fs, root = writable_target(to)
        names = subtitle_names(selected, fmt)
        written = []
        for video in selected:
            cues, built_from = cues_of(reader, video)
            path = f"{root.rstrip('/')}/{names[(video.index_id, video.video_id)]}"
            _publish(fs, path, format_cues(cues, fmt).encode())
            shown = path if isinstance(fs, LocalFileSystem) else fs.unstrip_protocol(path)
            written.append(ExportedFile(shown, video.index_id, video.video_id, video.source, len(cues), built_from))
        return written


def writable_target(to: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The target's filesystem and path, once it is known to take files; ``StoreError`` if not."""
    fs, root = open_store(to)
    if not isinstance(fs, LocalFileSystem):
        check_lake(to)
        return fs, root
    existing = root
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
        raise StoreError(f"{to}: cannot write subtitle files there ({existing} is not a writable folder)")
    return fs, root


def _publish(fs: fsspec.AbstractFileSystem, path: str, data: bytes) -> None:
    if not isinstance(fs, LocalFileSystem):
        fs.pipe_file(path, data)
        return
    directory, name = os.path.split(path)
    os.makedirs(directory, exist_ok=True)
    temp = os.path.join(directory, f".{name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temp, "xb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temp)
        raise
