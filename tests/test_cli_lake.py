"""``reelscribe lake convert`` and ``reelscribe lake compact`` as a user types them."""

from __future__ import annotations

from pathlib import Path

from reelscribe.core.delta_lake import DeltaLake
from reelscribe.core.lake import Lake
from tests.test_cli import run_cli
from tests.test_delta_lake import INDEX, land


def per_video_lake(root: Path, videos: int = 3) -> Path:
    out = root / "lake"
    lake = Lake(str(out))
    for n in range(videos):
        land(lake, f"v{n}", 2)
    return out


def test_convert_then_convert_again(tmp_path):
    out = per_video_lake(tmp_path)
    first = run_cli("lake", "convert", str(out), tmp_path=tmp_path, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "converted segments, videos" in first.stdout and "--table-format" not in first.stdout
    assert sorted(r.video_id for r in DeltaLake(str(out)).landed(INDEX).values()) == ["v0", "v1", "v2"]
    # Left as fast as a compacted lake: one file per table, not one per video.
    assert [len(DeltaLake(str(out)).open(t).file_uris()) for t in ("segments", "videos")] == [1, 1]
    again = run_cli("lake", "convert", str(out), tmp_path=tmp_path, timeout=120)
    assert again.returncode == 0 and "already a Delta lake" in again.stdout


def test_compact_after_convert_finds_nothing_left_to_merge(tmp_path, prefect_engine):
    """The compaction flow reports to the session's Prefect server (no temporary one of its own)."""
    out = per_video_lake(tmp_path, videos=5)
    assert run_cli("lake", "convert", str(out), tmp_path=tmp_path, timeout=120).returncode == 0
    result = run_cli("lake", "compact", str(out), tmp_path=tmp_path, env={"PREFECT_API_URL": prefect_engine})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "segments: 0 files compacted into 0" in result.stdout
    assert len(DeltaLake(str(out)).open("segments").file_uris()) == 1


def test_compact_of_a_per_video_lake_exits_2_naming_convert(tmp_path):
    out = per_video_lake(tmp_path, videos=1)
    result = run_cli("lake", "compact", str(out), tmp_path=tmp_path)
    assert result.returncode == 2 and "lake convert" in result.stderr
