"""Which ids are safe to use as one path component: in a URL path and in the lake's layout."""

from __future__ import annotations

import re

from reelscribe.core.errors import InvalidIdentifier

_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def validate_partition_id(value: str, what: str = "index_id") -> str:
    """Return ``value`` if it is safe as one path component, else raise ``InvalidIdentifier``.

    Ids come from users and servers: ``/``, ``..``, ``=`` or ``%`` would address another
    endpoint or escape and corrupt the lake's layout.
    """
    if not isinstance(value, str) or _ID.fullmatch(value) is None:
        raise InvalidIdentifier(
            f"invalid {what} {value!r}: only ASCII letters, digits, '_' and '-' are allowed "
            "(1 to 128 characters)"
        )
    return value
