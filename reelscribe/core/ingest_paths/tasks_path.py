"""The tasks path (``POST /tasks``), which the v1.3 spec marks for removal: all of it is here.

Submit: find this content's task in the index, else upload it once (``core.ingest.create_once``).
Wait: poll the task. Retrieve: the task's video, whose transcription lands as ``segments``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, NamedTuple

from reelscribe.core.claims import ClaimStore
from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.confidence import language_probability, language_windows
from reelscribe.core.errors import ApiNotFound, TranscriptInvalid
from reelscribe.core.flatten import segments_table
from reelscribe.core.ingest import META_SHA256, META_SOURCE, create_once, plain_name, upload_name
from reelscribe.core.ingest_paths.base import Job, LandRequest, Retrieved, Submission
from reelscribe.core.records import VideoRecord
from reelscribe.core.models import SystemMetadata, Task, TaskStatus
from reelscribe.core.sources import SourceKind, VideoSource, open_source
from reelscribe.core.stores import NO_STORE_OPTIONS, StoreOptions
from reelscribe.core.transcripts import windowed
from reelscribe.core.waiting import WaitOptions, wait_until_indexed


@dataclass(frozen=True)
class TasksPath:
    """``POST /tasks``; the job is the task, the video id comes with it."""

    name = "tasks"
    job_kind = "task"

    def require(self, client: TwelveLabsClient) -> None:
        """Every server version has it."""

    def offered_by(self, client: TwelveLabsClient) -> bool:
        return True

    def submit(
        self, client: TwelveLabsClient, index_id: str, source: VideoSource, sha256: str, *, claims: ClaimStore,
        options: WaitOptions = WaitOptions(), store: StoreOptions = NO_STORE_OPTIONS,
    ) -> Submission:
        return submit_video(client, index_id, source, sha256, claims=claims, store=store)

    def describe(self, submission: Submission) -> str:
        return f"task {submission.job_id}"

    def wait(
        self, client: TwelveLabsClient, index_id: str, submission: Submission, options: WaitOptions, *,
        on_change: Callable[[Job, float], None] | None = None,
    ) -> Task:
        return wait_until_indexed(client, submission.job_id, options, on_change=on_change)

    def status(self, client: TwelveLabsClient, index_id: str, job_id: str) -> Task:
        return client.get_task(job_id)

    def as_ready(
        self, index_id: str, submission: Submission, *, duration: float | None, completed_at: datetime | None
    ) -> Task:
        return Task(
            _id=submission.job_id, index_id=index_id, video_id=submission.video_id, status="ready",
            system_metadata=SystemMetadata(duration=duration), updated_at=completed_at,
        )

    def retrieve(self, client: TwelveLabsClient, request: LandRequest) -> Retrieved:
        task = request.ready
        if not task.video_id:
            raise TranscriptInvalid(f"task {task.id} is ready but names no video_id")
        segments, language, detected = retrieve_segments(client, request.index_id, task.video_id, request.start, request.end)
        retrieved_at = datetime.now(timezone.utc)
        table = segments_table(segments, video_id=task.video_id, task_id=task.id, retrieved_at=retrieved_at)
        meta = task.system_metadata
        record = VideoRecord(
            task_id=task.id,
            source=request.source,
            content_sha256=request.content_sha256,
            index_name=request.index_name,
            duration=meta.duration if meta else None,
            indexed_at=task.updated_at,
            retrieved_at=retrieved_at,
            language=language,
            language_probability=language_probability(detected.get("language_probability"), task.video_id),
            languages=language_windows(detected.get("languages"), task.video_id),
        )
        return Retrieved(task.video_id, table, record)


def submit_video(
    client: TwelveLabsClient,
    index_id: str,
    source: VideoSource,
    sha256: str,
    *,
    claims: ClaimStore,
    sleep: Callable[[float], None] = time.sleep,
    store: StoreOptions = NO_STORE_OPTIONS,
) -> Submission:
    """Find or create the indexing task of ``source`` in ``index_id``.

    Under the content's claim in ``claims``: two runs landing the same content into the same
    index at once (threads, processes, Dask workers, machines) take turns, so the second finds
    the first one's task instead of uploading the video again. A task re-run after its Dask
    worker died (Prefect recomputes the results a dead worker held) likewise finds the task its
    first run created.
    """
    with claims.hold(index_id, sha256):
        submission = _find_or_create(client, index_id, source, sha256, sleep, store, known=claims.recall(index_id, sha256))
        claims.remember(index_id, sha256, submission.job_id)
        return submission


def _find_or_create(
    client: TwelveLabsClient, index_id: str, source: VideoSource, sha256: str, sleep: Callable[[float], None],
    store: StoreOptions, known: str | None = None,
) -> Submission:
    """The ``known`` task (remembered by an earlier run, whatever the file is called now), else one
    found by hash, else one created."""
    # POST /tasks takes no file name with a video_url: the server names it after the URL's path.
    name = plain_name(source) if source.kind == SourceKind.URL else upload_name(source, sha256)
    existing = (_usable(client, index_id, known, sha256) if known else None) or find_task_for(client, index_id, sha256, name)
    if existing:
        return Submission(source, sha256, existing.id, existing.video_id, reused=True)
    metadata = {META_SHA256: sha256, META_SOURCE: source.name}
    task, reused = create_once(
        client,
        lambda: _post(client, index_id, source, name, metadata, store),
        lambda: find_task_for(client, index_id, sha256, name),
        what=f"upload of {source.name}",
        sleep=sleep,
    )
    return Submission(source, sha256, task.id, task.video_id, reused=reused)


def _post(client: TwelveLabsClient, index_id: str, source: VideoSource, name: str, metadata: dict, store: StoreOptions):
    if source.kind == SourceKind.URL:
        return client.create_task(index_id, video_url=source.uri, user_metadata=metadata)
    with open_source(source, store) as stream:
        return client.create_task(index_id, video_file=(name, stream), user_metadata=metadata)


def _usable(client: TwelveLabsClient, index_id: str, task_id: str, sha256: str) -> Task | None:
    """The remembered task, if the server still holds it in this index for this content, not failed."""
    try:
        task = client.get_task(task_id)
    except ApiNotFound:
        return None
    if task.status is TaskStatus.FAILED or task.index_id not in (None, index_id):
        return None
    return task if _content_of(client, index_id, task) == sha256 else None


def _content_of(client: TwelveLabsClient, index_id: str, task: Task) -> str | None:
    """The content hash reelscribe wrote into the task's (or its video's) metadata."""
    meta = task.user_metadata
    if meta is None and task.video_id:
        try:
            meta = client.get_video(index_id, task.video_id).user_metadata
        except ApiNotFound:
            meta = None
    return (meta or {}).get(META_SHA256)


def find_task_for(client: TwelveLabsClient, index_id: str, sha256: str, filename: str) -> Task | None:
    """A task of this index, not failed, whose video carries this content hash."""
    for task in client.iter_tasks(index_id, filename=filename):
        if task.status is not TaskStatus.FAILED and _content_of(client, index_id, task) == sha256:
            return task
    return None


class Transcript(NamedTuple):
    """``segments``: ``None`` when the video has no speech; ``language``: ``None`` where the server does not say;
    ``detected``: the video's ``language_probability`` and ``languages`` as the server gives them (``{}``: none)."""

    segments: list[Any] | None
    language: str | None
    detected: dict[str, Any] = {}


def retrieve_segments(
    client: TwelveLabsClient, index_id: str, video_id: str, start: float | None, end: float | None
) -> Transcript:
    """Segments overlapping ``[start, end]``, and the video's language.

    v1.2 servers apply the window themselves on the classic endpoint (which has no room for a video's
    language); v1.3 servers give the whole transcript on the video object and the window is applied
    here, with the same overlap rule.
    """
    if client.api_version == "v1.2":
        return Transcript(client.get_transcription_v12(index_id, video_id, start, end), None)
    video = client.get_video(index_id, video_id, transcription=True)
    detected = {"language_probability": video.language_probability, "languages": video.languages}
    return Transcript(windowed(video.transcription, start, end), video.language, detected)
