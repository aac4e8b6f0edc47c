"""In-process progress for the terminal: task state hooks tick a listener the CLI registers.

Each video ends exactly once: a failed upload, a failed wait, or a finished land (completed or
failed). Hooks run in the flow's process, so a listener is a plain callable; with none
registered (a deployment run) they do nothing.
"""

from __future__ import annotations

import threading
from typing import Callable

_listeners: list[Callable[[str], None]] = []
_lock = threading.Lock()


def add_listener(listener: Callable[[str], None]) -> Callable[[], None]:
    """Register ``listener(outcome)``; returns a function that removes it."""
    with _lock:
        _listeners.append(listener)
    return lambda: _remove(listener)


def _remove(listener: Callable[[str], None]) -> None:
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


def _notify(outcome: str) -> None:
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(outcome)


def video_done(task, task_run, state) -> None:
    _notify("done")


def video_failed(task, task_run, state) -> None:
    _notify("failed")
