"""The package as a user installs it: one ``reelscribe`` namespace in the wheel, and it runs."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import JFK, ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(ROOT)],
        check=True, capture_output=True, timeout=600,
    )
    (built,) = out.glob("reelscribe-*.whl")
    return built


def test_every_top_level_name_in_the_wheel_is_reelscribe(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/", 1)[0] for name in names}
    assert top and all(t.startswith("reelscribe") for t in top), top
    assert "reelscribe/deployments/prefect.yaml" in names
    assert "reelscribe/server/openapi/twelvelabs-v1.3-subset.json" in names
    assert {"reelscribe/flows/transcribe.py", "reelscribe/tasks/upload.py", "reelscribe/server/app.py"} <= set(names)


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with only the wheel installed; its dependencies come from this environment's
    site-packages through a ``.pth`` line, so nothing is downloaded and no editable finder of the
    repository applies (a ``.pth`` line adds a path but runs none of the ``.pth`` files in it)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )
    return venv


def test_installed_wheel_imports_from_site_packages_not_the_repository(installed, tmp_path):
    code = (
        "import reelscribe.flows.transcribe as f, reelscribe.server.app as s, reelscribe.deployments.serve as d;"
        "print(f.__file__); print(s.__file__); print(len(d.load_spec()))"
    )
    result = subprocess.run([str(installed / "bin" / "python"), "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    flow_file, server_file, deployments = result.stdout.split()
    assert str(installed) in flow_file and str(installed) in server_file
    assert int(deployments) >= 2


def test_installed_wheel_serves_help(installed, tmp_path):
    result = subprocess.run([str(installed / "bin" / "reelscribe"), "serve", "--help"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0 and "--data-dir" in result.stdout


@pytest.mark.slow
def test_installed_wheel_transcribes_a_sample(installed, tmp_path, prefect_engine):
    """The demo's run, from the wheel, in a folder that is not the repository: its own embedded
    server (the server's files come from the wheel too), the session's Prefect server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWELVE", "PREFECT_API_URL"))}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_API_URL=prefect_engine,
        REELSCRIBE_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1",
    )
    result = subprocess.run(
        [str(installed / "bin" / "reelscribe"), "run", str(JFK), "--out", "lake", "--index-name", "wheel"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("landed\t")
    assert list((tmp_path / "lake" / "segments").glob("index_id=*/*.parquet"))
