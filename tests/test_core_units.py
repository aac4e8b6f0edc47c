"""Pure core pieces: retry arithmetic, settings parsing, source discovery and hashing."""

from __future__ import annotations

import hashlib
import os
from itertools import islice

import pytest

from reelscribe.core.errors import ConfigError, IndexingFailed, NoVideosFound, SourceError
from reelscribe.core.retry import RetryPolicy, backoff_delay, is_retryable_status, poll_intervals, server_wait
from reelscribe.core.settings import Environment, Settings
from reelscribe.core.sources import content_sha256, discover


def test_backoff_grows_and_is_capped_with_jitter():
    policy = RetryPolicy(base_delay=1, max_delay=8)
    assert backoff_delay(1, policy, rand=lambda: 0.0) == 0.5
    assert backoff_delay(1, policy, rand=lambda: 1.0) == 1.0
    assert backoff_delay(3, policy, rand=lambda: 1.0) == 4.0
    assert backoff_delay(10, policy, rand=lambda: 1.0) == 8.0


def test_server_requested_wait_is_honoured_but_capped():
    policy = RetryPolicy(base_delay=1, max_server_wait=30)
    assert backoff_delay(1, policy, requested=12, rand=lambda: 0.0) == 12
    assert backoff_delay(1, policy, requested=500, rand=lambda: 0.0) == 30


def test_server_wait_reads_seconds_dates_and_reset():
    assert server_wait({"Retry-After": "5"}, now=0) == 5
    assert server_wait({"retry-after": "Thu, 01 Jan 1970 00:00:10 GMT"}, now=4) == 6
    assert server_wait({"X-Ratelimit-Reset": "110"}, now=100) == 10
    assert server_wait({}, now=0) is None


def test_retryable_statuses():
    assert all(is_retryable_status(s) for s in (429, 500, 502, 503, 504))
    assert not any(is_retryable_status(s) for s in (400, 401, 403, 404, 409, 422))


def test_poll_intervals_grow_to_ceiling():
    values = list(islice(poll_intervals(1, 2, 5, rand=lambda: 0.5), 5))
    assert values == [1, 2, 4, 5, 5]


@pytest.mark.parametrize("url,version", [("http://h/v1.3", "v1.3"), ("https://h/api/v1.2/", "v1.2")])
def test_api_version(url, version):
    assert Settings(base_url=url).api_version == version


@pytest.mark.parametrize("url", ["api.twelvelabs.io/v1.3", "https://h/", "https://h/v2", "ftp://h/v1.3"])
def test_bad_base_urls_are_named(url):
    with pytest.raises(ConfigError, match="API URL"):
        Settings(base_url=url)


def test_from_env_is_none_without_url_and_key(monkeypatch):
    monkeypatch.delenv("TWELVELABS_BASE_URL", raising=False)
    monkeypatch.delenv("TWELVE_LABS_API_KEY", raising=False)
    assert Settings.from_env() is None
    monkeypatch.setenv("TWELVE_LABS_API_KEY", "k")
    assert Settings.from_env().base_url == "https://api.twelvelabs.io/v1.3"


def test_discover_files_folders_globs_and_problems(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"a")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.MOV").write_bytes(b"b")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    found, problems = discover([
        str(tmp_path), str(tmp_path / "*.mp4"), str(tmp_path / "missing.mp4"),
        str(tmp_path / "empty"), str(tmp_path / "*.mkv"), "https://example.org/v/c.mp4",
    ])
    names = sorted(s.name for s in found)
    assert names == ["a.mp4", "b.MOV", "c.mp4"]
    messages = {p.source: p.message for p in problems}
    assert messages[str(tmp_path / "missing.mp4")] == "no such file or directory"
    assert "folder contains no video files" in messages[str(tmp_path / "empty")]
    assert "pattern matched no video files" in messages[str(tmp_path / "*.mkv")]
    # "nothing there yet" is a type of its own; a missing path is not that.
    kinds = {p.source: type(p.error) for p in problems}
    assert kinds[str(tmp_path / "empty")] is NoVideosFound
    assert kinds[str(tmp_path / "*.mkv")] is NoVideosFound
    assert kinds[str(tmp_path / "missing.mp4")] is SourceError


def test_environment_is_read_in_one_place(monkeypatch, tmp_path):
    monkeypatch.setenv("TWELVELABS_BASE_URL", "  ")
    monkeypatch.setenv("TWELVE_LABS_API_KEY", "k")
    monkeypatch.setenv("REELSCRIBE_HTTP_ATTEMPTS", "3")
    monkeypatch.setenv("REELSCRIBE_HOME", str(tmp_path / "home"))
    env = Environment()
    assert env.base_url is None and env.api_key.get_secret_value() == "k"
    assert env.data_home == tmp_path / "home"
    assert Settings.from_env().retry.max_attempts == 3
    monkeypatch.delenv("REELSCRIBE_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert Environment().data_home == tmp_path / "xdg" / "reelscribe"


@pytest.mark.parametrize("raw", ["0", "-2", "three", "1.5"])
def test_a_bad_retry_budget_is_named(monkeypatch, raw):
    monkeypatch.setenv("REELSCRIBE_HTTP_ATTEMPTS", raw)
    with pytest.raises(ConfigError, match="REELSCRIBE_HTTP_ATTEMPTS=.* must be a whole number of tries"):
        Environment()


def test_create_once_looks_up_before_every_resend():
    """A create whose answer was lost is found, not sent again; a non-transient refusal is not retried."""
    from reelscribe.core.errors import ApiError, ApiServerError
    from reelscribe.core.ingest import create_once

    class Client:
        retry = RetryPolicy(max_attempts=4, base_delay=0)

    calls: list[str] = []

    def lost_create():
        calls.append("create")
        raise ApiServerError(502, None, "bad gateway")

    def find():
        calls.append("find")
        return "found" if calls.count("find") == 2 else None

    assert create_once(Client(), lost_create, find, what="t", sleep=lambda s: None) == ("found", True)
    assert calls == ["create", "find", "create", "find"]

    def refused():
        calls.append("refused")
        raise ApiError(400, "parameter_invalid", "no")

    calls.clear()
    with pytest.raises(ApiError, match="parameter_invalid"):
        create_once(Client(), refused, find, what="t", sleep=lambda s: None)
    assert calls == ["refused"]


def test_content_hash_streams_file_and_hashes_url_text(tmp_path):
    path = tmp_path / "v.mp4"
    path.write_bytes(os.urandom(3 << 20))
    found, _ = discover([str(path), "https://example.org/x.mp4"])
    assert content_sha256(found[0]) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert content_sha256(found[1]) == hashlib.sha256(b"url:https://example.org/x.mp4").hexdigest()


def test_errors_survive_pickling():
    import pickle

    from reelscribe.core.errors import ApiNotFound

    err = pickle.loads(pickle.dumps(ApiNotFound(404, "resource_not_exist", "gone", method="GET", path="tasks/x")))
    assert err.code == "resource_not_exist" and "gone" in str(err)
    failed = pickle.loads(pickle.dumps(IndexingFailed("t1", "video_file_broken: bad bytes")))
    assert failed.reason == "video_file_broken: bad bytes"


def test_core_does_not_import_prefect():
    import subprocess
    import sys

    code = (
        "import sys, reelscribe.core.client, reelscribe.core.ingest, reelscribe.core.waiting, reelscribe.core.transcripts, "
        "reelscribe.core.sources, reelscribe.core.lake, reelscribe.core.flatten; print('prefect' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
