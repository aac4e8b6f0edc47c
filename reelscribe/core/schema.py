"""The lake's table schemas, defined once for the flattener and the writers (``TABLES``).

No schema has ``index_id``: it is the hive partition directory (``index_id=<id>/``), so
readers with hive partitioning get it as a column and it is never stored twice. Types are
chosen to read back the same in DuckDB, pandas, polars and Spark: plain ``string`` (not
``large_string``), ``int32``/``float64``, and timestamps in microseconds adjusted to UTC.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

UTC_MICROS = pa.timestamp("us", tz="UTC")

SEGMENTS_SCHEMA = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("segment", pa.int32(), nullable=False),
        pa.field("start", pa.float64(), nullable=False),
        pa.field("end", pa.float64(), nullable=False),
        pa.field("value", pa.string(), nullable=False),
        pa.field("task_id", pa.string(), nullable=False),
        pa.field("retrieved_at", UTC_MICROS, nullable=False),
        pa.field("language", pa.string(), nullable=True),
        # Whisper's decoding confidence (null where the platform gives none, and in lakes landed
        # before these columns): ``docs/how-to/confidence.md``.
        pa.field("avg_logprob", pa.float64(), nullable=True),
        pa.field("no_speech_prob", pa.float64(), nullable=True),
        pa.field("compression_ratio", pa.float64(), nullable=True),
    ]
)

LANGUAGE_WINDOW = pa.struct(
    [
        pa.field("start", pa.float64()),
        pa.field("end", pa.float64()),
        pa.field("language", pa.string()),
        pa.field("probability", pa.float64()),
    ]
)
"""One window of the audio whose language was detected on its own (``videos.languages``)."""

VIDEOS_SCHEMA = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("task_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("content_sha256", pa.string(), nullable=False),
        pa.field("duration", pa.float64(), nullable=True),
        pa.field("segment_count", pa.int32(), nullable=False),
        pa.field("indexed_at", UTC_MICROS, nullable=True),
        pa.field("retrieved_at", UTC_MICROS, nullable=False),
        pa.field("asset_id", pa.string(), nullable=True),
        pa.field("word_count", pa.int32(), nullable=True),
        pa.field("utterance_count", pa.int32(), nullable=True),
        # The index's name, as the run that landed the video knew it (null: given by id only, or
        # landed before this column existed; the partition's index_id is the identity).
        pa.field("index_name", pa.string(), nullable=True),
        pa.field("language", pa.string(), nullable=True),
        # How sure the platform is of ``language`` (0 to 1), each detected window's language, and
        # whether the run took the language for a guess (probability below its threshold).
        pa.field("language_probability", pa.float64(), nullable=True),
        pa.field("languages", pa.list_(LANGUAGE_WINDOW), nullable=True),
        pa.field("language_uncertain", pa.bool_(), nullable=True),
        # Mean word probability (else the segments' exp(avg_logprob), weighted by duration).
        pa.field("confidence", pa.float64(), nullable=True),
        pa.field("sentence_count", pa.int32(), nullable=True),
    ]
)

WORDS_SCHEMA = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("word", pa.int32(), nullable=False),
        pa.field("start", pa.float64(), nullable=False),
        pa.field("end", pa.float64(), nullable=False),
        pa.field("value", pa.string(), nullable=False),
        pa.field("segment", pa.int32(), nullable=True),
        pa.field("probability", pa.float64(), nullable=True),
    ]
)

SENTENCES_SCHEMA = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("sentence", pa.int32(), nullable=False),
        pa.field("start", pa.float64(), nullable=False),
        pa.field("end", pa.float64(), nullable=False),
        pa.field("value", pa.string(), nullable=False),
        pa.field("confidence", pa.float64(), nullable=True),
    ]
)

UTTERANCES_SCHEMA = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("utterance", pa.int32(), nullable=False),
        pa.field("start", pa.float64(), nullable=False),
        pa.field("end", pa.float64(), nullable=False),
        pa.field("value", pa.string(), nullable=False),
        pa.field("speaker", pa.string(), nullable=True),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "segments": SEGMENTS_SCHEMA,
    "words": WORDS_SCHEMA,
    "utterances": UTTERANCES_SCHEMA,
    "sentences": SENTENCES_SCHEMA,
    "videos": VIDEOS_SCHEMA,
}
"""Every lake table by name, in landing order: ``videos`` (the commit marker) last.

Writers iterate this; ``words``, ``utterances`` and ``sentences`` land only for videos whose server
provides them (the assets path), and a ``videos`` row's ``word_count``/``utterance_count``/
``sentence_count`` are then set (``null`` means the server gave none, ``0`` that it gave an empty list).

Columns and tables are only ever added: a lake landed before one existed reads back with it ``null``
(readers go by column name), and Delta tables evolve their schema on the next write.

``language`` (a Whisper/ISO 639-1 code such as ``en`` or ``de``) is the video's spoken language in
``videos`` and each segment's in ``segments``; ``null`` where the server does not say. Lakes written
before it existed read back with it ``null``.
"""


TERMS_TABLE = "terms"
TERMS_SCHEMA = pa.schema(
    [
        pa.field("term", pa.string(), nullable=False),
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("ordinal", pa.int32(), nullable=False),
        pa.field("offset", pa.int32(), nullable=False),
        pa.field("position", pa.int32(), nullable=False),
        pa.field("next", pa.string(), nullable=True),
        pa.field("next_ordinal", pa.int32(), nullable=True),
    ]
)
"""The term index (table ``terms``, written by compaction): one row per word said, sorted by ``term``.

``term`` is the word as search compares it (``search_terms.normalise``); ``ordinal`` the row it comes
from (``segments.segment`` or ``words.word``), ``offset`` which of that row's words it is (empty
ones not counted), ``position`` its place among the video's words in its data file (consecutive
words, consecutive positions; a gap in the rows' ordinals leaves a gap); ``next`` the term at the
next position and ``next_ordinal`` its row (null: none). Sorted by ``term`` then ``next``, so the
rows of a word pair (``term``, ``next``) are one range that statistics find. No times: search
reads them from the rows of the hits it shows. Partitioned by
``index_id``, ``of_table`` (``segments`` or ``words``) and ``data_file`` (the data file's name it
indexes): the partitions say which data files the index covers. Not in ``TABLES``: derived, not
landed; a lake without it (or with files it does not cover) is searched by scanning.
"""


SOURCES_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("size", pa.int64(), nullable=True),
        pa.field("mtime_ns", pa.int64(), nullable=True),
        pa.field("etag", pa.string(), nullable=True),
        pa.field("version_id", pa.string(), nullable=True),
        pa.field("content_sha256", pa.string(), nullable=False),
        pa.field("seen_at", UTC_MICROS, nullable=False),
    ]
)
"""The seen-source state (table ``sources``, not per index): one row per source object hashed.

``source`` with ``size``, ``mtime_ns``, ``etag`` and ``version_id`` is the identity the store's
listing gives without reading the object (local files: size and ``mtime_ns``; S3: size, ETag,
LastModified as ``mtime_ns``, VersionId where versioned); ``content_sha256`` the hash its bytes
had. Not in ``TABLES``: it holds no per-video rows and is not partitioned by index.
"""


FAILURES_SCHEMA = pa.schema(
    [
        pa.field("index_id", pa.string(), nullable=False),
        pa.field("content_sha256", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("code", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("failed_at", UTC_MICROS, nullable=False),
    ]
)
"""Remembered failures (table ``failures``, not partitioned): a video's content that failed in an
index for a reason that will not change (``code``: the server's, such as ``video_file_broken`` or
``language_not_supported``; ``reason``: its words). Later runs report it ``failed-before`` and do
not send it again until its content changes or the user asks. Not in ``TABLES``: no per-video
rows; a lake without it remembers nothing (every video is tried).
"""


def require_utc(moment: datetime, what: str) -> datetime:
    """A naive datetime is ambiguous (local time? UTC?), so only aware ones reach the lake."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {moment!r}")
    return moment
