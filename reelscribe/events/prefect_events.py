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
