"""``video_url`` never reaches loopback, private or link-local addresses unless ``--allow-url-network`` says so.

The address rules are unit tests of the pure function; the fetch and the server are tested against
real HTTP servers on loopback addresses (127.0.0.1 and 127.0.0.2), whose request logs show what
was (and was not) asked of them.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any

import pytest

from reelscribe.server.errors import ApiError
from reelscribe.server.netguard import refusal
from reelscribe.server.urlfetch import MAX_REDIRECTS, UrlFetchError, UrlRules, check_video_url, fetch_url


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("127.0.0.2", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("169.254.10.1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("100.64.0.1", "non-global"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd00:ec2::254", "private"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("ff0e::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback as 127.0.0.1"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("::ffff:10.0.0.1", "private as 10.0.0.1"),
        ("64:ff9b::7f00:1", "loopback as 127.0.0.1"),
        ("64:ff9b::a9fe:a9fe", "cloud metadata"),
        ("2002:7f00:1::1", "loopback as 127.0.0.1"),
        ("2002:c0a8:101::1", "private as 192.168.1.1"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "private"),
    ],
)
def test_non_public_addresses_are_refused(address, why):
    assert why in (refusal(ip_address(address)) or "")


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"]
)
def test_public_addresses_are_allowed(address):
    assert refusal(ip_address(address)) is None


@pytest.mark.parametrize(
    ("address", "networks", "allowed"),
    [
        ("127.0.0.2", ["127.0.0.2/32"], True),
        ("127.0.0.1", ["127.0.0.2/32"], False),
        ("::ffff:127.0.0.2", ["127.0.0.2/32"], True),
        ("10.20.30.40", ["10.0.0.0/8"], True),
        ("192.168.0.1", ["10.0.0.0/8"], False),
        ("::1", ["127.0.0.0/8"], False),
        ("::1", ["::1/128"], True),
        ("169.254.169.254", ["10.0.0.0/8", "fd00::/8"], False),
    ],
)
def test_allowed_networks_override_only_themselves(address, networks, allowed):
    result = refusal(ip_address(address), [ip_network(n) for n in networks])
    assert (result is None) == allowed, result


def _resolver(table: dict[str, list[str]], calls: list[str] | None = None):
    """A name lookup from a fixed table (a test hook instead of /etc/hosts); records each call."""

    def resolve(host: str, port: int):
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise socket.gaierror(f"{host}: no such name in the test table")
        return tuple(ip_address(a) for a in table[host])

    return resolve


def test_every_address_a_name_resolves_to_is_checked():
    rules = UrlRules(resolve=_resolver({"mixed.test": ["93.184.215.14", "10.0.0.7"], "public.test": ["93.184.215.14"]}))
    with pytest.raises(ApiError) as refused:
        check_video_url("http://mixed.test/clip.mp4", rules)
    assert refused.value.code == "parameter_invalid"
    assert "`video_url`" in refused.value.message and "10.0.0.7" in refused.value.message
    assert check_video_url("http://public.test/clip.mp4", rules) == "clip.mp4"


def test_a_name_that_does_not_resolve_yet_is_left_to_the_fetch():
    assert check_video_url("https://unknown.test/v.mp4", UrlRules(resolve=_resolver({}))) == "v.mp4"


@dataclass
class Site:
    """Loopback HTTP servers (one per address, same files) sharing one request log."""

    files: dict[str, bytes] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    log: list[tuple[str, str, str]] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)

    def url(self, host: str, path: str, *, name: str | None = None) -> str:
        shown = name or (f"[{host}]" if ":" in host else host)
        return f"http://{shown}:{self.ports[host]}/{path}"


@contextmanager
def serving(*hosts: str) -> Iterator[Site]:
    site = Site()
    with ExitStack() as stack:
        for host in hosts:

            class Handler(BaseHTTPRequestHandler):
                bound = host

                def do_GET(self) -> None:
                    path = self.path.lstrip("/")
                    site.log.append((self.bound, path, self.headers.get("Host", "")))
                    if path in site.redirects:
                        self.send_response(302)
                        self.send_header("Location", site.redirects[path])
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    body = site.files.get(path)
                    if body is None:
                        self.send_error(404)
                        return
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

                def log_message(self, *args: Any) -> None:
                    return

            httpd = ThreadingHTTPServer((host, 0), Handler)
            site.ports[host] = httpd.server_address[1]
            threading.Thread(target=httpd.serve_forever, daemon=True).start()
            stack.callback(httpd.server_close)
            stack.callback(httpd.shutdown)
        yield site


LOOPBACK_2 = UrlRules(networks=(ip_network("127.0.0.2/32"),))


def test_fetch_refuses_loopback_before_connecting(tmp_path):
    with serving("127.0.0.1") as site:
        site.files["clip.mp4"] = b"video bytes"
        with pytest.raises(UrlFetchError) as refused:
            fetch_url(site.url("127.0.0.1", "clip.mp4"), tmp_path / "out", timeout=10, max_bytes=1000, rules=UrlRules())
    assert refused.value.code == "parameter_invalid"
    assert "`video_url`" in refused.value.message and "loopback" in refused.value.message
    assert site.log == []
    assert not (tmp_path / "out").exists()


def test_fetch_connects_to_the_address_it_checked_with_the_url_host_in_the_header(tmp_path):
    calls: list[str] = []
    with serving("127.0.0.2") as site:
        site.files["clip.mp4"] = b"video bytes"
        rules = UrlRules(networks=LOOPBACK_2.networks, resolve=_resolver({"media.test": ["127.0.0.2"]}, calls))
        url = site.url("127.0.0.2", "clip.mp4", name="media.test")
        assert fetch_url(url, tmp_path / "out", timeout=10, max_bytes=1000, rules=rules) == len(b"video bytes")
    assert (tmp_path / "out").read_bytes() == b"video bytes"
    assert calls == ["media.test"]  # one lookup, and the connection went to its answer
    assert site.log == [("127.0.0.2", "clip.mp4", f"media.test:{site.ports['127.0.0.2']}")]


def test_fetch_follows_a_bounded_number_of_redirects(tmp_path):
    with serving("127.0.0.2") as site:
        site.files["clip.mp4"] = b"video bytes"
        site.redirects["hop"] = "/clip.mp4"
        site.redirects["loop"] = "/loop"
        assert fetch_url(site.url("127.0.0.2", "hop"), tmp_path / "a", timeout=10, max_bytes=1000, rules=LOOPBACK_2) == 11
        with pytest.raises(UrlFetchError, match=f"more than {MAX_REDIRECTS}"):
            fetch_url(site.url("127.0.0.2", "loop"), tmp_path / "b", timeout=10, max_bytes=1000, rules=LOOPBACK_2)
    assert [path for _, path, _ in site.log].count("loop") == MAX_REDIRECTS + 1


def test_fetch_checks_every_redirect(tmp_path):
    with serving("127.0.0.1", "127.0.0.2") as site:
        site.files["clip.mp4"] = b"video bytes"
        site.redirects["away"] = site.url("127.0.0.1", "clip.mp4")
        site.redirects["file"] = (tmp_path / "secret").as_uri()
        for path in ("away", "file"):
            with pytest.raises(UrlFetchError) as refused:
                fetch_url(site.url("127.0.0.2", path), tmp_path / "out", timeout=10, max_bytes=1000, rules=LOOPBACK_2)
            assert refused.value.code == "parameter_invalid"
            assert "redirects to" in refused.value.message
    assert [(host, path) for host, path, _ in site.log] == [("127.0.0.2", "away"), ("127.0.0.2", "file")]


def test_default_server_refuses_loopback_urls_before_fetching_anything(rest, index_id, media):
    with serving("127.0.0.1", "127.0.0.2") as site:
        site.files["clip.mp4"] = media["silent"].read_bytes()
        port = site.ports["127.0.0.1"]
        urls = [
            site.url("127.0.0.1", "clip.mp4"),
            site.url("127.0.0.2", "clip.mp4"),
            f"http://localhost:{port}/clip.mp4",
            f"http://LocalHost:{port}/clip.mp4",
            f"http://127.1:{port}/clip.mp4",
            f"http://[::1]:{port}/clip.mp4",
            f"http://[::ffff:127.0.0.1]:{port}/clip.mp4",
            f"http://2130706433:{port}/clip.mp4",
        ]
        for url in urls:
            response = rest.post("/tasks", data={"index_id": index_id, "video_url": url})
            assert response.status_code == 400, (url, response.text)
            assert response.json()["code"] == "parameter_invalid"
            assert "`video_url`" in response.json()["message"] and "loopback" in response.json()["message"]
        assert site.log == []
    assert rest.get("/tasks", params={"index_id": index_id}).json()["data"] == []


def test_allowed_network_is_fetched_but_a_redirect_out_of_it_is_refused(make_server, rest_for, media):
    rest = rest_for(make_server("--workers", "1", "--allow-url-network", "127.0.0.2/32"))
    index_id = rest.create_index()
    with serving("127.0.0.1", "127.0.0.2") as site:
        site.files["clip.mp4"] = media["silent"].read_bytes()
        site.redirects["elsewhere.mp4"] = site.url("127.0.0.1", "clip.mp4")
        fetched = rest.post("/tasks", data={"index_id": index_id, "video_url": site.url("127.0.0.2", "clip.mp4")})
        assert fetched.status_code == 200, fetched.text
        assert rest.wait(fetched.json()["_id"])["status"] == "ready"
        redirected = rest.post("/tasks", data={"index_id": index_id, "video_url": site.url("127.0.0.2", "elsewhere.mp4")})
        assert redirected.status_code == 200, redirected.text
        task = rest.wait(redirected.json()["_id"])
        direct = rest.post("/tasks", data={"index_id": index_id, "video_url": site.url("127.0.0.1", "clip.mp4")})
    assert task["status"] == "failed"
    assert task["error_reason"]["code"] == "parameter_invalid"
    assert "127.0.0.1" in task["error_reason"]["message"] and "loopback" in task["error_reason"]["message"]
    assert direct.status_code == 400 and direct.json()["code"] == "parameter_invalid"
    assert [(host, path) for host, path, _ in site.log] == [("127.0.0.2", "clip.mp4"), ("127.0.0.2", "elsewhere.mp4")]
    assert not any(Path(rest.server.data_dir, "media").iterdir())
