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
clips are then decoded in batches per language. The sequential mode detects once per video (over up
to :data:`LANGUAGE_DETECTION_WINDOWS` windows, faster-whisper's own rule). The result says the video's
``language_probability`` and each detected window's language (:class:`Transcript`); every segment
says its ``language``.

An English-only model decodes English; with ``auto`` it also checks that the speech is English
(:func:`english_verdict`). Its own decoding only raises the suspicion: tokens on average less likely
than :data:`CLEAR_ENGLISH_LOGPROB`, or text that repeats itself (:data:`MAX_COMPRESSION_RATIO`; a chorus
repeats too, so repetition alone never refuses). A suspicious video is then judged by the multilingual
model's language detection where the multilingual extra is installed (``checker``): it fails
with :class:`UnsupportedSpeech` when the speech is less likely English than
:data:`MIN_ENGLISH_PROBABILITY`. Without the extra the decoding is the only evidence, and only a mean
log-probability below :data:`ENGLISH_LOGPROB_FLOOR` refuses (bench/results/guard.md says what each
catches).

Every segment carries its words with their own times (faster-whisper's ``word_timestamps``, from the
model's alignment heads): the v1.3 tasks path does not show them, the assets path does. A speechless
track yields no segments and the API reports ``null``.
"""

from __future__ import annotations

import heapq
import logging
import math
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
LANGUAGE_DETECTION_WINDOWS = 4
"""Windows of 30 s the sequential mode may detect over before it settles (faster-whisper stops at the
first one above the threshold); the batched mode detects every clip."""
HALLUCINATION_SILENCE_SECONDS = 2.0
"""Without the VAD: faster-whisper skips silence longer than this around a segment it suspects of being
invented. Measured on 10 s of speech followed by 60 s each of noise, music and silence: 14 words
landed in the music and silence without it, none with it, and no measurable cost on a loaded machine
(bench/results/nonspeech.md); with the VAD nothing reaches the decoder there."""
CLEAR_ENGLISH_LOGPROB = -0.45
"""An English-only model's mean token log-probability at or above which (with no repetition) its output
is taken for English without a language check. Measured with tiny.en on espeak-ng speech: 37 of 41 single
English sentences above it (the rest -0.52 to -0.61), English under noise -0.61, a British voice -0.47;
German, Spanish and French -0.89 to -1.47, Italian -0.5 and -1.16 (bench/results/guard.md)."""
MAX_COMPRESSION_RATIO = 2.4
"""Whisper's own threshold for a decoding stuck in a loop: an English-only model given other speech
may repeat one invented English sentence. Speech that repeats (a chorus) does so too, so above it the
language is checked, never refused on this alone."""
MIN_ENGLISH_PROBABILITY = 0.5
"""The multilingual model's probability of English, averaged over the speech, below which a suspicious
video is refused. Measured with Whisper base on the suspicious espeak-ng clips: English 0.77 to 0.97;
German, Spanish and French 0.01 to 0.27, Italian 0.00 (bench/results/guard.md)."""
ENGLISH_LOGPROB_FLOOR = -0.75
"""Without the multilingual extra: the mean token log-probability below which a suspicious video is
refused. English went as low as -0.61 (under noise, and the worst of 41 single sentences); German, Spanish
and French -0.89 or lower; Italian read as a loop of likely English reached -0.5 and passes."""
MAX_CHECK_WINDOWS = 4
"""The most 30-second windows the language check encodes: spread over the video, so a long one costs
no more than four encoder passes of the multilingual model."""
CONFIDENCE_FIELDS = ("avg_logprob", "no_speech_prob", "compression_ratio")
"""A segment's confidence as faster-whisper scores its decoding; a cut segment's pieces keep the whole one's."""
SENTENCE_ENDS = (".", "?", "!")
CLAUSE_ENDS = (",", ";", ":")


Segment = dict[str, Any]
Word = dict[str, Any]


class TranscriptionStopped(Exception):
    """The server is shutting down; the task stays unfinished and is resumed on restart."""


class UnsupportedSpeech(Exception):
    """The model cannot transcribe this speech: an English-only model given speech that is not English."""

    code = "language_not_supported"


@dataclass(frozen=True)
class Transcript:
    """One transcription: segments, audio duration, and where detected the video's language with its
    probability and each window's ``{start, end, language, probability}`` (``languages``).

    Unpacks as ``(segments, duration)``.
    """

    segments: list[Segment]
    duration: float
    language: str | None = None
    language_probability: float | None = None
    languages: list[dict[str, Any]] | None = None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.segments, self.duration))


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
    checker_cache: Path | None = None
    """Where the multilingual model (the extra's ``base``) is joined when an English-only model's output
    needs its language checked; loaded only then (``None``: no check, the decoding is the only evidence)."""


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
        out.append({"start": word_start, "end": word_end, "value": value, **_probability(word)})
        floor = word_end
    return out


def _probability(word: Any) -> Word:
    """The word's ``probability`` where faster-whisper gives one (an addition to the API's word)."""
    probability = getattr(word, "probability", None)
    return {} if probability is None else {"probability": round(float(probability), 4)}


def segment_confidence(segment: Any) -> Segment:
    """faster-whisper's ``avg_logprob``, ``no_speech_prob`` and ``compression_ratio`` of a segment, where it has them."""
    found = ((name, getattr(segment, name, None)) for name in CONFIDENCE_FIELDS)
    return {name: round(float(value), 4) for name, value in found if value is not None and math.isfinite(value)}


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
            **{key: segment[key] for key in ("language", *CONFIDENCE_FIELDS) if key in segment},
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


def rank_windows(model: Any, audio: Any, clips: list[dict[str, float]], batch_size: int) -> list[dict[str, float]]:
    """Every language's probability in each clip (``{"en": 0.93, "de": 0.02, …}``), encoded ``batch_size`` clips at a time."""
    import numpy as np
    from faster_whisper.audio import pad_or_trim

    rate = model.feature_extractor.sampling_rate
    found: list[dict[str, float]] = []
    for at in range(0, len(clips), max(1, batch_size)):
        features = [
            pad_or_trim(model.feature_extractor(audio[round(clip["start"] * rate) : round(clip["end"] * rate)])[..., :-1])
            for clip in clips[at : at + max(1, batch_size)]
        ]
        for ranked in model.model.detect_language(model.encode(np.stack(features))):
            found.append({token[2:-2]: float(probability) for token, probability in ranked})  # "<|de|>" -> "de"
    return found


def detect_windows(model: Any, audio: Any, clips: list[dict[str, float]], batch_size: int) -> list[tuple[str, float]]:
    """The most probable language of each clip and its probability."""
    return [max(ranked.items(), key=lambda item: item[1]) for ranked in rank_windows(model, audio, clips, batch_size)]


def speech_share(ranked: list[dict[str, float]], seconds: list[float], language: str) -> float:
    """``language``'s probability averaged over the windows, each weighted by its seconds of speech."""
    total = sum(seconds)
    if not ranked or total <= 0:
        return 0.0
    return sum(window.get(language, 0.0) * length for window, length in zip(ranked, seconds)) / total


@dataclass(frozen=True)
class Detection:
    """What detecting the language found: the video's language, its probability over the speech, each window's."""

    language: str | None
    probability: float | None
    windows: list[dict[str, Any]]


def _clip_languages(
    model: Any, audio: Any, clips: list[dict[str, float]], language: str, threshold: float, batch_size: int
) -> tuple[list[str], Detection]:
    if not model.model.is_multilingual:
        return ["en"] * len(clips), Detection(None, None, [])
    if language != AUTO_LANGUAGE:
        return [language] * len(clips), Detection(None, None, [])
    ranked = rank_windows(model, audio, clips, batch_size)
    detected = [max(window.items(), key=lambda item: item[1]) for window in ranked]
    seconds = [clip["end"] - clip["start"] for clip in clips]
    video, per_clip = window_languages(detected, seconds, threshold)
    log.info("language %s; windows %s", video, ", ".join(f"{lang} {p:.2f}" for lang, p in detected))
    windows = [
        {"start": round(clip["start"], 3), "end": round(clip["end"], 3), "language": lang, "probability": round(p, 4)}
        for clip, (lang, p) in zip(clips, detected)
    ]
    return per_clip, Detection(video, round(speech_share(ranked, seconds, video), 4), windows)


def _decode(
    model: Any, path: str | Path, vad: bool, batch_size: int, language: str, threshold: float
) -> tuple[Iterable[tuple[Any, str]], float, Detection]:
    """faster-whisper's segments, each with its language, the audio's duration and the language detected; batched when the VAD allows it."""
    if not (vad and batch_size > 0):
        segments, info = model.transcribe(
            str(path), beam_size=BEAM_SIZE, vad_filter=vad, word_timestamps=True,
            language=None if language == AUTO_LANGUAGE else language, language_detection_threshold=threshold,
            language_detection_segments=LANGUAGE_DETECTION_WINDOWS,
            hallucination_silence_threshold=None if vad else HALLUCINATION_SILENCE_SECONDS,
        )
        detected = language == AUTO_LANGUAGE and model.model.is_multilingual
        detection = Detection(info.language, round(float(info.language_probability), 4), []) if detected else Detection(None, None, [])
        return ((segment, info.language) for segment in segments), float(info.duration), detection
    from faster_whisper import BatchedInferencePipeline, decode_audio

    rate = model.feature_extractor.sampling_rate
    audio = decode_audio(str(path), sampling_rate=rate)
    clips = speech_clips(audio, rate)
    duration = len(audio) / rate
    if not clips:
        return [], duration, Detection(None, None, [])
    by_language: dict[str, list[dict[str, float]]] = defaultdict(list)
    per_clip, detection = _clip_languages(model, audio, clips, language, threshold, batch_size)
    for clip, clip_language in zip(clips, per_clip):
        by_language[clip_language].append(clip)

    def decoded(clip_language: str, group: list[dict[str, float]]) -> Iterator[tuple[Any, str]]:
        # A pipeline per call: it keeps per-transcription state, and the workers share the model.
        segments, _ = BatchedInferencePipeline(model).transcribe(
            audio, language=clip_language, beam_size=BEAM_SIZE, batch_size=batch_size, clip_timestamps=group,
            word_timestamps=True,
        )
        return ((segment, clip_language) for segment in segments)

    streams = [decoded(clip_language, group) for clip_language, group in by_language.items()]
    merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=lambda pair: pair[0].start)
    return merged, duration, detection


def speech_clips(audio: Any, rate: int) -> list[dict[str, float]]:
    """The Silero VAD's speech regions packed into clips of up to a window (:func:`pack_speech`)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    # Regions a second short of a window, so that the VAD's padding never pushes a clip past 30 s.
    found = get_speech_timestamps(audio, VadOptions(min_silence_duration_ms=160, max_speech_duration_s=CHUNK_SECONDS - 1))
    return pack_speech((region["start"] / rate, region["end"] / rate) for region in found)


@dataclass(frozen=True)
class EnglishEvidence:
    """What an English-only model's decoding says of its speech, and (where asked) a multilingual model's detection."""

    logprob: float
    compression_ratio: float
    english_probability: float | None = None
    detected: str | None = None

    @property
    def suspicious(self) -> bool:
        """Whether the decoding alone leaves the language in doubt (then the language is checked)."""
        return self.logprob < CLEAR_ENGLISH_LOGPROB or self.compression_ratio > MAX_COMPRESSION_RATIO


def english_verdict(evidence: EnglishEvidence) -> str | None:
    """Why the speech is not English, or ``None`` when it is (or may be) English.

    A language detection decides where there is one; without, only a log-probability below
    :data:`ENGLISH_LOGPROB_FLOOR` refuses. Repetition never refuses by itself.
    """
    if not evidence.suspicious:
        return None
    if evidence.english_probability is not None:
        if evidence.english_probability >= MIN_ENGLISH_PROBABILITY:
            return None
        return (
            f"the multilingual model detects {evidence.detected} and gives English a probability of "
            f"{evidence.english_probability:.2f} (least {MIN_ENGLISH_PROBABILITY})"
        )
    if evidence.logprob >= ENGLISH_LOGPROB_FLOOR:
        return None
    return f"mean token log-probability {evidence.logprob:.2f}, floor {ENGLISH_LOGPROB_FLOOR}"


def check_english(checker: Any, path: str | Path, evidence: EnglishEvidence) -> EnglishEvidence:
    """``evidence`` with the multilingual ``checker``'s English probability over up to :data:`MAX_CHECK_WINDOWS` clips."""
    from faster_whisper import decode_audio

    rate = checker.feature_extractor.sampling_rate
    audio = decode_audio(str(path), sampling_rate=rate)
    clips = speech_clips(audio, rate)
    if not clips:
        return evidence
    if len(clips) > MAX_CHECK_WINDOWS:
        step = (len(clips) - 1) / (MAX_CHECK_WINDOWS - 1)
        clips = [clips[round(n * step)] for n in range(MAX_CHECK_WINDOWS)]
    ranked = rank_windows(checker, audio, clips, MAX_CHECK_WINDOWS)
    seconds = [clip["end"] - clip["start"] for clip in clips]
    languages = {lang for window in ranked for lang in window}
    detected = max(languages, key=lambda lang: speech_share(ranked, seconds, lang))
    return EnglishEvidence(evidence.logprob, evidence.compression_ratio, speech_share(ranked, seconds, "en"), detected)


def transcribe(
    model: Any,
    path: str | Path,
    *,
    vad: bool = True,
    batch_size: int = DEFAULT_BATCH_SIZE,
    language: str = AUTO_LANGUAGE,
    language_threshold: float = DEFAULT_LANGUAGE_THRESHOLD,
    should_stop: Callable[[], bool] | None = None,
    checker: Callable[[], Any] | None = None,
) -> Transcript:
    """Transcribe the audio of ``path``: segments ``[{start, end, value, words, language, …}]``, the audio's duration in s
    and, where detected, the language with its probability (:class:`Transcript`).

    ``batch_size`` 0 decodes sequentially. Segments with no text are dropped; ends are clamped to the
    audio's duration, words to their segment; segments longer than :data:`MAX_SEGMENT_SECONDS` are
    cut at their words (:func:`split_utterances`). Raises :class:`UnsupportedSpeech` when an
    English-only model, asked for ``auto``, decoded speech that is not English (:func:`english_verdict`);
    ``checker`` gives the multilingual model that judges a suspicious decoding, or ``None``.
    """
    segments, duration, detection = _decode(model, path, vad, batch_size, language, language_threshold)
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
            "language": segment_language, **segment_confidence(segment),
        }
        out.extend(split_utterances(whole))
    if language == AUTO_LANGUAGE and not model.model.is_multilingual and spoken_seconds > 0:
        evidence = EnglishEvidence(logprob_seconds / spoken_seconds, compression_seconds / spoken_seconds)
        check_model = checker() if evidence.suspicious and checker is not None else None
        if check_model is not None:
            evidence = check_english(check_model, path, evidence)
        reason = english_verdict(evidence)
        log.info("English check: log-probability %.2f, compression ratio %.2f, English probability %s: %s",
                 evidence.logprob, evidence.compression_ratio, evidence.english_probability, reason or "English")
        if reason is not None:
            raise UnsupportedSpeech(
                f"The speech does not look like English ({reason}) and this server's model is English-only: "
                "start it with --model base for other languages (reelscribe run --server-model base), or with "
                "--language en to transcribe it as English unchecked (reelscribe run --server-language en)."
            )
    return Transcript(out, duration, detection.language, detection.probability, detection.windows or None)



class AsrEngine:
    """The process's one Whisper model, loaded lazily and thread-safely."""

    def __init__(self, settings: AsrSettings) -> None:
        self.settings = settings
        self._model: Any = None
        self._checker: Any = None
        self._checker_tried = False
        self._lock = threading.Lock()
        self._checker_lock = threading.Lock()
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

    def checker(self) -> Any:
        """The multilingual model that checks an English-only model's language; ``None`` without the extra.

        Loaded on first need (most English videos never need it), once; a missing extra is logged once.
        """
        from reelscribe.server.models import MULTILINGUAL_MODEL, ModelUnavailable, resolve_model

        with self._checker_lock:
            if not self._checker_tried and self.settings.checker_cache is not None:
                self._checker_tried = True
                s = self.settings
                try:
                    from faster_whisper import WhisperModel

                    resolved = resolve_model(MULTILINGUAL_MODEL, s.checker_cache)
                    self._checker = WhisperModel(
                        resolved.path, device="cpu", compute_type=s.compute_type, cpu_threads=s.cpu_threads,
                        num_workers=s.num_workers,
                    )
                    log.info("loaded Whisper %s to check that speech is English", MULTILINGUAL_MODEL)
                except (ModelUnavailable, RuntimeError, OSError) as exc:  # CTranslate2 reports a bad model as RuntimeError
                    log.info("no language check model (%s): the English check reads the decoding only", exc)
            return self._checker

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

    def transcribe(self, path: str | Path, should_stop: Callable[[], bool] | None = None) -> Transcript:
        s = self.settings
        return transcribe(
            self.load(), path, vad=s.vad, batch_size=s.batch_size, language=s.language,
            language_threshold=s.language_threshold, should_stop=should_stop, checker=self.checker,
        )
