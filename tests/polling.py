"""The one way tests wait for something outside them: poll a condition up to a generous time-out.

The time-out only bounds a hang (it never decides a pass); a failure names what was awaited.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_for(
    fetch: Callable[[], T], done: Callable[[T], bool], timeout: float, what: str | Callable[[], str], interval: float = 0.1
) -> T:
    """``fetch()`` again every ``interval`` s until ``done`` of its value; returns that value.

    ``what`` may be a callable, for a message read only on failure (a log tail).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() >= deadline:
            described = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:g} s waiting for {described} (last: {value!r:.300})")
        time.sleep(interval)


def wait_until(condition: Callable[[], T], timeout: float, what: str | Callable[[], str], interval: float = 0.1) -> T:
    """Until ``condition()`` is truthy; returns it."""
    return wait_for(condition, bool, timeout, what, interval)
