"""``/tasks``: accept a video (upload or URL), report indexing progress, list and delete tasks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response

from reelscribe.server.context import ServerContext, get_context
from reelscribe.server.errors import ApiError, invalid, missing
from reelscribe.server.ids import check_id, new_id
from reelscribe.server.params import boolean, metadata_form_field, paging, since
from reelscribe.server.resources import accepted_row, found, page_of, source_name
from reelscribe.server.store import TERMINAL, Page, Since, TaskFilter, TaskRow, TaskStatus
from reelscribe.server.uploads import TaskForm, accept_upload
from reelscribe.server.views import task_json
from reelscribe.server.workers import media_path

router = APIRouter()


def _task_from_form(form: TaskForm, ctx: ServerContext) -> TaskRow:
    """Validate the form (no side effects) and describe the task it asks for."""
    fields = form.fields
    index_id = fields.get("index_id")
    if not index_id:
        raise missing("index_id")
    ctx.existing_index(index_id)
    boolean("enable_video_stream", fields.get("enable_video_stream"))
    metadata = metadata_form_field(fields.get("user_metadata"))
    url = fields.get("video_url", "").strip() or None
    has_file = form.file_path is not None
    if has_file and url:
        raise invalid("video_url", "give either video_file or video_url, not both")
    if not has_file and not url:
        raise missing("video_file")
    filename = source_name(ctx.config, form, url, url_field="video_url", default="video")
    return accepted_row(TaskRow, form, url, metadata, index_id=index_id, video_id=new_id(), status="validating", filename=filename)


@router.post("/tasks")
async def create_task(request: Request, ctx: ServerContext = Depends(get_context)) -> dict[str, Any]:
    """Answer only after the upload is on disk under its final name and the task row is committed."""
    task = await accept_upload(
        request,
        ctx.config,
        lambda form: _task_from_form(form, ctx),
        lambda task: media_path(ctx.config, task.video_id),
        ctx.store.tasks.insert,
    )
    ctx.indexer.wake()
    return {"_id": task.id, "video_id": task.video_id}


@router.get("/tasks")
def list_tasks(
    page: Page = Depends(paging),
    index_id: str | None = Query(None),
    status: list[TaskStatus] | None = Query(None),
    filename: str | None = Query(None),
    duration: float | None = Query(None, allow_inf_nan=False),
    width: int | None = Query(None),
    height: int | None = Query(None),
    times: Since = Depends(since),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    filters = TaskFilter(
        index_id=check_id("index_id", index_id) if index_id is not None else None,
        statuses=tuple(status or ()),
        filename=filename,
        duration=duration,
        width=width,
        height=height,
        since=times,
    )
    return page_of(ctx.store.tasks.listing, filters, page, task_json)


def _existing_task(ctx: ServerContext, task_id: str) -> TaskRow:
    return found(ctx.store.tasks.get(check_id("task_id", task_id)), "tasks", task_id)


@router.get("/tasks/{task_id}")
def retrieve_task(task_id: str, ctx: ServerContext = Depends(get_context)) -> dict[str, Any]:
    return task_json(_existing_task(ctx, task_id))


@router.delete("/tasks/{task_id}")
def delete_task(task_id: str, ctx: ServerContext = Depends(get_context)) -> Response:
    """Only ``ready`` or ``failed`` tasks; the task's video (if any) is kept."""
    task = _existing_task(ctx, task_id)
    if task.status not in TERMINAL or not ctx.store.tasks.delete_finished(task.id):
        raise ApiError(
            "task_cannot_be_deleted",
            f"Task {task.id} is {task.status}; only ready or failed tasks can be deleted.",
        )
    return Response(status_code=200)
