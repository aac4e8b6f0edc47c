"""Multipart upload sessions over HTTP: chunk URLs served by the server itself, ETags, reports, expiry, restarts."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from assets_kit import chunks_of, md5, put_chunk, report, wait_asset
from server_testkit import CHUNK_SIZE, JFK
from twelvelabs import TwelveLabs

from tests.polling import wait_for, wait_until

DATA = JFK.read_bytes()
CHUNKS = chunks_of(DATA, CHUNK_SIZE)


def _session(rest, **overrides) -> dict:
    body = {"filename": "jfk.mp4", "type": "video", "total_size": len(DATA), **overrides}
    response = rest.post("/assets/multipart-uploads", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _urls(rest, session: dict) -> dict[int, str]:
    """Every chunk's URL: the first ones from the session, the rest asked for."""
    urls = {u["chunk_index"]: u["url"] for u in session["upload_urls"]}
    missing = [i for i in range(1, session["total_chunks"] + 1) if i not in urls]
    if missing:
        more = rest.post(
            f"/assets/multipart-uploads/{session['upload_id']}/presigned-urls",
            json={"start": missing[0], "count": len(missing)},
        )
        assert more.status_code == 200, more.text
        assert (more.json()["start_index"], more.json()["count"]) == (missing[0], len(missing))
        urls.update({u["chunk_index"]: u["url"] for u in more.json()["upload_urls"]})
    return urls


def test_chunks_in_any_order_make_the_asset(rest, shared_server):
    session = _session(rest, user_metadata={"content_hash": "sha256:multi"})
    assert session["chunk_size"] == CHUNK_SIZE
    assert session["total_chunks"] == len(CHUNKS) == 5
    assert [u["chunk_index"] for u in session["upload_urls"]] == [1, 2, 3, 4]
    assert session["upload_headers"] == {"Content-Type": "application/octet-stream"}
    upload_id = session["upload_id"]
    urls = _urls(rest, session)
    assert rest.get(f"/assets/{session['asset_id']}").json()["status"] == "processing"

    etags = {}
    for index in (5, 3, 1, 4, 2):
        answer = put_chunk(urls[index], CHUNKS[index])
        assert answer.status_code == 200, answer.text
        etags[index] = answer.headers["ETag"].strip('"')
        assert etags[index] == md5(CHUNKS[index])

    first = report(rest, upload_id, [(i, etags[i], len(CHUNKS[i])) for i in (4, 2)])
    assert first.status_code == 200, first.text
    assert first.json() == {"asset_id": session["asset_id"], "processed_chunks": 2, "duplicate_chunks": 0, "total_completed": 2}
    status = rest.get(f"/assets/multipart-uploads/{upload_id}", params={"page_limit": 2}).json()
    assert status["status"] == "active"
    assert (status["chunks_completed"], status["chunks_pending"], status["uploaded_size"]) == (2, 3, 2 * CHUNK_SIZE)
    assert [(c["index"], c["status"]) for c in status["uploaded_chunks"]] == [(1, "pending"), (2, "completed")]
    third_page = rest.get(f"/assets/multipart-uploads/{upload_id}", params={"page_limit": 2, "page": 3}).json()
    assert [c["index"] for c in third_page["uploaded_chunks"]] == [5]
    assert rest.get(f"/assets/multipart-uploads/{upload_id}", params={"page_limit": 2, "page": 4}).json()["uploaded_chunks"] == []
    assert upload_id in {u["upload_id"] for u in rest.get("/assets/multipart-uploads", params={"page_limit": 50}).json()["data"]}

    last = report(rest, upload_id, [(i, f'"{etags[i]}"', len(CHUNKS[i])) for i in (5, 2, 3, 1)])
    assert last.status_code == 200, last.text
    assert last.json()["processed_chunks"] == 3
    assert last.json()["duplicate_chunks"] == 1
    assert last.json()["total_completed"] == 5
    assert last.json()["url"].endswith(f"/v1.3/assets/{session['asset_id']}")
    again = report(rest, upload_id, [(1, etags[1], len(CHUNKS[1]))])
    assert again.status_code == 200
    assert (again.json()["processed_chunks"], again.json()["duplicate_chunks"]) == (0, 1)

    asset = wait_asset(rest, session["asset_id"])
    assert asset["status"] == "ready", asset
    assert (asset["method"], asset["size"], asset["user_metadata"]) == ("multipart", len(DATA), {"content_hash": "sha256:multi"})
    assert asset["duration"] == pytest.approx(11.0, abs=0.2)
    assert rest.get(f"/assets/multipart-uploads/{upload_id}").json()["status"] == "completed"
    client = TwelveLabs(api_key=shared_server.api_key, base_url=shared_server.base_url)
    chunks = list(client.multipart_upload.get_status(upload_id, page_limit=2))
    assert [(c.index, c.status) for c in chunks] == [(i, "completed") for i in range(1, 6)]
    assert upload_id not in {u["upload_id"] for u in rest.get("/assets/multipart-uploads", params={"page_limit": 50}).json()["data"]}


def test_bad_chunks_and_reports_are_refused(rest):
    session = _session(rest)
    upload_id = session["upload_id"]
    urls = _urls(rest, session)

    short = put_chunk(urls[1], CHUNKS[1][:100])
    assert (short.status_code, short.json()["code"]) == (400, "chunk_size_invalid")
    long = put_chunk(urls[5], CHUNKS[5] + b"extra")
    assert (long.status_code, long.json()["code"]) == (400, "chunk_size_invalid")
    forged = put_chunk(urls[1][:-1] + ("0" if urls[1][-1] != "0" else "1"), CHUNKS[1])
    assert (forged.status_code, forged.json()["code"]) == (403, "upload_url_invalid")
    swapped = put_chunk(urls[1].replace("/chunks/1?", "/chunks/2?"), CHUNKS[2])
    assert swapped.status_code == 403

    early = report(rest, upload_id, [(2, md5(CHUNKS[2]), len(CHUNKS[2]))])
    assert (early.status_code, early.json()["code"]) == (400, "chunk_not_uploaded")
    for index in (0, 6):
        outside = report(rest, upload_id, [(index, "x", 1)])
        assert (outside.status_code, outside.json()["code"]) == (400, "chunk_index_invalid")
    beyond = rest.post(f"/assets/multipart-uploads/{upload_id}/presigned-urls", json={"start": 4, "count": 3})
    assert (beyond.status_code, beyond.json()["code"]) == (400, "chunk_index_invalid")

    first_etag = put_chunk(urls[1], CHUNKS[1]).headers["ETag"].strip('"')
    wrong = report(rest, upload_id, [(1, md5(b"something else"), len(CHUNKS[1]))])
    assert (wrong.status_code, wrong.json()["code"]) == (400, "chunk_etag_mismatch")
    wrong_size = report(rest, upload_id, [(1, first_etag, 1)])
    assert (wrong_size.status_code, wrong_size.json()["code"]) == (400, "chunk_size_invalid")
    other_proof = rest.post(
        f"/assets/multipart-uploads/{upload_id}",
        json={"completed_chunks": [{"chunk_index": 1, "proof": first_etag, "proof_type": "md5", "chunk_size": len(CHUNKS[1])}]},
    )
    assert other_proof.status_code == 400
    assert rest.post(f"/assets/multipart-uploads/{upload_id}", json={"completed_chunks": []}).status_code == 400

    replaced = bytes(reversed(CHUNKS[1]))
    second_etag = put_chunk(urls[1], replaced).headers["ETag"].strip('"')
    assert second_etag != first_etag
    stale = report(rest, upload_id, [(1, first_etag, len(CHUNKS[1]))])
    assert stale.json()["code"] == "chunk_etag_mismatch"
    assert report(rest, upload_id, [(1, second_etag, len(replaced))]).status_code == 200
    final = put_chunk(urls[1], CHUNKS[1])
    assert (final.status_code, final.json()["code"]) == (409, "chunk_already_completed")
    status = rest.get(f"/assets/multipart-uploads/{upload_id}").json()
    assert (status["chunks_completed"], status["status"]) == (1, "active")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"filename": "a.png", "type": "image", "total_size": 10}, "parameter_invalid"),
        ({"filename": "a.mp4", "type": "video", "total_size": 0}, "parameter_invalid"),
        ({"filename": " ", "type": "video", "total_size": 10}, "parameter_invalid"),
        ({"filename": "a.mp4", "type": "video", "total_size": 10, "user_metadata": {"k": {"nested": 1}}}, "parameter_invalid"),
        ({"filename": "a.mp4", "type": "video"}, "parameter_not_provided"),
    ],
)
def test_bad_sessions_are_refused(rest, body, code):
    response = rest.post("/assets/multipart-uploads", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code


def test_unknown_and_malformed_sessions(rest):
    assert rest.get("/assets/multipart-uploads/" + "0" * 24).status_code == 404
    assert rest.get("/assets/multipart-uploads/nope").status_code == 400
    assert report(rest, "0" * 24, [(1, "x", 1)]).status_code == 404


def test_expired_session_refuses_everything(make_server, rest_for):
    server = make_server("--workers", "1", "--multipart-chunk-size", str(CHUNK_SIZE), "--multipart-ttl", "1")
    rest = rest_for(server)
    session = _session(rest)
    upload_id = session["upload_id"]
    wait_until(lambda: rest.get(f"/assets/multipart-uploads/{upload_id}").json()["status"] == "expired", 60, "the session to expire")
    chunk = put_chunk(session["upload_urls"][0]["url"], CHUNKS[1])
    assert (chunk.status_code, chunk.json()["code"]) == (400, "upload_session_expired")
    late = report(rest, upload_id, [(1, md5(CHUNKS[1]), len(CHUNKS[1]))])
    assert (late.status_code, late.json()["code"]) == (400, "upload_session_expired")
    more = rest.post(f"/assets/multipart-uploads/{upload_id}/presigned-urls", json={"start": 1, "count": 1})
    assert more.json()["code"] == "upload_session_expired"
    asset = wait_asset(rest, session["asset_id"])
    assert asset["status"] == "failed"
    assert "expired" in asset["error"]["message"]
    assert rest.get("/assets/multipart-uploads").json()["data"] == []


def test_expired_session_chunks_are_cleaned_up(make_server, rest_for):
    """Time is moved on by rewriting the session's deadline while the server is stopped."""
    server = make_server("--workers", "1", "--multipart-chunk-size", str(CHUNK_SIZE))
    rest = rest_for(server)
    session = _session(rest)
    assert put_chunk(session["upload_urls"][0]["url"], CHUNKS[1]).status_code == 200
    folder = server.data_dir / "multipart" / session["upload_id"]
    assert [p.name for p in folder.iterdir()] == [f"1-{md5(CHUNKS[1])}"]
    server.stop()
    with sqlite3.connect(server.data_dir / "reelscribe-server.sqlite3") as db:
        db.execute("UPDATE multipart_uploads SET expires_at = '2000-01-01T00:00:00.000Z'")
    server.start()
    asset = wait_asset(rest, session["asset_id"])
    assert asset["status"] == "failed"
    assert rest.get(f"/assets/multipart-uploads/{session['upload_id']}").json()["status"] == "expired"
    assert not folder.exists()


def test_upload_resumes_after_a_crash(make_server, rest_for):
    server = make_server("--workers", "1", "--multipart-chunk-size", str(CHUNK_SIZE))
    rest = rest_for(server)
    session = _session(rest)
    upload_id = session["upload_id"]
    urls = _urls(rest, session)
    etags = {i: put_chunk(urls[i], CHUNKS[i]).headers["ETag"].strip('"') for i in (1, 2, 3)}
    assert report(rest, upload_id, [(i, etags[i], len(CHUNKS[i])) for i in (1, 2)]).status_code == 200
    server.kill()

    server.start()
    status = rest.get(f"/assets/multipart-uploads/{upload_id}").json()
    assert (status["status"], status["chunks_completed"]) == ("active", 2)
    etags.update({i: put_chunk(urls[i], CHUNKS[i]).headers["ETag"].strip('"') for i in (4, 5)})
    done = report(rest, upload_id, [(i, etags[i], len(CHUNKS[i])) for i in (3, 4, 5)])
    assert done.status_code == 200, done.text
    assert done.json()["total_completed"] == 5
    asset = wait_asset(rest, session["asset_id"])
    assert (asset["status"], asset["size"]) == ("ready", len(DATA))
    assert list((server.data_dir / "multipart").iterdir()) == []


def test_official_sdk_upload_file_helper(shared_server, tmp_path):
    client = TwelveLabs(api_key=shared_server.api_key, base_url=shared_server.base_url)
    source = tmp_path / "jfk.mp4"
    shutil.copyfile(JFK, source)
    result = client.multipart_upload.upload_file(source, filename="sdk-multipart.mp4", batch_size=2, max_workers=2)
    assert result.asset_url.endswith(f"/assets/{result.asset_id}")
    asset = wait_for(lambda: client.assets.retrieve(result.asset_id), lambda a: a.status != "processing", 60, "the asset")
    assert asset.status == "ready"
    assert (asset.method, asset.filename, asset.size) == ("multipart", "sdk-multipart.mp4", len(DATA))


def test_deleting_the_asset_ends_its_session(rest, shared_server):
    session = _session(rest)
    url = session["upload_urls"][0]["url"]
    assert put_chunk(url, CHUNKS[1]).status_code == 200
    folder = shared_server.data_dir / "multipart" / session["upload_id"]
    assert folder.exists()
    assert rest.request("DELETE", f"/assets/{session['asset_id']}").status_code == 200
    assert not folder.exists()
    assert rest.get(f"/assets/multipart-uploads/{session['upload_id']}").status_code == 404
    gone = put_chunk(url, CHUNKS[1])
    assert gone.status_code == 404
    assert not folder.exists()


def test_chunk_urls_skip_the_rate_limit_but_not_the_api(make_server, rest_for):
    """The launcher's readiness check is request 1 of 2; chunk PUTs are not counted."""
    server = make_server("--workers", "1", "--multipart-chunk-size", str(CHUNK_SIZE), "--rate-limit", "2", "--rate-window", "3600")
    rest = rest_for(server)
    session = _session(rest)
    urls = {u["chunk_index"]: u["url"] for u in session["upload_urls"]}
    assert [put_chunk(urls[i], CHUNKS[i]).status_code for i in (1, 2, 3, 4)] == [200] * 4
    limited = report(rest, session["upload_id"], [(1, md5(CHUNKS[1]), len(CHUNKS[1]))])
    assert (limited.status_code, limited.json()["code"]) == (429, "too_many_requests")


@pytest.mark.slow
def test_large_chunks_are_streamed_to_disk_not_memory(make_server, rest_for, media, tmp_path):
    chunk = 64 * 1024 * 1024
    server = make_server("--workers", "1", "--multipart-chunk-size", str(chunk))
    rest = rest_for(server)
    warm = rest.submit(rest.create_index(), media["silent"])
    assert rest.wait(warm["_id"])["status"] == "ready"  # the model is loaded: its memory is in the baseline
    total = 3 * chunk
    sparse = tmp_path / "sparse.mp4"
    with open(sparse, "wb") as handle:
        handle.truncate(chunk)
    session = _session(rest, total_size=total)
    urls = _urls(rest, session)
    before = _peak_rss_kib(server.pid)
    etags = {}
    for index in (1, 2, 3):
        with open(sparse, "rb") as handle:
            answer = put_chunk(urls[index], handle)
        assert answer.status_code == 200, answer.text
        etags[index] = answer.headers["ETag"].strip('"')
    assert report(rest, session["upload_id"], [(i, etags[i], chunk) for i in (1, 2, 3)]).json()["total_completed"] == 3
    asset = wait_asset(rest, session["asset_id"], timeout=120)
    assert asset["status"] == "failed"  # zeros are no video; the 192 MiB were still received and assembled
    growth_mib = (_peak_rss_kib(server.pid) - before) / 1024
    assert growth_mib < 40, f"peak RSS grew by {growth_mib:.0f} MiB during a 192 MiB multipart upload"
    assert list((server.data_dir / "multipart").iterdir()) == []
    assert list((server.data_dir / "assets").iterdir()) == []


def _peak_rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("VmHWM not in /proc status")
