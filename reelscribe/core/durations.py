"""A video's length from its container header, read with small range reads, never the whole file.

PyAV (FFmpeg) reads the header through a file-like object: for an object-store source that is
an fsspec file with a small block size, so a faststart MP4 costs the first blocks (the ``moov``
atom) and other layouts a few seeks. PyAV is in the ``local`` extra, not a core dependency: a
client of the hosted API needs no FFmpeg, so without it durations are unknown (``None``) and
``max_video_minutes`` asks for it (``require_durations``).
"""

from __future__ import annotations

import importlib.util

from reelscribe.core.errors import ConfigError
from reelscribe.core.sources import SourceKind, VideoSource
from reelscribe.core.stores import NO_STORE_OPTIONS, StoreOptions, filesystem

HEADER_BLOCK = 1 << 18


def durations_available() -> bool:
    return importlib.util.find_spec("av") is not None


def require_durations() -> None:
    """Bounding by minutes needs each new video's length, which needs PyAV."""
    if not durations_available():
        raise ConfigError("max_video_minutes needs PyAV to read video lengths: pip install 'reelscribe[local]'")


def video_seconds(source: VideoSource, store: StoreOptions = NO_STORE_OPTIONS) -> float | None:
    """The container's duration in seconds; ``None`` for URLs, without PyAV, or for an unreadable header."""
    if source.kind == SourceKind.URL or not durations_available():
        return None
    import av

    try:
        if source.kind == SourceKind.FILE:
            return _seconds(av.open(source.uri))
        fs, path = filesystem(source.uri, **store.of(source.uri))
        with fs.open(path, "rb", block_size=HEADER_BLOCK, cache_type="readahead") as stream:
            return _seconds(av.open(stream))
    except (av.error.FFmpegError, OSError, ValueError):
        return None


def _seconds(container) -> float | None:
    with container:
        if container.duration:
            return container.duration / 1_000_000
        lengths = [float(s.duration * s.time_base) for s in container.streams if s.duration and s.time_base]
        return max(lengths) if lengths else None
