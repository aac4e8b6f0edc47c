"""The assets path's upload: get a video into an index exactly once (the successor of ``POST /tasks``).

Upload the file as an asset (``POST /assets``, or a multipart session above the direct limit),
wait until the asset is ``ready``, then index it (``POST /indexes/{id}/indexed-assets``). Each
create is found again before it is re-sent (``reelscribe.core.ingest.create_once``): the asset
by the content hash reelscribe writes into its ``user_metadata`` (an asset belongs to the account,
not to an index, so one upload serves every index), the indexed asset by its asset id.
A multipart upload whose answers were lost, or whose run died, is resumed: the session says which
chunks it already has, and only the others are sent again. A session that expired first leaves its
asset unusable (the server fails it); the next run, finding no usable asset, uploads anew.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from reelscribe.core.claims import ACCOUNT_SCOPE, ClaimStore
from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.errors import ApiError, ApiNotFound, ConfigError, TransientError
from reelscribe.core.ingest import META_SHA256, META_SOURCE, create_once, upload_name
from reelscribe.core.ingest_paths.base import Submission
from reelscribe.core.models import Asset, AssetStatus, IndexedAsset, IndexedAssetStatus, MultipartSession, UploadUrl
from reelscribe.core.sources import SourceKind, VideoSource, open_source, source_size
from reelscribe.core.stores import NO_STORE_OPTIONS, StoreOptions
from reelscribe.core.waiting import WaitOptions, wait_until_asset_ready

log = logging.getLogger(__name__)

REPORT_BATCH = 8
"""Chunks reported together; a resumed session re-sends at most this many unreported chunks."""


@dataclass(frozen=True)
class _Session:
    """What sending a multipart upload's chunks needs, from its creation or from the server's list."""

    upload_id: str
    asset_id: str
    chunk_size: int
    total_chunks: int
    headers: dict[str, str]


def submit_asset(
    client: TwelveLabsClient,
    index_id: str,
    source: VideoSource,
    sha256: str,
    *,
    claims: ClaimStore,
    direct_limit: int,
    options: WaitOptions = WaitOptions(),
    sleep: Callable[[float], None] = time.sleep,
    store: StoreOptions = NO_STORE_OPTIONS,
) -> Submission:
    """Find or upload ``source``'s asset, wait until it is ready, then find or create its indexed asset.

    ``claims`` makes concurrent runs take turns (the tasks path's lock): per content for the asset
    (``ACCOUNT_SCOPE``), per index and content for the indexed asset. The asset made for a content is
    remembered there, so a later run reuses it whatever the file is called by then.
    """
    with claims.hold(ACCOUNT_SCOPE, sha256):
        asset = ensure_asset(client, source, sha256, direct_limit=direct_limit, sleep=sleep, store=store,
                             known=claims.recall(ACCOUNT_SCOPE, sha256))
        claims.remember(ACCOUNT_SCOPE, sha256, asset.id)
    if asset.status is not AssetStatus.READY:
        asset = wait_until_asset_ready(client, asset.id, options, sleep=sleep)
    with claims.hold(index_id, sha256):
        indexed, reused = ensure_indexed_asset(client, index_id, asset.id, _metadata(source, sha256), sleep=sleep)
    return Submission(source, sha256, job_id=indexed.id, video_id=indexed.id, asset_id=asset.id, reused=reused)


def ensure_asset(
    client: TwelveLabsClient,
    source: VideoSource,
    sha256: str,
    *,
    direct_limit: int,
    sleep: Callable[[float], None] = time.sleep,
    store: StoreOptions = NO_STORE_OPTIONS,
    known: str | None = None,
) -> Asset:
    """The asset holding this content: the ``known`` one (remembered by an earlier run), else found by
    hash, else uploaded once; an unfinished multipart upload is resumed."""
    if direct_limit < 1:
        raise ConfigError(f"the direct upload limit must be a positive number of bytes, got {direct_limit!r}")
    name = upload_name(source, sha256)
    asset = (_usable(client, known, sha256) if known else None) or find_asset_for(client, sha256, name)
    if asset is None:
        created, _ = create_once(
            client,
            lambda: _create(client, source, name, _metadata(source, sha256), direct_limit, store),
            lambda: find_asset_for(client, sha256, name),
            what=f"upload of {source.name} as an asset",
            sleep=sleep,
        )
        if isinstance(created, MultipartSession):
            _send_chunks(client, _from_created(created), source, urls=created.upload_urls, store=store)
            return client.get_asset(created.asset_id)
        asset = created
    if asset.status is AssetStatus.PROCESSING and asset.method == "multipart":
        session = _open_session_of(client, asset.id)
        if session is not None:
            _send_chunks(client, session, source, resume=True, store=store)
    return asset


def _usable(client: TwelveLabsClient, asset_id: str, sha256: str) -> Asset | None:
    """The remembered asset, if the server still holds it for this content and it has not failed."""
    try:
        asset = client.get_asset(asset_id)
    except ApiNotFound:
        return None
    if asset.status is AssetStatus.FAILED or (asset.user_metadata or {}).get(META_SHA256) != sha256:
        return None
    return asset


def find_asset_for(client: TwelveLabsClient, sha256: str, filename: str) -> Asset | None:
    """An asset, not failed, whose metadata carries this content hash; a ready one first."""
    matches = [
        asset
        for asset in client.iter_assets(filename=filename)
        if asset.status is not AssetStatus.FAILED and (asset.user_metadata or {}).get(META_SHA256) == sha256
    ]
    matches.sort(key=lambda asset: asset.status is not AssetStatus.READY)
    return matches[0] if matches else None


def ensure_indexed_asset(
    client: TwelveLabsClient,
    index_id: str,
    asset_id: str,
    metadata: dict,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[IndexedAsset, bool]:
    """The asset's indexed asset in ``index_id``: found by asset id, else created once. ``(it, reused)``."""
    found = find_indexed_asset_for(client, index_id, asset_id)
    if found is not None:
        return found, True
    created, reused = create_once(
        client,
        lambda: client.create_indexed_asset(index_id, asset_id, user_metadata=metadata),
        lambda: find_indexed_asset_for(client, index_id, asset_id),
        what=f"indexing asset {asset_id}",
        conflict=lambda exc: exc.status == 409,
        sleep=sleep,
    )
    if reused:
        return created, True
    return client.get_indexed_asset(index_id, created.id), False


def find_indexed_asset_for(client: TwelveLabsClient, index_id: str, asset_id: str) -> IndexedAsset | None:
    """The indexed asset of ``asset_id`` in ``index_id`` that has not failed, if any."""
    for indexed in client.iter_indexed_assets(index_id):
        if indexed.asset_id == asset_id and indexed.status is not IndexedAssetStatus.FAILED:
            return indexed
    return None


def _metadata(source: VideoSource, sha256: str) -> dict[str, str]:
    return {META_SHA256: sha256, META_SOURCE: source.name}


def _create(
    client: TwelveLabsClient, source: VideoSource, name: str, metadata: dict, direct_limit: int,
    store: StoreOptions = NO_STORE_OPTIONS,
) -> Asset | MultipartSession:
    """One create: an asset by URL or by direct upload, or (above ``direct_limit`` bytes) a
    multipart session, whose asset is reserved at once with the metadata. Its chunks are sent
    after the create, outside its retries, so that no layer multiplies another's tries."""
    if source.kind == SourceKind.URL:
        return client.create_asset(url=source.uri, filename=name, user_metadata=metadata)
    size = source_size(source, store)
    if size > direct_limit:
        return client.create_multipart_upload(name, size, user_metadata=metadata)
    with open_source(source, store) as stream:
        return client.create_asset(file=(name, stream), filename=name, user_metadata=metadata)


def _from_created(created: MultipartSession) -> _Session:
    return _Session(created.upload_id, created.asset_id, created.chunk_size, created.total_chunks, created.upload_headers or {})


def _open_session_of(client: TwelveLabsClient, asset_id: str) -> _Session | None:
    """The unfinished upload session of a reserved asset, if the server still lists it."""
    for upload in client.iter_incomplete_uploads():
        if upload.asset_id == asset_id and upload.status == "active" and upload.chunk_size and upload.total_chunks:
            return _Session(upload.upload_id, asset_id, upload.chunk_size, upload.total_chunks, {})
    return None


def _send_chunks(
    client: TwelveLabsClient,
    session: _Session,
    source: VideoSource,
    urls: list[UploadUrl] = (),
    *,
    resume: bool = False,
    store: StoreOptions = NO_STORE_OPTIONS,
) -> None:
    """Send the chunks the session lacks, one at a time (memory: one chunk), reporting them in batches.

    One retry layer: each chunk's ``PUT`` and each report is retried by the client alone (at most
    its policy's ``max_attempts`` tries). A chunk that still fails ends this run; the next run
    ``resume``s: the session says which chunks it already has, and only the rest are sent.
    """
    have: set[int] = set()
    if resume:
        status = client.get_multipart_upload(session.upload_id)
        if status.status == "completed":
            return
        if not status.is_active:
            raise ApiError(409, f"upload_{status.status}", f"the upload session is {status.status}",
                           method="GET", path="assets/multipart-uploads")
        have = {chunk.index for chunk in status.uploaded_chunks if chunk.status == "completed"}
    _send_round(client, session, source, have, {url.chunk_index: url.url for url in urls}, store)


def _send_round(
    client: TwelveLabsClient, session: _Session, source: VideoSource, have: set[int], known: dict[int, str],
    store: StoreOptions = NO_STORE_OPTIONS,
) -> None:
    """One pass over the chunks not in ``have``; ``have`` grows as reports are accepted."""
    pending: list[dict] = []
    with open_source(source, store) as stream:
        for index in range(1, session.total_chunks + 1):
            if index in have:
                continue
            stream.seek((index - 1) * session.chunk_size)
            data = stream.read(session.chunk_size)
            etag = _put(client, session, index, data, known)
            pending.append({"chunk_index": index, "proof": etag, "proof_type": "etag", "chunk_size": len(data)})
            if len(pending) == REPORT_BATCH or index == session.total_chunks:
                client.report_chunks(session.upload_id, pending)
                have.update(chunk["chunk_index"] for chunk in pending)
                pending = []
    if pending:
        client.report_chunks(session.upload_id, pending)
        have.update(chunk["chunk_index"] for chunk in pending)


def _put(client: TwelveLabsClient, session: _Session, index: int, data: bytes, known: dict[int, str]) -> str:
    """``PUT`` one chunk; a URL the server refuses (used or expired) is replaced by a fresh one, once."""
    for fresh in (False, True):
        url = None if fresh else known.pop(index, None)
        if url is None:
            url = _fresh_url(client, session, index, known)
        try:
            return client.put_chunk(url, data, session.headers)
        except TransientError:
            raise
        except ApiError as exc:
            if fresh:
                raise
            log.info("multipart upload %s: chunk %d URL refused (%s); asking for a fresh one", session.upload_id, index, exc)
    raise AssertionError("unreachable")


def _fresh_url(client: TwelveLabsClient, session: _Session, index: int, known: dict[int, str]) -> str:
    """A URL for chunk ``index``, asking for the next batch of URLs at once (fewer requests)."""
    count = min(REPORT_BATCH, session.total_chunks - index + 1)
    for url in client.presigned_urls(session.upload_id, index, count):
        known[url.chunk_index] = url.url
    if index not in known:
        raise ApiError(200, "malformed_response", f"no presigned URL for chunk {index}",
                       method="POST", path="assets/multipart-uploads/presigned-urls")
    return known.pop(index)
