"""Background threads that each run one step until it finds nothing to do, then sleep until woken.

Both indexing paths (tasks and assets) run their work this way; ``stopping`` is what a long step
(a transcription) checks to give up early on shutdown.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
"""How often an idle thread looks for work it was not woken for (e.g. after a restart)."""


class StepThreads:
    """A group of step threads that stop together."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._wakes: list[threading.Event] = []

    def spawn(self, name: str, wake: threading.Event, step: Callable[[], bool]) -> None:
        """Run ``step`` (True: it did something, run it again at once) in a daemon thread."""

        def run() -> None:
            while not self.stopping.is_set():
                wake.clear()
                try:
                    busy = step()
                except Exception:
                    log.exception("%s step failed", name)
                    busy = False
                if not busy:
                    wake.wait(POLL_SECONDS)

        if wake not in self._wakes:
            self._wakes.append(wake)
        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        for wake in self._wakes:
            wake.set()
        for thread in self._threads:
            thread.join(timeout)
