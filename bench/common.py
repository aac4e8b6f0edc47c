"""Shared by the end-to-end benchmarks: the machine, the test videos, the local server, timing a run.

Every benchmark prints its figures and also saves them as JSON under ``bench/out/results/`` so that
``python -m bench`` can print one table and ``bench.chart`` can draw the batch chart. Nothing here
asserts a time: the figures are ratios against baselines measured in the same run.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import platform
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
RESULTS = OUT / "results"
VIDEOS = OUT / "videos"

# The server refuses videos under 4 s; 4.2 s leaves room for AAC priming in the probed duration.
VIDEO_SECONDS = 4.2
SERVER_WORKERS = 8
FAULT_LATENCY = 2.0

for _name, _value in (
    ("HF_HUB_OFFLINE", "1"),
    ("DO_NOT_TRACK", "1"),
    ("PREFECT_SERVER_ANALYTICS_ENABLED", "false"),
    ("PREFECT_LOGGING_LEVEL", "WARNING"),
):
    os.environ.setdefault(_name, _value)


# -- the machine ---------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def ram_gib() -> float:
    try:
        with open("/proc/meminfo") as info:
            kib = next(int(line.split()[1]) for line in info if line.startswith("MemTotal:"))
        return kib / 1024**2
    except (OSError, StopIteration, ValueError):
        return float("nan")


def machine() -> dict[str, Any]:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "ram_gib": round(ram_gib(), 1),
        "python": platform.python_version(),
        "load_1min_at_start": round(load, 2),
    }


def machine_line() -> str:
    m = machine()
    return f"nproc {m['nproc']}, {m['cpu']}, {m['ram_gib']} GiB RAM, Python {m['python']}, 1-min load {m['load_1min_at_start']}"


# -- results -------------------------------------------------------------------------------------


def save_result(name: str, figures: dict[str, Any]) -> Path:
    """Write ``bench/out/results/<name>.json`` (with the machine and the time) and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"bench": name, "when": datetime.now().isoformat(timespec="seconds"), "machine": machine(), **figures}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"saved {path.relative_to(ROOT)}")
    return path


def load_result(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def ideal_seconds(n: int, latency: float = FAULT_LATENCY, workers: int = SERVER_WORKERS) -> float:
    """The ideal bound: ``ceil(N / workers) * L`` (the server can do no better with no engine time)."""
    return math.ceil(n / workers) * latency


# -- videos --------------------------------------------------------------------------------------


def silent_videos(n: int, *, prefix: str = "silent") -> list[Path]:
    """``n`` distinct silent 4.2 s MP4s (silent AAC track, so the real engine runs), made once.

    Distinct content (each has its own frame width) so that no upload is deduplicated by hash.
    """
    from tests.media import make_video

    VIDEOS.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(n):
        path = VIDEOS / f"{prefix}-{number:03d}.mp4"
        if not path.is_file():
            height = 240 + 2 * (number // 200) + (0 if prefix == "silent" else 16)
            make_video(path.with_suffix(".tmp"), VIDEO_SECONDS, audio="silence", width=320 + 2 * (number % 200), height=height)
            path.with_suffix(".tmp").replace(path)
        paths.append(path)
    return paths


# -- the local server ----------------------------------------------------------------------------


@contextlib.contextmanager
def local_server(
    *, latency: float = FAULT_LATENCY, workers: int = SERVER_WORKERS, vad: bool = True, extra: Sequence[str] = ()
) -> Iterator[Any]:
    """The real embedded server (FastAPI + SQLite + faster-whisper) in a child process, temp data dir.

    ``--vad`` (faster-whisper's Silero VAD filter) is set explicitly, whatever the server's default is:
    with it a silent video costs the engine a fraction of a second, so the injected latency, not
    Whisper, is what the batch figures are about. ``vad=False`` shows what Whisper alone costs.
    """
    from reelscribe.server.launcher import EmbeddedServer

    scratch = Path(tempfile.mkdtemp(prefix="bench-server-"))
    server = EmbeddedServer(
        scratch,
        extra_args=("--workers", str(workers), "--fault-latency", str(latency), "--vad" if vad else "--no-vad", *extra),
        startup_timeout=120,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def client_for(base_url: str, api_key: str):
    from pydantic import SecretStr

    from reelscribe.core.client import TwelveLabsClient
    from reelscribe.core.settings import Settings

    return TwelveLabsClient(Settings(base_url=base_url, api_key=SecretStr(api_key)))


@dataclass(frozen=True)
class ServerTask:
    id: str
    video_id: str | None
    status: str
    created: float
    finished: float

    @property
    def seconds(self) -> float:
        return self.finished - self.created


def server_tasks(base_url: str, api_key: str, index_id: str) -> list[ServerTask]:
    """The index's tasks as the server recorded them (``updated_at`` of a ready task = when it became ready)."""
    with client_for(base_url, api_key) as client:
        return sorted(
            (
                ServerTask(t.id, t.video_id, t.status.value, t.created_at.timestamp(), t.updated_at.timestamp())
                for t in client.iter_tasks(index_id)
            ),
            key=lambda t: t.created,
        )


def index_id_named(base_url: str, api_key: str, name: str) -> str:
    with client_for(base_url, api_key) as client:
        index = client.find_index_by_name(name)
    if index is None:
        raise RuntimeError(f"no index named {name!r}")
    return index.id


def create_index(base_url: str, api_key: str, name: str) -> str:
    with client_for(base_url, api_key) as client:
        return client.create_index(name).id


# -- reelscribe run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunTiming:
    n: int
    seconds: float
    started: float
    ended: float
    exit_code: int
    index_name: str
    index_id: str
    tasks: list[ServerTask]

    @property
    def server_span(self) -> float:
        """First upload received to last task ready, by the server's clock."""
        return max(t.finished for t in self.tasks) - min(t.created for t in self.tasks)

    @property
    def head(self) -> float:
        """From the start of the run to the server receiving the first upload."""
        return min(t.created for t in self.tasks) - self.started

    @property
    def tail(self) -> float:
        """From the last task ready to the end of the run (noticing it, retrieving, landing, the summary)."""
        return self.ended - max(t.finished for t in self.tasks)


def reelscribe_run(
    base_url: str, api_key: str, videos: Sequence[Path], *, label: str, concurrency: int = 8, extra: Sequence[str] = ()
) -> RunTiming:
    """``reelscribe run <videos> --index-name … --out … --concurrency 8 --upload tasks``, in this process, timed.

    The tasks path, which these figures were measured on (and which the server log is read for).

    ``reelscribe.cli.main`` exactly as the console script calls it, against an external API (the
    bench's server), so the CLI does not start its own. Its printed result table is swallowed.
    """
    from reelscribe.cli import main
    from reelscribe.core.settings import API_KEY_ENV, BASE_URL_ENV

    os.environ[BASE_URL_ENV] = base_url
    os.environ[API_KEY_ENV] = api_key
    name = f"{label}-{uuid.uuid4().hex[:8]}"
    out = Path(tempfile.mkdtemp(prefix="bench-lake-"))
    argv = ["run", *map(str, videos), "--index-name", name, "--out", str(out), "--concurrency", str(concurrency), "--upload", "tasks", *extra]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            started, began = time.time(), time.perf_counter()
            code = main(argv)
            seconds, ended = time.perf_counter() - began, time.time()
    finally:
        shutil.rmtree(out, ignore_errors=True)
    index_id = index_id_named(base_url, api_key, name)
    tasks = server_tasks(base_url, api_key, index_id)
    if code != 0 or len(tasks) != len(videos) or any(t.status != "ready" for t in tasks):
        raise RuntimeError(f"reelscribe run failed: exit {code}, {len(tasks)} tasks for {len(videos)} videos")
    return RunTiming(len(videos), seconds, started, ended, code, name, index_id, tasks)


def warm_up(base_url: str, api_key: str) -> float:
    """One tiny run first: starts Prefect's temporary API server and loads the server's Whisper model.

    Both are one-off start-up costs that a long-lived deployment pays once; they are excluded from
    every figure. Returns the warm-up's own wall time.
    """
    videos = silent_videos(1, prefix="warmup")
    return reelscribe_run(base_url, api_key, videos, label="warmup").seconds


# -- the server's own log: every request and every task's end, with millisecond timestamps -------

_LOG_TIME = r"(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})"
_STATUS_POLL = re.compile(_LOG_TIME + r' INFO uvicorn\.access .*"GET /v1\.\d/tasks/(?P<task>[0-9a-f]{24}) HTTP')
_TASK_READY = re.compile(_LOG_TIME + r" INFO (?:reelscribe\.)?server\.workers \[(?P<thread>[^\]]+)\] task (?P<task>[0-9a-f]{24}) ready")


@dataclass(frozen=True)
class ServerLog:
    """What the server logged: ``GET /tasks/{id}`` times per task, and (thread, time) when each task became ready."""

    polls: dict[str, list[float]]
    ready: dict[str, tuple[str, float]]


def _log_seconds(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def read_server_log(path: Path, since: float = 0.0) -> ServerLog:
    """Parse the server log (local-time stamps, the same clock as ``time.time()`` on this machine)."""
    polls: dict[str, list[float]] = {}
    ready: dict[str, tuple[str, float]] = {}
    with open(path, encoding="utf-8", errors="replace") as log:
        for line in log:
            if (match := _STATUS_POLL.match(line)) and (moment := _log_seconds(match["time"])) >= since:
                polls.setdefault(match["task"], []).append(moment)
            elif (match := _TASK_READY.match(line)) and (moment := _log_seconds(match["time"])) >= since:
                ready[match["task"]] = (match["thread"], moment)
    if not ready:
        raise RuntimeError(f"{path}: no 'task … ready' lines; did the server's log format change?")
    return ServerLog(polls, ready)


def engine_seconds_per_task(log: ServerLog, tasks: Sequence[str], latency: float) -> list[float]:
    """Per-task indexing time beyond the injected latency, at the server's real concurrency.

    A busy worker thread finishes one task, claims the next at once, sleeps ``latency``, runs the
    engine and marks it ready; so between two consecutive ready marks on one thread lie exactly one
    claim, the latency and one engine run. The first task of each thread is skipped (its start is
    the upload, not a ready mark).
    """
    by_thread: dict[str, list[float]] = {}
    for task in tasks:
        if task in log.ready:
            thread, moment = log.ready[task]
            by_thread.setdefault(thread, []).append(moment)
    gaps = []
    for moments in by_thread.values():
        moments.sort()
        gaps += [b - a - latency for a, b in zip(moments, moments[1:])]
    return gaps


def core_run(base_url: str, api_key: str, videos: Sequence[Path], *, label: str, concurrency: int = 8) -> RunTiming:
    """The same pipeline without Prefect: reelscribe's core calls in two plain thread pools.

    ``concurrency`` threads upload (hash, find-or-create), as the flow does, and as each upload
    returns, another ``concurrency`` threads wait for that video (``wait_until_indexed``) and land
    it (``retrieve_and_land``) in one go. The difference to ``reelscribe_run`` is what the
    orchestration costs: Prefect's per-task work and the order its one FIFO pool runs tasks in.
    """
    from concurrent.futures import ThreadPoolExecutor

    from reelscribe.core.claims import ClaimStore
    from reelscribe.core.ingest import resolve_index
    from reelscribe.core.ingest_paths.base import LandRequest
    from reelscribe.core.ingest_paths.tasks_path import TasksPath, submit_video
    from reelscribe.core.lake import Lake
    from reelscribe.core.sources import content_sha256, discover
    from reelscribe.core.transcripts import retrieve_and_land
    from reelscribe.core.waiting import wait_until_indexed

    name = f"{label}-{uuid.uuid4().hex[:8]}"
    out = Path(tempfile.mkdtemp(prefix="bench-lake-"))
    lake, claims = Lake(str(out)), ClaimStore(str(out))

    def upload(source):
        with client_for(base_url, api_key) as client:
            sha256 = content_sha256(source)
            return source, sha256, submit_video(client, index_id, source, sha256, claims=claims)

    def wait_and_land(uploaded) -> None:
        source, sha256, submitted = uploaded
        with client_for(base_url, api_key) as client:
            task = wait_until_indexed(client, submitted.job_id)
            retrieve_and_land(client, lake, TasksPath(), LandRequest(index_id, task, source.uri, sha256))

    try:
        started, began = time.time(), time.perf_counter()
        with client_for(base_url, api_key) as client:
            index_id = resolve_index(client, None, name).id
        found, _ = discover([str(v) for v in videos])
        with ThreadPoolExecutor(concurrency) as uploads, ThreadPoolExecutor(concurrency) as landings:
            for uploaded in uploads.map(upload, found):
                landings.submit(wait_and_land, uploaded)
        seconds, ended = time.perf_counter() - began, time.time()
    finally:
        shutil.rmtree(out, ignore_errors=True)
    tasks = server_tasks(base_url, api_key, index_id)
    return RunTiming(len(videos), seconds, started, ended, 0, name, index_id, tasks)


# -- CPU time per process: who used the 2 cores during a run ------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (``/proc/<pid>/stat``), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cpu_snapshot(server_pid: int | None) -> dict[str, float]:
    """CPU seconds so far of: this process (the flow), Prefect's API server (a child), the indexing server."""
    me = os.getpid()
    prefect = sum(
        _cpu_seconds(child) for child in _children(me)
        if b"prefect.server" in Path(f"/proc/{child}/cmdline").read_bytes()
    ) if Path(f"/proc/{me}").exists() else 0.0
    return {
        "flow process": _cpu_seconds(me),
        "Prefect API server": prefect,
        "indexing server": _cpu_seconds(server_pid) if server_pid else 0.0,
    }
