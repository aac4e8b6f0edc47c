"""``/assets/multipart-uploads``: sessions for large files, and the presigned chunk URLs this server serves.

The session logic (geometry, signatures, streaming, assembly) is in ``multipart.py``; the state in
``store/uploads.py``; assembling and probing the finished file is the asset worker's job.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, StrictStr

from reelscribe.server.context import ServerContext, get_context
from reelscribe.server.errors import ApiError, invalid, not_found
from reelscribe.server.ids import check_id, new_id, utc_now
from reelscribe.server.media import mime_type
from reelscribe.server import multipart
from reelscribe.server.multipart import (
    INITIAL_URLS,
    MAX_TOTAL_BYTES,
    MAX_URLS_PER_REQUEST,
    ChunkAlreadyCompleted,
    ChunkReportRejected,
    UploadClosed,
    chunk_dir,
    chunk_urls,
    discard_chunks,
    epoch_to_time,
    expected_chunk_size,
    receive_chunk,
    total_chunks,
    url_expired,
)
from reelscribe.server.params import check_metadata, paging
from reelscribe.server.store import AssetRow, Page, UploadRow
from reelscribe.server.uploads import safe_filename
from reelscribe.server.views import page_json, upload_summary_json

router = APIRouter()
presigned_router = APIRouter()

UPLOAD_TYPES = ("video", "audio")
MAX_FILENAME = 255


class CreateUpload(BaseModel):
    model_config = ConfigDict(extra="ignore")
    filename: StrictStr
    type: StrictStr
    total_size: StrictInt
    enable_hls: StrictBool | None = None
    enable_thumbnail: StrictBool | None = None
    user_metadata: dict[str, Any] | None = None


class CompletedChunk(BaseModel):
    model_config = ConfigDict(extra="ignore")
    chunk_index: StrictInt
    proof: StrictStr
    proof_type: StrictStr
    chunk_size: StrictInt


class ChunkReport(BaseModel):
    model_config = ConfigDict(extra="ignore")
    completed_chunks: list[CompletedChunk]


class UrlRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    start: StrictInt
    count: StrictInt


def _root_url(request: Request) -> str:
    """This server as the client reached it, so chunk URLs work through whatever address it used."""
    return str(request.base_url).rstrip("/")


def _existing_upload(ctx: ServerContext, upload_id: str) -> UploadRow:
    upload = ctx.store.uploads.get(check_id("upload_id", upload_id))
    if upload is None:
        raise not_found("multipart uploads", upload_id)
    return upload


def _effective_status(upload: UploadRow, now: str) -> str:
    """``expired`` as soon as the deadline passes, even before the clean-up marks it."""
    return "expired" if upload.status == "active" and upload.expires_at <= now else upload.status


def _closed(upload_id: str, status: str) -> ApiError:
    if status == "expired":
        return ApiError(
            "upload_session_expired",
            f"Upload session {upload_id} has expired; its chunks are gone. Create a new session.",
        )
    if status == "deleted":
        return not_found("multipart uploads", upload_id)
    return ApiError("upload_session_closed", f"Upload session {upload_id} is {status} and takes no more chunks.")


def _check_index(upload: UploadRow, chunk_index: int) -> None:
    if not 1 <= chunk_index <= upload.total_chunks:
        raise ApiError(
            "chunk_index_invalid",
            f"Chunk index {chunk_index} is out of range: this session has chunks 1 to {upload.total_chunks}.",
        )


@router.post("/assets/multipart-uploads")
def create_upload(body: CreateUpload, request: Request, ctx: ServerContext = Depends(get_context)) -> dict[str, Any]:
    """Reserve the asset (``processing`` until every chunk is reported and the file checks out)."""
    name = body.filename.strip()
    if not name or len(name) > MAX_FILENAME:
        raise invalid("filename", f"must be 1 to {MAX_FILENAME} characters")
    if body.type not in UPLOAD_TYPES:
        raise invalid("type", "this server indexes speech, so only video and audio are accepted")
    if not 1 <= body.total_size <= MAX_TOTAL_BYTES:
        raise invalid("total_size", f"must be between 1 and {MAX_TOTAL_BYTES} bytes")
    metadata = check_metadata("user_metadata", body.user_metadata) if body.user_metadata is not None else None
    now = time.time()
    created = utc_now()
    chunk_size = ctx.config.multipart_chunk_size
    upload = UploadRow(
        id=new_id(),
        asset_id=new_id(),
        status="active",
        total_size=body.total_size,
        chunk_size=chunk_size,
        total_chunks=total_chunks(body.total_size, chunk_size),
        created_at=created,
        updated_at=created,
        expires_at=epoch_to_time(now + ctx.config.multipart_ttl),
    )
    filename = safe_filename(name)
    asset = AssetRow(
        id=upload.asset_id,
        method="multipart",
        status="processing",
        filename=filename,
        file_type=mime_type(filename),
        created_at=created,
        updated_at=created,
        size=body.total_size,
        user_metadata=metadata,
    )
    ctx.store.assets.insert(asset, upload)
    count = min(INITIAL_URLS, upload.total_chunks)
    return {
        "upload_id": upload.id,
        "asset_id": upload.asset_id,
        "upload_urls": chunk_urls(ctx.presigner, _root_url(request), upload, 1, count),
        "upload_headers": {"Content-Type": "application/octet-stream"},
        "chunk_size": upload.chunk_size,
        "total_chunks": upload.total_chunks,
        "expires_at": upload.expires_at,
    }


@router.get("/assets/multipart-uploads")
def list_uploads(page: Page = Depends(paging), ctx: ServerContext = Depends(get_context)) -> dict[str, Any]:
    """The sessions still taking chunks (active and not expired)."""
    rows, total = ctx.store.uploads.list_active(page)
    return page_json(rows, total, page, upload_summary_json)


@router.get("/assets/multipart-uploads/{upload_id}")
def upload_status(upload_id: str, page: Page = Depends(paging), ctx: ServerContext = Depends(get_context)) -> dict[str, Any]:
    """The session and one page of its chunks (every chunk is listed: ``completed`` once reported, else ``pending``)."""
    upload = _existing_upload(ctx, upload_id)
    chunks = ctx.store.uploads.chunks(upload.id)
    completed = [chunk for chunk in chunks.values() if chunk.completed]
    first = (page.number - 1) * page.limit + 1
    listed = []
    for index in range(first, min(upload.total_chunks, first + page.limit - 1) + 1):
        chunk = chunks.get(index)
        entry: dict[str, Any] = {"index": index, "status": "completed" if chunk and chunk.completed else "pending"}
        if chunk is not None:
            entry.update(uploaded_at=chunk.uploaded_at, updated_at=chunk.updated_at)
        listed.append(entry)
    return {
        "upload_id": upload.id,
        "asset_id": upload.asset_id,
        "status": _effective_status(upload, utc_now()),
        "uploaded_chunks": listed,
        "chunks_completed": len(completed),
        "chunks_failed": 0,
        "chunks_pending": upload.total_chunks - len(completed),
        "total_size": upload.total_size,
        "uploaded_size": sum(chunk.size for chunk in completed),
        "chunk_size": upload.chunk_size,
        "total_chunks": upload.total_chunks,
        "created_at": upload.created_at,
        "updated_at": upload.updated_at,
        "expires_at": upload.expires_at,
        "page_info": {
            "page": page.number,
            "limit_per_page": page.limit,
            "total_page": -(-upload.total_chunks // page.limit),
            "total_results": upload.total_chunks,
        },
    }


@router.post("/assets/multipart-uploads/{upload_id}")
def report_chunks(
    upload_id: str, body: ChunkReport, request: Request, ctx: ServerContext = Depends(get_context)
) -> dict[str, Any]:
    """Confirm received chunks by their ETags, in any order and batch size; repeats count as duplicates."""
    upload = _existing_upload(ctx, upload_id)
    if not body.completed_chunks:
        raise invalid("completed_chunks", "list at least one chunk")
    reports = []
    for item in body.completed_chunks:
        if item.proof_type != "etag":
            raise invalid("proof_type", "only etag proofs are supported")
        _check_index(upload, item.chunk_index)
        reports.append((item.chunk_index, item.proof.strip().strip('"').lower(), item.chunk_size))
    try:
        processed, duplicates, total, complete = multipart.report_chunks(ctx.store, upload.id, reports, utc_now())
    except UploadClosed as exc:
        raise _closed(upload.id, exc.args[0]) from None
    except ChunkReportRejected as exc:
        raise _rejected(exc) from None
    answer: dict[str, Any] = {
        "asset_id": upload.asset_id,
        "processed_chunks": processed,
        "duplicate_chunks": duplicates,
        "total_completed": total,
    }
    if complete:
        ctx.assets.wake_assets()
        answer["url"] = f"{_root_url(request)}/v1.3/assets/{upload.asset_id}"
    return answer


def _rejected(exc: ChunkReportRejected) -> ApiError:
    index = exc.chunk_index
    if exc.kind == "not_uploaded":
        return ApiError("chunk_not_uploaded", f"Chunk {index} has not been uploaded; PUT it to its URL first.")
    if exc.kind == "etag_mismatch":
        return ApiError("chunk_etag_mismatch", f"The proof for chunk {index} does not match the ETag of the bytes received.")
    return ApiError("chunk_size_invalid", f"The chunk_size reported for chunk {index} differs from the bytes received.")


@router.post("/assets/multipart-uploads/{upload_id}/presigned-urls")
def more_urls(upload_id: str, body: UrlRequest, request: Request, ctx: ServerContext = Depends(get_context)) -> dict[str, Any]:
    upload = _existing_upload(ctx, upload_id)
    status = _effective_status(upload, utc_now())
    if status != "active":
        raise _closed(upload.id, status)
    if not 1 <= body.count <= MAX_URLS_PER_REQUEST:
        raise invalid("count", f"must be between 1 and {MAX_URLS_PER_REQUEST}")
    _check_index(upload, body.start)
    _check_index(upload, body.start + body.count - 1)
    urls = chunk_urls(ctx.presigner, _root_url(request), upload, body.start, body.count)
    return {
        "upload_id": upload.id,
        "start_index": body.start,
        "count": body.count,
        "upload_urls": urls,
        "generated_at": utc_now(),
        "expires_at": max(str(url["expires_at"]) for url in urls),
    }


@presigned_router.put("/uploads/{upload_id}/chunks/{chunk_index}")
async def put_chunk(
    upload_id: str,
    chunk_index: int,
    request: Request,
    expires: str = Query(""),
    signature: str = Query(""),
    ctx: ServerContext = Depends(get_context),
) -> Response:
    """Store one chunk (streamed) and answer its ``ETag``; a chunk may be sent again until it is reported."""
    check_id("upload_id", upload_id)
    url_expires = ctx.presigner.check(upload_id, chunk_index, expires, signature)
    upload = await anyio.to_thread.run_sync(_existing_upload, ctx, upload_id)
    _check_index(upload, chunk_index)
    status = _effective_status(upload, utc_now())
    if status != "active":
        raise _closed(upload.id, status)
    if time.time() >= url_expires:
        raise url_expired()
    folder = chunk_dir(ctx.config.multipart_dir, upload.id)
    etag, size = await receive_chunk(request.stream(), folder, chunk_index, expected_chunk_size(upload, chunk_index))
    try:
        await anyio.to_thread.run_sync(multipart.record_chunk, ctx.store, upload.id, chunk_index, size, etag, utc_now())
    except UploadClosed as exc:
        await anyio.to_thread.run_sync(_drop_unrecorded, ctx, upload.id, chunk_index, etag, exc.args[0])
        raise _closed(upload.id, exc.args[0]) from None
    except ChunkAlreadyCompleted:
        await anyio.to_thread.run_sync(_drop_unrecorded, ctx, upload.id, chunk_index, etag, "active")
        raise ApiError(
            "chunk_already_completed", f"Chunk {chunk_index} was already reported complete; its bytes are final."
        ) from None
    return Response(status_code=200, headers={"ETag": f'"{etag}"'})


def _drop_unrecorded(ctx: ServerContext, upload_id: str, chunk_index: int, etag: str, status: str) -> None:
    """Remove a chunk file the session refused, unless it is byte-identical to the one on record."""
    if status in ("expired", "deleted", "failed"):
        discard_chunks(ctx.config.multipart_dir, upload_id)
        return
    recorded = ctx.store.uploads.chunks(upload_id).get(chunk_index)
    if recorded is None or recorded.etag != etag:
        (chunk_dir(ctx.config.multipart_dir, upload_id) / f"{chunk_index}-{etag}").unlink(missing_ok=True)
