"""``reelscribe plan`` and ``run``'s nothing-new path, on local disk: no Prefect engine, no server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone

from reelscribe.core.flatten import segments_table
from reelscribe.core.lake import Lake
from reelscribe.core.records import VideoRecord
from tests.conftest import ROOT
from tests.media import make_video

INDEX = "idx-plan"
NOW = datetime(2026, 1, 2, tzinfo=timezone.utc)


def land_as(lake: Lake, video_id: str, source: str, sha256: str) -> None:
    """A landed video whose content hash is ``sha256``, as the pipeline would have landed it."""
    transcript = [{"start": 0.0, "end": 1.0, "value": "hello"}]
    record = VideoRecord(task_id=f"t-{video_id}", source=source, content_sha256=sha256, duration=1.0, indexed_at=NOW, retrieved_at=NOW)
    lake.write_video(INDEX, video_id, segments_table(transcript, video_id=video_id, task_id=f"t-{video_id}", retrieved_at=NOW), record)


def record_index(server_dir, name: str, index_id: str) -> None:
    """The embedded server's data holding index ``name`` as ``index_id``, through the server's own store."""
    from reelscribe.server.index_lookup import DB_FILE
    from reelscribe.server.store import Store

    store = Store(server_dir / DB_FILE)
    store.indexes.create(index_id, name, [], [])
    store.close()


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``reelscribe`` in a child process that reports whether Prefect's engine or the server was started."""
    probe = (
        "import sys; from reelscribe.cli import main; code = main(sys.argv[1:]); "
        "print('ENGINE' if any(m.startswith(('prefect.flow_engine', 'reelscribe.server.launcher', 'uvicorn')) for m in sys.modules) "
        "else 'NO-ENGINE', file=sys.stderr); raise SystemExit(code)"
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("TWELVELABS_BASE_URL", "TWELVE_LABS_API_KEY")}
    return subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, cwd=ROOT, env={**clean, **(env or {})}, timeout=300)


def test_nothing_new_run_starts_neither_prefect_nor_the_server_and_plan_lists_the_rest(tmp_path):
    folder, out, server_dir = tmp_path / "inbox", tmp_path / "lake", tmp_path / "server"
    make_video(folder / "old.mp4", seconds=2, audio=None)
    record_index(server_dir, "reelscribe", INDEX)
    import hashlib

    land_as(Lake(str(out)), "v-old", str(folder / "old.mp4"), hashlib.sha256((folder / "old.mp4").read_bytes()).hexdigest())

    done = cli("run", str(folder), "--out", str(out), "--server-data-dir", str(server_dir), "--json")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["status"] for line in done.stdout.splitlines()] == ["skipped"]
    assert done.stderr.strip().endswith("NO-ENGINE")

    make_video(folder / "new.mp4", seconds=3, audio=None)
    planned = cli("plan", str(folder), "--out", str(out), "--index-id", INDEX, "--json")
    assert planned.returncode == 0, planned.stderr
    *rows, totals = [json.loads(line) for line in planned.stdout.splitlines()]
    assert [(os.path.basename(r["source"]), r["status"]) for r in rows] == [("new.mp4", "new"), ("old.mp4", "landed")]
    assert totals["totals"]["new"] == 1 and totals["totals"]["landed"] == 1 and 2.5 < rows[0]["seconds"] < 3.5
    assert planned.stderr.strip().endswith("NO-ENGINE")

    bounded = cli("plan", str(folder), "--out", str(out), "--index-id", INDEX, "--max-video-minutes", "0.01")
    assert bounded.returncode == 0
    assert "deferred\t" + str(folder / "new.mp4") in bounded.stdout
    assert "max_video_minutes 0.01 is below the first video's length (new.mp4: 0.1 min)" in bounded.stderr
