"""``/indexes``: create, list, retrieve, rename and delete indexes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, StrictStr, StringConstraints

from reelscribe.server.context import ServerContext, get_context
from reelscribe.server.errors import ApiError, not_found
from reelscribe.server.ids import check_id, new_id
from reelscribe.server.params import paging, since
from reelscribe.server.store import DuplicateName, IndexFilter, Page, Since
from reelscribe.server.views import index_json, page_json

router = APIRouter()

MAX_NAME = 255
IndexName = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=MAX_NAME)]


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model_name: StrictStr
    model_options: list[StrictStr]


class CreateIndex(BaseModel):
    """Model names and options are stored and echoed back, not interpreted: this server only transcribes."""

    model_config = ConfigDict(extra="ignore")
    index_name: IndexName
    models: list[ModelSpec]
    addons: list[StrictStr] = []


class RenameIndex(BaseModel):
    model_config = ConfigDict(extra="ignore")
    index_name: IndexName


def _duplicate(name: str) -> ApiError:
    return ApiError("index_name_already_exists", f"An index named {name!r} already exists.")


@router.post("/indexes", status_code=201)
def create_index(body: CreateIndex, ctx: ServerContext = Depends(get_context)) -> dict[str, Any]:
    name = body.index_name
    models = [model.model_dump() for model in body.models]
    try:
        row = ctx.store.indexes.create(new_id(), name, models, list(body.addons))
    except DuplicateName:
        raise _duplicate(name) from None
    return {"_id": row.id}


@router.get("/indexes")
def list_indexes(
    page: Page = Depends(paging),
    index_name: str | None = Query(None),
    model_options: str | None = Query(None, description="Comma-separated; every one must be enabled."),
    model_family: str | None = Query(None, description="marengo or pegasus."),
    times: Since = Depends(since),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    options = tuple(option.strip() for option in (model_options or "").split(",") if option.strip())
    filters = IndexFilter(name=index_name, model_family=model_family, model_options=options, since=times)
    rows, total = ctx.store.indexes.listing(filters, page)
    return page_json(rows, total, page, index_json)


@router.get("/indexes/{index_id}")
def retrieve_index(index_id: str, ctx: ServerContext = Depends(get_context)) -> dict[str, Any]:
    return index_json(ctx.existing_index(index_id))


@router.put("/indexes/{index_id}")
def rename_index(index_id: str, body: RenameIndex, ctx: ServerContext = Depends(get_context)) -> Response:
    check_id("index_id", index_id)
    name = body.index_name
    try:
        renamed = ctx.store.indexes.rename(index_id, name)
    except DuplicateName:
        raise _duplicate(name) from None
    if not renamed:
        raise not_found("indexes", index_id)
    return Response(status_code=200)


@router.delete("/indexes/{index_id}")
def delete_index(index_id: str, ctx: ServerContext = Depends(get_context)) -> Response:
    if not ctx.store.indexes.delete(check_id("index_id", index_id)):
        raise not_found("indexes", index_id)
    return Response(status_code=200)
