"""Background work of the assets path: assets ``processing → ready|failed`` and indexed assets
``pending → queued → validating → indexing → ready|failed``.

One ``assets`` thread expires stale multipart sessions, fetches ``url`` assets, assembles completed
multipart uploads and probes every asset; it also moves newly accepted indexed assets from
``pending`` to ``queued``. ``workers`` indexing threads validate (probe, duration limits) and
transcribe queued indexed assets with the same engine and pool as the tasks path. Every transition
is in SQLite first, so a restart resumes: ``processing`` assets are processed again from their bytes
on disk, indexed assets caught ``validating`` or ``indexing`` go back to ``queued``. A multipart
upload's chunks are deleted once the assembled file is in place (it is written under a temporary
name and renamed, so its presence means it is whole).

Asset files live in ``assets/<asset_id>`` while the asset exists (an asset can be indexed into
several indexes), apart from ``media/``, which holds only the tasks path's videos.
"""

from __future__ import annotations

import logging
from pathlib import Path

from reelscribe.server.config import ServerConfig
from reelscribe.server.ids import utc_now
from reelscribe.server.indexing import MediaRejected, checked_media, fetch_into, measures, transcribed
from reelscribe.server.media import BrokenMedia, probe
from reelscribe.server.multipart import assemble, discard_chunks, expire_uploads
from reelscribe.server.pool import IndexingPath, Stage
from reelscribe.server.store import AssetRow, IndexedAssetRow
from reelscribe.server.urlfetch import UrlFetchError
from reelscribe.server.webhooks import Completion

log = logging.getLogger(__name__)


def asset_path(config: ServerConfig, asset_id: str) -> Path:
    """Where an asset's bytes live; named by the generated id only, never by a client's file name."""
    return config.assets_dir / asset_id


class AssetWorkers(IndexingPath):
    """The assets path's stages on the server's worker pool; ``wake_assets()`` after accepting an
    asset or an indexed asset."""

    def stages(self) -> tuple[Stage, ...]:
        return (
            Stage("assets", self._next_asset, self._process, self._asset_crashed),
            Stage("asset-indexer", self._next_to_index, self._index, self._index_crashed, threads=self.config.workers),
        )

    def wake_assets(self) -> None:
        self.pool.wake("assets")

    def recover(self) -> None:
        """Drop files no asset or live upload session refers to (left by a crash or a deletion), and
        put indexed assets caught ``validating`` or ``indexing`` back to ``queued``."""
        self.config.assets_dir.mkdir(parents=True, exist_ok=True)
        self.config.multipart_dir.mkdir(parents=True, exist_ok=True)
        keep = self.store.assets.ids()
        for path in self.config.assets_dir.iterdir():
            if path.name not in keep:
                path.unlink(missing_ok=True)
        live = self.store.uploads.needing_chunks()
        for folder in self.config.multipart_dir.iterdir():
            if folder.name not in live:
                discard_chunks(self.config.multipart_dir, folder.name)
                continue
            for partial in folder.glob("*.part"):
                partial.unlink(missing_ok=True)
        requeued = self.store.indexed_assets.requeue_interrupted()
        if requeued:
            log.info("resuming %d indexed asset(s) interrupted while validating or indexing", requeued)

    # Assets

    def _next_asset(self) -> AssetRow | None:
        """Housekeeping first (expired uploads, newly accepted indexed assets), then the next asset."""
        for upload in expire_uploads(self.store, utc_now()):
            log.info("multipart upload %s expired; asset %s failed", upload.id, upload.asset_id)
            discard_chunks(self.config.multipart_dir, upload.id)
        promoted = False
        while self.store.indexed_assets.claim("pending", "queued") is not None:
            promoted = True
        if promoted:
            self.pool.wake("asset-indexer")
        return self.store.assets.next_processable()

    def _asset_crashed(self, asset: AssetRow, exc: Exception) -> None:
        self._fail_asset(asset, f"Processing failed: {type(exc).__name__}.")

    def _fail_asset(self, asset: AssetRow, message: str) -> None:
        """Files first, then the status, so a client that sees ``failed`` sees nothing left on disk."""
        log.info("asset %s failed: %s", asset.id, message)
        asset_path(self.config, asset.id).unlink(missing_ok=True)
        self._discard_upload(asset)
        self.store.assets.update(asset.id, status="failed", error_message=message)

    def _discard_upload(self, asset: AssetRow) -> None:
        if asset.method == "multipart":
            upload = self.store.uploads.for_asset(asset.id)
            if upload is not None:
                discard_chunks(self.config.multipart_dir, upload.id)

    def _process(self, asset: AssetRow) -> None:
        """Get the bytes into ``assets/<id>`` (fetch or assemble), probe; the asset ends ``ready`` or ``failed``."""
        path = asset_path(self.config, asset.id)
        size = asset.size
        if asset.method == "url":
            try:
                size = fetch_into(self.config, asset.source_url or "", path)
            except UrlFetchError as exc:
                self._fail_asset(asset, exc.message)
                return
        elif asset.method == "multipart":
            if not path.exists():
                upload = self.store.uploads.for_asset(asset.id)
                if upload is None:
                    return
                assemble(self.config.multipart_dir, upload, self.store.uploads.chunks(upload.id), path)
            self._discard_upload(asset)
            size = path.stat().st_size
        try:
            info = probe(path)
        except BrokenMedia as exc:
            self._fail_asset(asset, f"The file is not a readable video or audio file: {exc}.")
            return
        ready = self.store.assets.update(
            asset.id,
            status="ready",
            size=size,
            **measures(info),
            has_audio=info.has_audio,
        )
        if not ready:
            path.unlink(missing_ok=True)
        log.info("asset %s ready (%s, %.2f s)", asset.id, asset.method, info.duration)

    # Indexed assets

    def _fail_indexed(self, row: IndexedAssetRow, status: str, code: str, message: str) -> None:
        log.info("indexed asset %s failed: %s (%s)", row.id, code, message)
        if self.store.indexed_assets.update(row.id, status, status="failed", error_code=code, error_message=message):
            self.completed(Completion(row.id, row.index_id, "failed", row.duration))

    def _index_crashed(self, row: IndexedAssetRow, exc: Exception) -> None:
        current = self.store.indexed_assets.get(row.index_id, row.id)
        if current is not None:
            self._fail_indexed(row, current.status, "internal_error", f"Indexing failed: {type(exc).__name__}.")

    def _next_to_index(self) -> IndexedAssetRow | None:
        return self.store.indexed_assets.claim("queued", "validating")

    def _index(self, row: IndexedAssetRow) -> None:
        path = asset_path(self.config, row.asset_id)
        asset = self.store.assets.get(row.asset_id)
        if asset is None or not path.exists():
            self._fail_indexed(row, "validating", "asset_deleted", f"Asset {row.asset_id} was deleted before it was indexed.")
            return
        try:
            info = checked_media(self.config, path)
        except MediaRejected as exc:
            self._fail_indexed(row, "validating", exc.code, exc.message)
            return
        moved = self.store.indexed_assets.update(
            row.id,
            "validating",
            status="indexing",
            size=asset.size,
            **measures(info),
        )
        if not moved or self.pool.delayed():
            return
        try:
            segments, language_info = transcribed(self.engine, path, self.pool.stopping.is_set)
        except MediaRejected as exc:
            self._fail_indexed(row, "indexing", exc.code, exc.message)
            return
        if self.store.indexed_assets.finish(row.id, segments or None, language_info):
            log.info("indexed asset %s ready: %d segment(s)", row.id, len(segments))
            self.completed(Completion(row.id, row.index_id, "ready", info.duration))
