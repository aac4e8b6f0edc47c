"""``/indexes/{index_id}/videos``: indexed videos, their transcripts, metadata updates and deletion.

Also the classic v1.2 ``…/videos/{video_id}/transcription?start=&end=`` endpoint, which ``app.py``
mounts under both ``/v1.2`` and ``/v1.3``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict

from reelscribe.server.context import ServerContext, get_context
from reelscribe.server.errors import ApiError, invalid, not_found
from reelscribe.server.ids import check_id
from reelscribe.server.params import check_metadata, finite_number, paging, since_clauses
from reelscribe.server.store import Filters, Page, VideoRow
from reelscribe.server.views import page_json, video_json, window, without_words

router = APIRouter()
classic_router = APIRouter()

EMBEDDING_OPTIONS = ("visual", "audio", "transcription", "visual-text")


class VideoPatch(BaseModel):
    """Absent ``user_metadata`` changes nothing; an explicit ``null`` is refused (the schema says object)."""

    model_config = ConfigDict(extra="ignore")
    user_metadata: dict[str, Any] = {}


def _missing_video(ctx: ServerContext, index_id: str, video_id: str) -> ApiError:
    """404, saying so when the video exists as a task that is not ready (yet, or at all)."""
    tasks, _ = ctx.store.list_tasks(
        Filters((("video_id", "=", video_id), ("index_id", "=", index_id))), Page(limit=1)
    )
    if tasks and tasks[0].status != "ready":
        task = tasks[0]
        detail = f" ({task.error_code})" if task.status == "failed" else ""
        return ApiError(
            "resource_not_exist",
            f"Video {video_id} is not indexed: its task {task.id} is {task.status}{detail}.",
        )
    return not_found("videos", video_id)


def _existing_video(ctx: ServerContext, index_id: str, video_id: str, *, with_transcription: bool = False) -> VideoRow:
    ctx.existing_index(index_id)
    row = ctx.store.get_video(index_id, check_id("video_id", video_id), with_transcription=with_transcription)
    if row is None:
        raise _missing_video(ctx, index_id, video_id)
    return row


@router.get("/indexes/{index_id}/videos")
def list_videos(
    index_id: str,
    page: Page = Depends(paging),
    filename: str | None = Query(None),
    created_at: str | None = Query(None),
    updated_at: str | None = Query(None),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Range filters (duration, fps, width, height, size) and user-metadata filters are not supported."""
    ctx.existing_index(index_id)
    clauses: list[tuple[str, str, Any]] = [("index_id", "=", index_id)]
    if filename is not None:
        clauses.append(("filename", "=", filename))
    clauses += since_clauses(created_at, updated_at)
    rows, total = ctx.store.list_videos(Filters(tuple(clauses)), page)
    return page_json(rows, total, page, video_json)


@router.get("/indexes/{index_id}/videos/{video_id}")
def retrieve_video(
    index_id: str,
    video_id: str,
    transcription: bool = Query(False),
    embedding_option: list[str] | None = Query(None),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """``embedding_option`` is validated but no embeddings are produced, so none are returned."""
    for option in embedding_option or ():
        if option not in EMBEDDING_OPTIONS:
            raise invalid("embedding_option", f"expected one of {', '.join(EMBEDDING_OPTIONS)}")
    row = _existing_video(ctx, index_id, video_id, with_transcription=transcription)
    return video_json(row, transcription=transcription)


@router.patch("/indexes/{index_id}/videos/{video_id}")
def update_video(index_id: str, video_id: str, body: VideoPatch, ctx: ServerContext = Depends(get_context)) -> Response:
    """Merge ``user_metadata``; a key set to ``null`` is removed."""
    row = _existing_video(ctx, index_id, video_id)
    if body.user_metadata:
        changes = check_metadata("user_metadata", body.user_metadata, allow_null=True)
        ctx.store.update_video_metadata(index_id, row.id, changes)
    return Response(status_code=200)


@router.delete("/indexes/{index_id}/videos/{video_id}")
def delete_video(index_id: str, video_id: str, ctx: ServerContext = Depends(get_context)) -> Response:
    ctx.existing_index(index_id)
    if not ctx.store.delete_video(index_id, check_id("video_id", video_id)):
        raise _missing_video(ctx, index_id, video_id)
    return Response(status_code=200)


@classic_router.get("/indexes/{index_id}/videos/{video_id}/transcription")
def classic_transcription(
    index_id: str,
    video_id: str,
    start: str | None = Query(None, description="Window start in seconds; default unbounded."),
    end: str | None = Query(None, description="Window end in seconds; default unbounded."),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Segments overlapping the window: ``[s, e]`` is kept iff ``s < end and e > start``."""
    low = finite_number("start", start)
    high = finite_number("end", end)
    if low is not None and high is not None and low > high:
        raise invalid("start", "must not be greater than end")
    row = _existing_video(ctx, index_id, video_id, with_transcription=True)
    return {"_id": row.id, "index_id": row.index_id, "data": without_words(window(row.transcription, low, high))}
