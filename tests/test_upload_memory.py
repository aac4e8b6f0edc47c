"""A large file goes up through a multipart session with memory flat: one chunk in memory, not the file.

The test counts what the upload allocates with ``tracemalloc`` (the peak of the Python memory
allocated while it runs), which is the same on every run whatever the machine's load or the
allocator's habits. ``bench/bench_upload_memory.py`` measures the peak RSS of a fresh process.
"""

from __future__ import annotations

import tracemalloc

import pytest
import requests
from pydantic import SecretStr

from reelscribe.core.ingest_paths.asset_upload import ensure_asset
from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.settings import Settings
from reelscribe.core.sources import VideoSource
from reelscribe.server.launcher import EmbeddedServer

CHUNK = 8 * 1024 * 1024
SIZE = 192 * 1024 * 1024


@pytest.mark.slow
def test_a_large_file_goes_up_in_chunks_with_flat_memory(tmp_path):
    big = tmp_path / "big.mp4"
    with open(big, "wb") as handle:
        handle.truncate(SIZE)
    with EmbeddedServer(tmp_path / "server", extra_args=("--multipart-chunk-size", str(CHUNK))) as server:
        with TwelveLabsClient(Settings(base_url=server.base_url, api_key=SecretStr(server.api_key))) as client:
            tracemalloc.start()
            try:
                asset = ensure_asset(client, VideoSource(str(big), "file"), "0" * 64, direct_limit=1)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        session = [u for u in server_uploads(server) if u["asset_id"] == asset.id]
    assert asset.id and session == [], "the session did not complete"
    assert peak < 4 * CHUNK, f"the upload allocated up to {peak / 1e6:.0f} MB for {SIZE / 1e6:.0f} MB in {CHUNK / 1e6:.0f} MB chunks"


def server_uploads(server: EmbeddedServer) -> list[dict]:
    """The server's unfinished sessions (a completed one is no longer listed)."""
    response = requests.get(f"{server.base_url}/assets/multipart-uploads", headers={"x-api-key": server.api_key}, timeout=30)
    response.raise_for_status()
    return response.json()["data"]
