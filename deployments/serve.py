"""Serve the deployments of ``prefect.yaml`` from one process: no work pool, no worker.

``python -m reelscribe.deployments.serve [PREFECT_YAML]`` (``make serve``, from the repository root)
registers the same deployments, parameters, schedules, triggers and limits as ``make deploy`` (from the
shipped ``prefect.yaml`` unless another file is given) and executes their runs itself,
each in a subprocess, until stopped; stopping pauses the schedules (Prefect's default). With
``--in-process`` each run is a thread of this process instead (``deployments/in_process.py``): no
process start per run, the event-driven latency (BENCHMARKS 11). It reads
``prefect.yaml`` so that the two ways to deploy cannot drift apart; only the fields used there
are translated.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import threading
from pathlib import Path
from typing import Any

import yaml
from prefect import Flow, serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.events import DeploymentEventTrigger
from prefect.schedules import Cron, Schedule

SPEC = Path(__file__).with_name("prefect.yaml")
IN_PROCESS_POLL_S = 1.0


def load_spec(path: Path = SPEC) -> list[dict[str, Any]]:
    """The ``deployments:`` entries of the YAML (anchors and ``<<`` merges resolved)."""
    return yaml.safe_load(path.read_text())["deployments"]


def flow_of(spec: dict[str, Any]) -> Flow:
    module, _, name = spec["entrypoint"].partition(":")
    return getattr(importlib.import_module(module.removesuffix(".py").replace("/", ".")), name)


def to_deployment(spec: dict[str, Any]) -> RunnerDeployment:
    flow = flow_of(spec)
    limit = spec.get("concurrency_limit")
    return flow.to_deployment(
        name=spec["name"],
        description=spec.get("description"),
        tags=spec.get("tags"),
        parameters=spec.get("parameters"),
        schedules=[_schedule(s) for s in spec.get("schedules") or []],
        triggers=[_trigger(t) for t in spec.get("triggers") or []],
        concurrency_limit=ConcurrencyLimitConfig(**limit) if isinstance(limit, dict) else limit,
        enforce_parameter_schema=spec.get("enforce_parameter_schema", True),
        # Importable by module from any working directory (the package is installed).
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def _schedule(spec: dict[str, Any]) -> Schedule:
    if set(spec) - {"cron", "timezone", "active"}:
        raise ValueError(f"only cron schedules are translated, not {spec}")
    return Cron(spec["cron"], timezone=spec.get("timezone"), active=spec.get("active", True))


def _trigger(spec: dict[str, Any]) -> DeploymentEventTrigger:
    if spec.get("type", "event") != "event":
        raise ValueError(f"only event triggers are translated, not {spec}")
    return DeploymentEventTrigger(**{k: v for k, v in spec.items() if k != "type"})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reelscribe.deployments.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", nargs="?", type=Path, default=SPEC, help="the prefect.yaml to serve (default: the shipped one)")
    parser.add_argument("--webhooks", action="store_true",
                        help="webhooks are configured: serve the land-indexed deadline sweep's schedule active (it ships off)")
    parser.add_argument("--in-process", action="store_true",
                        help="run each flow run in a thread of this process, not a subprocess: no start-up per run (runs cannot be killed)")
    args = parser.parse_args(argv)
    if not args.spec.is_file():
        parser.error(f"{args.spec}: no such file")
    specs = load_spec(args.spec)
    if args.webhooks:
        from reelscribe.deployments.sweep import with_sweep

        specs = with_sweep(specs)
    serve_specs(specs, in_process=args.in_process)


def serve_specs(specs: list[dict[str, Any]], *, in_process: bool = False) -> None:
    """Serve these ``deployments:`` entries until stopped (Ctrl-C or SIGTERM), with the automation
    that marks their killed runs Crashed (``deployments/automations.py``), as ``make deploy`` does."""
    from reelscribe.deployments.automations import apply

    print(apply(), flush=True)
    if not in_process:
        serve(*(to_deployment(spec) for spec in specs))
        return
    from reelscribe.deployments.in_process import InProcessRunner

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # The lowest latency is the point of serving in process: a due run waits at most 1 s (one cheap
    # API read a second), unless PREFECT_RUNNER_POLL_FREQUENCY says otherwise.
    poll = None if "PREFECT_RUNNER_POLL_FREQUENCY" in os.environ else IN_PROCESS_POLL_S
    runner = InProcessRunner(((flow_of(spec), to_deployment(spec)) for spec in specs), poll_seconds=poll)
    runner.register()
    print(f"serving {len(specs)} deployment(s) in this process, polling every {runner.poll_seconds:g} s; Ctrl-C stops", flush=True)
    try:
        runner.run(stop)
    except KeyboardInterrupt:
        stop.set()


if __name__ == "__main__":
    main()
