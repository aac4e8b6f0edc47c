"""Crash and resume: ``reelscribe run`` SIGKILLed mid-batch, then run again, lands everything exactly once."""

from __future__ import annotations

import os
import signal
import time

import pytest

from reliability_kit import (
    assert_lake_sound,
    cli_env,
    distinct_videos,
    index_id_named,
    kill_group,
    landed_count,
    prefect_api_url,
    server_tasks,
    sha256_of,
    start_cli,
    wait_until,
)

pytestmark = pytest.mark.usefixtures("prefect_engine")

VIDEOS = 10


@pytest.mark.slow
def test_sigkill_mid_batch_then_rerun_lands_everything_once(own_server, tmp_path):
    server = own_server("--fault-latency", "1", "--workers", "1")  # about 1.5 s per video: the batch takes a while
    clips = distinct_videos(tmp_path / "in", VIDEOS)
    expected = {sha256_of(p) for p in clips}
    out = tmp_path / "lake"
    args = ["run", str(tmp_path / "in"), "--index-name", "crash", "--out", str(out), "--concurrency", "4", "--upload", "tasks"]
    env = cli_env(server, prefect_api_url())

    first = start_cli(args, env, tmp_path / "first.log")
    wait_until(lambda: landed_count(out) >= 3 or first.poll() is not None, 240, "three videos to land")
    assert first.poll() is None, "the first run ended before it could be killed:\n" + (tmp_path / "first.log").read_text()
    kill_group(first)
    assert first.returncode == -signal.SIGKILL

    before = assert_lake_sound(out, complete=False)  # whatever is visible is whole
    landed_before = {p: p.stat().st_mtime_ns for p in out.glob("*/index_id=*/*.parquet") if (out / "videos" / p.parent.name / p.name).exists()}
    assert 3 <= len(before.videos) < VIDEOS, f"{len(before.videos)} videos landed before the kill"
    index_id = index_id_named(server, "crash")
    tasks_at_kill = server_tasks(server, index_id)
    partition = out / "segments" / f"index_id={index_id}"
    stale, fresh = partition / f".gone.parquet.{'a' * 32}.tmp", partition / f".kept.parquet.{'b' * 32}.tmp"
    for temp in (stale, fresh):
        temp.write_bytes(b"half a parquet file")  # what a writer killed mid-write leaves
    os.utime(stale, (time.time() - 7200, time.time() - 7200))

    second = start_cli(args, env, tmp_path / "second.log")
    assert second.wait(300) == 0, (tmp_path / "second.log").read_text()

    tasks = server_tasks(server, index_id)
    assert len(tasks) == VIDEOS, f"{len(tasks)} tasks for {VIDEOS} videos ({len(tasks_at_kill)} at the kill)"
    assert {t["user_metadata"]["reelscribe_sha256"] for t in tasks} == expected
    assert {t["_id"] for t in tasks_at_kill} <= {t["_id"] for t in tasks}  # indexed ones were reused, not uploaded again
    lake = assert_lake_sound(out)
    assert len(lake.videos) == VIDEOS and lake.hashes == expected
    assert {v["video_id"] for v in lake.videos} == {t["video_id"] for t in tasks}
    for path, mtime in landed_before.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was landed again although it had landed"
    assert not stale.exists() and fresh.exists()  # the rerun cleans temp files over an hour old only
    assert fresh not in set(out.rglob("*.parquet"))
