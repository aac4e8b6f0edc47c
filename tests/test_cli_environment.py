"""The CLI hands values to its run explicitly: a run in this process leaves ``os.environ`` and
Prefect's settings as it found them, and the embedded server's key reaches the flow through the
run's ``RunContext``, not the environment."""

from __future__ import annotations

import os
import uuid

import pytest
from pydantic import SecretStr

from tests.conftest import JFK


@pytest.mark.usefixtures("prefect_engine")
def test_a_run_leaves_the_environment_and_prefects_settings_as_they_were(api, tmp_path, monkeypatch, capsys):
    from prefect.settings import get_current_settings

    from reelscribe.cli import main

    for name in ("DO_NOT_TRACK", "PREFECT_LOGGING_LEVEL", "PREFECT_SERVER_ANALYTICS_ENABLED",
                 "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"):
        monkeypatch.delenv(name, raising=False)  # variables the CLI must not set: unset, so a write would show
    before, settings = dict(os.environ), get_current_settings()
    code = main(["run", str(JFK), "--out", str(tmp_path / "lake"), "--index-name", f"env-{uuid.uuid4().hex[:8]}", "--json"])
    assert code == 0, capsys.readouterr().err
    assert '"status": "landed"' in capsys.readouterr().out
    assert dict(os.environ) == before
    assert get_current_settings() is settings, "Prefect's settings context is the one the run started in"


def test_the_run_context_key_reaches_the_flows_settings_without_the_environment(monkeypatch):
    """What the CLI does for the embedded server: its key is the run's, and nothing else sees it."""
    from reelscribe.core.errors import ConfigError
    from reelscribe.tasks.connection import resolve_settings
    from reelscribe.tasks.run_context import RunContext

    monkeypatch.delenv("TWELVE_LABS_API_KEY", raising=False)
    monkeypatch.delenv("TWELVELABS_BASE_URL", raising=False)
    with RunContext(api_key=SecretStr("embedded-key")):
        settings = resolve_settings("http://127.0.0.1:9/v1.3", None)
    assert settings.api_key.get_secret_value() == "embedded-key"
    assert "embedded-key" not in os.environ.values()
    with pytest.raises(ConfigError, match="no API configured"):
        resolve_settings(None, None)  # outside the run's context the key is gone
