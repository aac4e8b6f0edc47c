"""Getting uploaded video bytes onto disk: streamed multipart uploads (``video_url`` is ``urlfetch.py``).

Uploads are parsed from the request stream as it arrives (python-multipart's push parser) and the
``video_file`` part is written straight to ``incoming/<random id>.part``: nothing the size of a video
is ever held in memory, and the client's file name is kept only as metadata. Past the size limit the
partial file is deleted and the rest of the body is read and discarded (so the client, still sending,
sees the 400 instead of a reset connection), up to a bound after which the connection is dropped.
"""

from __future__ import annotations

import logging
import os
import unicodedata
import urllib.parse
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypeVar

import anyio
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from reelscribe.server.config import ServerConfig
from reelscribe.server.errors import ApiError, invalid
from reelscribe.server.ids import new_id

FILE_FIELD = "video_file"
MAX_FIELD_BYTES = 1024 * 1024
MAX_PARTS = 32


def safe_filename(name: str | None, default: str = "video") -> str:
    """The last path component of a client-supplied name, without control characters (metadata only)."""
    text = unicodedata.normalize("NFC", (name or "").replace("\\", "/"))
    base = text.rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    if base in ("", ".", ".."):
        return default
    return base[:255]


def too_large(limit: int) -> ApiError:
    return ApiError("video_filesize_too_large", f"The video file is larger than the limit of {limit} bytes.")


@dataclass
class TaskForm:
    """The parsed ``POST /tasks`` body: text fields, plus the uploaded file (if any) on disk."""

    fields: dict[str, str] = field(default_factory=dict)
    file_path: Path | None = None
    file_name: str | None = None
    file_size: int = 0

    def discard(self) -> None:
        """Delete the uploaded file; called whenever the request is refused."""
        if self.file_path is not None:
            self.file_path.unlink(missing_ok=True)
            self.file_path = None


class _FormSink:
    """python-multipart callbacks that route each part to a file (``video_file``) or a small buffer."""

    def __init__(self, incoming_dir: Path, max_file_bytes: int, file_field: str = FILE_FIELD) -> None:
        self.form = TaskForm()
        self.file_field = file_field
        self.incoming_dir = incoming_dir
        self.max_file_bytes = max_file_bytes
        self.overflow: ApiError | None = None
        self._headers: dict[bytes, bytes] = {}
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._name = ""
        self._buffer: bytearray | None = None
        self._file: BinaryIO | None = None
        self._parts = 0
        self._seen: set[str] = set()

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._header_field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def fail(self, error: ApiError) -> None:
        """Remember the first error, drop any partial file, and ignore the rest of the body."""
        if self.overflow is None:
            self.overflow = error
        self.close_file()
        self.form.discard()
        self._buffer = None

    def _part_begin(self) -> None:
        self._headers = {}
        self._parts += 1
        if self._parts > MAX_PARTS and self.overflow is None:
            self.fail(invalid("form", f"more than {MAX_PARTS} parts"))

    def _header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if self.overflow is not None:
            return
        if self._name in self._seen:
            self.fail(invalid(self._name, "given more than once"))
            return
        self._seen.add(self._name)
        if self._name == self.file_field:
            filename = options.get(b"filename")
            self.form.file_name = safe_filename(filename.decode("utf-8", "replace") if filename else None)
            self.incoming_dir.mkdir(parents=True, exist_ok=True)
            self.form.file_path = self.incoming_dir / f"{new_id()}.part"
            self._file = open(self.form.file_path, "wb")
        else:
            self._buffer = bytearray()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.overflow is not None:
            return
        if self._file is not None:
            self.form.file_size += end - start
            if self.form.file_size > self.max_file_bytes:
                self.fail(too_large(self.max_file_bytes))
                return
            self._file.write(memoryview(data)[start:end])
        elif self._buffer is not None:
            self._buffer.extend(memoryview(data)[start:end])
            if len(self._buffer) > MAX_FIELD_BYTES:
                self.fail(invalid(self._name, f"longer than {MAX_FIELD_BYTES} bytes"))

    def _part_end(self) -> None:
        if self._file is not None:
            self.close_file()
        elif self._buffer is not None:
            self.form.fields[self._name] = self._buffer.decode("utf-8", "replace")
            self._buffer = None

    def close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


async def read_task_form(
    content_type: str,
    stream: AsyncIterator[bytes],
    incoming_dir: Path,
    max_file_bytes: int,
    drain_limit: int,
    file_field: str = FILE_FIELD,
) -> TaskForm:
    """Parse a multipart body from ``stream``, writing ``file_field`` to ``incoming_dir`` as it arrives.

    Once the file is over ``max_file_bytes``, the body is still read (and dropped) up to ``drain_limit``.
    Raises :class:`ApiError` (and leaves no file behind) for a malformed body or an oversized file.
    """
    media_type, options = parse_options_header(content_type)
    if media_type == b"application/x-www-form-urlencoded":
        return await _read_urlencoded(stream)
    boundary = options.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        raise invalid("Content-Type", "this endpoint takes multipart/form-data (or a URL-encoded form with video_url)")
    sink = _FormSink(incoming_dir, max_file_bytes, file_field)
    parser = MultipartParser(boundary, sink.callbacks())
    received = 0
    try:
        async for chunk in stream:
            received += len(chunk)
            if sink.overflow is not None:
                if received > drain_limit:
                    break
                continue
            parser.write(chunk)
        if sink.overflow is None:
            parser.finalize()
    except MultipartParseError as exc:
        sink.fail(invalid("form", f"malformed multipart body ({exc})"))
    except BaseException:
        sink.fail(invalid("form", "the upload was interrupted"))
        raise
    finally:
        sink.close_file()
    if sink.overflow is not None:
        raise sink.overflow
    return sink.form


async def _read_urlencoded(stream: AsyncIterator[bytes]) -> TaskForm:
    """A URL-encoded form (text fields only, so no file): bounded like any text field."""
    body = bytearray()
    async for chunk in stream:
        body.extend(chunk)
        if len(body) > MAX_FIELD_BYTES:
            raise invalid("form", f"a URL-encoded form must be under {MAX_FIELD_BYTES} bytes")
    try:
        pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise invalid("form", "the form is not UTF-8") from None
    return TaskForm(fields=dict(pairs))


def commit_file(source: Path, destination: Path) -> None:
    """fsync ``source`` and move it to ``destination`` so an accepted upload survives a crash."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(source, destination)


log = logging.getLogger(__name__)
Row = TypeVar("Row")


async def accept_upload(
    request: Request,
    config: ServerConfig,
    build: Callable[[TaskForm], Row],
    final_path: Callable[[Row], Path],
    insert: Callable[[Row], None],
    *,
    file_field: str = FILE_FIELD,
) -> Row:
    """Read a create request's form, build its row, move its file to ``final_path`` and insert the row.

    ``POST /tasks`` and ``POST /assets`` answer only after all three, so an answered upload is
    never lost; on any failure (a bad field, a client that went away) nothing is kept.
    """
    try:
        form = await read_task_form(
            request.headers.get("content-type", ""),
            request.stream(),
            config.incoming_dir,
            config.max_upload_bytes,
            config.drain_limit,
            file_field=file_field,
        )
    except ClientDisconnect:
        log.info("client went away during an upload to %s; nothing was kept", request.url.path)
        raise ApiError("parameter_invalid", "The upload was interrupted.") from None
    row = None
    try:
        row = await anyio.to_thread.run_sync(build, form)
        if form.file_path is not None:
            await anyio.to_thread.run_sync(commit_file, form.file_path, final_path(row))
            form.file_path = None
        await anyio.to_thread.run_sync(insert, row)
    except BaseException:
        form.discard()
        if row is not None:
            final_path(row).unlink(missing_ok=True)
        raise
    return row
