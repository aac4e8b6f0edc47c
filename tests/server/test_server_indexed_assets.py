"""``/indexes/{id}/indexed-assets`` over HTTP and through the official SDK: statuses, bad input, restarts."""

from __future__ import annotations

import itertools
import uuid

import pytest
from assets_kit import INDEXED_ORDER, create_asset, index_asset, ready_asset, wait_asset, wait_indexed
from server_testkit import JFK, JFK_REFERENCE
from twelvelabs import TwelveLabs
from twelvelabs.indexes.types import IndexesCreateRequestModelsItem
from wer import word_error_rate

from tests.polling import wait_for

MAX_ITEMS = 200


def test_indexed_asset_goes_through_the_statuses_in_order(rest, jfk_asset):
    seen = jfk_asset["statuses"]
    assert seen[-1] == "ready"
    assert [INDEXED_ORDER.index(s) for s in seen] == sorted(INDEXED_ORDER.index(s) for s in seen)
    body = rest.get(f"/indexes/{jfk_asset['index_id']}/indexed-assets/{jfk_asset['indexed_asset_id']}").json()
    assert body["asset_id"] == jfk_asset["asset_id"]
    assert body["index_id"] == jfk_asset["index_id"]
    assert body["indexed_at"] >= body["created_at"]
    assert body["user_metadata"] == {"content_hash": "sha256:jfk-asset"}
    meta = body["system_metadata"]
    assert (meta["filename"], meta["width"], meta["height"], meta["size"]) == ("jfk.mp4", 320, 240, JFK.stat().st_size)
    assert meta["duration"] == pytest.approx(11.0, abs=0.2)
    assert "transcription" not in body

    segments = jfk_asset["transcription"]
    shown = {"start", "end", "value", "language", "avg_logprob", "no_speech_prob", "compression_ratio"}
    assert all(set(segment) == shown and segment["language"] == "en" for segment in segments)
    assert word_error_rate(JFK_REFERENCE, " ".join(s["value"] for s in segments)) <= 0.10


def test_list_is_paged_and_filtered(rest, index_id, media):
    assets = [ready_asset(rest, media["silent"]) for _ in range(3)]
    ids = [index_asset(rest, index_id, a["_id"]) for a in assets]
    first = rest.get(f"/indexes/{index_id}/indexed-assets", params={"page_limit": 2}).json()
    assert [row["_id"] for row in first["data"]] == [ids[2], ids[1]]
    assert first["page_info"]["total_results"] == 3
    assert rest.get(f"/indexes/{index_id}/indexed-assets", params={"page_limit": 2, "page": 3}).json()["data"] == []
    for indexed_id in ids:
        assert wait_indexed(rest, index_id, indexed_id)[0]["status"] == "ready"
    ready = rest.get(f"/indexes/{index_id}/indexed-assets", params={"status": "ready", "sort_option": "asc"}).json()
    assert [row["_id"] for row in ready["data"]] == ids
    of_one = rest.get(f"/indexes/{index_id}/indexed-assets", params={"asset_id": assets[1]["_id"]}).json()
    assert [row["_id"] for row in of_one["data"]] == [ids[1]]
    assert rest.get(f"/indexes/{index_id}/indexed-assets", params={"status": "done"}).status_code == 400


def test_only_ready_assets_can_be_indexed(rest, index_id, tmp_path):
    session = rest.post("/assets/multipart-uploads", json={"filename": "a.mp4", "type": "video", "total_size": 100}).json()
    pending = rest.post(f"/indexes/{index_id}/indexed-assets", json={"asset_id": session["asset_id"]})
    assert (pending.status_code, pending.json()["code"]) == (400, "asset_not_ready")
    assert "processing" in pending.json()["message"]

    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 200)
    failed = wait_asset(rest, create_asset(rest, garbage)["_id"])
    refused = rest.post(f"/indexes/{index_id}/indexed-assets", json={"asset_id": failed["_id"]})
    assert (refused.status_code, refused.json()["code"]) == (400, "asset_not_ready")
    assert "failed" in refused.json()["message"]
    assert rest.get(f"/indexes/{index_id}/indexed-assets").json()["data"] == []


def test_unknown_deleted_and_malformed_assets(rest, index_id, media):
    unknown = rest.post(f"/indexes/{index_id}/indexed-assets", json={"asset_id": "0" * 24})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "resource_not_exist")
    asset = ready_asset(rest, media["silent"])
    assert rest.request("DELETE", f"/assets/{asset['_id']}").status_code == 200
    deleted = rest.post(f"/indexes/{index_id}/indexed-assets", json={"asset_id": asset["_id"]})
    assert (deleted.status_code, deleted.json()["code"]) == (404, "resource_not_exist")
    malformed = rest.post(f"/indexes/{index_id}/indexed-assets", json={"asset_id": "../etc"})
    assert (malformed.status_code, malformed.json()["code"]) == (400, "parameter_invalid")
    missing = rest.post(f"/indexes/{index_id}/indexed-assets", json={})
    assert (missing.status_code, missing.json()["code"]) == (400, "parameter_not_provided")
    no_index = rest.post(f"/indexes/{'0' * 24}/indexed-assets", json={"asset_id": asset["_id"]})
    assert no_index.status_code == 404
    assert rest.get(f"/indexes/{index_id}/indexed-assets/{'0' * 24}").status_code == 404
    assert rest.get(f"/indexes/{index_id}/indexed-assets/nope").status_code == 400


def test_an_asset_is_indexed_once_per_index(rest, index_id, media):
    asset = ready_asset(rest, media["silent"])
    first = index_asset(rest, index_id, asset["_id"])
    twice = rest.post(f"/indexes/{index_id}/indexed-assets", json={"asset_id": asset["_id"]})
    assert (twice.status_code, twice.json()["code"]) == (409, "asset_already_indexed")
    assert first in twice.json()["message"]
    other_index = rest.create_index()
    second = index_asset(rest, other_index, asset["_id"])
    assert second != first
    assert wait_indexed(rest, index_id, first)[0]["status"] == "ready"
    assert rest.post(f"/indexes/{index_id}/indexed-assets", json={"asset_id": asset["_id"]}).status_code == 409
    assert wait_indexed(rest, other_index, second)[0]["status"] == "ready"


def test_too_short_asset_fails_indexing_with_a_reason(rest, index_id, media):
    asset = ready_asset(rest, media["short"])
    failed, _ = wait_indexed(rest, index_id, index_asset(rest, index_id, asset["_id"]))
    assert failed["status"] == "failed"
    assert failed["error_reason"]["code"] == "video_duration_too_short"
    transcription = rest.get(f"/assets/{asset['_id']}/transcription").json()
    assert transcription["status"] == "failed"
    assert transcription["error"]["message"]
    retried = rest.post(f"/indexes/{index_id}/indexed-assets", json={"asset_id": asset["_id"]})
    assert retried.status_code == 202


def test_delete_indexed_asset_then_asset(rest, index_id, media):
    asset = ready_asset(rest, media["silent"])
    indexed_id = index_asset(rest, index_id, asset["_id"])
    wait_indexed(rest, index_id, indexed_id)
    assert rest.request("DELETE", f"/indexes/{index_id}/indexed-assets/{indexed_id}").status_code == 200
    assert rest.get(f"/indexes/{index_id}/indexed-assets/{indexed_id}").status_code == 404
    assert rest.request("DELETE", f"/assets/{asset['_id']}").status_code == 200


def test_deleting_the_index_removes_its_indexed_assets(rest, media):
    index = rest.create_index()
    asset = ready_asset(rest, media["silent"])
    indexed_id = index_asset(rest, index, asset["_id"])
    wait_indexed(rest, index, indexed_id)
    assert rest.request("DELETE", f"/indexes/{index}").status_code == 200
    assert rest.request("DELETE", f"/assets/{asset['_id']}").status_code == 200


@pytest.mark.slow
def test_indexing_resumes_after_a_crash(make_server, rest_for, tmp_path):
    """The first indexed asset is held at ``indexing`` (``--fault-hold-file``) until the crash."""
    hold = tmp_path / "hold"
    hold.touch()
    server = make_server("--fault-hold-file", str(hold), "--workers", "1")
    rest = rest_for(server)
    index = rest.create_index()
    asset = ready_asset(rest, JFK)
    first = index_asset(rest, index, asset["_id"])
    assert wait_indexed(rest, index, first, until=("indexing",))[0]["status"] == "indexing"
    waiting_index = rest.create_index()
    second = index_asset(rest, waiting_index, asset["_id"])
    server.kill()

    hold.unlink()
    server.start()
    for index_id, indexed_id in ((index, first), (waiting_index, second)):
        done, _ = wait_indexed(rest, index_id, indexed_id)
        assert done["status"] == "ready", done
        words = rest.get(f"/assets/{asset['_id']}/transcription").json()["words"]
        assert len(words) > 10
    assert "resuming 1 indexed asset(s)" in server.log_path.read_text()
    assert rest.get(f"/assets/{asset['_id']}").json()["status"] == "ready"


def test_asset_accepted_before_a_crash_is_ready_after_it(make_server, rest_for):
    """Nothing accepted is lost: the answer came after the bytes were on disk and the row committed."""
    server = make_server("--workers", "1")
    rest = rest_for(server)
    created = create_asset(rest, JFK)
    server.kill()
    server.start()
    asset = wait_asset(rest, created["_id"])
    assert asset["status"] == "ready"
    assert asset["size"] == JFK.stat().st_size


def test_official_sdk_on_the_assets_path(shared_server):
    client = TwelveLabs(api_key=shared_server.api_key, base_url=shared_server.base_url)
    index = client.indexes.create(
        index_name=f"sdk-assets-{uuid.uuid4().hex[:8]}",
        models=[IndexesCreateRequestModelsItem(model_name="marengo3.0", model_options=["visual", "audio"])],
    )
    with open(JFK, "rb") as handle:
        created = client.assets.create(method="direct", file=handle, user_metadata='{"source": "sdk"}')
    assert created.status == "processing"
    asset = wait_for(lambda: client.assets.retrieve(created.id), lambda a: a.status != "processing", 60, "the asset")
    assert asset.status == "ready"
    assert asset.user_metadata == {"source": "sdk"}

    indexed = client.indexes.indexed_assets.create(index.id, asset_id=asset.id)
    assert indexed.asset_id == asset.id
    def finished(detail) -> bool:
        assert detail.status in INDEXED_ORDER
        return detail.status in ("ready", "failed")

    detail = wait_for(lambda: client.indexes.indexed_assets.retrieve(index.id, indexed.id), finished, 120, "indexing", 0.2)
    assert detail.status == "ready"
    assert detail.system_metadata.filename == "jfk.mp4"
    with_text = client.indexes.indexed_assets.retrieve(index.id, indexed.id, transcription=True)
    text = " ".join(segment.value for segment in with_text.transcription)
    assert word_error_rate(JFK_REFERENCE, text) <= 0.10

    counted = client.indexes.retrieve(index.id)
    assert (counted.video_count, counted.total_duration) == (1, pytest.approx(11.0, abs=0.2))
    listed = list(itertools.islice(client.indexes.indexed_assets.list(index.id, page_limit=1), MAX_ITEMS))
    assert [row.id for row in listed] == [indexed.id]

    transcription = client.assets.retrieve_transcription(asset.id, include=["words", "sentences", "utterances"])
    assert transcription.status == "ready"
    assert [w.value for w in transcription.words] == text.split()
    assert " ".join(s.value for s in transcription.sentences) == " ".join(w.value for w in transcription.words)
    assert all(u.speaker is None for u in transcription.utterances)
    assets = list(itertools.islice(client.assets.list(page_limit=5), MAX_ITEMS * 5))
    assert asset.id in {a.id for a in assets}


def test_indexed_assets_of_an_asset(rest, media, shared_server):
    asset = ready_asset(rest, media["silent"])
    indexes = [rest.create_index(f"by-asset-{uuid.uuid4().hex[:8]}") for _ in range(2)]
    ids = [index_asset(rest, index, asset["_id"]) for index in indexes]
    body = rest.get(f"/assets/{asset['_id']}/indexed-assets", params={"page_limit": 1}).json()
    assert [row["_id"] for row in body["data"]] == [ids[1]]
    assert body["page_info"]["total_results"] == 2
    client = TwelveLabs(api_key=shared_server.api_key, base_url=shared_server.base_url)
    listed = list(itertools.islice(client.indexes.indexed_assets.list_by_asset(asset["_id"], page_limit=1), MAX_ITEMS))
    assert [(row.id, row.index.id) for row in listed] == [(ids[1], indexes[1]), (ids[0], indexes[0])]
    names = {row.index.id: row.index.name for row in listed}
    assert all(names[index].startswith("by-asset-") for index in indexes)
    assert rest.get(f"/assets/{'0' * 24}/indexed-assets").status_code == 404
    for index, indexed_id in zip(indexes, ids):
        wait_indexed(rest, index, indexed_id)
