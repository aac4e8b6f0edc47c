"""Injected failures for testing clients: random 5xx and 429 answers, and slow or held indexing.

All off by default. Decisions come from one seeded RNG (``--fault-seed``) so a run can be repeated.
An injected answer is decided before the request reaches a route, so it never has side effects.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from pathlib import Path

_SERVER_ERRORS = (500, 502, 503)


@dataclass(frozen=True)
class Fault:
    status: int


class FaultInjector:
    def __init__(self, rate_5xx: float, rate_429: float, seed: int | None = None) -> None:
        self.rate_5xx = rate_5xx
        self.rate_429 = rate_429
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate_5xx > 0 or self.rate_429 > 0

    def draw(self) -> Fault | None:
        """A fault to answer with instead of handling the request, or None."""
        if not self.enabled:
            return None
        with self._lock:
            roll = self._rng.random()
            if roll < self.rate_429:
                return Fault(429)
            if roll < self.rate_429 + self.rate_5xx:
                return Fault(self._rng.choice(_SERVER_ERRORS))
        return None


HOLD_POLL_SECONDS = 0.05


def indexing_delay(latency: float, hold_file: Path | None, stopping: threading.Event) -> bool:
    """Simulated indexing time: ``latency`` seconds, then as long as ``hold_file`` exists.

    Returns True if the server began stopping meanwhile (the work stays ``indexing`` for a restart).
    A held file lets a test catch work at ``indexing`` for as long as it needs, whatever the load.
    """
    if latency > 0 and stopping.wait(latency):
        return True
    while hold_file is not None and hold_file.exists():
        if stopping.wait(HOLD_POLL_SECONDS):
            return True
    return False
