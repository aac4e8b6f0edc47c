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

from contextvars import ContextVar
from typing import Callable, ClassVar

from prefect.context import ContextModel
from pydantic import SecretStr

ProgressSink = Callable[[str, int], None]
"""``sink(event, count)``: ``found`` with the batch's size, then ``done`` or ``failed`` once per video."""


class RunContext(ContextModel):
    """``api_key``: the key of the API the caller started (the embedded server), used when no block
    names one. ``progress``: where the tasks report each video's end."""

    api_key: SecretStr | None = None
    progress: ProgressSink | None = None

    __var__: ClassVar[ContextVar["RunContext"]] = ContextVar("reelscribe_run_context")
