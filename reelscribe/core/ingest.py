"""Get a video into an index exactly once, even when answers are lost: what every ingest path shares.

Before uploading, an ingest path (``reelscribe.core.ingest_paths``) looks for what this content
already has on the server (by the SHA-256 that reelscribe writes into ``user_metadata``). A create
whose answer was lost may still have happened on the server, so after every failed
attempt ``create_once`` looks again before the create is re-sent, whole. Lookup and upload of one
content run under a claim in the lake's store (``reelscribe.core.claims``), which every machine
sees, so two runs landing the same index at once, on one host or many, do not both upload it.

The lookup lists by file name, so each content is sent under a name of its own
(``upload_name``: ``video.mp4`` → ``video-3f2a9c1e.mp4``): the list holds that one upload, not
every video ever called ``video.mp4``, and the lookup costs one list request at the 10,000th video as
at the first.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from typing import Callable, TypeVar
from urllib.parse import unquote, urlsplit

from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.errors import ApiError, ApiNotFound, ConfigError, TransientError
from reelscribe.core.models import Index
from reelscribe.core.retry import retrying
from reelscribe.core.sources import SourceKind, VideoSource

log = logging.getLogger(__name__)

META_SHA256 = "reelscribe_sha256"
META_SOURCE = "reelscribe_source"
T = TypeVar("T")


def resolve_index(client: TwelveLabsClient, index_id: str | None, index_name: str | None) -> Index:
    """The index named by id (must exist) or by name (created if missing)."""
    if bool(index_id) == bool(index_name):
        raise ConfigError("give exactly one of index_id and index_name")
    if index_id:
        try:
            return client.get_index(index_id)
        except ApiNotFound as exc:
            raise ConfigError(f"unknown index id {index_id!r}: the server has no such index ({exc})") from exc
    found = client.find_index_by_name(index_name)
    if found:
        return found
    index, _ = create_once(
        client,
        lambda: client.create_index(index_name),
        lambda: client.find_index_by_name(index_name),
        what=f"creating index {index_name!r}",
        conflict=_name_taken,
    )
    return index


def _name_taken(exc: ApiError) -> bool:
    """Another run created the index first (this server says 400, others 409)."""
    return exc.status == 409 or exc.code == "index_name_already_exists"


def create_once(
    client: TwelveLabsClient,
    create: Callable[[], T],
    find: Callable[[], T | None],
    *,
    what: str,
    conflict: Callable[[ApiError], bool] = lambda exc: False,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, bool]:
    """``create()`` at most once in effect: ``(created, False)`` or ``(found, True)``.

    A create that failed transiently may still have happened (the answer was lost), so before it
    is sent again ``find()`` looks for it. A refusal for which ``conflict(exc)`` holds (someone
    else created it first) is answered by ``find()`` too. Budget and waits: the client's policy.
    """
    for attempt in retrying(client.retry, what=what, sleep=sleep, log=log.info):
        with attempt:
            if attempt.retry_state.attempt_number > 1:
                found = find()
                if found is not None:
                    return found, True
            try:
                return create(), False
            except TransientError:
                raise
            except ApiError as exc:
                found = find() if conflict(exc) else None
                if found is None:
                    raise
                return found, True
    raise AssertionError("unreachable: retrying() re-raises the last error")


NAME_HASH_CHARS = 8
"""Hex digits of the content hash in an upload's name: two same-named videos share a name once in 4 billion."""


def upload_name(source: VideoSource, sha256: str) -> str:
    """The name ``source`` is sent under: its plain name with the content hash before the extension.

    ``video.mp4`` → ``video-3f2a9c1e.mp4``: it still reads well in a dashboard and keeps the
    extension last.
    """
    plain = plain_name(source)
    stem, dot, extension = plain.rpartition(".")
    if not stem or len(extension) > 16:  # no extension (".mp4" is a name, not an extension)
        stem, dot, extension = plain, "", ""
    tail = f"-{sha256[:NAME_HASH_CHARS]}{dot}{extension}"
    return stem[: 255 - len(tail)] + tail


def plain_name(source: VideoSource) -> str:
    """The plain file name the server records for ``source``.

    Servers keep a client's file name as metadata only: the last path component, without control
    characters, at most 255 characters (as this project's server does). A name they rewrite
    (``a\\b.mp4`` is one legal POSIX name) could never be found again, so a lost upload answer
    would upload the video twice. Files are therefore sent under a name no server needs to
    rewrite; a URL source is named by the server, from the URL's percent-decoded path.
    """
    if source.kind == SourceKind.URL:
        name = re.split(r"[\\/]", unquote(urlsplit(source.uri).path))[-1]
    else:
        name = source.name.replace("\\", "_")
    name = "".join(c for c in unicodedata.normalize("NFC", name) if unicodedata.category(c)[0] != "C").strip()
    return name[:255] if name not in ("", ".", "..") else "video"
