"""``/assets`` over HTTP: direct and URL uploads, listing, deletion, bad input, and the word-level transcription."""

from __future__ import annotations

import shutil

import pytest
from assets_kit import create_asset, index_asset, ready_asset, wait_asset, wait_indexed
from server_testkit import JFK


def test_direct_upload_becomes_ready_with_its_metadata(rest):
    created = create_asset(rest, JFK, metadata={"content_hash": "sha256:abc", "n": 3}, filename="speech.mp4")
    assert created["status"] == "processing"
    assert created["method"] == "direct"
    assert created["filename"] == "speech.mp4"
    assert created["file_type"] == "video/mp4"
    asset = wait_asset(rest, created["_id"])
    assert asset["status"] == "ready", asset
    assert asset["size"] == JFK.stat().st_size
    assert asset["duration"] == pytest.approx(11.0, abs=0.2)
    assert asset["user_metadata"] == {"content_hash": "sha256:abc", "n": 3}
    assert asset["technical_metadata"]["has_audio"] is True
    assert (asset["technical_metadata"]["video_width"], asset["technical_metadata"]["video_height"]) == (320, 240)
    assert "error" not in asset


def test_url_upload_is_fetched_then_ready(rest, file_root):
    source = file_root / "by-url.mp4"
    shutil.copyfile(JFK, source)
    response = rest.post("/assets", data={"method": "url", "url": source.as_uri()}, files={})
    assert response.status_code == 200, response.text
    created = response.json()
    assert (created["method"], created["status"], created["filename"]) == ("url", "processing", "by-url.mp4")
    asset = wait_asset(rest, created["_id"])
    assert asset["status"] == "ready", asset
    assert asset["size"] == JFK.stat().st_size


def test_files_that_are_no_video_fail_with_a_reason(rest, file_root, tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 300)
    broken = wait_asset(rest, create_asset(rest, garbage)["_id"])
    assert broken["status"] == "failed"
    assert "not a readable video" in broken["error"]["message"]
    assert "duration" not in broken

    shutil.copyfile(garbage, file_root / "garbage-by-url.mp4")
    response = rest.post("/assets", files={"method": (None, "url"), "url": (None, (file_root / "garbage-by-url.mp4").as_uri())})
    assert response.status_code == 200, response.text
    fetched = wait_asset(rest, response.json()["_id"])
    assert fetched["status"] == "failed"
    assert "not a readable video" in fetched["error"]["message"]


@pytest.mark.parametrize(
    ("fields", "with_file", "code", "name"),
    [
        ({}, True, "parameter_not_provided", "method"),
        ({"method": "multipart"}, True, "parameter_invalid", "method"),
        ({"method": "direct"}, False, "parameter_not_provided", "file"),
        ({"method": "url"}, False, "parameter_not_provided", "url"),
        ({"method": "url", "url": "http://example.invalid/a.mp4"}, True, "parameter_invalid", "file"),
        ({"method": "direct", "user_metadata": "[1, 2]"}, True, "parameter_invalid", "user_metadata"),
        ({"method": "direct", "user_metadata": "{not json"}, True, "parameter_invalid", "user_metadata"),
        ({"method": "direct", "enable_hls": "maybe"}, True, "parameter_invalid", "enable_hls"),
        ({"method": "url", "url": "ftp://host/video.mp4"}, False, "parameter_invalid", None),
    ],
)
def test_bad_create_requests_are_refused_and_leave_nothing(rest, shared_server, fields, with_file, code, name):
    before = set((shared_server.data_dir / "assets").iterdir())
    files = {"file": ("clip.mp4", JFK.read_bytes())} if with_file else {"dummy": (None, "")}
    response = rest.post("/assets", data=fields, files=files)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code
    if name is not None:
        assert f"`{name}`" in response.json()["message"]
    assert set((shared_server.data_dir / "assets").iterdir()) == before


def test_empty_file_is_refused(rest):
    response = rest.post("/assets", data={"method": "direct"}, files={"file": ("empty.mp4", b"")})
    assert response.status_code == 400
    assert response.json()["code"] == "video_file_broken"


def test_retrieve_checks_ids(rest):
    assert rest.get("/assets/not-an-id").json()["code"] == "parameter_invalid"
    missing = rest.get("/assets/" + "0" * 24)
    assert missing.status_code == 404
    assert missing.json()["code"] == "resource_not_exist"


def test_list_is_paged_newest_first_and_filtered(rest):
    ids = [create_asset(rest, JFK, filename=f"paging-{n}-unique.mp4")["_id"] for n in range(3)]
    first = rest.get("/assets", params={"page_limit": 2, "filename": "-UNIQUE"}).json()
    assert [a["_id"] for a in first["data"]] == [ids[2], ids[1]]
    assert first["page_info"]["total_results"] == 3
    assert first["page_info"]["total_page"] == 2
    second = rest.get("/assets", params={"page_limit": 2, "page": 2, "filename": "-unique"}).json()
    assert [a["_id"] for a in second["data"]] == [ids[0]]
    assert rest.get("/assets", params={"page_limit": 2, "page": 3, "filename": "-unique"}).json()["data"] == []
    by_id = rest.get("/assets", params={"asset_ids": f"{ids[0]},{ids[2]}"}).json()
    assert {a["_id"] for a in by_id["data"]} == {ids[0], ids[2]}
    assert rest.get("/assets", params={"status": "bogus"}).status_code == 400
    for asset_id in ids:
        wait_asset(rest, asset_id)


def test_delete_refuses_while_indexed_unless_forced(rest, index_id, media, shared_server):
    lone = ready_asset(rest, media["tone"])
    assert rest.request("DELETE", f"/assets/{lone['_id']}").status_code == 200
    assert rest.get(f"/assets/{lone['_id']}").status_code == 404
    assert not (shared_server.data_dir / "assets" / lone["_id"]).exists()
    assert rest.request("DELETE", f"/assets/{lone['_id']}").status_code == 404

    asset = ready_asset(rest, media["tone"])
    indexed_id = index_asset(rest, index_id, asset["_id"])
    refused = rest.request("DELETE", f"/assets/{asset['_id']}")
    assert refused.status_code == 409
    assert refused.json()["code"] == "asset_in_use"
    assert rest.get(f"/assets/{asset['_id']}").json()["status"] == "ready"
    indexed, _ = wait_indexed(rest, index_id, indexed_id)
    assert indexed["status"] == "ready"
    assert rest.request("DELETE", f"/assets/{asset['_id']}", params={"force": "true"}).status_code == 200
    assert rest.get(f"/assets/{asset['_id']}").status_code == 404
    kept = rest.get(f"/indexes/{index_id}/indexed-assets/{indexed_id}")
    assert kept.json()["status"] == "ready"
    assert rest.get(f"/assets/{asset['_id']}/transcription").status_code == 404


def test_transcription_needs_an_indexed_asset(rest):
    asset = ready_asset(rest, JFK)
    response = rest.get(f"/assets/{asset['_id']}/transcription")
    assert response.status_code == 404
    assert "indexed" in response.json()["message"]
    assert rest.get(f"/assets/{asset['_id']}/transcription", params={"include": "paragraphs"}).status_code == 400


def test_words_sentences_and_utterances_follow_the_segments(rest, jfk_asset):
    asset_id = jfk_asset["asset_id"]
    default = rest.get(f"/assets/{asset_id}/transcription").json()
    assert default["status"] == "ready"
    assert set(default) == {"status", "words"}

    body = rest.get(f"/assets/{asset_id}/transcription", params={"include": "words,sentences,utterances"}).json()
    repeated = rest.get(
        f"/assets/{asset_id}/transcription", params=[("include", "words"), ("include", "sentences"), ("include", "utterances")]
    ).json()
    assert body == repeated
    segments = jfk_asset["transcription"]
    words = body["words"]
    assert [w["value"] for w in words] == " ".join(s["value"] for s in segments).split()
    for earlier, later in zip(words, words[1:]):
        assert earlier["end"] <= later["start"]
    for word in words:
        assert word["start"] <= word["end"]
        assert any(s["start"] <= word["start"] and word["end"] <= s["end"] for s in segments)

    sentences = body["sentences"]
    assert " ".join(s["value"] for s in sentences).split() == [w["value"] for w in words]
    assert all(s["value"].rstrip()[-1] in ".!?" for s in sentences[:-1])
    assert sentences[0]["start"] == words[0]["start"] and sentences[-1]["end"] == words[-1]["end"]

    utterances = body["utterances"]
    assert all(u["speaker"] is None for u in utterances)
    assert " ".join(u["value"] for u in utterances).split() == [w["value"] for w in words]
    assert utterances[0]["start"] == segments[0]["start"] and utterances[-1]["end"] == segments[-1]["end"]


def test_silent_asset_has_empty_segmentations(rest, index_id, media):
    asset = ready_asset(rest, media["silent"])
    indexed, _ = wait_indexed(rest, index_id, index_asset(rest, index_id, asset["_id"]))
    assert indexed["status"] == "ready"
    body = rest.get(f"/assets/{asset['_id']}/transcription", params={"include": "words,sentences,utterances"}).json()
    assert body == {"status": "ready", "words": [], "sentences": [], "utterances": []}


def test_auth_and_injected_faults_cover_the_assets_path(faulty_server, rest_for):
    server = faulty_server
    rest = rest_for(server)
    for method, path in (("POST", "/assets"), ("GET", "/assets"), ("GET", "/assets/multipart-uploads")):
        unauthorised = rest.request(method, path, headers={"x-api-key": "wrong"})
        assert unauthorised.status_code == 401
        assert unauthorised.json()["code"] == "api_key_invalid"
    faulted = rest.post("/assets", data={"method": "direct"}, files={"file": ("clip.mp4", JFK.read_bytes())})
    assert faulted.status_code in (500, 502, 503)
    assert list((server.data_dir / "assets").iterdir()) == []


def test_rate_limit_applies_to_assets(make_server, rest_for):
    server = make_server("--workers", "1", "--rate-limit", "2", "--rate-window", "3600")
    rest = rest_for(server)
    answers = [rest.get("/assets") for _ in range(3)]
    limited = answers[-1]
    assert limited.status_code == 429
    assert limited.json()["code"] == "too_many_requests"
    assert 0 < int(limited.headers["Retry-After"]) <= 30
