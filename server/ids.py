"""Identifiers and timestamps in Twelve Labs' formats.

Ids are 24 lowercase hex characters (the shape of a Mongo ObjectId). Every id that arrives in a path,
query or form is checked with :func:`check_id` before it reaches SQL or the file system, which also
rules out path tricks such as ``../`` or ``%2e%2e`` in ids.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timezone

from reelscribe.server.errors import invalid

_ID = re.compile(r"[0-9a-f]{24}")


def new_id() -> str:
    return secrets.token_hex(12)


def is_id(value: str) -> bool:
    return bool(_ID.fullmatch(value))


def check_id(name: str, value: str) -> str:
    """Return ``value`` if it is a well-formed id, else raise 400 ``parameter_invalid``."""
    if not is_id(value):
        raise invalid(name, "expected 24 lowercase hexadecimal characters")
    return value


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and ``Z``; the fixed width makes strings sort by time."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def utc_now() -> str:
    return format_time(datetime.now(timezone.utc))


def parse_time(name: str, value: str) -> str:
    """An RFC 3339 filter value, normalised to :func:`format_time`'s form for string comparison."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        raise invalid(name, "expected an RFC 3339 date-time such as 2024-01-31T12:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return format_time(moment)
