"""An S3 prefix listed in key ranges at once, through s3fs's own client (one event loop).

Paging one listing is sequential; ranges (``key_ranges``) are independent, so their first pages
are all in flight together and the client parses one while the store renders the next. Each
request goes through ``S3FileSystem._call_s3``: the same client, credentials and retry layer as
every other S3 call. The entries are shaped as ``find(detail=True)`` gives them.
"""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

from fsspec.asyn import sync

from reelscribe.core.key_ranges import PAGE_KEYS, KeyRange


def find_in_ranges(fs: Any, bucket: str, prefix: str, ranges: Sequence[KeyRange]) -> dict[str, dict[str, Any]]:
    """Every object under ``bucket/prefix`` as ``{"bucket/key": info}``, the ranges listed concurrently."""
    pages = sync(fs.loop, _all_ranges, fs, bucket, prefix, ranges)
    return {f"{bucket}/{entry['Key']}": _info(bucket, entry) for page in pages for entry in page}


async def _all_ranges(fs: Any, bucket: str, prefix: str, ranges: Sequence[KeyRange]) -> list[list[dict[str, Any]]]:
    return await asyncio.gather(*(_one_range(fs, bucket, prefix, key_range) for key_range in ranges))


async def _one_range(fs: Any, bucket: str, prefix: str, key_range: KeyRange) -> list[dict[str, Any]]:
    request: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": key_range.first_page_keys()}
    if key_range.after is not None:
        request["StartAfter"] = key_range.after
    entries: list[dict[str, Any]] = []
    while True:
        page = await fs._call_s3("list_objects_v2", **request)
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
