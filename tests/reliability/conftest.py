"""Fixtures of the reliability tests (``prefect_engine`` comes from ``tests/conftest.py``).

The servers started here pass ``--vad``: the tests' clips are silent, and with faster-whisper's VAD
filter silence takes milliseconds to transcribe whatever the server's default is, which keeps the
group's run time (and its timing-sensitive steps) independent of it.
"""

from __future__ import annotations

import itertools
from contextlib import ExitStack
from pathlib import Path

import pytest

from reliability_kit import point_at, running


@pytest.fixture(scope="session")
def reliability_server(tmp_path_factory):
    """One server for the tests that only need a default one (each test uses its own index)."""
    with running(tmp_path_factory.mktemp("reliability-server"), "--workers", "2") as server:
        yield server


@pytest.fixture
def rapi(reliability_server, monkeypatch):
    """Point reelscribe at ``reliability_server`` through the variables users set (like ``api``)."""
    point_at(monkeypatch, reliability_server)
    return reliability_server


@pytest.fixture
def own_server(tmp_path):
    """Start a private server with extra CLI options (``own_server(*args, api_key=..., data_dir=...)``)."""
    numbers = itertools.count()
    with ExitStack() as stack:

        def start(*extra_args: str, api_key: str | None = None, data_dir: Path | None = None):
            folder = data_dir or tmp_path / f"server-{next(numbers)}"
            return stack.enter_context(running(folder, *extra_args, api_key=api_key))

        yield start
