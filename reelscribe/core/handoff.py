"""How an object-store video reaches the API: streamed through this worker, or handed off as a URL.

``stream`` (the default) reads the object and sends its bytes. ``url`` sends a time-limited
presigned URL instead and the API fetches the object itself (``video_url`` on the tasks path,
an asset ``url`` on the assets path, up to 4 GB there): the worker then reads each new video
once, for its content hash. Only where the API can reach the store (the platform: a public
endpoint; the local server: ``--allow-url-network``). Local files and http(s) URLs are sent as
they are either way.
"""

from __future__ import annotations

from typing import Literal, get_args

from reelscribe.core.errors import ConfigError
from reelscribe.core.sources import SourceKind, VideoSource
from reelscribe.core.stores import NO_STORE_OPTIONS, StoreOptions, filesystem

HandOff = Literal["stream", "url"]
HAND_OFFS: tuple[HandOff, ...] = get_args(HandOff)
DEFAULT_HAND_OFF: HandOff = "stream"


def sent_as(source: VideoSource, hand_off: HandOff, expires_s: int, store: StoreOptions = NO_STORE_OPTIONS) -> VideoSource:
    """What is sent for ``source``: itself, or for ``url`` and an object-store source, a presigned URL to it.

    The URL's path ends in the object's key, so the server records the same file name.
    """
    if hand_off not in HAND_OFFS:
        raise ConfigError(f"hand_off must be one of {', '.join(HAND_OFFS)}, got {hand_off!r}")
    if hand_off == "stream" or source.kind != SourceKind.REMOTE:
        return source
    return VideoSource(presigned_url(source.uri, expires_s, store), "url")


def presigned_url(uri: str, expires_s: int, store: StoreOptions = NO_STORE_OPTIONS) -> str:
    """A GET URL for ``uri`` valid for ``expires_s`` seconds, signed by the store's own client (``fs.sign``)."""
    fs, path = filesystem(uri, **store.of(uri))
    try:
        return fs.sign(path, expiration=expires_s)
    except NotImplementedError as exc:
        raise ConfigError(f"{uri}: this store cannot sign a URL for the API to fetch; use hand_off 'stream'") from exc
