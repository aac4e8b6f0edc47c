"""The README's and the docs' examples run as written, so a snippet that rots fails the suite.

Every ```bash, ```python and ```sql block either runs here, in a folder holding a lake that
`reelscribe run samples/jfk.mp4 --out lake` made, or is marked on the line before it with
``<!-- not run: <reason> -->`` (a step that needs another terminal, a cloud account or minutes).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"(?:^<!-- not run: (?P<reason>[^>]*?) -->\n)?^```(?P<lang>bash|python|sql)\n(?P<code>.*?)^```$",
                   re.MULTILINE | re.DOTALL)


def blocks() -> list[tuple[str, str, str, str | None]]:
    found = []
    for page in PAGES:
        for m in BLOCK.finditer(page.read_text()):
            found.append((str(page.relative_to(ROOT)), m.group("lang"), m.group("code"), m.group("reason")))
    return found


RUNNABLE = [pytest.param(lang, code, id=f"{page}:{n}") for n, (page, lang, code, reason) in enumerate(blocks()) if not reason]


def test_every_block_runs_or_says_why_not():
    unmarked_reasons = [(page, code[:40]) for page, _, code, reason in blocks() if reason is not None and not reason.strip()]
    assert unmarked_reasons == []
    assert RUNNABLE, "no runnable example at all: the marker pattern no longer matches the pages"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, pipeline_server, prefect_engine) -> tuple[Path, dict[str, str]]:
    """A folder like a fresh clone after its first run: samples/, .venv and a lake with jfk.mp4."""
    work = tmp_path_factory.mktemp("docs")
    shutil.copytree(ROOT / "samples", work / "samples")
    (work / ".venv").symlink_to(Path(sys.executable).parents[1])
    env = {**os.environ, "TWELVELABS_BASE_URL": pipeline_server.base_url, "TWELVE_LABS_API_KEY": pipeline_server.api_key,
           "PREFECT_API_URL": prefect_engine, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "REELSCRIBE_HOME": str(work / "home")}
    subprocess.run([str(work / ".venv/bin/reelscribe"), "run", "samples/jfk.mp4", "--out", "lake", "--index-name", "docs"],
                   cwd=work, env=env, check=True, capture_output=True, timeout=600)
    return work, env


@pytest.mark.parametrize(("lang", "code"), RUNNABLE)
def test_example_runs(lang, code, workdir):
    work, env = workdir
    if lang == "sql":
        command = [sys.executable, "-c", "import duckdb, sys; [duckdb.sql(s).fetchall() for s in sys.stdin.read().split(';') if s.strip()]"]
    else:
        command = ["bash", "-euo", "pipefail"] if lang == "bash" else [sys.executable]
    done = subprocess.run(command, input=code, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
