"""Transcript words -> subtitle cues -> SRT, WebVTT, plain text or JSON (pure functions, no I/O).

The cue rules (broadcast norms; the README's "Subtitles" section states the same):

1. A cue has **at most 2 lines of at most 42 characters** (``MAX_LINES``, ``MAX_LINE_CHARS``);
   two lines are balanced, preferring a break after punctuation.
2. A cue lasts **1 to 7 seconds** (``MIN_CUE_S``, ``MAX_CUE_S``): a short cue is held on
   screen up to 1 s, never into the next one; a cue ends before it would pass 7 s.
3. Cues **break at sentence ends** (``.``, ``?``, ``!``, ``…``, and the ends of the lake's
   ``sentences`` where it has them) **and at pauses** of at least ``PAUSE_S`` between words,
   whenever the cue before the break can still last 1 s.
4. **No cue spans a long silence**: a gap of ``LONG_SILENCE_S`` or more always ends the cue.
5. **No cues overlap**: each starts at or after the end of the one before.
6. Cues are built from the ``words`` table where the lake has it; otherwise each segment's
   words get times spread over the segment in proportion to their length (``segment_words``).
7. **The text is kept whole**: the cues' lines, joined by single spaces, are the transcript's
   words joined by single spaces (only runs of whitespace change). A word longer than
   42 characters is the one exception: it is cut into 42-character pieces.

Rule 2 is kept by holding cues on screen, not by moving words; only when speech is faster than
two full lines a second does the held cue push the next one's start past its first word (by the
shortfall, never more).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence, Set as AbstractSet
from dataclasses import asdict, dataclass
from typing import Literal, NamedTuple, get_args

__all__ = [
    "LONG_SILENCE_S",
    "MAX_CUE_S",
    "MAX_LINE_CHARS",
    "MAX_LINES",
    "MIN_CUE_S",
    "PAUSE_S",
    "Cue",
    "TimedWord",
    "build_cues",
    "format_cues",
    "segment_words",
    "word_start",
    "SUBTITLE_FORMATS",
    "SubtitleFormat",
]

MAX_LINES = 2
MAX_LINE_CHARS = 42
MIN_CUE_S = 1.0
MAX_CUE_S = 7.0
PAUSE_S = 0.5
LONG_SILENCE_S = 1.5
SubtitleFormat = Literal["srt", "vtt", "txt", "json"]
SUBTITLE_FORMATS: tuple[SubtitleFormat, ...] = get_args(SubtitleFormat)
_SENTENCE_END = re.compile(r"[.?!…][\"'”’)\]]*$")
_CLAUSE_END = re.compile(r"[,;:—–-][\"'”’)\]]*$")


class TimedWord(NamedTuple):
    """One word (with its punctuation) and when it was said, in seconds; ``segment`` it falls in.

    A named tuple: search makes one per word of every candidate segment, and tuples are cheap.
    """

    text: str
    start: float
    end: float
    segment: int | None = None


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.lines)


def segment_words(segments: Iterable[tuple[int, float, float, str]]) -> list[TimedWord]:
    """Words of ``(segment, start, end, text)`` rows, timed in proportion to their characters.

    What a lake without a ``words`` table offers; search uses the same times, so a phrase
    found in the middle of a segment is placed where it was (about) said.
    """
    words: list[TimedWord] = []
    for segment, start, end, text in segments:
        pieces = text.split()
        total = sum(len(p) for p in pieces) or 1
        done = 0
        for piece in pieces:
            first = _share(start, end, done, total)
            done += len(piece)
            words.append(TimedWord(piece, first, _share(start, end, done, total), segment))
    return words


def word_start(start: float, end: float, pieces: Sequence[str], i: int) -> float:
    """When ``pieces[i]`` of a segment's text starts, as ``segment_words`` times it."""
    return _share(start, end, sum(map(len, pieces[:i])), sum(map(len, pieces)) or 1)


def _share(start: float, end: float, done: int, total: int) -> float:
    return start + (end - start) * done / total


def build_cues(words: Sequence[TimedWord], sentence_ends: Iterable[float] = ()) -> list[Cue]:
    """The cues for ``words`` (in spoken order) by the module's rules; a word ending at one of
    ``sentence_ends`` (seconds, as the lake's ``sentences`` table gives them) ends a sentence."""
    tokens = [w for word in attached(words) for w in _fit_word(word)]
    ends = {round(end, 3) for end in sentence_ends}
    groups: list[list[TimedWord]] = []
    current: list[TimedWord] = []
    for word in tokens:
        if current and _breaks_before(current, word, ends):
            groups.append(current)
            current = []
        current.append(word)
    if current:
        groups.append(current)
    return _timed(groups, tokens)


_CLOSING = re.compile(r"^[%‰.,;:!?…)\]}”’»]+$")
"""A token of these alone (Whisper's ``%`` after ``12``) belongs to the word before it, as in the transcript."""


def attached(words: Sequence[TimedWord]) -> list[TimedWord]:
    """``words`` with each closing-punctuation token joined to the word before it: ``12`` ``%`` → ``12%``."""
    out: list[TimedWord] = []
    for word in words:
        if out and _CLOSING.match(word.text) and word.segment == out[-1].segment:
            last = out[-1]
            out[-1] = TimedWord(last.text + word.text, last.start, max(last.end, word.end), last.segment)
        else:
            out.append(word)
    return out


def _fit_word(word: TimedWord) -> Iterator[TimedWord]:
    text = word.text.strip()
    if not text:
        return
    if len(text) <= MAX_LINE_CHARS:
        yield TimedWord(text, word.start, word.end, word.segment)
        return
    pieces = [text[i : i + MAX_LINE_CHARS] for i in range(0, len(text), MAX_LINE_CHARS)]
    yield from segment_words([(word.segment, word.start, word.end, " ".join(pieces))])  # type: ignore[list-item]


def _breaks_before(current: list[TimedWord], word: TimedWord, sentence_ends: AbstractSet[float] = frozenset()) -> bool:
    last = current[-1]
    gap = word.start - last.end
    if gap >= LONG_SILENCE_S:
        return True
    if _layout([*(w.text for w in current), word.text]) is None:
        return True
    if word.end - current[0].start > MAX_CUE_S:
        return True
    soft = _SENTENCE_END.search(last.text) is not None or gap >= PAUSE_S or round(last.end, 3) in sentence_ends
    # A soft break only where the cue before it can be held for MIN_CUE_S before this word.
    return soft and word.start - current[0].start >= MIN_CUE_S


def _timed(groups: list[list[TimedWord]], tokens: list[TimedWord]) -> list[Cue]:
    cues: list[Cue] = []
    for i, group in enumerate(groups):
        start = group[0].start if not cues else max(group[0].start, cues[-1].end)
        end = min(max(group[-1].end, start + MIN_CUE_S), start + MAX_CUE_S)
        if i + 1 < len(groups):
            end = max(min(end, groups[i + 1][0].start), start)
        if end - start < MIN_CUE_S:
            # Faster than two lines a second: hold it anyway; the next cue waits (rule 2).
            end = start + MIN_CUE_S
        lines = _layout([w.text for w in group])
        assert lines is not None  # every group was built to fit
        cues.append(Cue(round(start, 3), round(end, 3), lines))
    return cues


def _layout(words: Sequence[str]) -> tuple[str, ...] | None:
    """The words on at most ``MAX_LINES`` lines of at most ``MAX_LINE_CHARS``, or ``None``.

    Two lines are split where the longer line is shortest, a break after punctuation
    winning when it costs at most 8 characters of balance.
    """
    text = " ".join(words)
    if len(text) <= MAX_LINE_CHARS:
        return (text,)
    best: tuple[float, int] | None = None
    for cut in range(1, len(words)):
        top, bottom = " ".join(words[:cut]), " ".join(words[cut:])
        if len(top) > MAX_LINE_CHARS or len(bottom) > MAX_LINE_CHARS:
            continue
        score = max(len(top), len(bottom)) - (8 if _CLAUSE_END.search(top) or _SENTENCE_END.search(top) else 0)
        if best is None or score < best[0]:
            best = (score, cut)
    if best is None:
        return None
    cut = best[1]
    return (" ".join(words[:cut]), " ".join(words[cut:]))


# -- formats ---------------------------------------------------------------------------------


def format_cues(cues: Sequence[Cue], fmt: str) -> str:
    """The file's text in ``fmt`` (one of ``SUBTITLE_FORMATS``)."""
    if fmt == "srt":
        return "".join(
            f"{n}\n{_clock(c.start, ',')} --> {_clock(c.end, ',')}\n" + "\n".join(c.lines) + "\n\n"
            for n, c in enumerate(cues, 1)
        )
    if fmt == "vtt":
        return "WEBVTT\n\n" + "".join(
            f"{_clock(c.start, '.')} --> {_clock(c.end, '.')}\n" + "\n".join(_vtt_escape(x) for x in c.lines) + "\n\n"
            for c in cues
        )
    if fmt == "txt":
        return "".join(f"{c.text}\n" for c in cues)
    if fmt == "json":
        return json.dumps([asdict(c) | {"text": c.text} for c in cues], ensure_ascii=False, indent=1) + "\n"
    raise ValueError(f"unknown subtitle format {fmt!r}: expected one of {', '.join(SUBTITLE_FORMATS)}")


def _clock(seconds: float, separator: str) -> str:
    """``hh:mm:ss,mmm`` (SRT) or ``hh:mm:ss.mmm`` (WebVTT)."""
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _vtt_escape(line: str) -> str:
    """WebVTT cue text is markup: ``&``, ``<`` and ``>`` are written as character references."""
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
