"""Wait for an indexing task to finish: one bounded loop with its own deadline.

The wait is a unit of its own (as in prefect-dbt's ``wait_for_dbt_cloud_job_run``): a wall-clock
``max_wait``, polls that start fast and back off (most short videos finish within seconds, long
ones need no 5 s hammering), a callback only when the status changes, and a typed outcome:
``ready`` returns the task, ``failed`` raises ``IndexingFailed`` with the server's reason, and
the deadline raises ``IndexingTimedOut``. Transient HTTP failures are retried by the client.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from reelscribe.client import TwelveLabsClient
from reelscribe.errors import IndexingFailed, IndexingTimedOut
from reelscribe.models import Task, TaskStatus
from reelscribe.retry import poll_intervals


@dataclass(frozen=True)
class WaitOptions:
    max_wait: float = 3600.0
    first_poll: float = 0.5
    poll_factor: float = 1.5
    max_poll: float = 10.0


def wait_until_indexed(
    client: TwelveLabsClient,
    task_id: str,
    options: WaitOptions = WaitOptions(),
    *,
    on_change: Callable[[Task, float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Task:
    started = clock()
    deadline = started + options.max_wait
    intervals = poll_intervals(options.first_poll, options.poll_factor, options.max_poll)
    last: TaskStatus | None = None
    while True:
        task = client.get_task(task_id)
        if task.status is not last:
            last = task.status
            if on_change:
                on_change(task, clock() - started)
        if task.status is TaskStatus.READY:
            return task
        if task.status is TaskStatus.FAILED:
            raise IndexingFailed(task_id, task.failure_reason())
        remaining = deadline - clock()
        if remaining <= 0:
            raise IndexingTimedOut(task_id, clock() - started, task.status.value)
        sleep(min(next(intervals), remaining))
