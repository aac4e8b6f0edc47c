"""The term index (``core/term_index.py``): written by compaction and ``lake convert``, and search
gives the same hits, order and counts with it, without it, and with it stale (videos landed or
refreshed after the compaction), on words and on segment text, local and on S3 (moto)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelscribe.core.delta_lake import DeltaLake
from reelscribe.core.lake import Lake
from reelscribe.core.lake_maintenance import compact_table, convert_lake
from reelscribe.core.lake_sql import open_reader
from reelscribe.core.search import search_lake
from reelscribe.core.term_index import TERMS_TABLE, update_index
from tests.test_export_search import INDEX, build, land

PHRASES = [
    "ask not what your country",  # across two segments
    "your country",
    "Country!",
    "ask",
    "do for you",
    "fellow americans ask not what",
    "not in any transcript",
]


def answers(out: str, *, limit: int | None = None) -> dict[str, tuple[list, int]]:
    """Every phrase's hits (all their fields) and count; and whether the term index was used."""
    with open_reader(out) as reader:
        found = {p: search_lake(reader, p, limit=limit) for p in PHRASES}
        used = TERMS_TABLE in reader.tables
    return {p: ([(h.index_id, h.video_id, h.source, h.start, h.end, h.text, h.marked) for h in hits], n)
            for p, (hits, n) in found.items()} | {"index used": used}  # type: ignore[dict-item]


def compact_all(out: str) -> None:
    lake = DeltaLake(out)
    for name in lake.tables():
        compact_table(lake, name)


def both(out: str, *, limit: int | None = None) -> tuple[dict, dict]:
    return answers(out, limit=limit), answers(out, limit=1)


def without_index(result: dict, used: bool | None) -> dict:
    """The answers without the flag, which is checked unless ``used`` is ``None``."""
    flag = result.pop("index used")
    assert used is None or flag is used
    return result


def test_compaction_indexes_and_search_is_unchanged(tmp_path: Path) -> None:
    """Words and segment text in one lake; then a stale index (a video landed, one refreshed)."""
    out = str(tmp_path / "lake")
    build(out, "delta")
    before = [without_index(a, False) for a in both(out)]
    assert before[0]["ask not what your country"][1] == 2  # the words video and the segments one
    compact_all(out)
    terms = DeltaLake(out).open(TERMS_TABLE)
    covered = {(p["of_table"], p["data_file"]) for p in terms.partitions()}
    assert {t for t, _ in covered} == {"segments", "words"}
    assert [without_index(a, True) for a in both(out)] == before

    # Landed after the compaction: scanned, not in the index; the same answers as a lake never compacted.
    lake, reference = DeltaLake(out), DeltaLake(str(tmp_path / "reference"))
    build(reference.out, "delta")
    for target in (lake, reference):
        land(target, "cccc00000000000000000003", "late.mp4", with_words=False)
    expected = [without_index(a, False) for a in both(reference.out)]
    assert expected[0]["ask not what your country"][1] == 3
    assert [without_index(a, True) for a in both(out)] == expected
    # Refreshed (now without words): its old file is replaced, so its index partition no longer counts.
    for target in (lake, reference):
        land(target, "aaaa00000000000000000001", "videos/kennedy's speech.mp4", with_words=False)
    expected = [without_index(a, False) for a in both(reference.out)]
    assert [without_index(a, None) for a in both(out)] == expected
    compact_all(out)  # the replaced file's partition is dropped, the new files indexed
    assert [without_index(a, True) for a in both(out)] == expected
    partitions = {(p["of_table"], p["data_file"]) for p in DeltaLake(out).open(TERMS_TABLE).partitions()}
    current = {u.rsplit("/", 1)[-1] for u in DeltaLake(out).open("segments").file_uris()}
    assert {f for t, f in partitions if t == "segments"} == current


def test_segments_only_lake_and_convert(tmp_path: Path) -> None:
    """A lake without words, per-video (no index: scanned) then converted (``lake convert`` indexes it)."""
    out = str(tmp_path / "lake")
    lake = Lake(out)
    land(lake, "aaaa00000000000000000001", "one.mp4", with_words=False)
    land(lake, "bbbb00000000000000000002", "two.mp4", with_words=False)
    before = [without_index(a, False) for a in both(out)]
    assert before[0]["ask not what your country"][1] == 2
    assert convert_lake(out) == ["segments", "videos"]
    assert [without_index(a, True) for a in both(out)] == before


def test_index_on_s3(s3_process_bucket) -> None:
    out = s3_process_bucket.url("lake")
    build(out, "delta")
    before = without_index(answers(out), False)
    for name in ("segments", "words"):  # what compaction runs last (compaction itself is tested above)
        update_index(DeltaLake(out), name)
    assert s3_process_bucket.fs.ls(f"{s3_process_bucket.name}/lake/{TERMS_TABLE}/index_id={INDEX}")
    assert without_index(answers(out), True) == before


@pytest.mark.parametrize("phrase", ["ask not what your country", "country"])
def test_only_index_narrows_the_index_too(tmp_path: Path, phrase: str) -> None:
    out = str(tmp_path / "lake")
    build(out, "delta")
    compact_all(out)
    with open_reader(out) as reader:
        reader.only_index(index_id=INDEX)
        assert TERMS_TABLE in reader.tables
        hits, n = search_lake(reader, phrase)
    assert n == len(hits) > 0 and {h.index_id for h in hits} == {INDEX}
