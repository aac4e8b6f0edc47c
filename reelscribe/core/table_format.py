"""The names of the lake's table formats, the default, and the Delta retention: importable without loading any writer."""

from __future__ import annotations

from typing import Literal, get_args

TableFormat = Literal["parquet", "delta"]
TABLE_FORMATS: tuple[TableFormat, ...] = get_args(TableFormat)
DEFAULT_TABLE_FORMAT: TableFormat = "parquet"
DEFAULT_RETENTION_HOURS = 168
"""How long a compaction keeps files an older Delta version still needs (7 days; ``lake compact``, ``compact_lake``)."""
