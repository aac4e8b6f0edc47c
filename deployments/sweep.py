"""Turn on the webhook deadline sweep: the schedule of the ``land-indexed`` deployment.

Only ``wait: webhook`` runs leave submissions for the sweep to poll, so ``prefect.yaml`` declares
its schedule inactive: where no webhook is configured, a run every 10 minutes would cost a worker
a clone and a process start for nothing. ``make deploy WEBHOOKS=1`` runs this after registering
(``python -m reelscribe.deployments.sweep``); ``make serve WEBHOOKS=1`` serves it active instead
(``serve.py --webhooks``). Deploying again without ``WEBHOOKS=1`` turns it off again.
"""

from __future__ import annotations

import sys

NAME = "land-indexed"
DEPLOYMENT = f"{NAME}/{NAME}"


def with_sweep(specs: list[dict]) -> list[dict]:
    """These ``deployments:`` entries with the sweep's schedules active (for ``serve``)."""
    return [{**spec, "schedules": [{**s, "active": True} for s in spec.get("schedules") or []]} if spec["name"] == NAME else spec
            for spec in specs]


def turn_on() -> str:
    """Activate the registered ``land-indexed`` deployment's schedules in the current profile's Prefect API."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(DEPLOYMENT)
        except ObjectNotFound:
            raise LookupError(f"no deployment {DEPLOYMENT} in {client.api_url}: run make deploy first") from None
        for schedule in deployment.schedules:
            client.update_deployment_schedule(deployment.id, schedule.id, active=True)
    return f"the webhook deadline sweep ({DEPLOYMENT}, {len(deployment.schedules)} schedule) is on"


if __name__ == "__main__":
    try:
        print(turn_on())
    except LookupError as error:
        print(f"reelscribe: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
