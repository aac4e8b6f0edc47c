"""``/indexes/{index_id}/indexed-assets``: index a ready asset, follow its indexing, list and delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr

from reelscribe.server.context import ServerContext, get_context
from reelscribe.server.errors import ApiError
from reelscribe.server.ids import check_id, new_id, parse_time, utc_now
from reelscribe.server.params import check_metadata, paging
from reelscribe.server.resources import found, page_of, statuses
from reelscribe.server.routes_assets import existing_asset
from reelscribe.server.routes_videos import EmbeddingOption
from reelscribe.server.store import AlreadyIndexed, IndexedAssetFilter, IndexedAssetRow, Page
from reelscribe.server.views import indexed_asset_json, indexed_asset_summary_json, page_json

router = APIRouter()

INDEXED_ASSET_STATUSES = ("pending", "queued", "validating", "indexing", "ready", "failed")


class CreateIndexedAsset(BaseModel):
    model_config = ConfigDict(extra="ignore")
    asset_id: StrictStr
    enable_video_stream: StrictBool | None = None
    user_metadata: dict[str, Any] | None = None


@router.post("/indexes/{index_id}/indexed-assets", status_code=202)
def create_indexed_asset(index_id: str, body: CreateIndexedAsset, ctx: ServerContext = Depends(get_context)) -> dict[str, Any]:
    """Accept a ``ready`` asset for indexing; one live indexed asset per asset and index (a failed one may be retried)."""
    ctx.existing_index(index_id)
    asset = existing_asset(ctx, body.asset_id)
    if asset.status != "ready":
        detail = f": {asset.error_message}" if asset.status == "failed" and asset.error_message else ""
        raise ApiError(
            "asset_not_ready",
            f"Asset {asset.id} is {asset.status}{detail}; only ready assets can be indexed (poll GET /assets/{asset.id}).",
        )
    metadata = check_metadata("user_metadata", body.user_metadata) if body.user_metadata is not None else None
    now = utc_now()
    row = IndexedAssetRow(
        id=new_id(),
        index_id=index_id,
        asset_id=asset.id,
        status="pending",
        filename=asset.filename,
        created_at=now,
        updated_at=now,
        size=asset.size,
        duration=asset.duration,
        width=asset.width,
        height=asset.height,
        fps=asset.fps,
        user_metadata=metadata if metadata is not None else asset.user_metadata,
    )
    try:
        ctx.store.indexed_assets.insert(row)
    except AlreadyIndexed as exc:
        raise ApiError(
            "asset_already_indexed",
            f"Asset {asset.id} is already in index {index_id} as indexed asset {exc.args[0]}.",
        ) from None
    ctx.assets.wake_assets()
    return {"_id": row.id, "asset_id": asset.id}


@router.get("/indexes/{index_id}/indexed-assets")
def list_indexed_assets(
    index_id: str,
    page: Page = Depends(paging),
    status: list[str] | None = Query(None),
    filename: str | None = Query(None),
    asset_id: str | None = Query(None, description="An addition: the indexed assets of one asset."),
    created_at: str | None = Query(None),
    updated_at: str | None = Query(None),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Range and user-metadata filters are not supported."""
    ctx.existing_index(index_id)
    filters = IndexedAssetFilter(
        index_id=index_id,
        asset_id=check_id("asset_id", asset_id) if asset_id is not None else None,
        statuses=statuses(status, INDEXED_ASSET_STATUSES),
        filename=filename,
        created_at=parse_time("created_at", created_at) if created_at is not None else None,
        updated_at=parse_time("updated_at", updated_at) if updated_at is not None else None,
    )
    return page_of(ctx.store.indexed_assets.listing, filters, page, indexed_asset_json)


def _existing(ctx: ServerContext, index_id: str, indexed_asset_id: str, *, with_transcription: bool = False) -> IndexedAssetRow:
    ctx.existing_index(index_id)
    row = ctx.store.indexed_assets.get(
        index_id, check_id("indexed_asset_id", indexed_asset_id), with_transcription=with_transcription
    )
    return found(row, "indexed assets", indexed_asset_id)


@router.get("/indexes/{index_id}/indexed-assets/{indexed_asset_id}")
def retrieve_indexed_asset(
    index_id: str,
    indexed_asset_id: str,
    transcription: bool = Query(False),
    embedding_option: list[EmbeddingOption] | None = Query(None),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """``embedding_option`` is validated but no embeddings are produced; ``transcription`` is ``null`` until ready."""
    row = _existing(ctx, index_id, indexed_asset_id, with_transcription=transcription)
    return indexed_asset_json(row, transcription=transcription)


@router.delete("/indexes/{index_id}/indexed-assets/{indexed_asset_id}")
def delete_indexed_asset(index_id: str, indexed_asset_id: str, ctx: ServerContext = Depends(get_context)) -> Response:
    """Only a finished (``ready`` or ``failed``) indexed asset; the asset itself stays."""
    row = _existing(ctx, index_id, indexed_asset_id)
    if not ctx.store.indexed_assets.delete_finished(row.id):
        raise ApiError(
            "parameter_invalid",
            f"Indexed asset {row.id} is {row.status}; only ready or failed indexed assets can be deleted.",
        )
    return Response(status_code=200)


@router.get("/assets/{asset_id}/indexed-assets")
def list_indexed_assets_of_asset(
    asset_id: str, page: Page = Depends(paging), ctx: ServerContext = Depends(get_context)
) -> dict[str, Any]:
    """The indexed assets that reference an asset (those that block its deletion), with their index."""
    asset = existing_asset(ctx, asset_id)
    rows, total = ctx.store.indexed_assets.listing(IndexedAssetFilter(asset_id=asset.id), page)
    names = {row.index_id: ctx.store.indexes.get(row.index_id) for row in rows}
    return page_json(rows, total, page, lambda row: indexed_asset_summary_json(row, names[row.index_id]))
