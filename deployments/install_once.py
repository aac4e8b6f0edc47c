"""Pull step: install the deployed commit of reelscribe into the flow run's interpreter, unless it is there.

Every run on a process worker clones the deployed commit; installing it again each time (pip
builds the package from the clone) was most of a short run's cost: about 12 s for a webhook
sweep of 1 s. So the commit installed last is recorded beside the installed package's metadata
(a file ``DEPLOYED_COMMIT`` in its ``.dist-info``, which any other install of reelscribe removes),
and a run of the same commit on the same worker skips pip. Used as a pull step of
``deployments/prefect.yaml`` by file path, run from the clone: reelscribe is not importable yet,
so this uses the standard library only.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys
import sysconfig
from pathlib import Path

MARKER = "DEPLOYED_COMMIT"
PACKAGE = "reelscribe"


def _metadata_dir() -> Path | None:
    """The ``.dist-info`` folder of the package pip installs for this interpreter, or None.

    Looked up only where pip installs (the interpreter's ``purelib``): the working directory (a
    clone, with the ``.egg-info`` a build leaves) and other paths on ``sys.path`` hold other copies."""
    importlib.invalidate_caches()
    for dist in importlib.metadata.distributions(name=PACKAGE, path=[sysconfig.get_paths()["purelib"]]):
        found = [f for f in dist.files or [] if f.name == "METADATA"]
        if found:
            return Path(found[0].locate()).parent
    return None


def installed_commit() -> str | None:
    """The commit this interpreter's reelscribe was installed from by this step, if any."""
    folder = _metadata_dir()
    marker = folder / MARKER if folder else None
    return marker.read_text().strip() if marker and marker.is_file() else None


def install_once(commit: str, requirements_file: str = "deployments/worker-requirements.txt") -> dict[str, str]:
    """``pip install -r requirements_file`` (from the clone, the working directory) unless ``commit`` is
    what is installed; then record ``commit``. Says which on stderr (the worker's log)."""
    if installed_commit() == commit:
        print(f"{PACKAGE} {commit} is installed already: not installing it again", file=sys.stderr, flush=True)
        return {"installed": "false", "commit": commit}
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-r", requirements_file],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pip install -r {requirements_file} failed ({done.returncode}): {done.stderr[-2000:]}")
    folder = _metadata_dir()
    if folder is None:
        raise RuntimeError(f"pip install -r {requirements_file} installed no {PACKAGE}")
    (folder / MARKER).write_text(commit + "\n")
    print(f"{PACKAGE} {commit} installed", file=sys.stderr, flush=True)
    return {"installed": "true", "commit": commit}
