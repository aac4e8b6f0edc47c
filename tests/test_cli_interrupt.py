"""Ctrl-C during ``reelscribe run``, as a terminal sends it: SIGINT to the command's whole process group.

The command must say in one line what landed and what did not, exit 130 without a traceback, leave
its flow run Cancelled in Prefect, and a second run must land the rest, each video once.

The first test runs against the session's local server (through a loopback proxy) and Prefect
server, so the flow run's state is read from the Prefect API. The proxy lets the first video's
indexing be seen, and tells every status poll of the others that they are still indexing: they
cannot finish in that run, whatever the machine's speed. The second test takes the
default path (the embedded server and Prefect's temporary server, both started by the command):
neither may be stopped by the signal before the command has ended its run, so the run's state is
read from the temporary server's own database once the command has exited.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from tests.conftest import JFK
from tests.faultproxy import FORWARD, Fault, FaultProxy
from tests.media import make_video

BIN = Path(sys.executable).parent / "reelscribe"
TASK_POLL = re.compile(r"^/v1\.3/tasks/([^/?]+)")
INTERRUPTED = re.compile(r"^reelscribe: interrupted: (\d+) landed, (\d+) not finished; run again to finish$")


class FirstTaskOnly:
    """Status polls of the first task seen pass; every other task is said to be still indexing."""

    def __init__(self) -> None:
        self.first: str | None = None
        self.held = 0
        self._lock = threading.Lock()

    def __call__(self, method: str, path: str) -> Fault:
        match = TASK_POLL.search(path)
        if method != "GET" or match is None:
            return FORWARD
        with self._lock:
            self.first = self.first or match.group(1)
            if match.group(1) == self.first:
                return FORWARD
            self.held += 1
        return Fault(kind="mutate", mutate=lambda task: {**task, "status": "indexing"})


def batch(folder: Path) -> list[Path]:
    folder.mkdir()
    videos = [folder / "a-jfk.mp4"]
    shutil.copy(JFK, videos[0])
    for i, seconds in enumerate((5, 6, 7), start=1):
        videos.append(make_video(folder / f"b{i}-tone.mp4", seconds, audio="tone"))
    return videos


def start_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """The command as a shell starts it: the leader of a process group of its own (a terminal's foreground job)."""
    return subprocess.Popen([str(BIN), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True)


def ctrl_c_after_first_line(process: subprocess.Popen) -> tuple[str, str, str]:
    """Read the first video's line, send SIGINT to the whole group (as a terminal does), collect the rest."""
    first = process.stdout.readline()
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=600)
    return first, out, err


def landed_sources(lake: Path) -> list[str]:
    return [row[0] for row in duckdb.sql(
        f"select source from read_parquet('{lake}/videos/**/*.parquet', hive_partitioning = true) order by source"
    ).fetchall()]


def assert_one_interrupted_line(err: str, total: int) -> tuple[int, int]:
    assert "Traceback" not in err and "ConnectError" not in err, err[-4000:]
    lines = [line for line in err.splitlines() if not line.startswith("reelscribe: no API configured")]
    assert len(lines) == 1, err[-4000:]
    match = INTERRUPTED.match(lines[0])
    assert match, lines[0]
    landed, not_finished = int(match.group(1)), int(match.group(2))
    assert landed >= 1 and landed + not_finished == total, lines[0]
    return landed, not_finished


def flow_run_states(name_like: str) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=name_like)))
    return [run.state.type.value for run in runs]


def test_ctrl_c_says_what_landed_exits_130_and_the_run_ends_cancelled(tmp_path, pipeline_server, prefect_engine):
    videos = batch(tmp_path / "videos")
    index = f"ctrl-c-{tmp_path.name[-10:]}"
    gate = FirstTaskOnly()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWELVE", "PREFECT_", "REELSCRIBE_"))}
    env.update(PREFECT_API_URL=prefect_engine, TWELVE_LABS_API_KEY=pipeline_server.api_key,
               REELSCRIBE_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1")
    args = ["run", str(tmp_path / "videos"), "--out", "lake", "--upload", "tasks", "--index-name", index, "--concurrency", "8"]
    with FaultProxy(pipeline_server.root_url, rule=gate) as proxy:
        process = start_cli([*args, "--api-url", proxy.base_url], env, tmp_path)
        first, out, err = ctrl_c_after_first_line(process)

    assert process.returncode == 130, err[-4000:]
    assert gate.held >= 1, "the other videos were never held: the check proved nothing"
    landed, not_finished = assert_one_interrupted_line(err, len(videos))
    assert (landed, not_finished) == (1, 3), err
    assert first.startswith("landed\t") and out == "", (first, out)
    assert flow_run_states(index) == ["CANCELLED"]

    again = subprocess.run([str(BIN), *args, "--api-url", pipeline_server.base_url], capture_output=True, text=True,
                           env=env, cwd=tmp_path, timeout=600)
    assert again.returncode == 0, again.stderr[-4000:]
    assert landed_sources(tmp_path / "lake") == sorted(str(v) for v in videos), "each video lands once"
    assert {line.split("\t")[0] for line in again.stdout.splitlines()} <= {"landed", "skipped"}, again.stdout


@pytest.mark.slow
def test_ctrl_c_on_the_default_path_leaves_its_servers_to_end_the_run(tmp_path):
    """No API, no Prefect server configured: the command starts both; Ctrl-C reaches only the command."""
    videos = batch(tmp_path / "videos")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWELVE", "PREFECT_", "REELSCRIBE_"))}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), REELSCRIBE_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1")
    # A longer video after the first ones, so that the batch is still going when the first has landed.
    videos.append(make_video(tmp_path / "videos" / "c-long-tone.mp4", 60, audio="tone"))
    process = start_cli(["run", str(tmp_path / "videos"), "--out", "lake", "--concurrency", "2"], env, tmp_path)
    first, out, err = ctrl_c_after_first_line(process)

    assert process.returncode == 130, err[-4000:]
    assert first.startswith("landed\t"), (first, err[-4000:])
    landed, _ = assert_one_interrupted_line(err, len(videos))
    with sqlite3.connect(tmp_path / "prefect-home" / "prefect.db") as db:
        states = [row[0] for row in db.execute("select state_type from flow_run")]
    assert states == ["CANCELLED"], states
    assert len(landed_sources(tmp_path / "lake")) >= landed

    again = subprocess.run([str(BIN), "run", str(tmp_path / "videos"), "--out", "lake"], capture_output=True,
                           text=True, env=env, cwd=tmp_path, timeout=900)
    assert again.returncode == 0, again.stderr[-4000:]
    assert landed_sources(tmp_path / "lake") == sorted(str(v) for v in videos), "each video lands once"
