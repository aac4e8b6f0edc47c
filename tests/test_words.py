"""words_table and utterances_table (flatten), and the lake landing them beside segments and videos."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reelscribe.core.errors import TranscriptInvalid
from reelscribe.core.flatten import segments_table, utterances_table, window_filter, words_table
from reelscribe.core.lake import Lake, table_path
from reelscribe.core.records import VideoRecord
from reelscribe.core.schema import TABLES, UTTERANCES_SCHEMA, WORDS_SCHEMA

INDEX = "6650a1b2c3d4e5f6a7b8c9d0"
RETRIEVED = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
SEGMENTS = [{"start": 0.0, "end": 2.0, "value": "ask not"}, {"start": 2.5, "end": 4.0, "value": "what your"}]


def entry(start: object, end: object, value: object = "w", **more: object) -> dict[str, object]:
    return {"start": start, "end": end, "value": value, **more}


def segs(items=SEGMENTS, video_id: str = "vid1") -> pa.Table:
    return segments_table(items, video_id=video_id, task_id="ia1", retrieved_at=RETRIEVED)


def test_words_get_ordinals_and_the_segment_they_fall_in() -> None:
    words = [entry(0.0, 0.8, "ask"), entry(0.9, 2.0, "not"), entry(2.6, 3.0, "what"), entry(3.1, 4.0, "your")]
    table = words_table(words, video_id="vid1", segments=segs())
    assert table.schema.equals(WORDS_SCHEMA)
    assert table.to_pydict() == {
        "video_id": ["vid1"] * 4,
        "word": [0, 1, 2, 3],
        "start": [0.0, 0.9, 2.6, 3.1],
        "end": [0.8, 2.0, 3.0, 4.0],
        "value": ["ask", "not", "what", "your"],
        "segment": [0, 0, 1, 1],
        "probability": [None, None, None, None],
    }


def test_a_word_straddling_two_segments_takes_the_larger_overlap_and_one_outside_none() -> None:
    words = [entry(1.9, 2.9, "straddles"), entry(2.1, 2.4, "between"), entry(9.0, 9.5, "after")]
    assert words_table(words, video_id="vid1", segments=segs())["segment"].to_pylist() == [1, None, None]


def test_a_zero_length_word_inside_a_segment_belongs_to_it() -> None:
    assert words_table([entry(1.0, 1.0)], video_id="vid1", segments=segs())["segment"].to_pylist() == [0]


def test_words_without_segments_and_no_words() -> None:
    assert words_table([entry(0, 1)], video_id="v", segments=segs([], "v"))["segment"].to_pylist() == [None]
    assert words_table(None, video_id="v", segments=segs()).num_rows == 0
    assert words_table([], video_id="v", segments=segs()).num_rows == 0


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (entry(1.0, 0.5), "word 1: 'end' (0.5) is before 'start' (1.0)"),
        (entry("1", 2), "word 1: 'start' must be a number, got string '1'"),
        (entry(0, 1, None), "word 1: 'value' must be a string, got null"),
        ({"start": 0, "end": 1}, "word 1: missing field 'value'"),
        (entry(True, 1), "word 1: 'start' must be a number, got boolean True"),
    ],
)
def test_a_bad_word_is_named(bad: dict, message: str) -> None:
    with pytest.raises(TranscriptInvalid) as caught:
        words_table([entry(0, 1), bad], video_id="vid1", segments=segs())
    assert str(caught.value) == f"transcript of video 'vid1': {message}"


def test_utterances_keep_speakers_and_allow_none() -> None:
    table = utterances_table(
        [entry(0, 2, "ask not", speaker="A"), entry(2.5, 4, "what your", speaker=None), entry(4, 5, "x")], video_id="vid1"
    )
    assert table.schema.equals(UTTERANCES_SCHEMA)
    assert table["utterance"].to_pylist() == [0, 1, 2]
    assert table["speaker"].to_pylist() == ["A", None, None]


def test_a_bad_speaker_is_named() -> None:
    with pytest.raises(TranscriptInvalid, match=r"utterance 0: 'speaker' must be a string or null, got number 7"):
        utterances_table([entry(0, 1, speaker=7)], video_id="vid1")


def test_window_filter_names_the_kind_of_entry() -> None:
    with pytest.raises(TranscriptInvalid, match="word 0: missing field 'end'"):
        window_filter([{"start": 0, "value": "x"}], 0, 1, kind="word")


# --- the lake ---------------------------------------------------------------------------------


def record(**changes: object) -> VideoRecord:
    fields = dict(task_id="ia1", source="/v/a.mp4", content_sha256="sha-a", duration=4.0, indexed_at=None,
                  retrieved_at=RETRIEVED, asset_id="asset1")
    return VideoRecord(**(fields | changes))  # type: ignore[arg-type]


def land_all(lake: Lake, video_id: str = "vid1", **extra: pa.Table):
    return lake.write_video(INDEX, video_id, segs(video_id=video_id), record(), extra=extra)


def words_of(video_id: str = "vid1") -> pa.Table:
    return words_table([entry(0, 1, "ask"), entry(2.6, 3, "what")], video_id=video_id, segments=segs(video_id=video_id))


def utterances_of(video_id: str = "vid1") -> pa.Table:
    return utterances_table([entry(0, 4, "ask not what your")], video_id=video_id)


def test_registry_lists_every_table_with_videos_last() -> None:
    assert list(TABLES) == ["segments", "words", "utterances", "sentences", "videos"]


def test_words_and_utterances_land_partitioned_with_counts_in_the_videos_row(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    landed = land_all(lake, words=words_of(), utterances=utterances_of())
    assert landed.counts == {"words": 2, "utterances": 1}
    for name in (n for n in TABLES if n != "sentences"):  # (none given here: tests/test_sentences.py)
        assert pq.read_schema(table_path(str(tmp_path), name, INDEX, "vid1")).equals(TABLES[name])
    rows = duckdb.sql(
        f"select index_id, video_id, word, segment, value from read_parquet('{tmp_path}/words/**/*.parquet', "
        "hive_partitioning = true) order by word"
    ).fetchall()
    assert rows == [(INDEX, "vid1", 0, 0, "ask"), (INDEX, "vid1", 1, 1, "what")]
    video = duckdb.sql(f"select asset_id, word_count, utterance_count from read_parquet('{tmp_path}/videos/**/*.parquet')").fetchall()
    assert video == [("asset1", 2, 1)]
    assert lake.landed(INDEX)["sha-a"].word_count == 2


def test_without_extra_tables_counts_are_null_and_a_reland_removes_stale_ones(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    land_all(lake, words=words_of(), utterances=utterances_of())
    land_all(lake)
    assert not Path(table_path(str(tmp_path), "words", INDEX, "vid1")).exists()
    assert not Path(table_path(str(tmp_path), "utterances", INDEX, "vid1")).exists()
    row = lake.landed(INDEX)["sha-a"]
    assert (row.word_count, row.utterance_count, row.segment_count) == (None, None, 2)


def test_extra_tables_of_another_video_or_shape_are_refused_and_nothing_lands(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    with pytest.raises(ValueError, match="words table holds rows of another video than 'vid1'"):
        land_all(lake, words=words_of("vid2"))
    with pytest.raises(ValueError, match="do not have UTTERANCES_SCHEMA"):
        land_all(lake, utterances=words_of())
    with pytest.raises(ValueError, match="'videos' is not a lake table"):
        land_all(lake, videos=words_of())
    assert not list(tmp_path.rglob("*.parquet"))


def test_a_videos_file_from_before_the_assets_columns_still_reads(tmp_path: Path) -> None:
    """Lakes landed before ``asset_id``/``word_count``/``utterance_count`` existed stay landed (nulls)."""
    old_schema = pa.schema([f for f in TABLES["videos"] if f.name not in ("asset_id", "word_count", "utterance_count")])
    row = dict(video_id="v1", task_id="t1", source="/v/a.mp4", content_sha256="sha-old", duration=3.0, segment_count=2,
               indexed_at=None, retrieved_at=RETRIEVED)
    folder = tmp_path / "videos" / f"index_id={INDEX}"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([row], schema=old_schema), folder / "v1.parquet")
    landed = Lake(str(tmp_path)).landed(INDEX)["sha-old"]
    assert (landed.video_id, landed.segment_count, landed.asset_id, landed.word_count) == ("v1", 2, None, None)
