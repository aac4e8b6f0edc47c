"""Two runs landing the same index at once: one task per video, whole files, right row counts.

Both runs start together on overlapping sources, into the same new index (by name) and the same
lake: once as two threads of one process, once as two ``reelscribe run`` processes. Runs never
start at exactly the same moment, so a proxy holds the first run's uploads until the second run
uploads too: their lookups and uploads of the shared videos then really overlap.
"""

from __future__ import annotations

import threading
import uuid
from contextlib import contextmanager

import pytest

from reelscribe.flows.transcribe import transcribe_videos
from reliability_kit import (
    assert_lake_sound,
    cli_env,
    distinct_videos,
    index_id_named,
    prefect_api_url,
    server_tasks,
    sha256_of,
    start_cli,
)
from tests.faultproxy import FORWARD, Fault, FaultProxy

pytestmark = pytest.mark.usefixtures("prefect_engine")

CONCURRENCY = 4


class OverlapGate:
    """Makes two runs overlap where it matters, whenever each of them starts.

    ``POST /indexes`` waits until both runs send one (both then create the same index name); every
    ``POST /tasks`` waits until more arrived than one run can send at once (``concurrency + 1``),
    so the second run looks up and uploads shared videos while the first run's uploads of them are
    still in flight. Each gate opens anyway after ``timeout`` seconds.
    """

    def __init__(self, concurrency: int = CONCURRENCY, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self._thresholds = {"indexes": 2, "tasks": concurrency + 1}
        self._arrived = {"indexes": 0, "tasks": 0}
        self._opened = {"indexes": threading.Event(), "tasks": threading.Event()}
        self._lock = threading.Lock()

    def rule(self, method: str, path: str) -> Fault:
        kind = path.rsplit("/", 1)[-1]
        if method == "POST" and kind in self._arrived:
            with self._lock:
                self._arrived[kind] += 1
                if self._arrived[kind] >= self._thresholds[kind]:
                    self._opened[kind].set()
            self._opened[kind].wait(self.timeout)
        return FORWARD

    @property
    def opened(self) -> bool:
        return all(event.is_set() for event in self._opened.values())


@contextmanager
def gated(server):
    gate = OverlapGate()
    with FaultProxy(server.root_url, gate.rule) as proxy:
        yield proxy, gate


def _overlapping(tmp_path, count: int = 8):
    """Two source lists sharing the middle clips, ordered so that both start on shared ones."""
    clips = distinct_videos(tmp_path / "in", count)
    first = clips[: count - 2]
    second = clips[2 : count - 2] + clips[count - 2 :]
    return clips, [str(p) for p in first], [str(p) for p in second]


def _assert_one_of_each(server, index_name: str, out, clips) -> None:
    expected = {sha256_of(p) for p in clips}
    tasks = server_tasks(server, index_id_named(server, index_name))
    hashes = [t["user_metadata"]["reelscribe_sha256"] for t in tasks]
    assert len(hashes) == len(set(hashes)) == len(clips), f"{len(tasks)} tasks for {len(clips)} videos"
    assert set(hashes) == expected
    lake = assert_lake_sound(out)
    assert len(lake.videos) == len(clips) and lake.hashes == expected
    assert {v["video_id"] for v in lake.videos} == {t["video_id"] for t in tasks}


@pytest.mark.slow
def test_two_flows_in_threads_land_one_index_at_once(rapi, tmp_path, monkeypatch):
    clips, first, second = _overlapping(tmp_path)
    name, out = f"twins-{uuid.uuid4().hex[:8]}", tmp_path / "lake"
    start = threading.Barrier(2)
    results: dict[str, object] = {}

    def run(label: str, sources: list[str]) -> None:
        start.wait()
        try:
            results[label] = transcribe_videos(upload="tasks", sources=sources, index_name=name, out=str(out), max_concurrency=CONCURRENCY)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            results[label] = exc

    threads = [threading.Thread(target=run, args=(label, sources)) for label, sources in (("a", first), ("b", second))]
    with gated(rapi) as (proxy, gate):
        monkeypatch.setenv("TWELVELABS_BASE_URL", proxy.base_url)
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
    assert gate.opened, "the runs did not overlap"
    assert not any(t.is_alive() for t in threads), "a flow is still running after 300 s"
    for label, sources in (("a", first), ("b", second)):
        reports = results[label]
        assert isinstance(reports, list), f"flow {label} failed: {reports!r}"
        assert len(reports) == len(sources) and {r.status for r in reports} <= {"landed", "skipped"}
    _assert_one_of_each(rapi, name, out, clips)


@pytest.mark.slow
def test_two_cli_processes_land_one_index_at_once(rapi, tmp_path):
    clips, first, second = _overlapping(tmp_path)
    name, out = f"twins-{uuid.uuid4().hex[:8]}", tmp_path / "lake"
    with gated(rapi) as (proxy, gate):
        env = cli_env(rapi, prefect_api_url(), TWELVELABS_BASE_URL=proxy.base_url)
        args = ["--index-name", name, "--out", str(out), "--concurrency", str(CONCURRENCY), "--upload", "tasks"]
        runs = [start_cli(["run", *sources, *args], env, tmp_path / f"{label}.log") for label, sources in (("a", first), ("b", second))]
        codes = [run.wait(300) for run in runs]
    assert gate.opened, "the runs did not overlap"
    logs = [(tmp_path / f"{label}.log").read_text() for label in ("a", "b")]
    assert codes == [0, 0], logs
    _assert_one_of_each(rapi, name, out, clips)
