"""Before the fan-out: the index to use and which content already landed in it."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.ingest import resolve_index
from reelscribe.core.lake import Lake
from reelscribe.core.stores import check_lake
from reelscribe.core.settings import Settings
from reelscribe.tasks.retrying import RETRY_TRANSIENT
from reelscribe.tasks.storage import use_storage_block


@task(name="prepare-index", cache_policy=NO_CACHE, **RETRY_TRANSIENT)
def prepare_index(
    settings: Settings, index_id: str | None, index_name: str | None, out: str, storage_block: str | None = None
) -> tuple[str, frozenset[str]]:
    """Check the lake's store, resolve (or create) the index, read the hashes already landed.

    The store is checked first, so a missing driver, bucket or credentials stop the run with one
    line (``StoreError``) before an index is created or anything uploaded.

    Also removes the temp files that writers killed mid-write left in that index's partitions
    over an hour ago (invisible to readers, but they would pile up).
    """
    use_storage_block(storage_block)
    check_lake(out)
    with TwelveLabsClient(settings) as client:
        index = resolve_index(client, index_id, index_name)
    lake = Lake(out)
    logger = get_run_logger()
    stale = lake.clean_stale_temps(index.id)
    if stale:
        logger.info("removed %d temp file(s) left by interrupted writes in %s", len(stale), out)
    landed = frozenset(lake.landed(index.id))
    logger.info("index %s (%s): %d videos already landed in %s", index.id, index.index_name, len(landed), out)
    return index.id, landed
