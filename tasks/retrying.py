"""When a Prefect task retry is worth it: only for failures that may pass.

A module-level function on purpose: Prefect 3.8 silently ignores a ``retry_condition_fn`` that is
a bound method, a ``functools.partial`` or a callable instance.
"""

from __future__ import annotations

from reelscribe.core.errors import ApiRateLimited, ApiServerError, ApiTransportError

TRANSIENT = (ApiTransportError, ApiServerError, ApiRateLimited, ConnectionError, TimeoutError)


def retry_on_transient(task, task_run, state) -> bool:
    """Retry after a network fault or an overloaded server; never after a 4xx or bad data."""
    try:
        state.result()
    except TRANSIENT:
        return True
    except Exception:
        return False
    return False


RETRY_TRANSIENT = dict(retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=retry_on_transient)
"""``@task(**RETRY_TRANSIENT)``: the retry settings of every idempotent step, in one place."""
