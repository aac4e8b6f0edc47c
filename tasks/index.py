"""Before the fan-out: the index to use and which content already landed in it."""

from __future__ import annotations

import time

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.ids import validate_partition_id
from reelscribe.core.ingest import resolve_index
from reelscribe.core.lake_format import DEFAULT_TABLE_FORMAT, TableFormat, open_lake
from reelscribe.core.stores import check_lake
from reelscribe.core.settings import Settings
from reelscribe.tasks.retrying import RETRY_TRANSIENT
from reelscribe.tasks.storage import store_options


@task(name="prepare-index", cache_policy=NO_CACHE, **RETRY_TRANSIENT)
def prepare_index(
    settings: Settings,
    index_id: str | None,
    index_name: str | None,
    out: str,
    storage_block: str | None = None,
    table_format: TableFormat = DEFAULT_TABLE_FORMAT,
) -> tuple[str, frozenset[str]]:
    """Check the lake's store and format and the API, resolve (or create) the index, read the hashes already landed.

    The checks come first, so a missing driver, bucket or credentials (``StoreError``), a lake
    of the other table format, an API that cannot be reached or a key that is unset stop the
    run with one line before an index is created or anything uploaded.

    Also finishes what writers killed mid-write left in that index over an hour ago: temp
    files are removed (invisible to readers, but they would pile up) and, in a Delta lake,
    videos staged but never committed are committed. The landed read's duration is logged:
    it is what a "nothing new" run mostly costs.
    """
    store = store_options(storage_block).of(out)
    check_lake(out, **store)
    lake = open_lake(out, table_format, create=True, **store)  # a new Delta lake is one from its first run on
    if index_id is not None:
        validate_partition_id(index_id, "index_id")  # an unsafe id is refused before any request
    with TwelveLabsClient(settings) as client:
        client.check_reachable()
        index = resolve_index(client, index_id, index_name)
    logger = get_run_logger()
    cleaned = lake.clean_up(index.id)
    if cleaned:
        logger.info(
            "finished interrupted writes in %s: %d staged video(s) committed, %d temp file(s) removed",
            out, len(cleaned.committed), len(cleaned.removed),
        )
    started = time.perf_counter()
    landed = lake.landed_hashes(index.id)
    logger.info(
        "index %s (%s): %d videos already landed in %s (%s lake, read in %.2f s)",
        index.id, index.index_name, len(landed), out, table_format, time.perf_counter() - started,
    )
    return index.id, landed
