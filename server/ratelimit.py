"""Per-API-key request limits: a fixed window of ``limit`` requests per ``window`` seconds.

Buckets are keyed by a hash of the key (the key itself is never kept). Every answer to a limited
caller carries Twelve Labs' v1.2 headers; a refusal adds an integer ``Retry-After`` of at most 30 s,
the most the official Python SDK honours.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_RETRY_AFTER = 30


def key_fingerprint(api_key: str) -> str:
    """A stable, non-reversible name for a key's bucket (also safe to log)."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    used: int
    reset_at: float

    def headers(self, now: float) -> dict[str, str]:
        """``X-Ratelimit-*`` (reset in UTC epoch seconds) and, when refused, ``Retry-After``."""
        headers = {
            "X-Ratelimit-Limit": str(self.limit),
            "X-Ratelimit-Remaining": str(max(0, self.limit - self.used)),
            "X-Ratelimit-Used": str(self.used),
            "X-Ratelimit-Reset": str(math.ceil(self.reset_at)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(retry_after(self.reset_at, now))
        return headers


def retry_after(reset_at: float, now: float) -> int:
    return max(1, min(MAX_RETRY_AFTER, math.ceil(reset_at - now)))


class RateLimiter:
    """Thread-safe fixed-window counter per key fingerprint; a key's window opens at its first request."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, fingerprint: str) -> Decision:
        """Count one request for ``fingerprint`` and say whether it may proceed."""
        now = self._clock()
        with self._lock:
            if len(self._windows) > 10_000:
                self._windows = {k: v for k, v in self._windows.items() if v[0] + self.window > now}
            start, used = self._windows.get(fingerprint, (now, 0))
            if start + self.window <= now:
                start, used = now, 0
            allowed = used < self.limit
            if allowed:
                used += 1
            self._windows[fingerprint] = (start, used)
        return Decision(allowed=allowed, limit=self.limit, used=used, reset_at=start + self.window)
