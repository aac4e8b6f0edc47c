"""Real services as child processes for tests: each in its own process group, killed at teardown.

Shared by the modules that need a real Prefect server (``prefect server start``), Dask scheduler
and workers, or the ``reelscribe`` CLI as a separate process.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import requests

from reelscribe.server.launcher import free_port
from tests.polling import wait_until

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SERVER_STARTUP_S = 150


class Children:
    """Child processes, each the leader of its own process group, with its output in a log file."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[tuple[subprocess.Popen, Path]] = []

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = self.logs / f"{name}.log"
        with open(log, "ab") as sink:
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running.append((process, log))
        return process

    def tail(self, name: str, size: int = 3000) -> str:
        text = (self.logs / f"{name}.log").read_text(errors="replace") if (self.logs / f"{name}.log").exists() else ""
        return f"--- {name}.log (tail) ---\n{text[-size:]}"

    def stop(self, process: subprocess.Popen) -> None:
        """Stop one child (and its process group) before the others."""
        _stop_group(process)
        self.running = [(p, log) for p, log in self.running if p is not process]

    def stop_all(self) -> None:
        for process, _ in reversed(self.running):
            _stop_group(process)
        self.running.clear()


def _stop_group(process: subprocess.Popen, grace: float = 20.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace)
            if sig is signal.SIGTERM:
                os.killpg(process.pid, signal.SIGKILL)  # stragglers left in the group
            return
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return


def start_prefect_server(
    children: Children, home: Path, database: Path | None = None, settings: dict[str, str] | None = None
) -> tuple[str, dict[str, str]]:
    """A `prefect server start` of its own (own PREFECT_HOME, own SQLite); its URL and the env for children.

    ``database``: the session's migrated database (``migrated_database``), copied as its own; without
    it the server migrates a new one (the benchmarks, which start one server).
    ``settings``: more ``PREFECT_*`` variables for the server (and the children), e.g. its services' loops.
    """
    server = PrefectServer(children, home, database, settings).start()
    return server.url, server.env


def migrated_database(folder: Path) -> Path:
    """An empty Prefect database migrated to the installed version, made once per session: each test
    server starts from a copy of it instead of running every migration itself (~12 CPU s a server)."""
    database = folder / "prefect.db"
    subprocess.run(
        [str(BIN / "prefect"), "server", "database", "upgrade", "--yes"],
        cwd=ROOT, env=_server_env(folder, "http://127.0.0.1:9/api"), stdin=subprocess.DEVNULL,
        capture_output=True, check=True, timeout=SERVER_STARTUP_S,
    )
    return database


def _server_env(home: Path, url: str) -> dict[str, str]:
    """The environment of a Prefect server with its own PREFECT_HOME and SQLite file, and of its clients."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "TWELVE"))}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home}/prefect.db",
        PREFECT_API_URL=url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_UI_ENABLED="false",
        PREFECT_WORKER_QUERY_SECONDS="2",
        # Events become readable when the persister flushes: every 0.5 s rather than every 5 s.
        PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL="0.5",
        DO_NOT_TRACK="1",
        HF_HUB_OFFLINE="1",
    )
    return env


class PrefectServer:
    """A `prefect server start` on a port and SQLite file of its own, which a test may stop and start
    again: the same port and database, so every client that knew it finds it again.

    ``database``: a migrated database (``migrated_database``) its own starts as a copy of (else it
    migrates a new one).
    """

    def __init__(
        self, children: Children, home: Path, database: Path | None = None, settings: dict[str, str] | None = None
    ) -> None:
        self.children = children
        self.home = home
        self.database = database
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.env = _server_env(home, self.url)
        self.env.update(settings or {})
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = SERVER_STARTUP_S) -> PrefectServer:
        return self.launch().wait_healthy(timeout)

    def launch(self) -> PrefectServer:
        """Start the process, not waiting for it (``wait_healthy``): other children can start meanwhile.

        The first launch copies the migrated database; a relaunch keeps what the server wrote."""
        if self.database and not (self.home / "prefect.db").exists():
            shutil.copyfile(self.database, self.home / "prefect.db")
        command = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = self.children.start("prefect-server", command, self.env)
        return self

    def wait_healthy(self, timeout: float = SERVER_STARTUP_S) -> PrefectServer:
        wait_until(self.healthy, timeout, "the prefect server to be healthy", 0.5)
        return self

    def healthy(self) -> bool:
        assert self.process is not None and self.process.poll() is None, (
            f"prefect server exited ({self.process and self.process.returncode})\n{self.children.tail('prefect-server')}"
        )
        try:
            return requests.get(f"{self.url}/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """``sig`` to its process group (SIGTERM: a graceful stop, SIGKILL after a grace); returns once
        it has exited, its port closed."""
        assert self.process is not None
        if sig is signal.SIGKILL:
            os.killpg(self.process.pid, signal.SIGKILL)
        _stop_group(self.process)


class DaskCluster:
    """A `dask scheduler` and named `dask worker` processes (no nanny: one process per worker)."""

    def __init__(self, children: Children, env: dict[str, str], threads: int = 2) -> None:
        self.children = children
        self.env = env
        self.threads = threads
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.workers: dict[str, subprocess.Popen] = {}

    def start(self, workers: tuple[str, ...] = ("worker-1", "worker-2"), timeout: float = 120) -> DaskCluster:
        port = self.address.rsplit(":", 1)[1]
        self.children.start(
            "dask-scheduler",
            [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"],
            self.env,
        )
        for name in workers:
            self.start_worker(name)
        self.wait_for(len(workers), timeout)
        return self

    def start_worker(self, name: str) -> None:
        self.workers[name] = self.children.start(
            f"dask-{name}",
            [str(BIN / "dask"), "worker", self.address, "--name", name, "--nthreads", str(self.threads),
             "--no-nanny", "--no-dashboard", "--host", "127.0.0.1", "--death-timeout", "60"],
            self.env,
        )

    def kill_worker(self, name: str) -> None:
        """SIGKILL, as a machine dies: no goodbye to the scheduler, nothing cleaned up."""
        process = self.workers.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)

    def wait_for(self, count: int, timeout: float = 120) -> None:
        from distributed import Client

        with Client(self.address, timeout=timeout) as client:
            client.wait_for_workers(count, timeout=timeout)
