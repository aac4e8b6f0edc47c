"""The main job end to end: the real flow, the real local server over HTTP, Parquet read back with DuckDB."""

from __future__ import annotations

import json
import math
import uuid

import duckdb
import pytest
import requests

from reelscribe.core.errors import BatchFailed
from reelscribe.flows.transcribe import transcribe_videos
from tests.conftest import JFK_REFERENCE
from tests.flowruns import artifacts_of
from tests.faultproxy import FORWARD, Fault, FaultProxy, once
from tests.media import make_video

pytestmark = pytest.mark.usefixtures("prefect_engine")


def words(text: str) -> list[str]:
    return "".join(c.lower() if c.isalnum() or c.isspace() else " " for c in text).split()


def segments(out, index_id=None):
    where = f"where index_id = '{index_id}'" if index_id else ""
    return duckdb.sql(
        f"select index_id, video_id, segment, start, \"end\", value from read_parquet('{out}/segments/**/*.parquet', "
        f"hive_partitioning = true) {where} order by video_id, segment"
    ).fetchall()


def videos(out):
    return duckdb.sql(f"select * from read_parquet('{out}/videos/**/*.parquet', hive_partitioning = true)").df()


def server_tasks(server, index_id):
    r = requests.get(f"{server.base_url}/tasks", params={"index_id": index_id, "page_limit": 50}, headers={"x-api-key": server.api_key}, timeout=10)
    r.raise_for_status()
    return r.json()["data"]


def index_of(out) -> str:
    return videos(out)["index_id"].iloc[0]


def test_jfk_lands_as_hive_partitioned_parquet(api, jfk_copy, tmp_path):
    out = tmp_path / "lake"
    name = f"jfk-{uuid.uuid4().hex[:8]}"
    reports = transcribe_videos(sources=[str(jfk_copy)], index_name=name, out=str(out))
    assert [r.status for r in reports] == ["landed"]
    rows = duckdb.sql(
        f"select index_id, video_id, segment, start, \"end\", value, task_id, retrieved_at "
        f"from read_parquet('{out}/segments/**/*.parquet', hive_partitioning = true) order by segment"
    ).fetchall()
    assert len(rows) == reports[0].segments >= 1
    assert [r[2] for r in rows] == list(range(len(rows)))
    assert all(r[3] <= r[4] for r in rows) and rows[-1][4] == pytest.approx(11.0, abs=0.6)
    text = " ".join(r[5] for r in rows)
    reference = words(JFK_REFERENCE)
    assert len(set(words(text)) ^ set(reference)) <= 2, text
    assert rows[0][0] == index_of(out) and rows[0][1] == reports[0].video_id
    video = videos(out).iloc[0]
    assert video["segment_count"] == len(rows) and video["duration"] == pytest.approx(11.0, abs=0.2)
    assert video["source"] == str(jfk_copy) and len(video["content_sha256"]) == 64
    assert video["index_name"] == name
    schema = {r[0]: r[1] for r in duckdb.sql(f"describe select * from read_parquet('{out}/segments/**/*.parquet', hive_partitioning = true)").fetchall()}
    assert schema["segment"] == "INTEGER" and schema["start"] == "DOUBLE" and schema["retrieved_at"].startswith("TIMESTAMP")


def test_rerun_skips_landed_and_refresh_reuses_the_task(api, jfk_copy, tmp_path):
    out, name = tmp_path / "lake", f"rerun-{uuid.uuid4().hex[:8]}"
    first = transcribe_videos(upload="tasks", sources=[str(jfk_copy)], index_name=name, out=str(out))
    index_id = index_of(out)
    second = transcribe_videos(upload="tasks", sources=[str(jfk_copy.parent)], index_name=name, out=str(out))
    assert [(r.status, r.video_id) for r in second] == [("skipped", first[0].video_id)]  # the lake knows it
    refreshed = transcribe_videos(upload="tasks", sources=[str(jfk_copy)], index_name=name, out=str(out), refresh=True)
    assert [r.status for r in refreshed] == ["landed"] and refreshed[0].video_id == first[0].video_id
    assert len(server_tasks(api, index_id)) == 1
    assert len(segments(out)) == first[0].segments
    assert len(videos(out)) == 1


def test_lost_upload_answer_does_not_upload_twice(api, jfk_copy, tmp_path, monkeypatch):
    rule = once(Fault("lost_answer"), lambda method, path: method == "POST" and path.endswith("/tasks"))

    with FaultProxy(api.root_url, rule) as proxy:
        monkeypatch.setenv("TWELVELABS_BASE_URL", proxy.base_url)
        out = tmp_path / "lake"
        reports = transcribe_videos(upload="tasks", sources=[str(jfk_copy)], index_name=f"lost-{uuid.uuid4().hex[:8]}", out=str(out))
    assert proxy.counts["lost_answer"] == 1
    assert [r.status for r in reports] == ["landed"]
    assert len(server_tasks(api, index_of(out))) == 1


# What each path's server says about a file that is not a video: a failed task, or a failed asset.
BROKEN = {"tasks": "video_file_broken", "assets": "AssetFailed: asset"}


@pytest.mark.parametrize("upload", ["tasks", "assets"])
def test_one_bad_video_does_not_sink_the_batch(api, jfk_copy, tmp_path, upload):
    broken = jfk_copy.parent / "broken.mp4"
    broken.write_bytes(b"this is not a video at all" * 100)
    missing = tmp_path / "nope.mp4"
    out = tmp_path / "lake"
    state = transcribe_videos(
        sources=[str(jfk_copy.parent), str(missing)], index_name=f"partial-{uuid.uuid4().hex[:8]}", out=str(out),
        upload=upload, return_state=True,
    )
    assert state.is_failed()
    failure = state.result(raise_on_failure=False)
    assert isinstance(failure, BatchFailed) and "2 of 3 videos failed" in str(failure)
    by_source = {r.source: r for r in failure.reports}
    assert by_source[str(jfk_copy)].status == "landed"
    assert by_source[str(broken)].status == "failed" and BROKEN[upload] in by_source[str(broken)].error
    assert by_source[str(missing)].error == "no such file or directory"
    assert list(videos(out)["source"]) == [str(jfk_copy)]
    (artifact,) = [a for a in artifacts_of(state.state_details.flow_run_id) if a.key == "transcribe-videos-summary"]
    rows = {row["source"]: row for row in json.loads(artifact.data)}
    assert rows.keys() == by_source.keys()
    assert rows[str(jfk_copy)]["segments"] >= 1 and rows[str(jfk_copy)]["video_id"]
    assert BROKEN[upload] in rows[str(broken)]["error"]
    assert "1 landed" in artifact.description and "2 failed" in artifact.description


def test_window_is_honoured_on_v13_flow_and_v12_endpoint(api, jfk_copy, tmp_path):
    from pydantic import SecretStr

    from reelscribe.core.client import TwelveLabsClient
    from reelscribe.core.settings import Settings
    from reelscribe.core.ingest_paths.tasks_path import retrieve_segments

    out = tmp_path / "lake"
    reports = transcribe_videos(upload="tasks", sources=[str(jfk_copy)], index_name=f"window-{uuid.uuid4().hex[:8]}", out=str(out), start=9.0, end=20.0)
    rows = segments(out)
    assert rows and all(r[3] < 20.0 and r[4] > 9.0 for r in rows)
    assert "country" in rows[-1][5].lower() and not any("fellow" in r[5].lower() for r in rows)
    index_id, video_id = index_of(out), reports[0].video_id
    v12 = TwelveLabsClient(Settings(base_url=f"{api.root_url}/v1.2", api_key=SecretStr(api.api_key)))
    v13 = TwelveLabsClient(Settings(base_url=api.base_url, api_key=SecretStr(api.api_key)))
    for start, end in [(9.0, 20.0), (None, 3.0), (0.0, None)]:
        assert retrieve_segments(v12, index_id, video_id, start, end).segments == retrieve_segments(v13, index_id, video_id, start, end).segments


def test_video_without_speech_lands_zero_segments(api, tmp_path):
    silent = make_video(tmp_path / "in" / "silent.mp4", seconds=5, audio="silence")
    mute = make_video(tmp_path / "in" / "mute.mp4", seconds=5, audio=None)
    out = tmp_path / "lake"
    reports = transcribe_videos(sources=[str(silent), str(mute)], index_name=f"quiet-{uuid.uuid4().hex[:8]}", out=str(out))
    assert {r.status for r in reports} == {"landed"} and [r.segments for r in reports] == [0, 0]
    assert segments(out) == []
    assert sorted(videos(out)["segment_count"]) == [0, 0]


def test_unknown_index_id_is_a_clear_error(api, jfk_copy, tmp_path):
    from reelscribe.core.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown index id 'ffffffffffffffffffffffff'"):
        transcribe_videos(sources=[str(jfk_copy)], index_id="f" * 24, out=str(tmp_path / "lake"))


@pytest.mark.parametrize(
    "corrupt,message",
    [
        (lambda segs: [{"start": segs[0]["start"], "value": "x"}], "missing field 'end'"),
        (lambda segs: [{"start": 5.0, "end": 1.0, "value": "x"}], "end"),
        (lambda segs: [{"start": math.nan, "end": 1.0, "value": "x"}], "finite"),
        (lambda segs: [{"start": -1.0, "end": 1.0, "value": "x"}], "negative"),
    ],
)
def test_malformed_transcription_fails_only_that_video(api, jfk_copy, tmp_path, monkeypatch, corrupt, message):
    other = make_video(jfk_copy.parent / "quiet.mp4", seconds=5, audio="silence")

    def mutate(body):
        if body.get("transcription"):
            body["transcription"] = corrupt(body["transcription"])
        return body

    def rule(method, path):
        return Fault("mutate", mutate=mutate) if "transcription=true" in path else FORWARD

    with FaultProxy(api.root_url, rule) as proxy:
        monkeypatch.setenv("TWELVELABS_BASE_URL", proxy.base_url)
        out = tmp_path / "lake"
        with pytest.raises(BatchFailed) as caught:
            transcribe_videos(sources=[str(jfk_copy), str(other)], index_name=f"bad-{uuid.uuid4().hex[:8]}", out=str(out))
    by_source = {r.source: r for r in caught.value.reports}
    assert by_source[str(other)].status == "landed"
    assert by_source[str(jfk_copy)].status == "failed" and message in by_source[str(jfk_copy)].error
    assert list(videos(out)["source"]) == [str(other)]
