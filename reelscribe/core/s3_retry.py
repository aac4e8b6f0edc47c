"""S3's one retry layer: which answers are tried again, how often and how long apart.

botocore's ``standard`` mode retries 5xx, throttling error codes (``SlowDown``, ``Throttling``…)
and lost connections, but not a ``429 Too Many Requests`` whose body names none of its codes:
the answer of Cloudflare R2, GCS's XML API and rate-limiting gateways, which then ends a run on
its first listing. It also reads only AWS's ``x-amz-retry-after``, never HTTP's ``Retry-After``.

``S3Retry`` decides instead of botocore's handler (``install``: the same event and unique id on
the session every client of an ``S3Store`` is made from, so botocore's own is never registered):
one decision per try, one budget per request (the run's ``REELSCRIBE_HTTP_ATTEMPTS`` tries,
counting the first), no retry quota that would stop retrying a store that throttles for long.
A throttle (429, a throttling code) waits as long as the store asks, else the run's backoff
(``reelscribe.core.retry.backoff_delay``); any other transient failure starts from S3's own short
scale, so a lost connection costs milliseconds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Mapping

from botocore.exceptions import ConnectionError as BotocoreConnectionError
from botocore.exceptions import HTTPClientError

from reelscribe.core.retry import RetryPolicy, backoff_delay, server_wait

__all__ = ["S3Retry", "install", "max_attempts_of"]

log = logging.getLogger(__name__)

SERVICE = "s3"
RETRY_EVENT = f"needs-retry.{SERVICE}"
RETRY_HANDLER_ID = f"retry-config-{SERVICE}"
"""The unique id botocore's ``standard``/``adaptive`` modes register their handler under."""
TOO_MANY_REQUESTS = 429
TRANSIENT_BASE_DELAY = 0.05
"""Seconds: the first wait after a 5xx or a lost connection (botocore's scale for S3)."""

THROTTLE_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "TooManyRequests", "RequestLimitExceeded", "BandwidthLimitExceeded",
    "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
})
TRANSIENT_CODES = frozenset({"RequestTimeout", "RequestTimeoutException", "InternalError"})
TRANSIENT_EXCEPTIONS = (BotocoreConnectionError, HTTPClientError)


@dataclass(frozen=True)
class S3Retry:
    """A ``needs-retry`` handler: the seconds to wait before the next try, or ``None`` for no retry."""

    policy: RetryPolicy

    def needs_retry(self, *, attempts: int, response: Any = None, caught_exception: BaseException | None = None,
                    operation: Any = None, **_: Any) -> float | None:
        if attempts >= self.policy.max_attempts:
            return None
        if caught_exception is not None:
            if not isinstance(caught_exception, TRANSIENT_EXCEPTIONS):
                return None
            reason, throttled, headers = type(caught_exception).__name__, False, {}
        elif response is not None:
            http, parsed = response
            status = http.status_code
            code = (parsed or {}).get("Error", {}).get("Code")
            throttled = status == TOO_MANY_REQUESTS or code in THROTTLE_CODES
            if not (throttled or status >= 500 or code in TRANSIENT_CODES):
                return None
            reason, headers = f"{status} {code or ''}".strip(), http.headers
        else:
            return None
        seconds = self.delay(attempts, throttled, headers)
        log.info("S3 %s: %s; try %d of %d in %.2f s", getattr(operation, "name", "request"), reason,
                 attempts + 1, self.policy.max_attempts, seconds)
        return seconds

    def delay(self, attempts: int, throttled: bool, headers: Mapping[str, str]) -> float:
        """The wait before try ``attempts + 1``: the store's ``Retry-After`` if it gave one."""
        requested = server_wait(headers) if headers else None
        if requested is None and headers:
            requested = _amz_retry_after(headers)
        policy = self.policy if throttled or requested is not None else replace(self.policy, base_delay=TRANSIENT_BASE_DELAY)
        return backoff_delay(attempts, policy, requested)


def _amz_retry_after(headers: Mapping[str, str]) -> float | None:
    """AWS's ``x-amz-retry-after`` (milliseconds), which botocore's own handler honours."""
    value = {k.lower(): v for k, v in headers.items()}.get("x-amz-retry-after")
    try:
        return max(0.0, int(value) / 1000) if value is not None else None
    except ValueError:
        return None


def max_attempts_of(config_kwargs: Mapping[str, Any], default: int) -> int | None:
    """Tries per request (counting the first) that botocore ``config_kwargs`` ask for; ``None``
    where they choose botocore's ``legacy`` mode, whose own rules are then left to decide."""
    retries = dict(config_kwargs.get("retries") or {})
    if retries.get("mode") == "legacy":
        return None
    if retries.get("total_max_attempts") is not None:
        return int(retries["total_max_attempts"])
    if retries.get("max_attempts") is not None:
        return int(retries["max_attempts"]) + 1  # botocore counts these as retries after the first try
    return default


def install(session: Any, policy: RetryPolicy) -> None:
    """Make ``S3Retry`` the one retry handler of every S3 client ``session`` creates."""
    session.register(RETRY_EVENT, S3Retry(policy).needs_retry, unique_id=RETRY_HANDLER_ID)
