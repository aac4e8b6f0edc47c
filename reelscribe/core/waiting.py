"""Wait for an indexing task to finish: one bounded loop with its own deadline.

The wait is a unit of its own (as in prefect-dbt's ``wait_for_dbt_cloud_job_run``): a wall-clock
``max_wait``, a callback only when the status changes, and a typed outcome: ``ready`` returns the
task, ``failed`` raises ``IndexingFailed`` with the server's reason, and the deadline raises
``IndexingTimedOut``. Transient HTTP failures are retried by the client.

When to poll. The official SDK polls at once and then every 5 s: two requests even for a task
that is ready after 2 s, noticed up to 5 s late. reelscribe learns instead. Videos of one batch go
to one server and take about as long as each other, so every finished wait records how long its
task took, from the moment the wait began to the server's own ``updated_at`` when it turned
``ready`` (a fixed clock offset between client and server cancels out, since it is in every
sample alike). Later waits on that server make their first poll when three quarters of those
recent tasks had finished, then back off from ``first_poll`` by ``poll_factor`` (jittered) up to
``max_poll``: a typical video costs one request, noticed within a fraction of a second.

Until a server has three samples the wait polls at once and backs off: 1, 2, 4, then every 5 s,
so the first videos of a batch cost about as many requests as the SDK's loop, noticed sooner.
Safeguard: if recent waits keep finding their task already ``ready`` (the flow started them late,
behind a queue of other waits), a deferred first poll would only add delay (at worst the learned
span, once), so the first poll is immediate again. ``max_poll`` defaults to the SDK's 5 s, so a
long wait is never noticed later than the SDK would notice it. A server that sends ``estimated_time`` (RFC 3339) is taken at its
word for the next poll while that time is ahead (at least ``first_poll``, at most ``max_wait``).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Callable, Literal, TypeVar

from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.errors import AssetFailed, IndexingFailed, IndexingTimedOut
from reelscribe.core.models import Asset, IndexedAsset, JobEnd, Task
from reelscribe.core.retry import poll_intervals

Polled = TypeVar("Polled", Task, IndexedAsset, Asset)

MIN_SAMPLES = 3
SPAN_QUANTILE = 0.75
LATE_WINDOW = 8
DEFAULT_MAX_WAIT_SECONDS = 3600.0
"""How long one video's indexing may take before the wait gives up (the flows' default too)."""

WaitMode = Literal["poll", "webhook"]
WAIT_MODES: tuple[WaitMode, ...] = ("poll", "webhook")
DEFAULT_WAIT_MODE: WaitMode = "poll"
"""``poll``: each video's worker slot polls until it is indexed, then lands it. ``webhook``: submit and
return; the completion webhook's event lands it (``flows/land_indexed.py``), and ``max_wait`` is when
the safety net polls once."""


class WaitHistory:
    """Per server, what recent waits saw: how long their tasks took, and whether they started late.

    One per batch, made by the flow and passed to each of its waits in their ``WaitOptions`` (a
    wait given none learns nothing). Thread-safe: the waits run in a thread pool and share it. A Dask worker gets a copy
    of what was learned when its task was sent, and learns on its own from there.
    """

    def __init__(self, keep: int = 32) -> None:
        self._spans: dict[str, deque[float]] = {}
        self._late: dict[str, deque[bool]] = {}
        self._keep = keep
        self._lock = threading.Lock()

    def record(self, server: str, span: float) -> None:
        """``span``: server's ready time minus the wall time the wait began; <= 0 means it was already ready."""
        with self._lock:
            self._late.setdefault(server, deque(maxlen=LATE_WINDOW)).append(span <= 0)
            if span > 0:
                self._spans.setdefault(server, deque(maxlen=self._keep)).append(span)

    def first_delay(self, server: str) -> float | None:
        """How long a new wait on ``server`` should hold its first poll, or ``None`` to poll at once."""
        with self._lock:
            spans = list(self._spans.get(server, ()))
            late = list(self._late.get(server, ()))
        if len(spans) < MIN_SAMPLES or sum(late) * 2 >= max(len(late), 1):
            return None
        return statistics.quantiles(spans, n=4, method="inclusive")[2] if len(spans) > 1 else spans[0]

    def clear(self) -> None:
        with self._lock:
            self._spans.clear()
            self._late.clear()

    def __getstate__(self) -> dict:
        with self._lock:
            return {"spans": dict(self._spans), "late": dict(self._late), "keep": self._keep}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["keep"])
        self._spans, self._late = state["spans"], state["late"]


@dataclass(frozen=True)
class WaitOptions:
    """``history``: what the batch's waits learn from each other (the flow makes one per batch);
    ``None``: each wait polls at once and backs off, learning nothing."""

    max_wait: float = DEFAULT_MAX_WAIT_SECONDS
    first_poll: float = 1.0
    poll_factor: float = 2.0
    max_poll: float = 5.0
    learn: bool = True
    history: WaitHistory | None = field(default=None, compare=False, repr=False)


def wait_until_indexed(
    client: TwelveLabsClient,
    task_id: str,
    options: WaitOptions = WaitOptions(),
    *,
    on_change: Callable[[Task, float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    wall: Callable[[], float] = time.time,
    history: WaitHistory | None = None,
) -> Task:
    """The ready task; ``IndexingFailed`` or ``IndexingTimedOut`` otherwise."""
    return _wait(
        lambda: client.get_task(task_id), task_id, server=client.base_url, options=options, on_change=on_change,
        clock=clock, sleep=sleep, wall=wall, history=history, failed=IndexingFailed, what="indexing task",
    )


def wait_until_asset_indexed(
    client: TwelveLabsClient,
    index_id: str,
    indexed_asset_id: str,
    options: WaitOptions = WaitOptions(),
    *,
    on_change: Callable[[IndexedAsset, float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    wall: Callable[[], float] = time.time,
    history: WaitHistory | None = None,
) -> IndexedAsset:
    """The same wait for an indexed asset (``pending → queued → validating → indexing → ready | failed``)."""
    return _wait(
        lambda: client.get_indexed_asset(index_id, indexed_asset_id), indexed_asset_id, server=client.base_url,
        options=options, on_change=on_change, clock=clock, sleep=sleep, wall=wall, history=history, failed=IndexingFailed,
        what="indexed asset",
    )


def wait_until_asset_ready(
    client: TwelveLabsClient,
    asset_id: str,
    options: WaitOptions = WaitOptions(),
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Asset:
    """An uploaded asset once ``ready`` (it starts ``processing``); ``AssetFailed`` if the server gave up on it.

    Nothing is learned here: an asset's processing time says nothing about indexing times.
    """
    return _wait(
        lambda: client.get_asset(asset_id), asset_id, server=client.base_url, options=replace(options, learn=False),
        on_change=None, clock=clock, sleep=sleep, wall=time.time, history=None, failed=AssetFailed, what="asset",
    )


def _wait(
    fetch: Callable[[], Polled],
    ident: str,
    *,
    server: str,
    options: WaitOptions,
    on_change: Callable[[Polled, float], None] | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    wall: Callable[[], float],
    history: WaitHistory | None,
    failed: type[IndexingFailed] | type[AssetFailed],
    what: str,
) -> Polled:
    """Poll ``fetch`` until its status is ``ready`` (returned) or ``failed`` (raised as ``failed``)."""
    history = options.history if history is None else history
    learn = options.learn and history is not None
    started, began_at = clock(), wall()
    deadline = started + options.max_wait
    intervals = poll_intervals(options.first_poll, options.poll_factor, options.max_poll)
    first = history.first_delay(server) if learn else None
    if first is not None:
        sleep(min(first, options.max_wait))
    last = None
    while True:
        task = fetch()
        if task.status is not last:
            last = task.status
            if on_change:
                on_change(task, clock() - started)
        if task.status == JobEnd.READY:
            updated_at = getattr(task, "updated_at", None)
            if learn and updated_at is not None:
                history.record(server, updated_at.timestamp() - began_at)
            return task
        if task.status == JobEnd.FAILED:
            raise failed(ident, task.failure_reason(), task.failure_code())
        remaining = deadline - clock()
        if remaining <= 0:
            raise IndexingTimedOut(ident, clock() - started, task.status.value, what)
        hinted = _estimated_delay(task, wall(), options)
        sleep(min(next(intervals) if hinted is None else hinted, remaining))


def _estimated_delay(task: Task | IndexedAsset | Asset, now: float, options: WaitOptions) -> float | None:
    """Seconds until the server's ``estimated_time``, if it sent one (clamped to ``[first_poll, max_wait]``)."""
    value = (task.model_extra or {}).get("estimated_time")
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None or moment.timestamp() <= now:
        return None
    return min(max(moment.timestamp() - now, options.first_poll), options.max_wait)
