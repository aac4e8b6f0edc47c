"""``/indexes/{index_id}/videos``: indexed videos, their transcripts, metadata updates and deletion.

Also the classic v1.2 ``…/videos/{video_id}/transcription?start=&end=`` endpoint, which ``app.py``
mounts under both ``/v1.2`` and ``/v1.3``.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict

from reelscribe.server.context import ServerContext, get_context
from reelscribe.server.errors import ApiError, invalid, not_found
from reelscribe.server.ids import check_id
from reelscribe.server.params import check_metadata, paging, ranges, since
from reelscribe.server.store import Page, Range, Since, VideoFilter, VideoRow
from reelscribe.server.views import page_json, video_json, window, without_words

router = APIRouter()
classic_router = APIRouter()

EmbeddingOption = Literal["visual", "audio", "transcription", "visual-text"]


class VideoPatch(BaseModel):
    """Absent ``user_metadata`` changes nothing; an explicit ``null`` is refused (the schema says object)."""

    model_config = ConfigDict(extra="ignore")
    user_metadata: dict[str, Any] = {}


def _missing_video(ctx: ServerContext, index_id: str, video_id: str) -> ApiError:
    """404, saying so when the video exists as a task that is not ready (yet, or at all)."""
    task = ctx.store.tasks.of_video(index_id, video_id)
    if task is not None and task.status != "ready":
        detail = f" ({task.error_code})" if task.status == "failed" else ""
        return ApiError(
            "resource_not_exist",
            f"Video {video_id} is not indexed: its task {task.id} is {task.status}{detail}.",
        )
    return not_found("videos", video_id)


def _existing_video(ctx: ServerContext, index_id: str, video_id: str, *, with_transcription: bool = False) -> VideoRow:
    ctx.existing_index(index_id)
    row = ctx.store.videos.get(index_id, check_id("video_id", video_id), with_transcription=with_transcription)
    if row is None:
        raise _missing_video(ctx, index_id, video_id)
    return row


@router.get("/indexes/{index_id}/videos")
def list_videos(
    index_id: str,
    page: Page = Depends(paging),
    filename: str | None = Query(None),
    times: Since = Depends(since),
    within: tuple[Range, ...] = Depends(ranges),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Range filters as the SDKs send them (``duration[gte]=4``); user-metadata filters are not supported."""
    ctx.existing_index(index_id)
    rows, total = ctx.store.videos.listing(VideoFilter(index_id=index_id, filename=filename, since=times, ranges=within), page)
    return page_json(rows, total, page, video_json)


@router.get("/indexes/{index_id}/videos/{video_id}")
def retrieve_video(
    index_id: str,
    video_id: str,
    transcription: bool = Query(False),
    embedding_option: list[EmbeddingOption] | None = Query(None),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """``embedding_option`` is validated but no embeddings are produced, so none are returned."""
    row = _existing_video(ctx, index_id, video_id, with_transcription=transcription)
    return video_json(row, transcription=transcription)


@router.patch("/indexes/{index_id}/videos/{video_id}")
def update_video(index_id: str, video_id: str, body: VideoPatch, ctx: ServerContext = Depends(get_context)) -> Response:
    """Merge ``user_metadata``; a key set to ``null`` is removed."""
    row = _existing_video(ctx, index_id, video_id)
    if body.user_metadata:
        changes = check_metadata("user_metadata", body.user_metadata, allow_null=True)
        ctx.store.videos.update_metadata(index_id, row.id, changes)
    return Response(status_code=200)


@router.delete("/indexes/{index_id}/videos/{video_id}")
def delete_video(index_id: str, video_id: str, ctx: ServerContext = Depends(get_context)) -> Response:
    ctx.existing_index(index_id)
    if not ctx.store.videos.delete(index_id, check_id("video_id", video_id)):
        raise _missing_video(ctx, index_id, video_id)
    return Response(status_code=200)


@classic_router.get("/indexes/{index_id}/videos/{video_id}/transcription")
def classic_transcription(
    index_id: str,
    video_id: str,
    start: float | None = Query(None, allow_inf_nan=False, description="Window start in seconds; default unbounded."),
    end: float | None = Query(None, allow_inf_nan=False, description="Window end in seconds; default unbounded."),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Segments overlapping the window: ``[s, e]`` is kept iff ``s < end and e > start``."""
    if start is not None and end is not None and start > end:
        raise invalid("start", "must not be greater than end")
    row = _existing_video(ctx, index_id, video_id, with_transcription=True)
    return {"_id": row.id, "index_id": row.index_id, "data": without_words(window(row.transcription, start, end))}
