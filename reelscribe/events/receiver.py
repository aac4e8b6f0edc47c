"""``reelscribe webhooks serve``: Twelve Labs webhooks in, Prefect events out.

``POST /webhooks/twelvelabs`` takes a delivery through these checks, in this order, each refusal a
4xx with nothing emitted: the content type is JSON (415), the body fits :data:`MAX_BODY_BYTES`
(413), ``TL-Signature`` is present, well formed, fresh and matches the raw bytes (401), the
verified body is an event (400). Only then is it parsed, and an ``index.task.ready`` /
``index.task.failed`` event becomes the Prefect event ``twelvelabs.index.task.ready`` /
``.failed`` whose resource is the task (or indexed asset). The answer is 2xx only once the
Prefect server accepted it; if it did not, 503, and the platform delivers again.

De-duplication is on the webhook's event ``id`` (the platform reuses it for retries): ids already
emitted are remembered (the last :data:`REMEMBERED_IDS`, in memory) and answered 200 without a
second event. A restart forgets them; the Prefect event's own id is derived from the webhook id,
and landing is idempotent, so a re-delivery after a restart lands nothing twice.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from reelscribe.events.defaults import MAX_BODY_BYTES, PATH
from reelscribe.events.prefect_events import EventSink, make_event
from reelscribe.events.signature import HEADER, SignatureRejected, verify

log = logging.getLogger(__name__)

REMEMBERED_IDS = 100_000
FORWARDED = frozenset({"index.task.ready", "index.task.failed"})
EVENT_PREFIX = "twelvelabs."
RESOURCE_PREFIX = "twelvelabs.task."


class SeenIds:
    """The most recent event ids emitted, bounded; thread-safe."""

    def __init__(self, keep: int = REMEMBERED_IDS) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._keep = keep
        self._lock = threading.Lock()

    def __contains__(self, event_id: str) -> bool:
        with self._lock:
            return event_id in self._ids

    def add(self, event_id: str) -> None:
        with self._lock:
            self._ids[event_id] = None
            while len(self._ids) > self._keep:
                self._ids.popitem(last=False)


def _refuse(status: int, reason: str) -> JSONResponse:
    log.info("webhook refused (%d): %s", status, reason)
    return JSONResponse({"error": reason}, status_code=status)


def _is_json(content_type: str | None) -> bool:
    return (content_type or "").split(";", 1)[0].strip().lower() == "application/json"


async def _bounded_body(request: Request, limit: int) -> bytes | None:
    """The raw body, or None as soon as it exceeds ``limit`` (declared or actually sent)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def prefect_event(delivery: dict):
    """The Prefect event for a verified ``index.task.*`` delivery (resource: the task or indexed asset)."""
    data = delivery.get("data") or {}
    object_id = str(data["id"])
    return make_event(
        EVENT_PREFIX + delivery["type"],
        {"prefect.resource.id": RESOURCE_PREFIX + object_id, "prefect.resource.name": object_id},
        {"webhook_id": delivery["id"], "created_at": delivery.get("created_at"), "data": data},
        namespace="twelvelabs-webhook",
        key=str(delivery["id"]),
    )


def create_receiver(
    secret: str,
    sink: EventSink,
    *,
    max_body: int = MAX_BODY_BYTES,
    clock: Callable[[], float] = time.time,
    seen: SeenIds | None = None,
) -> FastAPI:
    """The receiver as an ASGI app; ``sink`` is where accepted events go (the Prefect API)."""
    remembered = seen if seen is not None else SeenIds()
    emitting = threading.Lock()  # one id at a time, so two concurrent copies of a delivery emit once
    app = FastAPI(title="reelscribe webhook receiver", docs_url=None, redoc_url=None, openapi_url=None)

    def forward(delivery: dict) -> bool:
        with emitting:
            if delivery["id"] in remembered:
                return False
            sink.emit([prefect_event(delivery)])
            remembered.add(delivery["id"])
            return True

    @app.post(PATH)
    async def receive(request: Request) -> JSONResponse:
        if not _is_json(request.headers.get("content-type")):
            return _refuse(415, "content type must be application/json")
        body = await _bounded_body(request, max_body)
        if body is None:
            return _refuse(413, f"body larger than {max_body} bytes")
        try:
            verify(secret, request.headers.get(HEADER), body, clock())
        except SignatureRejected as exc:
            return _refuse(401, str(exc))
        try:
            delivery = json.loads(body)
            kind, event_id = delivery["type"], delivery["id"]
            if kind in FORWARDED:
                str(delivery["data"]["id"])
        except (ValueError, KeyError, TypeError):
            return _refuse(400, "signed body is not a Twelve Labs event")
        if kind not in FORWARDED:
            log.info("webhook %s of type %s ignored", event_id, kind)
            return JSONResponse({"ignored": kind}, status_code=202)
        try:
            emitted = await run_in_threadpool(forward, delivery)
        except Exception as exc:
            log.warning("webhook %s: Prefect did not accept its event (%s); the platform will retry", event_id, type(exc).__name__)
            return JSONResponse({"error": "event not accepted by Prefect; retry"}, status_code=503)
        log.info("webhook %s (%s %s) %s", event_id, kind, delivery["data"]["id"], "emitted" if emitted else "duplicate")
        return JSONResponse({"emitted": emitted}, status_code=200)

    return app
