"""A large S3 prefix listed in key ranges taken from the seen-source state is exactly the plain
listing, whatever was added (before the first key, in every gap, after the last) or deleted since;
without a state it is the plain listing; an unchanged range costs one page (no read past its end)."""

from __future__ import annotations

import pytest

from reelscribe.core.key_ranges import KeyRange, key_ranges
from reelscribe.core.s3_listing import find_in_ranges
from reelscribe.core.source_state import SeenSource, SeenSources, sources_table
from reelscribe.core.sources import discover
from tests.test_incremental_scale import put_many
from tests.test_seen_sources import recorded_s3


def state_of(found) -> SeenSources:
    return SeenSources(sources_table([SeenSource(s.uri, s.identity, "0" * 64) for s in found]))


def listed(found) -> list[tuple]:
    return [(s.uri, s.identity) for s in found]


def list_requests(requests) -> list[str]:
    return [path for method, path in requests if method == "GET" and "list-type=2" in path]


def test_ranges_partition_the_known_keys():
    known = [f"k{n:02}" for n in range(10)]
    assert key_ranges(known, per_range=10) == [KeyRange(None, None, 10)]
    assert key_ranges(known, per_range=4) == [KeyRange(None, "k03", 4), KeyRange("k03", "k07", 4), KeyRange("k07", None, 2)]
    assert key_ranges(known, per_range=5) == [KeyRange(None, "k04", 5), KeyRange("k04", None, 5)]
    middle = KeyRange("k03", "k07", 4)
    page = [{"Key": k} for k in ("k05", "k07", "k08")]  # a key deleted in the range: the page reads one past it
    assert middle.take(page, truncated=True) == (page[:2], False)
    assert middle.take(page[:1], truncated=True) == (page[:1], True)  # keys added: page on
    assert middle.take(page[:1], truncated=False) == (page[:1], False)


def test_ranges_find_every_key_added_anywhere_and_none_deleted(s3_bucket):
    """Known keys every 10th number; then keys in every gap, before the first, after the last, and deletions."""
    known = [f"v/{n:04}.mp4" for n in range(10, 400, 10)]
    s3_bucket.fs.pipe({f"{s3_bucket.name}/{k}": k.encode() for k in known})
    ranges = key_ranges(known, per_range=7)
    assert len(ranges) == 6
    added = ["v/0000.mp4", "v/0399.mp4", "v/0999.mp4", *(f"v/{n + 5:04}.mp4" for n in range(10, 390, 10))]
    s3_bucket.fs.pipe({f"{s3_bucket.name}/{k}": b"new" for k in added})
    deleted = [known[6], known[7], known[-1]]  # a range's last key, the next range's first, the last known
    s3_bucket.fs.rm([f"{s3_bucket.name}/{k}" for k in deleted])
    s3_bucket.fs.invalidate_cache()
    plain = s3_bucket.fs.find(f"{s3_bucket.name}/v", detail=True)
    ranged = find_in_ranges(s3_bucket.fs, s3_bucket.name, "v/", ranges)
    assert sorted(ranged) == sorted(plain) and len(ranged) == len(known) + len(added) - len(deleted)
    for name, info in plain.items():
        assert (ranged[name]["size"], ranged[name]["ETag"], ranged[name]["LastModified"]) == (info["size"], info["ETag"], info["LastModified"])


def test_discover_lists_in_ranges_from_the_state_and_plainly_without_one(s3_bucket, monkeypatch):
    put_many(s3_bucket.name, "cams/", 2_100, b"body")
    prefix = s3_bucket.url("cams/")
    with recorded_s3(monkeypatch) as requests:  # one proxy: its address stays in the environment
        first, problems = discover([prefix])  # a first run: no state, the plain listing
        assert len(first) == 2_100 and not problems
        assert [p for p in list_requests(requests) if "max-keys=1000" in p or "start-after" in p] == []
        assert len(list_requests(requests)) == 3, "one pass over the prefix (no isdir listing first)"
        requests.clear()
        state = state_of(first)

        requests.clear()
        again, problems = discover([prefix], known=state)
        assert listed(again) == listed(first) and not problems
        pages = [p for p in list_requests(requests) if "max-keys=1000" in p]
        assert len(pages) == 3, f"one page per range, none past its end: {pages}"
        assert sum("start-after" in p for p in pages) == 2

        s3_bucket.put("cams/00999a.mp4", b"added after a split point")
        s3_bucket.put("cams/zz.mp4", b"added after the last")
        s3_bucket.fs.rm([f"{s3_bucket.name}/cams/00999.mp4", f"{s3_bucket.name}/cams/00000.mp4"])
        ranged, _ = discover([prefix], known=state)
        plain, _ = discover([prefix])
        assert listed(ranged) == listed(plain) and len(plain) == 2_100


@pytest.mark.parametrize("uri", ["cams/00001.mp4", "cams/0000*.mp4"])
def test_a_file_or_glob_is_listed_as_before_with_a_state(s3_bucket, uri):
    put_many(s3_bucket.name, "cams/", 12, b"body")
    found, _ = discover([s3_bucket.url("cams/")])
    assert listed(discover([s3_bucket.url(uri)], known=state_of(found))[0]) == listed(discover([s3_bucket.url(uri)])[0])


def test_plan_and_run_list_a_large_prefix_in_ranges_from_the_lake_state(s3_bucket, monkeypatch, tmp_path):
    """``reelscribe plan`` and ``run``'s nothing-new check read the lake's state before they list,
    so a prefix the state knows is listed in ranges, as the hourly flow lists it."""
    from reelscribe.cli import build_parser
    from reelscribe.cli.plan import _state_and_listing

    put_many(s3_bucket.name, "cams/", 1_100, b"body")
    with recorded_s3(monkeypatch) as requests:  # one proxy: its address stays in the environment
        for command in ("plan", "run"):
            args = build_parser().parse_args([command, s3_bucket.url("cams/"), "--out", str(tmp_path / command)])
            requests.clear()
            lake, known, first, problems = _state_and_listing(args)  # no state yet: the plain listing
            assert len(first) == 1_100 and not problems
            assert len(list_requests(requests)) == 2 and not any("start-after" in p for p in list_requests(requests))
            lake.record_sources([SeenSource(s.uri, s.identity, "0" * 64) for s in first])
            requests.clear()
            _, known, again, _ = _state_and_listing(args)
            pages = list_requests(requests)
            assert listed(again) == listed(first) and len(known.sources_under(s3_bucket.url("cams/"))) == 1_100
            assert len(pages) == 2 and sum("start-after" in p for p in pages) == 1, pages
