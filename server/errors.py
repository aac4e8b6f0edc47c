"""Error answers: ``{"code", "message"}`` bodies with Twelve Labs' codes and a fitting HTTP status.

Routes raise :class:`ApiError`; the app's exception handlers (see ``app.py``) render it. Keeping the
code-to-status table here means a code always comes with the same status.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import JSONResponse

STATUS_BY_CODE: dict[str, int] = {
    "api_key_invalid": 401,
    "parameter_invalid": 400,
    "parameter_not_provided": 400,
    "resource_not_exist": 404,
    "method_not_allowed": 405,
    "index_name_already_exists": 400,
    "video_file_broken": 400,
    "video_filesize_too_large": 400,
    "video_duration_too_short": 400,
    "video_duration_too_long": 400,
    "task_cannot_be_deleted": 400,
    "asset_not_ready": 400,
    "asset_in_use": 409,
    "asset_already_indexed": 409,
    "upload_session_expired": 400,
    "upload_session_closed": 409,
    "upload_url_invalid": 403,
    "upload_url_expired": 403,
    "chunk_index_invalid": 400,
    "chunk_size_invalid": 400,
    "chunk_not_uploaded": 400,
    "chunk_etag_mismatch": 400,
    "chunk_already_completed": 409,
    "too_many_requests": 429,
    "internal_server_error": 500,
    "service_unavailable": 503,
}


class ApiError(Exception):
    """An answer that is not a success; ``status`` defaults to the code's usual status."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else STATUS_BY_CODE.get(code, 400)
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        return error_response(self.code, self.message, status=self.status, headers=self.headers)


def error_response(
    code: str, message: str, *, status: int | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The JSON error answer every failure path uses."""
    status = status if status is not None else STATUS_BY_CODE.get(code, 400)
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=dict(headers or {}))


def invalid(name: str, why: str) -> ApiError:
    return ApiError("parameter_invalid", f"The `{name}` parameter is invalid: {why}.")


def missing(name: str) -> ApiError:
    return ApiError("parameter_not_provided", f"The `{name}` parameter is required but was not provided.")


def not_found(collection: str, resource_id: str) -> ApiError:
    """Twelve Labs' wording: ``Resource with id {id} does not exist in {collection}``."""
    return ApiError("resource_not_exist", f"Resource with id {resource_id} does not exist in {collection}.")
