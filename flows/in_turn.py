"""Each video's steps submitted as the step before ends, into free threads, uploads first, then lands.

Mapping every step up front (all uploads, then all waits, then all lands) queues the steps
breadth-first on a thread pool: the first land step only gets a thread once every video's wait
has begun, so the first video lands, and its line is printed, near the end of the batch; and a
step submitted before its upstream ended holds a thread while it waits for it. Here the flow's
thread submits a step only when its upstream has ended and a thread is free, choosing uploads
first (every video is sent early, so the platform indexes them all at once, as before), then
lands (a video whose indexing is ready lands at once, ahead of waits not begun), then waits. On
Ctrl-C (``RunContext.interrupted``) nothing more is submitted, and the uploads and waits in flight
are stopped (``flows/interrupt.py``). A runner without a thread count (Dask) gets each step as
soon as its upstream has ended.
"""

from __future__ import annotations

import queue
from collections import deque
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
    runner: TaskRunner, chains: Chains, *, upload: Submit, wait: Submit, land: Submit, threads: int | None,
    interruptible: Iterable[Callable[..., object]] = (),
) -> Iterator[tuple[int, PrefectFuture]]:
    """Run ``upload(i)`` → ``wait(i, uploaded)`` → ``land(i, uploaded, ready)`` for every video, at
    most ``threads`` steps at a time (``None``: no bound); yield ``(i, land future)`` as each
    video's land step ends (waited on: its state is final)."""
    done: queue.SimpleQueue[tuple[str, int, PrefectFuture]] = queue.SimpleQueue()
    interruptible = tuple(interruptible)
    ready: dict[str, deque[int]] = {"upload": deque(range(chains.count)), "land": deque(), "wait": deque()}
    running = finished = 0

    def submit(step: str, i: int) -> None:
        if step == "upload":
            chains.uploads[i] = future = upload(i)
        elif step == "wait":
            chains.readies[i] = future = wait(i, chains.uploads[i])
        else:
            chains.lands[i] = future = land(i, chains.uploads[i], chains.readies[i])
        future.add_done_callback(lambda f: done.put((step, i, f)))

    def fill() -> None:
        nonlocal running
        for step in ("upload", "land", "wait"):
            while ready[step] and (threads is None or running < threads):
                submit(step, ready[step].popleft())
                running += 1

    fill()
    while finished < chains.count:
        raise_if_stopping(runner, interruptible)
        try:
            step, i, future = done.get(timeout=POLL_S)
        except queue.Empty:
            continue
        future.wait()  # its final state, here, not read back from the API
        running -= 1
        if step == "land":
            finished += 1
            fill()
            yield i, future
            continue
        ready["wait" if step == "upload" else "land"].append(i)
        fill()
    raise_if_stopping(runner, interruptible)
