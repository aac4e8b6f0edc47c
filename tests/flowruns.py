"""What a flow run left in the Prefect API (whichever API the current settings point at)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
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


@contextmanager
def reporting_to(api_url: str) -> Iterator[str]:
    """This process's Prefect settings, flows and events pointed at ``api_url`` for the block.

    Prefect keeps one events sender and one log sender per process, made with the API URL of the
    moment and keyed by client type alone: left alone, a sender made while a test pointed here goes
    on sending every later file's events to this server after it has stopped (each event then
    waits ~60 s, and the later file's task runs are never recorded). So both senders are flushed
    and dropped on the way in and on the way out, while their server is still up; the next
    emit makes new ones for the settings of that moment.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    send_queued_records()
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        try:
            yield api_url
        finally:
            send_queued_records()


def send_queued_records() -> None:
    """Send the events and logs this process still queues for the Prefect API, and drop both
    senders (the next record makes new ones for the settings of that moment): the server records
    a run's task runs from its events and its logs from the log sender, both after the run ends."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    EventsWorker.drain_all(timeout=30)
    APILogWorker.drain_all(timeout=30)


def artifacts_of(flow_run_id: UUID) -> list:
    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))


def log_messages(flow_run_id: UUID) -> list[str]:
    send_queued_records()
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
    send_queued_records()
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
