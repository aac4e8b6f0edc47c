"""Typed shapes of the Twelve Labs API answers that reelscribe reads.

Only the fields the pipeline uses are declared; everything else is kept (``extra="allow"``) so a
newer server's additions never break parsing. Segment lists are deliberately left as parsed JSON
(``list[dict]``): ``reelscribe.core.flatten`` turns them into Arrow columns without one Python object
per segment.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TaskStatus(StrEnum):
    """Statuses of an indexing task (v1.3 list-filter enum plus ``uploading``)."""

    UPLOADING = "uploading"
    VALIDATING = "validating"
    PENDING = "pending"
    QUEUED = "queued"
    INDEXING = "indexing"
    READY = "ready"
    FAILED = "failed"


class JobEnd(StrEnum):
    """The two statuses that end a wait, spelt alike in ``TaskStatus``, ``AssetStatus`` and
    ``IndexedAssetStatus``: a ``StrEnum`` equals its text, so ``status == JobEnd.READY`` holds for each."""

    READY = "ready"
    FAILED = "failed"


class _ApiModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class SystemMetadata(_ApiModel):
    duration: float | None = None
    filename: str | None = None
    width: int | None = None
    height: int | None = None


class Index(_ApiModel):
    id: str = Field(alias="_id")
    index_name: str | None = None


class TaskCreated(_ApiModel):
    id: str = Field(alias="_id")
    video_id: str | None = None


class Task(_ApiModel):
    id: str = Field(alias="_id")
    index_id: str | None = None
    video_id: str | None = None
    status: TaskStatus
    system_metadata: SystemMetadata | None = None
    user_metadata: dict[str, Any] | None = None
    error_reason: Any = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def failure_reason(self) -> str | None:
        """The server's reason for a failed task, whatever shape it used (string or object)."""
        reason = self.error_reason
        if isinstance(reason, dict):
            code, message = reason.get("code"), reason.get("message")
            return f"{code}: {message}" if code and message else (message or code)
        return str(reason) if reason else None

    def failure_code(self) -> str | None:
        return _code(self.error_reason)


class Video(_ApiModel):
    id: str = Field(alias="_id")
    system_metadata: SystemMetadata | None = None
    user_metadata: dict[str, Any] | None = None
    indexed_at: datetime | None = None
    transcription: list[Any] | None = None
    language: str | None = None
    """The video's spoken language: not in the platform's v1.3 schema; the local server adds it."""
    language_probability: Any = None
    """How sure the detection of ``language`` was (0 to 1); checked by ``core.confidence``. An addition, like ``language``."""
    languages: Any = None
    """Each detected window's ``{start, end, language, probability}``; checked by ``core.confidence``. Likewise."""


class PageInfo(_ApiModel):
    page: int = 1
    total_page: int | None = None


# -- the assets path (v1.3: ``/assets``, multipart upload sessions, indexed assets) ----------


class AssetStatus(StrEnum):
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class IndexedAssetStatus(StrEnum):
    """``pending → queued → validating → indexing → ready | failed`` (the JS SDK lacks ``validating``)."""

    PENDING = "pending"
    QUEUED = "queued"
    VALIDATING = "validating"
    INDEXING = "indexing"
    READY = "ready"
    FAILED = "failed"


def _code(error: Any) -> str | None:
    """A server's failure code, where its reason is an object that has one."""
    return error.get("code") if isinstance(error, dict) and isinstance(error.get("code"), str) else None


def _reason(error: Any) -> str | None:
    """A server's failure reason, whatever shape it used (string, or an object with code/message)."""
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
        return f"{code}: {message}" if code and message else (message or code)
    return str(error) if error else None


class Asset(_ApiModel):
    """An uploaded file (``POST /assets`` or a multipart session); usable once ``ready``."""

    id: str = Field(alias="_id")
    status: AssetStatus
    method: str | None = None
    filename: str | None = None
    user_metadata: dict[str, Any] | None = None
    size: int | None = None
    duration: float | None = None
    error: Any = None
    created_at: datetime | None = None

    def failure_reason(self) -> str | None:
        return _reason(self.error)

    def failure_code(self) -> str | None:
        """The platform gives a failed asset a message only: it could not process the file (``asset_failed``)."""
        return _code(self.error) or "asset_failed"


class IndexedAssetCreated(_ApiModel):
    id: str = Field(alias="_id")
    asset_id: str | None = None


class IndexedAsset(_ApiModel):
    """An asset's indexing in one index; its id is the video id of the indexed video."""

    id: str = Field(alias="_id")
    asset_id: str | None = None
    status: IndexedAssetStatus
    system_metadata: SystemMetadata | None = None
    user_metadata: dict[str, Any] | None = None
    error: Any = None
    error_reason: Any = None
    indexed_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    transcription: list[Any] | None = None
    language: str | None = None
    """As on :class:`Video`, and the two fields below."""
    language_probability: Any = None
    languages: Any = None

    def failure_reason(self) -> str | None:
        return _reason(self.error) or _reason(self.error_reason)

    def failure_code(self) -> str | None:
        return _code(self.error) or _code(self.error_reason)


class UploadUrl(_ApiModel):
    """A presigned URL for one chunk; ``chunk_index`` is 1-based."""

    chunk_index: int
    url: str
    expires_at: datetime | None = None


class MultipartSession(_ApiModel):
    """``POST /assets/multipart-uploads``: the session, its asset, and the first chunk URLs."""

    upload_id: str
    asset_id: str
    chunk_size: int = Field(gt=0)
    total_chunks: int = Field(ge=0)
    upload_urls: list[UploadUrl] = []
    upload_headers: dict[str, str] | None = None
    expires_at: datetime | None = None


class PresignedUrls(_ApiModel):
    upload_urls: list[UploadUrl] = []


class ChunksReported(_ApiModel):
    """The answer to reporting chunks; ``url`` is set once the upload is complete."""

    url: str | None = None
    asset_id: str | None = None
    processed_chunks: int | None = None
    duplicate_chunks: int | None = None
    total_completed: int | None = None


class ChunkState(_ApiModel):
    index: int
    status: str


class MultipartStatus(_ApiModel):
    """``GET /assets/multipart-uploads/{id}``: which chunks the server already has."""

    upload_id: str | None = None
    status: str
    uploaded_chunks: list[ChunkState] = []
    chunks_completed: int | None = None
    total_size: int | None = None
    uploaded_size: int | None = None

    @property
    def is_active(self) -> bool:
        return self.status in ("active", "completed")


class IncompleteUpload(_ApiModel):
    """One entry of ``GET /assets/multipart-uploads``; ``asset_id`` only where the server sends it."""

    upload_id: str
    status: str
    asset_id: str | None = None
    total_size: int | None = None
    chunk_size: int | None = None
    total_chunks: int | None = None


class AssetTranscription(_ApiModel):
    """``GET /assets/{id}/transcription``: each list is present only when the server has it.

    Entries stay parsed JSON (``list[dict]``), for ``reelscribe.core.flatten``, like segments.
    """

    status: str
    words: list[Any] | None = None
    sentences: list[Any] | None = None
    utterances: list[Any] | None = None
    error: Any = None

    @property
    def is_pending(self) -> bool:
        return self.status in ("pending", "processing")
