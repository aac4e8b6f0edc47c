"""The exactly-once lookup costs one list request per upload, at the 200th same-named video as at the first.

Real parts: the shared local server, behind a loopback proxy that counts every request (and
loses one answer on purpose). Every video is called ``video.mp4``, as in a camera dump.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote

import pytest
from pydantic import SecretStr

from reelscribe.core.ingest_paths.asset_upload import ensure_asset
from reelscribe.core.claims import ClaimStore
from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.ingest import META_SHA256, plain_name, resolve_index, upload_name
from reelscribe.core.ingest_paths.tasks_path import submit_video
from reelscribe.core.settings import Settings
from reelscribe.core.sources import VideoSource, content_sha256
from tests.faultproxy import FORWARD, Fault, FaultProxy
from tests.media import make_video

VIDEOS = 200


class Counting:
    """A proxy rule: counts requests by (method, path with query); loses the answer of the ``lose_post``-th POST."""

    def __init__(self, lose_post: int | None = None) -> None:
        self.seen: Counter[tuple[str, str]] = Counter()
        self.posts = 0
        self.lose_post = lose_post
        self._lock = threading.Lock()

    def __call__(self, method: str, path: str) -> Fault:
        with self._lock:
            self.seen[(method, unquote(path))] += 1
            if method == "POST":
                self.posts += 1
                if self.posts == self.lose_post:
                    return Fault("lost_answer")  # the server creates it; the answer never arrives
        return FORWARD

    def take(self) -> Counter[tuple[str, str]]:
        with self._lock:
            seen, self.seen = self.seen, Counter()
        return seen

    def count(self, method: str, route: str, seen: Counter[tuple[str, str]]) -> int:
        return sum(n for (m, path), n in seen.items() if m == method and path.split("?", 1)[0] == route)


@pytest.fixture
def counted(pipeline_server):
    rule = Counting()
    with FaultProxy(pipeline_server.root_url, rule) as proxy:
        settings = Settings(base_url=proxy.base_url, api_key=SecretStr(pipeline_server.api_key))
        with TwelveLabsClient(settings) as client:
            yield client, rule


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> bytes:
    return make_video(tmp_path_factory.mktemp("clip") / "clip.mp4", 5.0).read_bytes()


def same_named(root: Path, clip: bytes, n: int, tag: str) -> VideoSource:
    """``<root>/<tag>/<n>/video.mp4``: the clip with a trailer of its own, so each is new content."""
    path = root / tag / str(n) / "video.mp4"
    path.parent.mkdir(parents=True)
    path.write_bytes(clip + f"reelscribe-test {root} {tag} {n}".encode())
    return VideoSource(str(path), "file")


def lookups_by(name: str, seen: Counter[tuple[str, str]]) -> int:
    """``GET /assets`` pages that asked for exactly this file name."""
    return sum(n for (m, path), n in seen.items() if m == "GET" and path.startswith("/v1.3/assets?") and f"filename={name}&" in f"{path}&")


def test_two_hundred_same_named_videos_cost_the_same_lookup_each(counted, tmp_path, clip):
    """8 in flight, as a flow uploads; the 100th create's answer is lost on the way back."""
    client, rule = counted
    sources = [same_named(tmp_path, clip, n, "assets") for n in range(VIDEOS)]
    hashes = [content_sha256(s) for s in sources]
    rule.take()
    rule.lose_post = rule.posts + VIDEOS // 2
    with ThreadPoolExecutor(8) as pool:
        assets = list(pool.map(
            lambda job: ensure_asset(client, job[0], job[1], direct_limit=client.settings.direct_upload_limit, sleep=lambda s: None),
            zip(sources, hashes),
        ))
    seen = rule.take()
    names = [upload_name(s, h) for s, h in zip(sources, hashes)]
    assert [a.filename for a in assets] == names == [f"video-{h[:8]}.mp4" for h in hashes]
    # Each upload: one page, by its own name; the 200th as the 1st (sending plain names, the
    # 200th alone would list 4 pages of 50).
    own = [lookups_by(name, seen) for name in names]
    assert sorted(own) == [1] * (VIDEOS - 1) + [2]  # the lost answer: one more lookup finds it
    assert lookups_by("video.mp4", seen) == 0
    lists = rule.count("GET", "/v1.3/assets", seen)
    assert lists == VIDEOS + 1 and lists / VIDEOS <= 1.1
    assert rule.count("POST", "/v1.3/assets", seen) == VIDEOS  # the lost one is not sent again
    lost = names[own.index(2)]
    assert [(a.user_metadata or {}).get(META_SHA256) for a in client.iter_assets(filename=lost)] == [hashes[own.index(2)]]


def test_an_asset_already_sent_is_found_by_one_list_request_not_sent_again(counted, tmp_path, clip):
    client, rule = counted
    source = same_named(tmp_path, clip, 0, "again")
    sha256 = content_sha256(source)
    first = ensure_asset(client, source, sha256, direct_limit=client.settings.direct_upload_limit)
    rule.take()
    found = ensure_asset(client, source, sha256, direct_limit=client.settings.direct_upload_limit)
    seen = rule.take()
    assert found.id == first.id and plain_name(source) == "video.mp4"
    assert (rule.count("GET", "/v1.3/assets", seen), rule.count("POST", "/v1.3/assets", seen)) == (1, 0)


def test_the_tasks_path_sends_the_hashed_name_and_finds_its_task_by_one_list_request(counted, tmp_path, clip):
    client, rule = counted
    index = resolve_index(client, None, f"lookup-{tmp_path.name[-20:]}")
    claims = ClaimStore(str(tmp_path / "lake"))
    sources = [same_named(tmp_path, clip, n, "tasks") for n in range(2)]
    hashes = [content_sha256(s) for s in sources]
    created = [submit_video(client, index.id, s, h, claims=claims) for s, h in zip(sources, hashes)]
    assert not any(c.reused for c in created)
    for source, sha, submission in zip(sources, hashes, created):
        assert [t.id for t in client.iter_tasks(index.id, filename=f"video-{sha[:8]}.mp4")] == [submission.job_id]
    rule.take()
    again = submit_video(client, index.id, sources[0], hashes[0], claims=ClaimStore(str(tmp_path / "another-lake")))
    seen = rule.take()
    assert again.reused and again.job_id == created[0].job_id
    assert (rule.count("GET", "/v1.3/tasks", seen), rule.count("POST", "/v1.3/tasks", seen)) == (1, 0)
    # The lake that sent it remembers the task: found by its id, with no list request at all.
    remembered = submit_video(client, index.id, sources[0], hashes[0], claims=claims)
    seen = rule.take()
    assert remembered.reused and remembered.job_id == created[0].job_id
    assert (rule.count("GET", f"/v1.3/tasks/{created[0].job_id}", seen), rule.count("GET", "/v1.3/tasks", seen),
            rule.count("POST", "/v1.3/tasks", seen)) == (1, 0, 0)
