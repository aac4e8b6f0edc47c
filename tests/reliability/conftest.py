"""Fixtures of the reliability tests; the shared ones (``prefect_engine``, ``api``...) come from ``tests/conftest.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.launcher import EmbeddedServer


@pytest.fixture
def own_server(tmp_path):
    """Start a private server with extra CLI options (``own_server(*args, api_key=..., data_dir=...)``)."""
    started: list[EmbeddedServer] = []

    def start(*extra_args: str, api_key: str | None = None, data_dir: Path | None = None) -> EmbeddedServer:
        server = EmbeddedServer(data_dir or tmp_path / f"server-{len(started)}", api_key=api_key, extra_args=extra_args)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()
