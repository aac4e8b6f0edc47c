"""The plan's edge rules: videos of unknown length under a minutes bound, the nothing-new path when
the embedded server's index was deleted or recreated, and the progress bar's total with deferred videos."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import pytest

from reelscribe.core.lake import Lake
from reelscribe.core.lake_format import open_lake
from reelscribe.core.plan import Bounds
from tests.media import make_video
from tests.test_cli_plan import INDEX, land_as, record_index
from tests.test_seen_sources import plan_run, statuses


def oldest_first(*paths: Path) -> None:
    for n, path in enumerate(paths):
        os.utime(path, ns=(10**18 + n, 10**18 + n))


def test_a_video_of_unknown_length_is_sent_alone_and_fills_the_minutes_budget(tmp_path, capsys):
    pytest.importorskip("av")
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "unknown.mp4").write_bytes(b"no container header PyAV can read")
    make_video(folder / "short.mp4", seconds=2, audio=None)
    oldest_first(folder / "unknown.mp4", folder / "short.mp4")
    lake = open_lake(str(tmp_path / "lake"), "parquet")
    bound = Bounds(max_video_minutes=10)

    first = plan_run(str(folder), lake, frozenset(), bound)
    assert statuses(first) == {"unknown.mp4": "new", "short.mp4": "deferred"}
    assert first.unknown_lengths == 1 and first.summary().endswith("1 video(s) of unknown length to send")
    unknown_sha = first.videos[[Path(v.source.uri).name for v in first.videos].index("unknown.mp4")].content_sha256
    second = plan_run(str(folder), lake, frozenset({unknown_sha}), bound)
    assert statuses(second) == {"unknown.mp4": "landed", "short.mp4": "new"} and second.unknown_lengths == 0

    oldest_first(folder / "short.mp4", folder / "unknown.mp4")  # now younger than a known one: waits for its own run
    lake = open_lake(str(tmp_path / "lake-2"), "parquet")  # new identities would show as "changed" in the first
    after_known = plan_run(str(folder), lake, frozenset(), bound)
    assert statuses(after_known) == {"short.mp4": "new", "unknown.mp4": "deferred"}
    assert "unknown length" not in after_known.summary()

    oldest_first(folder / "unknown.mp4", folder / "short.mp4")
    lake = open_lake(str(tmp_path / "lake-3"), "parquet")
    none = plan_run(str(folder), lake, frozenset(), Bounds(max_video_minutes=0))
    assert none.to_send == [] and "(unknown.mp4: unknown length): nothing sent this run" in none.notice

    from reelscribe.cli import main

    assert main(["plan", str(folder), "--out", str(tmp_path / "lake-4"), "--index-id", INDEX]) == 0
    printed = capsys.readouterr()
    assert f"new\t{folder / 'unknown.mp4'}\tunknown\t" in printed.out.splitlines()
    assert "(+1 of unknown length)" in printed.err


def test_an_index_deleted_or_recreated_since_the_last_run_sends_the_run_the_full_way(tmp_path, monkeypatch, capsys):
    from reelscribe.cli import build_parser
    from reelscribe.cli.plan import run_if_nothing_new
    from reelscribe.server.index_lookup import DB_FILE
    from reelscribe.server.store import Store

    for name in ("TWELVELABS_BASE_URL", "TWELVE_LABS_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    folder, out, server_dir = tmp_path / "inbox", tmp_path / "lake", tmp_path / "server"
    folder.mkdir()
    (folder / "old.mp4").write_bytes(b"landed before")
    land_as(Lake(str(out)), "v-old", str(folder / "old.mp4"), hashlib.sha256(b"landed before").hexdigest())
    record_index(server_dir, "reelscribe", INDEX)
    args = build_parser().parse_args(["run", str(folder), "--out", str(out), "--server-data-dir", str(server_dir), "--json"])
    assert run_if_nothing_new(args) == 0
    assert [json.loads(line)["status"] for line in capsys.readouterr().out.splitlines()] == ["skipped"]

    store = Store(server_dir / DB_FILE)
    store.indexes.delete(INDEX)
    assert run_if_nothing_new(args) is None, "deleted: the full run creates the index and sends the video"
    store.indexes.create(uuid.uuid4().hex[:24], "reelscribe", [], [])
    store.close()
    assert run_if_nothing_new(args) is None, "recreated: nothing has landed under the new id"

    (server_dir / DB_FILE).write_bytes(b"not a database")
    for stale in server_dir.glob(f"{DB_FILE}-*"):
        stale.unlink()
    assert run_if_nothing_new(args) is None, "unreadable: the full path says what is wrong"


@pytest.mark.usefixtures("prefect_engine")
def test_the_progress_total_leaves_out_deferred_videos(api, tmp_path):
    from reelscribe.flows.transcribe import transcribe_videos
    from reelscribe.tasks.run_context import RunContext

    folder = tmp_path / "inbox"
    for n in range(2):
        make_video(folder / f"v{n}.mp4", seconds=5 + n, audio=None)  # the server refuses < 4 s
    oldest_first(folder / "v0.mp4", folder / "v1.mp4")
    events: list[tuple[str, int]] = []
    with RunContext(progress=lambda event, count: events.append((event, count))):
        reports = transcribe_videos(sources=[str(folder)], index_name=f"progress-{uuid.uuid4().hex[:8]}",
                                    out=str(tmp_path / "lake"), max_videos=1, upload="tasks")
    assert [r.status for r in reports] == ["landed", "deferred"]
    assert events == [("found", 2), ("found", 1), ("done", 1)], "the bar ends full: 1 of 1"
