"""tiny.en unchanged by the multilingual work: today's decoding against the one before it, same run.

    python -m bench.bench_asr_unchanged [--rev ef3bcb5] [--repeats 3]

Loads ``server/asr.py`` as it was at ``--rev`` (by default the last commit before languages were
added) beside today's module, and decodes the long clip of ``bench_asr`` (about 5 minutes of
speech) with both on one ``tiny.en`` model, batched as the server does, rounds interleaved. Prints
each round's wall time, the median ratio today/before (goal: at most 1.05, i.e. no slower beyond
noise) and whether the two produce the same segments (text and times), which is what "behaviour
unchanged" means for an English-only model.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_asr import long_clip
from bench.common import ROOT, machine_line, save_result
from reelscribe.server import asr
from reelscribe.server.app import asr_settings
from reelscribe.server.config import ServerConfig

BEFORE_LANGUAGES = "ef3bcb5"
GOAL = 1.05


def module_at(rev: str):
    """``server/asr.py`` as committed at ``rev``, imported under a name of its own."""
    source = subprocess.run(["git", "show", f"{rev}:server/asr.py"], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp(prefix="asr-before-")) / "asr_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("asr_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["asr_before"] = module
    spec.loader.exec_module(module)
    return module


def _segments(result) -> list[tuple[float, float, str]]:
    return [(s["start"], s["end"], s["value"]) for s in result[0]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rev", default=BEFORE_LANGUAGES)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(machine_line())
    before = module_at(args.rev)
    clip = long_clip(5).path
    engine = asr.AsrEngine(asr_settings(ServerConfig(api_keys=("bench",), data_dir=Path(tempfile.mkdtemp()))))  # the server's defaults: tiny.en, batched
    model = engine.load()
    s = engine.settings

    def today():
        return asr.transcribe(model, clip, vad=s.vad, batch_size=s.batch_size, language=s.language)

    def earlier():
        return before.transcribe(model, clip, vad=s.vad, batch_size=s.batch_size)

    earlier()  # warm-up: file cache, CTranslate2's first allocations
    times: dict[str, list[float]] = {"today": [], "before": []}
    outputs = {}
    for round_ in range(args.repeats):
        order = (("today", today), ("before", earlier)) if round_ % 2 == 0 else (("before", earlier), ("today", today))
        for name, call in order:
            started = time.perf_counter()
            outputs[name] = call()
            times[name].append(time.perf_counter() - started)
            print(f"round {round_ + 1}: {name:>6} {times[name][-1]:6.2f} s")
    ratio = statistics.median(t / b for t, b in zip(times["today"], times["before"]))
    same = _segments(outputs["today"]) == _segments(outputs["before"])
    print(f"clip: {clip.name}, {outputs['today'][1]:.1f} s of audio, {len(outputs['today'][0])} segments")
    print(f"today/before: {ratio:.3f}x median (goal <= {GOAL}): {'met' if ratio <= GOAL else 'MISSED'}")
    print(f"same segments (start, end, text): {same}")
    save_result("bench_asr_unchanged", {"times": times, "ratio": ratio, "same_segments": same, "rev": args.rev})
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
