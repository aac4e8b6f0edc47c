"""What ``reelscribe run`` says when something goes wrong, as a user meets it: the CLI in a subprocess.

A wrong key names the API's URL and where the key comes from; an error no check foresaw is one
line naming what failed (``-v`` adds the traceback); a URL the embedded server may not fetch names
the option of ``run`` that allows it; subtitle cues keep ``12%`` whole.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

from tests.conftest import JFK

BIN = Path(sys.executable).parent / "reelscribe"


def run_cli(*args: str, tmp_path: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TWELVE", "PREFECT_", "REELSCRIBE_"))}
    base.update(PREFECT_HOME=str(tmp_path / "prefect-home"), REELSCRIBE_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1")
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=600, env={**base, **(env or {})},
                          cwd=tmp_path, stdin=subprocess.DEVNULL)


def test_a_wrong_key_names_the_url_and_where_the_key_comes_from(tmp_path, pipeline_server):
    result = run_cli("run", str(JFK), "--out", "lake", "--api-url", pipeline_server.base_url, tmp_path=tmp_path,
                     env={"TWELVE_LABS_API_KEY": "not-the-key"})
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("reelscribe: error: ") and "HTTP 401" in line, line
    assert pipeline_server.base_url in line and "TWELVE_LABS_API_KEY" in line and "--credentials-block" in line, line
    assert not (tmp_path / "lake").exists() and not (tmp_path / "prefect-home").exists()


def test_an_unforeseen_error_is_one_line_naming_what_failed_and_v_shows_the_traceback(tmp_path, shared_services):
    """A lake under a regular file: no check foresees it; the operating system's error names the path."""
    (tmp_path / "a-file").write_text("not a folder")
    args = ("run", str(JFK), "--out", "a-file/lake")
    quiet = run_cli(*args, tmp_path=tmp_path, env=shared_services)
    assert quiet.returncode == 1, quiet.stderr
    (line,) = quiet.stderr.splitlines()
    assert line.startswith("reelscribe: run failed: NotADirectoryError: ") and "a-file" in line, line
    assert line.endswith("(-v shows the traceback)"), line
    loud = run_cli(*args, "-v", tmp_path=tmp_path, env=shared_services)
    assert loud.returncode == 1
    assert "Traceback (most recent call last)" in loud.stderr
    assert loud.stderr.splitlines()[-1].startswith("reelscribe: run failed: NotADirectoryError: ")


class _OneVideo(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_a_loopback_url_source_names_the_run_option_that_allows_it(tmp_path, shared_services):
    """The server refuses a non-public address; the failed line tells a ``run`` user what to pass."""
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "jfk.mp4").write_bytes(JFK.read_bytes())
    handler = lambda *a, **k: _OneVideo(*a, directory=str(tmp_path / "media"), **k)  # noqa: E731
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as media:
        threading.Thread(target=media.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{media.server_address[1]}/jfk.mp4"
        result = run_cli("run", url, "--out", "lake", "--index-name", f"url-{tmp_path.name[-10:]}",
                         tmp_path=tmp_path, env=shared_services)
        media.shutdown()
    failed = [line for line in result.stdout.splitlines() if line.startswith("failed\t")]
    assert result.returncode == 1 and len(failed) == 1, (result.stdout, result.stderr[-3000:])
    assert "--server-allow-url-network" in failed[0], failed[0]


def test_server_allow_url_network_is_for_the_embedded_server_only(tmp_path, pipeline_server):
    result = run_cli("run", str(JFK), "--api-url", pipeline_server.base_url, "--server-allow-url-network", "10.0.0.0/8",
                     tmp_path=tmp_path, env={"TWELVE_LABS_API_KEY": pipeline_server.api_key})
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "--server-allow-url-network" in line and "embedded server only" in line, line


def test_server_allow_url_network_reaches_the_embedded_servers_command():
    from reelscribe.cli import build_parser, embedded_server_args
    from reelscribe.server.launcher import EmbeddedServer

    args = build_parser().parse_args(["run", "x.mp4", "--server-allow-url-network", "127.0.0.0/8",
                                      "--server-allow-url-network", "10.0.0.0/8"])
    extra = embedded_server_args(None, None, args.server_allow_url_network)
    assert extra == ["--allow-url-network", "127.0.0.0/8", "--allow-url-network", "10.0.0.0/8"]
    command = EmbeddedServer("unused", extra_args=extra).command()
    from reelscribe.server.cli import build_parser as server_parser

    parsed = server_parser().parse_args(command[3:])
    assert [str(n) for n in parsed.allow_url_networks] == ["127.0.0.0/8", "10.0.0.0/8"]


def test_cues_keep_a_percent_sign_with_its_number():
    """Whisper gives ``%`` as a word of its own; the transcript says ``12%``, and so must the cue."""
    from reelscribe.core.subtitles import TimedWord, build_cues

    words = [TimedWord("Prices", 0.0, 0.4, 0), TimedWord("rose", 0.4, 0.8, 0), TimedWord("12", 0.9, 1.2, 0),
             TimedWord("%", 1.2, 1.3, 0), TimedWord("this", 1.4, 1.6, 0), TimedWord("year", 1.6, 1.9, 0),
             TimedWord(".", 1.9, 1.9, 0)]
    (cue,) = build_cues(words)
    assert cue.text == "Prices rose 12% this year."
    assert (cue.start, cue.end) == (0.0, 1.9)


def test_a_terminal_is_told_what_the_run_does_before_the_first_video(tmp_path, shared_services):
    """Before the flow has found its videos the bar names what it waits for, not a bare ``0/?``."""
    import pty

    base = {k: v for k, v in os.environ.items() if not k.startswith(("TWELVE", "PREFECT_", "REELSCRIBE_"))}
    env = {**base, **shared_services, "REELSCRIBE_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    leader, follower = pty.openpty()
    chunks = []
    try:
        process = subprocess.Popen([str(BIN), "run", str(JFK), "--out", "lake", "--index-name", f"tty-{tmp_path.name[-10:]}"],
                                   stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env, cwd=tmp_path)
        os.close(follower)
        while True:  # read as it comes: a full terminal buffer would block the command
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the command and its children closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        process.wait(600)
    finally:
        os.close(leader)
    seen = b"".join(chunks).decode(errors="replace")
    assert process.returncode == 0, seen[-3000:]
    assert "connecting to Prefect…" in seen, seen[-3000:]
    assert "landed" in seen
