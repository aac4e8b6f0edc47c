"""Bad input: each fails alone with an error naming it; the rest of the batch lands.

Already covered elsewhere, so not repeated here: a missing path and non-video bytes in a batch and
malformed transcriptions (missing field, ``end < start``, NaN, negative) in ``tests/test_pipeline.py``;
a video without speech or audio landing 0 segments, and an unknown index id, there too; the CLI's
window arguments in ``tests/test_cli.py``; the server's own 400s in ``tests/server/``.
"""

from __future__ import annotations

import math
import re
import shutil
import uuid
from contextlib import ExitStack
from pathlib import Path

import pytest
from prefect.exceptions import ParameterTypeError

from reelscribe.flows.transcribe import transcribe_videos
from reelscribe.core.errors import ApiAuthError, BatchFailed, ConfigError, InvalidIdentifier
from reliability_kit import assert_lake_sound, distinct_videos, index_id_named, point_at, running, server_tasks, sha256_of
from tests.faultproxy import FORWARD, Fault, FaultProxy, once
from tests.media import make_video

pytestmark = pytest.mark.usefixtures("prefect_engine")

UPLOAD_LIMIT = 100_000


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory):
    """A server refusing uploads over ``UPLOAD_LIMIT`` bytes (the clips here are ~14 KB, the big one ~300 KB).

    It may fetch URLs on loopback, so that an unreachable URL fails as a task rather than at once.
    """
    limits = ("--max-upload-bytes", str(UPLOAD_LIMIT), "--allow-url-network", "127.0.0.0/8")
    with running(tmp_path_factory.mktemp("limited-server"), *limits) as server:
        yield server


@pytest.fixture
def via(limited_server, monkeypatch):
    """Point the flow at the limited server, optionally through a ``FaultProxy`` with ``rule``."""
    point_at(monkeypatch, limited_server)
    with ExitStack() as stack:

        def through(rule=lambda method, path: FORWARD) -> FaultProxy:
            proxy = stack.enter_context(FaultProxy(limited_server.root_url, rule))
            point_at(monkeypatch, limited_server, proxy.base_url)
            return proxy

        yield through


def name() -> str:
    return f"bad-{uuid.uuid4().hex[:8]}"


@pytest.mark.slow
def test_a_batch_of_bad_inputs_fails_each_alone_and_lands_the_rest(limited_server, via, tmp_path):
    folder = tmp_path / "in"
    good = distinct_videos(folder, 2)
    mute = make_video(folder / "mute.mp4", 4.5, audio=None, width=400, height=120)
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notvideo.mp4").write_bytes(b"plain text, not a video\n" * 50)
    big = make_video(tmp_path / "big" / "big.mp4", 30, audio="tone")
    short = make_video(tmp_path / "short" / "short.mp4", 2.0, audio="silence")
    assert big.stat().st_size > UPLOAD_LIMIT > max(p.stat().st_size for p in (*good, mute, short))
    (tmp_path / "emptydir").mkdir()
    bad_url = "http://127.0.0.1:9/unreachable.mp4"
    sources = [str(folder), str(big), str(short), str(tmp_path / "missing.mp4"), str(tmp_path / "emptydir"), str(folder / "*.mkv"), bad_url]
    out = tmp_path / "lake"

    with pytest.raises(BatchFailed) as caught:
        transcribe_videos(upload="tasks", sources=sources, index_name=(index := name()), out=str(out), max_concurrency=4)

    reports = {r.source: r for r in caught.value.reports}
    expected_errors = {
        str(folder / "empty.mp4"): ["video_file_broken", "empty"],
        str(folder / "notvideo.mp4"): ["video_file_broken"],
        str(big): ["video_filesize_too_large", str(UPLOAD_LIMIT)],
        str(short): ["video_duration_too_short"],
        str(tmp_path / "missing.mp4"): ["no such file or directory"],
        str(tmp_path / "emptydir"): ["folder contains no video files"],
        str(folder / "*.mkv"): ["pattern matched no video files"],
        bad_url: ["video_file_broken", "could not be fetched"],
    }
    for source, words in expected_errors.items():
        report = reports[source]
        assert report.status == "failed" and all(w in report.error for w in words), report
    for clip in (*good, mute):
        assert reports[str(clip)].status == "landed", reports[str(clip)]
    assert reports[str(mute)].segments == 0
    assert len(reports) == len(expected_errors) + 3
    assert str(caught.value).startswith(f"{len(expected_errors)} of {len(reports)} videos failed; first: ")

    lake = assert_lake_sound(out)
    assert lake.hashes == {sha256_of(p) for p in (*good, mute)}
    tasks = server_tasks(limited_server, index_id_named(limited_server, index))
    failed = [t for t in tasks if t["status"] == "failed"]
    assert sorted(t["status"] for t in tasks) == ["failed"] * 3 + ["ready"] * 3  # empty and big never became tasks
    assert all(t["error_reason"]["code"] and t["error_reason"]["message"] for t in failed)


@pytest.mark.parametrize("bad", ["../tasks", "a/b", "../../etc/passwd", "..", "%2e%2e", "x?page=2", "a b"])
def test_unsafe_index_id_is_refused_before_any_request(via, tmp_path, bad):
    proxy = via()
    clip = distinct_videos(tmp_path / "in", 1)[0]
    out = tmp_path / "lake"
    with pytest.raises(InvalidIdentifier, match=re.escape(f"invalid index_id {bad!r}")):
        transcribe_videos(upload="tasks", sources=[str(clip)], index_id=bad, out=str(out))
    assert sum(proxy.counts.values()) == 0
    assert not out.exists()


def test_index_name_with_path_tricks_stays_a_name(via, limited_server, tmp_path):
    clip = distinct_videos(tmp_path / "in", 1)[0]
    out = tmp_path / "lake"
    tricky = f"../../escaped-{uuid.uuid4().hex[:6]}/x"
    reports = transcribe_videos(upload="tasks", sources=[str(clip)], index_name=tricky, out=str(out))
    assert [r.status for r in reports] == ["landed"]
    index_id = index_id_named(limited_server, tricky)
    assert re.fullmatch(r"[0-9a-f]{24}", index_id)
    # Only the tables (segments, videos, the seen-source state), plus the upload claims (a ``_`` folder: every reader skips those).
    assert sorted(p.name for p in out.iterdir()) == ["_claims", "segments", "sources", "videos"]
    assert [p.name for p in (out / "videos").iterdir()] == [f"index_id={index_id}"]
    assert not list(tmp_path.rglob("escaped-*"))


def test_odd_file_name_is_found_again_after_a_lost_upload_answer(via, limited_server, tmp_path):
    """A legal POSIX name that servers rewrite (backslashes, ``..``, a zero-width space) must not upload twice."""
    proxy = via(once(Fault("lost_answer"), lambda method, path: method == "POST" and path.endswith("/tasks")))
    clip = distinct_videos(tmp_path / "made", 1)[0]
    odd = tmp_path / "in" / "sub" / "..\\..\\evil\u200b clip.mp4"
    odd.parent.mkdir(parents=True)
    shutil.copy(clip, odd)
    out = tmp_path / "lake"
    source = str(tmp_path / "in" / "sub" / ".." / "sub" / odd.name)  # with a ../ in the path, too
    reports = transcribe_videos(upload="tasks", sources=[source], index_name=(index := name()), out=str(out))
    assert proxy.counts["lost_answer"] == 1
    assert [(r.source, r.status) for r in reports] == [(str(odd), "landed")]
    (task,) = server_tasks(limited_server, index_id_named(limited_server, index))
    assert "/" not in task["system_metadata"]["filename"] and "\\" not in task["system_metadata"]["filename"]
    assert not list(tmp_path.rglob("evil*")) and not Path("/evil").exists()


MATCH = {
    "transcription": lambda method, path: "transcription=true" in path,
    "task": lambda method, path: method == "GET" and re.search(r"/tasks/[0-9a-f]{24}$", path) is not None,
}


@pytest.mark.parametrize(
    ("kind", "fault", "message"),
    [
        ("transcription", Fault("status", status=200, body=b"<html>502 Bad Gateway</html>"), "answer is not JSON (starts '<html>502"),
        ("transcription", Fault("mutate", mutate=lambda body: ["not", "an", "object"]), "Video answer does not have the expected shape"),
        ("transcription", Fault("mutate", mutate=lambda body: {**body, "transcription": "text"}), "transcription: Input should be a valid list"),
        ("task", Fault("mutate", mutate=lambda body: {**body, "status": "exploded"}), "Task answer does not have the expected shape: status"),
    ],
    ids=["not-json", "not-an-object", "transcription-not-a-list", "unknown-status"],
)
def test_malformed_answer_fails_only_that_video(via, tmp_path, kind, fault, message):
    via(once(fault, MATCH[kind]))
    clips = distinct_videos(tmp_path / "in", 2)
    out = tmp_path / "lake"
    with pytest.raises(BatchFailed) as caught:
        transcribe_videos(upload="tasks", sources=[str(c) for c in clips], index_name=name(), out=str(out))
    statuses = sorted(r.status for r in caught.value.reports)
    assert statuses == ["failed", "landed"]
    (failed,) = [r for r in caught.value.reports if r.status == "failed"]
    assert "malformed_response" in failed.error and message in failed.error, failed.error
    assert len(assert_lake_sound(out).videos) == 1


def test_invalid_api_key_fails_at_once_with_the_servers_reason(via, tmp_path, monkeypatch):
    proxy = via()
    monkeypatch.setenv("TWELVE_LABS_API_KEY", "not-the-key")
    clip = distinct_videos(tmp_path / "in", 1)[0]
    with pytest.raises(ApiAuthError, match=r"HTTP 401 \(api_key_invalid: The API key is missing or not valid\.\)") as caught:
        transcribe_videos(upload="tasks", sources=[str(clip)], index_name=name(), out=str(tmp_path / "lake"))
    assert caught.value.status == 401
    assert sum(proxy.counts.values()) == 1  # a 401 is not retried
    assert not (tmp_path / "lake").exists()


@pytest.mark.parametrize(
    ("start", "end", "error", "message"),
    [
        (10.0, 5.0, ConfigError, "window start (10.0) is after its end (5.0)"),
        (-1.0, None, ParameterTypeError, "start"),
        (None, -0.5, ParameterTypeError, "end"),
        (math.nan, None, ParameterTypeError, "start"),
        (None, math.inf, ParameterTypeError, "end"),  # the flow parameter allows no inf/nan
    ],
)
def test_bad_window_is_refused_before_any_request(via, tmp_path, start, end, error, message):
    proxy = via()
    clip = distinct_videos(tmp_path / "in", 1)[0]
    with pytest.raises(error, match=re.escape(message)):
        transcribe_videos(upload="tasks", sources=[str(clip)], index_name=name(), out=str(tmp_path / "lake"), start=start, end=end)
    assert sum(proxy.counts.values()) == 0
    assert not (tmp_path / "lake").exists()
