"""segments_table, window_filter and validate_window against the rules they promise."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest

from reelscribe.core.errors import ConfigError, TranscriptInvalid
from reelscribe.core.flatten import segments_table, validate_window, window_filter
from reelscribe.core.schema import SEGMENTS_SCHEMA

RETRIEVED = datetime(2024, 5, 1, 14, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))


def seg(start: object, end: object, value: object = "words") -> dict[str, object]:
    return {"start": start, "end": end, "value": value}


def flat(segments: object, video_id: str = "vid1") -> pa.Table:
    return segments_table(segments, video_id=video_id, task_id="task1", retrieved_at=RETRIEVED)


def test_columns_types_and_values() -> None:
    table = flat([seg(0, 1.5, "Ask not"), seg(1.5, 3, "what your country")])
    assert table.schema.equals(SEGMENTS_SCHEMA)
    assert table.to_pydict() == {
        "video_id": ["vid1", "vid1"],
        "segment": [0, 1],
        "start": [0.0, 1.5],
        "end": [1.5, 3.0],
        "value": ["Ask not", "what your country"],
        "task_id": ["task1", "task1"],
        "retrieved_at": [RETRIEVED, RETRIEVED],
        "language": [None, None],
        "avg_logprob": [None, None],
        "no_speech_prob": [None, None],
        "compression_ratio": [None, None],
    }


def test_each_segment_keeps_the_language_the_server_gives() -> None:
    table = flat([{**seg(0, 1, "Hallo"), "language": "de"}, seg(1, 2, "no language"), {**seg(2, 3, "hi"), "language": None}])
    assert table["language"].to_pylist() == ["de", None, None]


def test_a_language_that_is_not_a_string_names_its_segment() -> None:
    with pytest.raises(TranscriptInvalid, match=r"segment 1: 'language' must be a string or null, got number 7"):
        flat([seg(0, 1), {**seg(1, 2), "language": 7}])


def test_retrieved_at_is_stored_in_utc() -> None:
    stamp = flat([seg(0, 1)])["retrieved_at"][0].as_py()
    assert stamp.utcoffset() == timedelta(0)
    assert stamp.hour == 12


def test_segment_is_the_server_order_ordinal() -> None:
    table = flat([seg(5, 6), seg(1, 2), seg(3, 4)])
    assert table["segment"].to_pylist() == [0, 1, 2]
    assert table["start"].to_pylist() == [5.0, 1.0, 3.0]


@pytest.mark.parametrize("empty", [None, []])
def test_no_speech_gives_zero_rows_with_the_schema(empty: list | None) -> None:
    table = flat(empty)
    assert table.num_rows == 0
    assert table.schema.equals(SEGMENTS_SCHEMA)


def test_empty_text_and_zero_length_segments_are_kept() -> None:
    assert flat([seg(2, 2, "")]).to_pydict()["value"] == [""]


def test_naive_retrieved_at_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        segments_table([], video_id="v", task_id="t", retrieved_at=datetime(2024, 1, 1))


GOOD = seg(0, 1)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (["text"], "segment 1: expected an object, got string"),
        ([None], "segment 1: expected an object, got null"),
        ([[0, 1, "x"]], "segment 1: expected an object, got array"),
        ([{"end": 1, "value": "x"}], "segment 1: missing field 'start'"),
        ([{"start": 0, "value": "x"}], "segment 1: missing field 'end'"),
        ([{"start": 0, "end": 1}], "segment 1: missing field 'value'"),
        ([seg(True, 1)], "segment 1: 'start' must be a number, got boolean True"),
        ([seg(0, False)], "segment 1: 'end' must be a number, got boolean False"),
        ([seg("0", 1)], "segment 1: 'start' must be a number, got string '0'"),
        ([seg(None, 1)], "segment 1: 'start' must be a number, got null"),
        ([seg(0, 1, None)], "segment 1: 'value' must be a string, got null"),
        ([seg(0, 1, 42)], "segment 1: 'value' must be a string, got number 42"),
        ([seg(0, 1, ["a"])], "segment 1: 'value' must be a string, got array ['a']"),
        ([seg(math.nan, 1)], "segment 1: 'start' must be finite, got nan"),
        ([seg(0, math.inf)], "segment 1: 'end' must be finite, got inf"),
        ([seg(0, 10**400)], "segment 1: 'end' must be finite, got 1000"),
        ([seg(-0.5, 1)], "segment 1: 'start' must not be negative, got -0.5"),
        ([seg(2, 1.5)], "segment 1: 'end' (1.5) is before 'start' (2)"),
    ],
)
def test_each_problem_is_named_with_its_ordinal(bad: list, message: str) -> None:
    with pytest.raises(TranscriptInvalid) as caught:
        flat([GOOD, *bad, GOOD])
    assert str(caught.value).startswith(f"transcript of video 'vid1': {message}")


def test_the_first_bad_segment_is_reported() -> None:
    items = [seg(i, i + 1) for i in range(10_000)]
    items[7777] = seg(1, 0)
    items[9000] = {"start": 0}
    with pytest.raises(TranscriptInvalid, match="segment 7777: 'end' "):
        flat(items)


def test_long_bad_values_are_cut_short_in_the_message() -> None:
    with pytest.raises(TranscriptInvalid) as caught:
        flat([seg(0, 1, {"text": "x" * 500})])
    assert len(str(caught.value)) < 150


def test_a_non_array_transcript_is_refused() -> None:
    with pytest.raises(TranscriptInvalid, match="expected an array of segments, got object"):
        flat({"start": 0, "end": 1, "value": "x"})


def test_ints_beyond_int64_still_convert() -> None:
    assert flat([seg(0, 2**64)])["end"].to_pylist() == [float(2**64)]


def test_a_large_transcript_flattens_in_order() -> None:
    items = [seg(i * 0.5, i * 0.5 + 0.4, f"segment number {i}") for i in range(200_000)]
    table = flat(items)
    assert table.num_rows == 200_000
    assert table["segment"][-1].as_py() == 199_999 and table["value"][-1].as_py() == "segment number 199999"


WINDOW_SEGMENTS = [seg(0, 2, "a"), seg(2, 4, "b"), seg(4, 6, "c"), seg(6, 8, "d")]


def values(segments: list[dict]) -> str:
    return "".join(s["value"] for s in segments)


@pytest.mark.parametrize(
    ("start", "end", "kept"),
    [
        (None, None, "abcd"),
        (2, 6, "bc"),
        (1, 5, "abc"),
        (2.0001, 5.9999, "bc"),
        (None, 4, "ab"),
        (4, None, "cd"),
        (3, 3, "b"),
        (4, 4, ""),
        (0, 0, ""),
        (8, 9, ""),
        (0, 8, "abcd"),
    ],
)
def test_window_keeps_segments_that_overlap(
    start: float | None, end: float | None, kept: str
) -> None:
    assert values(window_filter(WINDOW_SEGMENTS, start, end)) == kept


def test_window_touching_segments_are_excluded() -> None:
    assert window_filter([seg(0, 2)], 2, 5) == []
    assert window_filter([seg(5, 7)], 2, 5) == []


def test_window_returns_the_same_dicts_in_server_order() -> None:
    kept = window_filter(WINDOW_SEGMENTS, 1, 7)
    assert all(a is b for a, b in zip(kept, WINDOW_SEGMENTS, strict=True))


@pytest.mark.parametrize("empty", [None, []])
def test_window_of_nothing_is_nothing(empty: list | None) -> None:
    assert window_filter(empty, 0, 10) == []


def test_window_validates_segments_with_full_list_ordinals() -> None:
    with pytest.raises(TranscriptInvalid, match="segment 3: missing field 'end'"):
        window_filter([*WINDOW_SEGMENTS[:3], {"start": 9}], 0, 1)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (5, 2, r"window start \(5\) is after its end \(2\)"),
        (-1, 2, "window start must be a finite, non-negative number"),
        (None, -0.1, "window end must be a finite, non-negative number"),
        (math.nan, None, "window start must be a finite"),
        (0, math.inf, "window end must be a finite"),
        (True, 3, "window start must be a number of seconds, got True"),
        ("1", 3, "window start must be a number of seconds, got '1'"),
    ],
)
def test_bad_windows_are_refused(start: object, end: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_window(start, end)
    with pytest.raises(ConfigError, match=message):
        window_filter(WINDOW_SEGMENTS, start, end)


@pytest.mark.parametrize(
    ("start", "end", "kept"), [(None, None, "abcd"), (0, 0, ""), (1.5, 1.5, "a"), (0, 10, "abcd"), (3, None, "bcd")]
)
def test_good_windows_pass_and_select_what_they_bound(start: float | None, end: float | None, kept: str) -> None:
    assert validate_window(start, end) is None
    assert values(window_filter(WINDOW_SEGMENTS, start, end)) == kept
