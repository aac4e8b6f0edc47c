"""``reelscribe lake convert`` is all or nothing and can be run again after a stop at any step.

What every reader sees is checked after each stop: the per-video lake it was (the ``videos``
table's log is the switch, written last) or the Delta lake it became, never a mix; a re-run then
converts fully, and no landed row is lost or doubled. The user's path runs the CLI in a
subprocess against the session's local API server: run, export (``subtitles/`` in the lake),
convert, then run and plan again without any format flag.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from reelscribe.core import lake_maintenance
from reelscribe.core.delta_lake import DeltaLake
from reelscribe.core.flatten import words_table
from reelscribe.core.lake import Lake
from reelscribe.core.failure_memory import Failure, remember, remembered
from reelscribe.core.lake_format import lake_format, open_lake
from reelscribe.core.lake_maintenance import CONVERTING, convert_lake
from reelscribe.core.lake_sql import open_reader
from reelscribe.core.source_state import SeenSource, SourceIdentity
from tests.test_cli import run_cli
from tests.test_delta_lake import INDEX, record, segments

TABLES = ("segments", "words", "videos")


def land_video(lake: Lake, video_id: str, count: int = 3) -> None:
    rows = segments(video_id, count)
    spoken = [{"start": i * 1.0, "end": i + 0.4, "value": f"w{i}"} for i in range(count)]
    lake.write_video(INDEX, video_id, rows, record(video_id), {"words": words_table(spoken, video_id=video_id, segments=rows)})


def per_video_lake(out: Path, videos: int = 4) -> Path:
    """Segments, words, videos and the seen-source state, plus folders that are no tables."""
    lake = Lake(str(out))
    for n in range(videos):
        land_video(lake, f"v{n}")
    lake.record_sources([SeenSource(f"/videos/v{n}.mp4", SourceIdentity(100 + n, 1_000 + n), f"sha-v{n}") for n in range(videos)])
    remember(lake, INDEX, [Failure("sha-bad", "/videos/bad.mp4", "video_file_broken", "not a video")])
    (out / "subtitles" / "talk").mkdir(parents=True)
    (out / "subtitles" / "talk" / "v0.srt").write_text("1\n00:00:00,000 --> 00:00:00,900\nword 0\n")
    (out / "_claims" / f"index_id={INDEX}" / "sha-x").mkdir(parents=True)
    (out / "_claims" / f"index_id={INDEX}" / "sha-x" / "1.json").write_text("{}")
    return out


def rows_read(out: Path) -> dict[str, list[tuple]]:
    """Every table's rows as a reader of the lake sees them (``open_reader``: either format)."""
    with open_reader(str(out)) as reader:
        found = {}
        for table in TABLES:
            order = {"segments": "video_id, segment", "words": "video_id, word", "videos": "video_id"}[table]
            found[table] = reader.con.execute(f"select video_id, * exclude (video_id) from {table} order by {order}").fetchall()
        return found


def state_rows(out: Path | str) -> tuple[list[str], dict[str, str]]:
    """The seen-source state and the remembered failures, as runs read them."""
    lake = open_lake(str(out))
    return sorted(lake.seen_sources().sources_under("/")), remembered(lake, INDEX)


class Stop(Exception):
    """The simulated crash."""


def stop_at(monkeypatch, name: str, call: int) -> None:
    """Make the ``call``-th call of ``lake_maintenance.<name>`` raise ``Stop`` (before it does anything)."""
    real, calls = getattr(lake_maintenance, name), []

    def step(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise Stop(f"{name} #{call}")
        return real(*args, **kwargs)

    monkeypatch.setattr(lake_maintenance, name, step)


# The steps of a conversion of a lake with segments, words, videos, sources and failures, each a place to stop:
# a table's log (videos' is the switch, the 5th), a leftover log's removal, a table's compaction.
STOPS = [("_discard_log", 1), *[("_convert_table", n) for n in (1, 2, 3, 4, 5)], ("compact_table", 1), ("compact_table", 3), ("_finish", 1)]


@pytest.mark.parametrize(("step", "call"), STOPS, ids=[f"{s}-{c}" for s, c in STOPS])
def test_a_conversion_stopped_at_any_step_reads_as_before_and_completes_on_rerun(tmp_path, monkeypatch, step, call):
    out = per_video_lake(tmp_path / "lake")
    before, sources = rows_read(out), state_rows(out)
    with monkeypatch.context() as patched:
        stop_at(patched, step, call)
        with pytest.raises(Stop):
            convert_lake(str(out))
    switched = lake_format(str(out))
    # Before videos' log the lake is the per-video lake it was; after it, the Delta lake it became.
    assert switched == ("delta" if step in ("compact_table", "_finish") else "parquet")
    assert rows_read(out) == before and state_rows(out) == sources
    if switched == "parquet":  # a per-video run may land meanwhile: the re-run takes its files too
        land_video(Lake(str(out)), "v9")
        before = rows_read(out)
    converted = convert_lake(str(out))
    assert converted[-1] == "videos" and {"segments", "words", "sources", "failures"} <= set(converted)
    assert lake_format(str(out)) == "delta" and not (out / CONVERTING).exists()
    assert rows_read(out) == before and state_rows(out) == sources
    assert [len(DeltaLake(str(out)).open(t).file_uris()) for t in TABLES] == [1, 1, 1]
    assert convert_lake(str(out)) == []
    assert not (out / "subtitles" / "_delta_log").exists() and not (out / "_claims" / "_delta_log").exists()


def test_logs_an_earlier_stop_left_are_rebuilt_not_trusted(tmp_path):
    """A stop inside a table's log write leaves an empty ``_delta_log``: that is no Delta table."""
    out = per_video_lake(tmp_path / "lake")
    before = rows_read(out)
    (out / "videos" / "_delta_log").mkdir()
    assert lake_format(str(out)) == "parquet" and rows_read(out) == before
    DeltaLake(str(tmp_path / "other")).create_marker()  # a whole log, copied in beside the segments
    shutil.copytree(tmp_path / "other" / "videos" / "_delta_log", out / "segments" / "_delta_log")
    assert lake_format(str(out)) == "parquet" and rows_read(out) == before
    assert convert_lake(str(out))[-1] == "videos"
    assert rows_read(out) == before


def test_a_failed_conversion_is_one_line_exit_1_and_leaves_the_per_video_lake(tmp_path):
    out = per_video_lake(tmp_path / "lake")
    before = rows_read(out)
    broken = out / "words" / f"index_id={INDEX}" / "broken.parquet"
    broken.write_bytes(b"PAR1 not a parquet file PAR1")
    result = run_cli("lake", "convert", str(out), tmp_path=tmp_path, timeout=120)
    assert result.returncode == 1, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("reelscribe: lake convert failed: ") and f"run `reelscribe lake convert {out}` again" in line
    assert lake_format(str(out)) == "parquet"
    broken.unlink()
    assert rows_read(out) == before
    again = run_cli("lake", "convert", str(out), tmp_path=tmp_path, timeout=120)
    assert again.returncode == 0, again.stderr
    assert lake_format(str(out)) == "delta" and rows_read(out) == before


def test_a_killed_conversion_completes_on_rerun(tmp_path):
    """The process killed while converting (its compaction made slow), then run again."""
    out = per_video_lake(tmp_path / "lake", videos=6)
    before = rows_read(out)
    script = (
        "import time, sys\n"
        "from reelscribe.core import lake_maintenance as m\n"
        "real = m.compact_table\n"
        "def slow(*a, **k):\n"
        "    print('compacting', flush=True); time.sleep(60); return real(*a, **k)\n"
        "m.compact_table = slow\n"
        f"m.convert_lake({str(out)!r})\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "compacting"
    finally:
        child.kill()
        child.wait()
    assert lake_format(str(out)) == "delta" and (out / CONVERTING).exists()
    assert rows_read(out) == before
    result = run_cli("lake", "convert", str(out), tmp_path=tmp_path, timeout=120)
    assert result.returncode == 0 and "converted" in result.stdout, result.stderr
    assert not (out / CONVERTING).exists() and rows_read(out) == before
    assert [len(DeltaLake(str(out)).open(t).file_uris()) for t in TABLES] == [1, 1, 1]


# -- the user's path: run, export, convert, run again without flags ---------------------------


def test_export_then_convert_then_run_again_without_flags_lands_into_delta(tmp_path, shared_services, jfk_copy):
    name = f"convert-{uuid.uuid4().hex[:8]}"
    env = shared_services
    first = run_cli("run", str(jfk_copy), "--out", "lake", "--index-name", name, tmp_path=tmp_path, env=env)
    assert first.returncode == 0 and first.stdout.startswith("landed"), first.stderr[-2000:]
    exported = run_cli("export", "lake", tmp_path=tmp_path, env=env)
    assert exported.returncode == 0, exported.stderr
    subtitles = sorted(p.relative_to(tmp_path) for p in (tmp_path / "lake" / "subtitles").rglob("*"))
    assert subtitles
    converted = run_cli("lake", "convert", "lake", tmp_path=tmp_path, env=env, timeout=180)
    assert converted.returncode == 0 and converted.stderr == "", converted.stderr
    assert converted.stdout.startswith("converted ") and "subtitles" not in converted.stdout
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "lake" / "subtitles").rglob("*")) == subtitles
    out = tmp_path / "lake"
    assert lake_format(str(out)) == "delta"
    per_video_files = sorted((out / "videos").glob("index_id=*/[!p]*.parquet"))

    planned = run_cli("plan", str(jfk_copy.parent), "--out", "lake", "--index-name", name, tmp_path=tmp_path, env=env)
    assert planned.returncode == 0, planned.stderr
    later = jfk_copy.parent / "later.mp4"
    later.write_bytes(jfk_copy.read_bytes() + b"\0")
    again = run_cli("run", str(jfk_copy.parent), "--out", "lake", "--index-name", name, tmp_path=tmp_path, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert sorted(line.split("\t")[0] for line in again.stdout.splitlines()) == ["landed", "skipped"]
    landed = DeltaLake(str(out)).landed(_index_of(out))
    assert sorted(r.source.rsplit("/", 1)[-1] for r in landed.values()) == ["jfk.mp4", "later.mp4"]
    assert sorted((out / "videos").glob("index_id=*/[!p]*.parquet")) == per_video_files  # no per-video file written
    with open_reader(str(out)) as reader:
        assert reader.con.execute("select count(*), count(distinct video_id) from videos").fetchone() == (2, 2)
    found = run_cli("search", "lake", "country", tmp_path=tmp_path, env=env)
    assert found.returncode == 0 and len(found.stdout.splitlines()) >= 2, found.stderr
    again_exported = run_cli("export", "lake", "--to", "subs-after", tmp_path=tmp_path, env=env)
    assert again_exported.returncode == 0 and len(list((tmp_path / "subs-after").rglob("*.vtt"))) == 2, again_exported.stderr

    refused = run_cli("run", str(jfk_copy), "--out", "lake", "--table-format", "parquet", tmp_path=tmp_path, env=env)
    assert refused.returncode == 2 and refused.stderr.splitlines() == [
        "reelscribe: error: lake is a Delta lake, not parquet: leave out --table-format (flow parameter table_format), "
        "the format is read from the lake"
    ]


def _index_of(out: Path) -> str:
    (partition,) = (out / "videos").glob("index_id=*")
    return partition.name.split("=", 1)[1]


@pytest.mark.parametrize(("step", "call"), [("_convert_table", 2), ("compact_table", 1)])
def test_on_s3_a_stopped_conversion_completes_on_rerun(s3_process_bucket, monkeypatch, step, call):
    out = s3_process_bucket.url("lake")
    lake = Lake(out)
    for n in range(3):
        land_video(lake, f"v{n}")
    lake.record_sources([SeenSource(f"/videos/v{n}.mp4", SourceIdentity(100 + n, 1_000 + n), f"sha-v{n}") for n in range(3)])
    before, sources = lake.landed(INDEX), state_rows(out)
    with monkeypatch.context() as patched:
        stop_at(patched, step, call)
        with pytest.raises(Stop):
            convert_lake(out)
    assert lake_format(out) == ("delta" if step == "compact_table" else "parquet")
    assert open_lake(out).landed(INDEX) == before
    assert convert_lake(out)[-1] == "videos"
    delta = DeltaLake(out)
    assert lake_format(out) == "delta" and delta.landed(INDEX) == before and state_rows(out) == sources
    assert [len(delta.open(t).file_uris()) for t in TABLES] == [1, 1, 1]
    assert convert_lake(out) == []


def test_a_submission_recorded_before_a_convert_lands_into_the_delta_lake(api, prefect_engine, jfk_copy, tmp_path):
    """``land-indexed`` reads the lake's format when it lands, not the one the submission was made with."""
    import requests

    from reelscribe.flows.land_indexed import land_indexed
    from reelscribe.flows.transcribe import transcribe_videos
    from tests.polling import wait_until

    out, name = str(tmp_path / "lake"), f"pending-{uuid.uuid4().hex[:8]}"
    (first,) = transcribe_videos(sources=[str(jfk_copy)], index_name=name, out=out, upload="tasks")
    later = jfk_copy.parent / "later.mp4"
    later.write_bytes(jfk_copy.read_bytes() + b"\0")
    (submitted,) = transcribe_videos(
        sources=[str(later)], index_name=name, out=out, upload="tasks", wait="webhook", max_wait_seconds=0.001
    )
    assert submitted.status == "submitted" and lake_format(out) == "parquet"
    (record,) = (tmp_path / "lake" / "_pending").glob("*.json")
    job = record.stem
    headers = {"x-api-key": api.api_key}
    wait_until(lambda: requests.get(f"{api.base_url}/tasks/{job}", headers=headers, timeout=10).json()["status"] == "ready",
               120, f"indexing of {job}", 0.3)
    assert convert_lake(out)[-1] == "videos"
    (landed,) = land_indexed(out=out, api_url=api.base_url)
    assert landed.status == "landed"
    delta = DeltaLake(out)
    videos = delta.landed(_index_of(Path(out)))
    assert sorted(r.video_id for r in videos.values()) == sorted([first.video_id, landed.video_id])
    assert len(list((Path(out) / "videos").glob("index_id=*/[!p]*.parquet"))) == 1  # no per-video file after the convert
