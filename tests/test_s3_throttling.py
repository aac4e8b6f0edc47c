"""An S3-compatible store that throttles with ``429 Too Many Requests`` (Cloudflare R2, GCS's XML
API, rate-limiting gateways), with or without ``Retry-After`` and with a body that names no S3
error code: every object-store call of a run waits and tries again, and the run lands everything.

The 429s are served by ``tests/s3faultproxy.py`` in front of moto's S3 server, to the first try of
distinct requests of the kinds a test names; each test asserts that they were served.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import s3fs
from botocore.exceptions import EndpointConnectionError

from reelscribe.core.claims import ClaimStore
from reelscribe.core.key_ranges import key_ranges
from reelscribe.core.retry import RetryPolicy
from reelscribe.core.s3_listing import find_in_ranges
from reelscribe.core.s3_retry import S3Retry, max_attempts_of
from reelscribe.core.stores import filesystem
from tests.conftest import JFK
from tests.faultproxy import FaultProxy
from tests.s3faultproxy import SLOW_DOWN, THROTTLED, THROTTLED_RETRY_AFTER
from tests.test_cli import run_cli, unique_index_name
from tests.test_s3_faults import INDEX, faulty_s3, never_wait  # noqa: F401 - faulty_s3 is a fixture

THROTTLES = {"429", "429 Retry-After"}


def served(proxy, kind: str) -> set[str]:
    """The throttling faults the proxy served to requests of ``kind``."""
    return {name for (k, name), n in proxy.injected.items() if k == kind and n and name.startswith("429")}


def answer(status: int, code: str | None = None, **headers: str):
    """What botocore hands a ``needs-retry`` handler: the HTTP response and the parsed body."""
    return SimpleNamespace(status_code=status, headers=headers), ({"Error": {"Code": code}} if code else {})


def test_what_is_retried_and_how_long_it_waits():
    retry = S3Retry(RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=20.0, max_server_wait=120.0))
    for throttle in (answer(429), answer(429, "TooManyRequests"), answer(503, "SlowDown"), answer(400, "Throttling")):
        assert 0.25 <= retry.needs_retry(attempts=1, response=throttle) <= 0.5  # the run's backoff, from half a second
        assert 0.5 <= retry.needs_retry(attempts=2, response=throttle) <= 1.0
    assert 7.0 <= retry.needs_retry(attempts=1, response=answer(429, **{"Retry-After": "7"})) <= 7.5  # as asked
    assert 2.0 <= retry.needs_retry(attempts=1, response=answer(503, **{"x-amz-retry-after": "2000"})) <= 2.5
    for transient in (answer(500, "InternalError"), answer(502), answer(400, "RequestTimeout")):
        assert 0.025 <= retry.needs_retry(attempts=1, response=transient) <= 0.05  # S3's short scale
    assert retry.needs_retry(attempts=1, caught_exception=EndpointConnectionError(endpoint_url="http://store")) <= 0.05
    for final in (answer(403, "AccessDenied"), answer(404, "NoSuchKey"), answer(412, "PreconditionFailed")):
        assert retry.needs_retry(attempts=1, response=final) is None  # it would fail the same way again
    assert retry.needs_retry(attempts=1, caught_exception=ValueError("a bug")) is None
    assert retry.needs_retry(attempts=3, response=answer(429)) is None  # 3 tries, counting the first
    assert max_attempts_of({}, 8) == 8
    assert max_attempts_of({"retries": {"total_max_attempts": 4}}, 8) == 4
    assert max_attempts_of({"retries": {"max_attempts": 4}}, 8) == 5  # botocore's max_attempts counts retries
    assert max_attempts_of({"retries": {"mode": "legacy"}}, 8) is None


def test_each_request_gets_reelscribe_http_attempts_tries_then_fails_with_the_stores_answer(s3_bucket, monkeypatch):
    monkeypatch.setenv("REELSCRIBE_HTTP_ATTEMPTS", "3")
    with FaultProxy(s3_bucket.fs.client_kwargs["endpoint_url"], lambda method, path: THROTTLED, keep_host=True) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.root_url)
        s3fs.S3FileSystem.clear_instance_cache()
        fs, root = filesystem(s3_bucket.url("lake"))
        with pytest.raises(OSError, match="429"):
            fs.ls(root)
        assert proxy.counts["status_429"] == 3  # one retry layer: not 3 x s3fs's 5, not botocore's own count
    s3fs.S3FileSystem.clear_instance_cache()


def test_a_429_that_botocores_standard_mode_gives_up_on_is_retried_by_the_store(s3_bucket, faulty_s3):
    s3_bucket.put("lake/a/one.parquet", b"a")
    s3_bucket.put("lake/b/two.parquet", b"b")
    proxy = faulty_s3({"lake": [THROTTLED]})
    plain = s3fs.S3FileSystem(config_kwargs={"retries": {"mode": "standard", "total_max_attempts": 8}}, skip_instance_cache=True)
    plain.retries = 1
    with pytest.raises(OSError):
        plain.ls(f"{s3_bucket.name}/lake/a")  # the premise: botocore alone ends the call on a plain 429

    fs, root = filesystem(s3_bucket.url("lake"))
    assert fs.ls(f"{root}/b", detail=False) == [f"{root}/b/two.parquet"]
    assert fs.cat_file(f"{root}/a/one.parquet") == b"a"
    fs.pipe_file(f"{root}/c/three.parquet", b"c")
    assert proxy.injected[("lake", "429")] == proxy.distinct["lake"] >= 4  # every first try met one
    assert s3_bucket.keys("lake/c") == ["lake/c/three.parquet"]


def test_the_ranged_listing_and_claims_hold_through_429s(s3_bucket, faulty_s3):
    known = [f"src/{n:03}.mp4" for n in range(30)]
    s3_bucket.fs.pipe({f"{s3_bucket.name}/{key}": b"v" for key in known})
    ranges = key_ranges(known, per_range=7)
    proxy = faulty_s3({"source": [THROTTLED, THROTTLED_RETRY_AFTER], "claims": [THROTTLED_RETRY_AFTER, THROTTLED]}, every=2)
    fs, _ = filesystem(s3_bucket.url("src/"))

    found = find_in_ranges(fs, s3_bucket.name, "src/", ranges)

    assert sorted(found) == [f"{s3_bucket.name}/{key}" for key in known]
    store = ClaimStore(s3_bucket.url("lake"), sleep=never_wait)
    for content in ("ab" * 32, "cd" * 32):
        with store.hold(INDEX, content) as claim:
            assert claim.generation == 0
    assert s3_bucket.keys("lake/_claims") == []
    assert served(proxy, "source") == THROTTLES and served(proxy, "claims") == THROTTLES


def _run(s3_bucket, services, tmp_path, name: str, *extra: str):
    return run_cli(
        "run", s3_bucket.url("videos/"), "--out", s3_bucket.url("lake"), "--index-name", name, *extra,
        tmp_path=tmp_path, env=services,
    )


def _statuses(result) -> list[str]:
    return sorted(line.split("\t")[0] for line in result.stdout.splitlines())


@pytest.mark.parametrize("table_format", ["parquet", "delta"])
def test_a_run_from_and_into_a_throttling_store_lands_everything_and_its_rerun_finds_nothing_new(
    table_format, s3_bucket, faulty_s3, shared_services, tmp_path
):
    """``reelscribe run`` as a user runs it, sources and lake on the store: the full path (listing,
    claims, Parquet writes or Delta commits, the seen-source state), then the nothing-new check
    of the second run (the lake's format, its state and the listing), each through 429s."""
    s3_bucket.put("videos/jfk.mp4", JFK.read_bytes())
    lake_kinds = ("lake", "delta-commit", "delta-log") if table_format == "delta" else ("lake",)
    schedule = {"source": [THROTTLED], "claims": [THROTTLED_RETRY_AFTER], **{k: [THROTTLED, SLOW_DOWN] for k in lake_kinds}}
    name = unique_index_name()

    first_proxy = faulty_s3(schedule)
    first = _run(s3_bucket, shared_services, tmp_path, name, "--table-format", table_format)

    assert first.returncode == 0, (first.stdout, first.stderr[-3000:])
    assert _statuses(first) == ["landed"], first.stdout
    assert "Traceback" not in first.stderr
    assert served(first_proxy, "source") == {"429"} and served(first_proxy, "claims") == {"429 Retry-After"}
    assert all(served(first_proxy, kind) == {"429"} for kind in lake_kinds), dict(first_proxy.injected)

    again_proxy = faulty_s3({"source": [THROTTLED], **{k: [THROTTLED_RETRY_AFTER] for k in lake_kinds}})
    again = _run(s3_bucket, shared_services, tmp_path, name, "--table-format", table_format)

    assert again.returncode == 0, (again.stdout, again.stderr[-3000:])
    assert _statuses(again) == ["skipped"], again.stdout
    assert served(again_proxy, "source") == {"429"} and served(again_proxy, "lake") == {"429 Retry-After"}
    print("first run:", dict(first_proxy.injected), "rerun:", dict(again_proxy.injected))


def test_a_store_that_never_stops_throttling_ends_plan_and_run_in_one_line_naming_it(s3_bucket, monkeypatch, tmp_path):
    s3_bucket.put("videos/jfk.mp4", JFK.read_bytes())
    with FaultProxy(s3_bucket.fs.client_kwargs["endpoint_url"], lambda method, path: THROTTLED, keep_host=True) as proxy:
        env = {"AWS_ENDPOINT_URL": proxy.root_url, "REELSCRIBE_HTTP_ATTEMPTS": "2",
               "TWELVELABS_BASE_URL": "http://127.0.0.1:9/v1.3", "TWELVE_LABS_API_KEY": "unused"}
        for command in ("plan", "run"):
            done = run_cli(command, s3_bucket.url("videos/"), "--out", s3_bucket.url("lake"), "--index-id", INDEX,
                           tmp_path=tmp_path, env=env)
            lines = done.stderr.strip().splitlines()
            assert done.returncode == 2 and len(lines) == 1, (command, done.stderr)
            assert lines[0].startswith(f"reelscribe: error: {s3_bucket.url('lake')}: ") and "(429)" in lines[0], lines
        assert proxy.counts["status_429"] >= 4
