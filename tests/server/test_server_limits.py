"""Rate limiting and injected faults."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import pytest
import requests

from reelscribe.server.launcher import EmbeddedServer


@pytest.fixture
def limited(tmp_path) -> Iterator[EmbeddedServer]:
    """3 requests per 20 s per key; the launcher probes with ``probe-key``, tests use ``key-b``/``key-c``."""
    extra = ("--api-key", "probe-key", "--api-key", "key-b", "--api-key", "key-c", "--rate-limit", "3", "--rate-window", "20")
    with EmbeddedServer(tmp_path / "data", api_key="probe-key", extra_args=extra) as server:
        yield server


def _get(server: EmbeddedServer, key: str) -> requests.Response:
    return requests.get(f"{server.base_url}/indexes", headers={"x-api-key": key}, timeout=10)


def test_rate_limit_answers_429_with_headers(limited):
    answers = [_get(limited, "key-b") for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["X-Ratelimit-Remaining"] for r in answers] == ["2", "1", "0", "0"]
    assert [r.headers["X-Ratelimit-Used"] for r in answers] == ["1", "2", "3", "3"]
    refused = answers[-1]
    assert refused.json()["code"] == "too_many_requests"
    assert refused.headers["X-Ratelimit-Limit"] == "3"
    assert 1 <= int(refused.headers["Retry-After"]) <= 20
    reset = int(refused.headers["X-Ratelimit-Reset"])
    assert time.time() <= reset <= time.time() + 21
    assert "Retry-After" not in answers[0].headers
    assert _get(limited, "key-c").status_code == 200  # buckets are per key


def test_injected_faults_are_seeded_and_well_formed(make_server, rest_for):
    args = ("--fault-5xx-rate", "0.3", "--fault-429-rate", "0.3", "--fault-seed", "7", "--workers", "1")
    server = make_server(*args)
    rest = rest_for(server)
    answers = [rest.get("/tasks") for _ in range(60)]
    counts = Counter(r.status_code for r in answers)
    assert counts[200] > 5 and counts[429] > 5
    assert sum(counts[s] for s in (500, 502, 503)) > 5
    for response in answers:
        assert set(response.json()) >= ({"data", "page_info"} if response.status_code == 200 else {"code", "message"})
        if response.status_code == 429:
            assert response.json()["code"] == "too_many_requests"
            assert 1 <= int(response.headers["Retry-After"]) <= 30
            for name in ("Limit", "Remaining", "Used", "Reset"):
                assert f"X-Ratelimit-{name}" in response.headers


def test_fault_free_by_default(rest):
    assert {rest.get("/indexes").status_code for _ in range(30)} == {200}
