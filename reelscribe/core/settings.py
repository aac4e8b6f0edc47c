"""The one settings object: where the API is and which key to send.

Environment variables are the official SDK's own names, so one shell set-up serves both:
``TWELVELABS_BASE_URL`` (with the version, e.g. ``https://api.twelvelabs.io/v1.3``) and
``TWELVE_LABS_API_KEY``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pydantic import SecretStr

from reelscribe.core.errors import ConfigError
from reelscribe.core.retry import RetryPolicy

BASE_URL_ENV = "TWELVELABS_BASE_URL"
API_KEY_ENV = "TWELVE_LABS_API_KEY"
HTTP_ATTEMPTS_ENV = "REELSCRIBE_HTTP_ATTEMPTS"
DIRECT_UPLOAD_LIMIT_ENV = "REELSCRIBE_DIRECT_UPLOAD_LIMIT"
DIRECT_UPLOAD_LIMIT = 200 * 1000 * 1000
"""Bytes: the platform's cap on ``POST /assets`` with a file; larger files go through a multipart session."""
DEFAULT_BASE_URL = "https://api.twelvelabs.io/v1.3"
SUPPORTED_VERSIONS = ("v1.2", "v1.3")


def default_retry_policy() -> RetryPolicy:
    """The retry budget: ``REELSCRIBE_HTTP_ATTEMPTS`` tries per call (counting the first) if set."""
    raw = os.environ.get(HTTP_ATTEMPTS_ENV, "").strip()
    if not raw:
        return RetryPolicy()
    try:
        attempts = int(raw)
    except ValueError:
        attempts = 0
    if attempts < 1:
        raise ConfigError(f"{HTTP_ATTEMPTS_ENV}={raw!r} must be a whole number of tries, 1 or more")
    return RetryPolicy(max_attempts=attempts)


def default_direct_upload_limit() -> int:
    """``REELSCRIBE_DIRECT_UPLOAD_LIMIT`` bytes if set (tests use a small one), else the platform's 200 MB."""
    raw = os.environ.get(DIRECT_UPLOAD_LIMIT_ENV, "").strip()
    if not raw:
        return DIRECT_UPLOAD_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if limit < 1:
        raise ConfigError(f"{DIRECT_UPLOAD_LIMIT_ENV}={raw!r} must be a whole number of bytes, 1 or more")
    return limit


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
        url = api_url or os.environ.get(BASE_URL_ENV)
        key = api_key or os.environ.get(API_KEY_ENV)
        if not url and not key:
            return None
        return cls(base_url=url or DEFAULT_BASE_URL, api_key=SecretStr(key) if key else None)


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
