"""Prefect events posted so that success means the Prefect server accepted them.

``prefect.events.emit_event`` hands the event to a background worker that sends it over a
websocket later; nothing tells the caller whether the server got it. A webhook may be answered
2xx, and an SQS message deleted, only once its event is safe, so this posts through the Prefect
client's ``POST /api/events`` (answered 204 once the server has published the events to its
triggers) and raises when the server does not accept them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.events import Event


class EventSink(Protocol):
    def emit(self, events: Sequence[Event]) -> None:
        """Return only once every event is accepted; raise otherwise."""


def event_id(namespace: str, key: str) -> uuid.UUID:
    """A stable id for the event about ``key``, so a re-delivery is recognisable as the same event."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"reelscribe:{namespace}:{key}")


def make_event(
    name: str, resource: Mapping[str, str], payload: Mapping[str, Any], *, namespace: str, key: str
) -> Event:
    return Event(event=name, resource=dict(resource), payload=dict(payload), id=event_id(namespace, key))


class PrefectApiUnavailable(RuntimeError):
    """No Prefect API to hand events to: ``PREFECT_API_URL`` unset, or its server not answering."""


HEALTH_TIMEOUT_S = 10.0


def require_api() -> str:
    """The Prefect API URL events will go to, once its server answered; else PrefectApiUnavailable.

    Without ``PREFECT_API_URL`` Prefect's client starts a temporary server of its own, which would
    accept every event (so a webhook would be answered 2xx and an SQS message deleted) and run
    nothing: the arrival would be lost. So a service that emits events refuses to start instead.
    """
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    if not url:
        raise PrefectApiUnavailable(
            "PREFECT_API_URL is not set: events would go to a temporary Prefect server that runs nothing; "
            "set it to the API of the Prefect server that runs the deployments (e.g. http://127.0.0.1:4200/api)"
        )
    with get_client(sync_client=True, httpx_settings={"timeout": HEALTH_TIMEOUT_S}) as client:
        error = client.api_healthcheck()
    if error is not None:
        raise PrefectApiUnavailable(f"the Prefect API at {url} does not answer ({type(error).__name__}: {error})")
    return url


class PrefectApiSink:
    """The Prefect API of the current profile (``PREFECT_API_URL``), through Prefect's own client."""

    def __init__(self) -> None:
        self._client: SyncPrefectClient = get_client(sync_client=True)

    def __enter__(self) -> PrefectApiSink:
        self._client.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.__exit__(*exc)

    def emit(self, events: Sequence[Event]) -> None:
        response = self._client.request("POST", "/events", json=[e.model_dump(mode="json") for e in events])
        response.raise_for_status()
