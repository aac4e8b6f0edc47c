"""The HTTP client against a real loopback socket: retries, errors quoting the server, no key leaks."""

from __future__ import annotations

import io
import itertools

import pytest
from pydantic import SecretStr

from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.errors import (
    ApiAuthError, ApiError, ApiNotFound, ApiRateLimited, ApiServerError, ApiTransportError, ApiUnreachable, ConfigError,
)
from reelscribe.core.retry import RetryPolicy
from reelscribe.core.settings import Settings
from tests.scripted_http import Reply, ScriptedServer

KEY = "tlk_client_test_key_0123456789"
TASK = {"_id": "a" * 24, "status": "ready", "video_id": "b" * 24}


def client_for(server: ScriptedServer, sleeps: list[float], attempts: int = 4) -> TwelveLabsClient:
    settings = Settings(base_url=server.base_url, api_key=SecretStr(KEY), read_timeout=5)
    return TwelveLabsClient(settings, retry=RetryPolicy(max_attempts=attempts), sleep=sleeps.append)


def sequence(*replies: Reply):
    it = iter(replies)
    return lambda method, path: next(it)


def test_sends_key_header_and_parses_task():
    with ScriptedServer(sequence(Reply(body=TASK))) as server:
        task = client_for(server, []).get_task("a" * 24)
    assert task.status.value == "ready" and task.video_id == "b" * 24
    assert server.seen[0].headers["x-api-key"] == KEY
    assert server.seen[0].path == f"/v1.3/tasks/{'a' * 24}"


def test_honours_retry_after_on_429_then_succeeds():
    limited = Reply(429, {"code": "too_many_requests", "message": "slow down"}, {"Retry-After": "7"})
    with ScriptedServer(sequence(limited, Reply(body=TASK))) as server:
        sleeps: list[float] = []
        client_for(server, sleeps).get_task("a" * 24)
    assert len(sleeps) == 1 and 7.0 <= sleeps[0] <= 7.5


def test_uses_ratelimit_reset_when_no_retry_after():
    import time

    limited = Reply(429, {"code": "too_many_requests", "message": "x"}, {"X-Ratelimit-Reset": str(int(time.time()) + 3)})
    with ScriptedServer(sequence(limited, Reply(body=TASK))) as server:
        sleeps: list[float] = []
        client_for(server, sleeps).get_task("a" * 24)
    assert 1.5 <= sleeps[0] <= 4.0


def test_retries_5xx_then_raises_server_error_quoting_server():
    fail = Reply(503, {"code": "unavailable", "message": "indexer restarting"})
    with ScriptedServer(lambda m, p: fail) as server:
        sleeps: list[float] = []
        with pytest.raises(ApiServerError) as caught:
            client_for(server, sleeps, attempts=3).get_task("a" * 24)
    assert len(server.seen) == 3 and len(sleeps) == 2
    assert "unavailable: indexer restarting" in str(caught.value) and caught.value.status == 503


def test_retries_connection_reset():
    replies = itertools.chain([Reply(reset=True)], itertools.repeat(Reply(body=TASK)))
    with ScriptedServer(lambda m, p: next(replies)) as server:
        sleeps: list[float] = []
        assert client_for(server, sleeps).get_task("a" * 24).id == "a" * 24
    assert len(sleeps) == 1


def test_retries_an_answer_cut_off_mid_body():
    """A server that dies after the headers (a crash mid-answer: requests' ``ChunkedEncodingError``)
    is a lost connection: a GET is retried, a POST raises the transport error its caller looks up."""
    replies = itertools.chain([Reply(body=TASK, cut=True)], itertools.repeat(Reply(body=TASK)))
    with ScriptedServer(lambda m, p: next(replies)) as server:
        sleeps: list[float] = []
        assert client_for(server, sleeps).get_task("a" * 24).id == "a" * 24
    assert len(sleeps) == 1 and len(server.seen) == 2
    with ScriptedServer(lambda m, p: Reply(body=TASK, cut=True)) as server:
        with pytest.raises(ApiTransportError) as caught:
            client_for(server, []).request("POST", "tasks", retry=False)
    assert caught.value.reached and "answer cut off" in str(caught.value) and len(server.seen) == 1


def test_no_retry_on_other_4xx():
    with ScriptedServer(lambda m, p: Reply(400, {"code": "parameter_invalid", "message": "bad page"})) as server:
        with pytest.raises(ApiError) as caught:
            client_for(server, []).get_task("a" * 24)
    assert len(server.seen) == 1
    assert caught.value.code == "parameter_invalid" and "bad page" in str(caught.value)


@pytest.mark.parametrize(
    "status,body,kind",
    [
        (401, {"code": "api_key_invalid", "message": "The API key is invalid."}, ApiAuthError),
        (404, {"code": "resource_not_exist", "message": "no such task"}, ApiNotFound),
        (400, {"error": {"code": "parameter_invalid", "message": "nested shape"}}, ApiError),
    ],
)
def test_error_types_and_no_key_in_message(status, body, kind):
    with ScriptedServer(lambda m, p: Reply(status, body)) as server:
        with pytest.raises(kind) as caught:
            client_for(server, []).get_task("a" * 24)
    assert caught.value.code == (body.get("code") or body["error"]["code"])
    assert KEY not in str(caught.value) and KEY not in repr(caught.value)


def test_malformed_json_is_a_clear_error():
    with ScriptedServer(lambda m, p: Reply(raw=b"<html>oops</html>")) as server:
        with pytest.raises(ApiError, match="not JSON"):
            client_for(server, []).get_task("a" * 24)


def test_unreachable_server_is_transport_error_without_key():
    settings = Settings(base_url="http://127.0.0.1:9/v1.3", api_key=SecretStr(KEY), connect_timeout=1)
    client = TwelveLabsClient(settings, retry=RetryPolicy(max_attempts=2), sleep=lambda s: None)
    with pytest.raises(ApiTransportError) as caught:
        client.get_task("a" * 24)
    assert KEY not in str(caught.value)


def test_paginate_stops_on_empty_page_even_without_page_info():
    pages = {1: [{"_id": "1"}, {"_id": "2"}], 2: [{"_id": "3"}], 3: []}

    def script(method, path):
        page = int(path.split("page=")[1].split("&")[0])
        return Reply(body={"data": pages[page]})

    with ScriptedServer(script) as server:
        items = list(client_for(server, []).paginate("indexes"))
    assert [i["_id"] for i in items] == ["1", "2", "3"] and len(server.seen) == 3


def test_rate_limited_exhausts_budget():
    with ScriptedServer(lambda m, p: Reply(429, {"code": "too_many_requests", "message": "m"}, {"Retry-After": "0"})) as server:
        with pytest.raises(ApiRateLimited):
            client_for(server, [], attempts=2).get_task("a" * 24)
    assert len(server.seen) == 2


def test_settings_repr_hides_key():
    settings = Settings(base_url="http://127.0.0.1:1/v1.3", api_key=SecretStr(KEY))
    assert KEY not in repr(settings) and KEY not in str(settings)


def test_a_multipart_sessions_chunks_are_read_from_every_page_and_one_page_without_page_info():
    upload_id = "c" * 24
    pages = {
        1: {"status": "active", "uploaded_chunks": [{"index": 1, "status": "completed"}], "page_info": {"total_page": 2}},
        2: {"status": "active", "uploaded_chunks": [{"index": 2, "status": "completed"}], "page_info": {"total_page": 2}},
    }

    def script(method, path):
        return Reply(body=pages[int(path.split("page=")[1].split("&")[0])])

    with ScriptedServer(script) as server:
        status = client_for(server, []).get_multipart_upload(upload_id)
    assert [c.index for c in status.uploaded_chunks] == [1, 2] and len(server.seen) == 2
    unpaged = {"status": "active", "uploaded_chunks": [{"index": 1, "status": "completed"}]}
    with ScriptedServer(lambda m, p: Reply(body=unpaged)) as server:
        status = client_for(server, []).get_multipart_upload(upload_id)
    assert [c.index for c in status.uploaded_chunks] == [1] and len(server.seen) == 1


def test_a_page_whose_items_are_not_a_list_is_a_malformed_answer():
    with ScriptedServer(lambda m, p: Reply(body={"data": "oops"})) as server:
        with pytest.raises(ApiError) as caught:
            list(client_for(server, []).paginate("indexes"))
    assert caught.value.code == "malformed_response" and len(server.seen) == 1


@pytest.mark.parametrize(
    "create,needs",
    [
        (lambda c: c.create_task("a" * 24), "video_file and video_url"),
        (lambda c: c.create_task("a" * 24, video_file=("v.mp4", io.BytesIO(b"x")), video_url="http://h/v.mp4"), "video_file and video_url"),
        (lambda c: c.create_asset(), "file and url"),
    ],
)
def test_a_create_needs_exactly_one_source_and_sends_nothing_without(create, needs):
    with ScriptedServer(lambda m, p: Reply(body=TASK)) as server:
        with pytest.raises(ConfigError, match=f"exactly one of {needs}"):
            create(client_for(server, []))
    assert server.seen == []


def test_a_form_carries_its_fields_metadata_and_streamed_file():
    created = {"_id": "d" * 24, "status": "processing", "method": "direct", "filename": "v-1.mp4"}
    with ScriptedServer(lambda m, p: Reply(body=created)) as server:
        asset = client_for(server, []).create_asset(
            file=("v-1.mp4", io.BytesIO(b"video bytes")), filename="v-1.mp4", user_metadata={"k": "v"}
        )
    (sent,) = server.seen
    assert asset.id == "d" * 24 and (sent.method, sent.path) == ("POST", "/v1.3/assets")
    for part in (b'name="method"\r\n\r\ndirect', b'name="filename"\r\n\r\nv-1.mp4', b'name="user_metadata"\r\n\r\n{"k": "v"}',
                 b'filename="v-1.mp4"', b"video bytes"):
        assert part in sent.body


def test_no_connection_at_the_check_is_unreachable_at_once_without_retries():
    settings = Settings(base_url="http://127.0.0.1:9/v1.3", api_key=SecretStr(KEY), connect_timeout=1)
    sleeps: list[float] = []
    client = TwelveLabsClient(settings, retry=RetryPolicy(max_attempts=3), sleep=sleeps.append)
    with pytest.raises(ApiUnreachable, match="cannot reach the API at http://127.0.0.1:9/v1.3"):
        client.check_reachable()
    assert sleeps == []
