"""Claims every machine sees: who may look up and upload one content into one index right now.

A claim is a small JSON object in the lake's own store, created only if absent (S3
``If-None-Match: *``, ``O_EXCL`` on local files)::

    <out>/_claims/index_id=<id>/<sha256>/<generation>.json    {owner, host, pid, expires_at}

The holder is the writer of the highest generation. While it lives, every other claimer (another
thread, process, Dask worker or machine) waits; when it finishes it deletes its generation and
every older one. A claim is stale once ``expires_at`` has passed, or at once when its owner ran
on this host and that process is gone (a killed Dask worker). A stale claim is taken over by
creating the next generation, again only-if-absent, so of several machines taking over exactly
one wins, and no delete can ever remove a live claim that another machine just created.

While a claim is held, a heartbeat thread renews it (a new ``expires_at``) every third of the
TTL, so a living holder is never taken over however long its upload takes; a dead holder stops
renewing, and its claim goes stale one TTL after its last renewal at the latest. The TTL thus
bounds how long a dead machine blocks a video, not how long an upload may take.

Each claim names its owner (a fresh random token). A create whose answer was lost and which the
store's client sent again meets its own object (S3: ``412 Precondition Failed``); the claimer
reads it back and, finding its own token, holds the claim instead of waiting for itself.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Any

from fsspec.implementations.local import LocalFileSystem

from reelscribe.core.errors import NoSpaceLeft
from reelscribe.core.lake import validate_partition_id
from reelscribe.core.stores import open_store

log = logging.getLogger(__name__)

CLAIMS_DIR = "_claims"
ACCOUNT_SCOPE = "assets"
"""Where claims and jobs of what belongs to the account, not to one index, are kept (an asset)."""
DEFAULT_TTL_S = 1800.0
DEFAULT_POLL_S = 1.0
RENEWALS_PER_TTL = 3
_SUFFIX = ".json"
_JOB = "job.id"
"""The remembered job's file beside the generations (not a generation: no ``_SUFFIX``)."""


@dataclass(frozen=True)
class Claim:
    owner: str
    host: str
    pid: int
    generation: int
    expires_at: float


def wait_for_stop(stop: threading.Event, seconds: float) -> bool:
    """The heartbeat's pause between renewals: ``True`` once the holder is done."""
    return stop.wait(seconds)


class ClaimStore:
    """Claims under ``<out>/_claims`` on the same store as the lake (any fsspec URL or path).

    ``heartbeat_wait(stop, seconds)`` is the pause between renewals (tests pass one they step).
    """

    def __init__(
        self,
        out: str,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        poll_s: float = DEFAULT_POLL_S,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        heartbeat_wait: Callable[[threading.Event, float], bool] = wait_for_stop,
        **storage_options: Any,
    ) -> None:
        self.fs, root = open_store(out, **storage_options)
        self.root = f"{root.rstrip('/')}/{CLAIMS_DIR}"
        self.ttl_s = ttl_s
        self.poll_s = poll_s
        self.clock = clock
        self.sleep = sleep
        self.heartbeat_wait = heartbeat_wait
        self.renewals = 0
        """Renewals written by this store's heartbeats (tests step on it)."""

    @contextmanager
    def hold(self, index_id: str, sha256: str) -> Iterator[Claim]:
        """Wait for and hold the claim of ``sha256`` in ``index_id``, renewed while held; released on exit."""
        claim = self.acquire(index_id, sha256)
        stop = threading.Event()
        heartbeat = threading.Thread(
            target=self._renew_until, args=(index_id, sha256, claim, stop),
            name=f"claim-heartbeat-{sha256[:12]}", daemon=True,
        )
        heartbeat.start()
        try:
            yield claim
        finally:
            stop.set()
            heartbeat.join()
            self.release(index_id, sha256, claim)

    def _renew_until(self, index_id: str, sha256: str, claim: Claim, stop: threading.Event) -> None:
        """Push ``expires_at`` one TTL ahead every third of a TTL until ``stop``; give up once taken over."""
        folder = self._folder(index_id, sha256)
        while not self.heartbeat_wait(stop, self.ttl_s / RENEWALS_PER_TTL):
            try:
                if self._generations(folder)[-1:] != [claim.generation]:
                    log.warning("%s…: claim generation %d was taken over; no longer renewed", sha256[:12], claim.generation)
                    return
                claim = replace(claim, expires_at=self.clock() + self.ttl_s)
                self._rewrite(self._path(folder, claim.generation), _encode(claim))
                self.renewals += 1
            except OSError as exc:  # the store failed this once; the next beat tries again, well within the TTL
                log.warning("%s…: claim renewal failed (%s); trying again", sha256[:12], exc)

    def acquire(self, index_id: str, sha256: str) -> Claim:
        folder = self._folder(index_id, sha256)
        waited_for: str | None = None
        while True:
            generations = self._generations(folder)
            if generations:
                current = self._read(folder, generations[-1])
                if current is None:  # released or being written right now: look again
                    self.sleep(min(self.poll_s, 0.1))
                    continue
                if self._alive(current):
                    if waited_for != current.owner:
                        log.info("%s…: claimed by %s on %s; waiting", sha256[:12], current.owner, current.host)
                        waited_for = current.owner
                    self.sleep(self.poll_s)
                    continue
                log.warning(
                    "%s…: taking over the stale claim of %s on %s (generation %d)",
                    sha256[:12], current.owner, current.host, current.generation,
                )
            claim = self._new_claim(generations[-1] + 1 if generations else 0)
            if self._create(folder, claim):
                return claim

    def remember(self, index_id: str, sha256: str, job_id: str) -> None:
        """Note, under the held claim, the server's job (asset or task) made for this content.

        A later run finds it by content, whatever the file is called by then: a file renamed after
        a run stopped between its upload and its landing is not uploaded again.
        """
        self._rewrite(f"{self._folder(index_id, sha256)}/{_JOB}", job_id.encode())

    def recall(self, index_id: str, sha256: str) -> str | None:
        """The job ``remember`` noted for this content, if any."""
        try:
            return self.fs.cat_file(f"{self._folder(index_id, sha256)}/{_JOB}").decode().strip() or None
        except FileNotFoundError:
            return None

    def forget(self, index_id: str, sha256: str) -> None:
        """Drop the jobs ``remember`` noted for this content (in this index, and its account-wide
        asset) once it has landed: from then on the lake itself knows the content."""
        for scope in (index_id, ACCOUNT_SCOPE):
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm_file(f"{self._folder(scope, sha256)}/{_JOB}")

    def release(self, index_id: str, sha256: str, claim: Claim) -> None:
        """Delete this claim's generation and the stale older ones, only while it is still ours."""
        folder = self._folder(index_id, sha256)
        current = self._read(folder, claim.generation)
        if current is None or current.owner != claim.owner:
            log.warning("%s…: claim generation %d was taken over before release", sha256[:12], claim.generation)
            return
        for generation in self._generations(folder):
            if generation <= claim.generation:
                try:
                    self.fs.rm_file(self._path(folder, generation))
                except FileNotFoundError:
                    pass

    def _new_claim(self, generation: int) -> Claim:
        return Claim(
            owner=uuid.uuid4().hex,
            host=socket.gethostname(),
            pid=os.getpid(),
            generation=generation,
            expires_at=self.clock() + self.ttl_s,
        )

    def _alive(self, claim: Claim) -> bool:
        if self.clock() >= claim.expires_at:
            return False
        return claim.host != socket.gethostname() or _process_exists(claim.pid)

    def _create(self, folder: str, claim: Claim) -> bool:
        """Write the claim only if its generation does not exist yet; ``False`` if another won.

        "Exists" may be this very claim: the first try took effect, its answer was lost, and the
        client's retry met it. The owner token read back tells the two apart.
        """
        path = self._path(folder, claim.generation)
        self.fs.makedirs(folder, exist_ok=True)
        try:
            if isinstance(self.fs, LocalFileSystem):
                _create_local(path, _encode(claim))
            else:
                with self.fs.open(path, "xb") as handle:
                    handle.write(_encode(claim))
        except FileExistsError:
            found = self._read(folder, claim.generation)
            if found is not None and found.owner == claim.owner:
                log.info("claim generation %d: a lost answer; the object is ours", claim.generation)
                return True
            return False
        return True

    def _rewrite(self, path: str, data: bytes) -> None:
        """Replace a claim's content whole (one PUT on an object store, a rename on local files)."""
        if not isinstance(self.fs, LocalFileSystem):
            self.fs.pipe_file(path, data)
            return
        temp = f"{path}.{uuid.uuid4().hex}.tmp"
        try:
            with open(temp, "xb") as handle:
                handle.write(data)
            os.replace(temp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(temp)

    def _read(self, folder: str, generation: int) -> Claim | None:
        path = self._path(folder, generation)
        try:
            return Claim(**json.loads(self.fs.cat_file(path)))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):
            return self._unreadable(path, generation)

    def _unreadable(self, path: str, generation: int) -> Claim | None:
        """A claim that is not JSON (an older version's local claim, empty between its create and
        its write, for ever if its writer died right then) counts as held until the TTL after it
        was created."""
        try:
            created = self.fs.modified(path).timestamp()
        except FileNotFoundError:
            return None
        return Claim(owner="(unreadable)", host="", pid=0, generation=generation, expires_at=created + self.ttl_s)

    def _generations(self, folder: str) -> list[int]:
        self.fs.invalidate_cache(folder)
        try:
            names = self.fs.ls(folder, detail=False)
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            stem = name.rstrip("/").rsplit("/", 1)[-1]
            if stem.endswith(_SUFFIX) and stem[: -len(_SUFFIX)].isdigit():
                found.append(int(stem[: -len(_SUFFIX)]))
        return sorted(found)

    def _folder(self, index_id: str, sha256: str) -> str:
        return f"{self.root}/index_id={validate_partition_id(index_id)}/{validate_partition_id(sha256, 'sha256')}"

    @staticmethod
    def _path(folder: str, generation: int) -> str:
        return f"{folder}/{generation:08d}{_SUFFIX}"


def _create_local(path: str, data: bytes) -> None:
    """Create ``path`` whole or not at all: written to a private temp file, then hard-linked into
    place (``FileExistsError`` if it exists). A full disk leaves nothing, never an empty claim."""
    temp = f"{path}.{uuid.uuid4().hex}.tmp"
    try:
        with open(temp, "xb") as handle:
            handle.write(data)
        os.link(temp, path)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise NoSpaceLeft(f"{path}: no space left on the disk holding the lake's claims") from exc
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temp)


def _encode(claim: Claim) -> bytes:
    return json.dumps(asdict(claim)).encode()


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
