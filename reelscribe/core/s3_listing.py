"""An S3 prefix listed in key ranges at once, through s3fs's own client.

Paging one listing is sequential; ranges (``key_ranges``) are independent, so their pages are in
flight together and the client parses one while the store renders the next. Each request is
s3fs's public ``call_s3`` (the same client, credentials and retry layer as every other S3 call),
made from a few threads: each waits on s3fs's one event loop, where the requests overlap. The
entries are shaped as ``find(detail=True)`` gives them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from reelscribe.core.key_ranges import PAGE_KEYS, KeyRange

RANGES_AT_ONCE = 10
"""Ranges listed at once: botocore's default connection pool (``max_pool_connections``) holds 10."""


def find_in_ranges(fs: Any, bucket: str, prefix: str, ranges: Sequence[KeyRange]) -> dict[str, dict[str, Any]]:
    """Every object under ``bucket/prefix`` as ``{"bucket/key": info}``, the ranges listed concurrently."""
    with ThreadPoolExecutor(max_workers=min(RANGES_AT_ONCE, len(ranges)), thread_name_prefix="s3-range") as pool:
        pages = list(pool.map(lambda key_range: _one_range(fs, bucket, prefix, key_range), ranges))
    return {f"{bucket}/{entry['Key']}": _info(bucket, entry) for page in pages for entry in page}


def _one_range(fs: Any, bucket: str, prefix: str, key_range: KeyRange) -> list[dict[str, Any]]:
    request: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": key_range.first_page_keys()}
    if key_range.after is not None:
        request["StartAfter"] = key_range.after
    entries: list[dict[str, Any]] = []
    while True:
        page = fs.call_s3("list_objects_v2", **request)
        inside, more = key_range.take(page.get("Contents", []), bool(page.get("IsTruncated")))
        entries.extend(inside)
        if not more:
            return entries
        request.pop("StartAfter", None)
        request.update(ContinuationToken=page["NextContinuationToken"], MaxKeys=PAGE_KEYS)  # a range that grew pages on in full pages


def _info(bucket: str, entry: dict[str, Any]) -> dict[str, Any]:
    """An s3fs ``find(detail=True)`` entry: ``name``/``Key`` with the bucket, ``size``, ``type``."""
    name = f"{bucket}/{entry['Key']}"
    return {**entry, "Key": name, "name": name, "size": entry["Size"], "type": "file"}
