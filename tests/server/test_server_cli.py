"""The command line: options, key handling, refusal to start without a key, launcher failures."""

from __future__ import annotations

import subprocess
import sys
from ipaddress import ip_network

import pytest
import requests
from pydantic import ValidationError

from reelscribe.server.cli import KEYS_ENV, build_parser, main, parse_config
from reelscribe.server.config import ServerConfig
from reelscribe.server.launcher import EmbeddedServer, ServerStartError

OPTIONS = [
    "--host", "--port", "--data-dir", "--api-key", "--workers", "--model", "--compute-type", "--cpu-threads",
    "--vad", "--max-upload-bytes", "--min-duration", "--max-duration", "--url-timeout", "--url-max-bytes",
    "--allow-file-root", "--allow-url-network", "--rate-limit", "--rate-window", "--fault-latency", "--fault-5xx-rate",
    "--fault-429-rate", "--fault-seed", "--log-level", "--model-cache", "--language", "--language-threshold",
]


def test_help_documents_every_option(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: reelscribe serve")
    for option in OPTIONS:
        assert option in text


def test_help_via_python_dash_m():
    result = subprocess.run([sys.executable, "-m", "reelscribe.server", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "--allow-file-root" in result.stdout


def test_refuses_to_start_without_a_key(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(KEYS_ENV, raising=False)
    assert main(["--data-dir", str(tmp_path)]) == 2
    assert "no API key" in capsys.readouterr().err
    monkeypatch.setenv(KEYS_ENV, " , ")
    assert main(["--data-dir", str(tmp_path)]) == 2


def test_keys_come_from_options_or_environment(tmp_path):
    from_env = parse_config(["--data-dir", str(tmp_path)], {KEYS_ENV: "a, b,,a"})
    assert from_env.api_keys == ("a", "b")
    from_args = parse_config(["--data-dir", str(tmp_path), "--api-key", "x", "--api-key", "y"], {KEYS_ENV: "a"})
    assert from_args.api_keys == ("x", "y")


def test_defaults(tmp_path):
    config = parse_config(["--data-dir", str(tmp_path)], {KEYS_ENV: "k"})
    assert (config.host, config.port, config.workers, config.compute_type) == ("127.0.0.1", 8765, 2, "int8")
    assert config.max_upload_bytes == 2 * 1024**3
    assert config.min_duration == 4.0
    assert (config.rate_limit, config.fault_5xx_rate, config.fault_429_rate, config.fault_latency) == (0, 0, 0, 0)
    assert config.allow_file_roots == ()
    assert (config.model, config.language, config.language_threshold) == ("tiny.en", "auto", 0.5)


@pytest.mark.parametrize(
    "argv",
    [
        ["--workers", "0"],
        ["--fault-5xx-rate", "2"],
        ["--rate-window", "0"],
        ["--min-duration", "nan"],
        ["--min-duration", "5", "--max-duration", "4"],
        ["--allow-url-network", "10.0.0.0/33"],
        ["--port", "70000"],
        ["--language", "klingon"],
        ["--language-threshold", "1.5"],
    ],
)
def test_bad_values_are_refused_naming_the_option(tmp_path, capsys, argv):
    with pytest.raises(SystemExit) as exc:
        parse_config(["--data-dir", str(tmp_path), *argv], {KEYS_ENV: "k"})
    assert exc.value.code == 2
    assert argv[-2] in capsys.readouterr().err


def test_a_config_built_in_python_is_checked_like_the_command_line(tmp_path):
    with pytest.raises(ValidationError, match="workers"):
        ServerConfig(data_dir=tmp_path, api_keys=("k",), workers=0)
    assert ServerConfig(data_dir=tmp_path, api_keys=("k",), allow_url_networks=("10.0.0.0/8",)).allow_url_networks == (
        ip_network("10.0.0.0/8"),
    )


def test_allowed_url_networks_are_repeatable(tmp_path):
    argv = ["--data-dir", str(tmp_path), "--allow-url-network", "127.0.0.2/32", "--allow-url-network", "fd00::/8"]
    config = parse_config(argv, {KEYS_ENV: "k"})
    assert config.allow_url_networks == (ip_network("127.0.0.2/32"), ip_network("fd00::/8"))
    assert parse_config(["--data-dir", str(tmp_path)], {KEYS_ENV: "k"}).allow_url_networks == ()


def test_parser_prog_is_the_console_command():
    assert build_parser().prog == "reelscribe serve"


def test_launcher_reports_the_log_when_the_server_dies(tmp_path):
    server = EmbeddedServer(tmp_path / "data", extra_args=("--workers", "not-a-number"), startup_timeout=30)
    with pytest.raises(ServerStartError) as exc:
        server.start()
    assert "--workers" in str(exc.value)
    assert not server.running


def test_launcher_fails_fast_when_its_key_is_refused(tmp_path):
    server = EmbeddedServer(tmp_path / "data", api_key="launcher-key", extra_args=("--api-key", "other-key"))
    with pytest.raises(ServerStartError, match="401"):
        server.start()
    assert not server.running


def test_launcher_starts_a_server_that_always_faults(faulty_server):
    """The launcher started it (its readiness probe takes an injected fault for a live server)."""
    response = requests.get(f"{faulty_server.base_url}/indexes", headers={"x-api-key": faulty_server.api_key}, timeout=10)
    assert response.status_code in (500, 502, 503)
    assert response.json()["code"] in ("internal_server_error", "service_unavailable")
