"""Get a video into an index exactly once, even when answers are lost.

Before uploading, look for a task this content already has in the index (by the SHA-256 that
reelscribe writes into ``user_metadata``). A ``POST /tasks`` whose answer was lost may still have
created the task (twelvelabs-python #50), so after every failed attempt the lookup runs again
before the upload is re-sent, whole. Lookup and upload of one content run under a host-wide lock,
so two runs landing the same index at once do not both upload it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
import time
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, TypeVar
from urllib.parse import unquote, urlsplit

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.errors import ApiError, ApiNotFound, ConfigError, TransientError
from reelscribe.core.models import Index, Task, TaskStatus
from reelscribe.core.retry import retrying
from reelscribe.core.sources import VideoSource, open_source

log = logging.getLogger(__name__)

LOCK_DIR_ENV = "REELSCRIBE_LOCK_DIR"
META_SHA256 = "reelscribe_sha256"
META_SOURCE = "reelscribe_source"
T = TypeVar("T")


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
    index, _ = create_once(
        client,
        lambda: client.create_index(index_name),
        lambda: client.find_index_by_name(index_name),
        what=f"creating index {index_name!r}",
        conflict=_name_taken,
    )
    return index


def _name_taken(exc: ApiError) -> bool:
    """Another run created the index first (this server says 400, others 409)."""
    return exc.status == 409 or exc.code == "index_name_already_exists"


def create_once(
    client: TwelveLabsClient,
    create: Callable[[], T],
    find: Callable[[], T | None],
    *,
    what: str,
    conflict: Callable[[ApiError], bool] = lambda exc: False,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, bool]:
    """``create()`` at most once in effect: ``(created, False)`` or ``(found, True)``.

    A create that failed transiently may still have happened (the answer was lost), so before it
    is sent again ``find()`` looks for it. A refusal for which ``conflict(exc)`` holds (someone
    else created it first) is answered by ``find()`` too. Budget and waits: the client's policy.
    """
    for attempt in retrying(client.retry, what=what, sleep=sleep, log=log.info):
        with attempt:
            if attempt.retry_state.attempt_number > 1:
                found = find()
                if found is not None:
                    return found, True
            try:
                return create(), False
            except TransientError:
                raise
            except ApiError as exc:
                found = find() if conflict(exc) else None
                if found is None:
                    raise
                return found, True
    raise AssertionError("unreachable: retrying() re-raises the last error")


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
    """Find or create the indexing task of ``source`` in ``index_id``.

    Under ``submission_lock``: two runs landing the same content into the same index at once
    (threads or processes on this host) take turns, so the second finds the first one's task
    instead of uploading the video again.
    """
    with submission_lock(client.base_url, index_id, sha256):
        return _find_or_create(client, index_id, source, sha256, sleep)


def _find_or_create(
    client: TwelveLabsClient, index_id: str, source: VideoSource, sha256: str, sleep: Callable[[float], None]
) -> Submitted:
    name = upload_name(source)
    existing = find_task_for(client, index_id, sha256, name)
    if existing:
        return Submitted(existing.id, existing.video_id, reused=True)
    metadata = {META_SHA256: sha256, META_SOURCE: source.name}
    task, reused = create_once(
        client,
        lambda: _post(client, index_id, source, name, metadata),
        lambda: find_task_for(client, index_id, sha256, name),
        what=f"upload of {source.name}",
        sleep=sleep,
    )
    return Submitted(task.id, task.video_id, reused=reused)


def _post(client: TwelveLabsClient, index_id: str, source: VideoSource, name: str, metadata: dict):
    if source.kind == "url":
        return client.create_task(index_id, video_url=source.uri, user_metadata=metadata)
    with open_source(source) as stream:
        return client.create_task(index_id, video_file=(name, stream), user_metadata=metadata)


def upload_name(source: VideoSource) -> str:
    """The file name the server records for ``source``, which ``find_task_for`` filters by.

    Servers keep a client's file name as metadata only: the last path component, without control
    characters, at most 255 characters (as this project's server does). A name they rewrite
    (``a\\b.mp4`` is one legal POSIX name) could never be found again, so a lost upload answer
    would upload the video twice. Files are therefore sent under a name no server needs to
    rewrite; a URL source is named by the server, from the URL's percent-decoded path.
    """
    if source.kind == "url":
        name = re.split(r"[\\/]", unquote(urlsplit(source.uri).path))[-1]
    else:
        name = source.name.replace("\\", "_")
    name = "".join(c for c in unicodedata.normalize("NFC", name) if unicodedata.category(c)[0] != "C").strip()
    return name[:255] if name not in ("", ".", "..") else "video"


@contextmanager
def submission_lock(base_url: str, index_id: str, sha256: str) -> Iterator[None]:
    """Exclusive, per (server, index, content), across the threads and processes of this host.

    An ``flock`` on ``<tmp>/reelscribe-locks-<uid>/<key>.lock`` (``REELSCRIBE_LOCK_DIR`` overrides
    the folder): the kernel drops it when its holder dies, even by SIGKILL, so a crashed run never
    blocks the next one. The file is removed on release; a waiter that then holds the lock of a
    removed file notices (its inode is no longer the path's) and locks the new file instead.
    Where ``flock`` is unavailable (Windows) or the folder is not writable, only the threads of
    this process are serialised. Runs on different hosts are not: see the README's guarantees.
    """
    key = hashlib.sha256(f"{base_url}\0{index_id}\0{sha256}".encode()).hexdigest()[:40]
    with _local_lock(key):
        fd = _flock(key)
        try:
            yield
        finally:
            if fd is not None:
                _unlock(key, fd)


_local_locks: dict[str, list] = {}  # key -> [lock, threads using it]
_local_locks_guard = threading.Lock()


@contextmanager
def _local_lock(key: str) -> Iterator[None]:
    with _local_locks_guard:
        entry = _local_locks.setdefault(key, [threading.Lock(), 0])
        entry[1] += 1
    try:
        with entry[0]:
            yield
    finally:
        with _local_locks_guard:
            entry[1] -= 1
            if entry[1] == 0:
                del _local_locks[key]


def _lock_path(key: str) -> Path:
    folder = os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / f"reelscribe-locks-{os.getuid()}"
    return Path(folder) / f"{key}.lock"


def _flock(key: str) -> int | None:
    """Hold an exclusive ``flock`` on the key's lock file; ``None`` when that is not possible."""
    if fcntl is None:
        return None
    path = _lock_path(key)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                held = os.fstat(fd)
                current = os.stat(path)
            except FileNotFoundError:
                os.close(fd)
                continue
            except BaseException:
                os.close(fd)
                raise
            if (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino):
                return fd
            os.close(fd)
    except OSError as exc:
        log.warning("no cross-process upload lock (%s): only this process's uploads are serialised", exc)
        return None


def _unlock(key: str, fd: int) -> None:
    try:
        _lock_path(key).unlink(missing_ok=True)
    finally:
        os.close(fd)
