"""A real S3 API on loopback for tests: moto's ``ThreadedMotoServer`` (as s3fs's own suite uses).

One server per test session on a free loopback port; each test gets a bucket of its own, so tests
never see each other's objects and no reset is needed. Code under test finds the server the way
it finds real S3: through the standard AWS variables (``AWS_ENDPOINT_URL`` and friends), which
botocore, aiobotocore (s3fs) and every child process started with ``os.environ`` read.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import s3fs
from moto.server import ThreadedMotoServer

from tests.polling import wait_until

# moto accepts any credentials; fixed fake ones keep every client (and child process) consistent.
FAKE_KEY_ID = "reelscribe-test-key"
FAKE_SECRET = "reelscribe-test-secret"
REGION = "us-east-1"
# One werkzeug line per request would bury a failing test's output.
logging.getLogger("werkzeug").setLevel(logging.WARNING)


class MotoS3:
    """moto's S3 (and every other moto service) served on ``127.0.0.1:<free port>``."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint_url = ""

    def start(self) -> MotoS3:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def env(self) -> dict[str, str]:
        """The standard AWS variables that point every client at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": FAKE_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
            "AWS_DEFAULT_REGION": REGION,
        }

    def filesystem(self) -> s3fs.S3FileSystem:
        """A fresh (uncached) s3fs client of this server, for setting up and asserting."""
        return s3fs.S3FileSystem(
            key=FAKE_KEY_ID,
            secret=FAKE_SECRET,
            # No region_name here: s3fs would send it as a LocationConstraint, which us-east-1 refuses.
            client_kwargs={"endpoint_url": self.endpoint_url},
            skip_instance_cache=True,
        )

    def new_bucket(self, prefix: str = "test") -> Bucket:
        """Create a bucket with a unique name (S3 names: 3-63 lowercase letters, digits, '-')."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}".lower()
        fs = self.filesystem()
        fs.mkdir(name)
        return Bucket(name=name, fs=fs)


@dataclass(frozen=True)
class Bucket:
    """One test's bucket and an s3fs client for assertions.

    Call ``fs.invalidate_cache()`` before listing after another client (the code under test, a
    child process) wrote: s3fs caches listings.
    """

    name: str
    fs: s3fs.S3FileSystem

    def url(self, key: str = "") -> str:
        """``s3://<bucket>/<key>``."""
        return f"s3://{self.name}/{key.lstrip('/')}" if key else f"s3://{self.name}"

    def put(self, key: str, data: bytes) -> str:
        """Upload ``data`` to ``key``; returns its ``s3://`` URL."""
        self.fs.pipe_file(f"{self.name}/{key.lstrip('/')}", data)
        return self.url(key)

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key under ``prefix``, freshly listed (never from s3fs's cache)."""
        self.fs.invalidate_cache()
        base = f"{self.name}/{prefix.lstrip('/')}".rstrip("/")
        try:
            found = self.fs.find(base)
        except FileNotFoundError:
            return []
        return sorted(path[len(self.name) + 1 :] for path in found)


class MotoS3Process(MotoS3):
    """moto's S3 in a child process (``moto_server``), for clients that hold the GIL while waiting.

    delta-rs makes some S3 requests (``DeltaTable.is_deltatable``, for one) without releasing
    Python's GIL; a ``ThreadedMotoServer`` in the same process can then never answer, and the
    request times out after minutes. A separate process has its own interpreter.
    """

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self.endpoint_url = ""

    def start(self, timeout_s: float = 60.0) -> MotoS3Process:
        port = _free_port()
        server = Path(sys.executable).with_name("moto_server")
        self._process = subprocess.Popen(
            [str(server), "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        self.endpoint_url = f"http://127.0.0.1:{port}"
        process = self._process

        def listening() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {process.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
            return False

        try:
            wait_until(listening, timeout_s, f"moto_server to listen on port {port}")
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def pid(self) -> int:
        """The server process's id (a benchmark reads its CPU time)."""
        assert self._process is not None, "not started"
        return self._process.pid

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
        self._process = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
