"""Probing media files with PyAV: what the task's ``system_metadata`` reports, and broken-file detection.

Probing reads the container header and, only when the container states no duration, the packet
timestamps; it never decodes, so it is cheap even for a 2 GB file. Files that open but are damaged
further in are caught later, when the audio is decoded for transcription.
"""

from __future__ import annotations

import logging
import mimetypes
from dataclasses import dataclass
from pathlib import Path

import av

log = logging.getLogger(__name__)


class BrokenMedia(Exception):
    """The file is not a readable audio/video container."""


@dataclass(frozen=True)
class Probe:
    duration: float
    width: int | None
    height: int | None
    fps: float | None
    has_audio: bool
    has_video: bool


def _demuxed_duration(container: av.container.InputContainer) -> float:
    """The last packet end time over all streams, for containers that do not state a duration."""
    end = 0.0
    for packet in container.demux():
        if packet.pts is None or packet.time_base is None:
            continue
        stop = packet.pts + (packet.duration or 0)
        end = max(end, float(stop * packet.time_base))
    return end


def probe(path: Path) -> Probe:
    """Duration and picture size of ``path``; raises :class:`BrokenMedia` for anything unreadable."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            video = next(iter(container.streams.video), None)
            audio = next(iter(container.streams.audio), None)
            if video is None and audio is None:
                raise BrokenMedia("the file has neither a video nor an audio stream")
            duration = container.duration / av.time_base if container.duration else 0.0
            if duration <= 0:
                duration = _demuxed_duration(container)
            width = height = None
            fps = None
            if video is not None:
                width = video.codec_context.width or None
                height = video.codec_context.height or None
                rate = video.average_rate or video.guessed_rate
                fps = float(rate) if rate else None
    except BrokenMedia:
        raise
    except (av.FFmpegError, ValueError, OSError, UnicodeDecodeError) as exc:
        log.debug("probe of %s failed: %s", path.name, exc)
        raise BrokenMedia(f"the file is not a readable video ({type(exc).__name__})") from None
    if duration <= 0:
        raise BrokenMedia("the file has no measurable duration")
    return Probe(
        duration=round(duration, 6),
        width=width,
        height=height,
        fps=round(fps, 6) if fps else None,
        has_audio=audio is not None,
        has_video=video is not None,
    )


def mime_type(filename: str) -> str:
    """The MIME type a file name suggests (what an asset reports as ``file_type``; content is not sniffed)."""
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"
