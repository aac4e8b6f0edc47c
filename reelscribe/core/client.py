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
from urllib.parse import urlsplit
from dataclasses import replace
from typing import Any, BinaryIO, Callable, Iterator, Mapping, TypeVar

import pydantic
import requests
import urllib3
from requests_toolbelt import MultipartEncoder

from reelscribe.core.errors import (
    ApiAuthError,
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
        """Send one request (retrying transient failures when ``retry``) and return its JSON."""
        policy = self.retry if retry else replace(self.retry, max_attempts=1)
        for attempt in retrying(policy, what=f"{method} {path}", sleep=self._sleep, target=self.host, on_wait=self.on_wait):
            with attempt:
                return self._send(method, path, params=params, json=json_body, data=data, headers=headers)
        raise AssertionError("unreachable: retrying() re-raises the last error")

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

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
            for attempt in retrying(self.retry, what=f"GET {path}", sleep=self._sleep, target=self.host, on_wait=self.on_wait):
                with attempt:
                    try:
                        self._exchange("GET", f"{self.base_url}/{path}", path, params={"page": 1, "page_limit": 1}, timeout=timeout)
                    except ApiTransportError as exc:
                        if exc.reached:
                            raise
                        raise ApiUnreachable(
                            f"cannot reach the API at {self.base_url} ({exc.reason}): start the server there, or fix "
                            f"the URL (--api-url, {BASE_URL_ENV} or the credentials block's)"
                        ) from None
        except ApiAuthError as exc:
            if self.settings.api_key is None:
                raise ConfigError(
                    f"{self.base_url} needs an API key (HTTP {exc.status}): {API_KEY_ENV} (or --credentials-block) is unset"
                ) from None
            said = ": ".join(str(part) for part in (exc.code, exc.message) if part)
            raise ConfigError(
                f"{self.base_url} refuses the API key (HTTP {exc.status}{f' {said}' if said else ''}): check "
                f"{API_KEY_ENV} (or the --credentials-block's key) is a key of this API"
            ) from None

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        """One HTTP exchange: its JSON, or the typed error for what happened."""
        response = self._exchange(method, f"{self.base_url}/{path.lstrip('/')}", path, **kwargs)
        return _json_or_empty(response, method, path)

    def _exchange(
        self, method: str, url: str, path: str, *, timeout: tuple[float, float] | None = None, **kwargs: Any
    ) -> requests.Response:
        """One HTTP exchange: the 2xx answer, or the typed error. ``path`` names it in errors and logs."""
        timeout = timeout or (self.settings.connect_timeout, self.settings.read_timeout)
        try:
            response = self._session.request(method, url, timeout=timeout, **kwargs)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            reason, reached = transport_failure(exc, timeout[0])
            raise ApiTransportError(
                f"{method} {path}: no answer from {urlsplit(url).netloc} ({reason})", reason, reached=reached
            ) from None
        if not response.ok:
            raise _api_error(response, method, path)
        return response

    def paginate(self, path: str, params: list[tuple[str, Any]] | None = None) -> Iterator[dict]:
        """Every item of a paged list; stops at an empty page or at ``total_page``."""
        for page in range(1, MAX_PAGES + 1):
            answer = self.request("GET", path, params=[*(params or []), ("page", page), ("page_limit", PAGE_LIMIT)])
            body = _object(answer, "GET", path)
            items = body.get("data") or []
            if not isinstance(items, list):
                raise _malformed(f"'data' is {type(items).__name__}, expected a list", "GET", path)
            yield from items
            info = _parse(PageInfo, body.get("page_info") or {}, "GET", path)
            if not items or (info.total_page is not None and page >= info.total_page):
                return

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
        """``POST /tasks`` once. ``video_file`` is ``(filename, open binary stream)``.

        The multipart body is streamed from the file object, so memory does not grow with the
        video's size (``requests`` alone would build the whole body in memory).
        """
        if (video_file is None) == (video_url is None):
            raise ConfigError("create_task needs exactly one of video_file and video_url")
        fields: dict[str, Any] = {"index_id": index_id}
        if user_metadata:
            fields["user_metadata"] = json.dumps(dict(user_metadata))
        if video_url is not None:
            fields["video_url"] = video_url
        else:
            filename, stream = video_file
            fields["video_file"] = (filename, stream, "application/octet-stream")
        encoder = MultipartEncoder(fields)
        return _parse(TaskCreated, self._post_multipart(encoder), "POST", "tasks")

    def _post_multipart(self, encoder: MultipartEncoder, path: str = "tasks") -> Any:
        return self.request(
            "POST", path, data=encoder, headers={"Content-Type": encoder.content_type}, retry=False
        )

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
        if (file is None) == (url is None):
            raise ConfigError("create_asset needs exactly one of file and url")
        fields: dict[str, Any] = {"method": "url" if url is not None else "direct"}
        if filename:
            fields["filename"] = filename
        if user_metadata:
            fields["user_metadata"] = json.dumps(dict(user_metadata))
        if url is not None:
            fields["url"] = url
        else:
            name, stream = file
            fields["file"] = (name, stream, "application/octet-stream")
        encoder = MultipartEncoder(fields)
        return _parse(Asset, self._post_multipart(encoder, "assets"), "POST", "assets")

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
        for attempt in retrying(self.retry, what="PUT chunk", sleep=self._sleep, target=urlsplit(url).netloc, on_wait=self.on_wait):
            with attempt:
                response = self._exchange("PUT", url, "chunk upload", data=data, headers=sent)
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
        for page in range(1, MAX_PAGES + 1):
            body = _object(self.request("GET", path, params={"page": page, "page_limit": PAGE_LIMIT}), "GET", path)
            status = _parse(MultipartStatus, body, "GET", path)
            first = first or status
            chunks += status.uploaded_chunks
            info = _parse(PageInfo, body.get("page_info") or {}, "GET", path)
            if not status.uploaded_chunks or info.total_page is None or page >= info.total_page:
                break
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
