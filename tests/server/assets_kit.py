"""Helpers for the assets-path tests: upload, poll and index over plain HTTP (``Rest`` from conftest)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import requests

from tests.polling import wait_for

TERMINAL = ("ready", "failed")
INDEXED_ORDER = ("pending", "queued", "validating", "indexing", "ready")


def create_asset(rest, path: Path, *, metadata: dict | None = None, filename: str | None = None) -> dict[str, Any]:
    data = {"method": "direct"}
    if metadata is not None:
        data["user_metadata"] = json.dumps(metadata)
    if filename is not None:
        data["filename"] = filename
    with open(path, "rb") as handle:
        response = rest.post("/assets", data=data, files={"file": (path.name, handle)})
    assert response.status_code == 200, response.text
    return response.json()


def wait_asset(rest, asset_id: str, timeout: float = 60.0) -> dict[str, Any]:
    def fetch() -> dict[str, Any]:
        response = rest.get(f"/assets/{asset_id}")
        assert response.status_code == 200, response.text
        return response.json()

    return wait_for(fetch, lambda asset: asset["status"] != "processing", timeout, f"asset {asset_id} to be processed", 0.05)


def ready_asset(rest, path: Path, **kwargs: Any) -> dict[str, Any]:
    asset = wait_asset(rest, create_asset(rest, path, **kwargs)["_id"])
    assert asset["status"] == "ready", asset
    return asset


def index_asset(rest, index_id: str, asset_id: str, **body: Any) -> str:
    response = rest.post(f"/indexes/{index_id}/indexed-assets", json={"asset_id": asset_id, **body})
    assert response.status_code == 202, response.text
    assert response.json()["asset_id"] == asset_id
    return response.json()["_id"]


def wait_indexed(
    rest, index_id: str, indexed_id: str, *, until: tuple[str, ...] = TERMINAL, timeout: float = 120.0
) -> tuple[dict[str, Any], list[str]]:
    """The indexed asset once its status is in ``until``, and the distinct statuses seen on the way."""
    seen: list[str] = []

    def fetch() -> dict[str, Any]:
        response = rest.get(f"/indexes/{index_id}/indexed-assets/{indexed_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        if not seen or seen[-1] != body["status"]:
            seen.append(body["status"])
        return body

    body = wait_for(fetch, lambda body: body["status"] in until, timeout, f"indexed asset {indexed_id} in {until}", 0.05)
    return body, seen


def put_chunk(url: str, data: bytes) -> requests.Response:
    """A chunk PUT as the SDK sends it: to the presigned URL, with no API key."""
    return requests.put(url, data=data, headers={"Content-Type": "application/octet-stream"}, timeout=60)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def chunks_of(data: bytes, size: int) -> dict[int, bytes]:
    """1-based chunks, as the session numbers them."""
    return {number + 1: data[offset : offset + size] for number, offset in enumerate(range(0, len(data), size))}


def report(rest, upload_id: str, entries: list[tuple[int, str, int]]) -> requests.Response:
    body = {
        "completed_chunks": [
            {"chunk_index": index, "proof": proof, "proof_type": "etag", "chunk_size": size} for index, proof, size in entries
        ]
    }
    return rest.post(f"/assets/multipart-uploads/{upload_id}", json=body)
