"""The indexing wait's schedule, on a fake clock: no server, no sleeping."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from reelscribe.core.errors import IndexingFailed, IndexingTimedOut
from reelscribe.core.models import AssetTranscription, Task
from reelscribe.core.ingest_paths.assets_path import retrieve_asset_views
from reelscribe.core.waiting import WaitHistory, WaitOptions, wait_until_indexed

T0 = 1_700_000_000.0


class FakeServer:
    """A task that turns ready ``ready_after`` seconds after ``created`` (both on the fake clock)."""

    base_url = "http://fake/v1.3"

    def __init__(self, clock: "FakeClock", ready_after: float, created: float | None = None, fail: bool = False, extra: dict | None = None):
        self.clock = clock
        self.ready_at = (clock.now if created is None else created) + ready_after
        self.fail = fail
        self.extra = extra or {}
        self.polls: list[float] = []

    def get_task(self, task_id: str) -> Task:
        now = self.clock.now
        self.polls.append(now)
        done = now >= self.ready_at
        status = ("failed" if self.fail else "ready") if done else "indexing"
        stamp = self.ready_at if done else now
        return Task.model_validate({
            "_id": task_id, "status": status, "video_id": "v",
            "updated_at": datetime.fromtimestamp(stamp, timezone.utc).isoformat(), **self.extra,
        })


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


def wait(server: FakeServer, clock: FakeClock, history: WaitHistory, **options) -> Task:
    return wait_until_indexed(
        server, "t" * 24, WaitOptions(**options), clock=clock, sleep=clock.sleep, wall=clock, history=history
    )


def test_without_history_polls_at_once_then_backs_off_to_the_sdk_interval():
    clock, history = FakeClock(), WaitHistory()
    server = FakeServer(clock, ready_after=30)
    wait(server, clock, history)
    gaps = [b - a for a, b in zip(server.polls, server.polls[1:])]
    assert server.polls[0] == T0
    assert gaps[0] == pytest.approx(1.0, rel=0.11)
    assert all(b >= a * 0.8 for a, b in zip(gaps, gaps[1:]))
    assert max(gaps) <= 5.0 * 1.1
    assert server.polls[-1] - (T0 + 30) <= 5.5


def test_learned_first_poll_needs_one_request_per_video():
    clock, history = FakeClock(), WaitHistory()
    for _ in range(3):
        wait(FakeServer(clock, ready_after=2.5), clock, history)
    server = FakeServer(clock, ready_after=2.4)
    wait(server, clock, history)
    assert len(server.polls) == 1
    assert 0 <= server.polls[0] - server.ready_at < 0.2


def test_learned_first_poll_too_early_falls_back_to_quick_polls():
    clock, history = FakeClock(), WaitHistory()
    for _ in range(3):
        wait(FakeServer(clock, ready_after=2.0), clock, history)
    began = clock.now
    server = FakeServer(clock, ready_after=2.5)
    wait(server, clock, history)
    assert server.polls[0] == pytest.approx(began + 2.0)
    assert len(server.polls) == 2  # then first_poll (1 s ± 10 % jitter) later
    assert server.polls[-1] - server.ready_at < 0.7


def test_waits_that_start_after_their_task_finished_stop_deferring():
    clock, history = FakeClock(), WaitHistory()
    for _ in range(3):
        wait(FakeServer(clock, ready_after=4.0), clock, history)
    assert history.first_delay(FakeServer.base_url) == pytest.approx(4.0, abs=0.01)
    for _ in range(4):  # each wait starts after its task is ready (created 5 s before)
        wait(FakeServer(clock, ready_after=1.0, created=clock.now - 5), clock, history)
    assert history.first_delay(FakeServer.base_url) is None
    server = FakeServer(clock, ready_after=1.0, created=clock.now - 5)
    began = clock.now
    wait(server, clock, history)
    assert server.polls == [began]


def test_learning_can_be_turned_off():
    clock, history = FakeClock(), WaitHistory()
    for _ in range(3):
        wait(FakeServer(clock, ready_after=2.5), clock, history, learn=False)
    assert history.first_delay(FakeServer.base_url) is None


def test_server_estimated_time_sets_the_next_poll():
    clock, history = FakeClock(), WaitHistory()
    eta = datetime.fromtimestamp(T0 + 12, timezone.utc).isoformat().replace("+00:00", "Z")
    server = FakeServer(clock, ready_after=12, extra={"estimated_time": eta})
    wait(server, clock, history)
    assert server.polls == [T0, pytest.approx(T0 + 12)]


def test_estimated_time_in_the_past_is_ignored():
    clock, history = FakeClock(), WaitHistory()
    eta = datetime.fromtimestamp(T0 - 60, timezone.utc).isoformat()
    server = FakeServer(clock, ready_after=3, extra={"estimated_time": eta})
    wait(server, clock, history)
    assert 3 <= len(server.polls) <= 5


def test_failed_and_deadline_outcomes_are_typed():
    clock, history = FakeClock(), WaitHistory()
    with pytest.raises(IndexingFailed):
        wait(FakeServer(clock, ready_after=1, fail=True), clock, history)
    with pytest.raises(IndexingTimedOut):
        wait(FakeServer(clock, ready_after=100), clock, history, max_wait=10)
    assert clock.now <= T0 + 1 + 10 + 6


class PendingWords:
    """An asset whose word-level transcription stays ``processing``."""

    def __init__(self, clock: "FakeClock") -> None:
        self.clock = clock
        self.polls: list[float] = []

    def get_asset_transcription(self, asset_id: str, views: tuple[str, ...]) -> AssetTranscription:
        self.polls.append(self.clock.now)
        return AssetTranscription(status="processing")


def test_the_word_wait_takes_the_batchs_wait_options():
    """The flow's ``max_wait_seconds`` (``WaitOptions.max_wait``) bounds the word wait, with the same poll steps."""
    clock = FakeClock()
    server = PendingWords(clock)
    options = WaitOptions(max_wait=30, first_poll=1, poll_factor=2, max_poll=5)
    assert retrieve_asset_views(server, "a" * 24, options, clock=lambda: clock.now, sleep=clock.sleep) is None
    assert server.polls[-1] - T0 == pytest.approx(30, abs=0.01)
    steps = [b - a for a, b in zip(server.polls, server.polls[1:])]
    assert all(s == pytest.approx(want, rel=0.11) for s, want in zip(steps, [1, 2, 4, 5, 5]))
