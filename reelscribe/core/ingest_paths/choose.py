"""Which ingest path a batch takes: the user's ``auto|assets|tasks`` mapped to an implementation, once per batch.

``auto`` takes the first path in ``PREFERENCE`` the server offers: the assets path where a
one-item ``GET /assets`` is not answered 404, else the tasks path. The batch asks once and passes
the chosen path down; nothing is remembered between batches.
"""

from __future__ import annotations

from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.errors import ConfigError
from reelscribe.core.ingest_paths.assets_path import AssetsPath
from reelscribe.core.ingest_paths.base import IngestPath
from reelscribe.core.ingest_paths.tasks_path import TasksPath
from reelscribe.core.settings import UPLOAD_CHOICES, UploadChoice

PREFERENCE: tuple[IngestPath, ...] = (AssetsPath(), TasksPath())
"""Every ingest path, the one ``auto`` prefers first; each one's ``name`` is also its ``--upload`` value."""
AUTO = "auto"


def choose_ingest_path(client: TwelveLabsClient, choice: UploadChoice) -> IngestPath:
    """The path for ``client``'s server; ``ConfigError`` for a choice it cannot serve."""
    if choice not in UPLOAD_CHOICES:
        raise ConfigError(f"upload must be one of {', '.join(UPLOAD_CHOICES)}, got {choice!r}")
    if choice == AUTO:
        return next(path for path in PREFERENCE if path.offered_by(client))
    path = path_named(choice)
    path.require(client)
    return path


def path_named(name: str) -> IngestPath:
    """The path a pending record names (its ``name``); ``ConfigError`` for one this version does not have."""
    for path in PREFERENCE:
        if path.name == name:
            return path
    raise ConfigError(f"unknown ingest path {name!r}: this version has {', '.join(p.name for p in PREFERENCE)}")
