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
    """A real Prefect API (temporary SQLite server) for the whole session; its URL, for children.

    A ``reelscribe`` subprocess given this URL as ``PREFECT_API_URL`` reports to it instead of
    starting a temporary Prefect server of its own (about 9 s each).
    """
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_URL.value()


@pytest.fixture(scope="session")
def prefect_database(tmp_path_factory) -> Path:
    """One migrated Prefect database for the session: each test's own ``prefect server start``
    (tests/prockit.py PrefectServer) begins as a copy of it rather than migrating its own."""
    from tests.prockit import migrated_database

    return migrated_database(tmp_path_factory.mktemp("prefect-database"))


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
def shared_services(pipeline_server, prefect_engine) -> dict[str, str]:
    """The variables that point a ``reelscribe`` subprocess at the session's API and Prefect server.

    For CLI tests about output and exit codes: neither the embedded server nor a temporary Prefect
    server is started (tests/test_cli.py keeps one test of that default path).
    """
    return {
        "TWELVELABS_BASE_URL": pipeline_server.base_url,
        "TWELVE_LABS_API_KEY": pipeline_server.api_key,
        "PREFECT_API_URL": prefect_engine,
    }


@pytest.fixture
def jfk_copy(tmp_path) -> Path:
    """A private copy, so tests that add files beside it do not share a folder."""
    target = tmp_path / "videos" / "jfk.mp4"
    target.parent.mkdir()
    shutil.copy(JFK, target)
    return target


@pytest.fixture(scope="session")
def moto_s3():
    """moto's S3 API on a free loopback port for the whole session (tests/s3kit.py)."""
    from tests.s3kit import MotoS3

    server = MotoS3().start()
    yield server
    server.stop()


@pytest.fixture
def s3_env(moto_s3, monkeypatch):
    """The standard AWS variables point at moto (and no profile or config file gets in the way)."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in moto_s3.env().items():
        monkeypatch.setenv(name, value)
    return moto_s3


@pytest.fixture
def s3_bucket(s3_env):
    """A fresh bucket of this test's own, with an s3fs client for assertions."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    return s3_env.new_bucket()


@pytest.fixture(scope="session")
def moto_s3_process():
    """moto's S3 API in a child process (s3kit.MotoS3Process): for delta-rs, which can block the GIL."""
    from tests.s3kit import MotoS3Process

    server = MotoS3Process().start()
    yield server
    server.stop()


@pytest.fixture
def s3_process_bucket(moto_s3_process, monkeypatch):
    """Like ``s3_bucket``, on the moto server that runs in its own process."""
    import s3fs

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in moto_s3_process.env().items():
        monkeypatch.setenv(name, value)
    s3fs.S3FileSystem.clear_instance_cache()
    return moto_s3_process.new_bucket()


@pytest.fixture(scope="module")
def children(tmp_path_factory):
    """Processes a test module starts (tests/prockit.py): stopped when the module is done."""
    from tests.prockit import Children

    group = Children(tmp_path_factory.mktemp("logs"))
    yield group
    group.stop_all()


# -- per-file times (`make test` prints them: the suite's budget is kept file by file) ---------------


def pytest_addoption(parser):
    parser.addoption(
        "--file-durations", action="store_true", help="end with each test file's time (set-up, call and tear-down summed)"
    )


def pytest_terminal_summary(terminalreporter, config):
    if not config.getoption("--file-durations"):
        return
    totals: dict[str, float] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if hasattr(report, "duration") and getattr(report, "nodeid", ""):
                path = report.nodeid.split("::", 1)[0]
                totals[path] = totals.get(path, 0.0) + report.duration
    workers = getattr(config.option, "numprocesses", None) or 1  # pytest-xdist's -n
    terminalreporter.write_sep("=", f"time per test file ({sum(totals.values()):.0f} s in all, over {workers} worker{'s' if workers > 1 else ''})")
    for path, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        terminalreporter.write_line(f"{seconds:8.1f} s  {path}")
