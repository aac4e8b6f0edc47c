"""What differs under ``/v1.2``: v1.2 named an index's models ``engines`` and a task's
``system_metadata`` ``metadata``.

``app.py`` mounts this router under ``/v1.2`` before the v1.3 routers it shares the rest with
(indexes, tasks, videos, the classic transcription endpoint), so these routes answer first. An
index is created from ``engines`` (``engine_name``/``engine_options``, as the 0.x SDKs send them)
or from v1.3's ``models``, and stored as models; indexes are answered with ``engines`` beside
``models`` and tasks with ``metadata`` beside ``system_metadata``, so both generations of client
read their own names.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, StrictStr

from reelscribe.server.context import ServerContext, get_context
from reelscribe.server.errors import ApiError
from reelscribe.server.params import paging, since
from reelscribe.server.routes_indexes import IndexName, ModelSpec, create_index
from reelscribe.server.routes_indexes import CreateIndex as CreateIndexV13
from reelscribe.server.routes_tasks import retrieve_task
from reelscribe.server.store import IndexFilter, IndexRow, Page, Since
from reelscribe.server.views import index_json, page_json

router = APIRouter()


class EngineSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")
    engine_name: StrictStr
    engine_options: list[StrictStr]


class CreateIndexV12(BaseModel):
    model_config = ConfigDict(extra="ignore")
    index_name: IndexName
    engines: list[EngineSpec] | None = None
    models: list[ModelSpec] | None = None
    addons: list[StrictStr] = []


@router.post("/indexes", status_code=201)
def create_index_v12(body: CreateIndexV12, ctx: ServerContext = Depends(get_context)) -> dict[str, Any]:
    if body.engines is not None:
        models = [ModelSpec(model_name=e.engine_name, model_options=e.engine_options) for e in body.engines]
    elif body.models is not None:
        models = body.models
    else:
        raise ApiError("parameter_not_provided", "The `engines` parameter is required but was not provided.")
    return create_index(CreateIndexV13(index_name=body.index_name, models=models, addons=body.addons), ctx)


def index_json_v12(row: IndexRow) -> dict[str, Any]:
    body = index_json(row)
    engines = [{"engine_name": m.get("model_name"), "engine_options": m.get("model_options", [])} for m in row.models]
    return {**body, "engines": engines}


@router.get("/indexes")
def list_indexes_v12(
    page: Page = Depends(paging),
    index_name: str | None = Query(None),
    engine_options: str | None = Query(None, description="Comma-separated; every one must be enabled."),
    engine_family: str | None = Query(None, description="marengo or pegasus."),
    model_options: str | None = Query(None),
    model_family: str | None = Query(None),
    times: Since = Depends(since),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    wanted = engine_options or model_options or ""
    options = tuple(option.strip() for option in wanted.split(",") if option.strip())
    filters = IndexFilter(name=index_name, model_family=engine_family or model_family, model_options=options, since=times)
    rows, total = ctx.store.indexes.listing(filters, page)
    return page_json(rows, total, page, index_json_v12)


@router.get("/indexes/{index_id}")
def retrieve_index_v12(index_id: str, ctx: ServerContext = Depends(get_context)) -> dict[str, Any]:
    return index_json_v12(ctx.existing_index(index_id))


@router.get("/tasks/{task_id}")
def retrieve_task_v12(task_id: str, ctx: ServerContext = Depends(get_context)) -> dict[str, Any]:
    body = retrieve_task(task_id, ctx)
    if "system_metadata" in body:
        body["metadata"] = body["system_metadata"]
    return body
