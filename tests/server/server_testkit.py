"""Constants shared by the server tests (a uniquely named module, so it never shadows another ``conftest``)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JFK = ROOT / "samples" / "jfk.mp4"
JFK_REFERENCE = (
    "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
)
OPENAPI = ROOT / "server" / "openapi" / "twelvelabs-v1.3-subset.json"
# The shared server's multipart chunk size: small, so samples/jfk.mp4 (72,595 bytes) makes 5 chunks.
CHUNK_SIZE = 16 * 1024
