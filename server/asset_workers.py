"""Background work of the assets path: assets ``processing → ready|failed`` and indexed assets
``pending → queued → validating → indexing → ready|failed``.

One ``assets`` thread expires stale multipart sessions, fetches ``url`` assets, assembles completed
multipart uploads and probes every asset; it also moves newly accepted indexed assets from
``pending`` to ``queued``. ``workers`` indexing threads validate (probe, duration limits) and
transcribe queued indexed assets with the same engine as the tasks path. Every transition is in
SQLite first, so a restart resumes: ``processing`` assets are processed again from their bytes on
disk, indexed assets caught ``validating`` or ``indexing`` go back to ``queued``. A multipart
upload's chunks are deleted once the assembled file is in place (it is written under a temporary
name and renamed, so its presence means it is whole).

Asset files live in ``assets/<asset_id>`` while the asset exists (an asset can be indexed into
several indexes), apart from ``media/``, which holds only the tasks path's videos.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from reelscribe.server.asr import AsrEngine, TranscriptionStopped, UnsupportedSpeech
from reelscribe.server.config import ServerConfig
from reelscribe.server.faults import indexing_delay
from reelscribe.server.ids import utc_now
from reelscribe.server.media import BrokenMedia, probe
from reelscribe.server.multipart import assemble, discard_chunks, expire_uploads
from reelscribe.server.store import AssetRow, IndexedAssetRow, Store
from reelscribe.server.urlfetch import UrlFetchError, UrlRules, fetch_url
from reelscribe.server.steps import StepThreads
from reelscribe.server.webhooks import Completion, CompletionHook, no_webhook
from reelscribe.server.workers import duration_problem, transcribe_media

log = logging.getLogger(__name__)


def asset_path(config: ServerConfig, asset_id: str) -> Path:
    """Where an asset's bytes live; named by the generated id only, never by a client's file name."""
    return config.assets_dir / asset_id


class AssetWorkers:
    """Owns the assets-path threads; ``wake_assets()`` after accepting an asset or an indexed asset."""

    def __init__(
        self, config: ServerConfig, store: Store, engine: AsrEngine, completed: CompletionHook = no_webhook
    ) -> None:
        self.config = config
        self.store = store
        self.engine = engine
        self._completed = completed
        self._steps = StepThreads()
        self._assets_wake = threading.Event()
        self._index_wake = threading.Event()

    def start(self) -> None:
        self._prepare_disk()
        requeued = self.store.indexed_assets.requeue_interrupted()
        if requeued:
            log.info("resuming %d indexed asset(s) interrupted while validating or indexing", requeued)
        self._steps.spawn("assets", self._assets_wake, self._assets_step)
        for number in range(self.config.workers):
            self._steps.spawn(f"asset-indexer-{number}", self._index_wake, self._index_next)

    def stop(self, timeout: float = 10.0) -> None:
        self._steps.stop(timeout)

    def wake_assets(self) -> None:
        self._assets_wake.set()

    def _prepare_disk(self) -> None:
        """Drop files no asset or live upload session refers to (left by a crash or a deletion)."""
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

    # Assets

    def _assets_step(self) -> bool:
        for upload in expire_uploads(self.store, utc_now()):
            log.info("multipart upload %s expired; asset %s failed", upload.id, upload.asset_id)
            discard_chunks(self.config.multipart_dir, upload.id)
        promoted = False
        while self.store.indexed_assets.claim("pending", "queued") is not None:
            promoted = True
        if promoted:
            self._index_wake.set()
        asset = self.store.assets.next_processable()
        if asset is None:
            return promoted
        try:
            self._process(asset)
        except Exception as exc:
            log.exception("processing of asset %s failed", asset.id)
            self._fail_asset(asset, f"Processing failed: {type(exc).__name__}.")
        return True

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
                size = self._fetch(asset.source_url or "", path)
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
            duration=info.duration,
            width=info.width,
            height=info.height,
            fps=info.fps,
            has_audio=info.has_audio,
        )
        if not ready:
            path.unlink(missing_ok=True)
        log.info("asset %s ready (%s, %.2f s)", asset.id, asset.method, info.duration)

    def _fetch(self, url: str, path: Path) -> int:
        """The same bounded, rule-checked fetch as the tasks path's ``video_url``."""
        partial = path.with_name(path.name + ".part")
        size = fetch_url(
            url,
            partial,
            timeout=self.config.url_timeout,
            max_bytes=self.config.url_max_bytes,
            rules=UrlRules.of(self.config),
        )
        partial.replace(path)
        return size

    # Indexed assets

    def _fail_indexed(self, row: IndexedAssetRow, status: str, code: str, message: str) -> None:
        log.info("indexed asset %s failed: %s (%s)", row.id, code, message)
        if self.store.indexed_assets.update(row.id, status, status="failed", error_code=code, error_message=message):
            self._completed(Completion(row.id, row.index_id, "failed", row.duration))

    def _index_next(self) -> bool:
        row = self.store.indexed_assets.claim("queued", "validating")
        if row is None:
            return False
        try:
            self._index(row)
        except TranscriptionStopped:
            pass
        except Exception as exc:
            log.exception("indexing of indexed asset %s failed", row.id)
            current = self.store.indexed_assets.get(row.index_id, row.id)
            if current is not None:
                self._fail_indexed(row, current.status, "internal_error", f"Indexing failed: {type(exc).__name__}.")
        return True

    def _index(self, row: IndexedAssetRow) -> None:
        path = asset_path(self.config, row.asset_id)
        asset = self.store.assets.get(row.asset_id)
        if asset is None or not path.exists():
            self._fail_indexed(row, "validating", "asset_deleted", f"Asset {row.asset_id} was deleted before it was indexed.")
            return
        try:
            info = probe(path)
        except BrokenMedia as exc:
            self._fail_indexed(row, "validating", "video_file_broken", f"The video file is broken or not a video: {exc}.")
            return
        problem = duration_problem(info.duration, self.config.min_duration, self.config.max_duration)
        if problem is not None:
            self._fail_indexed(row, "validating", *problem)
            return
        moved = self.store.indexed_assets.update(
            row.id,
            "validating",
            status="indexing",
            size=asset.size,
            duration=info.duration,
            width=info.width,
            height=info.height,
            fps=info.fps,
        )
        if not moved:
            return
        if indexing_delay(self.config.fault_latency, self.config.fault_hold_file, self._steps.stopping):
            return
        try:
            segments, language_info = transcribe_media(self.engine, path, self._steps.stopping.is_set)
        except BrokenMedia as exc:
            self._fail_indexed(row, "indexing", "video_file_broken", f"The audio could not be decoded: {exc}.")
            return
        except UnsupportedSpeech as exc:
            self._fail_indexed(row, "indexing", exc.code, str(exc))
            return
        if self.store.indexed_assets.finish(row.id, segments or None, language_info):
            log.info("indexed asset %s ready: %d segment(s)", row.id, len(segments))
            self._completed(Completion(row.id, row.index_id, "ready", info.duration))
