"""One retry layer per operation: however deep a request sits, it is tried at most
``REELSCRIBE_HTTP_ATTEMPTS`` times in one run, against the real local server behind a fault proxy."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections import Counter

import pytest
from pydantic import SecretStr

from reelscribe.core.ingest_paths.asset_upload import ensure_asset
from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.errors import ApiServerError
from reelscribe.core.settings import HTTP_ATTEMPTS_ENV, Settings
from reelscribe.core.sources import VideoSource
from reelscribe.server.launcher import EmbeddedServer, PortTaken
from tests.faultproxy import FORWARD, Fault, FaultProxy

ATTEMPTS = 3


def refusing(matches):
    """A proxy rule answering ``503`` to every request ``matches(method, path)``, counting them."""
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def rule(method: str, path: str) -> Fault:
        if not matches(method, path):
            return FORWARD
        with lock:
            seen[path.split("?", 1)[0]] += 1
        return Fault("status", status=503)

    return rule, seen


@pytest.mark.parametrize(
    ("direct_limit", "refused"),
    [
        (1, lambda method, path: method == "PUT" and "/chunks/" in path),  # one multipart chunk
        (1 << 30, lambda method, path: method == "POST" and path.startswith("/v1.3/assets")),  # a direct upload
    ],
    ids=["multipart-chunk", "direct-upload"],
)
def test_a_request_failing_for_good_is_tried_at_most_http_attempts_times(
    pipeline_server, tmp_path, monkeypatch, direct_limit, refused
):
    monkeypatch.setenv(HTTP_ATTEMPTS_ENV, str(ATTEMPTS))
    video = tmp_path / "persistent-503.mp4"
    video.write_bytes(b"reelscribe retry layers " * 100)
    sha = hashlib.sha256(video.read_bytes()).hexdigest()
    rule, seen = refusing(refused)
    with FaultProxy(pipeline_server.root_url, rule, keep_host=True) as proxy:
        settings = Settings(base_url=proxy.base_url, api_key=SecretStr(pipeline_server.api_key))
        with TwelveLabsClient(settings, sleep=lambda s: None) as client, pytest.raises(ApiServerError):
            ensure_asset(client, VideoSource(str(video), "file"), sha, direct_limit=direct_limit, sleep=lambda s: None)
    assert len(seen) == 1, seen
    assert list(seen.values()) == [ATTEMPTS]


def test_a_taken_port_is_told_by_the_exit_status(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        server = EmbeddedServer(tmp_path / "data", port=port, startup_timeout=60)
        with pytest.raises(PortTaken, match="is taken"):
            server.start()
    assert not server.running
