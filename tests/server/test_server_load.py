"""A crowd of concurrent uploads to one server: no 5xx, every task indexed, first in first out, flat memory.

The server's own indexing latency (``--fault-latency``) holds each claimed task, so a queue forms behind
the workers whatever the machine's speed; fairness and memory are read from the server, not timed.
"""

from __future__ import annotations

from tests.loadkit import finished_task, overtakes, padded_copy, peak_rss_bytes, reset_peak_rss, upload_crowd
from tests.media import make_video

WORKERS = 4
CROWD = 12
FILE_BYTES = 8 * 1024 * 1024


def test_a_crowd_of_uploads_is_indexed_in_order_with_flat_memory(make_server, rest, tmp_path):
    clip = make_video(tmp_path / "clip.mp4", 4.2, audio=None)
    files = [padded_copy(clip, tmp_path / f"crowd-{n:02d}.mp4", FILE_BYTES) for n in range(CROWD)]
    speech = make_video(tmp_path / "silence.mp4", 4.2, audio="silence")
    server = make_server("--workers", str(WORKERS), "--fault-latency", "0.4")
    rest = type(rest)(server=server, session=rest.session)
    index_id = rest.create_index()

    # Warm up first: the model (loaded in the background, so wait for a transcription) and the
    # server's threads and allocator (a first small crowd); only then is the mark reset.
    warm = upload_crowd(server.root_url, server.api_key, index_id, [speech, *files[:WORKERS]])
    assert [rest.wait(answer.task_id)["status"] for answer in warm] == ["ready"] * (WORKERS + 1)
    baseline = reset_peak_rss(server.pid)

    answers = upload_crowd(server.root_url, server.api_key, index_id, files)

    assert [answer.status for answer in answers] == [200] * CROWD, [a.body for a in answers if a.status != 200]
    done = [finished_task(rest.wait(answer.task_id)) for answer in answers]
    assert [task.status for task in done] == ["ready"] * CROWD
    passed_by = overtakes(done)
    assert max(passed_by.values()) < 2 * WORKERS, passed_by
    growth = peak_rss_bytes(server.pid) - baseline
    assert growth < CROWD * FILE_BYTES // 2, f"peak RSS grew {growth / 1e6:.1f} MB for a {CROWD}-upload crowd"
