"""Turn what a user typed (files, folders, globs, http(s) URLs, fsspec URIs) into video sources.

Discovery never raises for one bad input: it returns the good sources and a list of problems,
each naming the input, so a batch can land everything it can and report the rest.
"""

from __future__ import annotations

import glob
import hashlib
import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Iterable, Iterator
from urllib.parse import urlsplit

import fsspec

from reelscribe.core.errors import NoVideosFound, SourceError
from reelscribe.core.key_ranges import key_ranges
from reelscribe.core.s3_listing import find_in_ranges
from reelscribe.core.source_state import SeenSources, SourceIdentity, identity_from_info, identity_from_stat
from reelscribe.core.stores import NO_STORE_OPTIONS, StoreOptions, bucket_missing, filesystem, protocols, store_problem

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg", ".ts", ".mts", ".3gp"}
)
HASH_CHUNK = 1 << 20


class SourceKind(StrEnum):
    """Where a video's bytes are: a local ``file``, an http(s) ``url`` the server fetches itself
    (never read here), or a ``remote`` object in an fsspec store (S3, GCS…)."""

    FILE = "file"
    URL = "url"
    REMOTE = "remote"


@dataclass(frozen=True)
class VideoSource:
    """One video to transcribe. ``uri`` is an absolute local path, an http(s) URL or an fsspec URI.

    ``identity``: what the listing said about the object (size, modification time, ETag…),
    without reading it; ``None`` for URLs and for sources made by hand.
    """

    uri: str
    kind: SourceKind
    identity: SourceIdentity | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", SourceKind(self.kind))  # a kind given as text becomes the member

    @property
    def name(self) -> str:
        """The file name, as shown in run names, the summary and the server's ``filename``."""
        path = urlsplit(self.uri).path if self.kind != SourceKind.FILE else self.uri
        return PurePosixPath(path).name or self.uri


@dataclass(frozen=True)
class SourceProblem:
    """An input that gave no videos, with the typed error that says why."""

    source: str
    error: SourceError

    @property
    def message(self) -> str:
        return str(self.error)

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


def discover(
    inputs: Iterable[str], *, relative_to: Path | None = None, store: StoreOptions = NO_STORE_OPTIONS,
    known: SeenSources | None = None,
) -> tuple[list[VideoSource], list[SourceProblem]]:
    """Expand every input; de-duplicate (the same file via a folder and a glob is one video).

    ``store``: the options object-store inputs are listed with (a storage block's).

    Local paths come out absolute, also those of inputs that gave no videos; with
    ``relative_to``, those under that folder relative to it instead (a deployment run's
    temporary clone: its absolute path is gone once the run ends). ``known``: the seen-source
    state, whose keys split a large S3 prefix into ranges listed at once (the same listing).
    """
    found: dict[str, VideoSource] = {}
    problems: list[SourceProblem] = []
    for raw in inputs:
        text = str(raw).strip()
        if not text:
            problems.append(SourceProblem(repr(raw), SourceError("empty source")))
            continue
        try:
            for source in _expand(text, store, known):
                if source.kind == SourceKind.FILE and relative_to is not None:  # else already absolute and resolved
                    source = VideoSource(_shown(source.uri, relative_to), SourceKind.FILE, source.identity)
                found.setdefault(source.uri, source)
        except SourceError as exc:
            problems.append(SourceProblem(_shown(text, relative_to), exc))
    return list(found.values()), problems


def _shown(text: str, relative_to: Path | None) -> str:
    """A local path absolute (or relative to ``relative_to`` when under it); anything else as given."""
    scheme = urlsplit(text).scheme.lower()
    if scheme == "file":
        text = urlsplit(text).path
    elif scheme and len(scheme) > 1:
        return text
    path = Path(text).expanduser().absolute()
    if relative_to is not None and path.is_relative_to(relative_to.absolute()):
        return str(path.relative_to(relative_to.absolute()))
    return str(path)


def check_local_inputs(inputs: Iterable[str]) -> Counter[str]:
    """Refuse, before anything starts, a local input that can give no video: ``SourceError``
    naming the first that is missing, unreadable, or a file that is not a video.

    Returns the files in the folders given that are not videos (``.txt``, ``.wav``…), counted by
    extension: skipped, which the caller says in one line. URLs, object-store URIs and globs are
    left to ``discover``, whose listing they need.
    """
    skipped: Counter[str] = Counter()
    for raw in inputs:
        text = str(raw).strip()
        if not text:
            raise SourceError(f"{raw!r}: empty source")
        scheme = urlsplit(text).scheme.lower()
        if scheme == "file":
            text = urlsplit(text).path
        elif scheme and len(scheme) > 1:
            continue
        if glob.has_magic(text):
            continue
        path = Path(text).expanduser()
        if path.is_dir():
            if not os.access(path, os.R_OK | os.X_OK):
                raise SourceError(f"{raw}: folder is not readable (permission denied)")
            skipped.update(_others_under(path))
            continue
        try:
            _expand_local(text)
        except SourceError as exc:
            raise SourceError(f"{raw}: {exc}") from None
    return skipped


def _others_under(folder: Path) -> Counter[str]:
    """The regular files under ``folder`` that are not videos, by extension (as ``_videos_under`` walks)."""
    others: Counter[str] = Counter()
    for entry in _entries_under(str(folder)):
        if not _is_video(entry.name) and entry.is_file() and not entry.name.startswith("."):
            others[os.path.splitext(entry.name)[1].lower() or "(no extension)"] += 1
    return others


def _entries_under(root: str) -> Iterator[os.DirEntry]:
    """Every entry under ``root`` that is not a folder: one ``scandir`` per folder, no ``pathlib``
    object per entry; a folder that cannot be read is skipped, as ``rglob`` does."""
    folders = [root]
    while folders:
        try:
            with os.scandir(folders.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        folders.append(entry.path)
                    else:
                        yield entry
        except OSError:
            continue


def skipped_line(skipped: Counter[str]) -> str | None:
    """``skipped 3 file(s) that are not videos (2 .txt, 1 .wav)``, or ``None`` when there are none."""
    if not skipped:
        return None
    kinds = ", ".join(f"{n} {ext}" for ext, n in sorted(skipped.items(), key=lambda e: (-e[1], e[0])))
    return f"skipped {sum(skipped.values())} file(s) that are not videos ({kinds})"


def source_key(text: str) -> str:
    """A source as runs record it: a local path absolute and resolved (as ``discover`` lists it), anything else as given.

    So that ``videos/x.mp4`` typed in another command matches what ``run videos/x.mp4`` landed."""
    text = str(text).strip()
    scheme = urlsplit(text).scheme.lower()
    if scheme == "file":
        text = urlsplit(text).path
    elif scheme and len(scheme) > 1:
        return text
    return str(Path(text).expanduser().resolve())


def _expand(text: str, store: StoreOptions, known: SeenSources | None = None) -> list[VideoSource]:
    scheme = urlsplit(text).scheme.lower()
    if scheme in ("http", "https"):
        if not urlsplit(text).netloc:
            raise SourceError("URL has no host")
        return [VideoSource(text, SourceKind.URL)]
    if scheme == "file":
        return _expand_local(urlsplit(text).path)
    if scheme and len(scheme) > 1:
        return _expand_remote(text, store, known)
    return _expand_local(text)


def _expand_local(text: str) -> list[VideoSource]:
    path = Path(text).expanduser()
    if glob.has_magic(text):
        matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
        videos = [p for p in matches if p.is_file() and _is_video(p.name)]
        if not videos:
            raise NoVideosFound(f"pattern matched no video files ({_extensions()})")
        return [_local(p) for p in videos]
    if not path.exists():
        raise SourceError("no such file or directory")
    if path.is_dir():
        videos = _videos_under(path)
        if not videos:
            raise NoVideosFound(f"folder contains no video files ({_extensions()})")
        return videos
    if not os.access(path, os.R_OK):
        raise SourceError("file is not readable (permission denied)")
    if not _is_video(path.name):
        raise SourceError(f"not a video file ({_extensions()})")
    return [_local(path)]


def _expand_remote(uri: str, store: StoreOptions, known: SeenSources | None) -> list[VideoSource]:
    """A folder, glob or file on any fsspec filesystem (``s3://bucket/prefix/``, ``memory://…``).

    A store that cannot be used (no driver, no such bucket, refused credentials) is a problem of
    this source, worded by ``store_error`` with its fix.
    """
    try:
        return _list_remote(uri, store, known)
    except SourceError:
        raise
    except Exception as exc:  # noqa: BLE001 - each driver raises its own types; store_problem words them
        raise SourceError(store_problem(uri, exc)) from exc


def _list_remote(uri: str, store: StoreOptions = NO_STORE_OPTIONS, known: SeenSources | None = None) -> list[VideoSource]:
    """List with details: sizes, ETags and times come with the listing (no request per object)."""
    fs, path = filesystem(uri, **store.of(uri))
    fs.invalidate_cache()  # a cached listing from an earlier run would hide what arrived since
    protocol = protocols(fs)[0]
    if glob.has_magic(path):
        entries = fs.glob(path, detail=True)
    else:
        # No ``isdir`` first: on S3 it lists the whole prefix, so a prefix was listed twice.
        # fsspec's ``find`` of a single file gives the file with no details: those come from ``info``.
        entries = {p: info for p, info in _find(fs, path, known).items() if info}
        if not entries and fs.isfile(path):
            entries = {path: fs.info(path)}
        elif not entries and bucket_missing(fs, path):
            raise FileNotFoundError(path)
        elif not entries:
            # An object store has no empty folders: a prefix exists only while objects are under it.
            raise NoVideosFound("no such file or directory, or nothing under this prefix yet")
    videos = sorted(((p, info) for p, info in entries.items() if _is_video(p) and info.get("type") == "file"), key=lambda e: e[0])
    if not videos:
        raise NoVideosFound(f"no video files here ({_extensions()})")
    return [
        VideoSource(fs.unstrip_protocol(p) if protocol != "file" else p, SourceKind.REMOTE, identity_from_info(info))
        for p, info in videos
    ]


def _find(fs: fsspec.AbstractFileSystem, path: str, known: SeenSources | None) -> dict[str, dict]:
    """``find(detail=True)``; on S3 (not version-aware: versions come from another listing) in
    key ranges at once when the state knows more keys under ``path`` than one page holds."""
    if known is None or getattr(fs, "version_aware", True) or "s3" not in protocols(fs):
        return fs.find(path, detail=True)
    bucket, _, key = path.partition("/")
    prefix = f"{key.rstrip('/')}/" if key.strip("/") else ""
    root = fs.unstrip_protocol(f"{bucket}/")  # the state's URIs: s3://bucket/key
    ranges = key_ranges([uri[len(root):] for uri in known.sources_under(root + prefix)])
    return fs.find(path, detail=True) if len(ranges) == 1 else find_in_ranges(fs, bucket, prefix, ranges)


def _videos_under(folder: Path) -> list[VideoSource]:
    """Every video file under ``folder`` (not through linked folders, as ``rglob``), resolved,
    with its ``stat`` identity, in path order: one ``scandir`` per folder, one ``stat`` per
    video and no ``pathlib`` object per entry (at 100,000 files those made listing slower than
    hashing them). A folder that cannot be read is skipped, as ``rglob`` does."""
    videos = []
    for entry in _entries_under(os.path.realpath(folder)):
        if _is_video(entry.name):
            path = os.path.realpath(entry.path) if entry.is_symlink() else entry.path
            try:
                info = os.stat(path)
            except OSError:
                continue  # a broken link, or gone since the listing
            if stat.S_ISREG(info.st_mode):
                videos.append(VideoSource(path, SourceKind.FILE, identity_from_stat(info)))
    return sorted(videos, key=lambda v: v.uri.split(os.sep))


def _local(path: Path) -> VideoSource:
    """A local file with its identity from ``stat`` (never opened here)."""
    resolved = path.resolve()
    return VideoSource(str(resolved), SourceKind.FILE, identity_from_stat(resolved.stat()))


def _is_video(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS


def _extensions() -> str:
    return "looked for " + ", ".join(sorted(VIDEO_EXTENSIONS))


def content_sha256(source: VideoSource, store: StoreOptions = NO_STORE_OPTIONS) -> str:
    """SHA-256 of the video's bytes, streamed; for an http(s) URL, of the URL text itself.

    The client never downloads a URL source (the server fetches it), so a URL's identity is the
    URL: the same URL is the same video for idempotency.
    """
    digest = hashlib.sha256()
    if source.kind == SourceKind.URL:
        digest.update(b"url:" + source.uri.encode())
        return digest.hexdigest()
    with open_source(source, store) as stream:
        while chunk := stream.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def open_source(source: VideoSource, store: StoreOptions = NO_STORE_OPTIONS) -> BinaryIO:
    """A binary stream of a file or fsspec source (not for URLs), opened with ``store``'s options."""
    if source.kind == SourceKind.FILE:
        try:
            return open(source.uri, "rb")
        except OSError as exc:
            raise SourceError(f"cannot read file: {exc.strerror}") from exc
    fs, path = filesystem(source.uri, **store.of(source.uri))
    stream = fs.open(path, "rb")
    # The multipart encoder sizes a stream by ``len``, ``fileno`` or ``getvalue``: an object
    # store's file (s3fs, gcsfs) has none of them, only ``size``.
    if not hasattr(stream, "getvalue"):
        stream.len = stream.size
    return stream


def source_size(source: VideoSource, store: StoreOptions = NO_STORE_OPTIONS) -> int | None:
    """The video's size in bytes; ``None`` for an http(s) URL (the server fetches it, unseen here)."""
    if source.kind == SourceKind.URL:
        return None
    if source.kind == SourceKind.FILE:
        try:
            return os.path.getsize(source.uri)
        except OSError as exc:
            raise SourceError(f"cannot read file: {exc.strerror}") from exc
    fs, path = filesystem(source.uri, **store.of(source.uri))
    return int(fs.size(path))
