"""The server crashes, loses a task, or never finishes: every video ends, with a reason, in bounded time."""

from __future__ import annotations

import re
import sqlite3
import threading
import uuid
from pathlib import Path

import pytest

from reelscribe.core.errors import BatchFailed
from reelscribe.flows.transcribe import transcribe_videos
from reliability_kit import assert_lake_sound, distinct_videos, index_id_named, point_at, server_get, server_tasks, sha256_of, wait_until

pytestmark = pytest.mark.usefixtures("prefect_engine")


@pytest.fixture
def use(monkeypatch):
    return lambda server: point_at(monkeypatch, server)


def _indexing_task(server, index_name: str) -> dict | None:
    """A task of that index the server is transcribing right now, if any."""
    found = server_get(server, "indexes", index_name=index_name).json().get("data")
    if not found:
        return None
    tasks = server_get(server, "tasks", index_id=found[0]["_id"], status="indexing").json()["data"]
    return tasks[0] if tasks else None


class CrashWhileIndexing(threading.Thread):
    """Once a task of the index is held at ``indexing`` (``--fault-hold-file``): SIGKILL the server,
    run ``meanwhile(task)``, release the hold and start it again. Deterministic: the task stays at
    ``indexing`` until this thread lets it go, however slow the machine."""

    def __init__(self, server, index_name: str, hold: Path, meanwhile=lambda task: None) -> None:
        super().__init__(daemon=True)
        self.server, self.index_name, self.hold, self.meanwhile = server, index_name, hold, meanwhile
        self.error: BaseException | None = None
        self.victim: dict | None = None

    def run(self) -> None:
        try:
            self.victim = wait_until(lambda: _indexing_task(self.server, self.index_name), 120, "a task held at indexing")
            self.server.kill()
            self.meanwhile(self.victim)
            self.hold.unlink()
            self.server.start()
        except BaseException as exc:  # noqa: BLE001 - re-raised by the test
            self.error = exc


def held_server(own_server, tmp_path: Path):
    """A one-worker server that holds work at ``indexing`` while ``tmp_path/hold`` exists."""
    hold = tmp_path / "hold"
    hold.touch()
    return own_server("--fault-hold-file", str(hold), "--workers", "1"), hold


@pytest.mark.slow
def test_server_killed_mid_indexing_resumes_and_the_flow_finishes(own_server, use, tmp_path):
    server, hold = held_server(own_server, tmp_path)
    use(server)
    port, name, out = server.port, f"crash-{uuid.uuid4().hex[:8]}", tmp_path / "lake"
    clips = distinct_videos(tmp_path / "in", 5)
    crash = CrashWhileIndexing(server, name, hold)
    crash.start()
    reports = transcribe_videos(upload="tasks", sources=[str(tmp_path / "in")], index_name=name, out=str(out), max_wait_seconds=120)
    crash.join(60)
    assert crash.error is None and crash.victim is not None and server.port == port
    assert [r.status for r in reports] == ["landed"] * len(clips)
    tasks = server_tasks(server, index_id_named(server, name))
    assert len(tasks) == len(clips) and {t["status"] for t in tasks} == {"ready"}
    assert "resuming 1 task(s) interrupted while indexing" in server.log_path.read_text()
    lake = assert_lake_sound(out)
    assert lake.hashes == {sha256_of(p) for p in clips}


@pytest.mark.slow
def test_a_task_the_server_loses_fails_that_video_with_a_reason_and_a_rerun_lands_it(own_server, use, tmp_path):
    server, hold = held_server(own_server, tmp_path)
    use(server)
    name, out = f"lost-{uuid.uuid4().hex[:8]}", tmp_path / "lake"
    clips = distinct_videos(tmp_path / "in", 3)

    def forget(task: dict) -> None:
        with sqlite3.connect(server.data_dir / "reelscribe-server.sqlite3") as db:
            assert db.execute("DELETE FROM tasks WHERE id = ?", (task["_id"],)).rowcount == 1

    crash = CrashWhileIndexing(server, name, hold, meanwhile=forget)
    crash.start()
    with pytest.raises(BatchFailed) as caught:
        transcribe_videos(upload="tasks", sources=[str(tmp_path / "in")], index_name=name, out=str(out), max_wait_seconds=120)
    crash.join(60)
    assert crash.error is None
    lost = crash.victim["_id"]
    (failed,) = [r for r in caught.value.reports if r.status == "failed"]
    assert re.search(rf"GET tasks/{lost} -> HTTP 404 \(resource_not_exist: .*{lost}", failed.error), failed.error
    assert sorted(r.status for r in caught.value.reports) == ["failed", "landed", "landed"]

    again = transcribe_videos(upload="tasks", sources=[str(tmp_path / "in")], index_name=name, out=str(out), max_wait_seconds=120)
    assert sorted(r.status for r in again) == ["landed", "skipped", "skipped"]
    tasks = server_tasks(server, index_id_named(server, name))
    assert len(tasks) == 3 and {t["status"] for t in tasks} == {"ready"}
    assert assert_lake_sound(out).hashes == {sha256_of(p) for p in clips}


@pytest.mark.timeout(300)
def test_indexing_that_never_finishes_ends_at_max_wait(own_server, use, tmp_path):
    """The server holds the work for good; the wait gives up at max_wait_seconds (a hang would hit the timeout)."""
    server, _ = held_server(own_server, tmp_path)
    use(server)
    distinct_videos(tmp_path / "in", 2)
    with pytest.raises(BatchFailed) as caught:
        transcribe_videos(upload="tasks", sources=[str(tmp_path / "in")], index_name=f"stuck-{uuid.uuid4().hex[:8]}", out=str(tmp_path / "lake"), max_wait_seconds=4)
    for report in caught.value.reports:
        assert report.status == "failed"
        match = re.fullmatch(r"IndexingTimedOut: indexing task [0-9a-f]{24} still '(pending|indexing)' after (\d+) s \(max wait reached\)", report.error)
        assert match, report.error
        assert int(match.group(2)) >= 4
    assert not (tmp_path / "lake" / "segments").exists() and not (tmp_path / "lake" / "videos").exists()
