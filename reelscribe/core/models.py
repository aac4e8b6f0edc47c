"""Typed shapes of the Twelve Labs API answers that reelscribe reads.

Only the fields the pipeline uses are declared; everything else is kept (``extra="allow"``) so a
newer server's additions never break parsing. Segment lists are deliberately left as parsed JSON
(``list[dict]``): ``reelscribe.core.flatten`` turns them into Arrow columns without one Python object
per segment.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TaskStatus(str, Enum):
    """Statuses of an indexing task (v1.3 list-filter enum plus ``uploading``)."""

    UPLOADING = "uploading"
    VALIDATING = "validating"
    PENDING = "pending"
    QUEUED = "queued"
    INDEXING = "indexing"
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


class Video(_ApiModel):
    id: str = Field(alias="_id")
    system_metadata: SystemMetadata | None = None
    user_metadata: dict[str, Any] | None = None
    indexed_at: datetime | None = None
    transcription: list[Any] | None = None


class PageInfo(_ApiModel):
    page: int = 1
    total_page: int | None = None
