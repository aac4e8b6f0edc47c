"""The worker pool both indexing paths run on: recovery first, a crash becomes the row's failure and
the thread goes on, a transcription stopped by shutdown is left alone, stop ends every thread."""

from __future__ import annotations

import queue
import threading

from reelscribe.server.asr import TranscriptionStopped
from reelscribe.server.config import ServerConfig
from reelscribe.server.pool import Stage, WorkerPool

WAIT = 30.0


def _pool(tmp_path) -> WorkerPool:
    return WorkerPool(ServerConfig(data_dir=tmp_path, api_keys=("k",)))


def test_recovery_runs_before_any_claim_and_every_row_is_processed_once(tmp_path):
    events: list[str] = []
    rows: queue.SimpleQueue[str] = queue.SimpleQueue()
    done: queue.SimpleQueue[str] = queue.SimpleQueue()

    def claim() -> str | None:
        events.append("claim")
        try:
            return rows.get_nowait()
        except queue.Empty:
            return None

    pool = _pool(tmp_path)
    pool.add(Stage("work", claim, done.put, lambda row, exc: None, threads=3), recover=lambda: events.append("recover"))
    for row in ("a", "b"):
        rows.put(row)
    pool.start()
    try:
        got = {done.get(timeout=WAIT), done.get(timeout=WAIT)}
        rows.put("c")
        pool.wake("work")
        got.add(done.get(timeout=WAIT))
    finally:
        pool.stop()
    assert events[0] == "recover" and got == {"a", "b", "c"}
    assert done.empty()


def test_a_crash_is_the_rows_failure_and_the_stage_goes_on_while_a_stop_is_not(tmp_path):
    rows: queue.SimpleQueue[str] = queue.SimpleQueue()
    crashed: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
    done: queue.SimpleQueue[str] = queue.SimpleQueue()

    def claim() -> str | None:
        try:
            return rows.get_nowait()
        except queue.Empty:
            return None

    def process(row: str) -> None:
        if row == "bad":
            raise ValueError(row)
        if row == "stopped":
            raise TranscriptionStopped()
        done.put(row)

    pool = _pool(tmp_path)
    pool.add(Stage("work", claim, process, lambda row, exc: crashed.put((row, type(exc).__name__))), recover=lambda: None)
    for row in ("bad", "stopped", "good"):
        rows.put(row)
    pool.start()
    try:
        assert done.get(timeout=WAIT) == "good"
    finally:
        pool.stop()
    assert crashed.get_nowait() == ("bad", "ValueError")
    assert crashed.empty()


def test_stop_ends_every_thread_and_a_held_indexing_gives_up(tmp_path):
    hold = tmp_path / "hold"
    hold.touch()
    pool = WorkerPool(ServerConfig(data_dir=tmp_path, api_keys=("k",), fault_hold_file=hold))
    started = threading.Event()
    outcome: queue.SimpleQueue[bool] = queue.SimpleQueue()
    claimed = iter(["row"])

    def process(row: str) -> None:
        started.set()
        outcome.put(pool.delayed())

    pool.add(Stage("work", lambda: next(claimed, None), process, lambda row, exc: None, threads=2), recover=lambda: None)
    pool.start()
    assert started.wait(WAIT)
    pool.stop()
    assert outcome.get(timeout=WAIT) is True
    assert not [t for t in threading.enumerate() if t.name.startswith("work-")]
