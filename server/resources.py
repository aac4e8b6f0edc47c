"""What the resource routes share: a row or its 404, a status filter's check, a row accepted from an upload form."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from reelscribe.server.errors import invalid, not_found
from reelscribe.server.ids import new_id, utc_now
from reelscribe.server.uploads import TaskForm

T = TypeVar("T")


def found(row: T | None, collection: str, resource_id: str) -> T:
    """The row a request names, or the API's 404 for ``collection``."""
    if row is None:
        raise not_found(collection, resource_id)
    return row


def statuses(values: Sequence[str] | None, allowed: Sequence[str]) -> tuple[str, ...]:
    """A ``status`` filter, each value one of ``allowed`` (400 naming the first unknown one)."""
    unknown = sorted(set(values or ()) - set(allowed))
    if unknown:
        raise invalid("status", f"unknown status {unknown[0]!r}; expected one of {', '.join(allowed)}")
    return tuple(values or ())


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
