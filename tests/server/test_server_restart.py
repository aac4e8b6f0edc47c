"""Crash and restart: nothing accepted is lost, interrupted tasks finish after a restart."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_killed_server_resumes_tasks_after_restart(make_server, rest_for, media, tmp_path):
    """The first task is held at ``indexing`` (``--fault-hold-file``) until the crash: no race with the clock."""
    hold = tmp_path / "hold"
    hold.touch()
    server = make_server("--fault-hold-file", str(hold), "--workers", "1")
    rest = rest_for(server)
    port = server.port
    index_id = rest.create_index()
    first = rest.submit(index_id, media["silent"], metadata={"content_hash": "one"})
    assert rest.wait(first["_id"], until=("indexing",))["status"] == "indexing"
    second = rest.submit(index_id, media["no_audio"], metadata={"content_hash": "two"})
    server.kill()
    assert not server.running

    hold.unlink()
    server.start()
    assert server.port == port
    for created, content_hash in ((first, "one"), (second, "two")):
        task = rest.wait(created["_id"], timeout=60)
        assert task["status"] == "ready", task
        assert task["user_metadata"] == {"content_hash": content_hash}
        video = rest.get(f"/indexes/{index_id}/videos/{created['video_id']}", params={"transcription": "true"})
        assert video.status_code == 200
    assert list((server.data_dir / "media").iterdir()) == []
    assert "resuming 1 task(s)" in server.log_path.read_text()


def test_graceful_stop_and_restart_keeps_everything(make_server, rest_for, media):
    server = make_server("--workers", "1")
    rest = rest_for(server)
    index_id = rest.create_index("kept-across-restarts")
    created = rest.submit(index_id, media["silent"])
    rest.wait(created["_id"])
    server.stop()
    server.start()
    assert rest.get(f"/indexes/{index_id}").json()["index_name"] == "kept-across-restarts"
    assert rest.get(f"/tasks/{created['_id']}").json()["status"] == "ready"
