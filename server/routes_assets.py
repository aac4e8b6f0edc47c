"""``/assets``: upload (file or URL), retrieve, list and delete assets; an asset's word-level transcription."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response

from reelscribe.server.asset_workers import asset_path
from reelscribe.server.context import ServerContext, get_context
from reelscribe.server.errors import ApiError, invalid, missing, not_found
from reelscribe.server.ids import check_id
from reelscribe.server.media import mime_type
from reelscribe.server.multipart import discard_chunks
from reelscribe.server.params import boolean, metadata_form_field, paging
from reelscribe.server.resources import accepted_row, found, page_of, source_name, statuses
from reelscribe.server.segmentation import SEGMENTATIONS, transcription_views
from reelscribe.server.store import AssetFilter, AssetInUse, AssetRow, Page
from reelscribe.server.uploads import TaskForm, accept_upload, safe_filename
from reelscribe.server.views import asset_json

router = APIRouter()

FILE_FIELD = "file"
METHODS = ("direct", "url")
ASSET_STATUSES = ("processing", "ready", "failed")
ASSET_TYPES = ("video", "audio", "image", "document")
# indexed-asset status → asset transcription status
TRANSCRIPTION_STATUS = {
    "pending": "pending",
    "queued": "pending",
    "validating": "pending",
    "indexing": "processing",
    "ready": "ready",
    "failed": "failed",
}


def _asset_from_form(form: TaskForm, ctx: ServerContext) -> AssetRow:
    """Validate the form (no side effects) and describe the asset it asks for."""
    fields = form.fields
    method = fields.get("method", "").strip()
    if not method:
        raise missing("method")
    if method not in METHODS:
        raise invalid("method", "expected direct or url (multipart uploads use /assets/multipart-uploads)")
    for name in ("enable_hls", "enable_thumbnail"):
        boolean(name, fields.get(name))
    metadata = metadata_form_field(fields.get("user_metadata"))
    url = fields.get("url", "").strip() or None
    has_file = form.file_path is not None
    if method == "direct":
        if url:
            raise invalid("url", "method=direct takes a file, not a url")
        if not has_file:
            raise missing("file")
    else:
        if has_file:
            raise invalid("file", "method=url takes a url, not a file")
        if not url:
            raise missing("url")
    default_name = source_name(ctx.config, form, url, url_field="url", default="asset")
    filename = safe_filename(fields.get("filename"), default_name) if fields.get("filename", "").strip() else default_name
    return accepted_row(
        AssetRow, form, url, metadata, method=method, status="processing", filename=filename, file_type=mime_type(filename)
    )


@router.post("/assets")
async def create_asset(request: Request, ctx: ServerContext = Depends(get_context)) -> dict[str, Any]:
    """Answer (``processing``) only after the file is on disk under its final name and the row is committed."""
    asset = await accept_upload(
        request,
        ctx.config,
        lambda form: _asset_from_form(form, ctx),
        lambda asset: asset_path(ctx.config, asset.id),
        ctx.store.assets.insert,
        file_field=FILE_FIELD,
    )
    ctx.assets.wake_assets()
    return asset_json(asset)


@router.get("/assets")
def list_assets(
    page: Page = Depends(paging),
    asset_ids: list[str] | None = Query(None),
    asset_types: list[str] | None = Query(None),
    filename: str | None = Query(None, description="Case-insensitive substring of the file name."),
    status: list[str] | None = Query(None),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Newest first by default. ``asset_types``: every asset here is ``video`` or ``audio``."""
    ids = None
    if asset_ids:
        ids = tuple(check_id("asset_ids", part) for value in asset_ids for part in value.split(",") if part)
    for kind in asset_types or ():
        if kind not in ASSET_TYPES:
            raise invalid("asset_types", f"expected one of {', '.join(ASSET_TYPES)}")
    if asset_types and not {"video", "audio"} & set(asset_types):
        ids = ()
    filters = AssetFilter(ids=ids, filename_contains=filename, statuses=statuses(status, ASSET_STATUSES))
    return page_of(ctx.store.assets.listing, filters, page, asset_json)


def existing_asset(ctx: ServerContext, asset_id: str) -> AssetRow:
    return found(ctx.store.assets.get(check_id("asset_id", asset_id)), "assets", asset_id)


@router.get("/assets/{asset_id}")
def retrieve_asset(asset_id: str, ctx: ServerContext = Depends(get_context)) -> dict[str, Any]:
    return asset_json(existing_asset(ctx, asset_id))


@router.delete("/assets/{asset_id}")
def delete_asset(
    asset_id: str, force: str | None = Query(None), ctx: ServerContext = Depends(get_context)
) -> Response:
    """409 ``asset_in_use`` while indexed assets reference the asset, unless ``force=true``."""
    check_id("asset_id", asset_id)
    upload = ctx.store.uploads.for_asset(asset_id)
    try:
        deleted = ctx.store.assets.delete(asset_id, force=bool(boolean("force", force)))
    except AssetInUse as exc:
        raise ApiError(
            "asset_in_use",
            f"Asset {asset_id} is referenced by {exc.args[0]} indexed asset(s); delete them first or pass force=true.",
        ) from None
    if not deleted:
        raise not_found("assets", asset_id)
    asset_path(ctx.config, asset_id).unlink(missing_ok=True)
    if upload is not None:
        discard_chunks(ctx.config.multipart_dir, upload.id)
    return Response(status_code=200)


def _include(values: list[str] | None) -> list[str]:
    """``include`` repeated or comma-separated; ``words`` when absent."""
    parts = [part.strip() for value in values or () for part in value.split(",") if part.strip()]
    for part in parts:
        if part not in SEGMENTATIONS:
            raise invalid("include", f"expected words, sentences or utterances, not {part!r}")
    return parts or ["words"]


@router.get("/assets/{asset_id}/transcription")
def retrieve_transcription(
    asset_id: str, include: list[str] | None = Query(None), ctx: ServerContext = Depends(get_context)
) -> dict[str, Any]:
    """The transcription made when the asset was indexed (the latest ready indexing, else the latest one)."""
    wanted = _include(include)
    asset = existing_asset(ctx, asset_id)
    source = ctx.store.indexed_assets.transcription_of_asset(asset.id)
    if source is None:
        raise ApiError(
            "resource_not_exist",
            f"Asset {asset.id} has no transcription: it is made when the asset is indexed (POST /indexes/{{index_id}}/indexed-assets).",
        )
    status = TRANSCRIPTION_STATUS[source.status]
    body: dict[str, Any] = {"status": status}
    if status == "ready":
        body.update(transcription_views(source.transcription, wanted))
    elif status == "failed":
        body["error"] = {"message": source.error_message or "Transcription failed."}
    return body
