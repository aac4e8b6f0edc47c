"""Server access: no route without the key; nothing outside the data dir read or written through ids,
upload file names or ``file://`` URLs.

Extends ``tests/server/test_server_auth.py`` (a fixed route list; no key, an empty or a wrong key)
and ``tests/server/test_server_tasks.py`` / ``test_server_videos.py`` (one traversal file name,
``file://`` outside the root, a few path tricks on GET): here the routes come from the app itself,
the keys are near misses or sent in the wrong place, every method of every route gets each id
trick, and the file system around the data dir is compared before and after.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import uuid
from pathlib import Path

import pytest
import requests

from reliability_kit import distinct_videos, running, server_get
from reelscribe.server.app import ROUTERS
from reelscribe.server.multipart import PRESIGNED_PREFIX
from tests.media import make_video

ZERO = "0" * 24
ALL_ROUTES = sorted({(method, prefix + route.path) for prefix, router in ROUTERS for route in router.routes for method in route.methods})
# Multipart chunk URLs carry a signature instead of the key (as presigned storage URLs do); the
# key tests cover every other route, and test_chunk_urls_refuse_a_missing_or_wrong_signature these.
ROUTES = [(m, p) for m, p in ALL_ROUTES if not p.startswith(PRESIGNED_PREFIX)]
PRESIGNED_ROUTES = [(m, p) for m, p in ALL_ROUTES if p.startswith(PRESIGNED_PREFIX)]
PATHS = sorted({path for _, path in ROUTES})
PASSWD = b"root:x:0:0"


def raw(
    server, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None, *, follow: bool = False
) -> tuple[int, bytes]:
    """One request with the path sent byte for byte (``requests`` would resolve ``..`` itself).

    ``follow``: a redirect (Starlette drops a trailing slash with a 307) must stay on this server,
    under an API version, and is followed once.
    """
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        status, payload, location = response.status, response.read(), response.getheader("Location")
    finally:
        conn.close()
    if follow and status == 307:
        assert location and location.startswith(f"{server.root_url}/v1."), (path, location)
        return raw(server, method, location[len(server.root_url):], headers, body)
    return status, payload


def filled(path: str, value: str = ZERO) -> str:
    return re.sub(r"\{[a-z_]+\}", value, path)


def tree(root: Path, skip: Path | None = None) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` (except under ``skip``) with its size and mtime."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if skip is not None and Path(dirpath).resolve().is_relative_to(skip.resolve()):
            dirnames.clear()
            continue
        for name in filenames:
            stat = os.lstat(os.path.join(dirpath, name))
            found[os.path.join(dirpath, name)] = (stat.st_size, stat.st_mtime_ns)
    return found


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """``<sandbox>/data`` (the server's), ``<sandbox>/allowed`` (its file root) and ``<sandbox>/outside`` (a secret)."""
    root = tmp_path_factory.mktemp("sandbox")
    (root / "allowed").mkdir()
    secret = make_video(root / "outside" / "secret.mp4", 5, audio="tone", width=200)
    (root / "outside" / "secret.txt").write_text(f"outside-secret-{uuid.uuid4().hex}")
    with running(root / "data", "--workers", "1", "--allow-file-root", str(root / "allowed")) as server:
        yield root, server, secret


def test_the_app_serves_the_routes_the_tests_iterate():
    assert ("POST", "/v1.3/tasks") in ROUTES and ("GET", "/v1.2/indexes/{index_id}/videos/{video_id}/transcription") in ROUTES
    assert len(ROUTES) >= 15


@pytest.mark.parametrize(
    "variant", ["upper-case", "one-char-short", "one-char-long", "bearer-header", "query-x-api-key", "query-api_key", "cookie", "other-header"]
)
def test_every_route_refuses_a_near_miss_or_misplaced_key(rapi, variant):
    key = rapi.api_key
    headers, query = {}, ""
    if variant == "upper-case":
        headers["x-api-key"] = key.swapcase()
    elif variant == "one-char-short":
        headers["x-api-key"] = key[:-1]
    elif variant == "one-char-long":
        headers["x-api-key"] = key + "A"
    elif variant == "bearer-header":
        headers["Authorization"] = f"Bearer {key}"
    elif variant == "query-x-api-key":
        query = f"?x-api-key={key}"
    elif variant == "query-api_key":
        query = f"?api_key={key}"
    elif variant == "cookie":
        headers["Cookie"] = f"x-api-key={key}"
    else:
        headers["x-api-key-2"] = key
    refused = []
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
        for path in PATHS:
            status, body = raw(rapi, method, filled(path) + query, headers, b"{}" if method in ("POST", "PUT", "PATCH") else None)
            ok = status == 401 and (method == "HEAD" or json.loads(body)["code"] == "api_key_invalid")
            if not ok:
                refused.append((method, path, status))
    assert refused == []


def test_chunk_urls_refuse_a_missing_or_wrong_signature(rapi):
    """The key does not open a chunk URL: only its own signature does (checked before any byte is kept)."""
    assert PRESIGNED_ROUTES
    for method, path in PRESIGNED_ROUTES:
        for query, headers in (("", {}), ("?expires=9999999999&signature=00", {}), ("", {"x-api-key": rapi.api_key})):
            target = path.replace("{upload_id}", ZERO).replace("{chunk_index}", "0") + query
            status, body = raw(rapi, method, target, headers, b"x")
            assert (status, json.loads(body)["code"]) == (403, "upload_url_invalid"), (method, target, status, body[:200])


def test_with_the_key_every_route_is_reachable(rapi):
    """The control for the test above: the same requests with the right key are not refused as unauthorised."""
    for method, path in ROUTES:
        status, _ = raw(rapi, method, filled(path), {"x-api-key": rapi.api_key, "Content-Type": "application/json"}, b"{}" if method in ("POST", "PUT", "PATCH") else None)
        assert status not in (401, 403) and status < 500, (method, path, status)


REFUSALS = ("parameter_invalid", "parameter_not_provided", "resource_not_exist", "method_not_allowed")
ID_TRICKS = ["..", "%2e%2e", "..%2f..%2fetc%2fpasswd", "%2fetc%2fpasswd", "..%5c..%5c", "....%2f%2f", "%00", f"{ZERO}%2f..", f"{ZERO}/../../..", "~root"]


@pytest.mark.parametrize("trick", ID_TRICKS)
def test_id_tricks_on_every_route_touch_nothing_outside(sandbox, trick):
    root, server, secret = sandbox
    before = tree(root, skip=root / "data")
    secret_text = (root / "outside" / "secret.txt").read_bytes()
    for method, path in ROUTES:
        for param in re.findall(r"\{[a-z_]+\}", path):
            target = filled(path.replace(param, trick))
            headers = {"x-api-key": server.api_key, "Content-Type": "application/json"}
            status, body = raw(server, method, target, headers, b"{}" if method in ("POST", "PUT", "PATCH") else None, follow=True)
            assert status in (400, 404, 405), (method, target, status, body[:200])
            assert json.loads(body)["code"] in REFUSALS, (method, target, body[:200])
            assert PASSWD not in body and secret_text not in body and secret.read_bytes()[:64] not in body
    assert tree(root, skip=root / "data") == before


UPLOAD_NAMES = ["../../x.mp4", "/etc/passwd", "../../../../../../tmp/evil-{tag}.mp4", "{outside}", "..\\..\\x.mp4", "media/../../x.mp4", "incoming/../../x.mp4", "..", "", "./", "x\x00.mp4"]


def test_upload_file_names_cannot_place_or_replace_files_outside(sandbox, tmp_path):
    root, server, secret = sandbox
    tag = uuid.uuid4().hex[:8]
    before = tree(root, skip=root / "data")
    passwd_before = os.stat("/etc/passwd").st_mtime_ns
    clip = distinct_videos(tmp_path, 1)[0]
    session = requests.Session()
    task_ids = []
    for name in UPLOAD_NAMES:
        filename = name.format(tag=tag, outside=secret)
        with open(clip, "rb") as handle:
            response = session.post(
                f"{server.base_url}/tasks",
                headers={"x-api-key": server.api_key},
                data={"index_id": _index(server)},
                files={"video_file": (filename, handle)},
                timeout=30,
            )
        assert response.status_code == 200, (filename, response.text)
        task_ids.append((filename, response.json()["_id"]))
    for filename, task_id in task_ids:  # the upload is on disk under its final name once answered
        task = server_get(server, f"tasks/{task_id}").json()
        assert task["status"] != "failed", (filename, task)
        stored = task["system_metadata"]["filename"]
        assert "/" not in stored and "\\" not in stored and stored not in ("", ".", ".."), (filename, stored)
    assert tree(root, skip=root / "data") == before
    assert os.stat("/etc/passwd").st_mtime_ns == passwd_before
    assert not Path(f"/tmp/evil-{tag}.mp4").exists()
    assert all(re.fullmatch(r"[0-9a-f]{24}", p.name) for p in (root / "data" / "media").iterdir())


def _index(server, cache={}) -> str:
    if server.base_url not in cache:
        response = requests.post(
            f"{server.base_url}/indexes",
            headers={"x-api-key": server.api_key},
            json={"index_name": f"access-{uuid.uuid4().hex[:8]}", "models": [{"model_name": "marengo3.0", "model_options": ["audio"]}]},
            timeout=30,
        )
        response.raise_for_status()
        cache[server.base_url] = response.json()["_id"]
    return cache[server.base_url]


def test_file_urls_read_nothing_outside_the_allowed_root(sandbox):
    root, server, secret = sandbox
    allowed = root / "allowed"
    inside = allowed / "inside.mp4"
    shutil.copy(secret, inside)
    (allowed / "link.mp4").unlink(missing_ok=True)
    (allowed / "link.mp4").symlink_to(secret)
    (allowed / "dirlink").unlink(missing_ok=True)
    (allowed / "dirlink").symlink_to(secret.parent, target_is_directory=True)
    refused = [
        secret.as_uri(),
        allowed.as_uri() + "/../outside/secret.mp4",
        allowed.as_uri() + "/%2e%2e/outside/secret.mp4",
        allowed.as_uri() + "/..%2foutside%2fsecret.mp4",
        (allowed / "link.mp4").as_uri(),
        (allowed / "dirlink" / "secret.mp4").as_uri(),
        "file:///etc/passwd",
        "file://localhost/etc/passwd",
        "FILE://" + str(secret),
        "file:" + str(secret),
        "file://" + str(allowed) + "/../outside/secret.txt",
    ]
    index_id = _index(server)
    tasks_before = server_get(server, "tasks", index_id=index_id).json()["page_info"]["total_results"]
    secret_text = (root / "outside" / "secret.txt").read_bytes()
    for url in refused:
        response = requests.post(f"{server.base_url}/tasks", headers={"x-api-key": server.api_key}, data={"index_id": index_id, "video_url": url}, timeout=30)
        assert response.status_code == 400, (url, response.status_code, response.text)
        assert response.json()["code"] == "parameter_invalid", url
        assert PASSWD.decode() not in response.text and secret_text.decode() not in response.text
    assert server_get(server, "tasks", index_id=index_id).json()["page_info"]["total_results"] == tasks_before
    control = requests.post(f"{server.base_url}/tasks", headers={"x-api-key": server.api_key}, data={"index_id": index_id, "video_url": inside.as_uri()}, timeout=30)
    assert control.status_code == 200, control.text  # the root itself works, so the refusals above are the guard's
