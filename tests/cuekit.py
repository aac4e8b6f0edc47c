"""Reading subtitle files back the way players do, and checking the cue rules on what was read.

Three independent readers: the ``srt`` library, ``webvtt-py``, and FFmpeg's own ``srt`` and
``webvtt`` demuxers through PyAV (the libavformat that ships in the ``av`` wheel).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import av
import srt
import webvtt

from reelscribe.core.subtitles import LONG_SILENCE_S, MAX_CUE_S, MAX_LINE_CHARS, MAX_LINES, MIN_CUE_S

EPSILON = 0.0015  # files keep milliseconds


@dataclass(frozen=True)
class ReadCue:
    start: float
    end: float
    lines: tuple[str, ...]


def read_with_parser(path: Path) -> list[ReadCue]:
    """The file parsed by the format's library (``srt`` or ``webvtt-py``)."""
    if path.suffix == ".srt":
        return [
            ReadCue(c.start.total_seconds(), c.end.total_seconds(), tuple(c.content.split("\n")))
            for c in srt.parse(path.read_text(encoding="utf-8"))
        ]
    # webvtt-py leaves character references as written; a player shows them decoded.
    return [ReadCue(_seconds(c.start), _seconds(c.end), tuple(html.unescape(c.text).split("\n"))) for c in webvtt.read(str(path))]


def _seconds(clock: str) -> float:
    hours, minutes, seconds = clock.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def read_with_ffmpeg(path: Path) -> list[ReadCue]:
    """The file demuxed and decoded by FFmpeg (libavformat's srt/webvtt demuxers, via PyAV)."""
    with av.open(str(path)) as container:
        assert container.format.name == {".srt": "srt", ".vtt": "webvtt"}[path.suffix]
        stream = container.streams.subtitles[0]
        cues = []
        for packet in container.demux(stream):
            for subtitle in packet.decode():
                start = float(packet.pts * stream.time_base)
                end = start + float(packet.duration * stream.time_base)
                cues.append(ReadCue(start, end, tuple(subtitle.dialogue.decode().split("\n"))))
        return cues


def assert_cue_rules(cues: list[ReadCue], transcript: str, *, gaps: list[tuple[float, float]] = ()) -> None:
    """Every stated rule: lines, characters, duration, order, no overlap, no cue across a long
    silence (``gaps``: the silences of at least ``LONG_SILENCE_S`` in the speech), text whole."""
    assert cues, "no cues"
    for cue in cues:
        assert 1 <= len(cue.lines) <= MAX_LINES, cue
        assert all(0 < len(line) <= MAX_LINE_CHARS for line in cue.lines), cue
        assert MIN_CUE_S - EPSILON <= cue.end - cue.start <= MAX_CUE_S + EPSILON, cue
    for before, after in zip(cues, cues[1:]):
        assert before.end <= after.start + EPSILON, (before, after)
    for silence_start, silence_end in gaps:
        assert silence_end - silence_start >= LONG_SILENCE_S
        for cue in cues:
            # A cue may be held into a silence, but never reaches across it to the next words.
            assert not (cue.start < silence_start and cue.end > silence_end), (cue, silence_start, silence_end)
    assert " ".join(" ".join(c.lines) for c in cues) == " ".join(transcript.split())
