"""In-process progress for the terminal: task state hooks tick a listener the CLI registers.

Each video ends exactly once: a failed upload, a failed wait, or a finished land (completed or
failed). Hooks run in the flow's process, so a listener is a plain callable
``listener(event, count)``: ``found`` with the batch's size (the bar's total; again, smaller,
once the plan has deferred some), then ``done`` or ``failed`` once per video sent. With none registered (a deployment run) they do nothing.
"""

from __future__ import annotations

import threading
from typing import Callable

Listener = Callable[[str, int], None]
_listeners: list[Listener] = []
_lock = threading.Lock()


def add_listener(listener: Listener) -> Callable[[], None]:
    """Register ``listener(event, count)``; returns a function that removes it."""
    with _lock:
        _listeners.append(listener)
    return lambda: _remove(listener)


def _remove(listener: Listener) -> None:
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


def _notify(event: str, count: int = 1) -> None:
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(event, count)


def batch_found(count: int) -> None:
    """The flow has ``count`` videos to go through (called from the flow, before the fan-out; a later call replaces the total)."""
    _notify("found", count)


def video_done(task, task_run, state) -> None:
    _notify("done")


def video_failed(task, task_run, state) -> None:
    _notify("failed")
