"""Reading the lake through DuckDB: the one module with the SQL that export and search run.

``open_reader(out)`` finds which table format the lake under ``out`` uses and makes its tables
DuckDB views named after them (``segments``, ``videos``, and ``words`` when the lake has it),
read the way README "Read a Delta lake" says:

- per-video Parquet: ``read_parquet`` over the table's files (``**/*.parquet``, which no temp
  file matches), through the lake's fsspec filesystem (registered in DuckDB) on object stores;
- Delta: the table's current files only (``file_uris()``) on local disk, the registered
  ``to_pyarrow_dataset()`` elsewhere: never a glob, which would count replaced files twice.

Every value goes into the SQL as a parameter (paths too, through DuckDB's relation API), so a
path or a phrase with ``'`` in it is just a value. Only reads: nothing here writes the lake.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import duckdb
import pyarrow as pa

from reelscribe.core.delta_lake import DELTA_LOG, MARKER_TABLE, DeltaLake
from reelscribe.core.errors import LakeNotFound
from reelscribe.core.lake import Lake, table_glob
from reelscribe.core.table_format import TableFormat

__all__ = ["LakeReader", "open_reader"]

_READ_TABLES = ("segments", "words", "videos")


@dataclass
class LakeReader:
    """A DuckDB connection with the lake's tables as views; ``tables``: the ones the lake has."""

    out: str
    table_format: TableFormat
    con: duckdb.DuckDBPyConnection
    tables: frozenset[str]

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> LakeReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rows(self, sql: str, params: list[Any]) -> list[tuple]:
        return self.con.execute(sql, params).fetchall()

    # -- videos --------------------------------------------------------------------------------

    def index_ids(self) -> list[str]:
        return [r[0] for r in self._rows("select distinct index_id from videos order by 1", [])]

    def videos(self, index_id: str | None) -> list[tuple[str, str, str, bool]]:
        """``(index_id, video_id, source, has_words)`` of every landed video (of ``index_id``)."""
        return self._rows(
            "select index_id, video_id, source, coalesce(word_count, 0) > 0 from videos "
            "where $index is null or index_id = $index order by index_id, source, video_id",
            {"index": index_id},  # type: ignore[arg-type]
        )

    # -- one video's transcript ----------------------------------------------------------------

    def words_of(self, index_id: str, video_id: str) -> list[tuple[int, float, float, str, int | None]]:
        """``(word, start, end, value, segment)`` in spoken order."""
        return self._rows(
            'select word, start, "end", value, segment from words where index_id = $1 and video_id = $2 order by word',
            [index_id, video_id],
        )

    def segments_of(self, index_id: str, video_id: str) -> list[tuple[int, float, float, str]]:
        """``(segment, start, end, value)`` in spoken order."""
        return self._rows(
            'select segment, start, "end", value from segments where index_id = $1 and video_id = $2 order by segment',
            [index_id, video_id],
        )

    # -- phrase search -------------------------------------------------------------------------

    def word_windows(self, needle: str, reach: int, index_id: str | None) -> list[tuple]:
        """Words within ``reach`` positions of a word containing ``needle`` (any case), of videos
        with words: ``(index_id, video_id, word, start, end, value, segment)`` in order."""
        return self._rows(
            """
            with hit as (
                select distinct index_id, video_id, word from words
                where value ilike $pattern escape '\\' and ($index is null or index_id = $index)
            )
            select distinct w.index_id, w.video_id, w.word, w.start, w."end", w.value, w.segment
            from words w join hit h on w.index_id = h.index_id and w.video_id = h.video_id
            where w.word between h.word - $reach and h.word + $reach
            order by 1, 2, 3
            """,
            {"pattern": _contains(needle), "reach": reach, "index": index_id},  # type: ignore[arg-type]
        )

    def segments_containing(self, needle: str, index_id: str | None, *, without_words: bool) -> list[tuple]:
        """Segments containing ``needle`` (any case): ``(index_id, video_id, segment, start, end,
        value)``; ``without_words``: only of videos the lake has no words for."""
        only = (
            "and (index_id, video_id) in (select index_id, video_id from videos where coalesce(word_count, 0) = 0)"
            if without_words
            else ""
        )
        return self._rows(
            f"""
            select index_id, video_id, segment, start, "end", value from segments
            where value ilike $pattern escape '\\' and ($index is null or index_id = $index) {only}
            """,
            {"pattern": _contains(needle), "index": index_id},  # type: ignore[arg-type]
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
                """
                select distinct s.index_id, s.video_id, s.segment, s.start, s."end", s.value
                from segments s join window_centres c on s.index_id = c.index_id and s.video_id = c.video_id
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
    if fs.exists(f"{root}/{MARKER_TABLE}/{DELTA_LOG}"):
        return LakeReader(out, "delta", con, _delta_views(con, DeltaLake(out), lake.is_local))
    if fs.exists(f"{root}/{MARKER_TABLE}"):
        return LakeReader(out, "parquet", con, _per_video_views(con, lake))
    con.close()
    raise LakeNotFound(f"{out}: no lake here (no videos table); land videos with `reelscribe run … --out {out}`")


def _per_video_views(con: duckdb.DuckDBPyConnection, lake: Lake) -> frozenset[str]:
    found = set()
    if not lake.is_local:
        con.register_filesystem(lake.fs)
    for name in _READ_TABLES:
        if not lake.fs.exists(f"{lake.root.rstrip('/')}/{name}"):
            continue
        glob = table_glob(lake.root if lake.is_local else lake.fs.unstrip_protocol(lake.root), name)  # type: ignore[arg-type]
        try:
            _parquet_view(con, name, glob)
        except duckdb.IOException:
            continue  # the table's folder holds no file yet
        found.add(name)
    return frozenset(found)


def _delta_views(con: duckdb.DuckDBPyConnection, lake: DeltaLake, local: bool) -> frozenset[str]:
    found = set()
    for name in _READ_TABLES:
        table = lake.open(name)
        if table is None:
            continue
        # Local file URIs come percent-encoded (a space as %20); DuckDB wants the path itself.
        files = [unquote(uri.removeprefix("file://")) for uri in table.file_uris()] if local else []
        if files:
            _parquet_view(con, name, files)
        else:  # on an object store, or a table with no file yet
            con.register(name, table.to_pyarrow_dataset())
        found.add(name)
    return frozenset(found)


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
    """An ``ilike … escape '\\'`` pattern matching ``needle`` anywhere, its ``%`` and ``_`` literal."""
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
