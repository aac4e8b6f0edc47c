"""Step 2: wait until the platform has indexed the video.

No Prefect retries here: a retry would restart the whole wait, deadline and all.
The wait has its own deadline, and the client already retries each poll's transient failures.
``NO_CACHE`` because a cached status read would return the same stale status on every poll.
"""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.ingest_paths.base import IngestPath, Job, Submission
from reelscribe.core.settings import Settings
from reelscribe.core.waiting import WaitOptions
from reelscribe.tasks.progress import video_failed


@task(name="wait-until-indexed", task_run_name="wait-{uploaded.source.name}", cache_policy=NO_CACHE, on_failure=[video_failed])
def wait_for_indexing(
    uploaded: Submission, settings: Settings, options: WaitOptions, index_id: str, path: IngestPath
) -> Job | None:
    """The ready job, or ``None`` when the video had already landed and nothing was uploaded."""
    if uploaded.already_landed:
        return None
    logger = get_run_logger()

    def report(job: Job, elapsed: float) -> None:
        logger.info("%s: %s %s is %s after %.1f s", uploaded.source.name, path.job_kind, job.id, job.status.value, elapsed)

    with TwelveLabsClient(settings) as client:
        return path.wait(client, index_id, uploaded, options, on_change=report)
