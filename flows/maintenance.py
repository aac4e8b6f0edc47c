"""The daily job of a Delta lake: compact small files, checkpoint the log, delete what no version needs.

Safe while other runs land (``reelscribe.core.lake_maintenance``): a compaction that meets a
concurrent commit retries against the newer version, and ``vacuum`` keeps every file a version
younger than ``retention_hours`` references. Videos staged by runs that died are committed
first, so compaction sees them.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import Field
from typing import Annotated

from reelscribe.core.errors import ConfigError
from reelscribe.core.lake_format import lake_format
from reelscribe.core.lake_maintenance import (
    DEFAULT_RETENTION_HOURS,
    Compacted,
    compact_delta_table,
    delta_tables,
    finish_interrupted,
)
from reelscribe.flows.params import DEFAULT_OUT, Out, describe_parameters

SUMMARY_KEY = "compact-lake-summary"
RetentionHours = Annotated[
    int,
    Field(ge=0, description="Delete files no table version of the last this many hours references (7 days by default; keep it on shared storage)."),
]


@task(name="commit-interrupted", task_run_name="commit-interrupted", cache_policy=NO_CACHE)
def commit_interrupted(out: str) -> int:
    """Commit videos that runs which died left staged over an hour ago, in every index."""
    return len(finish_interrupted(out).committed)


@task(name="compact-table", task_run_name="compact-{table}", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=30)
def compact(out: str, table: str, retention_hours: int) -> Compacted:
    result = compact_delta_table(out, table, retention_hours=retention_hours)
    get_run_logger().info(
        "%s: %d files compacted into %d, version %d, %d unreferenced files deleted",
        table, result.files_removed, result.files_added, result.version, result.vacuumed,
    )
    return result


@flow(name="compact-lake", flow_run_name="compact-{out}", validate_parameters=True)
@describe_parameters
def compact_lake(out: Out = DEFAULT_OUT, retention_hours: RetentionHours = DEFAULT_RETENTION_HOURS) -> list[Compacted]:
    """Compact every Delta table under ``out``, one table at a time, and publish what was done."""
    if lake_format(out) != "delta":  # a per-video lake has nothing to compact: say how to convert it
        raise ConfigError(f"{out} is not a Delta lake: nothing to compact (a per-video lake becomes one with "
                          f"`reelscribe lake convert {out}`)")
    commit_interrupted(out)
    results = [compact(out, table, retention_hours) for table in delta_tables(out)]
    create_table_artifact(
        table=[vars(r) for r in results],
        key=SUMMARY_KEY,
        description=f"reelscribe: compacted {len(results)} table(s) of {out}",
    )
    return results
