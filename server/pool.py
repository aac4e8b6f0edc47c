"""One worker pool for both indexing paths (tasks, and assets with indexed assets).

Each path adds its stages; a stage says how to claim its next piece of work (a row moved to its
working status in SQLite, or None) and how to process it, and runs in ``threads`` threads that
sleep until woken or polled. The pool owns what the paths share: each path's recovery (tidy the
disk, requeue interrupted rows) before any thread starts, an unexpected error recorded as the row's
failure, a transcription stopped by shutdown left where it is (a restart resumes it), the simulated
indexing time, and stopping every thread together.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reelscribe.server.asr import AsrEngine, TranscriptionStopped
from reelscribe.server.config import ServerConfig
from reelscribe.server.faults import indexing_delay
from reelscribe.server.store import Store
from reelscribe.server.webhooks import CompletionHook, no_webhook

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
"""How often an idle thread looks for work it was not woken for (e.g. after a restart)."""


@dataclass(frozen=True)
class Stage:
    """One kind of work: ``claim()`` the next row (or None), ``process(row)``; ``crashed(row, exc)``
    records an unexpected error as the row's failure."""

    name: str
    claim: Callable[[], Any]
    process: Callable[[Any], None]
    crashed: Callable[[Any, Exception], None]
    threads: int = 1


class WorkerPool:
    """The threads of every path's stages; ``wake(name)`` when a stage has new work, to start on it at once."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.stopping = threading.Event()
        self._stages: list[tuple[Stage, threading.Event]] = []
        self._recoveries: list[Callable[[], None]] = []
        self._threads: list[threading.Thread] = []

    def add(self, *stages: Stage, recover: Callable[[], None]) -> None:
        """A path's stages; its ``recover`` (tidy the disk, requeue interrupted rows) runs at start,
        before any thread claims work."""
        self._stages.extend((stage, threading.Event()) for stage in stages)
        self._recoveries.append(recover)

    def start(self) -> None:
        for recover in self._recoveries:
            recover()
        for stage, wake in self._stages:
            for number in range(stage.threads):
                name = stage.name if stage.threads == 1 else f"{stage.name}-{number}"
                thread = threading.Thread(target=self._run, args=(stage, wake), name=name, daemon=True)
                thread.start()
                self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Every thread stops together; a transcription under way gives up at its next check."""
        self.stopping.set()
        for _, wake in self._stages:
            wake.set()
        for thread in self._threads:
            thread.join(timeout)

    def wake(self, name: str) -> None:
        for stage, wake in self._stages:
            if stage.name == name:
                wake.set()

    def delayed(self) -> bool:
        """The simulated indexing time (``--fault-latency``, the hold file); True if the server began
        stopping meanwhile (the row stays where it is, for a restart)."""
        return indexing_delay(self.config.fault_latency, self.config.fault_hold_file, self.stopping)

    def _run(self, stage: Stage, wake: threading.Event) -> None:
        """Step until there is nothing to do, then sleep until woken or the next poll."""
        while not self.stopping.is_set():
            wake.clear()
            try:
                busy = self._step(stage)
            except Exception:
                log.exception("%s step failed", stage.name)
                busy = False
            if not busy:
                wake.wait(POLL_SECONDS)

    def _step(self, stage: Stage) -> bool:
        """True if it claimed work (so the thread looks again at once)."""
        row = stage.claim()
        if row is None:
            return False
        try:
            stage.process(row)
        except TranscriptionStopped:
            pass
        except Exception as exc:
            log.exception("%s step on %s failed", stage.name, getattr(row, "id", row))
            stage.crashed(row, exc)
        return True


class IndexingPath:
    """One path's work on the pool: its ``stages()`` and its ``recover()``, with what they share."""

    def __init__(
        self,
        config: ServerConfig,
        store: Store,
        engine: AsrEngine,
        pool: WorkerPool,
        completed: CompletionHook = no_webhook,
    ) -> None:
        self.config = config
        self.store = store
        self.engine = engine
        self.pool = pool
        self.completed = completed
        pool.add(*self.stages(), recover=self.recover)

    def stages(self) -> tuple[Stage, ...]:
        raise NotImplementedError

    def recover(self) -> None:
        """Tidy the disk and requeue rows interrupted by a crash; runs before any stage claims work."""
        raise NotImplementedError
