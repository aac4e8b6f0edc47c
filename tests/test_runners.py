"""The task runner a flow parameter chooses, and the clear refusal of Dask without a Prefect server."""

from __future__ import annotations

import os
import subprocess

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.task_runners import ThreadPoolTaskRunner
from prefect_dask import DaskTaskRunner

from reelscribe.core.errors import ConfigError
from reelscribe.flows.runners import NEEDS_SERVER, task_runner
from tests.conftest import JFK
from tests.prockit import BIN, ROOT

API = "http://127.0.0.1:4200/api"


def test_the_thread_pool_stays_the_default():
    """Prefect's own equality of thread-pool runners is by their worker count (public API, no private field)."""
    runner = task_runner(None, 5)
    assert isinstance(runner, ThreadPoolTaskRunner)
    assert runner == ThreadPoolTaskRunner(max_workers=5) and runner != ThreadPoolTaskRunner(max_workers=4)


def test_dask_by_address_or_a_local_cluster_sized_by_the_concurrency():
    with temporary_settings(updates={PREFECT_API_URL: API}):
        remote = task_runner("tcp://127.0.0.1:8786", 8)
        local = task_runner("local", 8)
        with pytest.raises(ConfigError, match="give a scheduler address like tcp://host:8786, or 'local'"):
            task_runner("127.0.0.1:8786", 8)
    assert isinstance(remote, DaskTaskRunner) and remote.address == "tcp://127.0.0.1:8786"
    assert isinstance(local, DaskTaskRunner) and local.address is None
    assert local.cluster_kwargs["n_workers"] * local.cluster_kwargs["threads_per_worker"] == 8


def test_dask_without_a_prefect_server_is_refused_in_one_line():
    with temporary_settings(updates={PREFECT_API_URL: None}), pytest.raises(ConfigError) as refused:
        task_runner("local", 8)
    assert str(refused.value) == NEEDS_SERVER

    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    done = subprocess.run(
        [str(BIN / "reelscribe"), "run", str(JFK), "--dask", "local"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"reelscribe: error: {NEEDS_SERVER}"]
