"""Get a video into an index exactly once, even when answers are lost.

Before uploading, look for a task this content already has in the index (by the SHA-256 that
reelscribe writes into ``user_metadata``). A ``POST /tasks`` whose answer was lost may still have
created the task (twelvelabs-python #50), so after every failed attempt the lookup runs again
before the upload is re-sent, whole.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from reelscribe.client import TwelveLabsClient
from reelscribe.errors import (
    ApiNotFound,
    ApiRateLimited,
    ApiServerError,
    ApiTransportError,
    ConfigError,
)
from reelscribe.models import Index, Task, TaskStatus
from reelscribe.retry import backoff_delay
from reelscribe.sources import VideoSource, open_source

log = logging.getLogger(__name__)

META_SHA256 = "reelscribe_sha256"
META_SOURCE = "reelscribe_source"
TRANSIENT = (ApiTransportError, ApiServerError, ApiRateLimited)


@dataclass(frozen=True)
class Submitted:
    """The indexing task for one video; ``reused`` when it already existed on the server."""

    task_id: str
    video_id: str | None
    reused: bool


def resolve_index(client: TwelveLabsClient, index_id: str | None, index_name: str | None) -> Index:
    """The index named by id (must exist) or by name (created if missing)."""
    if bool(index_id) == bool(index_name):
        raise ConfigError("give exactly one of index_id and index_name")
    if index_id:
        try:
            return client.get_index(index_id)
        except ApiNotFound as exc:
            raise ConfigError(f"unknown index id {index_id!r}: the server has no such index ({exc})") from exc
    found = client.find_index_by_name(index_name)
    if found:
        return found
    try:
        return client.create_index(index_name)
    except TRANSIENT:
        found = client.find_index_by_name(index_name)
        if found:
            return found
        raise


def find_task_for(client: TwelveLabsClient, index_id: str, sha256: str, filename: str) -> Task | None:
    """A task of this index, not failed, whose video carries this content hash."""
    for task in client.iter_tasks(index_id, filename=filename):
        if task.status is TaskStatus.FAILED:
            continue
        meta = task.user_metadata
        if meta is None and task.video_id:
            try:
                meta = client.get_video(index_id, task.video_id).user_metadata
            except ApiNotFound:
                meta = None
        if meta and meta.get(META_SHA256) == sha256:
            return task
    return None


def submit_video(
    client: TwelveLabsClient,
    index_id: str,
    source: VideoSource,
    sha256: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Submitted:
    """Find or create the indexing task of ``source`` in ``index_id``."""
    existing = find_task_for(client, index_id, sha256, source.name)
    if existing:
        return Submitted(existing.id, existing.video_id, reused=True)
    metadata = {META_SHA256: sha256, META_SOURCE: source.name}
    attempts = client.retry.max_attempts
    for attempt in range(1, attempts + 1):
        try:
            created = _post(client, index_id, source, metadata)
            return Submitted(created.id, created.video_id, reused=False)
        except TRANSIENT as exc:
            if attempt == attempts:
                raise
            delay = backoff_delay(attempt, client.retry, getattr(exc, "retry_after", None))
            log.info("upload of %s: %s; checking the server, then retry %d in %.1f s", source.name, exc, attempt, delay)
            sleep(delay)
            existing = find_task_for(client, index_id, sha256, source.name)
            if existing:
                return Submitted(existing.id, existing.video_id, reused=True)
    raise AssertionError("unreachable")


def _post(client: TwelveLabsClient, index_id: str, source: VideoSource, metadata: dict):
    if source.kind == "url":
        return client.create_task(index_id, video_url=source.uri, user_metadata=metadata)
    with open_source(source) as stream:
        return client.create_task(index_id, video_file=(source.name, stream), user_metadata=metadata)
