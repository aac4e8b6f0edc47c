"""Flatten + land throughput: reelscribe against the obvious pandas baseline.

    python -m bench.bench_flatten [--videos 200] [--segments 2500] [--repeats 5] [--profile]

Both sides start from the same parsed JSON (a list of dicts per video) and end with one Parquet
file per video under a temp dir. reelscribe does ``segments_table`` + ``Lake.write_video`` (which
also writes the videos row and publishes atomically); the baseline does ``pd.json_normalize`` +
the same extra columns + ``DataFrame.to_parquet`` (snappy, like the Lake's default). Goals, for
the defaults: >= 5x the baseline and >= 0.5 M segments/s. The zstd and fsync rows show what those
options cost.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from reelscribe.core.flatten import segments_table
from reelscribe.core.lake import Lake, table_path
from reelscribe.core.records import VideoRecord

INDEX_ID = "6650a1b2c3d4e5f6a7b8c9d0"
TASK_ID = "6650a1b2c3d4e5f6a7b8aaaa"
RETRIEVED_AT = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
WORDS = (
    "and so my fellow americans ask not what your country can do for you ask what you can do "
    "for your country the energy the faith the devotion which we bring to this endeavor will "
    "light our country and all who serve it glow from that fire can truly light the world"
).split()

Video = tuple[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class Result:
    name: str
    seconds: list[float]
    segments: int

    @property
    def best(self) -> float:
        return min(self.seconds)

    def rate(self, seconds: float) -> float:
        return self.segments / seconds


def synthetic_videos(videos: int, segments: int, seed: int = 7) -> list[Video]:
    """Whisper-like segments: 2-6 s long, 4-16 words, times with two decimals."""
    rng = random.Random(seed)
    corpus = []
    for number in range(videos):
        clock, items = 0.0, []
        for _ in range(segments):
            length = round(rng.uniform(2.0, 6.0), 2)
            text = " ".join(rng.choices(WORDS, k=rng.randint(4, 16)))
            items.append({"start": round(clock, 2), "end": round(clock + length, 2), "value": text})
            clock += length + round(rng.uniform(0.0, 0.5), 2)
        corpus.append((f"{number:024x}", items))
    return corpus


def run_reelscribe(corpus: list[Video], out: Path, **lake_options: Any) -> None:
    lake = Lake(str(out), **lake_options)
    for video_id, items in corpus:
        table = segments_table(items, video_id=video_id, task_id=TASK_ID, retrieved_at=RETRIEVED_AT)
        lake.write_video(INDEX_ID, video_id, table, _record(video_id, items))


def run_baseline(corpus: list[Video], out: Path) -> None:
    for video_id, items in corpus:
        frame = pd.json_normalize(items)
        frame.insert(0, "video_id", video_id)
        frame.insert(1, "segment", range(len(frame)))
        frame["segment"] = frame["segment"].astype("int32")
        frame["task_id"] = TASK_ID
        frame["retrieved_at"] = pd.Timestamp(RETRIEVED_AT)
        path = Path(table_path(str(out), "segments", INDEX_ID, video_id))
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False)


def _record(video_id: str, items: list[dict[str, Any]]) -> VideoRecord:
    return VideoRecord(
        task_id=TASK_ID,
        source=f"/videos/{video_id}.mp4",
        content_sha256=video_id * 2 + video_id[:16],
        duration=items[-1]["end"] if items else None,
        indexed_at=RETRIEVED_AT,
        retrieved_at=RETRIEVED_AT,
    )


def measure(
    runners: dict[str, Callable[[list[Video], Path], None]], corpus: list[Video], repeats: int
) -> list[Result]:
    """Interleave the runners so drift in machine load hits every side alike."""
    total = sum(len(items) for _, items in corpus)
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    with tempfile.TemporaryDirectory(prefix="bench-flatten-") as scratch:
        for attempt in range(repeats):
            for name, runner in runners.items():
                out = Path(scratch) / f"{name}-{attempt}"
                began = time.perf_counter()
                runner(corpus, out)
                seconds[name].append(time.perf_counter() - began)
    return [Result(name, times, total) for name, times in seconds.items()]


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (
        f"nproc {os.cpu_count()}, {cpu}; Python {platform.python_version()}, "
        f"pyarrow {pa.__version__}, pandas {pd.__version__}"
    )


def report(results: list[Result], baseline: str) -> None:
    base = next(r for r in results if r.name == baseline)
    print(f"{'runner':<26}{'best s':>9}{'median s':>10}{'M seg/s (best)':>16}{'x baseline':>12}")
    for result in results:
        median = statistics.median(result.seconds)
        print(
            f"{result.name:<26}{result.best:>9.3f}{median:>10.3f}"
            f"{result.rate(result.best) / 1e6:>16.2f}{base.best / result.best:>12.1f}"
        )


def profile(corpus: list[Video]) -> None:
    from pyinstrument import Profiler

    with tempfile.TemporaryDirectory(prefix="bench-flatten-") as scratch:
        profiler = Profiler()
        with profiler:
            run_reelscribe(corpus, Path(scratch))
        print(profiler.output_text(unicode=True, color=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=200)
    parser.add_argument("--segments", type=int, default=2500, help="segments per video")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="pyinstrument one reelscribe run")
    args = parser.parse_args()

    corpus = synthetic_videos(args.videos, args.segments)
    print(f"{args.videos} videos x {args.segments} segments = {args.videos * args.segments:,} segments")
    print(machine())
    if args.profile:
        profile(corpus)
        return
    runners: dict[str, Callable[[list[Video], Path], None]] = {
        "reelscribe (defaults)": run_reelscribe,
        "reelscribe (zstd)": partial(run_reelscribe, compression="zstd"),
        "reelscribe (fsync=True)": partial(run_reelscribe, fsync=True),
        "pandas baseline": run_baseline,
    }
    report(measure(runners, corpus, args.repeats), baseline="pandas baseline")


if __name__ == "__main__":
    main()
