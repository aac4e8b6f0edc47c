"""Query-parameter parsing shared by the routes (paging, sorting, numbers, booleans, metadata).

Type errors FastAPI finds itself become 400 ``parameter_invalid`` in ``app.py``; the checks here
cover what a type annotation cannot say.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import Query

from reelscribe.server.errors import invalid
from reelscribe.server.ids import parse_time
from reelscribe.server.store import Page

MAX_PAGE_LIMIT = 50
SORT_FIELDS = ("created_at", "updated_at")


def paging(
    page: int = Query(1, description="Page number, from 1."),
    page_limit: int = Query(10, description="Items per page, 1 to 50."),
    sort_by: str = Query("created_at"),
    sort_option: str = Query("desc"),
) -> Page:
    """The requested page; pages past the end are allowed and come back empty."""
    if page < 1:
        raise invalid("page", "must be 1 or more")
    if not 1 <= page_limit <= MAX_PAGE_LIMIT:
        raise invalid("page_limit", f"must be between 1 and {MAX_PAGE_LIMIT}")
    if sort_by not in SORT_FIELDS:
        raise invalid("sort_by", "must be created_at or updated_at")
    if sort_option not in ("asc", "desc"):
        raise invalid("sort_option", "must be asc or desc")
    return Page(number=page, limit=page_limit, sort_by=sort_by, descending=sort_option == "desc")


def finite_number(name: str, value: str | None) -> float | None:
    """A finite decimal number or ``None``; NaN and infinities are refused."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise invalid(name, "expected a number") from None
    if not math.isfinite(number):
        raise invalid(name, "expected a finite number")
    return number


def boolean(name: str, value: str | None) -> bool | None:
    """``true``/``false`` (any case), as the SDKs send booleans in forms."""
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise invalid(name, "expected true or false")


def _metadata_value_ok(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (str, bool, int)):
        return True
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def check_metadata(name: str, value: Any, *, allow_null: bool = False) -> dict[str, Any]:
    """A user-metadata object: string keys; string, number, boolean or string-list values."""
    if not isinstance(value, dict):
        raise invalid(name, "expected a JSON object")
    for key, item in value.items():
        if item is None and allow_null:
            continue
        if not _metadata_value_ok(item):
            raise invalid(name, f"the value of {key!r} must be a string, number, boolean or list of strings")
    return value


def metadata_form_field(value: str | None) -> dict[str, Any] | None:
    """The ``user_metadata`` form field: a JSON-encoded object, or absent/empty."""
    if value is None or not value.strip():
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        raise invalid("user_metadata", "expected a JSON-encoded object") from None
    return check_metadata("user_metadata", parsed)


def since_clauses(created_at: str | None, updated_at: str | None, prefix: str = "") -> list[tuple[str, str, Any]]:
    """Filter clauses for the ``created_at``/``updated_at`` parameters ("at or after" that time)."""
    clauses = []
    for column, value in (("created_at", created_at), ("updated_at", updated_at)):
        if value is not None:
            clauses.append((prefix + column, ">=", parse_time(column, value)))
    return clauses
