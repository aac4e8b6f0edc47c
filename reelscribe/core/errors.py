"""Every failure reelscribe can report, each specific enough to act on.

Errors raised from an HTTP answer quote the server's own ``code`` and ``message``; none ever
carries the API key (the client never puts it in a message, and ``redact`` scrubs text that
might).
"""

from __future__ import annotations

from typing import Any, Sequence


class ReelscribeError(Exception):
    """Base class: anything reelscribe raises on purpose."""


class ConfigError(ReelscribeError):
    """Settings that cannot work (no URL, a malformed URL, a bad parameter)."""


class SourceError(ReelscribeError):
    """A video source that cannot be read: missing path, empty folder, unreadable file."""


class StoreError(ReelscribeError):
    """A lake or source location that cannot be used: no driver for its scheme, no such bucket,
    credentials the store refuses. Raised before anything is uploaded; the message names the fix."""


class BatchFailed(ReelscribeError):
    """Some videos of a run could not be landed; every other one was. ``reports`` lists every
    video's report (``flows.report.VideoReport``), failed or not, so the caller can still say
    what landed."""

    def __init__(self, message: str, reports: Sequence[Any] = ()) -> None:
        super().__init__(message, list(reports))
        self.reports = list(reports)

    def __str__(self) -> str:
        return self.args[0]


class NoSpaceLeft(ReelscribeError):
    """The disk holding the lake or its claims is full (``ENOSPC``). What failed to be written is
    removed whole: no torn file, no temp file and no empty claim stay behind."""


class NoVideosFound(SourceError):
    """A source that exists but holds no video files (an empty folder, a glob matching nothing).

    Its own type so that callers for whom "nothing to do" is fine (the incremental flow) can
    tell it from a source that is missing or unreadable.
    """


class InvalidIdentifier(ReelscribeError):
    """An id that would be unsafe as a file or directory name (``/``, ``..``, control chars)."""


class TranscriptInvalid(ReelscribeError):
    """A transcription the server sent that cannot be landed as it is."""


class TransientError(ReelscribeError):
    """A failure that may pass if the same request is sent again later: the one retry predicate.

    ``reelscribe.core.retry`` retries exactly these (HTTP calls, and creates after a look-up);
    the Prefect tasks retry a whole step only on these too.
    """


class ApiTransportError(TransientError):
    """The request never got an HTTP answer (connection refused or reset, timeout).

    ``reason`` says why in a few words (``connection refused``, ``host not found``); ``reached``
    whether a connection to the server was made at all (a reset or a read timeout: a live server).
    """

    def __init__(self, message: str, reason: str = "no answer", *, reached: bool = True) -> None:
        super().__init__(message)
        self.reason = reason
        self.reached = reached

    def __reduce__(self):
        return _rebuild, (type(self), (self.args[0], self.reason), {"reached": self.reached})


class ApiUnreachable(ConfigError):
    """No connection to the API could be made at all (refused, unknown host, TLS failure, no
    answer to connect): a wrong URL or a server that is not running, which no retry fixes."""


class ApiError(ReelscribeError):
    """A non-2xx answer. ``code`` and ``message`` are the server's own words."""

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str | None,
        *,
        method: str = "",
        path: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.method = method
        self.path = path
        self.retry_after = retry_after
        where = f"{method} {path} " if method else ""
        said = f"{code}: {message}" if code else (message or "no error body")
        super().__init__(f"{where}-> HTTP {status} ({said})")

    @property
    def reason(self) -> str:
        """What the server answered, in a few words (``HTTP 503``, ``HTTP 429 too_many_requests``)."""
        return f"HTTP {self.status} {self.code}" if self.code else f"HTTP {self.status}"

    def __reduce__(self):
        kwargs = dict(method=self.method, path=self.path, retry_after=self.retry_after)
        return _rebuild, (type(self), (self.status, self.code, self.message), kwargs)


class ApiAuthError(ApiError):
    """401/403: the API key is missing, wrong or expired."""


class ApiKeyRefused(ApiAuthError, ConfigError):
    """The API refused the key on the first request: a setting to fix, which no retry and no other
    video would (the CLI exits 2). The request names the URL; the text names what to check."""

    def __init__(self, *args: Any, hint: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hint = hint

    def __str__(self) -> str:
        return f"{super().__str__()}: {self.hint}" if self.hint else super().__str__()

    def __reduce__(self):
        rebuild, (cls, args, kwargs) = super().__reduce__()
        return rebuild, (cls, args, {**kwargs, "hint": self.hint})


class ApiNotFound(ApiError):
    """404 / ``resource_not_exist``: the index, task or video is not there."""


class ApiRateLimited(ApiError, TransientError):
    """429: retried by the client until its budget runs out."""


class ApiServerError(ApiError, TransientError):
    """5xx (and 408): retried by the client until its budget runs out."""


class IndexingFailed(ReelscribeError):
    """The platform marked the indexing task ``failed``; ``reason`` is what it said, ``code`` its
    failure code where it gave one (``video_file_broken``, ``language_not_supported``…)."""

    def __init__(self, task_id: str, reason: str | None, code: str | None = None) -> None:
        self.task_id = task_id
        self.reason = reason or "the server gave no reason"
        self.code = code
        super().__init__(f"indexing task {task_id} failed: {self.reason}")

    def __reduce__(self):
        return _rebuild, (type(self), (self.task_id, self.reason, self.code), {})


class AssetFailed(ReelscribeError):
    """The platform could not process an uploaded asset (status ``failed``); ``reason`` is what it said."""

    def __init__(self, asset_id: str, reason: str | None, code: str | None = None) -> None:
        self.asset_id = asset_id
        self.reason = reason or "the server gave no reason"
        self.code = code
        super().__init__(f"asset {asset_id} failed: {self.reason}")

    def __reduce__(self):
        return _rebuild, (type(self), (self.asset_id, self.reason, self.code), {})


class IndexingTimedOut(ReelscribeError):
    """The task (or indexed asset, or asset: ``what``) was still not ``ready`` or ``failed`` at the wait's deadline."""

    def __init__(self, task_id: str, waited: float, last_status: str, what: str = "indexing task") -> None:
        self.task_id = task_id
        self.waited = waited
        self.last_status = last_status
        self.what = what
        super().__init__(f"{what} {task_id} still '{last_status}' after {waited:.0f} s (max wait reached)")

    def __reduce__(self):
        return _rebuild, (type(self), (self.task_id, self.waited, self.last_status, self.what), {})


def _rebuild(cls, args, kwargs):
    """Unpickle errors whose constructors take more than a message (Prefect may pickle states)."""
    return cls(*args, **kwargs)


class LakeNotFound(ReelscribeError):
    """No lake (no ``videos`` table) under the location given."""


class NotInLake(ReelscribeError):
    """An index or video asked for that the lake does not hold."""
