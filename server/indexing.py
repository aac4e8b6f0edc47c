"""The media steps both indexing paths take: fetch a URL source, check the file, transcribe it.

A file the server refuses is a :class:`MediaRejected` carrying the API's failure code and message,
so each path records it on its own row the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av

from reelscribe.server.asr import AsrEngine, UnsupportedSpeech
from reelscribe.server.config import ServerConfig
from reelscribe.server.media import BrokenMedia, Probe, probe
from reelscribe.server.urlfetch import UrlRules, fetch_url


class MediaRejected(Exception):
    """The file cannot be indexed; ``code`` and ``message`` are what the API reports."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def duration_problem(duration: float, minimum: float, maximum: float) -> tuple[str, str] | None:
    """The failure code and message for a duration outside ``[minimum, maximum]``, else None."""
    if duration < minimum:
        return "video_duration_too_short", f"The video is {duration:.2f} s long; the minimum is {minimum:g} s."
    if duration > maximum:
        return "video_duration_too_long", f"The video is {duration:.2f} s long; the maximum is {maximum:g} s."
    return None


def fetch_into(config: ServerConfig, url: str, path: Path) -> int:
    """The bounded, rule-checked fetch of a URL source, written under a temporary name and renamed
    (so the file's presence means it is whole); its size. Raises :class:`UrlFetchError`."""
    partial = path.with_name(path.name + ".part")
    size = fetch_url(
        url,
        partial,
        timeout=config.url_timeout,
        max_bytes=config.url_max_bytes,
        rules=UrlRules.of(config),
    )
    partial.replace(path)
    return size


def measures(info: Probe) -> dict[str, float | int | None]:
    """The probe's figures a row keeps."""
    return {"duration": info.duration, "width": info.width, "height": info.height, "fps": info.fps}


def checked_media(config: ServerConfig, path: Path) -> Probe:
    """The file's probe, once it is known to be a readable video within the duration limits."""
    try:
        info = probe(path)
    except BrokenMedia as exc:
        raise MediaRejected("video_file_broken", f"The video file is broken or not a video: {exc}.") from None
    problem = duration_problem(info.duration, config.min_duration, config.max_duration)
    if problem is not None:
        raise MediaRejected(*problem)
    return info


def transcribed(engine: AsrEngine, path: Path, should_stop: Callable[[], bool]) -> tuple[list[dict], dict | None]:
    """:func:`transcribe_media`, with undecodable audio and unsupported speech as :class:`MediaRejected`."""
    try:
        return transcribe_media(engine, path, should_stop)
    except BrokenMedia as exc:
        raise MediaRejected("video_file_broken", f"The audio could not be decoded: {exc}.") from None
    except UnsupportedSpeech as exc:
        raise MediaRejected(exc.code, str(exc)) from None


def transcribe_media(engine: AsrEngine, path: Path, should_stop: Callable[[], bool]) -> tuple[list[dict], dict | None]:
    """Segments for the file (``[]`` when it has no audio track at all) and, where the language was
    detected, ``{language_probability, languages}`` for the store; decoding errors are :class:`BrokenMedia`."""
    if not probe(path).has_audio:
        return [], None
    try:
        transcript = engine.transcribe(path, should_stop=should_stop)
    except (av.FFmpegError, IndexError, ValueError) as exc:
        raise BrokenMedia(type(exc).__name__) from None
    segments, _ = transcript
    found = {name: getattr(transcript, name, None) for name in ("language_probability", "languages")}
    return segments, ({k: v for k, v in found.items() if v is not None} or None)
