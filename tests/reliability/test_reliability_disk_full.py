"""A full disk (``ENOSPC``) under the lake: the video fails with a reason naming the disk, nothing
torn or half-made stays behind, the rest of the batch reports cleanly, and once space is back
the next run lands what is missing, once. The disk is a 4 MB tmpfs the test mounts."""

from __future__ import annotations

import errno
import subprocess
import uuid
from pathlib import Path

import pytest

from reelscribe.core.errors import BatchFailed
from reelscribe.flows.transcribe import transcribe_videos

@pytest.fixture
def small_disk(tmp_path):
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)],
                              capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        pytest.skip("no mount command: cannot make a small disk for the ENOSPC test")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 4 MB tmpfs (needs root and permission to mount): {done.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False, timeout=30)


def fill(disk: Path) -> Path:
    """Write a filler file until the disk refuses another byte."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.mark.usefixtures("prefect_engine")
def test_a_full_disk_fails_the_video_naming_the_disk_and_the_next_run_lands_it(api, jfk_copy, small_disk):
    lake, name = small_disk / "lake", f"enospc-{uuid.uuid4().hex[:8]}"
    first = transcribe_videos(sources=[str(jfk_copy)], index_name=name, out=str(lake), upload="tasks")
    assert [r.status for r in first] == ["landed"]
    before = files(lake)
    second_video = jfk_copy.parent / "second.mp4"
    second_video.write_bytes(jfk_copy.read_bytes() + b"\0")
    filler = fill(small_disk)

    state = transcribe_videos(sources=[str(jfk_copy.parent)], index_name=name, out=str(lake), upload="tasks", return_state=True)
    failure = state.result(raise_on_failure=False)

    assert isinstance(failure, BatchFailed)
    status = {Path(r.source).name: (r.status, r.error) for r in failure.reports}
    assert status["jfk.mp4"][0] == "skipped"
    assert status["second.mp4"][0] == "failed"
    assert "NoSpaceLeft" in status["second.mp4"][1] and str(lake) in status["second.mp4"][1]
    assert "no space left on the disk" in status["second.mp4"][1]
    assert files(lake) == before  # nothing torn, no temp file, no empty claim

    filler.unlink()
    third = transcribe_videos(sources=[str(jfk_copy.parent)], index_name=name, out=str(lake), upload="tasks")
    assert sorted((Path(r.source).name, r.status) for r in third) == [("jfk.mp4", "skipped"), ("second.mp4", "landed")]
    assert len(list((lake / "videos").rglob("*.parquet"))) == 2


def test_a_lake_file_on_a_full_disk_is_refused_whole(small_disk):
    """The lake's one write path (temp file, then rename) on a full disk: a typed error naming the
    disk, and neither the file nor its temp file left."""
    import pyarrow as pa

    from reelscribe.core.errors import NoSpaceLeft
    from reelscribe.core.lake import _replace_atomically

    folder = small_disk / "lake" / "segments"
    folder.mkdir(parents=True)
    fill(small_disk)
    with pytest.raises(NoSpaceLeft, match="no space left on the disk holding the lake"):
        _replace_atomically(str(folder / "v.parquet"), pa.py_buffer(b"x" * 10000), fsync=False)
    assert files(small_disk / "lake") == set()
