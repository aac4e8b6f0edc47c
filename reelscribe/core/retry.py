"""The one retry policy: what is retried, by which layer, how often and how long apart.

Layers, each retrying only ``TransientError`` (connection errors, 5xx, 429):

- **HTTP calls** (every request of ``TwelveLabsClient``, one path): idempotent calls are re-sent
  up to ``max_attempts`` tries, honouring ``Retry-After`` / ``X-Ratelimit-Reset``.
- **Creates** (``ingest.create_once``): never re-sent blindly; the same budget and waits, but a
  look-up runs before every resend, because a create whose answer was lost may have happened.
- **Whole Prefect steps** (``reelscribe.tasks.retrying``): ``step_retries`` more runs,
  ``step_retry_delay`` apart, only after a step's calls used up their own budget (a server gone
  for longer than one call's backoff).

``retrying`` builds the tenacity loop both of the first two use; the delay arithmetic is pure so
tests check it without a clock. Each wait is told to the loop's ``on_wait`` hook (a ``RetryWait``),
so that whoever started the call can say what is happening (``waiting 8 s for host: connection
refused``) instead of falling silent for the whole backoff. Jitter is added here because Prefect 3.8 ignores
``retry_jitter_factor`` on tasks.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Callable, Iterator, Mapping

import tenacity

from reelscribe.core.errors import TransientError

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` counts the first try. Server-given waits are honoured up to ``max_server_wait``."""

    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_server_wait: float = 120.0
    step_retries: int = 1
    step_retry_delay: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")


@dataclass(frozen=True)
class RetryWait:
    """One wait of a retry loop: what is retried, against whom, for how long, and why."""

    what: str
    target: str
    seconds: float
    attempt: int
    attempts: int
    error: BaseException

    def line(self) -> str:
        """``waiting 8 s for 127.0.0.1:9999: connection refused (GET indexes, try 2 of 8)``."""
        reason = getattr(self.error, "reason", None) or str(self.error)
        seconds = f"{self.seconds:.1f}" if self.seconds < 10 else f"{self.seconds:.0f}"
        target = f" for {self.target}" if self.target else ""
        return f"waiting {seconds} s{target}: {reason} ({self.what}, try {self.attempt + 1} of {self.attempts})"


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


def retrying(
    policy: RetryPolicy,
    *,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[..., None] | None = None,
    retry_on: tuple[type[BaseException], ...] = (TransientError,),
    target: str = "",
    on_wait: Callable[[RetryWait], None] | None = None,
) -> tenacity.Retrying:
    """The retry loop for one call: ``retrying(...)(call, *args)`` returns ``call(*args)``;
    ``for attempt in retrying(...): with attempt: ...`` where each try needs its number.

    Retries ``retry_on`` only (``TransientError``; a Delta commit conflict for the lake's commits),
    up to ``policy.max_attempts`` tries, waiting
    ``backoff_delay`` (the server's own ``retry_after`` when the error carries one); the last
    error is re-raised as it is. ``on_wait`` hears of each wait before it starts (``target``:
    the host, for its line).
    """

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        return backoff_delay(state.attempt_number, policy, getattr(error, "retry_after", None))

    def before_sleep(state: tenacity.RetryCallState) -> None:
        if log is not None and state.outcome is not None and state.next_action is not None:
            log("%s: %s; retry %d/%d in %.1f s", what, state.outcome.exception(),
                state.attempt_number, policy.max_attempts - 1, state.next_action.sleep)
        if on_wait is not None and state.outcome is not None and state.next_action is not None:
            on_wait(RetryWait(what, target, state.next_action.sleep, state.attempt_number, policy.max_attempts,
                              state.outcome.exception()))

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.max_attempts),
        retry=tenacity.retry_if_exception_type(retry_on),
        wait=wait,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
