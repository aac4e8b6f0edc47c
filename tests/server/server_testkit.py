"""Constants shared by the server tests (a uniquely named module, so it never shadows another ``conftest``)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JFK = ROOT / "samples" / "jfk.mp4"
JFK_REFERENCE = (
    "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
)
OPENAPI = ROOT / "server" / "openapi" / "twelvelabs-v1.3-subset.json"
