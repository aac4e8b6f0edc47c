"""Parameters shared by the routes (paging, time filters, form booleans, metadata).

Ranges and choices are declared (``Query(ge=…)``, ``Literal``): FastAPI checks them and ``app.py``
turns its errors into 400 ``parameter_invalid`` naming the parameter. The functions here cover what
a declaration cannot say.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal

from fastapi import Query, Request

from reelscribe.server.errors import invalid
from reelscribe.server.ids import parse_time
from reelscribe.server.store import RANGE_COLUMNS, Page, Range, Since, SortField

MAX_PAGE_LIMIT = 50


def paging(
    page: int = Query(1, ge=1, description="Page number, from 1."),
    page_limit: int = Query(10, ge=1, le=MAX_PAGE_LIMIT, description="Items per page, 1 to 50."),
    sort_by: SortField = Query("created_at"),
    sort_option: Literal["asc", "desc"] = Query("desc"),
) -> Page:
    """The requested page; pages past the end are allowed and come back empty."""
    return Page(number=page, limit=page_limit, sort_by=sort_by, descending=sort_option == "desc")


def since(
    created_at: str | None = Query(None, description="At or after this RFC 3339 time."),
    updated_at: str | None = Query(None, description="At or after this RFC 3339 time."),
) -> Since:
    """The time filters, normalised so that the store can compare them as strings."""
    return Since(
        created_at=parse_time("created_at", created_at) if created_at is not None else None,
        updated_at=parse_time("updated_at", updated_at) if updated_at is not None else None,
    )


_RANGE_KEY = re.compile(r"(\w+)\[(gte|lte)\]")


def _number(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise invalid(name, "expected a number") from None
    if not math.isfinite(number):
        raise invalid(name, "expected a finite number")
    return number


def ranges(
    request: Request,
    gte: str | None = Query(None, description="A bare bound, as the spec's form serialisation sends it: checked, not applied (it names no field)."),
    lte: str | None = Query(None, description="See gte."),
) -> tuple[Range, ...]:
    """The range filters ``duration[gte]=…`` (``fps``, ``width``, ``height``, ``size``; ``gte``/``lte``),
    as the official SDKs encode them. Bare ``gte``/``lte`` (the subset's form style) say no field, so
    they are only checked as numbers."""
    for name, value in (("gte", gte), ("lte", lte)):
        if value is not None:
            _number(name, value)
    found: list[Range] = []
    for key, value in request.query_params.multi_items():
        if (match := _RANGE_KEY.fullmatch(key)) is None:
            continue
        field, bound = match.groups()
        if field not in RANGE_COLUMNS:
            raise invalid(key, f"no range filter on {field!r}; the fields are {', '.join(RANGE_COLUMNS)}")
        found.append(Range(field, bound, _number(key, value)))
    return tuple(found)


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
