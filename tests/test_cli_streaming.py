"""``reelscribe run`` in a pipe writes each video's line when that video ends, not all at the end.

The CLI runs as a subprocess with its stdout a pipe, against the session's local server (through a
loopback proxy) and Prefect server. The proxy holds every request about any video but the first
one whose transcription is asked for, until the test has read a line: the first line must come
while the rest of the batch cannot have finished, so the process is still running then. No clock
decides anything.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import JFK
from tests.faultproxy import FORWARD, Fault, FaultProxy
from tests.media import make_video

BIN = Path(sys.executable).parent / "reelscribe"
VIDEO_PATH = re.compile(r"/indexes/[^/]+/videos/([^/?]+)")


class FirstVideoOnly:
    """A proxy rule: requests about the first video id seen pass; those about any other wait for ``release``."""

    def __init__(self) -> None:
        self.first: str | None = None
        self.release = threading.Event()
        self.held = 0
        self._lock = threading.Lock()

    def __call__(self, method: str, path: str) -> Fault:
        match = VIDEO_PATH.search(path)
        if match is None:
            return FORWARD
        with self._lock:
            self.first = self.first or match.group(1)
            if match.group(1) == self.first:
                return FORWARD
            self.held += 1
        return Fault(kind="slow", hold=lambda: self.release.wait(300))


def batch(folder: Path) -> list[Path]:
    """Four videos of different bytes; the later ones are longer."""
    folder.mkdir()
    videos = [folder / "a-jfk.mp4"]
    shutil.copy(JFK, videos[0])
    for i, seconds in enumerate((5, 7, 9), start=1):
        videos.append(make_video(folder / f"b{i}-tone.mp4", seconds, audio="tone"))
    return videos


@pytest.mark.parametrize("as_json", [False, True], ids=["tab-separated", "json"])
def test_the_first_videos_line_reaches_a_pipe_while_the_run_goes_on(tmp_path, pipeline_server, prefect_engine, as_json):
    videos = batch(tmp_path / "videos")
    gate = FirstVideoOnly()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWELVE", "PREFECT_", "REELSCRIBE_"))}
    with FaultProxy(pipeline_server.root_url, rule=gate) as proxy:
        env.update(PREFECT_API_URL=prefect_engine, TWELVELABS_BASE_URL=proxy.base_url,
                   TWELVE_LABS_API_KEY=pipeline_server.api_key, REELSCRIBE_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1")
        command = [str(BIN), "run", str(tmp_path / "videos"), "--out", "lake", "--upload", "tasks",
                   "--index-name", f"stream-{tmp_path.name[-12:]}", *(["--json"] if as_json else [])]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                   cwd=tmp_path, stdin=subprocess.DEVNULL)
        try:
            first = process.stdout.readline()
            still_running = process.poll() is None
        finally:
            gate.release.set()
        rest, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]
    assert first, f"no line before the end\n{err[-3000:]}"
    assert still_running, "the first line came only when the process ended"
    assert gate.held >= 1, "the other videos were never held: the check proved nothing"
    lines = [first, *rest.splitlines()]
    lines = [line.rstrip("\n") for line in lines if line.strip()]
    assert len(lines) == len(videos), lines
    if as_json:
        rows = [json.loads(line) for line in lines]
        assert {r["status"] for r in rows} == {"landed"} and {r["source"] for r in rows} == {str(v) for v in videos}
    else:
        assert all(line.split("\t")[0] == "landed" for line in lines), lines
        assert {line.split("\t")[1] for line in lines} == {str(v) for v in videos}
    assert "Traceback" not in err
