"""Twelve Labs' ``TL-Signature`` check: pure functions over the raw body, no I/O.

``TL-Signature: t=<unix>,v1=<hex>``, the hex being HMAC-SHA256 with the webhook secret over
``"{t}.{raw body}"``. Checked on the bytes as received, before any JSON parsing, with a
constant-time comparison; a timestamp more than :data:`TOLERANCE_SECONDS` from now is refused, so
a captured delivery cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "TL-Signature"
TOLERANCE_SECONDS = 300


class SignatureRejected(Exception):
    """The delivery is not provably from the platform (or is stale); the message says which check failed."""


def parse_header(value: str | None) -> tuple[int, str]:
    """``(t, v1)`` from the header; SignatureRejected when it is missing or malformed."""
    if not value:
        raise SignatureRejected(f"missing {HEADER} header")
    fields = dict(part.strip().split("=", 1) for part in value.split(",") if "=" in part)
    timestamp, digest = fields.get("t", ""), fields.get("v1", "")
    if not timestamp.isdigit() or not digest:
        raise SignatureRejected(f"malformed {HEADER} header (expected t=<unix>,v1=<hex>)")
    return int(timestamp), digest


def verify(secret: str, header: str | None, body: bytes, now: float, tolerance: float = TOLERANCE_SECONDS) -> int:
    """The signed timestamp when ``header`` signs ``body`` with ``secret`` within ``tolerance`` of ``now``."""
    timestamp, digest = parse_header(header)
    if abs(now - timestamp) > tolerance:
        raise SignatureRejected(f"timestamp is more than {tolerance:g} s from now")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, digest.lower()):
        raise SignatureRejected("signature does not match")
    return timestamp
