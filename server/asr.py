"""Speech-to-text with faster-whisper on the CPU.

The model is loaded once per process and shared by all indexing workers: CTranslate2 runs up to
``num_workers`` transcriptions in parallel on one model, each with ``cpu_threads`` threads. Loading
happens in a background thread at start-up (so the server answers at once) or, failing that, at
first use. The loading thread then stays parked until the engine is closed: measured here,
transcription took about 1.7x the CPU time once the thread that had built the model had exited.

:func:`transcribe` is the single decoding entry point: the server's workers and the benchmark's
"bare faster-whisper" baseline both call it, so they compare like with like. Beam search of 5 in
both modes:

- batched (the default): the Silero VAD finds the speech, :func:`pack_speech` groups it into clips of
  contiguous audio of up to 30 s, and faster-whisper's ``BatchedInferencePipeline`` decodes
  ``batch_size`` clips at once, faster than the sequential decoder. It decodes without timestamp tokens, which lose the text after
  the last complete timestamp of every chunk (measured: word error rate 0.24 instead of 0.11), so
  each chunk comes back as one segment and :func:`split_utterances` cuts it into utterances at its
  words' pauses and punctuation. Batching needs the VAD, which is also what keeps silence from
  turning into invented text (tests/test_pipeline.py::test_video_without_speech_lands_zero_segments).
- sequential (``--no-batch``, and always with ``--no-vad``): ``WhisperModel.transcribe`` with
  temperature fallback and Whisper's no-speech check, and the VAD filter unless ``--no-vad``.

Every segment carries its words with their own times (faster-whisper's ``word_timestamps``, from the
model's alignment heads): the v1.3 tasks path does not show them, the assets path does. A speechless
track yields no segments and the API reports ``null``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

BEAM_SIZE = 5
DEFAULT_BATCH_SIZE = 16
"""Clips decoded in one pass: a 5-minute video (11 clips) in one batch used both cores (8.3–8.7 s for
13.6–14.1 CPU-s); in batches of 8 and 3 it ran 10.7–12.7 s for 12.9–13.6 CPU-s (BENCHMARKS.md, 6)."""
CHUNK_SECONDS = 30.0
"""Whisper's window: the encoder always reads 30 s, so the fewer and fuller the chunks, the less work."""
MAX_BRIDGED_SILENCE = 3.0
"""A chunk spans pauses up to this long; longer silence is skipped (Whisper invents text on silence)."""
MAX_SEGMENT_SECONDS = 9.0
"""Longer segments are cut; Whisper's own timestamped segments are mostly 2 to 9 s long."""
SENTENCE_ENDS = (".", "?", "!")
CLAUSE_ENDS = (",", ";", ":")


class TranscriptionStopped(Exception):
    """The server is shutting down; the task stays unfinished and is resumed on restart."""


@dataclass(frozen=True)
class AsrSettings:
    model: str
    compute_type: str = "int8"
    cpu_threads: int = 1
    num_workers: int = 1
    vad: bool = True
    batch_size: int = DEFAULT_BATCH_SIZE


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


def _cut_score(words: list[Word], cut: int) -> float:
    """How good a boundary lies before ``words[cut]``: pause length, punctuation, closeness to the middle."""
    before, after = words[cut - 1], words[cut]
    span = words[-1]["end"] - words[0]["start"]
    share = (before["end"] - words[0]["start"]) / span if span > 0 else 0.5
    punctuation = 1.0 if before["value"].endswith(SENTENCE_ENDS) else 0.5 if before["value"].endswith(CLAUSE_ENDS) else 0.0
    return (after["start"] - before["end"]) + punctuation + 0.3 * (1 - abs(2 * share - 1))


def _cut_until_short(words: list[Word], max_seconds: float) -> list[list[Word]]:
    if len(words) < 2 or words[-1]["end"] - words[0]["start"] <= max_seconds:
        return [words]
    cut = max(range(1, len(words)), key=lambda at: _cut_score(words, at))
    return _cut_until_short(words[:cut], max_seconds) + _cut_until_short(words[cut:], max_seconds)


def split_utterances(segment: Segment, max_seconds: float = MAX_SEGMENT_SECONDS) -> list[Segment]:
    """``segment`` cut at word boundaries into pieces whose words span at most ``max_seconds``.

    Each cut goes where the pause between two words, a sentence or clause end, and balance score
    best, and the halves are cut again until short enough (a single word is never cut). The pieces
    cover the segment's span exactly: the first starts with it, the last ends with it, the others
    span their words. A segment short enough already comes back unchanged.
    """
    groups = _cut_until_short(segment["words"], max_seconds)
    if len(groups) < 2:
        return [segment]
    last = len(groups) - 1
    return [
        {
            "start": segment["start"] if number == 0 else words[0]["start"],
            "end": segment["end"] if number == last else words[-1]["end"],
            "value": " ".join(word["value"] for word in words),
            "words": words,
        }
        for number, words in enumerate(groups)
    ]


def pack_speech(regions: Iterable[tuple[float, float]], max_seconds: float = CHUNK_SECONDS,
                max_gap: float = MAX_BRIDGED_SILENCE) -> list[dict[str, float]]:
    """Speech regions ``(start, end)`` in order, grouped into clips ``{start, end}`` of contiguous audio.

    A clip takes the next region while it still ends within ``max_seconds`` of the clip's start and
    the silence before it is at most ``max_gap``. Unlike faster-whisper's own VAD chunking, which
    splices the speech regions together, a clip keeps its pauses: splicing at every 160 ms pause
    cost the word error rate a point (0.110 against 0.100 sequential), and splicing only at 500 ms
    pauses left chunks emptier (15 encoder passes instead of 11 for 5 minutes).
    """
    clips: list[dict[str, float]] = []
    for start, end in regions:
        if clips and end - clips[-1]["start"] <= max_seconds and start - clips[-1]["end"] <= max_gap:
            clips[-1]["end"] = end
        else:
            clips.append({"start": start, "end": end})
    return clips


def _decode(model: Any, path: str | Path, vad: bool, batch_size: int) -> tuple[Iterable[Any], float]:
    """faster-whisper's segment generator and the audio's duration, batched when the VAD allows it."""
    if not (vad and batch_size > 0):
        segments, info = model.transcribe(str(path), beam_size=BEAM_SIZE, vad_filter=vad, word_timestamps=True)
        return segments, float(info.duration)
    from faster_whisper import BatchedInferencePipeline, decode_audio
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    rate = model.feature_extractor.sampling_rate
    audio = decode_audio(str(path), sampling_rate=rate)
    # Regions a second short of a window, so that the VAD's padding never pushes a clip past 30 s.
    found = get_speech_timestamps(audio, VadOptions(min_silence_duration_ms=160, max_speech_duration_s=CHUNK_SECONDS - 1))
    clips = pack_speech((region["start"] / rate, region["end"] / rate) for region in found)
    duration = len(audio) / rate
    if not clips:
        return [], duration
    # A pipeline per call: it keeps per-transcription state, and the workers share the model.
    segments, _ = BatchedInferencePipeline(model).transcribe(
        audio, beam_size=BEAM_SIZE, batch_size=batch_size, clip_timestamps=clips, word_timestamps=True
    )
    return segments, duration


def transcribe(
    model: Any,
    path: str | Path,
    *,
    vad: bool = True,
    batch_size: int = DEFAULT_BATCH_SIZE,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[list[Segment], float]:
    """Transcribe the audio of ``path``; return ``([{start, end, value, words}], audio duration in s)``.

    ``batch_size`` 0 decodes sequentially. Segments with no text are dropped; ends are clamped to the
    audio's duration, words to their segment; segments longer than :data:`MAX_SEGMENT_SECONDS` are
    cut at their words (:func:`split_utterances`).
    """
    segments, duration = _decode(model, path, vad, batch_size)
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
        whole = {"start": start, "end": end, "value": text, "words": timed_words(segment.words or (), start, end)}
        out.extend(split_utterances(whole))
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
                log.info(
                    "loading Whisper model %s (%s, %d thread(s) x %d, batch %d)",
                    s.model, s.compute_type, s.cpu_threads, s.num_workers, s.batch_size,
                )
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
        s = self.settings
        return transcribe(self.load(), path, vad=s.vad, batch_size=s.batch_size, should_stop=should_stop)
