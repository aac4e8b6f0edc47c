"""Step 2: wait until the platform has indexed the video.

No Prefect retries here: a retry would restart the whole wait (the Fivetran anti-pattern).
The wait has its own deadline, and the client already retries each poll's transient failures.
``NO_CACHE`` because a cached status read returns a stale status forever (prefect#19596).
"""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.models import Task
from reelscribe.core.settings import Settings
from reelscribe.core.waiting import WaitOptions, wait_until_indexed
from reelscribe.tasks.progress import video_failed
from reelscribe.tasks.upload import Uploaded


@task(name="wait-until-indexed", task_run_name="wait-{uploaded.source.name}", cache_policy=NO_CACHE, on_failure=[video_failed])
def wait_for_indexing(uploaded: Uploaded, settings: Settings, options: WaitOptions) -> Task | None:
    """The ready task, or ``None`` when the video had already landed and nothing was uploaded."""
    if uploaded.already_landed:
        return None
    logger = get_run_logger()

    def report(task: Task, elapsed: float) -> None:
        logger.info("%s: task %s is %s after %.1f s", uploaded.source.name, task.id, task.status.value, elapsed)

    with TwelveLabsClient(settings) as client:
        return wait_until_indexed(client, uploaded.task_id, options, on_change=report)
