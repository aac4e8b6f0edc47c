"""In-process progress for the terminal: task state hooks tick the sink of the caller's ``RunContext``.

Each video ends exactly once: a failed upload, a failed wait, or a finished land (completed or
failed). Hooks run where the task runs: in the flow's process they find the ``RunContext`` the
CLI entered, and call its ``progress(event, count)``: ``found`` with the batch's size (the bar's
total; again, smaller, once the plan has deferred some), then ``done`` or ``failed`` once per
video sent. With no sink (a deployment run, a Dask worker) they do nothing.

``video_finished`` hands the caller each video's report as it ends (``RunContext.reports``), and
``interrupted`` tells the flow whether the caller asked it to stop.
"""

from __future__ import annotations

from reelscribe.tasks.run_context import RunContext


def _notify(event: str, count: int = 1) -> None:
    context = RunContext.get()
    if context is not None and context.progress is not None:
        context.progress(event, count)


def batch_found(count: int) -> None:
    """The flow has ``count`` videos to go through (called from the flow, before the fan-out; a later call replaces the total)."""
    _notify("found", count)


def video_done(task, task_run, state) -> None:
    _notify("done")


def video_failed(task, task_run, state) -> None:
    _notify("failed")


def video_finished(report) -> None:
    """Hand one video's report to the caller's sink (called from the flow's thread)."""
    context = RunContext.get()
    if context is not None and context.reports is not None:
        context.reports(report)


def interrupted() -> bool:
    """Whether the process that called the flow was interrupted (Ctrl-C): no sink, never."""
    context = RunContext.get()
    return context is not None and context.interrupted is not None and context.interrupted.is_set()
