"""Which way videos go in (the assets path, or the tasks path the v1.3 spec marks for removal), behind one call per step.

``auto`` takes the assets path where the server offers it: a one-item ``GET /assets`` that is not
answered 404. The answer is kept per server for the life of the process, so a batch asks once.
A v1.2 server has no assets path, so it is never asked.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Literal

from reelscribe.core.assets import submit_asset
from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.errors import ConfigError
from reelscribe.core.claims import ClaimStore
from reelscribe.core.ingest import submit_video
from reelscribe.core.models import IndexedAsset, Task
from reelscribe.core.settings import UPLOAD_CHOICES, UploadChoice
from reelscribe.core.sources import VideoSource
from reelscribe.core.stores import NO_STORE_OPTIONS, StoreOptions
from reelscribe.core.waiting import WaitOptions, wait_until_asset_indexed, wait_until_indexed

UploadPath = Literal["assets", "tasks"]

_offers: dict[str, bool] = {}
_lock = threading.Lock()


def resolve_upload_path(
    client: TwelveLabsClient, choice: UploadChoice, *, known: dict[str, bool] | None = None
) -> UploadPath:
    """``assets`` or ``tasks`` for this server; ``ConfigError`` for a choice it cannot serve.

    ``known``: what servers answered so far (this process's by default).
    """
    if choice not in UPLOAD_CHOICES:
        raise ConfigError(f"upload must be one of {', '.join(UPLOAD_CHOICES)}, got {choice!r}")
    if choice == "tasks":
        return "tasks"
    if client.api_version == "v1.2":
        if choice == "assets":
            raise ConfigError("the assets path needs API v1.3; this server URL names v1.2 (use --upload tasks)")
        return "tasks"
    if choice == "assets":
        return "assets"
    return "assets" if offers_assets(client, _offers if known is None else known) else "tasks"


def offers_assets(client: TwelveLabsClient, known: dict[str, bool]) -> bool:
    """Whether ``client``'s server has ``/assets``, asked only if ``known`` does not say yet."""
    with _lock:
        answer = known.get(client.base_url)
    if answer is None:
        answer = client.offers_assets()
        with _lock:
            known[client.base_url] = answer
    return answer


@dataclass(frozen=True)
class Submission:
    """A video on its way in: its task (tasks path), or its asset and indexed asset (assets path).

    On the assets path the indexed asset's id is the video id, known at once.
    """

    path: UploadPath
    task_id: str | None
    video_id: str | None
    asset_id: str | None
    reused: bool


def submit(
    client: TwelveLabsClient,
    index_id: str,
    source: VideoSource,
    sha256: str,
    path: UploadPath,
    *,
    claims: ClaimStore,
    options: WaitOptions = WaitOptions(),
    store: StoreOptions = NO_STORE_OPTIONS,
) -> Submission:
    """Step 1 on either path, exactly once (see ``reelscribe.core.ingest`` and ``reelscribe.core.assets``).

    Under ``claims``, which every machine landing the same lake sees; an object-store source is read with ``store``'s options.
    """
    if path == "assets":
        done = submit_asset(
            client, index_id, source, sha256, direct_limit=client.settings.direct_upload_limit, options=options,
            hold=claims.hold, store=store,
        )
        return Submission("assets", None, done.indexed_asset_id, done.asset_id, done.reused)
    task = submit_video(client, index_id, source, sha256, claims=claims, store=store)
    return Submission("tasks", task.task_id, task.video_id, None, task.reused)


def wait_until_ready(
    client: TwelveLabsClient,
    index_id: str,
    submission: Submission,
    options: WaitOptions = WaitOptions(),
    *,
    on_change: Callable[[Task | IndexedAsset, float], None] | None = None,
) -> Task | IndexedAsset:
    """Step 2 on either path: the ready task or indexed asset."""
    if submission.path == "assets":
        return wait_until_asset_indexed(client, index_id, submission.video_id, options, on_change=on_change)
    return wait_until_indexed(client, submission.task_id, options, on_change=on_change)


def status_now(client: TwelveLabsClient, index_id: str, path: UploadPath, job_id: str) -> Task | IndexedAsset:
    """One status request for a task (tasks path) or indexed asset (assets path): the webhook mode's deadline poll."""
    if path == "assets":
        return client.get_indexed_asset(index_id, job_id)
    return client.get_task(job_id)
