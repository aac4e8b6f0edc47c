"""Conversations built from real recorded voices, with known turns: for the speaker tests and bench.

Voices: JFK (``samples/jfk.mp4``, cut at its pauses into two turns), the LibriVox reader of Debian's
``pocketsphinx-testdata`` (BSD-2), and that package's ``numbers.raw`` speaker. Each piece is trimmed
to its speech and the pieces are laid end to end with short silences, so the reference says who
speaks when (:class:`Conversation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.conftest import JFK
from tests.media import SAMPLE_RATE, decode_mono, write_aac

TESTDATA = Path("/usr/share/pocketsphinx/test/data")
LIBRIVOX = TESTDATA / "librivox"
MISSING = (f"the speaker clips need real voices from the Debian package pocketsphinx-testdata ({LIBRIVOX} is "
           "missing): apt-get install -y pocketsphinx-testdata")


@dataclass(frozen=True)
class Piece:
    speaker: str
    samples: np.ndarray


@dataclass(frozen=True)
class Conversation:
    samples: np.ndarray
    turns: list[tuple[float, float, str]]
    """``(start, end, speaker)`` of each piece's speech, in seconds."""
    speech: list[tuple[float, float, str]]
    """``(start, end, speaker)`` of the stretches of speech within the turns (their pauses left out):
    the reference a diarization is scored against."""

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    def write(self, target: Path) -> Path:
        return write_aac(self.samples, target)


def available() -> bool:
    return LIBRIVOX.is_dir() and (TESTDATA / "numbers.raw").is_file()


def _trimmed(samples: np.ndarray) -> np.ndarray:
    """Without leading and trailing silence (:func:`_loud_frames`)."""
    size = SAMPLE_RATE // 50
    loud = np.flatnonzero(_loud_frames(samples))
    return samples[loud[0] * size : (loud[-1] + 1) * size]


def _loud_frames(samples: np.ndarray) -> np.ndarray:
    """Per 20 ms frame: louder than 10 % of the piece's loud frames (its 95th percentile RMS)."""
    size = SAMPLE_RATE // 50
    frames = samples[: len(samples) // size * size].astype(np.float64).reshape(-1, size)
    rms = np.sqrt((frames**2).mean(axis=1))
    return rms > 0.1 * np.percentile(rms, 95)


def _speech(samples: np.ndarray, bridge: float = 0.3) -> list[tuple[float, float]]:
    """The piece's stretches of speech, seconds from its start: loud frames, gaps under ``bridge`` s bridged."""
    loud = np.flatnonzero(_loud_frames(samples))
    spans: list[list[float]] = []
    for frame in loud:
        start, end = frame * 0.02, (frame + 1) * 0.02
        if spans and start - spans[-1][1] < bridge:
            spans[-1][1] = end
        else:
            spans.append([start, end])
    return [(start, end) for start, end in spans]


def _seconds(samples: np.ndarray, start: float, end: float) -> np.ndarray:
    return samples[round(start * SAMPLE_RATE) : round(end * SAMPLE_RATE)]


def voices() -> dict[str, list[np.ndarray]]:
    """Each voice's turns: JFK's two halves (cut in his pause at 4.3-5.35 s), two LibriVox readings,
    and ``numbers.raw`` (16 kHz 16-bit mono PCM)."""
    jfk = decode_mono(JFK)
    reader = [decode_mono(LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{n}.wav") for n in ("0870", "0890", "0920")]
    numbers = np.frombuffer((TESTDATA / "numbers.raw").read_bytes(), dtype="<i2")
    return {
        "jfk": [_trimmed(_seconds(jfk, 0.0, 4.3)), _trimmed(_seconds(jfk, 5.35, 11.0))],
        "reader": [_trimmed(piece) for piece in reader],
        "numbers": [_trimmed(numbers)],
    }


def conversation(order: list[tuple[str, int]], gap: float = 0.6, lead: float = 0.5) -> Conversation:
    """The voices' turns ``(voice, turn number)`` in ``order``, ``gap`` seconds of silence apart."""
    found = voices()
    silence = np.zeros(round(gap * SAMPLE_RATE), dtype=np.int16)
    parts = [np.zeros(round(lead * SAMPLE_RATE), dtype=np.int16)]
    turns = []
    speech = []
    at = len(parts[0])
    for number, (voice, turn) in enumerate(order):
        if number:
            parts.append(silence)
            at += len(silence)
        piece = found[voice][turn]
        parts.append(piece)
        turns.append((at / SAMPLE_RATE, (at + len(piece)) / SAMPLE_RATE, voice))
        speech.extend((float(at / SAMPLE_RATE + start), float(at / SAMPLE_RATE + end), voice) for start, end in _speech(piece))
        at += len(piece)
    parts.append(np.zeros(round(lead * SAMPLE_RATE), dtype=np.int16))
    return Conversation(np.concatenate(parts), turns, speech)


def two_voices() -> Conversation:
    """JFK, the reader, JFK, the reader (A, B, A, B)."""
    return conversation([("jfk", 0), ("reader", 0), ("jfk", 1), ("reader", 1)])
