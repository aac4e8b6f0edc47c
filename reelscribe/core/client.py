"""The one HTTP client for a Twelve Labs-compatible API (the real one, or the embedded server).

One ``requests.Session`` per client; every call has a timeout; connection errors, 5xx and 429
are retried by the one policy in ``reelscribe.core.retry`` (honouring ``Retry-After`` and
``X-Ratelimit-Reset``); other 4xx raise at once as typed errors quoting the server's ``code``
and ``message``. The API key lives only in the session's headers: it is never logged, formatted
into an error, or returned.

``POST`` calls are not retried here: re-sending a create after a lost answer could create it
twice. ``reelscribe.core.ingest`` owns that decision, because only it can look the task up first.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import time
from dataclasses import dataclass, replace
from urllib.parse import urlsplit
from typing import Any, BinaryIO, Callable, Iterator, Mapping, TypeVar

import pydantic
import requests
import urllib3
from requests_toolbelt import MultipartEncoder

from reelscribe.core.errors import (
    ApiAuthError,
    ApiKeyRefused,
    ApiError,
    ApiNotFound,
    ApiRateLimited,
    ApiServerError,
    ApiTransportError,
    ApiUnreachable,
    ConfigError,
)
from reelscribe.core.ids import validate_partition_id
from reelscribe.core.models import (
    Asset,
    AssetTranscription,
    ChunksReported,
    IncompleteUpload,
    Index,
    IndexedAsset,
    IndexedAssetCreated,
    MultipartSession,
    MultipartStatus,
    PageInfo,
    PresignedUrls,
    Task,
    TaskCreated,
    UploadUrl,
    Video,
)
from reelscribe.core.retry import RetryPolicy, RetryWait, is_retryable_status, retrying, server_wait
from reelscribe.core.settings import API_KEY_ENV, BASE_URL_ENV, Settings

log = logging.getLogger(__name__)
ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)

DEFAULT_MODELS = ({"model_name": "marengo3.0", "model_options": ["visual", "audio"]},)
PAGE_LIMIT = 50
MAX_PAGES = 10_000
CHECK_CONNECT_TIMEOUT = 5.0
"""Seconds the connection check waits for a connection: a host that gives none fails the run then."""


@dataclass(frozen=True)
class PageNumberPaginator:
    """Pages ``1, 2, …`` of ``limit`` items each, read until one holds no items or ``page_info.total_page`` is reached.

    ``items`` names the answer's field holding a page's items. ``one_page_without_total``: an
    answer without ``total_page`` is the only page (a paged sub-list, which a server that does not
    page it would give again, whole, for every page asked).
    """

    items: str = "data"
    limit: int = PAGE_LIMIT
    max_pages: int = MAX_PAGES
    one_page_without_total: bool = False

    def has_next(self, page: int, items: list, info: PageInfo) -> bool:
        if not items:
            return False
        if info.total_page is None:
            return not self.one_page_without_total
        return page < info.total_page


LIST_PAGES = PageNumberPaginator()
CHUNK_PAGES = PageNumberPaginator(items="uploaded_chunks", one_page_without_total=True)


def log_wait(wait: RetryWait) -> None:
    """The default ``on_wait``: one warning per wait (Prefect shows it in the run's logs and console)."""
    log.warning("%s", wait.line())


class TwelveLabsClient:
    """Thin: one method per endpoint, each returning a typed model or raising a typed error."""

    def __init__(
        self,
        settings: Settings,
        *,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[RetryWait], None] = log_wait,
    ) -> None:
        self.settings = settings
        self.retry = retry or settings.retry
        self.on_wait = on_wait
        self._sleep = sleep
        self._session = session or requests.Session()
        self._session.headers["User-Agent"] = "reelscribe/0.1"
        if settings.api_key is not None:
            self._session.headers["x-api-key"] = settings.api_key.get_secret_value()

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    @property
    def api_version(self) -> str:
        return self.settings.api_version

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "TwelveLabsClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json_body: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        retry: bool = True,
    ) -> Any:
        """Send one request to the API (retrying transient failures when ``retry``) and return its JSON."""
        response = self._round_trip(
            method, f"{self.base_url}/{path.lstrip('/')}", path, retry=retry,
            params=params, json=json_body, data=data, headers=headers,
        )
        return _json_or_empty(response, method, path)

    def check_reachable(self) -> None:
        """One short ``GET /indexes`` before anything is uploaded: fail at once on what no retry fixes.

        No connection at all (refused, unknown host, TLS failure, none within
        ``CHECK_CONNECT_TIMEOUT``) raises ``ApiUnreachable`` naming the URL and the fix, without
        retries; a 401 without a key says the key is unset. A live server that is only briefly
        failing (5xx, 429, a reset) is retried by the usual policy, each wait told to ``on_wait``.
        """
        path = "indexes"
        timeout = (min(CHECK_CONNECT_TIMEOUT, self.settings.connect_timeout), self.settings.read_timeout)
        try:
            self._round_trip(
                "GET", f"{self.base_url}/{path}", path, timeout=timeout, must_connect=True,
                params={"page": 1, "page_limit": 1},
            )
        except ApiAuthError as exc:
            if self.settings.api_key is None:
                raise ConfigError(
                    f"{self.base_url} needs an API key (HTTP {exc.status}): {API_KEY_ENV} (or --credentials-block) is unset"
                ) from None
            raise ApiKeyRefused(
                exc.status, exc.code, exc.message, method="GET", path=f"{self.base_url}/{path}",
                hint=f"check {API_KEY_ENV} (or the --credentials-block's key) is a key of this API",
            ) from None

    def _round_trip(self, method: str, url: str, path: str, *, retry: bool = True, **kwargs: Any) -> requests.Response:
        """The one way a request is sent: ``_exchange``, retried by the client's policy when ``retry``.

        Every wait is told to ``on_wait``; the last error, once the policy gives up, is raised as it is.
        """
        policy = self.retry if retry else replace(self.retry, max_attempts=1)
        loop = retrying(policy, what=f"{method} {path}", sleep=self._sleep, target=urlsplit(url).netloc, on_wait=self.on_wait)
        return loop(self._exchange, method, url, path, **kwargs)

    def _exchange(
        self, method: str, url: str, path: str, *, timeout: tuple[float, float] | None = None,
        must_connect: bool = False, **kwargs: Any,
    ) -> requests.Response:
        """One HTTP exchange: the 2xx answer, or the typed error. ``path`` names it in errors and logs.

        ``must_connect``: no connection at all is ``ApiUnreachable`` (a configuration error, not retried).
        """
        timeout = timeout or (self.settings.connect_timeout, self.settings.read_timeout)
        try:
            response = self._session.request(method, url, timeout=timeout, **kwargs)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            reason, reached = transport_failure(exc, timeout[0])
            if must_connect and not reached:
                raise ApiUnreachable(
                    f"cannot reach the API at {self.base_url} ({reason}): start the server there, or fix "
                    f"the URL (--api-url, {BASE_URL_ENV} or the credentials block's)"
                ) from None
            raise ApiTransportError(
                f"{method} {path}: no answer from {urlsplit(url).netloc} ({reason})", reason, reached=reached
            ) from None
        if not response.ok:
            raise _api_error(response, method, path)
        return response

    def pages(
        self, path: str, params: list[tuple[str, Any]] | None = None, paginator: PageNumberPaginator = LIST_PAGES
    ) -> Iterator[tuple[dict, list]]:
        """Each page of a paged ``GET``, as ``paginator`` reads it: the answer and its items."""
        for page in range(1, paginator.max_pages + 1):
            asked = [*(params or []), ("page", page), ("page_limit", paginator.limit)]
            body = _object(self.request("GET", path, params=asked), "GET", path)
            items = body.get(paginator.items) or []
            if not isinstance(items, list):
                raise _malformed(f"{paginator.items!r} is {type(items).__name__}, expected a list", "GET", path)
            yield body, items
            if not paginator.has_next(page, items, _parse(PageInfo, body.get("page_info") or {}, "GET", path)):
                return

    def paginate(self, path: str, params: list[tuple[str, Any]] | None = None) -> Iterator[dict]:
        """Every item of a paged list; stops at an empty page or at ``total_page``."""
        for _, items in self.pages(path, params):
            yield from items

    # -- indexes ---------------------------------------------------------------------------

    def get_index(self, index_id: str) -> Index:
        path = f"indexes/{_id(index_id, 'index_id')}"
        return _parse(Index, self.request("GET", path), "GET", path)

    def find_index_by_name(self, name: str) -> Index | None:
        for item in self.paginate("indexes", [("index_name", name)]):
            if item.get("index_name") == name:
                return _parse(Index, item, "GET", "indexes")
        return None

    def create_index(self, name: str, models: tuple[dict, ...] = DEFAULT_MODELS) -> Index:
        body = self.request("POST", "indexes", json_body={"index_name": name, "models": list(models)}, retry=False)
        return _parse(Index, {"index_name": name, **_object(body, "POST", "indexes")}, "POST", "indexes")

    # -- tasks -----------------------------------------------------------------------------

    def create_task(
        self,
        index_id: str,
        *,
        video_file: tuple[str, BinaryIO] | None = None,
        video_url: str | None = None,
        user_metadata: Mapping[str, Any] | None = None,
    ) -> TaskCreated:
        """``POST /tasks`` once. ``video_file`` is ``(filename, open binary stream)``, streamed."""
        form = _form("create_task", {"index_id": index_id}, user_metadata, video_file=video_file, video_url=video_url)
        return self._post_form("tasks", form, TaskCreated)

    def _post_form(self, path: str, form: MultipartEncoder, model: type[ModelT]) -> ModelT:
        """``POST`` a multipart form once (a create: never re-sent here) and parse the answer as ``model``."""
        body = self.request("POST", path, data=form, headers={"Content-Type": form.content_type}, retry=False)
        return _parse(model, body, "POST", path)

    def get_task(self, task_id: str) -> Task:
        path = f"tasks/{_id(task_id, 'task_id')}"
        return _parse(Task, self.request("GET", path), "GET", path)

    def iter_tasks(self, index_id: str, *, filename: str | None = None) -> Iterator[Task]:
        params: list[tuple[str, Any]] = [("index_id", index_id)]
        if filename:
            params.append(("filename", filename))
        for item in self.paginate("tasks", params):
            yield _parse(Task, item, "GET", "tasks")

    # -- videos and transcription ----------------------------------------------------------

    def get_video(self, index_id: str, video_id: str, *, transcription: bool = False) -> Video:
        params = {"transcription": "true"} if transcription else None
        path = f"indexes/{_id(index_id, 'index_id')}/videos/{_id(video_id, 'video_id')}"
        return _parse(Video, self.request("GET", path, params=params), "GET", path)

    def get_transcription_v12(
        self, index_id: str, video_id: str, start: float | None = None, end: float | None = None
    ) -> list[Any] | None:
        """The classic ``…/transcription?start=&end=`` endpoint; ``None`` means no speech."""
        params = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
        path = f"indexes/{_id(index_id, 'index_id')}/videos/{_id(video_id, 'video_id')}/transcription"
        body = self.request("GET", path, params=params)
        if not isinstance(body, dict) or "data" not in body:
            raise _malformed("transcription answer has no 'data' field", "GET", path)
        return body["data"]

    # -- assets ----------------------------------------------------------------------------

    def offers_assets(self) -> bool:
        """Whether this server has the assets path: a one-item ``GET /assets``; 404 means no."""
        try:
            self.request("GET", "assets", params={"page": 1, "page_limit": 1})
        except ApiNotFound:
            return False
        return True

    def create_asset(
        self,
        *,
        file: tuple[str, BinaryIO] | None = None,
        url: str | None = None,
        filename: str | None = None,
        user_metadata: Mapping[str, Any] | None = None,
    ) -> Asset:
        """``POST /assets`` once: ``method=direct`` with ``file`` (``(name, stream)``, streamed) or ``method=url``."""
        leading = {"method": "url" if url is not None else "direct", "filename": filename or None}
        return self._post_form("assets", _form("create_asset", leading, user_metadata, file=file, url=url), Asset)

    def get_asset(self, asset_id: str) -> Asset:
        path = f"assets/{_id(asset_id, 'asset_id')}"
        return _parse(Asset, self.request("GET", path), "GET", path)

    def iter_assets(self, *, filename: str | None = None) -> Iterator[Asset]:
        """Every asset (``filename``: the server's case-insensitive "contains" filter)."""
        params = [("filename", filename)] if filename else []
        for item in self.paginate("assets", params):
            yield _parse(Asset, item, "GET", "assets")

    def get_asset_transcription(self, asset_id: str, include: tuple[str, ...] = ("words",)) -> AssetTranscription | None:
        """``GET /assets/{id}/transcription?include=…``; ``None`` when the asset has none (404)."""
        path = f"assets/{_id(asset_id, 'asset_id')}/transcription"
        try:
            body = self.request("GET", path, params={"include": ",".join(include)})
        except ApiNotFound:
            return None
        return _parse(AssetTranscription, body, "GET", path)

    # -- multipart upload sessions -----------------------------------------------------------

    def create_multipart_upload(
        self, filename: str, total_size: int, *, user_metadata: Mapping[str, Any] | None = None, kind: str = "video"
    ) -> MultipartSession:
        """``POST /assets/multipart-uploads`` once; the session reserves its asset at once."""
        body = {"filename": filename, "type": kind, "total_size": total_size}
        if user_metadata:
            body["user_metadata"] = dict(user_metadata)
        path = "assets/multipart-uploads"
        return _parse(MultipartSession, self.request("POST", path, json_body=body, retry=False), "POST", path)

    def presigned_urls(self, upload_id: str, start: int, count: int) -> list[UploadUrl]:
        """Fresh chunk URLs ``start .. start+count-1`` (1-based); asking again is harmless, so retried."""
        path = f"assets/multipart-uploads/{_id(upload_id, 'upload_id')}/presigned-urls"
        body = self.request("POST", path, json_body={"start": start, "count": count})
        return _parse(PresignedUrls, body, "POST", path).upload_urls

    def put_chunk(self, url: str, data: bytes, headers: Mapping[str, str] | None = None) -> str:
        """``PUT`` one chunk's bytes to its presigned URL; returns its ``ETag`` (the proof to report).

        Re-sending the same bytes to the same URL is harmless, so this is retried like a GET. The
        API key is not sent: a presigned URL carries its own authorisation, and may be another host.
        """
        sent = {"Content-Type": "application/octet-stream", **(headers or {}), "x-api-key": None}
        response = self._round_trip("PUT", url, "chunk upload", data=data, headers=sent)
        etag = response.headers.get("ETag", "").strip('"')
        if not etag:
            raise _malformed("the chunk upload answer has no ETag header", "PUT", "chunk upload")
        return etag

    def report_chunks(self, upload_id: str, chunks: list[dict[str, Any]]) -> ChunksReported:
        """Report uploaded chunks (``{chunk_index, proof, proof_type, chunk_size}``); duplicates are ignored, so retried."""
        path = f"assets/multipart-uploads/{_id(upload_id, 'upload_id')}"
        return _parse(ChunksReported, self.request("POST", path, json_body={"completed_chunks": chunks}), "POST", path)

    def get_multipart_upload(self, upload_id: str) -> MultipartStatus:
        """The session's state with every chunk's (all pages of ``uploaded_chunks``)."""
        path = f"assets/multipart-uploads/{_id(upload_id, 'upload_id')}"
        first: MultipartStatus | None = None
        chunks: list[Any] = []
        for body, _ in self.pages(path, paginator=CHUNK_PAGES):
            status = _parse(MultipartStatus, body, "GET", path)
            first = first or status
            chunks += status.uploaded_chunks
        return first.model_copy(update={"uploaded_chunks": chunks})

    def iter_incomplete_uploads(self) -> Iterator[IncompleteUpload]:
        for item in self.paginate("assets/multipart-uploads"):
            yield _parse(IncompleteUpload, item, "GET", "assets/multipart-uploads")

    # -- indexed assets --------------------------------------------------------------------

    def create_indexed_asset(
        self, index_id: str, asset_id: str, *, user_metadata: Mapping[str, Any] | None = None
    ) -> IndexedAssetCreated:
        """``POST /indexes/{id}/indexed-assets`` once (202); the asset must be ``ready``."""
        path = f"indexes/{_id(index_id, 'index_id')}/indexed-assets"
        body: dict[str, Any] = {"asset_id": asset_id}
        if user_metadata:
            body["user_metadata"] = dict(user_metadata)
        return _parse(IndexedAssetCreated, self.request("POST", path, json_body=body, retry=False), "POST", path)

    def get_indexed_asset(self, index_id: str, indexed_asset_id: str, *, transcription: bool = False) -> IndexedAsset:
        path = f"indexes/{_id(index_id, 'index_id')}/indexed-assets/{_id(indexed_asset_id, 'indexed_asset_id')}"
        params = {"transcription": "true"} if transcription else None
        return _parse(IndexedAsset, self.request("GET", path, params=params), "GET", path)

    def iter_indexed_assets(self, index_id: str) -> Iterator[IndexedAsset]:
        path = f"indexes/{_id(index_id, 'index_id')}/indexed-assets"
        for item in self.paginate(path):
            yield _parse(IndexedAsset, item, "GET", path)


def _form(
    what: str, leading: Mapping[str, Any], user_metadata: Mapping[str, Any] | None,
    **source: str | tuple[str, BinaryIO] | None,
) -> MultipartEncoder:
    """A create's multipart form: ``leading`` fields, the metadata as JSON, then the one ``source`` given.

    ``source`` offers a file field (``(name, open binary stream)``) and a URL field, of which
    exactly one must be given. A file is streamed from its stream, so memory does not grow with
    the video's size (``requests`` alone would build the whole body in memory). ``None`` fields
    are left out.
    """
    if sum(value is not None for value in source.values()) != 1:
        raise ConfigError(f"{what} needs exactly one of {' and '.join(source)}")
    fields = {name: value for name, value in leading.items() if value is not None}
    if user_metadata:
        fields["user_metadata"] = json.dumps(dict(user_metadata))
    for name, value in source.items():
        if isinstance(value, tuple):
            filename, stream = value
            fields[name] = (filename, stream, "application/octet-stream")
        elif value is not None:
            fields[name] = value
    return MultipartEncoder(fields)


def transport_failure(exc: BaseException, connect_timeout: float) -> tuple[str, bool]:
    """Why a request got no answer, in a few words, and whether a connection was made at all.

    Follows the chain requests and urllib3 wrap the socket's own error in: ``NewConnectionError``
    (and its ``NameResolutionError``) and TLS errors mean no connection; anything else (a reset, a
    dropped or cut-off answer) happened on a connection to a live server.
    """
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"no connection within {connect_timeout:g} s", False
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "no answer in time", True
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "answer cut off", True  # the headers came, the body broke off: a server that died mid-answer
    chain = _causes(exc)
    if any(isinstance(e, urllib3.exceptions.NameResolutionError | socket.gaierror) for e in chain):
        return "host not found", False
    if any(isinstance(e, ssl.SSLError | urllib3.exceptions.SSLError | requests.exceptions.SSLError) for e in chain):
        return "TLS failure", False
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused", False
    if any(isinstance(e, urllib3.exceptions.NewConnectionError) for e in chain):
        return "no connection", False
    if any(isinstance(e, ConnectionResetError) for e in chain):
        return "connection reset", True
    return "connection lost", True


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and every error it wraps (causes, contexts, urllib3's ``reason``, arguments)."""
    found: list[BaseException] = []
    pending: list[object] = [exc]
    while pending:
        error = pending.pop()
        if isinstance(error, BaseException) and not any(error is f for f in found):
            found.append(error)
            pending += [error.__cause__, error.__context__, getattr(error, "reason", None), *error.args]
    return found


def _id(value: str, what: str) -> str:
    """An id about to become part of a URL path: one safe path component, or ``InvalidIdentifier``.

    Ids come from users (``--index-id``) and from server answers; ``../tasks`` or ``a/b`` would
    otherwise address another endpoint (``requests`` resolves dot segments) instead of failing.
    """
    return validate_partition_id(value, what)


def _malformed(problem: str, method: str, path: str) -> ApiError:
    return ApiError(200, "malformed_response", problem, method=method, path=path)


def _object(body: Any, method: str, path: str) -> dict:
    if not isinstance(body, dict):
        raise _malformed(f"expected a JSON object, got {type(body).__name__}", method, path)
    return body


def _parse(model: type[ModelT], body: Any, method: str, path: str) -> ModelT:
    """``model`` from an answer's JSON; a body of another shape is an ``ApiError`` naming the field.

    Only the field's location and pydantic's short reason are quoted, never the body itself.
    """
    try:
        return model.model_validate(body)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "answer"
        problem = f"{model.__name__} answer does not have the expected shape: {where}: {first.get('msg')}"
        raise _malformed(problem, method, path) from None


def _json_or_empty(response: requests.Response, method: str, path: str) -> Any:
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError as exc:
        raise ApiError(
            response.status_code, "malformed_response",
            f"answer is not JSON (starts {response.text[:60]!r})", method=method, path=path,
        ) from exc


def _api_error(response: requests.Response, method: str, path: str) -> ApiError:
    """Map an error answer to its typed exception, keeping the server's own code and message."""
    code = message = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        code = inner.get("code") or inner.get("error_code")
        message = inner.get("message")
    if message is None and response.text and body is None:
        message = response.text[:200]
    status = response.status_code
    kind = (
        ApiAuthError if status in (401, 403)
        else ApiNotFound if status == 404 or code == "resource_not_exist"
        else ApiRateLimited if status == 429
        else ApiServerError if is_retryable_status(status)
        else ApiError
    )
    return kind(status, code, message, method=method, path=path, retry_after=server_wait(response.headers))
