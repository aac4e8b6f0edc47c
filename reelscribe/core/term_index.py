"""The term index of a Delta lake: every word said -> where, so search reads no segment text to count.

Compaction writes it (``update_index``, called by ``lake_maintenance.compact_table`` for the
``segments`` and ``words`` tables): for each current data file not yet indexed, one row per word
(``schema.TERMS_SCHEMA``), normalised exactly as search compares words (``search_terms.normalise``,
Python's own ``str.split``), with its place among the video's words, and sorted by term in small row groups, so a lookup of one term reads one
or two row groups of each index file and Parquet statistics skip the rest.

The index is partitioned by ``index_id``, ``of_table`` and ``data_file``: its partitions name the
data files it covers. Data files never change (a refreshed video rewrites its file under a new
name), so a reader trusts the index for the current files it covers and scans only the others
(landed after the last compaction): search gives the same hits with a stale index, a partial one
or none. Index partitions of data files that are no longer current are deleted here; each append
is one Delta commit, so an interrupted indexing leaves whole partitions or none.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import ColumnProperties, WriterProperties, write_deltalake

from reelscribe.core.delta_lake import PARTITION, ROW_GROUP_ROWS, DeltaLake
from reelscribe.core.schema import TERMS_SCHEMA, TERMS_TABLE
from reelscribe.core.search_terms import normalise

__all__ = [
    "DATA_FILE", "INDEXED_TABLES", "OF_TABLE", "TERMS_TABLE", "IndexUpdate", "data_file_name", "postings", "update_index",
]

log = logging.getLogger(__name__)

INDEXED_TABLES = ("segments", "words")
OF_TABLE, DATA_FILE = "of_table", "data_file"
PARTITIONS = [PARTITION, OF_TABLE, DATA_FILE]
# A term's rows fill one or two row groups of each file, and statistics skip the others; smaller
# groups would skip more rows but cost more in metadata than they save (16 K rows: 4× the CPU of
# a rare word's lookup at 10,000 videos).
INDEX_ROW_GROUP_ROWS = ROW_GROUP_ROWS
# Data files indexed per commit: bounds memory (~1.3 M rows a compacted 4 MB segments file).
FILES_PER_COMMIT = 8
_ORDINAL = {"segments": "segment", "words": "word"}
_DELTAS = ColumnProperties(dictionary_enabled=False, encoding="DELTA_BINARY_PACKED")  # ascending ints
_INDEX_WRITER = WriterProperties(
    compression="ZSTD", max_row_group_size=INDEX_ROW_GROUP_ROWS, column_properties={"position": _DELTAS, "ordinal": _DELTAS, "next_ordinal": _DELTAS}
)


@dataclass(frozen=True)
class IndexUpdate:
    """What one ``update_index`` did."""

    indexed: int
    dropped: int


def data_file_name(uri: str) -> str:
    """A data file's name as the index's ``data_file`` partition records it."""
    return unquote(uri.rstrip("/").rsplit("/", 1)[-1])


def update_index(lake: DeltaLake, of_table: str) -> IndexUpdate:
    """Index the current files of ``of_table`` the index does not cover; drop partitions of gone files."""
    data = lake.open(of_table)
    if data is None:
        return IndexUpdate(0, 0)
    current = {data_file_name(uri): uri for uri in data.file_uris()}
    terms = lake.open(TERMS_TABLE)
    covered: set[str] = set()
    if terms is not None:
        covered = {p[DATA_FILE] for p in terms.partitions() if p.get(OF_TABLE) == of_table}
    new = sorted(set(current) - covered)
    for first in range(0, len(new), FILES_PER_COMMIT):
        parts = [_file_postings(lake, of_table, name, current[name]) for name in new[first : first + FILES_PER_COMMIT]]
        write_deltalake(
            lake.table_uri(TERMS_TABLE),
            pa.concat_tables(parts),
            mode="append",
            partition_by=PARTITIONS,
            storage_options=lake.storage_options,
            writer_properties=_INDEX_WRITER,
        )
    gone = sorted(covered - set(current))
    if gone and (terms := lake.open(TERMS_TABLE)) is not None:
        listed = ", ".join(f"'{name}'" for name in gone)  # data file names: [-.\w] only
        terms.delete(f"{OF_TABLE} = '{of_table}' AND {DATA_FILE} IN ({listed})")
    if new or gone:
        log.info("term index of %s: %d file(s) indexed, %d gone file(s) dropped", of_table, len(new), len(gone))
    return IndexUpdate(len(new), len(gone))


def _file_postings(lake: DeltaLake, of_table: str, name: str, uri: str) -> pa.Table:
    columns = ["video_id", _ORDINAL[of_table], "start", "end", "value"] + (["segment"] if of_table == "words" else [])
    if uri.startswith("file://"):
        rows = pq.read_table(unquote(uri.removeprefix("file://")), columns=columns)
    else:
        rows = pq.read_table(lake.fs._strip_protocol(uri), columns=columns, filesystem=lake.fs)
    index_id = next((unquote(p.split("=", 1)[1]) for p in uri.split("/") if p.startswith(f"{PARTITION}=")), "")
    found = postings(rows, of_table)
    n = found.num_rows
    for column, value in ((PARTITION, index_id), (OF_TABLE, of_table), (DATA_FILE, name)):
        found = found.append_column(pa.field(column, pa.string(), nullable=False), pa.array([value] * n, pa.string()))
    return found


def postings(rows: pa.Table, of_table: str) -> pa.Table:
    """One ``TERMS_SCHEMA`` row per word of ``rows`` (a ``segments`` or ``words`` file's rows),
    sorted by term, next term, video and position."""
    ordinal_column = _ORDINAL[of_table]
    rows = rows.take(pc.sort_indices(rows, [("video_id", "ascending"), (ordinal_column, "ascending")]))
    videos = rows["video_id"].combine_chunks()
    ordinals = rows[ordinal_column].to_numpy().astype(np.int64)
    values = rows["value"].combine_chunks()
    if of_table == "words":  # one word a row: its whole value is the word
        pieces, parent = values, np.arange(len(rows), dtype=np.int64)
    else:
        split = pc.split_pattern(values, " ")
        unique = pc.unique(pc.list_flatten(split))
        if any(len(p.split()) > 1 for p in unique.to_pylist()):  # tabs, newlines...: str.split's every space
            split = pc.split_pattern_regex(values, _python_whitespace())
        pieces = pc.list_flatten(split)
        parent = pc.list_parent_indices(split).to_numpy().astype(np.int64)
    unique = pc.unique(pieces)
    normalised = [normalise(p) for p in unique.to_pylist()]
    which = pc.index_in(pieces, unique).to_numpy()
    kept = np.flatnonzero(np.array([bool(n) for n in normalised], dtype=bool)[which])
    distinct = sorted(set(normalised))
    rank = {term: i for i, term in enumerate(distinct)}
    term_of_piece = np.array([rank[n] for n in normalised], dtype=np.int64)[which[kept]]
    # Positions: consecutive for consecutive words of a video; a new video or a gap in the
    # ordinals skips one, so no phrase runs over it.
    breaks = np.ones(len(rows), dtype=np.int64)
    if len(rows) > 1:
        same_video = pc.equal(videos[1:], videos[:-1]).to_numpy(zero_copy_only=False)
        breaks[1:] = ~(same_video & (ordinals[1:] == ordinals[:-1] + 1))
    owner = parent[kept]
    positions = np.arange(len(kept), dtype=np.int64) + np.cumsum(breaks)[owner]
    first_of_row = np.searchsorted(owner, owner, side="left")  # owner is sorted: rows in order
    follows = np.zeros(len(kept), dtype=bool)  # the next kept word is at the next position
    follows[:-1] = positions[1:] == positions[:-1] + 1
    no_next = len(distinct)  # sorts after every term
    next_rank = np.full(len(kept), no_next, dtype=np.int64)
    next_rank[:-1] = np.where(follows[:-1], term_of_piece[1:], no_next)
    next_ordinal = np.zeros(len(kept), dtype=np.int64)
    next_ordinal[:-1] = ordinals[owner[1:]]
    # By term, then next term; within a pair already by video and position (rows in order).
    order = np.lexsort((next_rank, term_of_piece))
    terms = pa.array(distinct + [None], pa.string())
    return pa.table(
        {
            "term": terms.take(pa.array(term_of_piece[order])),
            "video_id": videos.take(pa.array(owner[order])),
            "ordinal": pa.array(ordinals[owner[order]].astype(np.int32)),
            "offset": pa.array((np.arange(len(kept)) - first_of_row)[order].astype(np.int32)),
            "position": pa.array(positions[order].astype(np.int32)),
            "next": terms.take(pa.array(next_rank[order])),
            "next_ordinal": pa.array(next_ordinal[order].astype(np.int32), mask=~follows[order]),
        },
        schema=TERMS_SCHEMA,
    )


@lru_cache(maxsize=1)
def _python_whitespace() -> str:
    """An RE2 pattern of runs of what ``str.split()`` splits on (every ``isspace`` character)."""
    spaces = "".join(f"\\x{{{c:x}}}" for c in range(sys.maxunicode + 1) if chr(c).isspace())
    return f"[{spaces}]+"
