"""Indexing speed: the embedded server (batched faster-whisper) against the plain sequential call.

    python -m bench.bench_asr [--minutes 5] [--clips 4] [--repeats 3] [--server-arg=--workers=1 ...]

Speech is synthesised deterministically from ``bench/speech.txt`` (one paragraph per line) with
``espeak-ng`` (``apt-get install -y espeak-ng``), four English voices in turn, 140 words per
minute, 1.2 s of silence between paragraphs, encoded as 16 kHz mono AAC and cached under
``bench/out/speech/``. In one run, interleaved ``--repeats`` times:

(a) one long clip (the paragraphs from the first, about ``--minutes`` long): the server's indexing
    time, from the end of the upload until the task is ``ready``, against the plain call;
(b) ``--clips`` clips of three paragraphs each (about a minute), uploaded at once: aggregate
    audio-seconds per wall-second, until the last is ``ready``, against the plain call run on them
    one after another.

The plain call is the server's own decoding entry point, :func:`reelscribe.server.asr.transcribe`,
in its sequential mode without VAD: ``WhisperModel.transcribe(beam_size=5, word_timestamps=True)``
on the same model directory and compute type, with all the machine's cores, loaded once and warmed
up beforehand. Once per run, on the long clip, the same call without word timings (strictly plain)
is timed too, so the price of the timings is on record; and once on all clips the server's decoding
before batching (sequential with VAD, what ``--no-batch`` still does), for its word error rate.
The server runs with its defaults unless ``--server-arg`` says otherwise. Also printed: JFK word for
word, the median segment length, and word error rates against the synthesised text and the JFK
reference. Goals: both ratios >= 1.8. Other load on the machine skews wall times: the ratios come
from interleaved rounds of one run, and the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import requests

from bench.common import OUT, ROOT, machine_line, save_result
from reelscribe.server.asr import BEAM_SIZE, AsrEngine, AsrSettings, transcribe
from reelscribe.server.config import ServerConfig
from reelscribe.server.launcher import EmbeddedServer
from reelscribe.server.models import resolve_model
from tests.server.server_testkit import JFK, JFK_REFERENCE
from tests.server.wer import word_error_rate, words

SPEECH = OUT / "speech"
TEXT = ROOT / "bench" / "speech.txt"
SAMPLE_RATE = 16_000
VOICES = ("en-us", "en-gb", "en-gb-x-rp", "en-029")
WORDS_PER_MINUTE = 140
PAUSE_SECONDS = 1.2
PARAGRAPHS_PER_CLIP = 3
POLL_SECONDS = 0.1  # adds at most this to a server time
GOAL = 1.8


# -- clips ---------------------------------------------------------------------------------------


def paragraphs() -> list[str]:
    return [line.strip() for line in TEXT.read_text().splitlines() if line.strip()]


def _decode_mono(path: Path) -> np.ndarray:
    """The first audio track as 16 kHz mono int16 samples."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
        chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    return np.concatenate(chunks)


def spoken(number: int, text: str) -> np.ndarray:
    """Paragraph ``number`` read by espeak-ng, as 16 kHz samples (its WAV is cached)."""
    wav = SPEECH / f"paragraph-{number:02d}.wav"
    if not wav.is_file():
        if shutil.which("espeak-ng") is None:
            raise SystemExit("bench_asr needs espeak-ng to synthesise its speech: apt-get install -y espeak-ng")
        SPEECH.mkdir(parents=True, exist_ok=True)
        voice = VOICES[number % len(VOICES)]
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(WORDS_PER_MINUTE), "-w", str(wav.with_suffix(".part")), text], check=True
        )
        wav.with_suffix(".part").replace(wav)
    return _decode_mono(wav)


def _write_aac(samples: np.ndarray, target: Path) -> None:
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


@dataclass(frozen=True)
class Clip:
    path: Path
    text: str


def speech_clip(name: str, numbers: list[int]) -> Clip:
    """The given paragraphs, read one after another with a pause between them; cached as AAC."""
    texts = paragraphs()
    target = SPEECH / f"{name}.m4a"
    if not target.is_file():
        pause = np.zeros(round(PAUSE_SECONDS * SAMPLE_RATE), dtype=np.int16)
        parts = [part for n in numbers for part in (spoken(n, texts[n]), pause)][:-1]
        _write_aac(np.concatenate(parts), target)
    return Clip(target, " ".join(texts[n] for n in numbers))


def long_clip(minutes: float) -> Clip:
    """Paragraphs from the first (cycling if needed) until about ``minutes`` of speech and pauses."""
    texts = paragraphs()
    numbers: list[int] = []
    seconds = 0.0
    while seconds < minutes * 60 - 10:
        number = len(numbers) % len(texts)
        numbers.append(number)
        seconds += len(spoken(number, texts[number])) / SAMPLE_RATE + PAUSE_SECONDS
    return speech_clip(f"long-{len(numbers)}-paragraphs", numbers)


def short_clips(count: int) -> list[Clip]:
    """``count`` clips of three different paragraphs each (about a minute); none shares a paragraph."""
    total = len(paragraphs())
    if count * PARAGRAPHS_PER_CLIP > total:
        raise SystemExit(f"bench/speech.txt has paragraphs for at most {total // PARAGRAPHS_PER_CLIP} short clips")
    return [
        speech_clip(f"short-{n}", list(range(n * PARAGRAPHS_PER_CLIP, (n + 1) * PARAGRAPHS_PER_CLIP))) for n in range(count)
    ]


# -- timing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    audio: float
    transcripts: list[list[dict]]

    @property
    def speed(self) -> float:
        """Audio seconds transcribed per wall-clock second."""
        return self.audio / self.wall


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def plain(model: object, clips: list[Clip], *, vad: bool = False, word_timings: bool = True) -> Run:
    """The clips one after another through the sequential call (model already loaded)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    transcripts, audio = [], 0.0
    for clip in clips:
        if word_timings:
            segments, duration = transcribe(model, clip.path, vad=vad, batch_size=0)
        else:
            found, info = model.transcribe(str(clip.path), beam_size=BEAM_SIZE)  # type: ignore[attr-defined]
            segments = [{"start": s.start, "end": s.end, "value": s.text.strip()} for s in found]
            duration = info.duration
        transcripts.append(segments)
        audio += duration
    return Run(time.perf_counter() - started, time.process_time() - cpu_started, audio, transcripts)


class ServedClient:
    """A session on a running server, with one index to upload into."""

    def __init__(self, server: EmbeddedServer) -> None:
        self.server = server
        self.session = requests.Session()
        self.session.headers["x-api-key"] = server.api_key
        self.index_id = self._checked(
            self.session.post(
                f"{server.base_url}/indexes",
                json={"index_name": "bench-asr", "models": [{"model_name": "marengo3.0", "model_options": ["audio"]}]},
                timeout=30,
            )
        )["_id"]

    @staticmethod
    def _checked(response: requests.Response) -> dict:
        if response.status_code >= 300:
            raise RuntimeError(f"{response.request.method} {response.url}: {response.status_code} {response.text}")
        return response.json()

    def upload(self, clip: Path) -> dict:
        """Upload with a fresh session (uploads may run in parallel threads); the created task."""
        with requests.Session() as session, open(clip, "rb") as handle:
            session.headers["x-api-key"] = self.server.api_key
            return self._checked(
                session.post(
                    f"{self.server.base_url}/tasks",
                    data={"index_id": self.index_id},
                    files={"video_file": (clip.name, handle)},
                    timeout=600,
                )
            )

    def wait_ready(self, task_ids: list[str]) -> list[dict]:
        tasks: dict[str, dict] = {}
        while len(tasks) < len(task_ids):
            for task_id in task_ids:
                if task_id not in tasks:
                    task = self._checked(self.session.get(f"{self.server.base_url}/tasks/{task_id}", timeout=30))
                    if task["status"] == "failed":
                        raise RuntimeError(f"benchmark task failed: {task}")
                    if task["status"] == "ready":
                        tasks[task_id] = task
            if len(tasks) < len(task_ids):
                time.sleep(POLL_SECONDS)
        return [tasks[task_id] for task_id in task_ids]

    def transcription(self, task: dict) -> list[dict]:
        video = self._checked(
            self.session.get(
                f"{self.server.base_url}/indexes/{self.index_id}/videos/{task['video_id']}",
                params={"transcription": "true"},
                timeout=30,
            )
        )
        return video["transcription"] or []

    def index(self, clips: list[Clip]) -> Run:
        """Upload all clips at once (one thread each), wait until all are ready.

        One clip: timed from the end of its upload. Several: from before the first upload starts
        (their uploads overlap the first transcriptions, so the upload time counts against us).
        """
        pid = self.server.pid or 0
        cpu_started = process_cpu_seconds(pid)
        started = time.perf_counter()
        created: list[dict] = [{} for _ in clips]

        def upload(number: int) -> None:
            created[number] = self.upload(clips[number].path)

        threads = [threading.Thread(target=upload, args=(n,)) for n in range(len(clips))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if any(not task for task in created):
            raise RuntimeError("an upload failed")
        if len(clips) == 1:
            started = time.perf_counter()
        tasks = self.wait_ready([task["_id"] for task in created])
        wall = time.perf_counter() - started
        cpu = process_cpu_seconds(pid) - cpu_started
        audio = sum(task["system_metadata"]["duration"] for task in tasks)
        return Run(wall, cpu, audio, [self.transcription(task) for task in tasks])


# -- quality -------------------------------------------------------------------------------------


def text_of(segments: list[dict]) -> str:
    return " ".join(segment["value"] for segment in segments)


def wer(clips: list[Clip], run: Run) -> float:
    """Word error rate over all the clips together (edits / reference words)."""
    reference_words = sum(len(words(clip.text)) for clip in clips)
    edits = sum(word_error_rate(clip.text, text_of(segments)) * len(words(clip.text)) for clip, segments in zip(clips, run.transcripts))
    return edits / reference_words


def median_segment_seconds(run: Run) -> float:
    return statistics.median(s["end"] - s["start"] for segments in run.transcripts for s in segments)


# -- main ----------------------------------------------------------------------------------------


def line(name: str, run: Run) -> str:
    return (
        f"{name:>28}: {run.audio:6.1f} s of audio in {run.wall:6.2f} s = {run.speed:5.2f} audio-s per wall-s"
        f" ({run.cpu:5.1f} CPU-s)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_asr", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the long clip")
    parser.add_argument("--clips", type=int, default=4, help="short clips submitted at once")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved plain/server rounds; the median ratio counts")
    parser.add_argument(
        "--server-arg", action="append", default=[], help="extra option for the server, e.g. --server-arg=--workers=1"
    )
    args = parser.parse_args(argv)

    long = [long_clip(args.minutes)]
    shorts = short_clips(args.clips)
    jfk = [Clip(JFK, JFK_REFERENCE)]
    config = ServerConfig(data_dir=Path("."), api_keys=("unused",))
    model_dir = resolve_model(config.model, config.model_cache_dir).path
    print(f"machine: {machine_line()}")
    print(f"long clip: {long[0].path.relative_to(ROOT)}; short clips: {', '.join(c.path.name for c in shorts)}")
    print(f"server: defaults{' + ' + ' '.join(args.server_arg) if args.server_arg else ''}")
    engine = AsrEngine(AsrSettings(model_dir, compute_type=config.compute_type, cpu_threads=os.cpu_count() or 1))
    model = engine.load()
    plain(model, jfk)
    rounds: list[dict[str, Run]] = []
    with tempfile.TemporaryDirectory(prefix="bench-asr-") as tmp:
        with EmbeddedServer(Path(tmp) / "data", extra_args=tuple(args.server_arg), startup_timeout=120) as server:
            client = ServedClient(server)
            served_jfk = client.index(jfk)
            strict = plain(model, long, word_timings=False)
            before = plain(model, long + shorts, vad=True)
            for number in range(args.repeats):
                measured: dict[str, Run] = {}
                order = ("plain long", "server long", "plain shorts", "server shorts")
                for name in order if number % 2 == 0 else order[::-1]:
                    clips = long if name.endswith("long") else shorts
                    measured[name] = plain(model, clips) if name.startswith("plain") else client.index(clips)
                rounds.append(measured)
    load = os.getloadavg()
    for number, measured in enumerate(rounds, start=1):
        print(f"round {number}:")
        for name, run in measured.items():
            print(line(name, run))
    print(line("plain long, no word timings", strict))
    print(line("before: sequential + VAD", before))
    long_ratios = [r["server long"].speed / r["plain long"].speed for r in rounds]
    short_ratios = [r["server shorts"].speed / r["plain shorts"].speed for r in rounds]
    long_ratio, short_ratio = statistics.median(long_ratios), statistics.median(short_ratios)
    strict_ratio = statistics.median(r["server long"].speed / strict.speed for r in rounds)
    last = rounds[-1]
    jfk_words = words(text_of(served_jfk.transcripts[0]))
    figures = {
        "server_args": args.server_arg,
        "long_clip_s": round(last["server long"].audio, 1),
        "short_clips": len(shorts),
        "short_clips_s": round(last["server shorts"].audio, 1),
        "long_ratio": round(long_ratio, 3),
        "long_ratios": [round(r, 3) for r in long_ratios],
        "long_ratio_vs_no_word_timings": round(strict_ratio, 3),
        "shorts_ratio": round(short_ratio, 3),
        "shorts_ratios": [round(r, 3) for r in short_ratios],
        "server_long_s": [round(r["server long"].wall, 2) for r in rounds],
        "plain_long_s": [round(r["plain long"].wall, 2) for r in rounds],
        "plain_long_no_word_timings_s": round(strict.wall, 2),
        "server_shorts_s": [round(r["server shorts"].wall, 2) for r in rounds],
        "plain_shorts_s": [round(r["plain shorts"].wall, 2) for r in rounds],
        "jfk_word_for_word": jfk_words == words(JFK_REFERENCE),
        "median_segment_s": round(median_segment_seconds(last["server long"]), 2),
        "server_segments_long": len(last["server long"].transcripts[0]),
        "plain_segments_long": len(last["plain long"].transcripts[0]),
        "wer_server": round(wer(long + shorts, Run(0, 0, 0, last["server long"].transcripts + last["server shorts"].transcripts)), 4),
        "wer_plain": round(wer(long + shorts, Run(0, 0, 0, last["plain long"].transcripts + last["plain shorts"].transcripts)), 4),
        "wer_before": round(wer(long + shorts, before), 4),
        "before_s": round(before.wall, 2),
        "wer_jfk_server": round(wer(jfk, served_jfk), 4),
        "load_average_at_end": [round(x, 2) for x in load],
        "goal": GOAL,
    }
    verdict = "OK" if min(long_ratio, short_ratio) >= GOAL else "BELOW GOAL"
    print(f"{'(a) long clip, server/plain':>28}: {long_ratio:.2f}x median ({', '.join(f'{r:.2f}' for r in long_ratios)}); "
          f"{strict_ratio:.2f}x against the call without word timings")
    print(f"{'(b) shorts at once, server/plain':>28}: {short_ratio:.2f}x median ({', '.join(f'{r:.2f}' for r in short_ratios)})")
    print(f"{'goal':>28}: both >= {GOAL}x: {verdict}")
    print(f"{'JFK word for word':>28}: {figures['jfk_word_for_word']} ({text_of(served_jfk.transcripts[0])!r})")
    print(f"{'median segment':>28}: {figures['median_segment_s']} s ({figures['server_segments_long']} segments; "
          f"plain call: {figures['plain_segments_long']})")
    print(f"{'word error rate':>28}: server {figures['wer_server']:.4f}, plain {figures['wer_plain']:.4f}, "
          f"before (sequential + VAD) {figures['wer_before']:.4f} (synthesised clips); JFK {figures['wer_jfk_server']:.4f}")
    print(f"{'load average':>28}: {' '.join(f'{x:.2f}' for x in load)} (1, 5, 15 min, at the end)")
    save_result("bench_asr", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
