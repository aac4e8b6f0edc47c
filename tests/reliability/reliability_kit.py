"""Helpers shared by the reliability tests (a uniquely named module: the test folders have no ``__init__``).

Everything here looks at the results from outside: the server through its own API (never through a
fault proxy), the lake through DuckDB and pyarrow, the CLI as a subprocess.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import duckdb
import pyarrow.parquet as pq
import requests

from reelscribe.server.launcher import EmbeddedServer
from tests.media import make_video
from tests.polling import wait_until  # noqa: F401  (the reliability tests import it from here)

ROOT = Path(__file__).resolve().parents[2]
REELSCRIBE = Path(sys.executable).parent / "reelscribe"
HIVE = "hive_partitioning = true, hive_types = {'index_id': VARCHAR}"
# Servers started by these tests filter non-speech (faster-whisper's VAD): the clips are silent, and
# silence then takes milliseconds, whatever the server's default, so timings stay predictable.
FAST = ("--vad",)


def distinct_videos(folder: Path, count: int, *, seconds: float = 4.5, prefix: str = "clip", first: int = 0) -> list[Path]:
    """``count`` short silent clips whose bytes (and so hashes) all differ: each has its own frame width.

    4.5 s is above the server's default ``--min-duration`` of 4 s.
    """
    return [
        make_video(folder / f"{prefix}{i:03d}.mp4", seconds, audio="silence", width=160 + 4 * i, height=120)
        for i in range(first, first + count)
    ]


@contextmanager
def running(data_dir: Path, *extra_args: str, api_key: str | None = None) -> Iterator[EmbeddedServer]:
    """A local server started with ``FAST`` and ``extra_args``, stopped afterwards."""
    server = EmbeddedServer(data_dir, api_key=api_key, extra_args=(*FAST, *extra_args))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def point_at(monkeypatch, server, base_url: str | None = None) -> None:
    """Set the variables users set, for ``server`` (or ``base_url``, e.g. a proxy in front of it)."""
    monkeypatch.setenv("TWELVELABS_BASE_URL", base_url or server.base_url)
    monkeypatch.setenv("TWELVE_LABS_API_KEY", server.api_key)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def server_get(server, path: str, **params) -> requests.Response:
    """A GET straight to the server (``server`` is an ``EmbeddedServer``), with its own key."""
    return requests.get(f"{server.base_url}/{path.lstrip('/')}", params=params, headers={"x-api-key": server.api_key}, timeout=30)


def server_tasks(server, index_id: str) -> list[dict]:
    """Every task the server holds for ``index_id``, all pages."""
    tasks: list[dict] = []
    page = 1
    while True:
        response = server_get(server, "tasks", index_id=index_id, page=page, page_limit=50)
        response.raise_for_status()
        body = response.json()
        tasks += body["data"]
        if not body["data"] or page >= body["page_info"]["total_page"]:
            return tasks
        page += 1


def index_id_named(server, name: str) -> str:
    response = server_get(server, "indexes", index_name=name)
    response.raise_for_status()
    (index,) = response.json()["data"]
    return index["_id"]


@dataclass(frozen=True)
class LakeState:
    videos: list[dict]
    segment_rows: int

    @property
    def hashes(self) -> set[str]:
        return {v["content_sha256"] for v in self.videos}


def assert_lake_sound(out: Path, *, complete: bool = True) -> LakeState:
    """Every ``*.parquet`` is whole and readable, no row is duplicated, counts agree.

    ``complete``: every segments file also has its videos row (not so right after a crash, when a
    video's segments may be written and its commit marker not yet).
    """
    out = Path(out)
    files = sorted(out.rglob("*.parquet"))
    for path in files:
        assert not path.name.startswith("."), f"a temp file is visible to *.parquet globs: {path}"
        pq.read_table(path)  # raises on a torn or half-written file
    db = duckdb.connect()
    segment_files = [p for p in files if p.parts[len(out.parts)] == "segments"]
    video_files = [p for p in files if p.parts[len(out.parts)] == "videos"]
    per_video: dict[tuple[str, str], int] = {}
    if segment_files:
        total, distinct = db.sql(
            f"select count(*), count(distinct (index_id, video_id, segment)) "
            f"from read_parquet('{out}/segments/**/*.parquet', {HIVE})"
        ).fetchall()[0]
        assert total == distinct, f"{total - distinct} duplicated segment rows"
        per_video = {
            (i, v): n
            for i, v, n in db.sql(
                f"select index_id, video_id, count(*) from read_parquet('{out}/segments/**/*.parquet', {HIVE}) group by all"
            ).fetchall()
        }
    videos: list[dict] = []
    if video_files:
        rel = db.sql(f"select * from read_parquet('{out}/videos/**/*.parquet', {HIVE})")
        videos = [dict(zip(rel.columns, row)) for row in rel.fetchall()]
    keys = [(v["index_id"], v["video_id"]) for v in videos]
    assert len(keys) == len(set(keys)), "a video has two rows"
    contents = [(v["index_id"], v["content_sha256"]) for v in videos]
    assert len(contents) == len(set(contents)), "one content landed as two videos"
    for video in videos:
        key = (video["index_id"], video["video_id"])
        assert per_video.get(key, 0) == video["segment_count"], f"segment_count disagrees with the segments file of {key}"
    if complete:
        assert set(per_video) <= set(keys), "segments landed without their videos row"
        assert len(segment_files) == len(video_files), "a video has one of its two files only"
    for table, column in (("words", "word_count"), ("utterances", "utterance_count")):
        rows_per_video = _rows_per_video(db, out, table) if any(p.parts[len(out.parts)] == table for p in files) else {}
        for video in videos:
            key = (video["index_id"], video["video_id"])
            assert rows_per_video.get(key, 0) == (video.get(column) or 0), f"{column} disagrees with the {table} file of {key}"
    return LakeState(videos=videos, segment_rows=sum(per_video.values()))


def _rows_per_video(db, out: Path, table: str) -> dict[tuple[str, str], int]:
    """Rows of one optional table (words, utterances) per video; duplicated ordinals fail the check."""
    ordinal = table[:-1]
    total, distinct = db.sql(
        f"select count(*), count(distinct (index_id, video_id, {ordinal})) from read_parquet('{out}/{table}/**/*.parquet', {HIVE})"
    ).fetchall()[0]
    assert total == distinct, f"{total - distinct} duplicated {table} rows"
    return {
        (i, v): n
        for i, v, n in db.sql(
            f"select index_id, video_id, count(*) from read_parquet('{out}/{table}/**/*.parquet', {HIVE}) group by all"
        ).fetchall()
    }


def landed_count(out: Path) -> int:
    """Videos rows published so far (commit markers), without reading them."""
    return sum(1 for p in Path(out).glob("videos/index_id=*/*.parquet"))


def cli_env(server, prefect_api_url: str, **extra: str) -> dict[str, str]:
    """The environment a user would set for ``reelscribe run`` against ``server``."""
    env = dict(os.environ)
    env.update(
        TWELVELABS_BASE_URL=server.base_url,
        TWELVE_LABS_API_KEY=server.api_key,
        PREFECT_API_URL=prefect_api_url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),  # this source tree
    )
    env.update(extra)
    return env


def start_cli(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """``reelscribe <args>`` in a new process group (so the test can kill it and all its children)."""
    handle = open(log, "ab")
    try:
        return subprocess.Popen(
            [str(REELSCRIBE), *args], env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
            stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )
    finally:
        handle.close()


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the process and every child in its group, as a crash or an OOM kill would."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(30)


def prefect_api_url() -> str:
    """The API the session's Prefect test harness serves, for flows run in subprocesses."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url, "the prefect_engine fixture must be active"
    return url

