"""Reading the lake through DuckDB: the one module with the SQL that export and search run.

``open_reader(out)`` finds which table format the lake under ``out`` uses and makes its tables
DuckDB views named after them (``segments``, ``videos``, and ``words`` and ``sentences`` when the
lake has them),
read the way README "Read a Delta lake" says:

- per-video Parquet: ``read_parquet`` over the table's files (``**/*.parquet``, which no temp
  file matches), through the lake's fsspec filesystem (registered in DuckDB) on object stores;
- Delta: the table's current files only (``file_uris()``) on local disk, the registered
  ``to_pyarrow_dataset()`` elsewhere: never a glob, which would count replaced files twice.

``reader.only_index(index_id=…)`` or ``(index_name=…)`` narrows every view to that index's
partitions (the names come from ``videos.index_name``, so no API is asked): only its files are
read, by Delta's partition pruning or the per-video lake's partition folders, and no query needs
an index filter of its own.

Every value goes into the SQL as a parameter (paths too, through DuckDB's relation API), so a
path or a phrase with ``'`` in it is just a value. Only reads: nothing here writes the lake.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import unquote

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from reelscribe.core.delta_lake import MARKER_TABLE, PARTITION, DeltaLake
from reelscribe.core.errors import LakeNotFound, NotInLake
from reelscribe.core.lake import Lake, partition_dir, table_glob
from reelscribe.core.lake_format import lake_format
from reelscribe.core.table_format import TableFormat
from reelscribe.core.term_index import DATA_FILE, INDEXED_TABLES, OF_TABLE, TERMS_TABLE, data_file_name

__all__ = ["LakeReader", "open_reader"]

_READ_TABLES = ("segments", "words", "sentences", "videos")
_ORDINAL = {"segments": "segment", "words": "word"}


@dataclass
class LakeReader:
    """A DuckDB connection with the lake's tables as views; ``tables``: the ones the lake has."""

    out: str
    table_format: TableFormat
    con: duckdb.DuckDBPyConnection
    make_views: Callable[[Sequence[str] | None], frozenset[str]] = field(repr=False)
    """(Re)creates the views, of these indexes only (``None``: all); returns the tables found."""
    tables: frozenset[str] = frozenset()
    narrowed: tuple[str, ...] | None = None
    """The index ids read (``only_index``); ``None``: every index of the lake."""
    indexed_files: dict[tuple[str, str], Any] = field(default_factory=dict)
    """``(table, data file name)`` -> the file (a local path, or a dataset fragment on an object
    store), for the data files the term index covers (then ``terms`` is in ``tables``, and
    ``<table>_unindexed`` views hold the rest); filled by ``make_views``."""

    def __post_init__(self) -> None:
        self.tables = self.make_views(None)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> LakeReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rows(self, sql: str, params: list[Any]) -> list[tuple]:
        return self.con.execute(sql, params).fetchall()

    # -- indexes and videos --------------------------------------------------------------------

    def index_ids(self) -> list[str]:
        return [r[0] for r in self._rows("select distinct index_id from videos order by 1", [])]

    def only_index(self, *, index_id: str | None = None, index_name: str | None = None) -> None:
        """Read only the index ``index_id``, or the index(es) the lake's videos name ``index_name``
        (one name, several ids: an index made again under its old name); ``NotInLake`` if none."""
        if index_id is None and index_name is None:
            return
        if self.narrowed is not None:  # choose among all the lake's indexes again
            self.tables, self.narrowed = self.make_views(None), None
        if index_id is not None:
            ids = [index_id] if index_id in self.index_ids() else []
            if not ids:
                known = ", ".join(self.index_ids()) or "none"
                raise NotInLake(f"index {index_id!r} is not in the lake {self.out} (indexes there: {known})")
        else:
            named = self._rows(
                "select distinct index_name, index_id from videos where index_name is not null order by 1, 2", []
            )
            ids = [i for name, i in named if name == index_name]
            if not ids:
                known = ", ".join(dict.fromkeys(name for name, _ in named)) or "none recorded"
                raise NotInLake(
                    f"no index named {index_name!r} in the lake {self.out} (names there: {known}; "
                    "videos landed before names were recorded are found by --index-id only)"
                )
        self.tables, self.narrowed = self.make_views(ids), tuple(ids)

    def videos(self) -> list[tuple[str, str, str, bool]]:
        """``(index_id, video_id, source, has_words)`` of every landed video."""
        return self._rows(
            "select index_id, video_id, source, coalesce(word_count, 0) > 0 from videos order by index_id, source, video_id",
            [],
        )

    # -- one video's transcript ----------------------------------------------------------------

    def words_of(self, index_id: str, video_id: str) -> list[tuple[int, float, float, str, int | None]]:
        """``(word, start, end, value, segment)`` in spoken order."""
        return self._rows(
            'select word, start, "end", value, segment from words where index_id = $1 and video_id = $2 order by word',
            [index_id, video_id],
        )

    def sentences_of(self, index_id: str, video_id: str) -> list[tuple[int, float, float, str]]:
        """``(sentence, start, end, value)`` in spoken order; ``[]`` where the lake has no sentences for it."""
        if "sentences" not in self.tables:
            return []
        return self._rows(
            'select sentence, start, "end", value from sentences where index_id = $1 and video_id = $2 order by sentence',
            [index_id, video_id],
        )

    def sentences_at(self, moments: list[tuple[str, str, float]]) -> dict[tuple[str, str, float], tuple[float, float, str]]:
        """``(index_id, video_id, second)`` -> ``(start, end, value)`` of the sentence said at that second
        (the first one whose span holds it), for those the lake has sentences of."""
        if not moments or "sentences" not in self.tables:
            return {}
        wanted = pa.table(
            {
                "index_id": [m[0] for m in moments],
                "video_id": [m[1] for m in moments],
                "at": pa.array([m[2] for m in moments], pa.float64()),
            }
        )
        self.con.register("wanted_moments", wanted)
        try:
            rows = self._rows(
                'select w.index_id, w.video_id, w.at, arg_min(s.start, s.sentence), arg_min(s."end", s.sentence), '
                "arg_min(s.value, s.sentence) from sentences s join wanted_moments w "
                'on s.index_id = w.index_id and s.video_id = w.video_id and w.at between s.start and s."end" '
                "group by 1, 2, 3",
                [],
            )
        finally:
            self.con.unregister("wanted_moments")
        return {(r[0], r[1], r[2]): (r[3], r[4], r[5]) for r in rows}

    def segments_of(self, index_id: str, video_id: str) -> list[tuple[int, float, float, str]]:
        """``(segment, start, end, value)`` in spoken order."""
        return self._rows(
            'select segment, start, "end", value from segments where index_id = $1 and video_id = $2 order by segment',
            [index_id, video_id],
        )

    # -- phrase search -------------------------------------------------------------------------
    # The scans read ``_scanned(table)``: the whole table, or where the term index covers part of
    # it, only the data files it does not cover (``<table>_unindexed``).

    def _scanned(self, table: str) -> str:
        return f"{table}_unindexed" if TERMS_TABLE in self.tables else table

    def indexed_matches(self, wanted: list[str], *, without_words: bool) -> list[tuple]:
        """The phrase's occurrences in the data files the term index covers, by the index alone:
        ``(index_id, video_id, position, of_table, data_file, first word's ordinal and offset,
        last word's ordinal)``; ``without_words``: segment text only of videos the lake has no
        words for.

        Each pair of consecutive words is one range of the index (sorted by ``term``, ``next``),
        so even a phrase of common words reads only the rows of its own word pairs; the pairs
        found at consecutive positions are the phrase."""
        keys = "index_id, of_table, data_file, video_id, p"
        if len(wanted) == 1:
            parts = ['q0 as (select *, position as p, ordinal as last_ordinal from terms where term = $w0)']
            last = "q0"
        else:
            parts = [
                f"q{i} as (select *, position - {i} as p, next_ordinal as last_ordinal from terms "
                f"where term = $w{i} and next = $w{i + 1})"
                for i in range(len(wanted) - 1)
            ]
            last = f"q{len(wanted) - 2}"
        joins = " ".join(f"join q{i} using ({keys})" for i in range(1, len(parts)))
        only = (
            "where q0.of_table = 'words' or (q0.index_id, q0.video_id) in "
            "(select index_id, video_id from videos where coalesce(word_count, 0) = 0)"
            if without_words
            else ""
        )
        return self._rows(
            f"""
            with {", ".join(parts)}
            select distinct q0.index_id, q0.video_id, q0.p, q0.of_table, q0.data_file,
                   q0.ordinal, q0."offset", {last}.last_ordinal
            from q0 {joins} {only}
            """,
            {f"w{i}": w for i, w in enumerate(wanted)},  # type: ignore[arg-type]
        )

    def indexed_rows(self, table: str, spans: list[tuple[str, str, str, int, int]]) -> list[tuple]:
        """The rows of ``table`` in each ``(data_file, index_id, video_id, first, last ordinal)``,
        read from those data files only: ``(index_id, video_id, ordinal, start, end, value[, segment])``."""
        if not spans:
            return []
        files = list({s[0]: self.indexed_files[(table, s[0])] for s in spans}.values())
        wanted = pa.table(
            {
                "index_id": [s[1] for s in spans],
                "video_id": [s[2] for s in spans],
                "lo": pa.array([s[3] for s in spans], pa.int32()),
                "hi": pa.array([s[4] for s in spans], pa.int32()),
            }
        )
        ordinal = _ORDINAL[table]
        self.con.register("wanted_spans", wanted)
        _files_view(self.con, "spanned_files", files)
        try:
            return self._rows(
                f"""
                select distinct r.index_id, r.video_id, r.{ordinal}, r.start, r."end", r.value{", r.segment" if table == "words" else ""}
                from spanned_files r
                join wanted_spans w on r.index_id = w.index_id and r.video_id = w.video_id and r.{ordinal} between w.lo and w.hi
                order by 1, 2, 3
                """,
                [],
            )
        finally:
            self.con.unregister("wanted_spans")
            _drop_view(self.con, "spanned_files")

    def word_windows(self, needle: str, reach: int) -> list[tuple]:
        """Words within ``reach`` positions of a word containing ``needle`` (any case), of videos
        with words: ``(index_id, video_id, word, start, end, value, segment)`` in order."""
        words = self._scanned("words")
        return self._rows(
            f"""
            with hit as (
                select distinct index_id, video_id, word from {words}
                where regexp_matches(value, $pattern)
            )
            select distinct w.index_id, w.video_id, w.word, w.start, w."end", w.value, w.segment
            from {words} w join hit h on w.index_id = h.index_id and w.video_id = h.video_id
            where w.word between h.word - $reach and h.word + $reach
            order by 1, 2, 3
            """,
            {"pattern": _contains(needle), "reach": reach},  # type: ignore[arg-type]
        )

    def segments_containing(self, needle: str, *, without_words: bool) -> list[tuple]:
        """Segments containing ``needle`` (any case): ``(index_id, video_id, segment, start, end,
        value)``; ``without_words``: only of videos the lake has no words for."""
        only = (
            "and (index_id, video_id) in (select index_id, video_id from videos where coalesce(word_count, 0) = 0)"
            if without_words
            else ""
        )
        return self._rows(
            f"""
            select index_id, video_id, segment, start, "end", value from {self._scanned("segments")}
            where regexp_matches(value, $pattern) {only}
            """,
            {"pattern": _contains(needle)},  # type: ignore[arg-type]
        )

    def segment_windows(self, around: list[tuple[str, str, int]], reach: int) -> list[tuple]:
        """The segments within ``reach`` of each ``(index_id, video_id, segment)`` given:
        ``(index_id, video_id, segment, start, end, value)`` in order."""
        if not around:
            return []
        centres = pa.table(
            {
                "index_id": [k[0] for k in around],
                "video_id": [k[1] for k in around],
                "segment": pa.array([k[2] for k in around], pa.int32()),
            }
        )
        self.con.register("window_centres", centres)
        try:
            return self._rows(
                f"""
                select distinct s.index_id, s.video_id, s.segment, s.start, s."end", s.value
                from {self._scanned("segments")} s join window_centres c on s.index_id = c.index_id and s.video_id = c.video_id
                where s.segment between c.segment - $reach and c.segment + $reach
                order by 1, 2, 3
                """,
                {"reach": reach},  # type: ignore[arg-type]
            )
        finally:
            self.con.unregister("window_centres")

    def segment_texts(self, keys: list[tuple[str, str, int]]) -> dict[tuple[str, str, int], tuple[float, float, str]]:
        """``(index_id, video_id, segment)`` -> ``(start, end, value)`` for the segments asked."""
        if not keys:
            return {}
        wanted = pa.table(
            {
                "index_id": [k[0] for k in keys],
                "video_id": [k[1] for k in keys],
                "segment": pa.array([k[2] for k in keys], pa.int32()),
            }
        )
        self.con.register("wanted_segments", wanted)
        try:
            rows = self._rows(
                'select s.index_id, s.video_id, s.segment, s.start, s."end", s.value from segments s '
                "semi join wanted_segments w on s.index_id = w.index_id and s.video_id = w.video_id and s.segment = w.segment",
                [],
            )
        finally:
            self.con.unregister("wanted_segments")
        return {(r[0], r[1], r[2]): (r[3], r[4], r[5]) for r in rows}

    def sources(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """``(index_id, video_id)`` -> source."""
        if not keys:
            return {}
        wanted = pa.table({"index_id": [k[0] for k in keys], "video_id": [k[1] for k in keys]})
        self.con.register("wanted_videos", wanted)
        try:
            rows = self._rows(
                "select v.index_id, v.video_id, v.source from videos v "
                "semi join wanted_videos w on v.index_id = w.index_id and v.video_id = w.video_id",
                [],
            )
        finally:
            self.con.unregister("wanted_videos")
        return {(r[0], r[1]): r[2] for r in rows}


def open_reader(out: str) -> LakeReader:
    """A reader of the lake under ``out``; ``LakeNotFound`` if there is none."""
    lake = Lake(out)
    fs, root = lake.fs, lake.root.rstrip("/")
    fs.invalidate_cache()
    con = duckdb.connect()
    con.execute("set parquet_metadata_cache = true")  # a search reads the index's footers once, not per word pair
    if lake_format(out) == "delta":  # the one rule every command reads a lake's format by
        delta = DeltaLake(out)
        tables = {name: table for name in (*_READ_TABLES, TERMS_TABLE) if (table := delta.open(name)) is not None}
        indexed: dict[tuple[str, str], str] = {}
        return LakeReader(
            out, "delta", con, lambda ids: _delta_views(con, tables, lake.is_local, ids, indexed), indexed_files=indexed
        )
    if fs.exists(f"{root}/{MARKER_TABLE}"):
        if not lake.is_local:
            con.register_filesystem(lake.fs)
        return LakeReader(out, "parquet", con, lambda ids: _per_video_views(con, lake, ids))
    con.close()
    raise LakeNotFound(f"{out}: no lake here (no videos table); land videos with `reelscribe run … --out {out}`")


def _per_video_views(con: duckdb.DuckDBPyConnection, lake: Lake, index_ids: Sequence[str] | None) -> frozenset[str]:
    """Each table over its files: every partition (``table_glob``), or only those of ``index_ids``."""
    found = set()
    root = lake.root if lake.is_local else lake.fs.unstrip_protocol(lake.root)
    for name in _READ_TABLES:
        _drop_view(con, name)
        if index_ids is None:
            globs = [table_glob(root, name)] if lake.fs.exists(f"{lake.root.rstrip('/')}/{name}") else []  # type: ignore[arg-type]
        else:
            folders = [partition_dir(lake.root, name, i) for i in index_ids]
            globs = [f"{lake.fs.unstrip_protocol(d) if not lake.is_local else d}/*.parquet" for d in folders if lake.fs.exists(d)]
        if not globs:
            continue
        try:
            _parquet_view(con, name, globs)
        except duckdb.IOException:
            continue  # the table's folder holds no file yet
        found.add(name)
    return frozenset(found)


def _delta_views(
    con: duckdb.DuckDBPyConnection,
    tables: dict[str, Any],
    local: bool,
    index_ids: Sequence[str] | None,
    indexed: dict[tuple[str, str], str],
) -> frozenset[str]:
    """Each table over its current files (of ``index_ids``' partitions only: Delta's pruning);
    with a term index, ``terms`` over its files for current data files and ``<table>_unindexed``
    over the data files it does not cover (``indexed`` gets the covered ones)."""
    # Tuple filters (a SQL predicate string leaves a thread behind in deltalake 1.6.6: delta_lake.py).
    partitions = None if index_ids is None else [(PARTITION, "in", list(index_ids))]
    data = {name: table for name, table in tables.items() if name != TERMS_TABLE}
    files: dict[str, list[Any]] = {}
    for name, table in data.items():
        _drop_view(con, name)
        files[name] = _current_files(table, local, partitions)
        if files[name] and local:
            _parquet_view(con, name, files[name])
        else:  # on an object store, or a table with no file (of these indexes) yet
            con.register(name, table.to_pyarrow_dataset(file_pruning_predicate=partitions))
    indexed.clear()
    if TERMS_TABLE not in tables:
        return frozenset(data)
    index = _by_data_file(_current_files(tables[TERMS_TABLE], local, partitions))
    terms: list[Any] = []
    for name in (n for n in INDEXED_TABLES if n in data):
        _drop_view(con, f"{name}_unindexed")
        rest = []
        for file in files[name]:
            if (found := index.get((name, data_file_name(_path(file))))) is not None:
                indexed[(name, data_file_name(_path(file)))] = file
                terms.extend(found)
            else:
                rest.append(file)
        if rest:
            _files_view(con, f"{name}_unindexed", rest)
        else:
            con.execute(f'create view "{name}_unindexed" as select * from "{name}" where false')
    _drop_view(con, TERMS_TABLE)
    if not terms:
        indexed.clear()
        return frozenset(data)
    _files_view(con, TERMS_TABLE, terms)
    return frozenset({*data, TERMS_TABLE})


def _current_files(table: Any, local: bool, partitions: list | None) -> list[Any]:
    """The table's current files: local paths (percent-decoded: a space, not %20, for DuckDB),
    else its pyarrow dataset's fragments (read through delta-rs's own object-store client)."""
    if local:
        return [unquote(uri.removeprefix("file://")) for uri in table.file_uris(file_pruning_predicate=partitions)]
    dataset = table.to_pyarrow_dataset(file_pruning_predicate=partitions)
    return [_Fragment(f, dataset.schema) for f in dataset.get_fragments()]


class _Fragment(NamedTuple):
    """One file of a table on an object store, with the table's schema (partition columns too)."""

    fragment: ds.ParquetFileFragment
    schema: pa.Schema


def _path(file: Any) -> str:
    return file if isinstance(file, str) else file.fragment.path


def _files_view(con: duckdb.DuckDBPyConnection, name: str, files: list[Any]) -> None:
    """``name`` as a view over some files of one table (``_current_files``'s)."""
    if isinstance(files[0], str):
        _parquet_view(con, name, files)
    else:
        first = files[0].fragment
        con.register(name, ds.FileSystemDataset([f.fragment for f in files], files[0].schema, first.format, first.filesystem))


def _by_data_file(files: list[Any]) -> dict[tuple[str, str], list[Any]]:
    """``(table, data file name)`` -> the term index's files for that data file."""
    found: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for file in files:
        parts = dict(unquote(p).split("=", 1) for p in _path(file).split("/") if "=" in p)
        found[(parts.get(OF_TABLE, ""), parts.get(DATA_FILE, ""))].append(file)
    return found


def _drop_view(con: duckdb.DuckDBPyConnection, name: str) -> None:
    con.execute(f'drop view if exists "{name}"')
    con.unregister(name)


def _parquet_view(con: duckdb.DuckDBPyConnection, name: str, files: str | list[str]) -> None:
    """``name`` as a view over Parquet files (a glob or a list); ``index_id`` always text, as
    DuckDB would read an all-digit id as a number; files written before a column was added
    (``language``, ``index_name``) read as nulls in it (``union_by_name``)."""
    con.sql(
        "select * from read_parquet($files, hive_partitioning = true, union_by_name = true, "
        "hive_types = {'index_id': 'VARCHAR'})",
        params={"files": files},
    ).create_view(name)


def _contains(needle: str) -> str:
    """An RE2 pattern matching ``needle`` anywhere in any case, every ASCII symbol in it literal.

    Not ``ilike '%…%'``: the scan of every segment's text is most of a search, and RE2's
    case-insensitive literal search costs about two thirds of ``ilike``'s CPU (BENCHMARKS.md, 10).
    """
    return "(?i)" + "".join(f"\\{c}" if c.isascii() and not c.isalnum() else c for c in needle)
