"""What the resource routes share: a row or its 404, a page of rows, a status filter's check, a row accepted
from an upload form and the name its source suggests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from reelscribe.server.config import ServerConfig
from reelscribe.server.errors import ApiError, invalid, not_found
from reelscribe.server.ids import new_id, utc_now
from reelscribe.server.store import Page
from reelscribe.server.uploads import TaskForm
from reelscribe.server.urlfetch import UrlRules, check_video_url
from reelscribe.server.views import page_json

T = TypeVar("T")
F = TypeVar("F")


def found(row: T | None, collection: str, resource_id: str) -> T:
    """The row a request names, or the API's 404 for ``collection``."""
    if row is None:
        raise not_found(collection, resource_id)
    return row


def page_of(
    listing: Callable[[F, Page], tuple[Sequence[T], int]], filters: F, page: Page, render: Callable[[T], dict[str, Any]]
) -> dict[str, Any]:
    """One page of a table's rows matching ``filters``, rendered, with its ``page_info``."""
    rows, total = listing(filters, page)
    return page_json(rows, total, page, render)


def statuses(values: Sequence[str] | None, allowed: Sequence[str]) -> tuple[str, ...]:
    """A ``status`` filter, each value one of ``allowed`` (400 naming the first unknown one)."""
    unknown = sorted(set(values or ()) - set(allowed))
    if unknown:
        raise invalid("status", f"unknown status {unknown[0]!r}; expected one of {', '.join(allowed)}")
    return tuple(values or ())


def source_name(config: ServerConfig, form: TaskForm, url: str | None, *, url_field: str, default: str) -> str:
    """The name a form's one source suggests: the URL's (checked against the fetch rules), else the
    uploaded file's, which must not be empty."""
    if url:
        return check_video_url(url, UrlRules.of(config), field=url_field)
    if form.file_size == 0:
        raise ApiError("video_file_broken", "The uploaded file is empty.")
    return form.file_name or default


def accepted_row(row_type: type[T], form: TaskForm, url: str | None, metadata: dict[str, Any] | None, **fields: Any) -> T:
    """A new row for what an upload form asks for: a fresh id and times, its source (the uploaded
    file's size, or the URL to fetch) and its user metadata."""
    now = utc_now()
    return row_type(
        id=new_id(),
        created_at=now,
        updated_at=now,
        source_url=url,
        size=form.file_size if form.file_path is not None else None,
        user_metadata=metadata,
        **fields,
    )
