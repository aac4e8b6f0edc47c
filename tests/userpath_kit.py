"""What the model-based test of the user's path needs besides its rules (tests/test_user_path.py).

A pool of short spoken clips the default engine transcribes (each with one word to search for),
the ``reelscribe`` CLI as a user runs it (a subprocess in its own process group, which a test may
interrupt at a chosen point), the server's view of what was uploaded into an index, and the lake
read back the way the README tells users to read it (DuckDB and pandas), independently of the
project's own reader.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import requests

from tests.media import SAMPLE_RATE, espeak_samples, write_aac

ROOT = Path(__file__).resolve().parents[1]
CLI = [str(Path(sys.executable).parent / "reelscribe")]
EXIT_CODES = frozenset({0, 1, 2, 130})
"""Every exit status a command may end with: done, a video failed, refused, interrupted."""
CLIP_SECONDS = 4.3
"""Above the server's 4 s minimum, short enough for Whisper to take about a second."""
POOL = (
    ("Please open the window.", "window"),
    ("We walked along the river.", "river"),
    ("My brother plays the guitar.", "guitar"),
    ("Coffee is ready in the kitchen.", "kitchen"),
    ("She bought a new bicycle.", "bicycle"),
    ("This is a short test.", "test"),
)
"""Sentences tiny.en transcribes with their search word intact and its language guard accepts."""
COMMAND_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Clip:
    path: Path
    sha256: str
    word: str


def render_pool(folder: Path) -> list[Clip]:
    """The pool's clips, each ``CLIP_SECONDS`` long (speech, then silence); their bytes depend only on the text."""
    clips = []
    for i, (sentence, word) in enumerate(POOL):
        speech = espeak_samples(sentence, "en-us")
        pad = np.zeros(max(0, round(CLIP_SECONDS * SAMPLE_RATE) - len(speech)), dtype=np.int16)
        path = write_aac(np.concatenate([speech, pad]), folder / f"clip{i}.mp4")
        clips.append(Clip(path, hashlib.sha256(path.read_bytes()).hexdigest(), word))
    assert len({c.sha256 for c in clips}) == len(clips), "the pool's clips must differ"
    return clips


# -- the CLI ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    signalled: str | None = None
    """``SIGINT``/``SIGKILL`` when the test interrupted the command, else ``None``."""

    def json_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]

    def describe(self) -> str:
        return (f"$ reelscribe {' '.join(self.args)}   -> exit {self.code}"
                f"{f' (after {self.signalled})' if self.signalled else ''}\n"
                f"--- stdout ---\n{self.stdout[-3000:]}\n--- stderr ---\n{self.stderr[-3000:]}")


def cli_env(base_url: str, api_key: str, prefect_url: str, home: Path) -> dict[str, str]:
    """The user's environment: a configured API and Prefect server, a reelscribe home of the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "TWELVE", "REELSCRIBE_"))}
    env.update(
        TWELVELABS_BASE_URL=base_url, TWELVE_LABS_API_KEY=api_key, PREFECT_API_URL=prefect_url,
        REELSCRIBE_HOME=str(home), HF_HUB_OFFLINE="1", DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PYTHONPATH=str(ROOT),
    )
    return env


def run_cli(
    args: list[str], *, cwd: Path, env: dict[str, str], interrupt: Callable[[], bool] | None = None,
    sig: signal.Signals = signal.SIGINT, timeout: float = COMMAND_TIMEOUT_S,
) -> Result:
    """``reelscribe ARGS`` in ``cwd``, in a process group of its own (as a terminal starts it).

    ``interrupt``: polled while it runs; once it answers true, ``sig`` goes to the whole group, as
    Ctrl-C (SIGINT) or a killed terminal (SIGKILL) would. A command that outlives ``timeout`` is
    killed and reported as exit ``-9`` (no allowed status), with what it printed.
    """
    out_path, err_path = cwd / ".cli-stdout", cwd / ".cli-stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        process = subprocess.Popen([*CLI, *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                   start_new_session=True)
    signalled = None
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if interrupt is not None and signalled is None and interrupt():
                _signal_group(process, sig)
                signalled = sig.name
                deadline = min(deadline, time.monotonic() + 90)  # an interrupted command must end soon
            time.sleep(0.1)
    finally:
        if process.poll() is None:
            _signal_group(process, signal.SIGKILL)
        process.wait(30)
        _signal_group(process, signal.SIGKILL)  # what the command left in its group
    code = process.returncode
    if code < 0 and signalled == "SIGKILL":
        code = -signal.SIGKILL
    return Result(tuple(args), code, out_path.read_text(errors="replace"), err_path.read_text(errors="replace"), signalled)


def _signal_group(process: subprocess.Popen, sig: signal.Signals) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# -- the server's view -----------------------------------------------------------------------------


class ServerView:
    """What the local API server holds for an index: its uploads, by the content hash reelscribe sends."""

    META_SHA256 = "reelscribe_sha256"

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["x-api-key"] = api_key

    def _pages(self, path: str, **params) -> list[dict]:
        items, page = [], 1
        while True:
            response = self.session.get(f"{self.base_url}{path}", params={**params, "page": page, "page_limit": 50}, timeout=30)
            response.raise_for_status()
            body = response.json()
            items += body["data"]
            if page >= body["page_info"]["total_page"]:
                return items
            page += 1

    def index_id(self, name: str) -> str | None:
        return next((i["_id"] for i in self._pages("/indexes") if i.get("index_name") == name), None)

    def indexed_assets(self, index_id: str) -> list[dict]:
        return self._pages(f"/indexes/{index_id}/indexed-assets")

    def tasks(self, index_id: str) -> list[dict]:
        return self._pages("/tasks", index_id=index_id)

    def uploads_by_content(self, index_id: str) -> Counter:
        """Indexed assets and tasks of the index, counted by content hash (one each is the most there may be)."""
        jobs = self.indexed_assets(index_id) + self.tasks(index_id)
        return Counter((job.get("user_metadata") or {}).get(self.META_SHA256, f"(no hash: {job['_id']})") for job in jobs)

    def progress(self, index_id: str | None) -> tuple[int, int]:
        """``(jobs, ready jobs)`` of the index: what an interruption point waits for."""
        if index_id is None:
            return 0, 0
        jobs = self.indexed_assets(index_id) + self.tasks(index_id)
        return len(jobs), sum(job.get("status") == "ready" for job in jobs)


# -- the lake, read as the README says -------------------------------------------------------------

TABLES = ("videos", "segments", "words", "utterances")
KEYS = {"videos": ("index_id", "video_id"), "segments": ("index_id", "video_id", "segment"),
        "words": ("index_id", "video_id", "word"), "utterances": ("index_id", "video_id", "utterance")}
"""The columns that name one row: none may appear twice."""


def lake_format(lake: Path) -> str | None:
    if (lake / "videos" / "_delta_log").is_dir():
        return "delta"
    if any(p.name.endswith(".parquet") and not p.name.startswith((".", "_")) for p in (lake / "videos").glob("index_id=*/*")):
        return "parquet"
    return None


def read_lake(lake: Path) -> dict:
    """Every table of the lake as pandas frames, read with DuckDB and with pandas (both must open it
    and agree on its rows); ``{}`` when nothing has landed."""
    import duckdb
    import pandas as pd

    kind = lake_format(lake)
    if kind is None:
        return {}
    frames = {}
    for table in TABLES:
        where = lake / table
        if kind == "parquet":
            if not any(p for p in where.glob("index_id=*/*.parquet") if not p.name.startswith((".", "_"))):
                continue
            glob = str(where / "**" / "*.parquet")
            by_duckdb = duckdb.sql(
                "select * from read_parquet($glob, hive_partitioning = true, union_by_name = true)", params={"glob": glob}
            ).df()
            by_pandas = pd.read_parquet(where)
        else:
            if not (where / "_delta_log").is_dir():
                continue
            from deltalake import DeltaTable

            delta = DeltaTable(str(where))
            by_pandas = delta.to_pandas()
            dataset = delta.to_pyarrow_dataset()  # noqa: F841 - DuckDB reads it by name
            by_duckdb = duckdb.sql("select * from dataset").df()
        assert len(by_duckdb) == len(by_pandas), f"{table}: DuckDB reads {len(by_duckdb)} rows, pandas {len(by_pandas)}"
        frames[table] = by_duckdb
    return frames


def repeated_rows(frames: dict) -> dict[str, list]:
    """Per table, the keys that name more than one row (and, for videos, contents landed twice)."""
    found = {}
    for table, frame in frames.items():
        key = [c for c in KEYS[table] if c in frame.columns]
        counts = Counter(tuple(str(v) for v in row) for row in frame[key].itertuples(index=False))
        twice = [k for k, n in counts.items() if n > 1]
        if twice:
            found[table] = twice
    videos = frames.get("videos")
    if videos is not None:
        by_content = Counter(zip(videos["index_id"].astype(str), videos["content_sha256"].astype(str)))
        twice = [k for k, n in by_content.items() if n > 1]
        if twice:
            found["videos by content"] = twice
    return found


def landed_contents(frames: dict) -> set[str]:
    videos = frames.get("videos")
    return set() if videos is None else set(videos["content_sha256"].astype(str))


def tree(path: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``path`` with its size and modification time: to prove a command wrote nothing."""
    if not path.exists():
        return {}
    return {str(p.relative_to(path)): (p.stat().st_size, p.stat().st_mtime_ns) for p in path.rglob("*") if p.is_file()}
