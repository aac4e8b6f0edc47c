"""Pure pieces of the server, tested without a process: windows, file names, limits, ids, probing."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from ipaddress import ip_address
from pathlib import Path

import pytest

from reelscribe.server.errors import ApiError
from reelscribe.server.guard import key_is_valid
from reelscribe.server.ids import check_id, format_time, is_id, new_id, parse_time
from reelscribe.server.indexing import duration_problem
from reelscribe.server.media import BrokenMedia, probe
from reelscribe.server.params import check_metadata
from reelscribe.server.ratelimit import RateLimiter
from reelscribe.server.uploads import safe_filename
from reelscribe.server.urlfetch import UrlRules, check_video_url
from reelscribe.server.views import window
from tests.media import make_audio_only, make_video

SEGMENTS = [{"start": 0.0, "end": 8.0, "value": "a"}, {"start": 8.0, "end": 11.0, "value": "b"}]


@pytest.mark.parametrize(
    ("start", "end", "values"),
    [
        (None, None, ["a", "b"]),
        (8.0, None, ["b"]),
        (None, 8.0, ["a"]),
        (7.99, 8.01, ["a", "b"]),
        (11.0, None, []),
        (-5.0, 0.0, []),
        (3.0, 3.0, ["a"]),
    ],
)
def test_window_is_strict_overlap(start, end, values):
    assert [s["value"] for s in window(SEGMENTS, start, end)] == values


def test_window_keeps_null_for_no_speech():
    assert window(None, 0, 1) is None


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\clip.mp4", "clip.mp4"),
        ("..", "video"),
        ("", "video"),
        (None, "video"),
        ("dir/", "video"),
        ("a\x00b\nc.mp4", "abc.mp4"),
        ("x" * 300, "x" * 255),
    ],
)
def test_safe_filename_keeps_only_a_base_name(given, kept):
    assert safe_filename(given) == kept


def test_duration_limits():
    assert duration_problem(3.99, 4.0, 10.0)[0] == "video_duration_too_short"
    assert duration_problem(10.01, 4.0, 10.0)[0] == "video_duration_too_long"
    assert duration_problem(4.0, 4.0, 10.0) is None


def test_rate_limiter_counts_per_key_and_reopens_the_window():
    now = [1000.0]
    limiter = RateLimiter(2, 10.0, clock=lambda: now[0])
    assert [limiter.hit("a").allowed for _ in range(3)] == [True, True, False]
    assert limiter.hit("b").allowed
    refused = limiter.hit("a")
    assert refused.headers(now[0])["Retry-After"] == "10"
    assert refused.headers(now[0])["X-Ratelimit-Reset"] == "1010"
    now[0] = 1010.0
    assert limiter.hit("a").allowed


def test_retry_after_is_capped_at_30_seconds():
    limiter = RateLimiter(1, 3600.0, clock=lambda: 0.0)
    limiter.hit("k")
    assert limiter.hit("k").headers(0.0)["Retry-After"] == "30"


def test_key_check():
    assert key_is_valid("b", ("a", "b"))
    assert not key_is_valid("c", ("a", "b"))
    assert not key_is_valid("", ("a", ""))
    assert not key_is_valid(None, ("a",))


def test_ids_and_times():
    assert is_id(new_id()) and new_id() != new_id()
    for bad in ("", "../../x", "0" * 23, "0" * 25, "G" * 24, "A" * 24):
        with pytest.raises(ApiError):
            check_id("id", bad)
    assert parse_time("t", "2024-01-31T12:00:00Z") == "2024-01-31T12:00:00.000Z"
    assert parse_time("t", "2024-01-31T13:00:00+01:00") == "2024-01-31T12:00:00.000Z"
    assert format_time(datetime(2024, 1, 2, 3, 4, 5, 678900, tzinfo=timezone.utc)) == "2024-01-02T03:04:05.678Z"


def test_metadata_values():
    assert check_metadata("m", {"a": "x", "b": 1, "c": 1.5, "d": True, "e": ["x"]})
    for bad in ({"a": {"b": 1}}, {"a": [1]}, {"a": math.nan}, {"a": None}, []):
        with pytest.raises(ApiError):
            check_metadata("m", bad)
    assert check_metadata("m", {"a": None}, allow_null=True) == {"a": None}


def test_file_urls_resolve_before_the_root_check(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "ok.mp4").write_bytes(b"x")
    outside = tmp_path / "secret.mp4"
    outside.write_bytes(b"x")
    (root / "link.mp4").symlink_to(outside)
    rules = UrlRules(file_roots=(root,))
    assert check_video_url((root / "ok.mp4").as_uri(), rules) == "ok.mp4"
    for url in ((root / "link.mp4").as_uri(), root.as_uri() + "/../secret.mp4", outside.as_uri()):
        with pytest.raises(ApiError, match="--allow-file-root"):
            check_video_url(url, rules)


def test_url_file_name_is_the_decoded_last_path_component():
    public = UrlRules(resolve=lambda host, port: (ip_address("93.184.215.14"),))
    assert check_video_url("https://example.com/a/b%20c.mp4?x=1", public) == "b c.mp4"


def test_probe(tmp_path):
    video = probe(make_video(tmp_path / "v.mp4", 4.0, audio=None, width=160, height=120))
    assert (video.width, video.height, video.has_audio, video.has_video) == (160, 120, False, True)
    assert video.duration == pytest.approx(4.0, abs=0.05)
    audio = probe(make_audio_only(tmp_path / "a.m4a", 5.0))
    assert (audio.has_audio, audio.has_video, audio.width) == (True, False, None)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x01" * 1000)
    with pytest.raises(BrokenMedia):
        probe(junk)
    with pytest.raises(BrokenMedia):
        probe(Path(tmp_path / "missing.mp4"))
