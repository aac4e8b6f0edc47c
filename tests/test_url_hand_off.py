"""URL hand-off: an s3:// video reaches the API as a presigned URL, read once by the client (for its hash).

Real parts: moto's S3 server behind a loopback proxy that counts every object request, a local
server of its own that may fetch from loopback (``--allow-url-network 127.0.0.1/32``), and the
real flow on the session's Prefect API.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import pyarrow.dataset as ds
import pytest
import requests

from reelscribe.core.errors import ConfigError
from reelscribe.core.handoff import presigned_url, sent_as
from reelscribe.core.sources import VideoSource
from tests.conftest import JFK
from tests.faultproxy import FORWARD, Fault, FaultProxy

KEY = "inbox/jfk.mp4"


class ObjectReads:
    """A proxy rule: counts ``GET``s of one object, by the client (signed headers) or by a presigned URL (signed query)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.reads: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, method: str, path: str) -> Fault:
        route, _, query = path.partition("?")
        if method == "GET" and route == self.path:
            with self._lock:
                self.reads["presigned" if "Signature=" in query else "client"] += 1
        return FORWARD

    def take(self) -> Counter[str]:
        with self._lock:
            reads, self.reads = self.reads, Counter()
        return reads


@pytest.fixture(scope="module")
def fetching_server(tmp_path_factory):
    """A local server that may fetch URLs on loopback, where moto (and the proxy before it) listen."""
    from reelscribe.server.launcher import EmbeddedServer

    server = EmbeddedServer(tmp_path_factory.mktemp("fetching-server"), extra_args=("--allow-url-network", "127.0.0.1/32"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def counted_bucket(moto_s3, monkeypatch):
    """A bucket holding ``inbox/jfk.mp4``, reached by the code under test only through the counting proxy."""
    import s3fs

    bucket = moto_s3.new_bucket("handoff")
    bucket.put(KEY, JFK.read_bytes())
    rule = ObjectReads(f"/{bucket.name}/{KEY}")
    with FaultProxy(moto_s3.endpoint_url, rule) as proxy:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            monkeypatch.delenv(name, raising=False)
        for name, value in {**moto_s3.env(), "AWS_ENDPOINT_URL": proxy.root_url}.items():
            monkeypatch.setenv(name, value)
        s3fs.S3FileSystem.clear_instance_cache()
        yield bucket, rule
    s3fs.S3FileSystem.clear_instance_cache()


def rows(out, table: str, columns: list[str]) -> list[tuple]:
    found = ds.dataset(f"{out}/{table}", format="parquet", partitioning="hive").to_table(columns=columns)
    return sorted(zip(*(found[c].to_pylist() for c in columns)))


@pytest.mark.usefixtures("prefect_engine")
def test_a_presigned_url_lands_the_same_rows_as_a_stream_with_one_client_read(fetching_server, counted_bucket, tmp_path, monkeypatch):
    from reelscribe.flows.transcribe import transcribe_videos

    bucket, rule = counted_bucket
    monkeypatch.setenv("TWELVE_LABS_API_KEY", fetching_server.api_key)
    source = bucket.url(KEY)
    tag = uuid.uuid4().hex[:8]
    lakes, reads = {}, {}
    for upload, hand_off in (("tasks", "stream"), ("tasks", "url"), ("assets", "url")):
        out = tmp_path / f"{upload}-{hand_off}"
        rule.take()
        reports = transcribe_videos(
            sources=[source], index_name=f"handoff-{upload}-{hand_off}-{tag}", out=str(out),
            api_url=fetching_server.base_url, upload=upload, hand_off=hand_off,
        )
        assert [(r.source, r.status) for r in reports] == [(source, "landed")], reports
        lakes[upload, hand_off], reads[upload, hand_off] = out, rule.take()

    # Streamed: the hash, then the upload, each a read by the worker. Handed off: the hash only;
    # the server fetches the object itself, once.
    assert reads["tasks", "stream"] == Counter(client=2)
    assert reads["tasks", "url"] == reads["assets", "url"] == Counter(client=1, presigned=1)

    segments, videos = ["segment", "start", "end", "value"], ["source", "content_sha256", "duration", "segment_count"]
    streamed = lakes["tasks", "stream"]
    assert rows(lakes["tasks", "url"], "segments", segments) == rows(streamed, "segments", segments)
    assert rows(lakes["tasks", "url"], "videos", videos) == rows(streamed, "videos", videos)
    assert [r[0] for r in rows(streamed, "videos", videos)] == [source]
    assert rows(lakes["assets", "url"], "segments", ["value"]) == rows(streamed, "segments", ["value"])
    (asset_id,) = [r[0] for r in rows(lakes["assets", "url"], "videos", ["asset_id"])]
    asset = requests.get(f"{fetching_server.base_url}/assets/{asset_id}", headers={"x-api-key": fetching_server.api_key}, timeout=10).json()
    assert asset["method"] == "url" and asset["filename"].startswith("jfk-") and asset["filename"].endswith(".mp4")


def test_only_object_store_sources_are_handed_off(tmp_path):
    local = VideoSource(str(JFK), "file")
    url = VideoSource("https://example.com/v/jfk.mp4", "url")
    assert sent_as(local, "url", 60) is local and sent_as(url, "url", 60) is url
    with pytest.raises(ConfigError, match="cannot sign a URL"):
        presigned_url(f"file://{JFK}", 60)
    with pytest.raises(ConfigError, match="stream, url"):
        sent_as(local, "push", 60)


def test_the_urls_lifetime_is_a_setting_of_whole_seconds_up_to_seven_days(monkeypatch):
    from reelscribe.core.settings import HAND_OFF_EXPIRY_ENV, HAND_OFF_EXPIRY_S, Settings

    assert Settings(base_url="http://127.0.0.1:1/v1.3").hand_off_expiry_s == HAND_OFF_EXPIRY_S == 6 * 3600
    monkeypatch.setenv(HAND_OFF_EXPIRY_ENV, "900")
    assert Settings(base_url="http://127.0.0.1:1/v1.3").hand_off_expiry_s == 900
    for bad in ("0", "-5", "soon", str(7 * 24 * 3600 + 1)):
        monkeypatch.setenv(HAND_OFF_EXPIRY_ENV, bad)
        with pytest.raises(ConfigError, match=f"{HAND_OFF_EXPIRY_ENV}=.*7 days"):
            Settings(base_url="http://127.0.0.1:1/v1.3")
