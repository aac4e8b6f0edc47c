"""A claim is renewed while its holder lives: an upload that outlasts the TTL is sent once.

The holder's ``POST /tasks`` is held at a fault proxy in front of the real local server until the
test releases it. Meanwhile the test steps an injected clock past the TTL, one heartbeat at a
time, and lets a second claimer of the same content look at the claim between beats: it must see
the claim alive every time, wait, and in the end find the holder's task instead of uploading.
"""

from __future__ import annotations

import hashlib
import threading
import uuid

from pydantic import SecretStr

from reelscribe.core.claims import ClaimStore
from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.ingest import resolve_index
from reelscribe.core.ingest_paths.tasks_path import submit_video
from reelscribe.core.settings import Settings
from reelscribe.core.sources import VideoSource
from tests.faultproxy import FORWARD, Fault, FaultProxy

TTL = 60.0
BEAT = 40.0  # < TTL: each step leaves the renewed claim alive; two steps pass the first expiry
WAIT = 60  # seconds: only a time-out, never a pacing


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class SteppedHeartbeat:
    """A heartbeat pause the test ends: ``beat`` moves the clock and waits for the renewal."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.parked = threading.Semaphore(0)
        self.go = threading.Semaphore(0)

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        self.parked.release()
        while not self.go.acquire(timeout=0.05):
            if stop.is_set():
                return True
        return stop.is_set()

    def started(self) -> None:
        assert self.parked.acquire(timeout=WAIT), "the heartbeat never started"

    def beat(self) -> None:
        self.clock.now += BEAT
        self.go.release()
        assert self.parked.acquire(timeout=WAIT), "the heartbeat did not renew"


class SteppedPolls:
    """The second claimer's sleep between looks: each look is let through and seen by the test."""

    def __init__(self) -> None:
        self.looked = threading.Semaphore(0)
        self.allowed = threading.Semaphore(0)
        self.free = threading.Event()

    def sleep(self, seconds: float) -> None:
        self.looked.release()
        while not self.free.is_set() and not self.allowed.acquire(timeout=0.05):
            pass

    def look(self) -> None:
        self.allowed.release()
        assert self.looked.acquire(timeout=WAIT), "the second claimer took the claim over instead of waiting"


def test_an_upload_longer_than_the_ttl_is_sent_once(pipeline_server, tmp_path, jfk_copy):
    uploads: list[str] = []
    upload_arrived, upload_released = threading.Event(), threading.Event()

    def hold_uploads(method: str, path: str) -> Fault:
        if method == "POST" and path.split("?")[0] == "/v1.3/tasks":
            uploads.append(path)
            upload_arrived.set()
            assert upload_released.wait(WAIT)
        return FORWARD

    clock = Clock()
    heartbeat = SteppedHeartbeat(clock)
    polls = SteppedPolls()
    lake = str(tmp_path / "lake")
    holder_claims = ClaimStore(lake, ttl_s=TTL, clock=clock, heartbeat_wait=heartbeat.wait)
    waiter_claims = ClaimStore(lake, ttl_s=TTL, clock=clock, sleep=polls.sleep)
    source = VideoSource(str(jfk_copy), "file")
    sha = hashlib.sha256(jfk_copy.read_bytes()).hexdigest()
    results: dict[str, object] = {}

    with FaultProxy(pipeline_server.root_url, hold_uploads) as proxy:
        settings = Settings(base_url=proxy.base_url, api_key=SecretStr(pipeline_server.api_key))

        def submit(name: str, claims: ClaimStore) -> None:
            with TwelveLabsClient(settings) as client:
                results[name] = submit_video(client, index_id, source, sha, claims=claims)

        with TwelveLabsClient(settings) as client:
            index_id = resolve_index(client, None, f"lease-{uuid.uuid4().hex[:8]}").id
        holder = threading.Thread(target=submit, args=("holder", holder_claims))
        holder.start()
        heartbeat.started()
        assert upload_arrived.wait(WAIT)
        heartbeat.beat()
        heartbeat.beat()  # the clock is now past the claim's first expires_at
        waiter = threading.Thread(target=submit, args=("waiter", waiter_claims))
        waiter.start()
        assert polls.looked.acquire(timeout=WAIT), "the second claimer took the claim over instead of waiting"
        heartbeat.beat()
        polls.look()
        assert holder_claims.renewals == 3 and len(uploads) == 1
        upload_released.set()
        polls.free.set()
        holder.join(WAIT)
        waiter.join(WAIT)

    assert not holder.is_alive() and not waiter.is_alive()
    assert len(uploads) == 1
    assert results["holder"].reused is False
    assert results["waiter"].reused is True and results["waiter"].job_id == results["holder"].job_id
