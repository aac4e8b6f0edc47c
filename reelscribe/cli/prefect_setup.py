"""The Prefect set-up of a CLI command, scoped to the command: nothing is left in ``os.environ``.

Prefect's own settings go through its own idiom, ``temporary_settings`` (a settings context): the
temporary Prefect server it starts gets them too, as its child's environment
(``SubprocessASGIServer`` passes ``to_environment_variables``), and the start-up timeout is read
when that server starts, inside the context. They are defaults, so a user's ``PREFECT_*``
variables or profile still win.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import sys
from contextlib import contextmanager
from typing import Iterator

DO_NOT_TRACK = "DO_NOT_TRACK"
EPHEMERAL_STARTUP_TIMEOUT_S = 180
"""A first run migrates Prefect's database; on a busy 2-core machine that outlasts the 20 s default."""


@contextmanager
def no_usage_data() -> Iterator[None]:
    """Prefect's SDK telemetry off for a command on a terminal, and back as it was after.

    The one variable ever set, and only where Prefect's telemetry acts at all (a terminal:
    ``_is_interactive_terminal`` in ``prefect/_internal/analytics``): Prefect reads
    ``DO_NOT_TRACK`` only from the process environment (there is no setting), at import and in
    the temporary server's child, which inherits it. Without it a terminal may get Prefect's
    "collects anonymous usage data" notice, the temporary server's even in the middle of the
    progress bar. In a pipe, or called in-process with captured output, nothing is set.
    """
    if os.environ.get(DO_NOT_TRACK) is not None or not _on_a_terminal():
        yield
        return
    os.environ[DO_NOT_TRACK] = "1"
    try:
        yield
    finally:
        os.environ.pop(DO_NOT_TRACK, None)


def _on_a_terminal() -> bool:
    try:
        return sys.stdout.isatty() or sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


@contextmanager
def prefect_settings(*, logging_level: str | None = None) -> Iterator[None]:
    """Run a flow under the CLI's Prefect defaults: no server analytics, a patient temporary
    server start, and ``logging_level`` (``None``: Prefect's own) for Prefect's loggers."""
    from prefect.logging.configuration import setup_logging
    from prefect.settings import temporary_settings

    defaults: dict[str, object] = {
        "server.analytics_enabled": False,
        "server.ephemeral.startup_timeout_seconds": EPHEMERAL_STARTUP_TIMEOUT_S,
    }
    if logging_level:
        defaults["logging.level"] = logging_level
    try:
        with temporary_settings(set_defaults=defaults):
            # Prefect set its loggers' levels at import, from the settings then; it re-applies
            # them the same way after entering a profile (prefect/cli/_app.py).
            setup_logging()
            yield
    finally:
        setup_logging()  # the levels of the settings outside, for whatever the caller runs next
        if logging_level:
            # A temporary Prefect server started by the run stops at exit and logs it; the quiet
            # command ends without that line. Exit hooks run last-registered first: before Prefect's.
            atexit.unregister(_quiet_prefect_at_exit)
            atexit.register(_quiet_prefect_at_exit, logging_level)


def _quiet_prefect_at_exit(level: str) -> None:
    logging.getLogger("prefect").setLevel(level)


def starts_temporary_server() -> bool:
    """Whether a flow run here starts Prefect's temporary server (no ``PREFECT_API_URL``)."""
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    return not settings.api.url and settings.server.ephemeral.enabled


@contextmanager
def temporary_server_apart() -> Iterator[None]:
    """Prefect's temporary server, if the run starts one, in a process group of its own.

    A terminal's Ctrl-C is a SIGINT to its whole foreground process group. The CLI handles it
    (the flow run ends Cancelled, which it must tell that server); a server that got the signal
    too would stop under it first, and the run would end in ``ConnectError``. Apart, the server
    stops when the CLI exits (Prefect's own exit hook), after the run has ended.

    Prefect starts the server on the first client, through ``SubprocessASGIServer``, one instance
    per port (``None``: the port it picks); this wraps that instance's start of its process.
    """
    if not starts_temporary_server():
        yield
        return
    import subprocess

    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    start_process = server._run_uvicorn_command
    if getattr(start_process, "_apart", False):
        yield
        return

    def apart() -> subprocess.Popen:
        popen = subprocess.Popen
        subprocess.Popen = functools.partial(popen, process_group=0)  # type: ignore[misc]
        try:
            return start_process()
        finally:
            subprocess.Popen = popen  # type: ignore[misc]

    apart._apart = True  # type: ignore[attr-defined]
    server._run_uvicorn_command = apart  # type: ignore[method-assign]
    try:
        yield
    finally:
        if server._run_uvicorn_command is apart:
            del server._run_uvicorn_command
