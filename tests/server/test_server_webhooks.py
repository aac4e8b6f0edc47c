"""The server's webhooks: the documented payload and signature, on both paths, retried on non-2xx.

A real server process posts to a real loopback receiver that answers 500 to an event's first
delivery, so every event shows its retry reusing the id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from assets_kit import index_asset, ready_asset
from reelscribe.server.cli import KEYS_ENV, parse_config
from reelscribe.server.config import WEBHOOK_SECRET_ENV
from reelscribe.server.launcher import EmbeddedServer
from reelscribe.server.webhooks import backoff, signature
from server_testkit import JFK

SECRET = "whsec-test-" + "s" * 20


class Receiver:
    """A loopback HTTP endpoint that records every delivery and fails each event's first attempt."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes, int]] = []
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.changed:
                    event_id = json.loads(body)["id"]
                    first = all(json.loads(b)["id"] != event_id for _, b, _ in receiver.deliveries)
                    status = 500 if first else 200
                    receiver.deliveries.append((dict(self.headers), body, status))
                    receiver.changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}/hooks/twelvelabs"

    def delivered(self, data_id: str, timeout: float = 120.0) -> list[tuple[dict[str, str], dict, int]]:
        """Every delivery of the event about ``data_id``, once one of them was answered 200."""

        def about() -> list:
            return [(h, json.loads(b), s) for h, b, s in self.deliveries if json.loads(b)["data"]["id"] == data_id]

        with self.changed:
            assert self.changed.wait_for(lambda: any(s == 200 for _, _, s in about()), timeout), self.deliveries
            return about()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.http.shutdown()


@pytest.fixture(scope="module")
def hooked(receiver, tmp_path_factory) -> Iterator:
    from conftest import _rest

    mp = pytest.MonkeyPatch()
    mp.setenv("TEST_WEBHOOK_SECRET", SECRET)
    server = EmbeddedServer(
        tmp_path_factory.mktemp("webhook-server"),
        extra_args=(
            "--webhook-url", receiver.url, "--webhook-secret-env", "TEST_WEBHOOK_SECRET",
            "--allow-url-network", "127.0.0.0/8", "--webhook-backoff", "0.05",
        ),
    )
    server.start()
    yield _rest(server)
    server.stop()
    mp.undo()


def _verify(headers: dict[str, str], raw: bytes) -> None:
    parts = dict(part.split("=", 1) for part in headers["TL-Signature"].split(","))
    expected = hmac.new(SECRET.encode(), f"{parts['t']}.".encode() + raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)


def _check(deliveries, data_id: str, status: str) -> dict:
    (first_headers, first, first_status), *rest = deliveries
    assert first_status == 500 and rest, "the first attempt was answered 500, so it must be retried"
    assert {body["id"] for _, body, _ in deliveries} == {first["id"]}, "retries reuse the event id"
    assert all(body == first for _, body, _ in deliveries)
    assert first["id"].startswith("whe_") and first["type"] == f"index.task.{status}"
    assert first["data"]["id"] == data_id and first["data"]["status"] == status
    assert first["data"]["models"] == [{"name": "marengo3.0", "options": ["visual", "audio"]}]
    assert first["data"]["tags"] == [] and "duration" in first["data"]["metadata"]
    assert first["created_at"]
    assert first_headers["Content-Type"] == "application/json"
    return first


def _raw(receiver: Receiver, event_id: str) -> list[tuple[dict[str, str], bytes]]:
    return [(h, b) for h, b, _ in receiver.deliveries if json.loads(b)["id"] == event_id]


def test_tasks_path_ready_and_failed_are_signed_and_retried(hooked, receiver, media):
    index = hooked.create_index()
    ready = hooked.submit(index, JFK)["_id"]
    failed = hooked.submit(index, media["short"])["_id"]
    event = _check(receiver.delivered(ready), ready, "ready")
    assert event["data"]["metadata"]["duration"] == pytest.approx(11.0, abs=0.5)
    _check(receiver.delivered(failed), failed, "failed")
    for headers, raw in _raw(receiver, event["id"]):
        _verify(headers, raw)


def test_assets_path_sends_the_same_event_for_indexed_assets(hooked, receiver):
    index = hooked.create_index()
    asset = ready_asset(hooked, JFK)
    indexed = index_asset(hooked, index, asset["_id"])
    event = _check(receiver.delivered(indexed), indexed, "ready")
    for headers, raw in _raw(receiver, event["id"]):
        _verify(headers, raw)


def test_the_secret_is_in_no_server_log(hooked, receiver):
    assert receiver.deliveries, "runs after the deliveries above"
    assert SECRET not in hooked.server.log_path.read_text()


def test_signature_is_hmac_sha256_over_timestamp_dot_body():
    body = b'{"id":"whe_1"}'
    expected = hmac.new(b"k", b"1659342128." + body, hashlib.sha256).hexdigest()
    assert signature("k", 1659342128, body) == f"t=1659342128,v1={expected}"


def test_backoff_doubles_and_is_capped():
    assert [backoff(n, 1.0) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff(30, 1.0) == 60.0


def _parse(tmp_path, *args: str, secret: str | None = SECRET):
    environ = {KEYS_ENV: "k"} | ({WEBHOOK_SECRET_ENV: secret} if secret else {})
    return parse_config(["--data-dir", str(tmp_path), *args], environ)


def test_loopback_webhook_url_needs_allow_url_network(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        _parse(tmp_path, "--webhook-url", "http://127.0.0.1:9/hook")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "argument --webhook-url" in err and "loopback" in err and SECRET not in err
    config = _parse(tmp_path, "--webhook-url", "http://127.0.0.1:9/hook", "--allow-url-network", "127.0.0.0/8")
    assert config.webhook_url == "http://127.0.0.1:9/hook" and config.webhook_secret == SECRET
    assert SECRET not in repr(config)


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "file:///etc/passwd", "http:///nohost"])
def test_non_http_webhook_urls_are_refused(tmp_path, capsys, url):
    with pytest.raises(SystemExit):
        _parse(tmp_path, "--webhook-url", url, "--allow-url-network", "127.0.0.0/8")
    assert "argument --webhook-url" in capsys.readouterr().err


def test_webhook_url_without_a_secret_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        _parse(tmp_path, "--webhook-url", "http://127.0.0.1:9/hook", "--allow-url-network", "127.0.0.0/8", secret=None)
    assert f"${WEBHOOK_SECRET_ENV} is not set" in capsys.readouterr().err
