"""The official Twelve Labs JavaScript SDK (twelvelabs-js, pinned in tests/server/js) works against the server unchanged.

``npm ci`` runs once per session from the committed lock file; the test skips only where Node or npm
is not installed, and fails when the install or the SDK fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from server_testkit import JFK, JFK_REFERENCE
from wer import word_error_rate

JS_DIR = Path(__file__).parent / "js"
NPM_TIMEOUT = 300
SCRIPT_TIMEOUT = 180


@pytest.fixture(scope="session")
def js_sdk() -> Path:
    """tests/server/js with its node_modules installed from package-lock.json (re-installed when the lock changes)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not installed (the JavaScript SDK test needs Node 18+)")
    stamp = JS_DIR / "node_modules" / ".reelscribe-lock"
    lock = (JS_DIR / "package-lock.json").read_text()
    if not stamp.exists() or stamp.read_text() != lock:
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, capture_output=True, text=True, timeout=NPM_TIMEOUT
        )
        assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
        stamp.write_text(lock)
    return Path(node)


def test_official_js_sdk_round_trip(shared_server, js_sdk):
    env = {**os.environ, "TWELVELABS_BASE_URL": shared_server.base_url, "TWELVE_LABS_API_KEY": shared_server.api_key}
    result = subprocess.run(
        [str(js_sdk), "roundtrip.mjs", str(JFK)], cwd=JS_DIR, env=env, capture_output=True, text=True,
        timeout=SCRIPT_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)

    for path in ("tasks", "assets"):
        got = seen[path]
        assert got["status"] == "ready", got
        assert got["filename"] == "jfk.mp4"
        text = " ".join(segment["value"] for segment in got["segments"])
        assert word_error_rate(JFK_REFERENCE, text) <= 0.10, text
        # The server's additions to v1.3 survive the SDK's parsing (unknown keys pass through unchanged).
        assert got["language"] == "en"
        assert {segment["language"] for segment in got["segments"]} == {"en"}
    assert seen["tasks"]["retrieved_index_id"] == seen["index_id"]
    assert seen["tasks"]["video_filename"] == "jfk.mp4"
    assert seen["assets"]["asset_status"] == "ready"
    assert seen["index_id"] in seen["listed_index_ids"]
    assert len(set(seen["listed_index_ids"])) == len(seen["listed_index_ids"])
    assert seen["index_id"] not in seen["index_ids_after_delete"]
