"""Claims on a real S3 API (moto) and on local files: one holder at a time, stale claims taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from reelscribe.core.claims import ClaimStore

INDEX = "6650a1b2c3d4e5f6a7b8c9d0"
SHA = "ab" * 32


@pytest.fixture(params=["s3", "local"])
def lake_url(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "lake")
    bucket = request.getfixturevalue("s3_bucket")
    return bucket.url("lake")


def claim_files(store: ClaimStore) -> list[str]:
    store.fs.invalidate_cache()
    try:
        return sorted(p.rsplit("/", 1)[-1] for p in store.fs.find(store.root))
    except FileNotFoundError:
        return []


def test_a_second_holder_waits_until_the_first_releases_and_nothing_is_left_behind(lake_url):
    """Deterministic: the second acquirer's own ``sleep`` says it saw the claim held and is waiting."""
    waiting, entered = threading.Event(), threading.Event()

    def note_wait(seconds: float) -> None:
        waiting.set()
        time.sleep(0.01)

    second = ClaimStore(lake_url, poll_s=0.01, sleep=note_wait)

    def take_second() -> None:
        with second.hold(INDEX, SHA):
            entered.set()

    with ClaimStore(lake_url).hold(INDEX, SHA):
        thread = threading.Thread(target=take_second)
        thread.start()
        assert waiting.wait(60), "the second acquirer never waited"
        assert not entered.is_set(), "two holders of one claim at once"
    thread.join(60)
    assert entered.is_set()
    assert claim_files(ClaimStore(lake_url)) == []


def test_an_expired_claim_is_taken_over_by_exactly_one_of_several_machines(lake_url):
    now = [1000.0]
    dead = ClaimStore(lake_url, ttl_s=60, clock=lambda: now[0])
    # Another host: only the TTL can free its claim.
    dead_claim = dead.acquire(INDEX, SHA)
    path = dead._path(dead._folder(INDEX, SHA), dead_claim.generation)
    dead.fs.pipe_file(path, json.dumps({**dead_claim.__dict__, "host": "elsewhere"}).encode())

    sleeps: list[float] = []

    def blocked_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += 61  # the wait outlasts the TTL

    waiting = ClaimStore(lake_url, ttl_s=60, clock=lambda: now[0], sleep=blocked_sleep)
    claim = waiting.acquire(INDEX, SHA)
    assert sleeps and claim.generation == 1

    # Two takers of the same stale generation: the conditional create lets one through.
    now[0] += 61
    barrier = threading.Barrier(2)
    won: list[int] = []

    def take_over():
        store = ClaimStore(lake_url, ttl_s=60, clock=lambda: now[0], sleep=lambda s: time.sleep(0.01))
        generations = store._generations(store._folder(INDEX, SHA))
        barrier.wait()
        if store._create(store._folder(INDEX, SHA), store._new_claim(generations[-1] + 1)):
            won.append(1)

    threads = [threading.Thread(target=take_over) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert won == [1]
    assert claim_files(waiting) == ["00000000.json", "00000001.json", "00000002.json"]


def test_a_claim_of_a_killed_process_on_this_host_is_stale_at_once(lake_url):
    script = (
        "import sys, time; from reelscribe.core.claims import ClaimStore; "
        f"ClaimStore({lake_url!r}).acquire({INDEX!r}, {SHA!r}); print('held', flush=True); time.sleep(600)"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=os.environ.copy())
    try:
        assert child.stdout.readline().strip() == b"held"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    store = ClaimStore(lake_url, ttl_s=3600, sleep=lambda s: pytest.fail("waited for a dead process's claim"))
    with store.hold(INDEX, SHA) as claim:
        assert claim.generation == 1
    assert claim_files(store) == []


def test_an_empty_local_claim_file_holds_until_its_ttl(tmp_path):
    now = [time.time()]
    store = ClaimStore(str(tmp_path / "lake"), ttl_s=30, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + 31))
    folder = Path(store._folder(INDEX, SHA))
    folder.mkdir(parents=True)
    (folder / "00000000.json").touch()  # its writer died between create and write
    assert store.acquire(INDEX, SHA).generation == 1
