"""The automation that ends killed runs: a reelscribe flow run whose heartbeats stop becomes Crashed.

A flow run's process that is killed (SIGKILL, the machine lost, a container evicted) reports
nothing, so the run would stay ``Running`` for good, holding the ``hourly`` deployment's
concurrency slot, and the next hourly run would wait behind it. Prefect's idiom for this is
heartbeats plus a proactive trigger: each running flow run emits ``prefect.flow-run.heartbeat``
every ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` seconds (``make worker`` and ``make serve`` set 30, the
least Prefect allows); when a run's next heartbeat (or its end) does not come within
``MISSED_HEARTBEATS`` beats, the automation sets the run Crashed, which frees its slot.

Only runs tagged ``reelscribe`` (every deployment of ``prefect.yaml`` is) are watched: on a
Prefect server shared with other flows, whose heartbeats may be minutes apart, this automation
must not crash theirs. ``python -m reelscribe.deployments.automations`` (run by ``make deploy``
and ``make serve``) creates it, or updates it in place, found by name, so deploying again keeps one.
"""

from __future__ import annotations

from datetime import timedelta

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification
from prefect.settings import get_current_settings

NAME = "reelscribe-crash-silent-runs"
TAG = "reelscribe"
# One lost heartbeat (a slow API, a long GC pause) must not crash a live run; three in a row do.
MISSED_HEARTBEATS = 3
# A flow run's heartbeat or any event that ends it; after the end no heartbeat is due.
ALIVE_OR_ENDED = {
    "prefect.flow-run.heartbeat",
    "prefect.flow-run.Completed",
    "prefect.flow-run.Failed",
    "prefect.flow-run.Cancelled",
    "prefect.flow-run.Crashed",
}


def heartbeat_seconds() -> int:
    """The heartbeat period of the flow runs this automation watches (the environment's setting)."""
    seconds = get_current_settings().flows.heartbeat_frequency
    if not seconds:
        raise ValueError("flow-run heartbeats are off (PREFECT_FLOWS_HEARTBEAT_FREQUENCY unset): nothing could tell a killed run from a live one")
    return seconds


def crash_silent_runs(heartbeat: int | None = None) -> AutomationCore:
    """Each reelscribe flow run that stays silent for ``MISSED_HEARTBEATS`` heartbeats is set Crashed."""
    within = MISSED_HEARTBEATS * (heartbeat or heartbeat_seconds())
    return AutomationCore(
        name=NAME,
        description=(
            f"A flow run tagged {TAG!r} that sent no heartbeat for {within} s ({MISSED_HEARTBEATS} heartbeats) "
            "lost its process: mark it Crashed, which frees its concurrency slot for the next run."
        ),
        enabled=True,
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect=ALIVE_OR_ENDED,
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            match_related=[ResourceSpecification({"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{TAG}"})],
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=within),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"No heartbeat for {within} s: the flow run's process is gone (killed, or its machine lost).",
            )
        ],
    )


def apply(automation: AutomationCore | None = None) -> str:
    """Create the automation, or update the one of that name (one only), in the current profile's Prefect API."""
    automation = automation or crash_silent_runs()
    with get_client(sync_client=True) as client:
        existing = client.read_automations_by_name(automation.name)
        for extra in existing[1:]:
            client.delete_automation(extra.id)
        if existing:
            client.update_automation(existing[0].id, automation)
            return f"updated automation {automation.name}"
        client.create_automation(automation)
        return f"created automation {automation.name}"


def main() -> int:
    import sys

    try:
        print(apply())
    except ValueError as error:
        print(f"reelscribe: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
