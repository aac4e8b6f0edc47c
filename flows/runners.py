"""Which task runner executes the per-video tasks: a thread pool (default) or a Dask cluster."""

from __future__ import annotations

import math

from prefect.settings import get_current_settings
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from reelscribe.core.errors import ConfigError

LOCAL = "local"
LOCAL_WORKERS = 2
NEEDS_SERVER = (
    "Dask needs a real Prefect server: its workers report every task run to the API, and without "
    "PREFECT_API_URL each worker would start a temporary server of its own. Start one "
    "(`prefect server start`) and set PREFECT_API_URL=http://127.0.0.1:4200/api, here and on the workers"
)


def task_runner(dask: str | None, max_concurrency: int) -> TaskRunner:
    """``ThreadPoolTaskRunner`` without ``dask``; else a ``DaskTaskRunner`` on that scheduler.

    ``dask="local"`` starts a ``LocalCluster`` of ``LOCAL_WORKERS`` processes with
    ``max_concurrency`` threads in all (the tasks mostly wait on the network), which get this
    process's Prefect settings (a caller's ``temporary_settings`` too) as their environment, as
    Prefect's temporary server does. On an existing cluster, its workers' threads decide how many
    videos are in flight.
    """
    if not dask:
        return ThreadPoolTaskRunner(max_workers=max_concurrency)
    require_prefect_api()
    from prefect_dask import DaskTaskRunner

    if dask == LOCAL:
        threads = max(1, math.ceil(max_concurrency / LOCAL_WORKERS))
        return DaskTaskRunner(
            cluster_kwargs={"n_workers": LOCAL_WORKERS, "threads_per_worker": threads, "processes": True, "dashboard_address": None,
                            "env": get_current_settings().to_environment_variables(exclude_unset=True)}
        )
    if not dask.startswith(("tcp://", "tls://", "ws://", "wss://", "inproc://")):
        raise ConfigError(f"dask {dask!r}: give a scheduler address like tcp://host:8786, or 'local'")
    return DaskTaskRunner(address=dask)


def require_prefect_api() -> None:
    """Raise ``ConfigError`` unless a real Prefect API is configured (``PREFECT_API_URL``)."""
    if not get_current_settings().api.url:
        raise ConfigError(NEEDS_SERVER)
