"""Each video's steps submitted as the step before ends, a bounded number of videos at a time.

Mapping every step up front (all uploads, then all waits, then all lands) queues the steps
breadth-first on a thread pool: the first land step only gets a thread once every video's wait
has begun, so the first video lands, and its line is printed, near the end of the batch; and a
step submitted before its upstream ended holds a thread while it waits for it. Here the flow's
thread submits a video's next step when its step before ends, and starts the next video's upload
when a video ends, keeping ``in_flight`` videos going: the first video lands after about one
video's time, and no thread waits on another. On Ctrl-C (``RunContext.interrupted``) nothing more
is submitted, and the uploads and waits in flight are stopped (``flows/interrupt.py``).
"""

from __future__ import annotations

import queue
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner

from reelscribe.flows.interrupt import POLL_S, raise_if_stopping

Submit = Callable[..., PrefectFuture]


@dataclass
class Chains:
    """The futures of each video's three steps, by the video's position (``None``: not submitted yet)."""

    count: int
    uploads: list[PrefectFuture | None] = field(init=False)
    readies: list[PrefectFuture | None] = field(init=False)
    lands: list[PrefectFuture | None] = field(init=False)

    def __post_init__(self) -> None:
        self.uploads, self.readies, self.lands = ([None] * self.count for _ in range(3))

    def submitted(self) -> list[PrefectFuture]:
        return [f for f in (*self.uploads, *self.readies, *self.lands) if f is not None]


def in_turn(
    runner: TaskRunner, chains: Chains, *, upload: Submit, wait: Submit, land: Submit, in_flight: int,
    interruptible: Iterable[Callable[..., object]] = (),
) -> Iterator[tuple[int, PrefectFuture]]:
    """Run ``upload(i)`` → ``wait(i, uploaded)`` → ``land(i, uploaded, ready)`` for every video;
    yield ``(i, land future)`` as each video's land step ends (waited on: its state is final)."""
    done: queue.SimpleQueue[tuple[str, int, PrefectFuture]] = queue.SimpleQueue()
    interruptible = tuple(interruptible)
    started = finished = 0

    def on_done(step: str, i: int, future: PrefectFuture) -> None:
        future.add_done_callback(lambda f: done.put((step, i, f)))

    def start_more() -> None:
        nonlocal started
        while started < chains.count and started - finished < in_flight:
            chains.uploads[started] = future = upload(started)
            on_done("upload", started, future)
            started += 1

    start_more()
    while finished < chains.count:
        raise_if_stopping(runner, interruptible)
        try:
            step, i, future = done.get(timeout=POLL_S)
        except queue.Empty:
            continue
        future.wait()  # its final state, here, not read back from the API
        if step == "upload":
            chains.readies[i] = wait(i, future)
            on_done("wait", i, chains.readies[i])
        elif step == "wait":
            chains.lands[i] = land(i, chains.uploads[i], future)
            on_done("land", i, chains.lands[i])
        else:
            finished += 1
            start_more()
            yield i, future
    raise_if_stopping(runner, interruptible)
