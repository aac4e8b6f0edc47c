"""The HTTP client against a real loopback socket: retries, errors quoting the server, no key leaks."""

from __future__ import annotations

import itertools

import pytest
from pydantic import SecretStr

from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.errors import ApiAuthError, ApiError, ApiNotFound, ApiRateLimited, ApiServerError, ApiTransportError
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
