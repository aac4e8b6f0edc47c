"""Background indexing: threads that move tasks through ``validating → pending → indexing → ready|failed``.

One validator thread fetches ``video_url`` sources and probes every file (quick, so status and broken
files are reported early even while transcriptions run); ``workers`` indexing threads transcribe.
Every transition is written to SQLite first, so a restart resumes exactly: tasks found ``indexing``
go back to ``pending`` and ``validating`` ones are validated again. A task's media file is deleted
once the task is ready or failed (the transcript is all the API serves afterwards).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import av

from reelscribe.server.asr import AsrEngine, TranscriptionStopped, UnsupportedSpeech
from reelscribe.server.config import ServerConfig
from reelscribe.server.faults import indexing_delay
from reelscribe.server.media import BrokenMedia, probe
from reelscribe.server.steps import StepThreads
from reelscribe.server.store import Store, TaskRow
from reelscribe.server.urlfetch import UrlFetchError, UrlRules, fetch_url
from reelscribe.server.webhooks import Completion, CompletionHook, no_webhook

log = logging.getLogger(__name__)



def media_path(config: ServerConfig, video_id: str) -> Path:
    """Where a task's video lives; named by the generated id only, never by a client's file name."""
    return config.media_dir / video_id


def duration_problem(duration: float, minimum: float, maximum: float) -> tuple[str, str] | None:
    """The failure code and message for a duration outside ``[minimum, maximum]``, else None."""
    if duration < minimum:
        return "video_duration_too_short", f"The video is {duration:.2f} s long; the minimum is {minimum:g} s."
    if duration > maximum:
        return "video_duration_too_long", f"The video is {duration:.2f} s long; the maximum is {maximum:g} s."
    return None


class Indexer:
    """Owns the worker threads; ``wake()`` after inserting a task to start on it at once."""

    def __init__(
        self, config: ServerConfig, store: Store, engine: AsrEngine, completed: CompletionHook = no_webhook
    ) -> None:
        self.config = config
        self.store = store
        self.engine = engine
        self._completed = completed
        self._steps = StepThreads()
        self._validate_wake = threading.Event()
        self._index_wake = threading.Event()

    def start(self) -> None:
        self._prepare_disk()
        requeued = self.store.tasks.requeue_interrupted()
        if requeued:
            log.info("resuming %d task(s) interrupted while indexing", requeued)
        self._steps.spawn("validator", self._validate_wake, self._validate_next)
        for number in range(self.config.workers):
            self._steps.spawn(f"indexer-{number}", self._index_wake, self._index_next)

    def stop(self, timeout: float = 10.0) -> None:
        self._steps.stop(timeout)

    def wake(self) -> None:
        self._validate_wake.set()

    def _prepare_disk(self) -> None:
        """Drop half-received uploads and media no unfinished task refers to (left by a crash)."""
        self.config.media_dir.mkdir(parents=True, exist_ok=True)
        self.config.incoming_dir.mkdir(parents=True, exist_ok=True)
        for leftover in self.config.incoming_dir.iterdir():
            leftover.unlink(missing_ok=True)
        keep = self.store.tasks.unfinished_video_ids()
        for path in self.config.media_dir.iterdir():
            if path.name not in keep:
                path.unlink(missing_ok=True)

    def _fail(self, task: TaskRow, code: str, message: str) -> None:
        log.info("task %s failed: %s (%s)", task.id, code, message)
        failed = self.store.tasks.update(task.id, status="failed", error_code=code, error_message=message)
        media_path(self.config, task.video_id).unlink(missing_ok=True)
        if failed:
            self._completed(Completion(task.id, task.index_id, "failed", task.duration))

    def _validate_next(self) -> bool:
        task = self.store.tasks.oldest("validating")
        if task is None:
            return False
        try:
            self._validate(task)
        except Exception as exc:
            log.exception("validation of task %s failed", task.id)
            self._fail(task, "internal_error", f"Validation failed: {type(exc).__name__}.")
        return True

    def _validate(self, task: TaskRow) -> None:
        """Fetch (URL sources) and probe; the task ends ``pending`` or ``failed``."""
        path = media_path(self.config, task.video_id)
        size = task.size
        if task.source_url is not None:
            try:
                size = self._fetch(task, path)
            except UrlFetchError as exc:
                self._fail(task, exc.code, exc.message)
                return
        try:
            info = probe(path)
        except BrokenMedia as exc:
            self._fail(task, "video_file_broken", f"The video file is broken or not a video: {exc}.")
            return
        problem = duration_problem(info.duration, self.config.min_duration, self.config.max_duration)
        if problem is not None:
            self._fail(task, *problem)
            return
        updated = self.store.tasks.update(
            task.id,
            status="pending",
            size=size,
            duration=info.duration,
            width=info.width,
            height=info.height,
            fps=info.fps,
        )
        if not updated:
            path.unlink(missing_ok=True)
        self._index_wake.set()

    def _fetch(self, task: TaskRow, path: Path) -> int:
        partial = path.with_name(path.name + ".part")
        size = fetch_url(
            task.source_url or "",
            partial,
            timeout=self.config.url_timeout,
            max_bytes=self.config.url_max_bytes,
            rules=UrlRules.of(self.config),
        )
        partial.replace(path)
        return size

    def _index_next(self) -> bool:
        task = self.store.tasks.claim("pending", "indexing")
        if task is None:
            return False
        path = media_path(self.config, task.video_id)
        if indexing_delay(self.config.fault_latency, self.config.fault_hold_file, self._steps.stopping):
            return True
        try:
            segments, language_info = self._transcribe(path)
        except TranscriptionStopped:
            return True
        except BrokenMedia as exc:
            self._fail(task, "video_file_broken", f"The audio could not be decoded: {exc}.")
            return True
        except UnsupportedSpeech as exc:
            self._fail(task, exc.code, str(exc))
            return True
        except Exception as exc:
            log.exception("transcription of task %s failed", task.id)
            self._fail(task, "internal_error", f"Transcription failed: {type(exc).__name__}.")
            return True
        if self.store.tasks.finish_ready(task, segments or None, language_info):
            log.info("task %s ready: %d segment(s)", task.id, len(segments))
            self._completed(Completion(task.id, task.index_id, "ready", task.duration))
        path.unlink(missing_ok=True)
        return True

    def _transcribe(self, path: Path) -> tuple[list[dict], dict | None]:
        return transcribe_media(self.engine, path, self._steps.stopping.is_set)


def transcribe_media(engine: AsrEngine, path: Path, should_stop: Callable[[], bool]) -> tuple[list[dict], dict | None]:
    """Segments for the file (``[]`` when it has no audio track at all) and, where the language was
    detected, ``{language_probability, languages}`` for the store; decoding errors are :class:`BrokenMedia`."""
    if not probe(path).has_audio:
        return [], None
    try:
        transcript = engine.transcribe(path, should_stop=should_stop)
    except (av.FFmpegError, IndexError, ValueError) as exc:
        raise BrokenMedia(type(exc).__name__) from None
    segments, _ = transcript
    found = {name: getattr(transcript, name, None) for name in ("language_probability", "languages")}
    return segments, ({k: v for k, v in found.items() if v is not None} or None)
