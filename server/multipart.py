"""Multipart upload sessions: chunk geometry, presigned chunk URLs, chunks streamed to disk, assembly.

The local server is its own "object store": each chunk URL points back at this server
(``PUT /uploads/{upload_id}/chunks/{n}?expires=…&signature=…``) and carries an HMAC signature instead
of an API key, as a presigned S3 URL does; the SDK's ``upload_file`` helper sends no key there. The
signing key is a random secret kept in the database, so URLs handed out survive a restart.

A chunk is written to ``multipart/<upload_id>/<n>.<random>.part`` while its MD5 (the ``ETag``) is
computed, then renamed to ``<n>-<etag>``: a repeated PUT of the same bytes lands on the same name,
different bytes on another, and the database row says which one counts. Nothing is held in memory
beyond one network read.

The session rules (which session takes a chunk, which reports are accepted, when a session expires)
are here too; ``store.uploads`` only stores, and each rule below runs in one store transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import secrets
import shutil
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from reelscribe.server.errors import ApiError
from reelscribe.server.ids import format_time, new_id
from reelscribe.server.store import ChunkRow, Store, UploadRow

PRESIGNED_PREFIX = "/uploads/"
URL_TTL_SECONDS = 3600
INITIAL_URLS = 4
MAX_URLS_PER_REQUEST = 1000
MAX_TOTAL_BYTES = 10 * 1024**3
DRAIN_SLACK = 1024 * 1024
EXPIRED_MESSAGE = "The multipart upload session expired before every chunk was reported."


class UploadClosed(Exception):
    """The multipart session no longer takes chunks; ``args[0]`` is its status."""


class ChunkAlreadyCompleted(Exception):
    """The chunk was reported complete, so its bytes are final."""


class ChunkReportRejected(Exception):
    """A reported chunk does not match what was received; ``kind`` says how, ``chunk_index`` which."""

    def __init__(self, kind: str, chunk_index: int) -> None:
        super().__init__(kind, chunk_index)
        self.kind = kind
        self.chunk_index = chunk_index


def total_chunks(total_size: int, chunk_size: int) -> int:
    return max(1, math.ceil(total_size / chunk_size))


def expected_chunk_size(upload: UploadRow, chunk_index: int) -> int:
    """Every chunk is ``chunk_size`` bytes except the last, which holds the remainder."""
    if chunk_index < upload.total_chunks:
        return upload.chunk_size
    return upload.total_size - (upload.total_chunks - 1) * upload.chunk_size


def chunk_dir(root: Path, upload_id: str) -> Path:
    return root / upload_id


def chunk_file(root: Path, upload_id: str, chunk: ChunkRow) -> Path:
    return chunk_dir(root, upload_id) / f"{chunk.chunk_index}-{chunk.etag}"


def epoch_to_time(epoch: float) -> str:
    return format_time(datetime.fromtimestamp(epoch, timezone.utc))


def time_to_epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class Presigner:
    """Signs and checks chunk URLs: ``HMAC-SHA256(key, "<upload_id>:<chunk_index>:<expires>")``."""

    key: bytes

    @classmethod
    def from_store(cls, store: Store) -> Presigner:
        return cls(bytes.fromhex(store.secrets.get_or_create("presign", lambda: secrets.token_hex(32))))

    def _signature(self, upload_id: str, chunk_index: int, expires: int) -> str:
        message = f"{upload_id}:{chunk_index}:{expires}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def url(self, root_url: str, upload: UploadRow, chunk_index: int, now: float) -> dict[str, object]:
        """``{chunk_index, url, expires_at}``; a URL lives an hour, or less if the session ends sooner."""
        expires = int(min(now + URL_TTL_SECONDS, time_to_epoch(upload.expires_at)))
        signature = self._signature(upload.id, chunk_index, expires)
        url = f"{root_url}{PRESIGNED_PREFIX}{upload.id}/chunks/{chunk_index}?expires={expires}&signature={signature}"
        return {"chunk_index": chunk_index, "url": url, "expires_at": epoch_to_time(expires)}

    def check(self, upload_id: str, chunk_index: int, expires: str, signature: str) -> float:
        """The URL's expiry (epoch seconds) if its signature is right; 403 ``upload_url_invalid`` otherwise."""
        try:
            expires_at = int(expires)
        except ValueError:
            raise ApiError("upload_url_invalid", "The chunk URL's signature is not valid.") from None
        good = self._signature(upload_id, chunk_index, expires_at)
        if not hmac.compare_digest(good, signature):
            raise ApiError("upload_url_invalid", "The chunk URL's signature is not valid.")
        return float(expires_at)


def url_expired() -> ApiError:
    return ApiError(
        "upload_url_expired",
        "The chunk URL has expired; ask for a new one with POST /assets/multipart-uploads/{upload_id}/presigned-urls.",
    )


def chunk_urls(presigner: Presigner, root_url: str, upload: UploadRow, start: int, count: int) -> list[dict[str, object]]:
    now = time.time()
    return [presigner.url(root_url, upload, index, now) for index in range(start, start + count)]


async def receive_chunk(stream: AsyncIterator[bytes], folder: Path, chunk_index: int, expected: int) -> tuple[str, int]:
    """Stream one chunk to disk; return its ETag (hex MD5) and size once it is under its final name.

    A body of the wrong length is refused with 400 and leaves nothing behind; a body longer than
    expected is read (and dropped) up to a bound so the client sees the answer.
    """
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"{chunk_index}.{new_id()}.part"
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    try:
        with open(partial, "wb") as out:
            async for data in stream:
                size += len(data)
                if size > expected:
                    if size > expected + DRAIN_SLACK:
                        break
                    continue
                digest.update(data)
                out.write(data)
            if size == expected:
                out.flush()
                os.fsync(out.fileno())
        if size != expected:
            raise ApiError(
                "chunk_size_invalid",
                f"Chunk {chunk_index} must be exactly {expected} bytes; {'more' if size > expected else size} bytes arrived.",
            )
        etag = digest.hexdigest()
        os.replace(partial, folder / f"{chunk_index}-{etag}")
    finally:
        partial.unlink(missing_ok=True)
    return etag, size


def assemble(root: Path, upload: UploadRow, chunks: dict[int, ChunkRow], destination: Path) -> None:
    """Concatenate the reported chunks, in order, into ``destination`` (streamed, fsynced, atomic)."""
    partial = destination.with_name(destination.name + ".part")
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(partial, "wb") as out:
            for index in range(1, upload.total_chunks + 1):
                with open(chunk_file(root, upload.id, chunks[index]), "rb") as source:
                    shutil.copyfileobj(source, out, 1024 * 1024)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)


def discard_chunks(root: Path, upload_id: str) -> None:
    shutil.rmtree(chunk_dir(root, upload_id), ignore_errors=True)


def open_status(upload: UploadRow | None, now: str) -> str:
    """The session's status, ``expired`` for an active one past its expiry; ``deleted`` if it is gone."""
    if upload is None:
        return "deleted"
    if upload.status == "active" and upload.expires_at <= now:
        return "expired"
    return upload.status


def sort_reports(chunks: dict[int, ChunkRow], reports: Sequence[tuple[int, str, int]]) -> tuple[set[int], int]:
    """The reported ``(index, etag, size)`` chunks not yet completed, and how many were repeats.

    Raises :class:`ChunkReportRejected` for a chunk never received or whose ETag or size differ.
    """
    fresh: set[int] = set()
    duplicates = 0
    for index, etag, size in reports:
        row = chunks.get(index)
        if row is None:
            raise ChunkReportRejected("not_uploaded", index)
        if row.etag != etag:
            raise ChunkReportRejected("etag_mismatch", index)
        if row.size != size:
            raise ChunkReportRejected("size_mismatch", index)
        if row.completed or index in fresh:
            duplicates += 1
        else:
            fresh.add(index)
    return fresh, duplicates


def record_chunk(store: Store, upload_id: str, chunk_index: int, size: int, etag: str, now: str) -> None:
    """Remember a received chunk (replacing an unreported earlier copy).

    Raises :class:`UploadClosed` unless the session is active and unexpired at ``now``, and
    :class:`ChunkAlreadyCompleted` if the chunk was already reported.
    """
    with store.transaction():
        status = open_status(store.uploads.get(upload_id), now)
        if status != "active":
            raise UploadClosed(status)
        old = store.uploads.chunk(upload_id, chunk_index)
        if old is not None and old.completed:
            raise ChunkAlreadyCompleted()
        store.uploads.put_chunk(upload_id, chunk_index, size, etag, now)


def report_chunks(
    store: Store, upload_id: str, reports: Sequence[tuple[int, str, int]], now: str
) -> tuple[int, int, int, bool]:
    """Mark reported chunks ``(index, etag, size)`` completed, all or none.

    Returns ``(newly completed, duplicates, total completed, session now complete)``. Raises
    :class:`UploadClosed` for a session that is not active (a completed one accepts repeats of
    its reports, so a client that lost the answer can ask again) and
    :class:`ChunkReportRejected` (see :func:`sort_reports`).
    """
    with store.transaction():
        upload = store.uploads.get(upload_id)
        status = open_status(upload, now)
        if upload is None or status not in ("active", "completed"):
            raise UploadClosed(status)
        fresh, duplicates = sort_reports(store.uploads.chunks(upload_id), reports)
        if fresh and status != "active":
            raise UploadClosed(status)
        total = store.uploads.complete_chunks(upload_id, fresh, now)
        complete = total == upload.total_chunks
        if complete and status == "active":
            store.uploads.set_status(upload_id, "completed", now)
        elif fresh:
            store.uploads.touch(upload_id, now)
    return len(fresh), duplicates, total, complete


def expire_uploads(store: Store, now: str) -> list[UploadRow]:
    """Active sessions past their expiry become ``expired`` and their assets ``failed``; returns them."""
    with store.transaction():
        expired = store.uploads.expired(now)
        for upload in expired:
            store.uploads.set_status(upload.id, "expired", now)
            store.uploads.drop_chunks(upload.id)
            store.assets.update(upload.asset_id, status="failed", error_message=EXPIRED_MESSAGE)
    return expired
