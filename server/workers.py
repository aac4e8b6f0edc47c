"""Background indexing of the tasks path: ``validating → pending → indexing → ready|failed``.

One validator thread fetches ``video_url`` sources and probes every file (quick, so status and broken
files are reported early even while transcriptions run); ``workers`` indexing threads transcribe.
Every transition is written to SQLite first, so a restart resumes exactly: tasks found ``indexing``
go back to ``pending`` and ``validating`` ones are validated again. A task's media file is deleted
once the task is ready or failed (the transcript is all the API serves afterwards).
"""

from __future__ import annotations

import logging
from pathlib import Path

from reelscribe.server.config import ServerConfig
from reelscribe.server.indexing import MediaRejected, checked_media, fetch_into, measures, transcribed
from reelscribe.server.pool import IndexingPath, Stage
from reelscribe.server.store import TaskRow
from reelscribe.server.urlfetch import UrlFetchError
from reelscribe.server.webhooks import Completion

log = logging.getLogger(__name__)


def media_path(config: ServerConfig, video_id: str) -> Path:
    """Where a task's video lives; named by the generated id only, never by a client's file name."""
    return config.media_dir / video_id


class Indexer(IndexingPath):
    """The tasks path's stages on the server's worker pool; ``wake()`` after inserting a task."""

    def stages(self) -> tuple[Stage, ...]:
        return (
            Stage("validator", self._next_to_validate, self._validate, self._crashed("Validation")),
            Stage("indexer", self._next_to_index, self._index, self._crashed("Transcription"), threads=self.config.workers),
        )

    def wake(self) -> None:
        self.pool.wake("validator")

    def recover(self) -> None:
        """Drop half-received uploads and media no unfinished task refers to (left by a crash), and
        put tasks caught ``indexing`` back to ``pending``."""
        self.config.media_dir.mkdir(parents=True, exist_ok=True)
        self.config.incoming_dir.mkdir(parents=True, exist_ok=True)
        for leftover in self.config.incoming_dir.iterdir():
            leftover.unlink(missing_ok=True)
        keep = self.store.tasks.unfinished_video_ids()
        for path in self.config.media_dir.iterdir():
            if path.name not in keep:
                path.unlink(missing_ok=True)
        requeued = self.store.tasks.requeue_interrupted()
        if requeued:
            log.info("resuming %d task(s) interrupted while indexing", requeued)

    def _fail(self, task: TaskRow, code: str, message: str) -> None:
        log.info("task %s failed: %s (%s)", task.id, code, message)
        failed = self.store.tasks.update(task.id, status="failed", error_code=code, error_message=message)
        media_path(self.config, task.video_id).unlink(missing_ok=True)
        if failed:
            self.completed(Completion(task.id, task.index_id, "failed", task.duration))

    def _crashed(self, what: str):
        def crashed(task: TaskRow, exc: Exception) -> None:
            self._fail(task, "internal_error", f"{what} failed: {type(exc).__name__}.")

        return crashed

    def _next_to_validate(self) -> TaskRow | None:
        return self.store.tasks.oldest("validating")

    def _validate(self, task: TaskRow) -> None:
        """Fetch (URL sources) and probe; the task ends ``pending`` or ``failed``."""
        path = media_path(self.config, task.video_id)
        size = task.size
        try:
            if task.source_url is not None:
                size = fetch_into(self.config, task.source_url, path)
            info = checked_media(self.config, path)
        except (UrlFetchError, MediaRejected) as exc:
            self._fail(task, exc.code, exc.message)
            return
        updated = self.store.tasks.update(
            task.id,
            status="pending",
            size=size,
            **measures(info),
        )
        if not updated:
            path.unlink(missing_ok=True)
        self.pool.wake("indexer")

    def _next_to_index(self) -> TaskRow | None:
        return self.store.tasks.claim("pending", "indexing")

    def _index(self, task: TaskRow) -> None:
        if self.pool.delayed():
            return
        path = media_path(self.config, task.video_id)
        try:
            segments, language_info = transcribed(self.engine, path, self.pool.stopping.is_set)
        except MediaRejected as exc:
            self._fail(task, exc.code, exc.message)
            return
        if self.store.tasks.finish_ready(task, segments or None, language_info):
            log.info("task %s ready: %d segment(s)", task.id, len(segments))
            self.completed(Completion(task.id, task.index_id, "ready", task.duration))
        path.unlink(missing_ok=True)
