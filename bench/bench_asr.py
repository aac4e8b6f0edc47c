"""Transcription throughput: the embedded server end to end against bare faster-whisper.

    python -m bench.bench_asr [--minutes 5] [--repeats 1]

Builds a ~5-minute clip from samples/jfk.mp4's audio (cached under bench/out/), then in one run
measures (a) ``server.asr.transcribe`` called directly, with the settings the server uses for one
worker, and (b) the server over HTTP with ``--workers 1``: upload, poll until ready, fetch the
transcription. Both use the same function and decoding parameters, so the ratio is the server's
overhead (upload, probe, queueing, SQLite, HTTP). Model loading is excluded from both timings.
Goal: server/bare >= 0.9.

The clip is JFK's 11 s followed by silence, every 30 s. Back to back, three copies of the same
sentence would share each 30-second Whisper window, trip the compression-ratio check and send every
window through all the fallback temperatures, whose random sampling makes the work (and so any
ratio) vary by 2x from run to run; one sentence per window keeps decoding at temperature 0, which
is deterministic.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import requests

from reelscribe.server.app import asr_settings
from reelscribe.server.asr import AsrEngine
from reelscribe.server.config import ServerConfig
from reelscribe.server.launcher import EmbeddedServer

ROOT = Path(__file__).resolve().parents[1]
JFK = ROOT / "samples" / "jfk.mp4"
OUT = ROOT / "bench" / "out"
SAMPLE_RATE = 16_000
POLL_SECONDS = 0.2  # what a patient client does; the wait adds at most this to a run


@dataclass(frozen=True)
class Run:
    name: str
    wall: float
    cpu: float
    audio: float
    segments: list[str]

    @property
    def speed(self) -> float:
        """Audio seconds transcribed per wall-clock second."""
        return self.audio / self.wall

    @property
    def cpu_speed(self) -> float:
        """Audio seconds per CPU second: unlike wall time, not skewed by other load on the machine."""
        return self.audio / self.cpu


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _decode_mono(path: Path) -> np.ndarray:
    """The first audio track as 16 kHz mono int16 samples."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks)


def build_clip(minutes: float, period: float = 30.0) -> Path:
    """An AAC file of jfk.mp4's audio, once every ``period`` s, about ``minutes`` long; cached."""
    target = OUT / f"jfk-every-{period:g}s-{minutes:g}min.m4a"
    if target.exists():
        return target
    OUT.mkdir(parents=True, exist_ok=True)
    once = _decode_mono(JFK)
    slot = np.zeros(max(len(once), round(period * SAMPLE_RATE)), dtype=once.dtype)
    slot[: len(once)] = once
    repeats = max(1, round(minutes * 60 / period))
    samples = np.tile(slot, repeats)
    partial = target.with_suffix(".part")
    with av.open(str(partial), mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=SAMPLE_RATE)
        stream.codec_context.layout = "mono"
        step = 1024
        for start in range(0, len(samples), step):
            frame = av.AudioFrame.from_ndarray(samples[start : start + step].reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    partial.replace(target)
    return target


def bench_bare(engine: AsrEngine, clip: Path) -> Run:
    started, cpu_started = time.perf_counter(), time.process_time()
    segments, duration = engine.transcribe(clip)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return Run("bare faster-whisper", wall, cpu, duration, [s["value"] for s in segments])


class ServedClient:
    """A session on a running server, with one index to upload into."""

    def __init__(self, server: EmbeddedServer) -> None:
        self.server = server
        self.session = requests.Session()
        self.session.headers["x-api-key"] = server.api_key
        self.index_id = self.session.post(
            f"{server.base_url}/indexes",
            json={"index_name": "bench", "models": [{"model_name": "marengo3.0", "model_options": ["audio"]}]},
            timeout=30,
        ).json()["_id"]

    def _wait_ready(self, task_id: str) -> dict:
        while True:
            task = self.session.get(f"{self.server.base_url}/tasks/{task_id}", timeout=30).json()
            if task["status"] in ("ready", "failed"):
                return task
            time.sleep(POLL_SECONDS)

    def index(self, clip: Path) -> tuple[dict, list]:
        """Upload, wait until ready, fetch the transcription."""
        base = self.server.base_url
        with open(clip, "rb") as handle:
            created = self.session.post(
                f"{base}/tasks", data={"index_id": self.index_id}, files={"video_file": (clip.name, handle)}, timeout=600
            ).json()
        task = self._wait_ready(created["_id"])
        if task["status"] != "ready":
            raise RuntimeError(f"benchmark task failed: {task}")
        video = self.session.get(
            f"{base}/indexes/{self.index_id}/videos/{created['video_id']}", params={"transcription": "true"}, timeout=30
        ).json()
        return task, video["transcription"] or []


def bench_server(client: ServedClient, clip: Path) -> Run:
    pid = client.server.pid or 0
    started, cpu_started = time.perf_counter(), process_cpu_seconds(pid)
    task, segments = client.index(clip)
    wall, cpu = time.perf_counter() - started, process_cpu_seconds(pid) - cpu_started
    return Run("server end to end", wall, cpu, task["system_metadata"]["duration"], [s["value"] for s in segments])


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPU(s) ({len(os.sched_getaffinity(0))} usable), {model}, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_asr", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the repeated-JFK clip")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved bare/server pairs; the median ratio counts")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    clip = build_clip(args.minutes)
    settings = asr_settings(ServerConfig(data_dir=Path("."), api_keys=("unused",), workers=1))
    print(f"machine: {machine()}")
    print(f"clip: {clip.relative_to(ROOT)} ({clip.stat().st_size / 1e6:.1f} MB)")
    print(f"decoding: beam 5, VAD {'on' if settings.vad else 'off'}, {settings.compute_type}, {settings.cpu_threads} thread(s)")
    engine = AsrEngine(settings)
    engine.load()
    engine.transcribe(JFK)
    pairs: list[tuple[Run, Run]] = []
    with tempfile.TemporaryDirectory(prefix="bench-asr-") as tmp:
        with EmbeddedServer(Path(tmp) / "data", extra_args=("--workers", "1")) as server:
            client = ServedClient(server)
            client.index(JFK)
            for _ in range(args.repeats):
                pairs.append((bench_bare(engine, clip), bench_server(client, clip)))
    for number, pair in enumerate(pairs, start=1):
        print(f"run {number}:")
        for run in pair:
            print(
                f"{run.name:>20}: {run.audio:7.1f} s of audio in {run.wall:6.2f} s = {run.speed:6.2f} audio-s per wall-s"
                f" ({run.cpu:6.1f} CPU-s = {run.cpu_speed:5.2f} audio-s per CPU-s)"
            )
    ratios = [served.speed / bare.speed for bare, served in pairs]
    cpu_ratios = [served.cpu_speed / bare.cpu_speed for bare, served in pairs]
    ratio = statistics.median(ratios)
    print(f"{'server / bare':>20}: {ratio:.3f} median of {len(ratios)} interleaved pair(s) (goal >= 0.9) "
          f"{'OK' if ratio >= 0.9 else 'BELOW GOAL'}; all: {', '.join(f'{r:.3f}' for r in ratios)}")
    print(f"{'same, by CPU time':>20}: {statistics.median(cpu_ratios):.3f} median (other load cannot skew this one)")
    print(f"{'load average':>20}: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")
    same = all(bare.segments == served.segments for bare, served in pairs)
    print(f"{'same transcript':>20}: {same} ({len(pairs[0][0].segments)} segments)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
