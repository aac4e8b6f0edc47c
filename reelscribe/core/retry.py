"""The one retry policy: which answers are worth another try and how long to wait first.

Pure functions so that both the HTTP client and the indexing wait share the arithmetic and tests
can check it without a clock. Jitter is added here because Prefect 3.8 ignores
``retry_jitter_factor`` on tasks.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Callable, Iterator, Mapping

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` counts the first try. Server-given waits are honoured up to ``max_server_wait``."""

    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_server_wait: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")


def is_retryable_status(status: int) -> bool:
    """Connection errors, 5xx and 429 are transient; any other 4xx will fail the same way again."""
    return status in RETRYABLE_STATUSES or status >= 500


def server_wait(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asked us to wait: ``Retry-After`` (seconds or HTTP date), else ``X-Ratelimit-Reset``."""
    now = time.time() if now is None else now
    lowered = {k.lower(): v for k, v in headers.items()}
    retry_after = lowered.get("retry-after")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(retry_after).timestamp() - now)
            except (TypeError, ValueError):
                pass
    reset = lowered.get("x-ratelimit-reset")
    if reset:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            return None
    return None


def backoff_delay(
    attempt: int,
    policy: RetryPolicy,
    requested: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Delay before try ``attempt + 1`` (``attempt`` starts at 1).

    A server-requested wait is honoured (capped) with a little jitter on top so that many clients
    told the same reset time do not return at the same instant; otherwise exponential backoff with
    "equal jitter": between half and all of ``base * 2**(attempt-1)``, capped.
    """
    if requested is not None:
        return min(requested, policy.max_server_wait) + rand() * policy.base_delay
    ceiling = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
    return ceiling / 2 + rand() * ceiling / 2


def poll_intervals(
    first: float, factor: float, ceiling: float, rand: Callable[[], float] = random.random
) -> Iterator[float]:
    """Endless poll intervals growing from ``first`` by ``factor`` up to ``ceiling``, ±10 % jitter."""
    interval = first
    while True:
        yield interval * (0.9 + 0.2 * rand())
        interval = min(ceiling, interval * factor)
