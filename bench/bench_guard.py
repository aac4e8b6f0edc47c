"""The English-only model's language guard: false refusals of English and true refusals of German,
Spanish and French, for the old guard and the new one in the same run; then language detection over
one window against several.

    python -m bench.bench_guard

Clips (tests/server/guard_media.py) are espeak-ng speech: 13 English ones read in ways that are still
English (repeated, under noise or a music bed, fast, slow, other voices, an unusual sentence), two
each in German, Spanish and French, two in Italian (shown apart), and each of the 41 sentences of
bench/speech.txt read alone (short plain English, where a low log-probability is most likely). Each is decoded once by tiny.en through the server's entry point
(:func:`reelscribe.server.asr.transcribe`, batched, ``--language en`` so nothing is refused there);
the decoding's duration-weighted mean token log-probability and compression ratio are then judged by

- the old guard: refuse when the log-probability is below -0.6 or the compression ratio above 2.4;
- the new guard without the multilingual extra (:func:`english_verdict` on the decoding alone);
- the new guard with it: a suspicious decoding is checked by Whisper base's language detection
  (:func:`check_english`), whose time is printed.

The second part detects the language with Whisper base (``--model base --language auto``) on clips of
two paragraphs and a repeat, read with pauses long enough to make three windows: faster-whisper's
single window (the first 30 s of speech), faster-whisper over up to 4 windows (it stops at the first
above the threshold), and the server's detection of every window weighted by its speech.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

from bench.common import OUT, machine_line, save_result
from reelscribe.server import asr
from reelscribe.server.config import ServerConfig
from reelscribe.server.models import resolve_model
from tests.server import guard_media as media

CLIPS = OUT / "speech-guard"
ITALIAN = (
    "Buongiorno. Oggi parliamo del tempo a Roma. Piove da tre giorni, e la gente porta l'ombrello dappertutto.",
    "Il treno per la costa parte alle nove. Compreremo pane e formaggio alla stazione.",
)
"""Not in the counts (the goal names German, Spanish and French); shown because tiny.en loops on it."""
OLD_LOGPROB_FLOOR = -0.6
OLD_MAX_COMPRESSION_RATIO = 2.4


def _model(name: str):
    from faster_whisper import WhisperModel

    cache = ServerConfig(api_keys=("bench",), data_dir=Path(tempfile.mkdtemp())).model_cache_dir
    return WhisperModel(resolve_model(name, cache).path, device="cpu", compute_type="int8", cpu_threads=os.cpu_count() or 1)


def evidence_of(segments: list[dict]) -> asr.EnglishEvidence:
    """The decoding's duration-weighted log-probability and compression ratio, as the guard computes them."""
    seconds = sum(s["end"] - s["start"] for s in segments) or 1.0
    logprob = sum(s["avg_logprob"] * (s["end"] - s["start"]) for s in segments) / seconds
    compression = sum(s["compression_ratio"] * (s["end"] - s["start"]) for s in segments) / seconds
    return asr.EnglishEvidence(logprob, compression)


def sentences() -> dict:
    """Each sentence of bench/speech.txt read alone by espeak-ng (en-us): short clips of plain English."""
    text = (Path(__file__).parent / "speech.txt").read_text()
    found = [part.strip() for part in re.split(r"(?<=[.?!])\s+", text) if part.strip()]
    return {f"sentence {n:02d}": (lambda said=said: media.say(said)) for n, said in enumerate(found, 1)}


def guard_rows(tiny, base, with_sentences: bool = True) -> list[dict]:
    rows = []
    italian = {f"it {n}": (lambda text=text: media.say(text, "it")) for n, text in enumerate(ITALIAN, 1)}
    kinds = [("English", media.ENGLISH), ("other", media.OTHER), ("Italian", italian)]
    for kind, clips in kinds + ([("sentence", sentences())] if with_sentences else []):
        for name, make in clips.items():
            path = media.clip_file(CLIPS, name, make)
            started = time.perf_counter()
            segments, _ = asr.transcribe(tiny, path, language="en")
            decoded = time.perf_counter() - started
            evidence = evidence_of(segments)
            old = evidence.logprob < OLD_LOGPROB_FLOOR or evidence.compression_ratio > OLD_MAX_COMPRESSION_RATIO
            alone = asr.english_verdict(evidence) is not None
            started = time.perf_counter()
            checked = asr.check_english(base, path, evidence) if evidence.suspicious else evidence
            check_seconds = time.perf_counter() - started if evidence.suspicious else 0.0
            rows.append({
                "clip": name, "kind": kind, "logprob": round(evidence.logprob, 2), "compression": round(evidence.compression_ratio, 2),
                "english_probability": None if checked.english_probability is None else round(checked.english_probability, 2),
                "detected": checked.detected, "old": old, "new_without_extra": alone,
                "new_with_extra": asr.english_verdict(checked) is not None,
                "decode_s": round(decoded, 2), "check_s": round(check_seconds, 2),
            })
            print(rows[-1], flush=True)
    return rows


def detection_rows(base) -> list[dict]:
    from faster_whisper import decode_audio

    rows = []
    for language, (first, second) in {"en": (media.EN_WEATHER, media.EN_TRAIN), **media.FOREIGN}.items():
        voice = "en-us" if language == "en" else language
        clip = media.clip_file(CLIPS, f"windows {language}", lambda: media.joined(
            media.say(first, voice), media.say(second, voice), media.say(first, voice), pause=4.0))
        audio = decode_audio(str(clip), sampling_rate=16000)
        started = time.perf_counter()
        single = base.detect_language(audio, vad_filter=True, language_detection_segments=1)
        single_s = time.perf_counter() - started
        started = time.perf_counter()
        several = base.detect_language(audio, vad_filter=True, language_detection_segments=4)
        several_s = time.perf_counter() - started
        started = time.perf_counter()
        clips = asr.speech_clips(audio, 16000)
        ranked = asr.rank_windows(base, audio, clips, asr.DEFAULT_BATCH_SIZE)
        seconds = [c["end"] - c["start"] for c in clips]
        detected = [max(w.items(), key=lambda item: item[1]) for w in ranked]
        video, _ = asr.window_languages(detected, seconds, asr.DEFAULT_LANGUAGE_THRESHOLD)
        ours_s = time.perf_counter() - started
        rows.append({
            "spoken": language,
            "single": f"{single[0]} {single[1]:.2f}", "single_s": round(single_s, 2),
            "fw_4_windows": f"{several[0]} {several[1]:.2f}", "fw_4_s": round(several_s, 2),
            "windows": ", ".join(f"{lang} {p:.2f}" for lang, p in detected),
            "server": f"{video} {asr.speech_share(ranked, seconds, video):.2f}", "server_s": round(ours_s, 2),
        })
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    print(machine_line())
    tiny, base = _model("tiny.en"), _model("base")
    rows = guard_rows(tiny, base)
    english = [r for r in rows if r["kind"] == "English"]
    other = [r for r in rows if r["kind"] == "other"]
    single = [r for r in rows if r["kind"] == "sentence"]
    for guard in ("old", "new_without_extra", "new_with_extra"):
        print(f"{guard}: false refusals {sum(r[guard] for r in english)}/{len(english)} English clips, "
              f"{sum(r[guard] for r in single)}/{len(single)} single English sentences; "
              f"true refusals {sum(r[guard] for r in other)}/{len(other)} de/es/fr")
    detections = detection_rows(base)
    save_result("guard", {"guard": rows, "detection": detections})


if __name__ == "__main__":
    main()
