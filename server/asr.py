"""Speech-to-text with faster-whisper on the CPU.

The model is loaded once per process and shared by all indexing workers: CTranslate2 runs up to
``num_workers`` transcriptions in parallel on one model, each with ``cpu_threads`` threads, so the
cores are split among the workers instead of oversubscribed. Loading happens in a background thread
at start-up (so the server answers at once) or, failing that, at first use. The loading thread then
stays parked until the engine is closed: measured here, transcription took about 1.7x the CPU time
once the thread that had built the model had exited.

:func:`transcribe` is the single decoding entry point: the server's workers and the benchmark's
"bare faster-whisper" baseline both call it, so they compare like with like. It uses the model's
default decoding: beam search of 5, temperature fallback, Whisper's no-speech check (which is what
keeps most silence from turning into invented text) and faster-whisper's Silero VAD filter, on by
default (``--no-vad`` turns it off): on a few seconds of digital silence tiny.en still invents a
segment without it (tests/test_pipeline.py::test_video_without_speech_lands_zero_segments). A
speechless track yields no segments and the API reports ``null``.

Every segment carries its words with their own times (faster-whisper's ``word_timestamps``, from the
model's alignment heads): the v1.3 tasks path does not show them, the assets path does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class TranscriptionStopped(Exception):
    """The server is shutting down; the task stays unfinished and is resumed on restart."""


@dataclass(frozen=True)
class AsrSettings:
    model: str
    compute_type: str = "int8"
    cpu_threads: int = 1
    num_workers: int = 1
    vad: bool = True


Segment = dict[str, Any]
Word = dict[str, Any]


def timed_words(words: Iterable[Any], start: float, end: float) -> list[Word]:
    """faster-whisper's words as ``[{start, end, value}]`` inside ``[start, end]``, in order, none overlapping.

    Values lose the leading space Whisper's tokens carry; empty words are dropped. A word may start no
    earlier than the previous one ended (alignment can overlap neighbours by a few milliseconds).
    """
    out: list[Word] = []
    floor = start
    for word in words:
        value = word.word.strip()
        if not value:
            continue
        word_start = round(min(max(float(word.start), floor), end), 3)
        word_end = round(min(max(float(word.end), word_start), end), 3)
        out.append({"start": word_start, "end": word_end, "value": value})
        floor = word_end
    return out


def transcribe(
    model: Any,
    path: str | Path,
    *,
    vad: bool = True,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[list[Segment], float]:
    """Transcribe the audio of ``path``; return ``([{start, end, value, words}], audio duration in s)``.

    Segments with no text are dropped; ends are clamped to the audio's duration, words to their segment.
    """
    segments, info = model.transcribe(str(path), beam_size=5, vad_filter=vad, word_timestamps=True)
    duration = float(info.duration)
    out: list[Segment] = []
    for segment in segments:
        if should_stop is not None and should_stop():
            raise TranscriptionStopped()
        text = segment.text.strip()
        if not text:
            continue
        start = round(max(0.0, float(segment.start)), 3)
        end = round(min(float(segment.end), duration) if duration > 0 else float(segment.end), 3)
        end = max(start, end)
        out.append({"start": start, "end": end, "value": text, "words": timed_words(segment.words or (), start, end)})
    return out, duration


class AsrEngine:
    """The process's one Whisper model, loaded lazily and thread-safely."""

    def __init__(self, settings: AsrSettings) -> None:
        self.settings = settings
        self._model: Any = None
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def load(self) -> Any:
        """The loaded model; loads it on first call (other callers wait for the same load)."""
        with self._lock:
            if self._model is None:
                from faster_whisper import WhisperModel

                s = self.settings
                log.info("loading Whisper model %s (%s, %d thread(s) x %d)", s.model, s.compute_type, s.cpu_threads, s.num_workers)
                try:
                    self._model = WhisperModel(
                        s.model,
                        device="cpu",
                        compute_type=s.compute_type,
                        cpu_threads=s.cpu_threads,
                        num_workers=s.num_workers,
                    )
                except Exception as exc:
                    log.error("could not load Whisper model %s: %s", s.model, exc)
                    raise
                log.info("Whisper model ready")
            return self._model

    def warm_up(self) -> threading.Thread:
        """Load in a daemon thread that then waits for :meth:`close` (see the module docstring)."""

        def run() -> None:
            try:
                self.load()
            except Exception:
                log.debug("warm-up failed; the first task will retry the load")
            self._closed.wait()

        thread = threading.Thread(target=run, name="asr-warm-up", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        """Let the warm-up thread finish."""
        self._closed.set()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def transcribe(self, path: str | Path, should_stop: Callable[[], bool] | None = None) -> tuple[list[Segment], float]:
        return transcribe(self.load(), path, vad=self.settings.vad, should_stop=should_stop)
