"""The incremental flow under the real engine and the real local server: only new content lands."""

from __future__ import annotations

import json
import os
import shutil
import uuid

import duckdb
import fsspec
import pytest

from reelscribe.flows.incremental import SUMMARY_KEY, transcribe_new_videos
from reelscribe.core.errors import ConfigError, SourceError
from tests.conftest import JFK
from tests.flowruns import artifacts_of, log_messages, task_run_names
from tests.media import make_video
from tests.test_pipeline import server_tasks, videos

pytestmark = pytest.mark.usefixtures("prefect_engine")


def run(**params):
    """The flow's result and its flow run id, on the tasks path (these tests count the server's tasks)."""
    state = transcribe_new_videos(**{"upload": "tasks", **params}, return_state=True)
    return state.result(), state.state_details.flow_run_id


def summary(flow_run_id) -> tuple[str, list[dict]]:
    (artifact,) = [a for a in artifacts_of(flow_run_id) if a.key == SUMMARY_KEY]
    return artifact.description, json.loads(artifact.data)


def test_lands_new_content_once_then_finds_nothing_new(api, jfk_copy, tmp_path):
    out, name = tmp_path / "lake", f"inc-{uuid.uuid4().hex[:8]}"
    reports, first = run(source=str(jfk_copy.parent), index_name=name, out=str(out))
    assert [(r.source, r.status) for r in reports] == [(str(jfk_copy), "landed")] and reports[0].segments >= 1
    description, rows = summary(first)
    assert description.startswith(f"reelscribe: 1 new video in {jfk_copy.parent} (0 already landed): 1 landed")
    assert [row["source"] for row in rows] == [str(jfk_copy)]
    steps = {"upload-jfk.mp4", "wait-jfk.mp4", "land-jfk.mp4", "select-new-videos"}
    assert steps <= set(task_run_names(first, including=steps))
    index_id = videos(out)["index_id"].iloc[0]

    reports, second = run(source=str(jfk_copy.parent), index_name=name, out=str(out))
    assert reports == []
    description, rows = summary(second)
    assert description == f"reelscribe: 0 new videos in {jfk_copy.parent} (1 already landed)" and rows == []
    assert any(m.startswith("0 new videos") for m in log_messages(second))
    assert not any(n.startswith(("upload-", "wait-", "land-")) for n in task_run_names(second, including={"select-new-videos"}))

    # The same bytes under another name and on another filesystem are not new either.
    inbox = f"memory://inbox-{uuid.uuid4().hex[:8]}"
    with fsspec.open(f"{inbox}/renamed.mp4", "wb") as handle:
        handle.write(JFK.read_bytes())
    reports, _ = run(source=f"{inbox}/", index_name=name, out=str(out))
    assert reports == []
    assert len(server_tasks(api, index_id)) == 1
    assert duckdb.sql(f"select source from read_parquet('{out}/videos/**/*.parquet')").fetchall() == [(str(jfk_copy),)]


def test_only_the_new_files_go_through_the_pipeline(api, tmp_path):
    folder, out, name = tmp_path / "inbox", tmp_path / "lake", f"inc-{uuid.uuid4().hex[:8]}"
    make_video(folder / "a.mp4", seconds=5, audio="silence")
    run(source=str(folder / "*.mp4"), index_name=name, out=str(out))
    make_video(folder / "b.mp4", seconds=5, audio=None)
    shutil.copy(folder / "a.mp4", folder / "a-copy.mp4")
    reports, flow_run_id = run(source=str(folder / "*.mp4"), index_name=name, out=str(out))
    assert [(r.source, r.status) for r in reports] == [(str(folder / "b.mp4"), "landed")]
    assert summary(flow_run_id)[0].startswith("reelscribe: 1 new video in")
    assert "(2 already landed)" in summary(flow_run_id)[0]
    assert [n for n in task_run_names(flow_run_id, including={"upload-b.mp4"}) if n.startswith("upload-")] == ["upload-b.mp4"]
    assert sorted(videos(out)["source"]) == [str(folder / "a.mp4"), str(folder / "b.mp4")]
    assert len(server_tasks(api, videos(out)["index_id"].iloc[0])) == 2


def test_an_empty_source_is_nothing_new_but_a_missing_one_fails(api, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for source in (str(empty), f"memory://nothing-{uuid.uuid4().hex[:8]}/"):
        reports, flow_run_id = run(source=source, index_name="never-created", out=str(tmp_path / "lake"))
        assert reports == []
        assert summary(flow_run_id)[0] == f"reelscribe: 0 new videos in {source} (0 already landed)"
    with pytest.raises(SourceError, match="no such file or directory"):
        transcribe_new_videos(source=str(tmp_path / "missing"), index_name="x", out=str(tmp_path / "lake"))
    with pytest.raises(ConfigError, match="exactly one of index_id and index_name"):
        transcribe_new_videos(source=str(empty), out=str(tmp_path / "lake"))


def test_every_parameter_is_described_for_the_ui_form():
    from prefect.utilities.callables import parameter_schema

    from reelscribe.flows.transcribe import transcribe_videos

    for flow in (transcribe_new_videos, transcribe_videos):
        properties = parameter_schema(flow).model_dump()["properties"]
        assert all(p.get("description") for p in properties.values()), properties
        assert not any("key" in name for name in properties)
    properties = parameter_schema(transcribe_new_videos).model_dump()["properties"]
    assert properties["source"]["type"] == "string" and "s3://" in properties["source"]["description"]
    assert properties["max_concurrency"]["minimum"] == 1


def plan_json(folder, out, index_id, capsys) -> list[dict]:
    from reelscribe.cli import main

    capsys.readouterr()
    assert main(["plan", str(folder), "--out", str(out), "--index-id", index_id, "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_max_videos_defers_the_rest_and_the_next_run_takes_them(api, tmp_path, capsys):
    folder, out, name = tmp_path / "inbox", tmp_path / "lake", f"inc-{uuid.uuid4().hex[:8]}"
    for n in range(2):
        make_video(folder / f"v{n}.mp4", seconds=5 + n, audio=None)  # distinct bytes
        os.utime(folder / f"v{n}.mp4", ns=(10**18 + n, 10**18 + n))  # v0 is the oldest
    reports, first = run(source=str(folder), index_name=name, out=str(out), max_videos=1)
    assert [(r.source, r.status) for r in reports] == [(str(folder / "v0.mp4"), "landed"), (str(folder / "v1.mp4"), "deferred")]
    assert summary(first)[0] == f"reelscribe: 1 new video in {folder} (0 already landed, 1 deferred): 1 landed, 0 skipped, 1 deferred, 0 failed"
    planned = plan_json(folder, out, videos(out)["index_id"].iloc[0], capsys)
    assert [(p["source"], p["status"]) for p in planned[:-1]] == [(str(folder / "v0.mp4"), "landed"), (str(folder / "v1.mp4"), "new")]
    assert planned[-1]["totals"]["new"] == 1 and 5.5 < planned[-1]["totals"]["minutes"] * 60 < 6.5
    reports, _ = run(source=str(folder), index_name=name, out=str(out), max_videos=1)
    assert [(r.source, r.status) for r in reports] == [(str(folder / "v1.mp4"), "landed")]
    assert sorted(videos(out)["source"]) == [str(folder / "v0.mp4"), str(folder / "v1.mp4")]
