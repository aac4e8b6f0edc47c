"""Choosing the ingest path per server, the chunk upload's wire manners and the assets path's waits, against scripted loopback servers."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.errors import ApiError, ApiServerError, ConfigError
from reelscribe.core.retry import RetryPolicy
from reelscribe.core.settings import Settings
from reelscribe.core.ingest_paths.choose import choose_ingest_path, path_named
from tests.scripted_http import Reply, ScriptedServer

KEY = "tlk_upload_path_test_key_0123456789"
NOT_FOUND = Reply(404, {"code": "not_found", "message": "Not Found"})
EMPTY_PAGE = Reply(body={"data": [], "page_info": {"page": 1, "total_page": 0}})


def client_for(base_url: str) -> TwelveLabsClient:
    settings = Settings(base_url=base_url, api_key=SecretStr(KEY), read_timeout=5)
    return TwelveLabsClient(settings, retry=RetryPolicy(max_attempts=3), sleep=lambda s: None)


@pytest.mark.parametrize(("reply", "expected"), [(NOT_FOUND, "tasks"), (EMPTY_PAGE, "assets")])
def test_auto_asks_the_server_once_per_choice(reply, expected):
    with ScriptedServer(lambda method, path: reply) as server:
        with client_for(server.base_url) as client:
            assert choose_ingest_path(client, "auto").name == expected
    assert [(s.method, s.path) for s in server.seen] == [("GET", "/v1.3/assets?page=1&page_limit=1")]


def test_an_explicit_choice_asks_nothing():
    with ScriptedServer(lambda method, path: NOT_FOUND) as server:
        with client_for(server.base_url) as client:
            assert choose_ingest_path(client, "tasks").name == "tasks"
            assert choose_ingest_path(client, "assets").name == "assets"
    assert server.seen == []


def test_a_v12_server_has_no_assets_path():
    with ScriptedServer(lambda method, path: EMPTY_PAGE) as server:
        with client_for(server.base_url.replace("/v1.3", "/v1.2")) as client:
            assert choose_ingest_path(client, "auto").name == "tasks"
            with pytest.raises(ConfigError, match="the assets path needs API v1.3"):
                choose_ingest_path(client, "assets")
    assert server.seen == []


def test_a_server_error_while_asking_is_not_taken_for_an_answer():
    with ScriptedServer(lambda method, path: Reply(503, {"code": "unavailable", "message": "restarting"})) as server:
        with client_for(server.base_url) as client, pytest.raises(ApiServerError):
            choose_ingest_path(client, "auto")


def test_a_pending_record_finds_its_path_by_name_and_an_unknown_one_is_refused():
    assert [path_named(name).name for name in ("tasks", "assets")] == ["tasks", "assets"]
    with pytest.raises(ConfigError, match="unknown ingest path 'uploads'"):
        path_named("uploads")


def test_a_chunk_goes_without_the_api_key_and_its_etag_is_the_proof():
    with ScriptedServer(lambda method, path: Reply(200, raw=b"", headers={"ETag": '"abc123"'})) as server:
        with client_for(server.base_url) as client:
            etag = client.put_chunk(f"{server.base_url}/uploads/u1/chunks/1?signature=s", b"0123456789")
    (seen,) = server.seen
    assert etag == "abc123" and seen.method == "PUT" and seen.body == b"0123456789"
    assert "x-api-key" not in {name.lower() for name in seen.headers}


def test_a_chunk_answer_without_etag_is_a_clear_error():
    with ScriptedServer(lambda method, path: Reply(200, raw=b"")) as server:
        with client_for(server.base_url) as client, pytest.raises(ApiError, match="no ETag header") as caught:
            client.put_chunk(f"{server.base_url}/uploads/u1/chunks/1?signature=secret-token", b"x")
    assert "secret-token" not in str(caught.value)


def test_an_asset_the_server_fails_raises_its_reason():
    from reelscribe.core.errors import AssetFailed
    from reelscribe.core.waiting import wait_until_asset_ready

    replies = iter([
        Reply(body={"_id": "a" * 24, "status": "processing"}),
        Reply(body={"_id": "a" * 24, "status": "failed", "error": {"message": "not a readable video"}}),
    ])
    with ScriptedServer(lambda method, path: next(replies)) as server:
        with client_for(server.base_url) as client, pytest.raises(AssetFailed) as caught:
            wait_until_asset_ready(client, "a" * 24, sleep=lambda s: None)
    assert str(caught.value) == f"asset {'a' * 24} failed: not a readable video"


def test_an_indexed_asset_past_the_deadline_says_what_it_waited_for():
    from reelscribe.core.errors import IndexingTimedOut
    from reelscribe.core.waiting import WaitOptions, wait_until_asset_indexed

    ticks = iter(range(100))
    indexing = Reply(body={"_id": "b" * 24, "asset_id": "a" * 24, "status": "indexing"})
    with ScriptedServer(lambda method, path: indexing) as server:
        with client_for(server.base_url) as client, pytest.raises(IndexingTimedOut) as caught:
            wait_until_asset_indexed(
                client, "c" * 24, "b" * 24, WaitOptions(max_wait=3, learn=False), clock=lambda: next(ticks), sleep=lambda s: None
            )
    assert str(caught.value).startswith(f"indexed asset {'b' * 24} still 'indexing' after ")
    assert server.seen[0].path == f"/v1.3/indexes/{'c' * 24}/indexed-assets/{'b' * 24}"
