"""``reelscribe`` as a user runs it: a subprocess, its exit status, what it prints, what lands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import pytest

from tests.conftest import JFK

BIN = Path(sys.executable).parent / "reelscribe"


def run_cli(*args: str, tmp_path: Path, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TWELVE", "PREFECT_API_URL"))}
    base.update(PREFECT_HOME=str(tmp_path / "prefect-home"), REELSCRIBE_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1")
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=timeout, env={**base, **(env or {})}, cwd=tmp_path)


def unique_index_name() -> str:
    """Tests on the shared server each use an index of their own."""
    return f"cli-{uuid.uuid4().hex[:8]}"


@pytest.mark.slow
def test_run_uses_embedded_server_lands_and_is_idempotent(tmp_path):
    """The default path, kept in this one test: no API configured, so the embedded server and a
    temporary Prefect server start (the other tests here point at the session's shared ones)."""
    first = run_cli("run", str(JFK), "--out", "lake", tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "starting the embedded server" in first.stderr and "landed" in first.stdout
    assert (tmp_path / "home" / "server").is_dir()
    count = duckdb.sql(f"select count(*) from read_parquet('{tmp_path}/lake/segments/**/*.parquet', hive_partitioning = true)").fetchall()[0][0]
    assert count >= 1
    words = duckdb.sql(f"select count(*) from read_parquet('{tmp_path}/lake/words/**/*.parquet', hive_partitioning = true)").fetchall()[0][0]
    assert words >= 20, "auto should take the assets path on the local server and land words"
    again = run_cli("run", str(JFK), "--out", "lake", tmp_path=tmp_path)
    assert again.returncode == 0 and "skipped" in again.stdout
    assert "starting the embedded server" not in again.stderr, "nothing new: decided without a server or Prefect"


def test_run_exits_1_when_a_source_fails_and_names_it(tmp_path, shared_services):
    """In a pipe, at 60 columns, with a path longer than any terminal line: one greppable line each."""
    deep = tmp_path.joinpath(*(["a-rather-long-folder-name"] * 6))
    deep.mkdir(parents=True)
    broken = deep / "broken_file_with_a_long_name.mp4"  # a missing one is refused before the run (exit 2)
    broken.write_bytes(b"no video in these bytes")
    result = run_cli(
        "run", str(JFK), str(broken), "--out", "lake", "--index-name", unique_index_name(),
        tmp_path=tmp_path, env={**shared_services, "COLUMNS": "60"},
    )
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    failed = [line for line in lines if line.startswith("failed\t")]
    assert len(failed) == 1 and failed[0].startswith(f"failed\t{broken}\t\t\t\tAssetFailed: asset ")
    assert any(line.startswith("landed\t") and str(JFK) in line for line in lines)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert result.stderr.strip().splitlines()[-1] == "reelscribe: 1 of 2 video(s) failed"


def test_run_json_prints_one_object_per_video(tmp_path, shared_services):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"no video in these bytes")
    result = run_cli(
        "run", str(JFK), str(broken), "--out", "lake", "--index-name", unique_index_name(), "--json",
        tmp_path=tmp_path, env=shared_services,
    )
    assert result.returncode == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    by_status = {row["status"]: row for row in rows}
    assert set(by_status) == {"landed", "failed"}
    assert by_status["failed"]["source"] == str(broken)
    assert by_status["failed"]["error"].startswith("AssetFailed: ") and by_status["failed"]["error_code"] == "asset_failed"
    assert by_status["landed"]["segments"] >= 1 and by_status["landed"]["video_id"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--concurrency", "0"], "--concurrency 0: input should be greater than or equal to 1"),
        (["--start", "5", "--end", "2"], "window start (5.0) is after its end (2.0)"),
        (["--api-url", "http://127.0.0.1:1/v9"], "must end with an API version"),
        (["--start", "nan"], "finite"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, args, message):
    result = run_cli("run", str(JFK), *args, tmp_path=tmp_path, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_an_unknown_upload_path_is_refused(tmp_path):
    result = run_cli("run", str(JFK), "--upload", "ftp", tmp_path=tmp_path, timeout=60)
    assert result.returncode == 2
    assert "argument --upload: invalid choice: 'ftp' (choose from 'auto', 'assets', 'tasks')" in result.stderr
