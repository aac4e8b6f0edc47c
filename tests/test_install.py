"""Installing into an environment that already runs today's Prefect changes nothing it holds.

A data engineer adds reelscribe to the environment of their Prefect workers: that environment's
orchestrator and database layer must stay as they are (no downgrade), its dependency set must stay
consistent (`uv pip check`), and the embedded default must land a video from there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import JFK, ROOT

TODAYS_PREFECT = ("prefect==3.9.1", "sqlalchemy==2.1.9")
UV = Path(sys.executable).with_name("uv")

pytestmark = pytest.mark.slow


def _uv(*args: str, python: Path) -> str:
    done = subprocess.run([str(UV), "pip", *args, "--python", str(python)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _versions(python: Path) -> dict[str, str]:
    lines = _uv("freeze", python=python).splitlines()
    return dict(line.split("==", 1) for line in lines if "==" in line)


@pytest.fixture(scope="module")
def prefect_environment(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A venv holding today's Prefect before reelscribe arrives, and what it held then."""
    venv = tmp_path_factory.mktemp("prefect-env") / "venv"
    subprocess.run([str(UV), "venv", "--quiet", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    _uv("install", "--quiet", *TODAYS_PREFECT, python=python)
    return python, _versions(python)


def test_installing_downgrades_nothing_and_lands_the_sample(prefect_environment, prefect_engine, tmp_path):
    python, before = prefect_environment
    _uv("install", "--quiet", f"{ROOT}[local]", python=python)
    after = _versions(python)

    changed = {name: (version, after.get(name)) for name, version in before.items() if after.get(name) != version}
    assert changed == {}, f"installing reelscribe changed what the environment held: {changed}"
    assert after["prefect"] == "3.9.1" and after["sqlalchemy"] == "2.1.9"
    assert "Checked" in subprocess.run([str(UV), "pip", "check", "--python", str(python)], capture_output=True,
                                       text=True, timeout=120, check=True).stderr

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWELVE", "REELSCRIBE"))}
    env.update(PREFECT_API_URL=prefect_engine, REELSCRIBE_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1")
    lake = tmp_path / "lake"
    run = subprocess.run([str(python.with_name("reelscribe")), "run", str(JFK), "--out", str(lake)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "landed" in run.stdout
    assert list(lake.glob("segments/index_id=*/*.parquet")), sorted(str(p) for p in lake.rglob("*"))
