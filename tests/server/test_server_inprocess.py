"""The API in-process (FastAPI's TestClient on ``create_app``): routes, store and multipart rules with
no server process, for the fast lane (``make check``). The same app runs under uvicorn in the rest
of ``tests/server``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from reelscribe.server.app import asr_settings, create_app
from reelscribe.server.asr import AsrEngine
from reelscribe.server.config import ServerConfig

KEY = "in-process-key"
MODELS = [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]
CHUNK = 64 * 1024
DATA = bytes(range(256)) * (CHUNK * 3 // 256 - 7)  # three chunks, the last one short


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> Iterator[TestClient]:
    config = ServerConfig(
        data_dir=tmp_path_factory.mktemp("in-process"), api_keys=(KEY,), workers=1, multipart_chunk_size=CHUNK
    )
    engine = AsrEngine(asr_settings(config))
    engine.load()  # here, not in the app's warm-up thread, which the interpreter would end mid-load
    with TestClient(create_app(config, engine=engine), headers={"x-api-key": KEY}) as client:
        yield client


def test_every_route_needs_the_key(api):
    refused = api.get("/v1.3/indexes", headers={"x-api-key": "wrong"})
    assert (refused.status_code, refused.json()["code"]) == (401, "api_key_invalid")


def test_indexes_page_in_a_stable_order_and_name_clashes_are_refused(api):
    ids = [api.post("/v1.3/indexes", json={"index_name": f"page-{n}", "models": MODELS}).json()["_id"] for n in range(5)]
    pages = [api.get("/v1.3/indexes", params={"page": p, "page_limit": 2, "sort_option": "asc"}).json() for p in (1, 2, 3)]
    seen = [row["_id"] for page in pages for row in page["data"] if row["_id"] in ids]
    assert seen == ids
    assert pages[0]["page_info"]["total_results"] >= 5
    clash = api.post("/v1.3/indexes", json={"index_name": "page-0", "models": MODELS})
    assert (clash.status_code, clash.json()["code"]) == (400, "index_name_already_exists")


def test_a_malformed_id_is_400_and_an_unknown_one_404(api):
    assert api.get("/v1.3/tasks/not-an-id").json()["code"] == "parameter_invalid"
    unknown = api.get(f"/v1.3/tasks/{'0' * 24}")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "resource_not_exist")


def test_a_multipart_session_completes_once_every_chunk_is_reported(api):
    session = api.post("/v1.3/assets/multipart-uploads", json={"filename": "x.mp4", "type": "video", "total_size": len(DATA)})
    assert session.status_code == 200, session.text
    body = session.json()
    upload_id, urls = body["upload_id"], {u["chunk_index"]: u["url"] for u in body["upload_urls"]}
    chunks = {n + 1: DATA[o : o + CHUNK] for n, o in enumerate(range(0, len(DATA), CHUNK))}
    assert sorted(chunks) == [1, 2, 3] and sorted(urls)[:3] == [1, 2, 3]
    etags = {}
    for index in (3, 1, 2):
        put = api.put(urls[index], content=chunks[index], headers={"x-api-key": ""})
        assert put.status_code == 200, put.text
        etags[index] = put.headers["ETag"].strip('"')
        assert etags[index] == hashlib.md5(chunks[index]).hexdigest()

    def report(*indexes: int, etag=lambda i: etags[i]):
        entries = [{"chunk_index": i, "proof": etag(i), "proof_type": "etag", "chunk_size": len(chunks[i])} for i in indexes]
        return api.post(f"/v1.3/assets/multipart-uploads/{upload_id}", json={"completed_chunks": entries})

    wrong = report(1, etag=lambda i: "0" * 32)
    assert wrong.status_code == 400, wrong.text
    first = report(2, 2)
    assert first.status_code == 200, first.text
    assert api.get(f"/v1.3/assets/multipart-uploads/{upload_id}").json()["status"] == "active"
    last = report(1, 3)
    assert last.status_code == 200, last.text
    assert api.get(f"/v1.3/assets/multipart-uploads/{upload_id}").json()["status"] == "completed"
    again = api.put(urls[1], content=chunks[1], headers={"x-api-key": ""})
    assert again.status_code >= 400
