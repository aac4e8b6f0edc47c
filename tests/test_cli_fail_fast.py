"""Bad input fails before anything starts: one line, the right exit status, nothing started or written.

``reelscribe run`` runs as a subprocess with a PREFECT_HOME and REELSCRIBE_HOME of its own: a
Prefect home that was never created means Prefect was never imported (no temporary server), a
missing ``home/server`` that the embedded server never started, a missing ``lake`` that nothing
landed. The maintenance commands run in-process (they start nothing before their checks).
"""

from __future__ import annotations

import inspect
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reelscribe.cli import main
from reelscribe.core.delta_lake import DeltaLake
from tests.conftest import JFK
from tests.scripted_http import Reply, ScriptedServer

BIN = Path(sys.executable).parent / "reelscribe"
UNREACHABLE_WITHIN_S = 60  # the aim is 15 s; generous so that machine load cannot fail it


def run_cli(*args: str, tmp_path: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TWELVE", "PREFECT_", "REELSCRIBE_"))}
    base.update(PREFECT_HOME=str(tmp_path / "prefect-home"), REELSCRIBE_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1")
    return subprocess.run(
        [str(BIN), *args], capture_output=True, text=True, timeout=300, env={**base, **(env or {})}, cwd=tmp_path
    )


def assert_refused(result: subprocess.CompletedProcess, tmp_path: Path, *words: str, code: int = 2) -> str:
    """Exit ``code``, exactly one line on stderr naming ``words``, and nothing started or written."""
    lines = result.stderr.splitlines()
    assert result.returncode == code, result.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("reelscribe: error: "), lines
    assert all(word in lines[0] for word in words), lines[0]
    assert result.stdout == ""
    assert not (tmp_path / "prefect-home").exists(), "Prefect was started"
    assert not (tmp_path / "home").exists(), "the embedded server was started"
    assert not (tmp_path / "lake").exists(), "something was written to the lake"
    return lines[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the socket is: nothing listens there


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--max-wait", "-1"], ["--max-wait -1", "greater than 0"]),
        (["--concurrency", "0"], ["--concurrency 0", "greater than or equal to 1"]),
        (["--start", "-3"], ["--start -3", "greater than or equal to 0"]),
        (["--start", "9", "--end", "2"], ["--start/--end", "after its end"]),
        (["--credentials-block", "twelve-labs-api-key"], ["--credentials-block twelve-labs-api-key", "secret/<name>"]),
        (["--storage-block", "secret/lake"], ["--storage-block secret/lake", "aws-credentials/<name>"]),
        (["--index-id", "../tasks"], ["--index-id", "invalid index_id '../tasks'"]),
    ],
    ids=["max-wait", "concurrency", "start", "window", "credentials-block", "storage-block", "index-id"],
)
def test_a_bad_option_is_refused_naming_the_option(options, words, tmp_path):
    result = run_cli("run", str(JFK), "--out", "lake", *options, tmp_path=tmp_path)
    assert_refused(result, tmp_path, *words)


def test_a_table_format_that_contradicts_the_lake_is_refused_before_anything_starts(tmp_path):
    DeltaLake(str(tmp_path / "lake")).create_marker()
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "lake").rglob("*"))
    result = run_cli("run", str(JFK), "--out", "lake", "--table-format", "parquet", tmp_path=tmp_path)
    assert result.returncode == 2 and result.stderr.splitlines() == [
        "reelscribe: error: lake is a Delta lake, not parquet: leave out --table-format (flow parameter table_format), "
        "the format is read from the lake"
    ], result.stderr
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "lake").rglob("*")) == before
    assert not (tmp_path / "prefect-home").exists() and not (tmp_path / "home").exists()


def test_an_unreachable_api_fails_at_once_naming_the_url_and_the_fix(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/v1.3"
    started = time.monotonic()
    result = run_cli("run", str(JFK), "--out", "lake", "--api-url", url, tmp_path=tmp_path, env={"TWELVE_LABS_API_KEY": "k"})
    took = time.monotonic() - started
    line = assert_refused(result, tmp_path, url, "connection refused", "--api-url")
    assert "waiting" not in result.stderr, "a refused connection is not retried"
    assert took < UNREACHABLE_WITHIN_S, f"{took:.1f} s: {line}"


def test_no_key_for_an_api_that_needs_one_says_the_key_is_unset(tmp_path):
    answer = Reply(401, {"code": "api_key_invalid", "message": "The API key is missing or invalid."})
    with ScriptedServer(lambda method, path: answer) as api:
        result = run_cli("run", str(JFK), "--out", "lake", "--api-url", api.base_url, tmp_path=tmp_path)
    assert_refused(result, tmp_path, api.base_url, "TWELVE_LABS_API_KEY", "--credentials-block", "is unset")
    assert [seen.path for seen in api.seen] == ["/v1.3/indexes?page=1&page_limit=1"]


def test_a_briefly_failing_server_is_retried_with_one_line_per_wait(tmp_path):
    """503 is a live server: retried by the policy, each wait said, in a pipe too."""
    with ScriptedServer(lambda method, path: Reply(503, {"code": "unavailable", "message": "busy"})) as api:
        result = run_cli(
            "run", str(JFK), "--out", "lake", "--api-url", api.base_url, tmp_path=tmp_path,
            env={"TWELVE_LABS_API_KEY": "k", "REELSCRIBE_HTTP_ATTEMPTS": "3"},
        )
    host = api.base_url.split("/")[2]
    *waits, last = result.stderr.splitlines()
    assert result.returncode == 2 and last.startswith("reelscribe: error: GET indexes -> HTTP 503"), result.stderr
    assert len(waits) == 2 and len(api.seen) == 3, result.stderr
    for try_number, line in enumerate(waits, start=2):
        assert line.startswith(f"reelscribe: waiting ") and f" s for {host}: HTTP 503 unavailable (GET indexes, try {try_number} of 3)" in line, line
    assert not (tmp_path / "prefect-home").exists() and not (tmp_path / "lake").exists()


def test_the_cli_checks_the_types_the_flow_declares():
    """One set of constraints: the CLI validates with the very types of the flow's parameters."""
    from prefect.blocks.system import Secret

    from reelscribe.cli.preflight import RUN_OPTIONS
    from reelscribe.flows.params import CREDENTIALS_BLOCK_TYPES, STORAGE_BLOCK_TYPES
    from reelscribe.flows.transcribe import transcribe_videos
    from reelscribe.tasks.credentials import TwelveLabsCredentials
    from prefect_aws import AwsCredentials, S3Bucket

    from reelscribe.tasks.storage import AWS_CREDENTIALS, S3_BUCKET, SLUG_PREFIX, ObjectStoreCredentials

    signature = inspect.signature(transcribe_videos.fn, eval_str=True).parameters
    assert set(RUN_OPTIONS) == set(signature)
    assert all(RUN_OPTIONS[name][0] == parameter.annotation for name, parameter in signature.items())
    assert set(CREDENTIALS_BLOCK_TYPES) == {Secret.get_block_type_slug(), TwelveLabsCredentials.get_block_type_slug()}
    slugs = [block.get_block_type_slug() for block in (AwsCredentials, S3Bucket, ObjectStoreCredentials)]
    assert list(STORAGE_BLOCK_TYPES) == slugs == [prefix.rstrip("/") for prefix in (AWS_CREDENTIALS, S3_BUCKET, SLUG_PREFIX)]


@pytest.mark.parametrize(
    ("parameters", "field"),
    [({"max_wait_seconds": -1}, "max_wait_seconds"), ({"credentials_block": "twelve-labs-api-key"}, "credentials_block"),
     ({"storage_block": "secret/lake"}, "storage_block")],
)
def test_a_deployment_run_refuses_the_same_values(parameters, field):
    """What the CLI refuses, a deployment's run refuses too: the flow's own parameter validation."""
    from prefect.exceptions import ParameterTypeError

    from reelscribe.flows.transcribe import transcribe_videos

    with pytest.raises(ParameterTypeError, match=field):
        transcribe_videos.validate_parameters({"sources": ["a.mp4"], **parameters})


# -- lake compact / lake convert --------------------------------------------------------------


def test_lake_commands_on_a_missing_path_fail_with_one_line(tmp_path, capsys):
    for command in ("compact", "convert"):
        assert main(["lake", command, str(tmp_path / "nope")]) == 2
        assert capsys.readouterr().err.splitlines() == [f"reelscribe: error: {tmp_path / 'nope'}: no such file or directory"]
    assert not (tmp_path / "nope").exists()


def test_lake_commands_on_a_folder_that_is_no_lake_touch_nothing(tmp_path, capsys):
    """A folder that merely has a ``videos/`` subfolder (of videos) is not made a Delta table."""
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "talk.mp4").write_bytes(b"not parquet")
    for command in ("compact", "convert"):
        assert main(["lake", command, str(tmp_path)]) == 2
        assert capsys.readouterr().err.splitlines() == [
            f"reelscribe: error: {tmp_path} is not a reelscribe lake (no videos table with landed videos)"
        ]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["talk.mp4", "videos"]


def test_lake_compact_of_a_per_video_lake_names_only_a_command_that_exists(tmp_path, capsys):
    partition = tmp_path / "videos" / "index_id=i1"
    partition.mkdir(parents=True)
    (partition / "v1.parquet").write_bytes(b"PAR1")
    assert main(["lake", "compact", str(tmp_path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"reelscribe: error: {tmp_path} is a per-video Parquet lake")
    assert f"reelscribe lake convert {tmp_path}" in line and "--table-format" not in line
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["index_id=i1", "v1.parquet", "videos"]


def test_prefects_usage_notice_is_not_printed_on_a_terminal(tmp_path):
    """The CLI's stderr on a terminal, with a Prefect home that never showed the notice."""
    import pty

    from prefect._internal.analytics.ci_detection import CI_ENV_VARS

    env = {k: v for k, v in os.environ.items() if k not in CI_ENV_VARS and k not in ("DO_NOT_TRACK", "PREFECT_API_URL")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), REELSCRIBE_HOME=str(tmp_path / "home"))
    leader, follower = pty.openpty()
    try:
        # --dask without a Prefect server: Prefect is imported, then the run is refused (exit 2).
        done = subprocess.run([str(BIN), "run", str(JFK), "--dask", "local"], stdin=subprocess.DEVNULL, stdout=follower,
                              stderr=follower, env=env, cwd=tmp_path, timeout=300)
        os.close(follower)
        output = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal is closed once the child is gone
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(leader)
    text = output.decode(errors="replace")
    assert done.returncode == 2 and "Dask needs a real Prefect server" in text, text
    assert "anonymous usage data" not in text


# -- paths: one way ----------------------------------------------------------------------------


def test_local_sources_are_absolute_whether_found_or_not(tmp_path, monkeypatch):
    from reelscribe.core.sources import discover

    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "a.mp4").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    found, problems = discover(["videos", "missing.mp4", "https://example.org/talk.mp4"])
    assert [s.uri for s in found] == [str(tmp_path / "videos" / "a.mp4"), "https://example.org/talk.mp4"]
    assert [p.source for p in problems] == [str(tmp_path / "missing.mp4")]


def test_sources_in_a_deployment_runs_clone_are_recorded_relative_to_it(tmp_path, monkeypatch):
    """The clone is deleted when the run ends: its absolute path would name nothing."""
    from reelscribe.core.sources import discover

    clone, outside = tmp_path / "tmpabc-clone", tmp_path / "inbox"
    for folder in (clone / "samples", outside):
        folder.mkdir(parents=True)
        (folder / "a.mp4").write_bytes(b"x")
    monkeypatch.chdir(clone)
    found, problems = discover(["samples/", str(outside), "gone.mp4"], relative_to=clone)
    assert [s.uri for s in found] == ["samples/a.mp4", str(outside / "a.mp4")]
    assert [p.source for p in problems] == ["gone.mp4"]
