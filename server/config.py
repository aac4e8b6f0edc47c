"""The server's settings: one frozen dataclass holding every default and constraint, read everywhere.

The CLI takes its defaults from here and pydantic checks the declared constraints when a config is
built (from the command line or in Python), so a bad value is refused the same way either way. This
is also the one place the server reads environment variables (:data:`KEYS_ENV`, and where the model
cache goes: :func:`default_model_cache`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic.dataclasses import dataclass

from reelscribe.server.asr import AUTO_LANGUAGE, DEFAULT_BATCH_SIZE, DEFAULT_LANGUAGE_THRESHOLD
from reelscribe.server.index_lookup import DB_FILE
from reelscribe.server.models import BUNDLED_MODEL
from reelscribe.server.netguard import IPNetwork

API_VERSION = "1.3"
GIB = 1024**3
DEFAULT_PORT = 8765
KEYS_ENV = "REELSCRIBE_SERVER_API_KEYS"
HOME_ENV = "REELSCRIBE_HOME"
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


def default_model_cache(environ: Mapping[str, str]) -> Path:
    """``$REELSCRIBE_HOME/models``, else ``$XDG_CACHE_HOME/reelscribe/models`` (``~/.cache`` by default)."""
    if environ.get(HOME_ENV):
        return Path(environ[HOME_ENV]).expanduser() / "models"
    return Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "reelscribe" / "models"


def whisper_languages() -> tuple[str, ...]:
    """The language codes Whisper knows (``en``, ``de``, …)."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return tuple(_LANGUAGE_CODES)


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
    model: str = BUNDLED_MODEL
    model_cache: Path | None = None
    language: str = AUTO_LANGUAGE
    language_threshold: Share = DEFAULT_LANGUAGE_THRESHOLD
    compute_type: str = "int8"
    cpu_threads: Annotated[int, Field(ge=0)] = 0
    vad: bool = True
    batch_size: Annotated[int, Field(ge=0)] = DEFAULT_BATCH_SIZE
    speakers: bool = False
    """Label the utterances' speakers (server/speakers.py; needs the ``speakers`` extra)."""
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
    fault_hold_file: Path | None = None
    """While this file exists, work that reached ``indexing`` waits there (a test releases it by deleting the file)."""
    log_level: LogLevel = "info"
    multipart_chunk_size: Count = 16 * 1024 * 1024
    multipart_ttl: PositiveSeconds = 24 * 3600.0
    webhook_url: str | None = None
    webhook_secret: str | None = Field(default=None, repr=False)
    webhook_attempts: Count = 8
    webhook_backoff: PositiveSeconds = 1.0

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value != AUTO_LANGUAGE and value not in whisper_languages():
            raise ValueError(f"{value!r} is not a Whisper language code (auto, en, de, es, fr, …)")
        return value

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
    def model_cache_dir(self) -> Path:
        """Where models joined from packages (``--model base``) are kept: :func:`default_model_cache` unless given."""
        return self.model_cache or default_model_cache(os.environ)

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
        return self.data_dir / DB_FILE
