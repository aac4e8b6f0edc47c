"""Before the fan-out: which found videos a run sends, from the lake's landed set and seen-source state."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from reelscribe.core.errors import NoSpaceLeft
from reelscribe.core.lake_format import DEFAULT_TABLE_FORMAT, TableFormat, open_lake
from reelscribe.core.plan import Bounds, Plan, make_plan
from reelscribe.core.source_state import SeenSources
from reelscribe.core.sources import VideoSource
from reelscribe.tasks.storage import store_options


@task(name="select-new-videos", task_run_name="select-new-videos", cache_policy=NO_CACHE)
def select_videos(
    found: list[VideoSource],
    landed: frozenset[str],
    out: str,
    bounds: Bounds = Bounds(),
    table_format: TableFormat = DEFAULT_TABLE_FORMAT,
    storage_block: str | None = None,
    known: SeenSources | None = None,
) -> Plan:
    """The run's plan; the identities it had to hash are recorded in the lake's state at once
    (a state row says only what bytes an identity had, true whether or not the video lands).

    ``known``: the state as this run already read it (to split its listing), not read twice.
    """
    logger = get_run_logger()
    store = store_options(storage_block)
    lake = open_lake(out, table_format, **store.of(out))
    plan = make_plan(found, landed, lake.seen_sources() if known is None else known, bounds, store=store)
    if plan.without_identity:
        logger.warning(
            "%d source(s) have no usable identity in their store's listing (no size, no modification time or ETag): "
            "hashed at every run", plan.without_identity,
        )
    try:
        lake.record_sources(plan.hashed)
    except (NoSpaceLeft, OSError) as exc:
        # The state only spares re-reads: without it the next run hashes these again, nothing more.
        logger.warning("seen-source state not recorded (%s); the next run hashes these %d source(s) again", exc, len(plan.hashed))
    if plan.notice:
        logger.warning(plan.notice)
    logger.info("plan: %s (%d byte(s) read to hash)", plan.summary(), plan.bytes_read)
    return plan
