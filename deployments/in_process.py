"""Execute served deployments' flow runs inside this process, so that a run costs no process start.

Prefect's runner (``serve``) and its process workers start every flow run in a new Python
process, which imports Prefect and the pipeline again: about 4 CPU-seconds on two cores, several
at once for a burst of completions (BENCHMARKS 11). For the event-driven deployments, whose runs
are short and many, that start is most of the latency. Here one long-lived process registers the
deployments (schedules, triggers, limits, as ``serve`` does) and runs each due flow run in a
thread of its own through Prefect's engine (``run_flow``), the modules already imported.

It claims a run as Prefect's runner does, by proposing ``Pending``: the server grants the
deployment's concurrency slot there (the engine then keeps the slot's lease), and two processes
serving the same deployments never run one flow run twice. What it cannot do that the runner
does: kill a run (a thread cannot be killed), so a run cancelled from the UI ends when its flow
returns; use ``serve`` for flows that must be killable.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from uuid import UUID

import httpx
from prefect import Flow
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.objects import FlowRun
from prefect.deployments.runner import RunnerDeployment
from prefect.exceptions import Abort
from prefect.flow_engine import run_flow
from prefect.logging import get_logger
from prefect.settings import get_current_settings
from prefect.states import Pending
from prefect.utilities.engine import propose_state_sync

logger = get_logger("reelscribe.in_process")


class InProcessRunner:
    """Registers deployments and runs their due flow runs in threads of this process until stopped.

    ``poll_seconds`` and ``limit`` default to the runner's own settings
    (``PREFECT_RUNNER_POLL_FREQUENCY``, ``PREFECT_RUNNER_PROCESS_LIMIT``): the same knobs as ``serve``.
    """

    def __init__(self, deployments: Iterable[tuple[Flow, RunnerDeployment]], *, poll_seconds: float | None = None,
                 limit: int | None = None) -> None:
        runner = get_current_settings().runner
        self._deployments = list(deployments)
        self.poll_seconds = poll_seconds if poll_seconds is not None else runner.poll_frequency
        self._limit = limit if limit is not None else runner.process_limit
        self._flows: dict[UUID, Flow] = {}
        self._running: set[UUID] = set()
        self._lock = threading.Lock()

    def register(self) -> None:
        """Create or update each deployment with its schedules and triggers (as ``serve`` does)."""
        for flow, deployment in self._deployments:
            self._flows[deployment.apply()] = flow

    def run(self, stop: threading.Event) -> None:
        """Poll for the registered deployments' due runs and execute them until ``stop`` is set; then
        wait for those running and pause the deployments' schedules, as ``serve`` does on shutdown.

        A poll the API does not answer (a Prefect server restarting) is logged and tried again at
        the next one, rather than ending the process."""
        with get_client(sync_client=True) as client:
            try:
                with ThreadPoolExecutor(self._limit, thread_name_prefix="flow-run") as pool:  # leaving it waits for the runs
                    while not stop.is_set():
                        try:
                            for flow_run in self._due(client):
                                if self._claim(client, flow_run):
                                    pool.submit(self._execute, flow_run)
                        except httpx.HTTPError as error:  # PrefectHTTPStatusError included
                            logger.warning("polling for flow runs failed, trying again in %s s: %s", self.poll_seconds, error)
                        stop.wait(self.poll_seconds)
            finally:
                for deployment_id in self._flows:
                    client.pause_deployment(deployment_id)

    def _due(self, client: SyncPrefectClient) -> list[FlowRun]:
        with self._lock:
            free = self._limit - len(self._running)
        if free <= 0:
            return []
        runs = client.get_scheduled_flow_runs_for_deployments(list(self._flows), scheduled_before=datetime.now(timezone.utc), limit=free)
        with self._lock:
            return [run for run in runs if run.id not in self._running]

    def _claim(self, client: SyncPrefectClient, flow_run: FlowRun) -> bool:
        """Propose ``Pending``: refused when another process took the run or the deployment's limit is full."""
        try:
            state = propose_state_sync(client, Pending(), flow_run_id=flow_run.id)
        except Abort as refused:
            logger.info("flow run %s not started: %s", flow_run.name, refused)
            return False
        if not state.is_pending():
            logger.info("flow run %s not started: the server answered %s", flow_run.name, state.type.value)
            return False
        with self._lock:
            self._running.add(flow_run.id)
        return True

    def _execute(self, flow_run: FlowRun) -> None:
        try:
            with get_client(sync_client=True) as client:
                client.update_flow_run(flow_run.id, infrastructure_pid=str(os.getpid()))
                claimed = client.read_flow_run(flow_run.id)  # its Pending state carries the concurrency lease
            state = run_flow(self._flows[flow_run.deployment_id], flow_run=claimed, return_type="state")
            logger.info("flow run %s: %s", flow_run.name, state.type.value)
        except Exception:  # the engine records the run's own failures; this is anything around it
            logger.exception("flow run %s crashed in the runner", flow_run.name)
        finally:
            with self._lock:
                self._running.discard(flow_run.id)
