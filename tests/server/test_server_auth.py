"""Every route needs a valid ``x-api-key``; the key never reaches the log or the database."""

from __future__ import annotations

import pytest
import requests

from reelscribe.server.launcher import EmbeddedServer

ZERO = "0" * 24
ROUTES = [
    ("GET", "v1.3", "/indexes"),
    ("POST", "v1.3", "/indexes"),
    ("GET", "v1.3", f"/indexes/{ZERO}"),
    ("PUT", "v1.3", f"/indexes/{ZERO}"),
    ("DELETE", "v1.3", f"/indexes/{ZERO}"),
    ("GET", "v1.3", "/tasks"),
    ("POST", "v1.3", "/tasks"),
    ("GET", "v1.3", f"/tasks/{ZERO}"),
    ("DELETE", "v1.3", f"/tasks/{ZERO}"),
    ("GET", "v1.3", f"/indexes/{ZERO}/videos"),
    ("GET", "v1.3", f"/indexes/{ZERO}/videos/{ZERO}"),
    ("PATCH", "v1.3", f"/indexes/{ZERO}/videos/{ZERO}"),
    ("DELETE", "v1.3", f"/indexes/{ZERO}/videos/{ZERO}"),
    ("GET", "v1.3", f"/indexes/{ZERO}/videos/{ZERO}/transcription"),
    ("GET", "v1.2", f"/indexes/{ZERO}/videos/{ZERO}/transcription"),
    ("GET", "v1.3", "/no-such-route"),
]


@pytest.mark.parametrize("key", [None, "wrong-key", ""])
@pytest.mark.parametrize(("method", "version", "path"), ROUTES)
def test_missing_or_wrong_key_is_refused(rest, method, version, path, key):
    headers = {} if key is None else {"x-api-key": key}
    response = rest.session.request(method, f"{rest.server.root_url}/{version}{path}", headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"code": "api_key_invalid", "message": "The API key is missing or not valid."}
    assert response.headers["X-Api-Version"]


def test_upload_with_wrong_key_is_refused_without_a_trace(rest, tmp_path):
    payload = tmp_path / "big.bin"
    payload.write_bytes(b"\0" * (4 * 1024 * 1024))
    media_before = set((rest.server.data_dir / "media").iterdir())
    with open(payload, "rb") as handle:
        response = rest.session.post(
            f"{rest.server.base_url}/tasks",
            headers={"x-api-key": "nope"},
            data={"index_id": "0" * 24},
            files={"video_file": ("big.bin", handle)},
            timeout=30,
        )
    assert response.status_code == 401
    assert set((rest.server.data_dir / "media").iterdir()) == media_before


def test_key_is_not_logged_or_stored(rest, jfk_video):
    key = rest.server.api_key.encode()
    assert key not in rest.server.log_path.read_bytes()
    for path in rest.server.data_dir.glob("*.sqlite3*"):
        assert key not in path.read_bytes()
    assert key not in " ".join(rest.server.command()).encode()


def test_every_repeated_api_key_is_accepted(tmp_path):
    extra = ("--api-key", "first-key", "--api-key", "second-key")
    with EmbeddedServer(tmp_path / "data", api_key="first-key", extra_args=extra) as server:
        for key, status in (("first-key", 200), ("second-key", 200), ("third-key", 401), ("FIRST-KEY", 401)):
            response = requests.get(f"{server.base_url}/indexes", headers={"x-api-key": key}, timeout=10)
            assert response.status_code == status, key
