"""The names of the lake's table formats, the default, and the Delta retention: importable without loading any writer."""

from __future__ import annotations

from typing import Literal, get_args

TableFormat = Literal["parquet", "delta"]
TABLE_FORMATS: tuple[TableFormat, ...] = get_args(TableFormat)
DEFAULT_TABLE_FORMAT: TableFormat = "parquet"
"""The format of a new lake when none is asked for; an existing lake's is read from it (``lake_format``)."""

MARKER_TABLE = "videos"
"""The table whose row marks a video landed, in every format."""
DELTA_LOG = "_delta_log"
"""A Delta table's log directory: a commit in it under ``MARKER_TABLE`` makes a lake a Delta lake."""
DEFAULT_RETENTION_HOURS = 168
"""How long a compaction keeps files an older Delta version still needs (7 days; ``lake compact``, ``compact_lake``)."""
