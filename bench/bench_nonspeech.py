"""Words in non-speech: English speech followed by long stretches of noise, synthesised music and
silence; how many words each decoding lands in the non-speech parts (the goal is 0), and its time.

    python -m bench.bench_nonspeech [--seconds 20]

The clip (tests/server/guard_media.py) is 10 s of espeak-ng English, then ``--seconds`` each of white
noise (5 % of full scale), a music bed of synthesised chords, and digital silence. It is decoded by
tiny.en through the server's entry point (:func:`reelscribe.server.asr.transcribe`) in each mode:

- the server's default: Silero VAD, clips packed from its speech, batched decoding;
- sequential with the VAD (``--no-batch``);
- sequential without the VAD, faster-whisper's own no-speech check only (``no_speech_threshold`` 0.6
  with ``log_prob_threshold`` -1.0, its defaults);
- sequential without the VAD as the server decodes it (``--no-vad``): the same plus
  ``hallucination_silence_threshold`` (skips silence around a segment it suspects of being invented).

The Silero VAD's own time on the clip is printed too.

A word counts as landed in non-speech when it starts more than 0.5 s after the speech ends.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import OUT, machine_line, save_result
from reelscribe.server import asr
from reelscribe.server.config import ServerConfig
from reelscribe.server.models import resolve_model
from tests.media import SAMPLE_RATE, write_aac
from tests.server import guard_media as media

CLIPS = OUT / "speech-nonspeech"


def nonspeech_clip(seconds: float) -> tuple[Path, float, list[tuple[str, float, float]]]:
    """The clip, where its speech ends, and each non-speech part's ``(kind, start, end)``."""
    speech = media.say(media.EN_TRAIN)
    parts = [("noise", media.noise(seconds)), ("music", media.music(seconds)), ("silence", media.silence(seconds))]
    spoken = len(speech) / SAMPLE_RATE
    spans, at = [], spoken
    for kind, samples in parts:
        spans.append((kind, at, at + len(samples) / SAMPLE_RATE))
        at += len(samples) / SAMPLE_RATE
    target = CLIPS / f"speech-then-{seconds:g}s-each.m4a"
    if not target.is_file():
        write_aac(np.concatenate([speech, *(samples for _, samples in parts)]), target)
    return target, spoken, spans


def words_in(segments, spans) -> dict[str, int]:
    counts = {kind: 0 for kind, _, _ in spans}
    for segment in segments:
        for word in segment["words"] if isinstance(segment, dict) else (segment.words or ()):
            start = word["start"] if isinstance(word, dict) else word.start
            for kind, begin, end in spans:
                if begin + 0.5 < start <= end:
                    counts[kind] += 1
    return counts


def vad_only(path: Path) -> list:
    from faster_whisper import decode_audio

    asr.speech_clips(decode_audio(str(path), sampling_rate=SAMPLE_RATE), SAMPLE_RATE)
    return []


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    print(machine_line())
    from faster_whisper import WhisperModel

    cache = ServerConfig(api_keys=("bench",), data_dir=Path(tempfile.mkdtemp())).model_cache_dir
    model = WhisperModel(resolve_model("tiny.en", cache).path, device="cpu", compute_type="int8", cpu_threads=os.cpu_count() or 1)
    path, spoken, spans = nonspeech_clip(args.seconds)
    modes = {
        "VAD, batched (default)": lambda: asr.transcribe(model, path, language="en").segments,
        "VAD, sequential (--no-batch)": lambda: asr.transcribe(model, path, language="en", batch_size=0).segments,
        "no VAD, no-speech check only": lambda: list(model.transcribe(
            str(path), beam_size=asr.BEAM_SIZE, language="en", word_timestamps=True)[0]),
        f"no VAD + hallucination_silence_threshold {asr.HALLUCINATION_SILENCE_SECONDS:g} (--no-vad)":
            lambda: asr.transcribe(model, path, language="en", vad=False).segments,
        "Silero VAD alone (no decoding)": lambda: vad_only(path),
    }
    rows = []
    for name, run in modes.items():
        started = time.perf_counter()
        segments = run()
        seconds = time.perf_counter() - started
        counts = words_in(segments, spans)
        rows.append({"mode": name, **counts, "total": sum(counts.values()), "seconds": round(seconds, 2)})
        print(rows[-1], flush=True)
    save_result("nonspeech", {"speech_seconds": round(spoken, 1), "spans": spans, "rows": rows})


if __name__ == "__main__":
    main()
