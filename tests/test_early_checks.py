"""What a user meets before anything starts, and the small promises of plan, export and search:
a missing or non-video source refused at once (exit 2, one line, neither Prefect nor a server
started), skipped files counted, ``plan`` writing nothing (local disk and S3), ``export --source``
taking the path given to ``run``, ``search`` exiting 1 with no hits, and ``skipped`` lines with
their video id on the nothing-new path."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from reelscribe.core.lake import Lake
from reelscribe.core.lake_format import open_lake
from tests.conftest import JFK
from tests.test_cli import run_cli
from tests.test_cli_plan import INDEX, cli, land_as, record_index


def one_error_line(done) -> str:
    """The one stderr line of a refused command (the probe's own last line, what it imported, set aside)."""
    lines = [line for line in done.stderr.splitlines() if line not in ("ENGINE", "NO-ENGINE")]
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize("command", ["run", "plan"])
def test_a_missing_source_is_refused_before_anything_starts(tmp_path, command):
    done = cli(command, str(JFK), "no-such-dir/", "--out", str(tmp_path / "lake"), "--server-data-dir", str(tmp_path / "server"))
    assert done.returncode == 2
    assert one_error_line(done) == "reelscribe: error: no-such-dir/: no such file or directory"
    assert done.stdout == ""
    assert not (tmp_path / "lake").exists() and not (tmp_path / "server").exists(), "no server started, nothing written"


def test_a_file_that_is_not_a_video_named_explicitly_is_refused(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video")
    done = cli("run", str(notes), "--out", str(tmp_path / "lake"), "--server-data-dir", str(tmp_path / "server"))
    assert done.returncode == 2
    assert one_error_line(done).startswith(f"reelscribe: error: {notes}: not a video file (looked for .3gp, ")
    assert not (tmp_path / "server").exists(), "the one line is all: no server was started"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_refused(tmp_path):
    video = tmp_path / "locked.mp4"
    shutil.copy(JFK, video)
    video.chmod(0)
    done = cli("run", str(video), "--out", str(tmp_path / "lake"))
    assert done.returncode == 2
    assert one_error_line(done) == f"reelscribe: error: {video}: file is not readable (permission denied)"


def test_files_skipped_in_a_folder_are_counted_in_one_line(tmp_path):
    folder = tmp_path / "inbox"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(JFK, folder / "jfk.mp4")
    (folder / "notes.txt").write_text("x")
    (folder / "sub" / "a.wav").write_bytes(b"RIFF")
    (folder / "sub" / "b.wav").write_bytes(b"RIFF")
    done = cli("plan", str(folder), "--out", str(tmp_path / "lake"), "--index-id", INDEX)
    assert done.returncode == 0, done.stderr
    assert "reelscribe: skipped 3 file(s) that are not videos (2 .wav, 1 .txt)" in done.stderr.splitlines()
    assert done.stdout.startswith(f"new\t{folder / 'jfk.mp4'}")


def listing(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("table_format", ["parquet", "delta"])
def test_plan_writes_nothing_in_the_lake(tmp_path, table_format):
    folder, out = tmp_path / "inbox", tmp_path / "lake"
    folder.mkdir()
    shutil.copy(JFK, folder / "landed.mp4")
    (folder / "new.mp4").write_bytes(b"new bytes, never seen")
    land_as(open_lake(str(out), table_format), "v-1", str(folder / "landed.mp4"), hashlib.sha256(JFK.read_bytes()).hexdigest())
    before = listing(out)
    for _ in range(2):
        done = cli("plan", str(folder), "--out", str(out), "--index-id", INDEX, "--json")
        assert done.returncode == 0, done.stderr
        rows = [json.loads(line) for line in done.stdout.splitlines()][:-1]
        assert [(Path(r["source"]).name, r["status"]) for r in rows] == [("landed.mp4", "landed"), ("new.mp4", "new")]
    assert listing(out) == before, "no sources state, no probe, nothing"


def test_plan_sends_no_write_to_an_s3_lake(tmp_path, s3_bucket, moto_s3):
    from tests.s3faultproxy import S3FaultProxy

    folder = tmp_path / "inbox"
    folder.mkdir()
    shutil.copy(JFK, folder / "jfk.mp4")
    out = s3_bucket.url("lake")
    land_as(Lake(out), "v-1", "elsewhere.mp4", "another hash")
    with S3FaultProxy(moto_s3.endpoint_url, {}) as proxy:
        done = cli("plan", str(folder), "--out", out, "--index-id", INDEX, env={**moto_s3.env(), "AWS_ENDPOINT_URL": proxy.root_url})
        writes = {request: n for request, n in proxy.tries.items() if request[0] in ("PUT", "POST", "DELETE")}
        reads = sum(proxy.tries.values())
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"new\t{folder / 'jfk.mp4'}")
    assert reads > 0, "the plan read the lake through the proxy"
    assert writes == {}


def test_export_takes_the_relative_path_given_to_run_and_skipped_lines_carry_the_video_id(tmp_path):
    """The nothing-new path of ``run videos/jfk.mp4``, then ``export --source videos/jfk.mp4`` from the same folder."""
    (tmp_path / "videos").mkdir()
    shutil.copy(JFK, tmp_path / "videos" / "jfk.mp4")
    server_dir = tmp_path / "home" / "server"
    record_index(server_dir, "reelscribe", INDEX)
    land_as(Lake(str(tmp_path / "lake")), "v-jfk", str(tmp_path / "videos" / "jfk.mp4"), hashlib.sha256(JFK.read_bytes()).hexdigest())

    ran = run_cli("run", "videos/jfk.mp4", "--out", "lake", tmp_path=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == [f"skipped\t{tmp_path / 'videos' / 'jfk.mp4'}\tv-jfk\t\t\t"]

    exported = run_cli("export", "lake", "--source", "videos/jfk.mp4", "--format", "txt", tmp_path=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "lake" / "subtitles" / "jfk.txt").read_text().strip() == "hello"
    missing = run_cli("export", "lake", "--source", "videos/other.mp4", tmp_path=tmp_path)
    assert missing.returncode == 2 and "no video from source 'videos/other.mp4'" in missing.stderr


def test_search_exits_1_when_nothing_is_found(tmp_path):
    land_as(Lake(str(tmp_path / "lake")), "v-1", "a.mp4", "sha-a")
    found = run_cli("search", "lake", "hello", tmp_path=tmp_path)
    assert found.returncode == 0 and "v-1" in found.stdout
    nothing = run_cli("search", "lake", "goodbye", tmp_path=tmp_path)
    assert nothing.returncode == 1 and nothing.stdout == ""
    assert nothing.stderr.strip() == "reelscribe: 'goodbye' was not found in lake"
    assert "1 when nothing was" in run_cli("search", "--help", tmp_path=tmp_path).stdout.replace("\n", " ")
