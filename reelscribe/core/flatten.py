"""Parsed transcription JSON -> Arrow columns, validated, with no I/O.

Speed comes from never building one Python object per segment: each field is pulled out of the
parsed dicts with one C-level ``map`` and handed to ``pa.array`` whole, which already refuses
wrong types; nulls, booleans (Arrow reads ``true`` as 1.0) and every numeric rule are then checked
on the columns with ``pyarrow.compute``. Only when a check fails does a per-item scan run, to name
the first bad segment and its problem precisely.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any, NoReturn

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelscribe.core.errors import ConfigError, TranscriptInvalid
from reelscribe.core.schema import (
    SEGMENTS_SCHEMA,
    SENTENCES_SCHEMA,
    UTC_MICROS,
    UTTERANCES_SCHEMA,
    WORDS_SCHEMA,
    require_utc,
)

__all__ = [
    "SEGMENTS_SCHEMA",
    "CONFIDENCE_FIELDS",
    "segments_table",
    "sentences_table",
    "utterances_table",
    "validate_window",
    "window_filter",
    "words_table",
]

_TIME_FIELDS = ("start", "end")
CONFIDENCE_FIELDS = ("avg_logprob", "no_speech_prob", "compression_ratio")
"""A segment's optional confidence fields (faster-whisper's names), landed as they come; absent is null."""
_NUMBER_TYPES = frozenset({int, float})
_JSON_TYPE_NAMES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "number",
    float: "number",
    type(None): "null",
}


def segments_table(
    segments: Sequence[dict[str, Any]] | None,
    *,
    video_id: str,
    task_id: str,
    retrieved_at: datetime,
) -> pa.Table:
    """One video's segments as a ``SEGMENTS_SCHEMA`` table; ``None``/``[]`` give zero rows.

    Raises ``TranscriptInvalid`` naming the first bad segment (0-based, server order).
    """
    stamp = pa.scalar(require_utc(retrieved_at, "retrieved_at"), UTC_MICROS)
    items = _as_list(segments, video_id)
    starts, ends = _time_columns(items, video_id)
    values = _value_field(items, video_id)
    languages = _optional_text_field(items, "language", video_id)
    confidence = [_optional_number_field(items, name, video_id) for name in CONFIDENCE_FIELDS]
    n = len(items)
    return pa.Table.from_arrays(
        [
            pa.repeat(pa.scalar(video_id, pa.string()), n),
            pa.array(np.arange(n, dtype=np.int32)),
            starts,
            ends,
            values,
            pa.repeat(pa.scalar(task_id, pa.string()), n),
            pa.repeat(stamp, n),
            languages,
            *confidence,
        ],
        schema=SEGMENTS_SCHEMA,
    )


def words_table(
    words: Sequence[dict[str, Any]] | None, *, video_id: str, segments: pa.Table
) -> pa.Table:
    """One video's words as a ``WORDS_SCHEMA`` table, each with the segment it falls in.

    ``segments`` is the video's ``segments_table``. A word belongs to the segment its interval
    overlaps most (a word that only touches a segment, or lies between two, overlaps by zero and
    takes the segment containing its midpoint, else none: ``segment`` is null). Validated like
    segments; an error names the first bad word.
    """
    items = _as_list(words, video_id, "word")
    starts, ends = _time_columns(items, video_id, "word")
    values = _value_field(items, video_id, "word")
    n = len(items)
    return pa.Table.from_arrays(
        [
            pa.repeat(pa.scalar(video_id, pa.string()), n),
            pa.array(np.arange(n, dtype=np.int32)),
            starts,
            ends,
            values,
            _segment_of(starts, ends, segments),
            _optional_number_field(items, "probability", video_id, "word"),
        ],
        schema=WORDS_SCHEMA,
    )


def sentences_table(sentences: Sequence[dict[str, Any]] | None, *, video_id: str) -> pa.Table:
    """One video's sentences as a ``SENTENCES_SCHEMA`` table; ``confidence`` may be absent or null."""
    items = _as_list(sentences, video_id, "sentence")
    starts, ends = _time_columns(items, video_id, "sentence")
    values = _value_field(items, video_id, "sentence")
    n = len(items)
    return pa.Table.from_arrays(
        [
            pa.repeat(pa.scalar(video_id, pa.string()), n),
            pa.array(np.arange(n, dtype=np.int32)),
            starts,
            ends,
            values,
            _optional_number_field(items, "confidence", video_id, "sentence"),
        ],
        schema=SENTENCES_SCHEMA,
    )


def utterances_table(utterances: Sequence[dict[str, Any]] | None, *, video_id: str) -> pa.Table:
    """One video's speaker turns as an ``UTTERANCES_SCHEMA`` table; ``speaker`` may be absent or null."""
    items = _as_list(utterances, video_id, "utterance")
    starts, ends = _time_columns(items, video_id, "utterance")
    values = _value_field(items, video_id, "utterance")
    speakers = _optional_text_field(items, "speaker", video_id, "utterance")
    n = len(items)
    return pa.Table.from_arrays(
        [
            pa.repeat(pa.scalar(video_id, pa.string()), n),
            pa.array(np.arange(n, dtype=np.int32)),
            starts,
            ends,
            values,
            speakers,
        ],
        schema=UTTERANCES_SCHEMA,
    )


def _segment_of(starts: pa.Array, ends: pa.Array, segments: pa.Table) -> pa.Array:
    """For each word, the ordinal of the segment it overlaps most (see ``words_table``); nulls where none.

    Vectorised over a words x segments matrix in blocks, so memory stays bounded for long videos.
    """
    word_start, word_end = starts.to_numpy(), ends.to_numpy()
    seg_start = segments["start"].to_numpy()
    seg_end = segments["end"].to_numpy()
    ordinals = segments["segment"].to_numpy()
    found = np.full(len(word_start), -1, dtype=np.int64)
    if len(seg_start):
        block = max(1, 4_000_000 // len(seg_start))
        for at in range(0, len(word_start), block):
            ws, we = word_start[at:at + block, None], word_end[at:at + block, None]
            overlap = np.minimum(we, seg_end) - np.maximum(ws, seg_start)
            middle = (ws + we) / 2
            contains = (seg_start <= middle) & (middle <= seg_end)
            score = np.where(overlap > 0, overlap, np.where(contains, 0.0, -np.inf))
            best = score.argmax(axis=1)
            hit = np.isfinite(score[np.arange(len(best)), best])
            found[at:at + block] = np.where(hit, ordinals[best], -1)
    return pa.array(found, type=pa.int32(), mask=found < 0)


def validate_window(start: float | None, end: float | None) -> None:
    """Reject a window that cannot select anything sensible before any request is sent."""
    for name, bound in (("start", start), ("end", end)):
        if bound is None:
            continue
        if isinstance(bound, bool) or not isinstance(bound, (int, float)):
            raise ConfigError(f"window {name} must be a number of seconds, got {bound!r}")
        if not math.isfinite(bound) or bound < 0:
            raise ConfigError(
                f"window {name} must be a finite, non-negative number of seconds, got {bound!r}"
            )
    if start is not None and end is not None and start > end:
        raise ConfigError(f"window start ({start!r}) is after its end ({end!r})")


def window_filter(
    segments: Sequence[dict[str, Any]] | None, start: float | None, end: float | None, kind: str = "segment"
) -> list[dict[str, Any]]:
    """The segments overlapping the window: [s, e] is kept iff ``s < end and e > start``.

    Touching segments (``e == start`` or ``s == end``) are dropped; a point window
    (``start == end``) keeps only segments that strictly contain the point. ``None`` is
    unbounded. Used when the v1.3 endpoint returns the whole transcript, and on words and
    utterances (``kind`` names them in errors). The entries are validated first, so an error
    names the ordinal in the server's full list.
    """
    validate_window(start, end)
    items = _as_list(segments, None, kind)
    starts, ends = _time_columns(items, None, kind)
    upper = math.inf if end is None else end
    lower = -math.inf if start is None else start
    keep = pc.and_(pc.less(starts, upper), pc.greater(ends, lower))
    return [items[i] for i in pc.indices_nonzero(keep).to_pylist()]


def _as_list(segments: Sequence[dict[str, Any]] | None, video_id: str | None, kind: str = "segment") -> list[Any]:
    if segments is None:
        return []
    if not isinstance(segments, (list, tuple)):
        raise _invalid(video_id, f"expected an array of {kind}s, got {_json_type(segments)}")
    return list(segments) if isinstance(segments, tuple) else segments


def _time_columns(items: list[Any], video_id: str | None, kind: str = "segment") -> tuple[pa.Array, pa.Array]:
    """``start`` and ``end`` as float64 arrays, proven finite, non-negative and ordered."""
    starts = _number_field(items, "start", video_id, kind)
    ends = _number_field(items, "end", video_id, kind)
    ok = (
        _all(pc.is_finite(starts))
        and _all(pc.is_finite(ends))
        and _all(pc.greater_equal(starts, 0.0))
        and _all(pc.greater_equal(ends, starts))
    )
    if not ok:
        _raise_first_problem(items, video_id, kind)
    return starts, ends


def _number_field(items: list[Any], field: str, video_id: str | None, kind: str = "segment") -> pa.Array:
    """One time field as float64; strings, objects, nulls and booleans go to the scan."""
    raw = _pluck(items, field, video_id, kind)
    try:
        column = pa.array(raw, type=pa.float64())
    except (OverflowError, pa.ArrowException):
        column = _widened(raw, items, video_id, kind)
    if column.null_count or _has_bool(raw, column):
        _raise_first_problem(items, video_id, kind)
    return column


def _value_field(items: list[Any], video_id: str | None, kind: str = "segment") -> pa.Array:
    """``value`` as strings; Arrow itself refuses numbers, booleans, arrays and objects."""
    raw = _pluck(items, "value", video_id, kind)
    try:
        column = pa.array(raw, type=pa.string())
    except pa.ArrowException:
        _raise_first_problem(items, video_id, kind)
    if column.null_count:
        _raise_first_problem(items, video_id, kind)
    return column


def _optional_text_field(items: list[Any], field: str, video_id: str | None, kind: str = "segment") -> pa.Array:
    """An optional string field (``speaker``, ``language``): absent or ``null`` is null, anything else must be a string."""
    try:
        return pa.array([item.get(field) for item in items], type=pa.string())
    except pa.ArrowException:
        for ordinal, item in enumerate(items):
            problem = _optional_text_problem(item, field)
            if problem is not None:
                raise _invalid(video_id, f"{kind} {ordinal}: {problem}") from None
        raise _invalid(video_id, f"{kind}s could not be converted to Arrow columns") from None


def _optional_number_field(items: list[Any], field: str, video_id: str | None, kind: str = "segment") -> pa.Array:
    """An optional finite number (a confidence): absent or ``null`` is null; a string, boolean or
    non-finite number is refused, naming the first such item."""
    raw = [item.get(field) for item in items]
    try:
        column = pa.array(raw, type=pa.float64())
    except (OverflowError, pa.ArrowException):
        column = None
    if column is None or not _all(pc.is_finite(column)) or _has_bool(raw, column):
        for ordinal, value in enumerate(raw):
            if value is not None and (type(value) not in _NUMBER_TYPES or not _is_finite(value)):
                raise _invalid(video_id, f"{kind} {ordinal}: {field!r} must be a finite number or null, got {_describe(value)}")
    if column is None:
        raise _invalid(video_id, f"{kind}s' {field!r} could not be converted to an Arrow column")
    return column


def _pluck(items: list[Any], field: str, video_id: str | None, kind: str = "segment") -> list[Any]:
    """One field of every item; a non-object item or a missing key sends us to the scan."""
    try:
        return list(map(itemgetter(field), items))
    except (KeyError, TypeError):
        _raise_first_problem(items, video_id, kind)


def _widened(raw: list[Any], items: list[Any], video_id: str | None, kind: str = "segment") -> pa.Array:
    """Arrow refuses ints beyond int64 that ``float()`` still takes; anything else is an error."""
    if set(map(type, raw)) <= _NUMBER_TYPES:
        try:
            return pa.array(list(map(float, raw)), type=pa.float64())
        except OverflowError:
            pass
    _raise_first_problem(items, video_id, kind)


def _has_bool(raw: list[Any], column: pa.Array) -> bool:
    """Arrow converts ``true`` to 1.0, so look at the few items that became 0.0 or 1.0."""
    candidates = pc.indices_nonzero(pc.or_(pc.equal(column, 0.0), pc.equal(column, 1.0)))
    return any(type(raw[i]) is bool for i in candidates.to_pylist())


def _all(mask: pa.Array) -> bool:
    """True for an empty mask too (no segment breaks the rule)."""
    return pc.all(mask).as_py() is not False


def _raise_first_problem(items: list[Any], video_id: str | None, kind: str = "segment") -> NoReturn:
    """The slow path: find the first bad entry so the error can name it ("word 3: ...")."""
    for ordinal, item in enumerate(items):
        problem = _segment_problem(item)
        if problem is not None:
            raise _invalid(video_id, f"{kind} {ordinal}: {problem}")
    raise _invalid(video_id, f"{kind}s could not be converted to Arrow columns")


def _optional_text_problem(item: dict[str, Any], field: str) -> str | None:
    value = item.get(field)
    if value is None or type(value) is str:
        return None
    return f"{field!r} must be a string or null, got {_describe(value)}"


def _segment_problem(item: Any) -> str | None:
    """What is wrong with one parsed segment, word or utterance, or ``None``: the one statement of the rules."""
    if not isinstance(item, dict):
        return f"expected an object, got {_json_type(item)}"
    for field in _TIME_FIELDS:
        problem = _time_problem(item, field)
        if problem is not None:
            return problem
    if item["end"] < item["start"]:
        return f"'end' ({_shown(item['end'])}) is before 'start' ({_shown(item['start'])})"
    if "value" not in item:
        return "missing field 'value'"
    if type(item["value"]) is not str:
        return f"'value' must be a string, got {_describe(item['value'])}"
    return None


def _time_problem(item: dict[str, Any], field: str) -> str | None:
    if field not in item:
        return f"missing field {field!r}"
    number = item[field]
    if type(number) not in _NUMBER_TYPES:
        return f"{field!r} must be a number, got {_describe(number)}"
    if not _is_finite(number):
        return f"{field!r} must be finite, got {_shown(number)}"
    if number < 0:
        return f"{field!r} must not be negative, got {_shown(number)}"
    return None


def _is_finite(number: int | float) -> bool:
    """``float(huge_int)`` overflows: such a time cannot be stored as float64 either."""
    try:
        return math.isfinite(number)
    except OverflowError:
        return False


def _describe(value: Any) -> str:
    """``null`` or ``<json type> <repr>``: names the JSON type the server actually sent."""
    return "null" if value is None else f"{_json_type(value)} {_shown(value)}"


def _shown(value: Any) -> str:
    """A repr cut short so a message stays one readable line."""
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _json_type(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _invalid(video_id: str | None, problem: str) -> TranscriptInvalid:
    where = f"transcript of video {video_id!r}" if video_id is not None else "transcript"
    return TranscriptInvalid(f"{where}: {problem}")
