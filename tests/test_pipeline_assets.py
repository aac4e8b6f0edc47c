"""The assets path end to end: the real flow, the real local server over HTTP, the lake read back with DuckDB.

One asset per content and one indexed asset per video, also when answers are lost (a fault proxy
drops them after the server acted); large files through a multipart session; words and utterances
landed beside the segments.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from pathlib import Path

import duckdb
import pytest
import requests

from reelscribe.core.errors import BatchFailed
from reelscribe.flows.transcribe import transcribe_videos
from reelscribe.server.launcher import EmbeddedServer
from tests.conftest import JFK
from tests.faultproxy import FORWARD, Fault, FaultProxy, once
from tests.media import make_video
from tests.test_pipeline import server_tasks, videos

pytestmark = pytest.mark.usefixtures("prefect_engine")

CHUNK = 16 * 1024
"""The private server's multipart chunk size: jfk.mp4 (72 KB) becomes five chunks."""


def get(server, path: str, **params) -> dict:
    response = requests.get(f"{server.base_url}/{path}", params=params, headers={"x-api-key": server.api_key}, timeout=30)
    response.raise_for_status()
    return response.json()


def assets_with(server, sha256: str) -> list[dict]:
    """Every asset on the server (all pages) whose metadata carries this content hash."""
    found, page = [], 1
    while True:
        body = get(server, "assets", page=page, page_limit=50)
        found += [a for a in body["data"] if (a.get("user_metadata") or {}).get("reelscribe_sha256") == sha256]
        if not body["data"]:
            return found
        page += 1


def indexed_assets(server, index_id: str) -> list[dict]:
    return get(server, f"indexes/{index_id}/indexed-assets", page_limit=50)["data"]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def rows(sql: str) -> list[tuple]:
    return duckdb.sql(sql).fetchall()


def table(out: Path, name: str) -> str:
    return f"read_parquet('{out}/{name}/**/*.parquet', hive_partitioning = true)"


def first_of(*rules):
    """A ``FaultProxy`` rule: the first of ``rules`` that faults this request, else forward."""

    def rule(method: str, path: str) -> Fault:
        for each in rules:
            fault = each(method, path)
            if fault.kind != "forward":
                return fault
        return FORWARD

    return rule


def words_of(text: str) -> list[str]:
    return text.split()


def assert_words_match_segments(out: Path) -> None:
    """Each segment's words, in order, spell its text word for word; their times are ordered and inside it."""
    segments = rows(f"select video_id, segment, start, \"end\", value from {table(out, 'segments')} order by video_id, segment")
    words = rows(f"select video_id, word, start, \"end\", value, segment from {table(out, 'words')} order by video_id, word")
    assert words, "no words landed"
    by_segment: dict[tuple[str, int], list[tuple]] = {}
    for word in words:
        by_segment.setdefault((word[0], word[5]), []).append(word)
    assert None not in {key[1] for key in by_segment}, "a word fell in no segment"
    for video_id, segment, start, end, value in segments:
        inside = by_segment.get((video_id, segment), [])
        assert [w[4] for w in inside] == words_of(value), (value, inside)
        assert all(start <= w[2] <= w[3] <= end for w in inside), (start, end, inside)
    ordinals = [w[1] for w in words]
    assert ordinals == list(range(len(words)))
    assert all(a[3] <= b[2] for a, b in zip(words, words[1:])), "word times are not ordered"


def test_auto_takes_the_assets_path_and_lands_words_matching_the_segments(api, jfk_copy, tmp_path):
    out = tmp_path / "lake"
    reports = transcribe_videos(sources=[str(jfk_copy)], index_name=f"words-{uuid.uuid4().hex[:8]}", out=str(out))
    assert [r.status for r in reports] == ["landed"]
    assert_words_match_segments(out)
    (video,) = videos(out).to_dict("records")
    index_id, video_id = video["index_id"], reports[0].video_id
    (asset,) = assets_with(api, sha256_of(JFK))
    (indexed,) = indexed_assets(api, index_id)
    assert (video["video_id"], video["asset_id"]) == (indexed["_id"], asset["_id"]) == (video_id, indexed["asset_id"])
    assert server_tasks(api, index_id) == []
    word_count = rows(f"select count(*) from {table(out, 'words')}")[0][0]
    assert video["word_count"] == word_count and video["utterance_count"] >= 1
    (utterance_text,) = rows(f"select string_agg(value, ' ' order by utterance) from {table(out, 'utterances')}")[0]
    segment_text = rows(f"select string_agg(value, ' ' order by segment) from {table(out, 'segments')}")[0][0]
    assert words_of(utterance_text) == words_of(segment_text)


def test_a_second_index_reuses_the_asset_and_a_rerun_reuses_the_indexed_asset(api, tmp_path):
    clip = make_video(tmp_path / "in" / "reuse.mp4", 4.5, audio="silence", width=212, height=120)
    sha = sha256_of(clip)
    first, second = f"reuse-a-{uuid.uuid4().hex[:8]}", f"reuse-b-{uuid.uuid4().hex[:8]}"
    transcribe_videos(sources=[str(clip)], index_name=first, out=str(tmp_path / "a"), upload="assets")
    transcribe_videos(sources=[str(clip)], index_name=second, out=str(tmp_path / "b"), upload="assets")
    again = transcribe_videos(sources=[str(clip)], index_name=second, out=str(tmp_path / "b"), upload="assets", refresh=True)
    assert [r.status for r in again] == ["landed"]
    (asset,) = assets_with(api, sha)
    index_b = videos(tmp_path / "b")["index_id"].iloc[0]
    assert [ia["asset_id"] for ia in indexed_assets(api, index_b)] == [asset["_id"]]
    assert len(videos(tmp_path / "b")) == 1 and videos(tmp_path / "b")["word_count"].iloc[0] == 0


def test_tasks_on_request_lands_segments_without_words(api, tmp_path):
    clip = make_video(tmp_path / "in" / "tasks.mp4", 4.5, audio="silence", width=216, height=120)
    out = tmp_path / "lake"
    reports = transcribe_videos(sources=[str(clip)], index_name=f"tasks-{uuid.uuid4().hex[:8]}", out=str(out), upload="tasks")
    assert [r.status for r in reports] == ["landed"]
    (video,) = videos(out).to_dict("records")
    assert len(server_tasks(api, video["index_id"])) == 1 and indexed_assets(api, video["index_id"]) == []
    assert assets_with(api, sha256_of(clip)) == []
    assert video["asset_id"] is None and video["word_count"] is None
    assert not (out / "words").exists()


def test_auto_takes_the_tasks_path_on_a_server_without_assets(api, tmp_path, monkeypatch):
    """An older server: the proxy answers 404 to anything under ``/assets``, as servers without the path do."""
    clip = make_video(tmp_path / "in" / "older.mp4", 4.5, audio="silence", width=224, height=120)
    no_assets = Fault("status", status=404, body=b'{"code": "not_found", "message": "Not Found"}')

    def rule(method: str, path: str) -> Fault:
        return no_assets if path.startswith("/v1.3/assets") else FORWARD

    with FaultProxy(api.root_url, rule) as proxy:
        monkeypatch.setenv("TWELVELABS_BASE_URL", proxy.base_url)
        out = tmp_path / "lake"
        reports = transcribe_videos(sources=[str(clip)], index_name=f"older-{uuid.uuid4().hex[:8]}", out=str(out))
    assert [r.status for r in reports] == ["landed"] and proxy.counts["status"] == 1
    assert len(server_tasks(api, videos(out)["index_id"].iloc[0])) == 1
    assert assets_with(api, sha256_of(clip)) == []


def test_lost_answers_still_make_one_asset_and_one_indexed_asset(api, tmp_path, monkeypatch):
    clip = make_video(tmp_path / "in" / "lost.mp4", 4.5, audio="silence", width=220, height=120)
    rule = first_of(
        once(Fault("lost_answer"), lambda method, path: method == "POST" and path == "/v1.3/assets"),
        once(Fault("lost_answer"), lambda method, path: method == "POST" and path.endswith("/indexed-assets")),
        once(Fault("lost_answer"), lambda method, path: method == "GET" and "/indexed-assets/" in path),
        once(Fault("status", status=503), lambda method, path: method == "GET" and "/transcription" in path),
    )
    with FaultProxy(api.root_url, rule) as proxy:
        monkeypatch.setenv("TWELVELABS_BASE_URL", proxy.base_url)
        out = tmp_path / "lake"
        reports = transcribe_videos(sources=[str(clip)], index_name=f"lost-{uuid.uuid4().hex[:8]}", out=str(out), upload="assets")
    assert proxy.counts["lost_answer"] == 3 and proxy.counts["status"] == 1
    assert [r.status for r in reports] == ["landed"]
    (asset,) = assets_with(api, sha256_of(clip))
    (indexed,) = indexed_assets(api, videos(out)["index_id"].iloc[0])
    assert indexed["asset_id"] == asset["_id"] and videos(out)["video_id"].tolist() == [indexed["_id"]]


@pytest.fixture
def small_chunks(tmp_path, monkeypatch):
    """A private server with 16 KiB multipart chunks, and a direct-upload limit that sends jfk.mp4 through them."""
    server = EmbeddedServer(tmp_path / "multipart-server", extra_args=("--multipart-chunk-size", str(CHUNK)))
    server.start()
    monkeypatch.setenv("TWELVE_LABS_API_KEY", server.api_key)
    monkeypatch.setenv("REELSCRIBE_DIRECT_UPLOAD_LIMIT", "1000")
    try:
        yield server
    finally:
        server.stop()


def chunk_put(number: int):
    return lambda method, path: method == "PUT" and re.search(rf"/chunks/{number}\?", path) is not None


def test_multipart_upload_survives_lost_answers_and_resumes_the_session(small_chunks, jfk_copy, tmp_path, monkeypatch):
    rule = first_of(
        once(Fault("lost_answer"), lambda method, path: method == "POST" and path == "/v1.3/assets/multipart-uploads"),
        once(Fault("lost_answer"), chunk_put(2)),
        once(Fault("status", status=503), chunk_put(3)),
        once(Fault("reset_before"), chunk_put(4)),
        once(Fault("lost_answer"), lambda method, path: method == "POST" and re.search(r"/multipart-uploads/[0-9a-f]{24}$", path) is not None),
    )
    with FaultProxy(small_chunks.root_url, rule, keep_host=True) as proxy:
        monkeypatch.setenv("TWELVELABS_BASE_URL", proxy.base_url)
        out = tmp_path / "lake"
        reports = transcribe_videos(sources=[str(jfk_copy)], index_name="multipart", out=str(out))
    assert proxy.counts["lost_answer"] == 3 and proxy.counts["status"] == 1 and proxy.counts["reset_before"] == 1
    assert [r.status for r in reports] == ["landed"]
    (asset,) = assets_with(small_chunks, sha256_of(JFK))
    assert asset["method"] == "multipart" and asset["status"] == "ready"
    assert get(small_chunks, f"assets/{asset['_id']}")["size"] == JFK.stat().st_size
    assert get(small_chunks, "assets/multipart-uploads")["data"] == []
    (indexed,) = indexed_assets(small_chunks, videos(out)["index_id"].iloc[0])
    assert indexed["asset_id"] == asset["_id"]
    assert_words_match_segments(out)


def test_an_indexed_asset_the_server_fails_fails_only_that_video(api, tmp_path):
    short = make_video(tmp_path / "in" / "short.mp4", 2.0, audio="silence", width=228, height=120)
    good = make_video(tmp_path / "in" / "good.mp4", 4.5, audio="silence", width=232, height=120)
    out = tmp_path / "lake"
    with pytest.raises(BatchFailed) as caught:
        transcribe_videos(sources=[str(short), str(good)], index_name=f"short-{uuid.uuid4().hex[:8]}", out=str(out), upload="assets")
    by_source = {r.source: r for r in caught.value.reports}
    assert by_source[str(good)].status == "landed"
    assert by_source[str(short)].status == "failed" and "IndexingFailed" in by_source[str(short)].error
    assert "video_duration_too_short" in by_source[str(short)].error
    assert videos(out)["source"].tolist() == [str(good)]


def test_one_content_twice_in_one_batch_is_one_asset_and_one_indexed_asset(api, tmp_path):
    """Two copies under one name in two folders in one batch: the plan sends one, the other is its duplicate."""
    clip = make_video(tmp_path / "a" / "twice.mp4", 4.5, audio="silence", width=236, height=120)
    copy = tmp_path / "b" / "twice.mp4"
    copy.parent.mkdir()
    copy.write_bytes(clip.read_bytes())
    out = tmp_path / "lake"
    reports = transcribe_videos(sources=[str(clip), str(copy)], index_name=f"twice-{uuid.uuid4().hex[:8]}", out=str(out), upload="assets")
    assert [r.status for r in reports] == ["landed", "duplicate"] and reports[0].video_id == reports[1].video_id
    (asset,) = assets_with(api, sha256_of(clip))
    (indexed,) = indexed_assets(api, videos(out)["index_id"].iloc[0])
    assert indexed["asset_id"] == asset["_id"] and len(videos(out)) == 1
