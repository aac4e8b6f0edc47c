"""Ctrl-C in the flow: stop sending, let what is landing land, and end the run Cancelled.

The CLI's SIGINT handler only sets ``RunContext.interrupted``; no ``KeyboardInterrupt`` is raised
at a random point of Prefect's engine (which would end the run Crashed, or leave it Running). The
flow notices the flag where it waits (``flows/in_turn.py``), stops the worker threads that are
uploading or waiting (``Interrupted`` raised into them: their task runs end Crashed, never
retried), and raises ``RunInterrupted``; ``cancelled_on_interrupt`` turns that into the run's
final state, Cancelled. Landing is never interrupted: a land step running then finishes.
"""

from __future__ import annotations

import ctypes
import functools
import inspect
import sys
import threading
from typing import Any, Callable, Iterable

from prefect.states import Cancelled
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from reelscribe.tasks.progress import interrupted
from reelscribe.tasks.run_context import Interrupted

POLL_S = 0.2
"""How often a waiting flow looks at the interrupt flag (a signal handler cannot wake it)."""
MESSAGE = "interrupted (Ctrl-C): run again to finish"


class RunInterrupted(Exception):
    """The caller was interrupted; raised in the flow's thread, turned into a Cancelled state."""


def cancelled_on_interrupt(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A flow function whose run ends Cancelled, not Failed or Crashed, when its caller is interrupted."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if interrupted():
            return Cancelled(message=MESSAGE)
        try:
            return fn(*args, **kwargs)
        except RunInterrupted:
            return Cancelled(message=MESSAGE)

    # Resolved here, where the flow's module is: Prefect reads the wrapper's (string) annotations
    # in the wrapper's module otherwise, which does not define them.
    wrapper.__signature__ = inspect.signature(fn, eval_str=True)  # type: ignore[attr-defined]
    return wrapper


def raise_if_interrupted() -> None:
    if interrupted():
        raise RunInterrupted(MESSAGE)


def raise_if_stopping(runner: TaskRunner, interruptible: Iterable[Callable[..., Any]]) -> None:
    """Once interrupted: stop the worker threads busy in an ``interruptible`` step, and raise ``RunInterrupted``."""
    if interrupted():
        stop_workers(runner, interruptible)
        raise RunInterrupted(MESSAGE)


def stop_workers(runner: TaskRunner, functions: Iterable[Callable[..., Any]]) -> int:
    """Raise ``Interrupted`` in each worker thread of ``runner`` now running one of ``functions``.

    A thread pool's threads cannot be killed, and a waiting step may poll a remote API for an
    hour; its task run ends Crashed at its next bytecode (after its current sleep or request).
    Threads in any other step (landing) are left to finish. Other runners (Dask): nothing.
    """
    if not isinstance(runner, ThreadPoolTaskRunner):
        return 0
    codes = {getattr(f, "fn", f).__code__ for f in functions}
    workers = set(getattr(runner, "_worker_thread_ids", ()))
    stopped = 0
    for ident, frame in sys._current_frames().items():
        if ident not in workers or ident == threading.get_ident():
            continue
        while frame is not None and frame.f_code not in codes:
            frame = frame.f_back
        if frame is not None:
            stopped += ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(Interrupted))
    return stopped


def ignore_interrupted_threads() -> None:
    """A worker thread that ``Interrupted`` reaches between two tasks ends quietly, not with a traceback."""
    previous = threading.excepthook
    if getattr(previous, "_reelscribe", False):
        return

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is not None and issubclass(args.exc_type, Interrupted):
            return
        previous(args)

    hook._reelscribe = True  # type: ignore[attr-defined]
    threading.excepthook = hook
