"""A large file goes up through a multipart session with memory flat: one chunk in memory, not the file.

Measured as in ``bench/bench_upload_memory.py``: a fresh child process uploads a sparse file to the
real local server and reports its peak RSS (``VmHWM``); a second child that imports the same code
but uploads nothing gives the floor.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from reelscribe.server.launcher import EmbeddedServer
from tests.conftest import ROOT

CHUNK = 8 * 1024 * 1024
SIZE = 192 * 1024 * 1024

CHILD = r"""
import json, sys
from pydantic import SecretStr
from reelscribe.core.assets import ensure_asset
from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.settings import Settings
from reelscribe.core.sources import VideoSource

def peak_rss():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))

base_url, key, path, upload = sys.argv[1:5]
asset = None
if upload == "yes":
    with TwelveLabsClient(Settings(base_url=base_url, api_key=SecretStr(key))) as client:
        asset = ensure_asset(client, VideoSource(path, "file"), "0" * 64, direct_limit=1).id
print(json.dumps({"peak": peak_rss(), "asset": asset}))
"""


def child(server: EmbeddedServer, path, upload: bool) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, server.base_url, server.api_key, str(path), "yes" if upload else "no"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_large_file_goes_up_in_chunks_with_flat_memory(tmp_path):
    big = tmp_path / "big.mp4"
    with open(big, "wb") as handle:
        handle.truncate(SIZE)
    server = EmbeddedServer(tmp_path / "server", extra_args=("--multipart-chunk-size", str(CHUNK)))
    server.start()
    try:
        floor = child(server, big, upload=False)["peak"]
        uploaded = child(server, big, upload=True)
        session = [u for u in server_uploads(server) if u["asset_id"] == uploaded["asset"]]
    finally:
        server.stop()
    growth = uploaded["peak"] - floor
    assert uploaded["asset"] and session == [], "the session did not complete"
    assert growth < 4 * CHUNK, f"peak RSS grew {growth / 1e6:.0f} MB uploading {SIZE / 1e6:.0f} MB in {CHUNK / 1e6:.0f} MB chunks"


def server_uploads(server: EmbeddedServer) -> list[dict]:
    """The server's unfinished sessions (a completed one is no longer listed)."""
    import requests

    response = requests.get(f"{server.base_url}/assets/multipart-uploads", headers={"x-api-key": server.api_key}, timeout=30)
    response.raise_for_status()
    return response.json()["data"]
