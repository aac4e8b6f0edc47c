"""``video_url``: checked when a task is requested, fetched (bounded) by the validator thread.

``file://`` URLs are read only under an ``--allow-file-root``. For ``http(s)`` the host is resolved
once per request, every address it resolves to must pass :mod:`reelscribe.server.netguard`, and the
connection goes to one of those checked addresses (no second lookup a rebinding DNS server could
answer differently), while the ``Host`` header, TLS SNI and certificate check use the URL's name.
Redirects are followed by hand, at most :data:`MAX_REDIRECTS`, each hop checked the same way.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from typing import BinaryIO

from reelscribe.server.config import ServerConfig
from reelscribe.server.errors import ApiError, invalid
from reelscribe.server.netguard import IPAddress, IPNetwork, refusal
from reelscribe.server.uploads import safe_filename

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK = 1024 * 1024
USER_AGENT = "reelscribe-server"

Resolver = Callable[[str, int], Sequence[IPAddress]]


def resolve_host(host: str, port: int) -> tuple[IPAddress, ...]:
    """Every address ``host`` resolves to, in the system resolver's order (an IP literal is itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return tuple(dict.fromkeys(ip_address(info[4][0]) for info in infos))


@dataclass(frozen=True)
class UrlRules:
    """What a ``video_url`` may point at; ``resolve`` is the one name lookup (replaceable in tests)."""

    file_roots: tuple[Path, ...] = ()
    networks: tuple[IPNetwork, ...] = ()
    resolve: Resolver = resolve_host

    @classmethod
    def of(cls, config: ServerConfig) -> UrlRules:
        return cls(file_roots=config.allow_file_roots, networks=config.allow_url_networks)


class UrlFetchError(Exception):
    """A ``video_url`` could not be fetched; ``code`` is the task's failure code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class UrlRefused(Exception):
    """The URL (or an address its host resolves to) is not one this server fetches; says why."""


@dataclass(frozen=True)
class _Target:
    """One checked http(s) hop: where to connect, and what to ask for."""

    tls: bool
    host: str
    port: int
    request_target: str
    addresses: tuple[IPAddress, ...]


def _host_port(parsed: urllib.parse.SplitResult) -> tuple[str, int]:
    if not parsed.hostname:
        raise UrlRefused("the URL has no host")
    try:
        port = parsed.port
        host = parsed.hostname.encode("idna").decode("ascii")
    except ValueError:
        raise UrlRefused("the URL's port is not a number from 0 to 65535") from None
    except UnicodeError:
        raise UrlRefused("the URL's host is not a valid name") from None
    return host, port or (443 if parsed.scheme.lower() == "https" else 80)


def _is_literal(host: str, address: IPAddress) -> bool:
    try:
        return ip_address(host) == address
    except ValueError:
        return False


def _checked_addresses(host: str, port: int, rules: UrlRules) -> tuple[IPAddress, ...]:
    """Resolve ``host`` once; UrlRefused if any address is refused, OSError if it does not resolve."""
    addresses = tuple(rules.resolve(host, port))
    if not addresses:
        raise socket.gaierror(f"{host} resolves to no address")
    for address in addresses:
        why = refusal(address, rules.networks)
        if why is not None:
            named = f"{host} is" if _is_literal(host, address) else f"{host} resolves to {address}, which is"
            raise UrlRefused(
                f"{named} not a public address ({why}); this server fetches only from public addresses "
                "unless --allow-url-network allows a network (reelscribe run: --server-allow-url-network)"
            )
    return addresses


def _target(url: str, rules: UrlRules) -> _Target:
    parsed = urllib.parse.urlsplit(url)
    scheme = parsed.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlRefused("only http and https URLs are fetched")
    host, port = _host_port(parsed)
    addresses = _checked_addresses(host, port, rules)
    request_target = (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")
    return _Target(scheme == "https", host, port, request_target, addresses)


def _file_url_path(parsed: urllib.parse.SplitResult) -> Path:
    if parsed.netloc not in ("", "localhost"):
        raise invalid("video_url", "file:// URLs must name a local path")
    return Path(urllib.request.url2pathname(parsed.path))


def _checked_file(parsed: urllib.parse.SplitResult, roots: tuple[Path, ...]) -> Path:
    """The file a ``file://`` URL names, after resolving symbolic links and ``..``, if under a root."""
    path = _file_url_path(parsed).resolve()
    if not any(path.is_relative_to(root.resolve()) for root in roots):
        raise invalid("video_url", "file:// URLs are only allowed under a directory given with --allow-file-root")
    if not path.is_file():
        raise invalid("video_url", "no such file under the allowed roots")
    return path


def check_video_url(url: str, rules: UrlRules, *, field: str = "video_url") -> str:
    """Validate a URL to fetch (``field``: the form field that carried it) at request time, before
    anything is fetched; returns its file name.

    An http(s) host that does not resolve now is accepted: the fetch resolves and checks it again
    and fails the task with the reason (refusing would make a passing DNS failure permanent).
    """
    parsed = urllib.parse.urlsplit(url.strip())
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https"):
        try:
            _checked_addresses(*_host_port(parsed), rules)
        except UrlRefused as exc:
            raise invalid(field, str(exc)) from None
        except OSError:
            pass
    elif scheme == "file":
        _checked_file(parsed, rules.file_roots)
    else:
        raise invalid(field, "only http, https and (when allowed) file URLs are supported")
    return safe_filename(urllib.parse.unquote(parsed.path))


class _PinnedConnection(http.client.HTTPConnection):
    """HTTP, or HTTPS with ``tls``, to addresses already checked; it never looks the host up itself."""

    def __init__(self, target: _Target, timeout: float, tls: ssl.SSLContext | None) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.addresses = target.addresses
        self.tls = tls
        if tls is not None:
            self.default_port = http.client.HTTPS_PORT

    def connect(self) -> None:
        sock = _open_socket(self.addresses, self.port, self.timeout)
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.host) if self.tls is not None else sock


def _open_socket(addresses: Sequence[IPAddress], port: int, timeout: float) -> socket.socket:
    """A TCP connection to the first of ``addresses`` that answers."""
    error: OSError = OSError("no address to connect to")
    for address in addresses:
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect((str(address), port))
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error


def _copy_bounded(source: BinaryIO, dest: Path, max_bytes: int, deadline: float) -> int:
    total = 0
    with open(dest, "wb") as out:
        while chunk := source.read(CHUNK):
            total += len(chunk)
            if total > max_bytes:
                raise UrlFetchError("video_filesize_too_large", f"The video at the URL is larger than {max_bytes} bytes.")
            if time.monotonic() > deadline:
                raise UrlFetchError("video_file_broken", "Fetching the video URL took too long.")
            out.write(chunk)
    return total


def _refused(url: str, hop: int, why: str) -> UrlFetchError:
    """The task failure for a URL (or redirect target) the rules refuse: same code as at request time."""
    where = why if hop == 0 else f"it redirects to {url}, and {why}"
    return UrlFetchError("parameter_invalid", invalid("video_url", where).message)


def _fetch_http(url: str, dest: Path, rules: UrlRules, timeout: float, max_bytes: int, deadline: float) -> int:
    for hop in range(MAX_REDIRECTS + 1):
        try:
            target = _target(url, rules)
        except UrlRefused as exc:
            raise _refused(url, hop, str(exc)) from None
        connection = _PinnedConnection(target, timeout, ssl.create_default_context() if target.tls else None)
        try:
            connection.request("GET", target.request_target, headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
            response = connection.getresponse()
            location = response.getheader("Location")
            if response.status in REDIRECT_STATUSES and location:
                url = urllib.parse.urljoin(url, location.strip())
                continue
            if not 200 <= response.status < 300:
                raise UrlFetchError(
                    "video_file_broken", f"The video URL could not be fetched: HTTP {response.status} {response.reason}."
                )
            return _copy_bounded(response, dest, max_bytes, deadline)
        finally:
            connection.close()
    raise UrlFetchError("video_file_broken", f"The video URL redirected more than {MAX_REDIRECTS} times.")


def check_address(url: str, rules: UrlRules) -> None:
    """UrlRefused unless every address an http(s) URL's host resolves to is allowed; OSError if it does not resolve."""
    _target(url, rules)


def post_checked(url: str, body: bytes, headers: dict[str, str], *, rules: UrlRules, timeout: float) -> int:
    """POST ``body`` to an http(s) URL checked by the same rules as a fetch (redirects not followed); the status."""
    target = _target(url, rules)
    connection = _PinnedConnection(target, timeout, ssl.create_default_context() if target.tls else None)
    try:
        connection.request("POST", target.request_target, body=body, headers={"User-Agent": USER_AGENT, **headers})
        response = connection.getresponse()
        response.read(CHUNK)
        return response.status
    except http.client.HTTPException as exc:
        raise OSError(f"bad HTTP answer: {type(exc).__name__}") from None
    finally:
        connection.close()


def fetch_url(url: str, dest: Path, *, timeout: float, max_bytes: int, rules: UrlRules) -> int:
    """Download ``url`` to ``dest`` (at most ``max_bytes``, within ``timeout`` seconds); return the size.

    Everything is checked again here: the file system or the DNS may have changed since the
    request, and redirects only show up now.
    """
    url = url.strip()
    parsed = urllib.parse.urlsplit(url)
    deadline = time.monotonic() + timeout
    try:
        if parsed.scheme.lower() == "file":
            try:
                path = _checked_file(parsed, rules.file_roots)
            except ApiError as exc:
                raise UrlFetchError("video_file_broken", exc.message) from None
            with open(path, "rb") as source:
                return _copy_bounded(source, dest, max_bytes, deadline)
        return _fetch_http(url, dest, rules, timeout, max_bytes, deadline)
    except UrlFetchError:
        dest.unlink(missing_ok=True)
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        dest.unlink(missing_ok=True)
        raise UrlFetchError("video_file_broken", f"The video URL could not be fetched: {exc}") from None
