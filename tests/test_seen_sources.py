"""The seen-source state on real parts: local disk (a probe fails any open of a video) and moto's
S3 behind a counting proxy (object GETs counted at the wire), in both lake formats."""

from __future__ import annotations

import builtins
import hashlib
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from reelscribe.core.errors import ConfigError
from reelscribe.core.lake_format import open_lake
from reelscribe.core.lake_writer import LakeWriter
from reelscribe.core.plan import Bounds, Plan, make_plan
from reelscribe.core.sources import discover
from tests.faultproxy import FORWARD, FaultProxy
from tests.media import make_video


def plan_run(source: str, lake: LakeWriter, landed: frozenset[str], bounds: Bounds = Bounds()) -> Plan:
    """What ``select_videos`` does: list, plan against the state, record what was hashed."""
    found, problems = discover([source])
    assert not problems
    plan = make_plan(found, landed, lake.seen_sources(), bounds)
    lake.record_sources(plan.hashed)
    return plan


def statuses(plan: Plan) -> dict[str, str]:
    return {Path(v.source.uri).name: v.status for v in plan.videos}


@pytest.fixture
def no_open_under(monkeypatch):
    """A probe: any ``open`` of a file under the folder fails the test."""
    folders: list[str] = []
    real_open = builtins.open

    def probe(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and any(str(file).startswith(f) for f in folders):
            raise AssertionError(f"a video was opened: {file}")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", probe)
    return folders


@pytest.fixture(params=["parquet", "delta"])
def lake(request, tmp_path) -> LakeWriter:
    return open_lake(str(tmp_path / "lake"), request.param)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_seen_file_is_never_opened_a_renamed_one_once_an_overwritten_one_again(lake, tmp_path, no_open_under):
    folder = tmp_path / "inbox"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4"):
        (folder / name).write_bytes(name.encode() * 1000)
    first = plan_run(str(folder), lake, frozenset())
    assert statuses(first) == {"a.mp4": "new", "b.mp4": "new"} and first.bytes_read == 10_000
    landed = frozenset({sha(folder / "a.mp4"), sha(folder / "b.mp4")})

    no_open_under.append(str(folder))
    again = plan_run(str(folder), lake, landed)
    assert statuses(again) == {"a.mp4": "landed", "b.mp4": "landed"} and again.bytes_read == 0 and not again.hashed

    no_open_under.clear()
    os.rename(folder / "a.mp4", folder / "renamed.mp4")
    renamed = plan_run(str(folder), lake, landed)
    assert statuses(renamed) == {"b.mp4": "landed", "renamed.mp4": "landed"}
    assert [Path(s.source).name for s in renamed.hashed] == ["renamed.mp4"]
    no_open_under.append(str(folder))
    assert plan_run(str(folder), lake, landed).bytes_read == 0

    no_open_under.clear()
    (folder / "b.mp4").write_bytes(b"new content of b")
    changed = plan_run(str(folder), lake, landed)
    assert statuses(changed) == {"b.mp4": "changed", "renamed.mp4": "landed"}
    assert changed.videos[0].content_sha256 == sha(folder / "b.mp4")


@pytest.mark.parametrize("damage", ["deleted", "corrupted"])
def test_a_lost_or_corrupted_state_costs_a_re_read_and_nothing_else(tmp_path, damage):
    folder, out = tmp_path / "inbox", tmp_path / "lake"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(b"a" * 100)
    (folder / "b.mp4").write_bytes(b"b" * 100)
    lake = open_lake(str(out), "parquet")
    landed = frozenset({sha(folder / "a.mp4")})
    first = plan_run(str(folder), lake, landed)
    state = out / "sources"
    if damage == "deleted":
        shutil.rmtree(state)
    else:
        for part in state.iterdir():
            part.write_bytes(b"not parquet")
    after = plan_run(str(folder), lake, landed)
    assert after.bytes_read == 200
    assert statuses(after) == statuses(first) == {"a.mp4": "landed", "b.mp4": "new"}
    assert [v.content_sha256 for v in after.videos] == [v.content_sha256 for v in first.videos]


def test_the_per_video_state_merges_its_files_and_keeps_every_source(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    lake = open_lake(str(tmp_path / "lake"), "parquet")
    for n in range(20):  # one state file per run that hashed anything
        (folder / f"v{n:02}.mp4").write_bytes(b"x" * (n + 1))
        plan_run(str(folder), lake, frozenset())
    assert len(list((tmp_path / "lake" / "sources").glob("*.parquet"))) <= 16
    assert len(lake.seen_sources()) == 20
    assert plan_run(str(folder), lake, frozenset()).bytes_read == 0


def test_nothing_new_on_s3_issues_no_object_get_and_an_overwrite_is_read_again(s3_bucket, tmp_path, monkeypatch):
    for n in range(30):
        s3_bucket.put(f"cams/v{n:02}.mp4", f"video {n}".encode() * 100)
    with recorded_s3(monkeypatch) as requests:
        lake = open_lake(str(tmp_path / "lake"), "parquet")
        first = plan_run(s3_bucket.url("cams/"), lake, frozenset())
        assert len(object_gets(requests)) == 30 and first.counts["new"] == 30
        landed = frozenset(v.content_sha256 for v in first.videos)

        requests.clear()
        again = plan_run(s3_bucket.url("cams/"), lake, landed)
        assert object_gets(requests) == set() and again.counts["landed"] == 30
        assert requests, "the listing itself went through the proxy"

        s3_bucket.put("cams/v07.mp4", b"overwritten")
        requests.clear()
        changed = plan_run(s3_bucket.url("cams/"), lake, landed)
        assert object_gets(requests) == {f"/{s3_bucket.name}/cams/v07.mp4"}
        assert changed.counts == {**changed.counts, "changed": 1, "landed": 29}


@contextmanager
def recorded_s3(monkeypatch) -> Iterator[list[tuple[str, str]]]:
    """Every ``(method, path)`` the S3 clients send, through a forwarding proxy in front of moto."""
    requests: list[tuple[str, str]] = []

    def record(method: str, path: str):
        requests.append((method, path))
        return FORWARD

    with FaultProxy(os.environ["AWS_ENDPOINT_URL"], record, keep_host=True) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.root_url)
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()
        yield requests


def object_gets(requests: list[tuple[str, str]]) -> set[str]:
    """Paths of object GETs (``/bucket/key``), not listings (``/bucket?list-type=2…``)."""
    return {path.split("?")[0] for method, path in requests if method == "GET" and re.match(r"^/[^/?]+/[^?]+", path)}


def test_bounds_defer_the_youngest_and_the_next_run_takes_them(tmp_path):
    folder = tmp_path / "inbox"
    for n, seconds in enumerate((2, 3, 4)):
        make_video(folder / f"v{n}.mp4", seconds=seconds, audio=None)
        os.utime(folder / f"v{n}.mp4", ns=(10**18 + n, 10**18 + n))  # v0 oldest
    lake = open_lake(str(tmp_path / "lake"), "parquet")
    by_count = plan_run(str(folder), lake, frozenset(), Bounds(max_videos=1))
    assert statuses(by_count) == {"v0.mp4": "new", "v1.mp4": "deferred", "v2.mp4": "deferred"}
    landed = frozenset({by_count.videos[0].content_sha256})
    by_minutes = plan_run(str(folder), lake, landed, Bounds(max_video_minutes=0.1))  # 6 s: v1 (3 s) fits, v2 does not
    assert statuses(by_minutes) == {"v0.mp4": "landed", "v1.mp4": "new", "v2.mp4": "deferred"}
    assert by_minutes.bytes_read == 0 and 2.5 < by_minutes.videos[1].seconds < 3.5
    too_short = plan_run(str(folder), lake, landed, Bounds(max_video_minutes=0.01))
    assert too_short.to_send == [] and too_short.notice.startswith("max_video_minutes 0.01 is below the first video's length (v1.mp4")
    with pytest.raises(ConfigError):
        Bounds(max_videos=-1)


@pytest.mark.parametrize("flag", [["--max-videos", "-1"], ["--max-videos", "two"], ["--max-video-minutes", "-0.5"], ["--max-video-minutes", "nan"]])
def test_a_bad_bound_is_a_usage_error(flag, tmp_path, capsys):
    from reelscribe.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["run", str(tmp_path), *flag])
    assert exit_.value.code == 2
    assert "reelscribe run: error: argument" in capsys.readouterr().err
