"""Object stores (``s3://``, ``gs://``, any fsspec URL) for sources and the lake, checked up front.

Credentials and endpoint come from the store's own standard chain (for S3 botocore's:
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, ``AWS_ENDPOINT_URL``, config
files, instance roles), or from a Prefect storage block (``reelscribe.tasks.storage``), whose
options each task passes to every filesystem it opens: a lake's ``**storage_options``, or the
run's ``StoreOptions`` where many sources are read. No process-wide fsspec default
is written.

Every filesystem is built here (``filesystem``), so each store has one retry layer, set once:
for S3, ``reelscribe.core.s3_retry`` in place of botocore's ``standard`` mode handler, with
``REELSCRIBE_HTTP_ATTEMPTS`` tries of each request (default 8; it retries ``429 Too Many
Requests`` with or without ``Retry-After``, ``503 SlowDown``, ``500 InternalError``, other 5xx,
throttling codes and lost connections, with exponential backoff), and s3fs's own retry loop,
which would wrap botocore's (one request up to 8 x 5 times), off (one try). delta-rs has its own
client (object_store), which retries 5xx, 429 and lost connections itself.

``check_lake`` writes and deletes one small object before a run creates an index or uploads a
video, so a missing driver, an unknown bucket or refused credentials end the run at once with
one line naming the problem and the fix (``StoreError``), instead of a traceback after uploads.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlsplit

import fsspec
from fsspec.implementations.local import LocalFileSystem

from reelscribe.core.errors import StoreError
from reelscribe.core.settings import default_retry_policy

PROBE_DIR = "_claims"
_CREDENTIALS_FIX = {
    "s3": "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), and AWS_ENDPOINT_URL "
    "for an S3-compatible store, or name a storage block",
    "gs": "set GOOGLE_APPLICATION_CREDENTIALS or run `gcloud auth application-default login`",
}
_BUCKET_SCHEMES = {"s3", "s3a", "gs", "gcs", "az", "abfs"}
_DRIVERS = {"s3": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs"}


_S3_SCHEMES = {"s3", "s3a"}
S3_RETRY_MODE = "standard"


@dataclass(frozen=True)
class StoreOptions:
    """The s3fs options (credentials, endpoint, region) of a run's ``s3://`` locations, from its
    storage block; empty: the standard AWS chain. Built where a task runs, never a parameter, and
    ``repr`` never shows them."""

    s3: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def of(self, location: str) -> dict[str, Any]:
        """The options for ``location``: the block's for an ``s3://`` one, none for any other."""
        return dict(self.s3) if _is_s3(location) else {}


NO_STORE_OPTIONS = StoreOptions()


def filesystem(location: str, **storage_options: Any) -> tuple[fsspec.AbstractFileSystem, str]:
    """``fsspec.core.url_to_fs`` with the store's one retry layer (``with_retries``); S3 through
    ``S3Store``."""
    options = with_retries(location, storage_options)
    if not _is_s3(location):
        return fsspec.core.url_to_fs(location, **options)
    from reelscribe.core.s3_store import S3Store  # s3fs's import (botocore) only where S3 is used

    fs = S3Store(**options)
    fs.retries = 1  # s3fs takes its own loop's tries only as this attribute: one try, botocore retries
    return fs, fs._strip_protocol(location)


def with_retries(location: str, storage_options: dict[str, Any]) -> dict[str, Any]:
    """``storage_options`` plus botocore's retry settings for an S3 location, unless they set their own."""
    if not _is_s3(location):
        return storage_options
    config = dict(storage_options.get("config_kwargs") or {})
    config.setdefault("retries", {"total_max_attempts": default_retry_policy().max_attempts, "mode": S3_RETRY_MODE})
    return {**storage_options, "config_kwargs": config}


def _is_s3(location: str) -> bool:
    return urlsplit(location).scheme.lower() in _S3_SCHEMES


def open_store(location: str, **storage_options: Any) -> tuple[fsspec.AbstractFileSystem, str]:
    """``filesystem`` whose failure to even build a filesystem is a ``StoreError`` with the fix."""
    try:
        return filesystem(location, **storage_options)
    except ImportError as exc:
        raise store_error(location, exc) from exc
    except ValueError as exc:
        raise StoreError(f"{location}: not a usable location ({exc})") from exc


def protocols(fs: fsspec.AbstractFileSystem) -> tuple[str, ...]:
    """The filesystem's protocol names (fsspec gives one name or a tuple)."""
    return (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)


def bucket_missing(fs: fsspec.AbstractFileSystem, path: str) -> bool:
    """Whether ``path`` lies in a bucket that does not exist (only for stores with buckets)."""
    if not set(protocols(fs)) & _BUCKET_SCHEMES:
        return False
    return not fs.exists(path.strip("/").split("/", 1)[0])


def check_lake(out: str, **storage_options: Any) -> None:
    """Prove that the lake's store takes a write and a delete; raise ``StoreError`` if not.

    Local paths are not probed: the writer creates their folders, and the OS error is clear.
    """
    fs, root = open_store(out, **storage_options)
    if isinstance(fs, LocalFileSystem):
        return
    probe = f"{root.rstrip('/')}/{PROBE_DIR}/.probe-{uuid.uuid4().hex}"
    try:
        fs.pipe_file(probe, b"")
        fs.rm_file(probe)
    except Exception as exc:  # noqa: BLE001 - every driver raises its own types; translate them all
        raise store_error(out, exc) from exc


def store_error(location: str, exc: BaseException) -> StoreError:
    """``StoreError`` for a failure at ``location``: the location, then ``store_problem``'s line."""
    return StoreError(f"{location}: {store_problem(location, exc)}")


def store_problem(location: str, exc: BaseException) -> str:
    """What went wrong with ``location``'s store and how to fix it, in one line."""
    scheme = urlsplit(location).scheme.lower()
    if isinstance(exc, ImportError):
        return _missing_driver(location)
    if isinstance(exc, FileNotFoundError):
        bucket = urlsplit(location).netloc
        return (
            f"the bucket {bucket!r} does not exist or is not visible with these credentials; "
            f"create it (e.g. `aws s3 mb {scheme}://{bucket}`) or fix the location"
        )
    if isinstance(exc, PermissionError) or _is_missing_credentials(exc):
        fix = _CREDENTIALS_FIX.get(scheme, "check the store's credentials")
        return f"the store refused the credentials ({_first_line(exc)}); {fix}"
    return f"cannot use this location: {type(exc).__name__}: {_first_line(exc)}"


def _missing_driver(location: str) -> str:
    scheme = urlsplit(location).scheme.lower()
    package = _DRIVERS.get(scheme)
    if package:
        return f"no driver for {scheme}:// is installed; install it with `pip install {package}`"
    return f"no filesystem driver for {scheme}:// is installed (see fsspec's list of implementations)"


def _is_missing_credentials(exc: BaseException) -> bool:
    try:
        from botocore.exceptions import NoCredentialsError, PartialCredentialsError
    except ImportError:
        return False
    return isinstance(exc, (NoCredentialsError, PartialCredentialsError))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
