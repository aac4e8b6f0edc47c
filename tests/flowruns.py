"""What a flow run left in the Prefect API (whichever API the current settings point at)."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)

from tests.polling import wait_for


def artifacts_of(flow_run_id: UUID) -> list:
    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))


def log_messages(flow_run_id: UUID) -> list[str]:
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=5)
    with get_client(sync_client=True) as client:
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return [log.message for log in logs]


def task_run_names(flow_run_id: UUID, including: Iterable[str] = (), timeout: float = 120) -> list[str]:
    """The names of the flow run's task runs, once the Prefect server has recorded them.

    Prefect records task runs from the events their engine emits, after the flow run's own final
    state: read at once, the list may be short or empty (it was, with two test workers on two
    cores). The events still queued in this process are sent first; then the list is read until
    it names every one of ``including`` and a read a second later finds the same runs.
    """
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all(timeout=30)
    wanted, previous = set(including), None

    def settled() -> list[str] | None:
        nonlocal previous
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        names = sorted(run.name for run in runs)
        done = bool(names) and wanted <= set(names) and names == previous
        previous = names
        return names if done else None

    return wait_for(settled, lambda names: names is not None, timeout,
                    lambda: f"the task runs of {flow_run_id} (wanted {sorted(wanted)}, last read {previous})", 1.0)
