"""The official Twelve Labs Python SDK works against the server unchanged (only ``base_url`` differs)."""

from __future__ import annotations

import itertools
import uuid

from server_testkit import JFK, JFK_REFERENCE
from twelvelabs import TwelveLabs
from twelvelabs.indexes.types import IndexesCreateRequestModelsItem
from wer import word_error_rate

MAX_ITEMS = 500


def test_official_sdk_round_trip(shared_server, media):
    client = TwelveLabs(api_key=shared_server.api_key, base_url=shared_server.base_url)
    created = client.indexes.create(
        index_name=f"sdk-{uuid.uuid4().hex[:8]}",
        models=[IndexesCreateRequestModelsItem(model_name="marengo3.0", model_options=["visual", "audio"])],
    )
    assert created.id and len(created.id) == 24

    with open(JFK, "rb") as handle:
        task = client.tasks.create(index_id=created.id, video_file=handle, user_metadata='{"source": "sdk"}')
    assert task.id and task.video_id
    done = client.tasks.wait_for_done(task.id, sleep_interval=0.5)
    assert done.status == "ready"

    retrieved = client.tasks.retrieve(task.id)
    assert retrieved.video_id == task.video_id
    assert retrieved.index_id == created.id
    assert retrieved.system_metadata.filename == "jfk.mp4"

    video = client.indexes.videos.retrieve(created.id, task.video_id, transcription=True)
    text = " ".join(segment.value for segment in video.transcription)
    assert word_error_rate(JFK_REFERENCE, text) <= 0.10

    with open(media["silent"], "rb") as handle:
        silent = client.tasks.create(index_id=created.id, video_file=handle)
    client.tasks.wait_for_done(silent.id, sleep_interval=0.5)
    assert client.indexes.videos.retrieve(created.id, silent.video_id, transcription=True).transcription is None

    indexes = list(itertools.islice(client.indexes.list(page_limit=2), MAX_ITEMS))
    assert 0 < len(indexes) < MAX_ITEMS
    assert created.id in {index.id for index in indexes}
    tasks = list(itertools.islice(client.tasks.list(page_limit=3), MAX_ITEMS))
    assert 0 < len(tasks) < MAX_ITEMS
    assert {task.id, silent.id} <= {t.id for t in tasks}
    assert len({t.id for t in tasks}) == len(tasks)
    videos = list(itertools.islice(client.indexes.videos.list(created.id, page_limit=1), MAX_ITEMS))
    assert {v.id for v in videos} == {task.video_id, silent.video_id}


def test_sdk_sees_a_failed_task_and_its_reason(shared_server, tmp_path):
    client = TwelveLabs(api_key=shared_server.api_key, base_url=shared_server.base_url)
    index = client.indexes.create(
        index_name=f"sdk-{uuid.uuid4().hex[:8]}",
        models=[IndexesCreateRequestModelsItem(model_name="marengo3.0", model_options=["audio"])],
    )
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all" * 100)
    with open(garbage, "rb") as handle:
        task = client.tasks.create(index_id=index.id, video_file=handle)
    done = client.tasks.wait_for_done(task.id, sleep_interval=0.5)
    assert done.status == "failed"
    assert done.error_reason == {"code": "video_file_broken", "message": done.error_reason["message"]}
