"""What the process that calls a flow hands the run besides its parameters: never a parameter,
never an environment variable.

Prefect's own idiom for this (``prefect.context``'s ``ContextModel``): the caller enters a
``RunContext`` around the flow call; the flow, its tasks on the thread pool (Prefect copies the
context into each) and their state hooks read it with ``RunContext.get()``. It holds what cannot
be a parameter: the key of the server the caller started (a secret: a parameter would land in
the run's record) and the progress sink (a callable of this process). A deployment's run has
none: its key comes from the environment or a block, as always, and progress goes nowhere. A
Dask worker has none either: its tasks get their settings as arguments.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import Any, Callable, ClassVar

from prefect.context import ContextModel
from pydantic import SecretStr

ProgressSink = Callable[[str, int], None]
"""``sink(event, count)``: ``found`` with the batch's size, then ``done`` or ``failed`` once per video."""

ReportSink = Callable[[Any], None]
"""``sink(report)``: one ``VideoReport`` as soon as its video has landed, failed or been skipped."""


class Interrupted(BaseException):
    """Raised into a task's worker thread when the caller was interrupted (Ctrl-C).

    A ``BaseException``, like ``KeyboardInterrupt``: Prefect ends the task run Crashed and never
    retries it, and no ``except Exception`` in the step can swallow it.
    """


class RunContext(ContextModel):
    """``api_key``: the key of the API the caller started (the embedded server), used when no block
    names one. ``progress``: where the tasks report each video's end. ``reports``: where the flow
    hands each video's report when it ends, so the caller can print it then. ``interrupted``: set by
    the caller (its SIGINT handler); the flow then stops sending, and ends its run Cancelled."""

    api_key: SecretStr | None = None
    progress: ProgressSink | None = None
    reports: ReportSink | None = None
    interrupted: threading.Event | None = None

    __var__: ClassVar[ContextVar["RunContext"]] = ContextVar("reelscribe_run_context")
