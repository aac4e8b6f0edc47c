"""The one settings object (``Environment``) and the connection settings built from it.

Environment variables are the official SDK's own names, so one shell set-up serves both:
``TWELVELABS_BASE_URL`` (with the version, e.g. ``https://api.twelvelabs.io/v1.3``) and
``TWELVE_LABS_API_KEY``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from reelscribe.core.errors import ConfigError
from reelscribe.core.retry import RetryPolicy

BASE_URL_ENV = "TWELVELABS_BASE_URL"
API_KEY_ENV = "TWELVE_LABS_API_KEY"
HTTP_ATTEMPTS_ENV = "REELSCRIBE_HTTP_ATTEMPTS"
HOME_ENV = "REELSCRIBE_HOME"
DIRECT_UPLOAD_LIMIT_ENV = "REELSCRIBE_DIRECT_UPLOAD_LIMIT"
DIRECT_UPLOAD_LIMIT = 200 * 1000 * 1000
"""Bytes: the platform's cap on ``POST /assets`` with a file; larger files go through a multipart session."""
HAND_OFF_EXPIRY_ENV = "REELSCRIBE_HAND_OFF_EXPIRY_S"
HAND_OFF_EXPIRY_S = 6 * 3600
"""Seconds a hand-off URL stays valid: it must outlast the API's queue before it fetches, and the fetch."""
MAX_HAND_OFF_EXPIRY_S = 7 * 24 * 3600
"""S3's limit for a presigned (SigV4) URL."""
DEFAULT_BASE_URL = "https://api.twelvelabs.io/v1.3"
UploadChoice = Literal["auto", "assets", "tasks"]
"""Which way videos go in; ``reelscribe.core.ingest_paths.choose`` maps it to an ingest path, once per batch."""
UPLOAD_CHOICES: tuple[UploadChoice, ...] = get_args(UploadChoice)
SUPPORTED_VERSIONS = ("v1.2", "v1.3")
WHOLE_NUMBERS: dict[str, tuple[str, str, int | None]] = {
    "http_attempts": (HTTP_ATTEMPTS_ENV, "tries", None),
    "direct_upload_limit": (DIRECT_UPLOAD_LIMIT_ENV, "bytes", None),
    "hand_off_expiry_s": (HAND_OFF_EXPIRY_ENV, "seconds", MAX_HAND_OFF_EXPIRY_S),
}
"""``Environment``'s counts: the variable, its unit and its largest value (``None``: no limit); the least is 1."""


class Environment(BaseSettings):
    """Every environment variable reelscribe reads, read here and nowhere else.

    Read afresh on each call of ``Environment()``, so a changed variable takes effect at once.
    """

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=True)

    base_url: str | None = Field(None, validation_alias=BASE_URL_ENV)
    api_key: SecretStr | None = Field(None, validation_alias=API_KEY_ENV)
    http_attempts: int | None = Field(None, validation_alias=HTTP_ATTEMPTS_ENV)
    home: Path | None = Field(None, validation_alias=HOME_ENV)
    xdg_data_home: Path | None = Field(None, validation_alias="XDG_DATA_HOME")
    # The AWS chain (botocore, for s3fs) reads its own variables; delta-rs needs the endpoint given.
    aws_endpoint_url: str | None = Field(None, validation_alias=AliasChoices("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"))
    direct_upload_limit: int | None = Field(None, validation_alias=DIRECT_UPLOAD_LIMIT_ENV)
    hand_off_expiry_s: int | None = Field(None, validation_alias=HAND_OFF_EXPIRY_ENV)

    @field_validator(
        "base_url", "api_key", "http_attempts", "home", "xdg_data_home", "direct_upload_limit", "aws_endpoint_url",
        "hand_off_expiry_s", mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(*WHOLE_NUMBERS, mode="wrap")
    @classmethod
    def _whole_number_in_range(cls, value: object, handler, info: ValidationInfo) -> int | None:
        """A count in its range (``WHOLE_NUMBERS``), else a ``ConfigError`` naming the variable."""
        try:
            number = handler(value)
        except ValidationError:
            number = 0
        variable, unit, most = WHOLE_NUMBERS[info.field_name]
        if number is not None and (number < 1 or (most is not None and number > most)):
            bounds = ", 1 or more" if most is None else f" from 1 to {most} ({most / 86400:g} days)"
            raise ConfigError(f"{variable}={value!r} must be a whole number of {unit}{bounds}")
        return number

    @property
    def data_home(self) -> Path:
        """Where reelscribe keeps state between runs (the embedded server's data)."""
        if self.home is not None:
            return self.home.expanduser()
        return (self.xdg_data_home or Path.home() / ".local" / "share") / "reelscribe"


def default_retry_policy() -> RetryPolicy:
    """The retry budget: ``REELSCRIBE_HTTP_ATTEMPTS`` tries per call (counting the first) if set."""
    attempts = Environment().http_attempts
    return RetryPolicy() if attempts is None else RetryPolicy(max_attempts=attempts)


def default_direct_upload_limit() -> int:
    """``REELSCRIBE_DIRECT_UPLOAD_LIMIT`` bytes if set (tests use a small one), else the platform's 200 MB."""
    limit = Environment().direct_upload_limit
    return DIRECT_UPLOAD_LIMIT if limit is None else limit


def default_hand_off_expiry() -> int:
    """``REELSCRIBE_HAND_OFF_EXPIRY_S`` seconds if set, else 6 hours."""
    seconds = Environment().hand_off_expiry_s
    return HAND_OFF_EXPIRY_S if seconds is None else seconds


@dataclass(frozen=True)
class Settings:
    """Connection settings. ``api_key`` stays a ``SecretStr`` until the client sets the header.

    ``retry`` is the budget every client built from these settings uses for transient failures
    (connection errors, 5xx, 429); by default 8 tries per call, or ``REELSCRIBE_HTTP_ATTEMPTS``.
    """

    base_url: str
    api_key: SecretStr | None = field(default=None, repr=False)
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    retry: RetryPolicy = field(default_factory=default_retry_policy)
    direct_upload_limit: int = field(default_factory=default_direct_upload_limit)
    hand_off_expiry_s: int = field(default_factory=default_hand_off_expiry)

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", normalise_base_url(self.base_url))

    @property
    def api_version(self) -> str:
        return api_version_of(self.base_url)

    @classmethod
    def from_env(cls, api_url: str | None = None, api_key: str | None = None) -> "Settings | None":
        """Settings from arguments, then the environment; ``None`` when neither names a server.

        ``None`` tells callers to use the embedded local server instead.
        """
        env = Environment()
        url = api_url or env.base_url
        key = SecretStr(api_key) if api_key else env.api_key
        if not url and key is None:
            return None
        return cls(base_url=url or DEFAULT_BASE_URL, api_key=key)


def normalise_base_url(url: str) -> str:
    """Strip the trailing slash and check the URL names a supported API version."""
    url = (url or "").strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"API URL {url!r} is not an http(s) URL (e.g. {DEFAULT_BASE_URL})")
    api_version_of(url)
    return url


def api_version_of(url: str) -> str:
    """``v1.2`` or ``v1.3`` from the last path segment of a base URL."""
    version = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    if version not in SUPPORTED_VERSIONS:
        raise ConfigError(
            f"API URL {url!r} must end with an API version, one of {', '.join(SUPPORTED_VERSIONS)}"
            f" (e.g. {DEFAULT_BASE_URL})"
        )
    return version
