"""``EmbeddedServer``: run the server as a child process on a loopback port (tests, demo, benchmarks).

The API key goes to the child through the environment, never on its command line (where any local
user could read it). The child's output goes to a log file, by default ``<data_dir>/server.log``.
The child runs in a process group of its own: a terminal's Ctrl-C (a SIGINT to the foreground
group) reaches only its parent, which stops it once its run has ended.
"""

from __future__ import annotations

import http.client
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from reelscribe.server.config import KEYS_ENV, PORT_TAKEN_EXIT

_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)
_LOG_TAIL_BYTES = 4000


class ServerStartError(RuntimeError):
    """The server process died or did not become ready in time; the message ends with its log tail."""


class PortTaken(ServerStartError):
    """The server exited because another process holds its port (its exit status says so)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _log_tail(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - _LOG_TAIL_BYTES))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"


class EmbeddedServer:
    """A ``python -m reelscribe.server`` child process; a context manager, restartable on the same port and data."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        api_key: str | None = None,
        port: int | None = None,
        host: str = "127.0.0.1",
        extra_args: Sequence[str] = (),
        startup_timeout: float = 60.0,
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self._data_dir = Path(data_dir).resolve()
        self._api_key = api_key or secrets.token_urlsafe(24)
        self._port = port
        self._auto_port = port is None
        self.host = host
        self.extra_args = tuple(extra_args)
        self.startup_timeout = startup_timeout
        self.log_path = Path(log_path) if log_path is not None else self._data_dir / "server.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    @property
    def api_key(self) -> str:
        return self._api_key

    @property
    def port(self) -> int:
        if self._port is None:
            self._port = free_port(self.host)
        return self._port

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The v1.3 base URL, as the Twelve Labs SDK's ``base_url`` expects it."""
        return f"{self.root_url}/v1.3"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "reelscribe.server",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--data-dir",
            str(self._data_dir),
            *self.extra_args,
        ]

    def start(self) -> EmbeddedServer:
        """Start the process and wait until an authenticated ``GET /v1.3/indexes`` answers.

        200 means ready; so does an injected fault or a 429 (the server is up, it just said no);
        401 fails at once, since waiting would not help.
        """
        if self.running:
            return self
        attempts = 3 if self._auto_port else 1
        for attempt in range(attempts):
            try:
                self._spawn()
                self._wait_ready()
                return self
            except ServerStartError as exc:
                self._terminate(kill=True)
                if not (isinstance(exc, PortTaken) and attempt + 1 < attempts):
                    raise
                self._port = free_port(self.host)
            except BaseException:  # Ctrl-C while it starts: a child in a group of its own would outlive it
                self._terminate(kill=True)
                raise
        return self

    def _spawn(self) -> None:
        self._data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env[KEYS_ENV] = self._api_key
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
        self._log = open(self.log_path, "ab")
        self._process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            process_group=0,
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            self._raise_if_exited()
            try:
                status, api_version = self._ready_answer(deadline)
            except OSError:  # nothing listens yet (refused), or the connection was dropped
                status, api_version = None, None
            if status == 200 or (status is not None and status != 401 and api_version):
                return  # ready; or a rate limit or an injected fault: the server itself is up
            if status == 401:
                raise ServerStartError("the server refuses the launcher's API key (401 api_key_invalid)")
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"server not ready after {self.startup_timeout:g} s; log tail:\n{_log_tail(self.log_path)}"
                )
            time.sleep(0.1)

    def _ready_answer(self, deadline: float) -> tuple[int | None, str | None]:
        """One authenticated ``GET /indexes``: its status and ``X-Api-Version``, or ``(None, None)``.

        The child binds its port before the app has loaded, so a connection may wait in the
        backlog: the request is sent once (a re-send would count twice against a rate limit)
        and its answer awaited while the child lives, until ``deadline``.
        """
        connection = http.client.HTTPConnection(self.host, self.port, timeout=2)
        try:
            connection.request("GET", "/v1.3/indexes?page_limit=1", headers={"x-api-key": self._api_key})
            while not select.select([connection.sock], [], [], 0.2)[0]:
                self._raise_if_exited()
                if time.monotonic() > deadline:
                    return None, None
            response = connection.getresponse()
            return response.status, response.getheader("X-Api-Version")
        finally:
            connection.close()

    def _raise_if_exited(self) -> None:
        assert self._process is not None
        if self._process.poll() is not None:
            failed = PortTaken if self._process.returncode == PORT_TAKEN_EXIT else ServerStartError
            raise failed(f"server exited with status {self._process.returncode}; log tail:\n{_log_tail(self.log_path)}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM and wait (workers stop, unfinished tasks resume at the next start); SIGKILL on timeout."""
        self._terminate(kill=False, timeout=timeout)

    def kill(self) -> None:
        """SIGKILL at once, as a crash would."""
        self._terminate(kill=True)

    def _terminate(self, *, kill: bool, timeout: float = 15.0) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
