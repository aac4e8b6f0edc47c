"""Rows to API JSON, in the v1.3 shapes. Pure functions; absent values are left out, not ``null``,
because the v1.3 schema types these fields as plain strings, numbers and objects."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from reelscribe.server.store import AssetRow, IndexedAssetRow, IndexRow, Page, TaskRow, UploadRow, VideoRow

Row = TypeVar("Row")


def _present(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def index_json(row: IndexRow) -> dict[str, Any]:
    return {
        "_id": row.id,
        "index_name": row.name,
        "models": row.models,
        "addons": row.addons,
        "video_count": row.video_count,
        "total_duration": row.total_duration,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def task_json(row: TaskRow) -> dict[str, Any]:
    """The task object; ``user_metadata`` and (for failed tasks) ``error_reason`` are additions."""
    body: dict[str, Any] = {
        "_id": row.id,
        "index_id": row.index_id,
        "video_id": row.video_id,
        "status": row.status,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "system_metadata": _present(duration=row.duration, filename=row.filename, width=row.width, height=row.height),
    }
    if row.user_metadata is not None:
        body["user_metadata"] = row.user_metadata
    if row.status == "failed" and row.error_code:
        body["error_reason"] = {"code": row.error_code, "message": row.error_message or row.error_code}
    return body


def video_json(row: VideoRow, *, transcription: bool = False) -> dict[str, Any]:
    """The video object; with ``transcription`` a top-level list of segments, or ``null`` for no speech."""
    body: dict[str, Any] = {
        "_id": row.id,
        "index_id": row.index_id,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "indexed_at": row.indexed_at,
        "system_metadata": _present(
            filename=row.filename,
            duration=row.duration,
            fps=row.fps,
            width=row.width,
            height=row.height,
            size=row.size,
        ),
    }
    if row.user_metadata is not None:
        body["user_metadata"] = row.user_metadata
    if transcription:
        body["transcription"] = without_words(row.transcription)
        body.update(_present(language=spoken_language(row.transcription)))
        body.update(language_details(row.language_info))
    return body


def language_details(info: dict[str, Any] | None) -> dict[str, Any]:
    """``language_probability`` (how sure the detection of ``language`` was) and ``languages`` (each
    detected window's ``{start, end, language, probability}``), where the engine detected them.

    Additions beside ``language``; absent for a fixed language, an English-only model, or a video
    transcribed before they were kept.
    """
    info = info or {}
    return _present(language_probability=info.get("language_probability"), languages=info.get("languages"))


def spoken_language(segments: list[dict[str, Any]] | None) -> str | None:
    """The video's language: the one its segments (each of which says its ``language``) speak for longest.

    ``None`` when there is no speech or the segments say no language (transcribed before languages were kept).
    An addition to the v1.3 video and indexed-asset objects, next to the ``language`` of each segment; both
    SDKs keep unknown fields.
    """
    seconds: dict[str, float] = {}
    for segment in segments or ():
        if segment.get("language"):
            seconds[segment["language"]] = seconds.get(segment["language"], 0.0) + segment["end"] - segment["start"]
    return max(seconds, key=seconds.__getitem__) if seconds else None


def page_json(rows: Sequence[Row], total: int, page: Page, render: Callable[[Row], dict[str, Any]]) -> dict[str, Any]:
    """``{data, page_info}``; a page past the end is an empty ``data`` (the SDK pager relies on it)."""
    return {
        "data": [render(row) for row in rows],
        "page_info": {
            "page": page.number,
            "limit_per_page": page.limit,
            "total_page": math.ceil(total / page.limit) if total else 0,
            "total_results": total,
        },
    }


def without_words(segments: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Segments as the v1.3 tasks path shows them: ``{start, end, value, language}``; the stored words are for the assets path."""
    if segments is None:
        return None
    return [{key: value for key, value in segment.items() if key != "words"} for segment in segments]


def window(segments: list[dict[str, Any]] | None, start: float | None, end: float | None) -> list[dict[str, Any]] | None:
    """Segments overlapping ``[start, end]``: ``s < end and e > start`` (a missing bound is unbounded).

    ``None`` (no speech) stays ``None``; a window that matches nothing gives ``[]``.
    """
    if segments is None:
        return None
    low = -math.inf if start is None else start
    high = math.inf if end is None else end
    return [seg for seg in segments if seg["start"] < high and seg["end"] > low]


def asset_json(row: AssetRow) -> dict[str, Any]:
    """The asset object; ``size``, ``duration`` and ``technical_metadata`` once probed, ``error`` when failed."""
    body: dict[str, Any] = {
        "_id": row.id,
        "method": row.method,
        "status": row.status,
        "filename": row.filename,
        "file_type": row.file_type,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        **_present(size=row.size, duration=row.duration, user_metadata=row.user_metadata),
    }
    if row.duration is not None:
        body["technical_metadata"] = _present(
            file_size_bytes=row.size,
            file_mime_type=row.file_type,
            video_width=row.width,
            video_height=row.height,
            video_fps=row.fps,
            video_duration_seconds=row.duration,
            has_audio=row.has_audio,
        )
    if row.status == "failed":
        body["error"] = {"message": row.error_message or "The asset could not be processed."}
    return body


def indexed_asset_json(row: IndexedAssetRow, *, transcription: bool = False) -> dict[str, Any]:
    """The indexed asset; with ``transcription`` a top-level list of segments (``null`` for no speech or not yet)."""
    body: dict[str, Any] = {
        "_id": row.id,
        "index_id": row.index_id,
        "asset_id": row.asset_id,
        "status": row.status,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "system_metadata": _present(
            filename=row.filename, duration=row.duration, fps=row.fps, width=row.width, height=row.height, size=row.size
        ),
        **_present(indexed_at=row.indexed_at, user_metadata=row.user_metadata),
    }
    if row.status == "failed" and row.error_code:
        body["error_reason"] = {"code": row.error_code, "message": row.error_message or row.error_code}
    if transcription:
        body["transcription"] = without_words(row.transcription)
        body.update(_present(language=spoken_language(row.transcription)))
        body.update(language_details(row.language_info))
    return body


def indexed_asset_summary_json(row: IndexedAssetRow, index: IndexRow | None) -> dict[str, Any]:
    """An entry of ``GET /assets/{id}/indexed-assets``: ``{_id, index {_id, name}}``, plus ``status`` and ``asset_id``."""
    return {
        "_id": row.id,
        "index": _present(_id=row.index_id, name=index.name if index is not None else None),
        "asset_id": row.asset_id,
        "status": row.status,
    }


def upload_summary_json(row: UploadRow) -> dict[str, Any]:
    """An entry of ``GET /assets/multipart-uploads``."""
    return {
        "upload_id": row.id,
        "asset_id": row.asset_id,
        "status": row.status,
        "total_size": row.total_size,
        "chunk_size": row.chunk_size,
        "total_chunks": row.total_chunks,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
    }
