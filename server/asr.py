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

Languages (``--language``): a fixed language is decoded as given. ``auto`` with a multilingual model
detects the language of every clip (each Whisper window of up to 30 s, :func:`detect_windows`): the
video's language is the one confidently detected over the most speech, and a clip detected with less
confidence than ``language_threshold`` keeps the video's language (:func:`window_languages`); the
clips are then decoded in batches per language. The sequential mode detects once per video (from the
first window that passes the threshold, faster-whisper's own rule). Every segment says its
``language``. An English-only model decodes English; with ``auto`` it also checks the result: speech
whose decoded tokens are on average less likely than :data:`ENGLISH_LOGPROB_FLOOR`, or whose text
repeats itself (:data:`MAX_COMPRESSION_RATIO`), is taken for not English, and the video fails with
:class:`UnsupportedSpeech` instead of returning English-sounding nonsense. This is a heuristic; a
multilingual model is the real answer (BENCHMARKS.md, "Languages", says what it catches).

Every segment carries its words with their own times (faster-whisper's ``word_timestamps``, from the
model's alignment heads): the v1.3 tasks path does not show them, the assets path does. A speechless
track yields no segments and the API reports ``null``.
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
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
AUTO_LANGUAGE = "auto"
DEFAULT_LANGUAGE_THRESHOLD = 0.5
"""faster-whisper's own default for ``language_detection_threshold``. Measured on espeak-ng speech with
``base``: Spanish and English windows above 0.85; German 0.84 to 0.93 on some texts, but 0.39 to 0.59
on others, some of them taken for English (BENCHMARKS.md, "Languages")."""
ENGLISH_LOGPROB_FLOOR = -0.6
"""Mean token log-probability below which an English-only model's output is taken for not English.
Measured with tiny.en on espeak-ng speech: English -0.17, JFK -0.13; French -0.96, Spanish -0.55 to
-1.0, German -0.57 to -0.94, Italian -0.34 (the last three caught by the compression ratio instead)."""
MAX_COMPRESSION_RATIO = 2.4
"""Whisper's own threshold for a decoding stuck in a loop: an English-only model given other speech
often repeats one invented English sentence, which is likely token by token but compresses well."""
SENTENCE_ENDS = (".", "?", "!")
CLAUSE_ENDS = (",", ";", ":")


class TranscriptionStopped(Exception):
    """The server is shutting down; the task stays unfinished and is resumed on restart."""


class UnsupportedSpeech(Exception):
    """The model cannot transcribe this speech: an English-only model given speech that is not English."""

    code = "language_not_supported"


@dataclass(frozen=True)
class AsrSettings:
    model: str
    compute_type: str = "int8"
    cpu_threads: int = 1
    num_workers: int = 1
    vad: bool = True
    batch_size: int = DEFAULT_BATCH_SIZE
    language: str = AUTO_LANGUAGE
    language_threshold: float = DEFAULT_LANGUAGE_THRESHOLD


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
            **({"language": segment["language"]} if "language" in segment else {}),
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


def window_languages(detected: list[tuple[str, float]], seconds: list[float], threshold: float) -> tuple[str, list[str]]:
    """The video's language and each window's, from each window's detected ``(language, probability)``.

    The video's language is the one detected with at least ``threshold`` over the most seconds (when
    no window is that sure: the one with the most probability-weighted seconds); a window below the
    threshold takes the video's language.
    """
    weight: dict[str, float] = defaultdict(float)
    for (language, probability), length in zip(detected, seconds):
        if probability >= threshold:
            weight[language] += length
    if not weight:
        for (language, probability), length in zip(detected, seconds):
            weight[language] += probability * length
    video = max(weight, key=weight.__getitem__)
    return video, [language if probability >= threshold else video for language, probability in detected]


def detect_windows(model: Any, audio: Any, clips: list[dict[str, float]], batch_size: int) -> list[tuple[str, float]]:
    """The most probable language of each clip and its probability, encoded ``batch_size`` clips at a time."""
    import numpy as np
    from faster_whisper.audio import pad_or_trim

    rate = model.feature_extractor.sampling_rate
    found: list[tuple[str, float]] = []
    for at in range(0, len(clips), max(1, batch_size)):
        features = [
            pad_or_trim(model.feature_extractor(audio[round(clip["start"] * rate) : round(clip["end"] * rate)])[..., :-1])
            for clip in clips[at : at + max(1, batch_size)]
        ]
        for ranked in model.model.detect_language(model.encode(np.stack(features))):
            token, probability = ranked[0]
            found.append((token[2:-2], float(probability)))  # "<|de|>" -> "de"
    return found


def _clip_languages(model: Any, audio: Any, clips: list[dict[str, float]], language: str, threshold: float, batch_size: int) -> list[str]:
    if not model.model.is_multilingual:
        return ["en"] * len(clips)
    if language != AUTO_LANGUAGE:
        return [language] * len(clips)
    detected = detect_windows(model, audio, clips, batch_size)
    video, per_clip = window_languages(detected, [clip["end"] - clip["start"] for clip in clips], threshold)
    log.info("language %s; windows %s", video, ", ".join(f"{lang} {p:.2f}" for lang, p in detected))
    return per_clip


def _decode(
    model: Any, path: str | Path, vad: bool, batch_size: int, language: str, threshold: float
) -> tuple[Iterable[tuple[Any, str]], float]:
    """faster-whisper's segments, each with its language, and the audio's duration; batched when the VAD allows it."""
    if not (vad and batch_size > 0):
        segments, info = model.transcribe(
            str(path), beam_size=BEAM_SIZE, vad_filter=vad, word_timestamps=True,
            language=None if language == AUTO_LANGUAGE else language, language_detection_threshold=threshold,
        )
        return ((segment, info.language) for segment in segments), float(info.duration)
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
    by_language: dict[str, list[dict[str, float]]] = defaultdict(list)
    for clip, clip_language in zip(clips, _clip_languages(model, audio, clips, language, threshold, batch_size)):
        by_language[clip_language].append(clip)

    def decoded(clip_language: str, group: list[dict[str, float]]) -> Iterator[tuple[Any, str]]:
        # A pipeline per call: it keeps per-transcription state, and the workers share the model.
        segments, _ = BatchedInferencePipeline(model).transcribe(
            audio, language=clip_language, beam_size=BEAM_SIZE, batch_size=batch_size, clip_timestamps=group,
            word_timestamps=True,
        )
        return ((segment, clip_language) for segment in segments)

    streams = [decoded(clip_language, group) for clip_language, group in by_language.items()]
    return (streams[0] if len(streams) == 1 else heapq.merge(*streams, key=lambda pair: pair[0].start)), duration


def transcribe(
    model: Any,
    path: str | Path,
    *,
    vad: bool = True,
    batch_size: int = DEFAULT_BATCH_SIZE,
    language: str = AUTO_LANGUAGE,
    language_threshold: float = DEFAULT_LANGUAGE_THRESHOLD,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[list[Segment], float]:
    """Transcribe the audio of ``path``; return ``([{start, end, value, words, language}], audio duration in s)``.

    ``batch_size`` 0 decodes sequentially. Segments with no text are dropped; ends are clamped to the
    audio's duration, words to their segment; segments longer than :data:`MAX_SEGMENT_SECONDS` are
    cut at their words (:func:`split_utterances`). Raises :class:`UnsupportedSpeech` when an
    English-only model, asked for ``auto``, decoded speech that is not English.
    """
    segments, duration = _decode(model, path, vad, batch_size, language, language_threshold)
    out: list[Segment] = []
    logprob_seconds = compression_seconds = spoken_seconds = 0.0
    for segment, segment_language in segments:
        if should_stop is not None and should_stop():
            raise TranscriptionStopped()
        text = segment.text.strip()
        if not text:
            continue
        start = round(max(0.0, float(segment.start)), 3)
        end = round(min(float(segment.end), duration) if duration > 0 else float(segment.end), 3)
        end = max(start, end)
        logprob_seconds += float(segment.avg_logprob) * (end - start)
        compression_seconds += float(segment.compression_ratio) * (end - start)
        spoken_seconds += end - start
        whole = {
            "start": start, "end": end, "value": text, "words": timed_words(segment.words or (), start, end),
            "language": segment_language,
        }
        out.extend(split_utterances(whole))
    if language == AUTO_LANGUAGE and not model.model.is_multilingual and spoken_seconds > 0:
        logprob, compression = logprob_seconds / spoken_seconds, compression_seconds / spoken_seconds
        if logprob < ENGLISH_LOGPROB_FLOOR or compression > MAX_COMPRESSION_RATIO:
            raise UnsupportedSpeech(
                f"The speech does not look like English (mean token log-probability {logprob:.2f}, floor "
                f"{ENGLISH_LOGPROB_FLOOR}; text compression ratio {compression:.1f}, most {MAX_COMPRESSION_RATIO}) and this "
                "server's model is English-only: start it with --model base for other languages, or with "
                "--language en to keep English transcriptions unchecked."
            )
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
        return transcribe(
            self.load(), path, vad=s.vad, batch_size=s.batch_size, language=s.language,
            language_threshold=s.language_threshold, should_stop=should_stop,
        )
