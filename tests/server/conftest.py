"""Fixtures for the embedded server's tests: real server processes on loopback ports, real HTTP.

One session-wide server serves most tests (each test makes its own index); tests that need special
options (rate limits, faults, small upload limits, restarts) start their own with ``make_server``.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from reelscribe.server.launcher import EmbeddedServer
from server_testkit import CHUNK_SIZE, JFK
from tests.media import make_video
from tests.polling import wait_for


@dataclass
class Rest:
    """A thin requests wrapper bound to one server and key; returns raw responses for assertions."""

    server: EmbeddedServer
    session: requests.Session

    @property
    def base(self) -> str:
        return self.server.base_url

    @property
    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.server.api_key}

    def request(self, method: str, path: str, *, version: str = "v1.3", **kwargs: Any) -> requests.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        kwargs.setdefault("timeout", 60)
        return self.session.request(method, f"{self.server.root_url}/{version}{path}", headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def create_index(self, name: str | None = None) -> str:
        body = {
            "index_name": name or f"test-{uuid.uuid4().hex[:12]}",
            "models": [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}],
        }
        response = self.post("/indexes", json=body)
        assert response.status_code == 201, response.text
        return response.json()["_id"]

    def upload(
        self, index_id: str, path: Path, *, filename: str | None = None, metadata: dict | None = None
    ) -> requests.Response:
        data = {"index_id": index_id}
        if metadata is not None:
            data["user_metadata"] = json.dumps(metadata)
        with open(path, "rb") as handle:
            return self.post("/tasks", data=data, files={"video_file": (filename or path.name, handle)})

    def submit(self, index_id: str, path: Path, **kwargs: Any) -> dict[str, str]:
        response = self.upload(index_id, path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def wait(self, task_id: str, timeout: float = 90.0, until: tuple[str, ...] = ("ready", "failed")) -> dict:
        def fetch() -> dict:
            response = self.get(f"/tasks/{task_id}")
            assert response.status_code == 200, response.text
            return response.json()

        return wait_for(fetch, lambda task: task["status"] in until, timeout, f"task {task_id} in {until}")


def _rest(server: EmbeddedServer) -> Rest:
    return Rest(server=server, session=requests.Session())


@pytest.fixture(scope="session")
def file_root(tmp_path_factory) -> Path:
    """The directory the shared server accepts ``file://`` URLs under."""
    return tmp_path_factory.mktemp("file-root")


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory, file_root) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(
        tmp_path_factory.mktemp("server-data"),
        extra_args=("--workers", "2", "--allow-file-root", str(file_root), "--multipart-chunk-size", str(CHUNK_SIZE)),
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def rest(shared_server) -> Rest:
    return _rest(shared_server)


@pytest.fixture(scope="session")
def faulty_server(tmp_path_factory) -> Iterator[EmbeddedServer]:
    """A one-worker server that answers every request past the key check with an injected 5xx."""
    server = EmbeddedServer(
        tmp_path_factory.mktemp("faulty-server"), extra_args=("--workers", "1", "--fault-5xx-rate", "1", "--fault-seed", "7")
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def held_rest(tmp_path_factory) -> Iterator[Rest]:
    """A one-worker server whose hold file stays for the whole session: every task it is given stays
    unfinished (the first at ``indexing``, the rest queued), for tests about unfinished work."""
    folder = tmp_path_factory.mktemp("held-server")
    hold = folder / "hold"
    hold.touch()
    server = EmbeddedServer(folder / "data", extra_args=("--workers", "1", "--fault-hold-file", str(hold)))
    server.start()
    yield _rest(server)
    server.stop()


@pytest.fixture
def index_id(rest) -> str:
    return rest.create_index()


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    """Generated clips, made once: silent, tone, no audio track, too short."""
    folder = tmp_path_factory.mktemp("media")
    return {
        "silent": make_video(folder / "silent.mp4", 4.0, audio="silence"),
        "tone": make_video(folder / "tone.mp4", 5.0, audio="tone"),
        "no_audio": make_video(folder / "no_audio.mp4", 5.0, audio=None),
        "short": make_video(folder / "short.mp4", 2.0, audio="silence"),
    }


@pytest.fixture(scope="session")
def jfk_video(rest) -> dict[str, Any]:
    """samples/jfk.mp4 indexed once on the shared server: its index, task and video ids."""
    index = rest.create_index()
    created = rest.submit(index, JFK, metadata={"content_hash": "sha256:jfk"})
    task = rest.wait(created["_id"])
    assert task["status"] == "ready", task
    return {"index_id": index, "task_id": created["_id"], "video_id": created["video_id"], "task": task}


@pytest.fixture(scope="session")
def jfk_asset(rest) -> dict[str, Any]:
    """samples/jfk.mp4 as an asset indexed once on the shared server, with its segments."""
    from assets_kit import index_asset, ready_asset, wait_indexed

    index = rest.create_index()
    asset = ready_asset(rest, JFK, metadata={"content_hash": "sha256:jfk-asset"})
    indexed_id = index_asset(rest, index, asset["_id"])
    indexed, seen = wait_indexed(rest, index, indexed_id)
    assert indexed["status"] == "ready", indexed
    segments = rest.get(f"/indexes/{index}/indexed-assets/{indexed_id}", params={"transcription": "true"}).json()
    return {
        "index_id": index,
        "asset_id": asset["_id"],
        "indexed_asset_id": indexed_id,
        "statuses": seen,
        "transcription": segments["transcription"],
    }


@pytest.fixture
def make_server(tmp_path) -> Iterator[Callable[..., EmbeddedServer]]:
    """Start a private server with extra CLI options; all are stopped after the test."""
    started: list[EmbeddedServer] = []

    def start(*extra_args: str, data_dir: Path | None = None) -> EmbeddedServer:
        server = EmbeddedServer(data_dir or tmp_path / f"server-{len(started)}", extra_args=extra_args)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


class _Files(dict):
    """Bytes served by a throwaway local HTTP server, by name; ``url(name)`` gives the address.

    Servers fetch from it only when started with ``--allow-url-network 127.0.0.0/8``.
    """

    port = 0

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


@pytest.fixture
def http_files() -> Iterator[_Files]:
    files = _Files()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path.lstrip("/"))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    files.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield files
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def rest_for() -> Callable[[EmbeddedServer], Rest]:
    return _rest
