"""``reelscribe watch --queue URL``: S3 ``ObjectCreated`` notifications (via SQS) become Prefect events.

Each record of a bucket notification becomes ``reelscribe.source.created`` with the object
(``s3://bucket/key``) as its resource; a deployment trigger then runs the incremental flow, which
lists the source again (an automation hands on only its first event), so a missed or duplicated
message changes nothing but when a video lands. The hourly schedule stays the backfill.

A message is deleted only after the Prefect server accepted its events; when it did not, the
message is left alone and SQS delivers it again after its visibility timeout. A message that is
not a bucket notification is logged and deleted (it would never become valid), so it is not
retried forever and never stops the watcher. S3's ``s3:TestEvent``, sent when a notification is
configured, is deleted without an event.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any, Protocol

from reelscribe.events.prefect_events import EventSink, make_event

log = logging.getLogger(__name__)

EVENT = "reelscribe.source.created"
WAIT_SECONDS = 20
"""SQS long polling: one receive call waits this long for a message (the maximum SQS allows)."""
BATCH = 10
RETRY_SECONDS = 5.0


class MalformedMessage(ValueError):
    """An SQS message that is not an S3 event notification; the message says what is wrong."""


class Queue(Protocol):
    """The part of botocore's SQS client the watcher uses."""

    def receive_message(self, **kwargs: Any) -> dict: ...
    def delete_message(self, **kwargs: Any) -> dict: ...


@dataclass(frozen=True)
class Arrival:
    bucket: str
    key: str
    size: int | None
    etag: str | None
    sequencer: str | None
    event_time: str | None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def arrivals(body: str) -> list[Arrival]:
    """The created objects a notification names (``[]`` for S3's test event); MalformedMessage otherwise."""
    try:
        message = json.loads(body)
    except ValueError:
        raise MalformedMessage("body is not JSON") from None
    if isinstance(message, dict) and message.get("Event") == "s3:TestEvent":
        return []
    records = message.get("Records") if isinstance(message, dict) else None
    if not isinstance(records, list) or not records:
        raise MalformedMessage("no Records list: not an S3 event notification")
    found = []
    for record in records:
        try:
            name = record["eventName"]
            s3 = record["s3"]
            bucket, obj = s3["bucket"]["name"], s3["object"]
            key = urllib.parse.unquote_plus(obj["key"])
        except (KeyError, TypeError):
            raise MalformedMessage("a record lacks eventName, s3.bucket.name or s3.object.key") from None
        if not str(name).startswith("ObjectCreated:"):
            continue
        found.append(Arrival(bucket, key, obj.get("size"), obj.get("eTag"), obj.get("sequencer"), record.get("eventTime")))
    return found


def arrival_event(arrival: Arrival):
    """The Prefect event; its id is derived from the object and its S3 sequencer, so a redelivery is the same event."""
    return make_event(
        EVENT,
        {"prefect.resource.id": arrival.uri, "prefect.resource.name": arrival.key, "s3.bucket": arrival.bucket},
        {"size": arrival.size, "etag": arrival.etag, "sequencer": arrival.sequencer, "event_time": arrival.event_time},
        namespace="s3-object-created",
        key=f"{arrival.uri}#{arrival.sequencer or arrival.etag}",
    )


class Watcher:
    """Long-polls one queue; :meth:`poll_once` handles one batch, :meth:`run` loops until ``stop`` is set."""

    def __init__(self, queue_url: str, queue: Queue, sink: EventSink, *, wait_seconds: int = WAIT_SECONDS) -> None:
        self.queue_url = queue_url
        self._queue = queue
        self._sink = sink
        self._wait_seconds = wait_seconds

    def poll_once(self) -> int:
        """Receive up to :data:`BATCH` messages and handle each; the number of events accepted."""
        answer = self._queue.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=BATCH, WaitTimeSeconds=self._wait_seconds
        )
        return sum(self._handle(message) for message in answer.get("Messages", []))

    def _handle(self, message: dict) -> int:
        try:
            found = arrivals(message.get("Body", ""))
        except MalformedMessage as exc:
            log.error("SQS message %s dropped: %s", message.get("MessageId"), exc)
            self._delete(message)
            return 0
        if found:
            self._sink.emit([arrival_event(a) for a in found])
            for arrival in found:
                log.info("arrived: %s", arrival.uri)
        self._delete(message)
        return len(found)

    def _delete(self, message: dict) -> None:
        self._queue.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def run(self, stop: threading.Event) -> None:
        """Until ``stop``: a failure (SQS or Prefect unreachable) is logged and retried, never fatal."""
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:
                log.warning("watching %s: %s: %s; retrying in %.0f s", self.queue_url, type(exc).__name__, exc, RETRY_SECONDS)
                stop.wait(RETRY_SECONDS)


def sqs_client(region: str | None = None):
    """botocore's SQS client, configured the standard AWS way (``AWS_ENDPOINT_URL`` etc.)."""
    import botocore.session

    return botocore.session.get_session().create_client("sqs", region_name=region)


def queue_region(queue_url: str) -> str | None:
    """The region in a standard queue URL (``https://sqs.<region>.amazonaws.com/…``), else None."""
    host = urllib.parse.urlsplit(queue_url).hostname or ""
    parts = host.split(".")
    return parts[1] if len(parts) >= 4 and parts[0] == "sqs" and host.endswith(".amazonaws.com") else None

