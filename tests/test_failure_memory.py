"""Failures that will not change are remembered: a video the server refuses for what its bytes are
is recorded with its reason and hash, later runs (CLI, hourly flow) report it ``failed-before``
without sending it and end Completed, until its content changes or the user asks again; a
transient failure (a wait that timed out) is not remembered."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from reelscribe.core.errors import ApiServerError, IndexingFailed, IndexingTimedOut
from reelscribe.core.failure_memory import Failure, permanent_code, remember, remembered
from reelscribe.core.lake_format import open_lake
from tests.conftest import JFK
from tests.test_cli import run_cli


def rows(done) -> dict[str, dict]:
    return {Path(r["source"]).name: r for r in map(json.loads, done.stdout.splitlines())}


def test_a_broken_video_is_sent_once_until_its_bytes_change_or_the_user_asks(tmp_path, shared_services):
    folder = tmp_path / "inbox"
    folder.mkdir()
    shutil.copy(JFK, folder / "jfk.mp4")
    (folder / "broken.mp4").write_bytes(b"these bytes are no video at all")
    where = (str(folder), "--out", "lake", "--index-name", f"memory-{uuid.uuid4().hex[:8]}")
    args = ("run", *where, "--upload", "tasks", "--json")

    first = run_cli(*args, tmp_path=tmp_path, env=shared_services)
    assert first.returncode == 1, first.stderr[-2000:]
    assert rows(first)["broken.mp4"]["status"] == "failed" and rows(first)["broken.mp4"]["error_code"] == "video_file_broken"
    assert rows(first)["jfk.mp4"]["status"] == "landed"

    again = run_cli(*args, tmp_path=tmp_path, env=shared_services)
    assert again.returncode == 0, again.stderr[-2000:]
    assert rows(again)["broken.mp4"]["status"] == "failed-before"
    assert rows(again)["broken.mp4"]["error"] == rows(first)["broken.mp4"]["error"], "the reason it failed with"
    assert "video_file_broken: " in rows(again)["broken.mp4"]["error"]
    assert rows(again)["jfk.mp4"]["status"] == "skipped"

    planned = run_cli("plan", *where, tmp_path=tmp_path, env=shared_services)
    assert planned.returncode == 0, planned.stderr
    assert f"failed-before\t{folder / 'broken.mp4'}\t\t{rows(first)['broken.mp4']['error']}" in planned.stdout.splitlines()
    assert "plan: 0 new, 1 already landed, 1 failed-before" in planned.stderr

    retried = run_cli(*args, "--retry-failed", tmp_path=tmp_path, env=shared_services)
    assert retried.returncode == 1 and rows(retried)["broken.mp4"]["status"] == "failed", "asked: sent again"

    (folder / "broken.mp4").write_bytes(b"other bytes, still no video")
    changed = run_cli(*args, tmp_path=tmp_path, env=shared_services)
    assert changed.returncode == 1 and rows(changed)["broken.mp4"]["status"] == "failed", "new bytes: tried again"


def test_a_timed_out_wait_is_not_remembered(tmp_path, shared_services):
    args = ("--out", "lake", "--index-name", f"transient-{uuid.uuid4().hex[:8]}")
    timed_out = run_cli("run", str(JFK), *args, "--max-wait", "0.05", "--json", tmp_path=tmp_path, env=shared_services)
    assert timed_out.returncode == 1, timed_out.stderr[-2000:]
    assert rows(timed_out)["jfk.mp4"]["error"].startswith("IndexingTimedOut")
    planned = run_cli("plan", str(JFK), *args, tmp_path=tmp_path, env=shared_services)
    assert planned.stdout.startswith(f"new\t{JFK}"), planned.stdout
    assert not (tmp_path / "lake" / "failures").exists()


def test_the_hourly_flow_ends_completed_when_its_only_failures_are_known(tmp_path, api, prefect_engine):
    from reelscribe.flows.incremental import transcribe_new_videos
    from reelscribe.core.errors import BatchFailed

    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "broken.mp4").write_bytes(b"no video here")
    params = dict(source=str(folder), index_name=f"hourly-memory-{uuid.uuid4().hex[:8]}", out=str(tmp_path / "lake"))
    with pytest.raises(BatchFailed):
        transcribe_new_videos(**params)
    reports = transcribe_new_videos(**params)
    assert [(r.status, r.error.split(":")[0]) for r in reports] == [("failed-before", "AssetFailed")], "the assets path's failure"
    with pytest.raises(BatchFailed):
        transcribe_new_videos(**params, retry_failed=True)


@pytest.mark.parametrize("table_format", ["parquet", "delta"])
def test_failures_are_kept_per_index_in_either_format_and_a_lake_without_them_remembers_none(tmp_path, table_format):
    lake = open_lake(str(tmp_path / "lake"), table_format)
    assert remembered(lake, "idx-a") == {}
    remember(lake, "idx-a", [Failure("sha-1", "/v/a.mp4", "language_not_supported", "not English")])
    remember(lake, "idx-a", [Failure("sha-1", "/v/a.mp4", "video_duration_too_long", "3 h")])
    remember(lake, "idx-b", [Failure("sha-2", "/v/b.mp4", "video_file_broken", "broken")])
    again = open_lake(str(tmp_path / "lake"), table_format)
    assert remembered(again, "idx-a") == {"sha-1": "3 h"}, "the latest reason"
    assert remembered(again, "idx-b") == {"sha-2": "broken"}
    assert remembered(again, "idx-c") == {}


def test_only_the_servers_lasting_codes_count():
    assert permanent_code(IndexingFailed("t", "language_not_supported: not English", "language_not_supported")) == "language_not_supported"
    assert permanent_code(IndexingFailed("t", "internal_error: boom", "internal_error")) is None
    assert permanent_code(ApiServerError(503, "video_file_broken", "odd, but a 5xx")) is None, "a 5xx passes, whatever its code"
    assert permanent_code(ApiServerError(503, None, "unavailable")) is None
    assert permanent_code(IndexingTimedOut("t", 10.0, "indexing")) is None
