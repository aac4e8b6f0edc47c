"""Whole-step Prefect retries, from the one policy in ``reelscribe.core.retry``.

A module-level function on purpose: Prefect 3.8 silently ignores a ``retry_condition_fn`` that is
a bound method, a ``functools.partial`` or a callable instance.
"""

from __future__ import annotations

from reelscribe.core.errors import TransientError
from reelscribe.core.retry import RetryPolicy

_POLICY = RetryPolicy()


def retry_on_transient(task, task_run, state) -> bool:
    """Retry after the server stayed unreachable or overloaded; never after a 4xx or bad data."""
    try:
        state.result()
    except (TransientError, ConnectionError, TimeoutError):
        return True
    except Exception:
        return False
    return False


RETRY_TRANSIENT = dict(
    retries=_POLICY.step_retries,
    retry_delay_seconds=_POLICY.step_retry_delay,
    retry_condition_fn=retry_on_transient,
)
"""``@task(**RETRY_TRANSIENT)``: the retry settings of every idempotent step, in one place."""
