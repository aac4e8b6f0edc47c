"""Copies within one batch land once: the plan sees them, the run reports them ``duplicate`` naming
the source they repeat, records them as seen, and sends nothing twice (CLI and hourly flow)."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import duckdb
import httpx

from reelscribe.core.lake_format import open_lake
from reelscribe.core.plan import make_plan
from reelscribe.core.source_state import SeenSources
from reelscribe.core.sources import discover
from tests.conftest import JFK
from tests.test_cli import run_cli
from tests.test_seen_sources import sha


def two_copies(tmp_path: Path) -> tuple[Path, Path, Path]:
    folder = tmp_path / "inbox"
    folder.mkdir()
    shutil.copy(JFK, folder / "a.mp4")
    shutil.copy(JFK, folder / "b.mp4")
    return folder, folder / "a.mp4", folder / "b.mp4"


def test_the_plan_marks_later_copies_duplicate_of_the_first(tmp_path):
    folder, first, copy = two_copies(tmp_path)
    (folder / "c.mp4").write_bytes(b"other bytes")
    found, _ = discover([str(folder)])
    plan = make_plan(found, frozenset(), SeenSources())
    assert [(Path(v.source.uri).name, v.status, v.copy_of) for v in plan.videos] == [
        ("a.mp4", "new", None), ("b.mp4", "duplicate", str(first)), ("c.mp4", "new", None)]
    assert [Path(v.source.uri).name for v in plan.to_send] == ["a.mp4", "c.mp4"]
    assert {s.source for s in plan.hashed} == {str(first), str(copy), str(folder / "c.mp4")}, "every copy is recorded as seen"
    assert plan.summary().startswith("2 new, 0 already landed, 1 duplicate")

    landed = make_plan(found, frozenset({sha(first)}), SeenSources())
    assert [v.status for v in landed.videos] == ["landed", "landed", "new"], "a landed content: every copy is landed"


def indexed_assets(server, index_id: str) -> int:
    """How many videos the server indexed in ``index_id`` (each upload is one)."""
    response = httpx.get(f"{server.base_url}/indexes/{index_id}/videos", headers={"x-api-key": server.api_key},
                         params={"page_limit": 50})
    response.raise_for_status()
    return len(response.json()["data"])


def test_copies_in_one_run_are_uploaded_once_and_land_once(tmp_path, shared_services, pipeline_server):
    folder, first, copy = two_copies(tmp_path)
    name = f"copies-{uuid.uuid4().hex[:8]}"
    planned = run_cli("plan", str(folder), "--out", "lake", "--index-name", name, tmp_path=tmp_path, env=shared_services)
    assert planned.returncode == 0, planned.stderr
    assert "plan: 1 new, 0 already landed, 1 duplicate" in planned.stderr
    assert f"duplicate\t{copy}\t\tcopy of {first}" in planned.stdout.splitlines()
    assert not (tmp_path / "lake").exists(), "plan writes nothing"

    run = run_cli("run", str(folder), "--out", "lake", "--index-name", name, "--json", "--upload", "tasks",
                  tmp_path=tmp_path, env=shared_services)
    assert run.returncode == 0, run.stderr[-2000:]
    rows = {Path(r["source"]).name: r for r in map(json.loads, run.stdout.splitlines())}
    assert rows["a.mp4"]["status"] == "landed" and rows["b.mp4"]["status"] == "duplicate"
    assert rows["b.mp4"]["error"] == f"copy of {first}"
    assert rows["b.mp4"]["video_id"] == rows["a.mp4"]["video_id"], "the copy is named by the video its content landed as"

    videos = duckdb.sql(f"select source from read_parquet('{tmp_path}/lake/videos/**/*.parquet', hive_partitioning = true)").fetchall()
    assert videos == [(str(first),)], "one row, not two"
    index_id = duckdb.sql(f"select index_id from read_parquet('{tmp_path}/lake/videos/**/*.parquet', hive_partitioning = true, "
                          "hive_types = {'index_id': VARCHAR})").fetchall()[0][0]
    assert indexed_assets(pipeline_server, index_id) == 1, "uploaded once"
    state = open_lake(str(tmp_path / "lake")).seen_sources()
    assert state.sources_under(str(folder)) == [str(first), str(copy)], "the copy's source is recorded as seen"

    again = run_cli("run", str(folder), "--out", "lake", "--index-name", name, "--json", tmp_path=tmp_path, env=shared_services)
    assert again.returncode == 0, again.stderr
    assert [(Path(r["source"]).name, r["status"], r["video_id"]) for r in map(json.loads, again.stdout.splitlines())] == [
        ("a.mp4", "skipped", rows["a.mp4"]["video_id"]), ("b.mp4", "skipped", rows["a.mp4"]["video_id"])]
    assert indexed_assets(pipeline_server, index_id) == 1


def test_the_hourly_flow_sends_copies_once(tmp_path, api, prefect_engine):
    from reelscribe.flows.incremental import transcribe_new_videos

    folder, first, copy = two_copies(tmp_path)
    out = str(tmp_path / "lake")
    reports = transcribe_new_videos(source=str(folder), index_name=f"hourly-copies-{uuid.uuid4().hex[:8]}", out=out,
                                    upload="tasks")
    assert [(Path(r.source).name, r.status) for r in reports] == [("a.mp4", "landed"), ("b.mp4", "duplicate")]
    assert reports[1].error == f"copy of {first}" and reports[1].video_id == reports[0].video_id
    landed = duckdb.sql(f"select count(*) from read_parquet('{out}/videos/**/*.parquet')").fetchall()[0][0]
    assert landed == 1


def test_a_remembered_failure_holds_back_every_copy_of_its_content_but_never_a_url(tmp_path):
    from reelscribe.core.sources import VideoSource, content_sha256

    folder, first, copy = two_copies(tmp_path)
    url = VideoSource("https://example.org/a.mp4", "url")
    found, _ = discover([str(folder)])
    failed = {sha(first): "IndexingFailed: language_not_supported", content_sha256(url): "a URL's failure"}
    plan = make_plan([*found, url], frozenset(), SeenSources(), failed=failed)
    assert [(v.status, v.error) for v in plan.videos] == [
        ("failed-before", failed[sha(first)]), ("failed-before", failed[sha(first)]), ("new", None)]
    assert plan.to_send == [plan.videos[2]] and plan.counts["failed-before"] == 2
