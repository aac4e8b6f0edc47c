"""Shared fixtures: the real local server over HTTP and Prefect's real engine (test harness)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

ROOT = Path(__file__).resolve().parents[1]
JFK = ROOT / "samples" / "jfk.mp4"
JFK_REFERENCE = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


@pytest.fixture(scope="session")
def prefect_engine():
    """A real Prefect API (temporary SQLite server) for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def pipeline_server(tmp_path_factory):
    """The real embedded server, shared by the pipeline tests (each test uses its own index)."""
    from reelscribe.server.launcher import EmbeddedServer

    server = EmbeddedServer(tmp_path_factory.mktemp("pipeline-server"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def api(pipeline_server, monkeypatch):
    """Point reelscribe at the shared server through the same variables users set."""
    monkeypatch.setenv("TWELVELABS_BASE_URL", pipeline_server.base_url)
    monkeypatch.setenv("TWELVE_LABS_API_KEY", pipeline_server.api_key)
    return pipeline_server


@pytest.fixture
def jfk_copy(tmp_path) -> Path:
    """A private copy, so tests that add files beside it do not share a folder."""
    target = tmp_path / "videos" / "jfk.mp4"
    target.parent.mkdir()
    shutil.copy(JFK, target)
    return target
