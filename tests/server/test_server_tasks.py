"""``/tasks``: uploads and their validation, the task object, listing, filtering and deletion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from server_testkit import JFK

ZERO = "0" * 24


def test_task_object_fields_and_status_progress(rest, jfk_video):
    task = jfk_video["task"]
    assert set(task) >= {"_id", "video_id", "index_id", "status", "created_at", "updated_at", "system_metadata"}
    assert task["status"] == "ready"
    assert task["index_id"] == jfk_video["index_id"]
    assert task["user_metadata"] == {"content_hash": "sha256:jfk"}
    assert "error_reason" not in task
    meta = task["system_metadata"]
    assert meta["filename"] == "jfk.mp4"
    assert (meta["width"], meta["height"]) == (320, 240)
    assert meta["duration"] == pytest.approx(11.0, abs=0.1)
    assert task["created_at"] <= task["updated_at"]
    for stamp in (task["created_at"], task["updated_at"]):
        assert len(stamp) == 24 and stamp.endswith("Z") and stamp[10] == "T"


@pytest.mark.parametrize(
    ("clip", "code"),
    [("short", "video_duration_too_short"), ("garbage", "video_file_broken")],
)
def test_unusable_video_fails_the_task_with_a_reason(rest, index_id, media, tmp_path, clip, code):
    path = media.get(clip)
    if path is None:
        path = tmp_path / "garbage.mp4"
        path.write_bytes(b"this is not a video, only some text\n" * 200)
    created = rest.submit(index_id, path)
    task = rest.wait(created["_id"])
    assert task["status"] == "failed"
    assert task["error_reason"]["code"] == code
    assert task["error_reason"]["message"]
    assert rest.get(f"/indexes/{index_id}/videos/{created['video_id']}").status_code == 404


def test_too_long_video_fails(make_server, rest_for, media):
    server = make_server("--max-duration", "4.5", "--workers", "1")
    rest = rest_for(server)
    index_id = rest.create_index()
    task = rest.wait(rest.submit(index_id, media["tone"])["_id"])
    assert task["error_reason"]["code"] == "video_duration_too_long"


def test_empty_file_is_refused_at_upload(rest, index_id, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    response = rest.upload(index_id, empty)
    assert response.status_code == 400
    assert response.json()["code"] == "video_file_broken"


@pytest.mark.parametrize(
    ("data", "files", "code", "field"),
    [
        ({}, {"video_file": ("a.mp4", b"x")}, "parameter_not_provided", "index_id"),
        ({"index_id": "../../etc"}, {"video_file": ("a.mp4", b"x")}, "parameter_invalid", "index_id"),
        ({"index_id": "INDEX"}, None, "parameter_not_provided", "video_file"),
        ({"index_id": "INDEX", "video_url": "https://example.com/a.mp4"}, {"video_file": ("a.mp4", b"x")}, "parameter_invalid", "video_url"),
        ({"index_id": "INDEX", "video_url": "ftp://example.com/a.mp4"}, None, "parameter_invalid", "video_url"),
        ({"index_id": "INDEX", "user_metadata": "{not json"}, {"video_file": ("a.mp4", b"x")}, "parameter_invalid", "user_metadata"),
        ({"index_id": "INDEX", "user_metadata": "[1, 2]"}, {"video_file": ("a.mp4", b"x")}, "parameter_invalid", "user_metadata"),
        ({"index_id": "INDEX", "user_metadata": '{"a": {"b": 1}}'}, {"video_file": ("a.mp4", b"x")}, "parameter_invalid", "user_metadata"),
        ({"index_id": "INDEX", "enable_video_stream": "maybe"}, {"video_file": ("a.mp4", b"x")}, "parameter_invalid", "enable_video_stream"),
    ],
)
def test_bad_task_forms_are_400_and_leave_nothing(rest, index_id, data, files, code, field):
    data = {key: index_id if value == "INDEX" else value for key, value in data.items()}
    before = rest.get("/tasks", params={"index_id": index_id}).json()["page_info"]["total_results"]
    response = rest.post("/tasks", data=data, files=files or {"unused": ("", b"")})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code
    assert f"`{field}`" in response.json()["message"]
    assert rest.get("/tasks", params={"index_id": index_id}).json()["page_info"]["total_results"] == before
    assert list((rest.server.data_dir / "incoming").iterdir()) == []


def test_non_form_body_is_400(rest, index_id):
    response = rest.post("/tasks", json={"index_id": index_id})
    assert response.status_code == 400
    assert response.json()["code"] == "parameter_invalid"
    assert "`Content-Type`" in response.json()["message"]


def test_unknown_index_is_404(rest):
    response = rest.post("/tasks", data={"index_id": ZERO}, files={"video_file": ("a.mp4", JFK.read_bytes())})
    assert response.status_code == 404
    assert response.json()["code"] == "resource_not_exist"


def test_client_filename_is_only_metadata(rest, index_id, media):
    created = rest.submit(index_id, media["silent"], filename="../../../../tmp/evil/..\\clip.mp4")
    task = rest.get(f"/tasks/{created['_id']}").json()
    assert task["system_metadata"]["filename"] == "clip.mp4"
    assert all(len(p.name) == 24 for p in (rest.server.data_dir / "media").iterdir())
    assert not Path("/tmp/evil").exists()
    assert rest.wait(created["_id"])["status"] == "ready"


@pytest.mark.parametrize("value", ["as-text", "as-file"])
def test_video_url_accepted_as_text_or_file_part(rest, index_id, media, file_root, value):
    target = file_root / f"clip-{value}.mp4"
    target.write_bytes(media["silent"].read_bytes())
    url = target.as_uri()
    if value == "as-text":
        response = rest.post("/tasks", files={"index_id": (None, index_id), "video_url": (None, url)})
    else:
        response = rest.post("/tasks", data={"index_id": index_id}, files={"video_url": ("url.txt", url.encode())})
    assert response.status_code == 200, response.text
    task = rest.wait(response.json()["_id"])
    assert task["status"] == "ready"
    assert task["system_metadata"]["filename"] == target.name


@pytest.mark.parametrize(
    ("where", "why"),
    [("outside", "--allow-file-root"), ("traversal", "--allow-file-root"), ("missing", "no such file"), ("remote-host", "local path")],
)
def test_file_url_outside_the_allowed_root_is_refused(rest, index_id, file_root, tmp_path, where, why):
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(b"x")
    url = {
        "outside": outside.as_uri(),
        "traversal": file_root.as_uri() + "/../" + outside.parent.name + "/outside.mp4",
        "missing": (file_root / "nope.mp4").as_uri(),
        "remote-host": "file://example.com" + str(file_root / "a.mp4"),
    }[where]
    response = rest.post("/tasks", data={"index_id": index_id, "video_url": url})
    assert response.status_code == 400
    assert response.json()["code"] == "parameter_invalid"
    assert why in response.json()["message"]


def test_file_url_refused_without_any_allowed_root(make_server, rest_for, media):
    rest = rest_for(make_server("--workers", "1"))
    index_id = rest.create_index()
    response = rest.post("/tasks", data={"index_id": index_id, "video_url": media["silent"].as_uri()})
    assert response.status_code == 400
    assert "--allow-file-root" in response.json()["message"]


def test_http_video_url_is_fetched(make_server, rest_for, media, http_files):
    rest = rest_for(make_server("--workers", "1", "--allow-url-network", "127.0.0.0/8"))
    index_id = rest.create_index()
    http_files["clip.mp4"] = media["silent"].read_bytes()
    response = rest.post("/tasks", data={"index_id": index_id, "video_url": http_files.url("clip.mp4")})
    assert response.status_code == 200
    task = rest.wait(response.json()["_id"])
    assert task["status"] == "ready"
    assert task["system_metadata"]["filename"] == "clip.mp4"
    missing = rest.post("/tasks", data={"index_id": index_id, "video_url": http_files.url("missing.mp4")})
    failed = rest.wait(missing.json()["_id"])
    assert failed["status"] == "failed"
    assert failed["error_reason"]["code"] == "video_file_broken"
    assert "404" in failed["error_reason"]["message"]


def test_list_filters_sorts_and_pages(rest, media):
    index_id = rest.create_index()
    ids = [rest.submit(index_id, media["silent"], filename=f"f{n}.mp4")["_id"] for n in range(3)]
    for task_id in ids:
        rest.wait(task_id)
    listed = rest.get("/tasks", params={"index_id": index_id}).json()
    assert [t["_id"] for t in listed["data"]] == ids[::-1]
    assert listed["page_info"]["total_results"] == 3
    assert all("user_metadata" not in t for t in listed["data"])
    asc = rest.get("/tasks", params={"index_id": index_id, "sort_option": "asc"}).json()
    assert [t["_id"] for t in asc["data"]] == ids
    by_name = rest.get("/tasks", params={"index_id": index_id, "filename": "f1.mp4"}).json()
    assert [t["_id"] for t in by_name["data"]] == [ids[1]]
    statuses = rest.get("/tasks", params=[("index_id", index_id), ("status", "failed"), ("status", "ready")]).json()
    assert statuses["page_info"]["total_results"] == 3
    none = rest.get("/tasks", params=[("index_id", index_id), ("status", "pending")]).json()
    assert none["data"] == []
    page_two = rest.get("/tasks", params={"index_id": index_id, "page_limit": 2, "page": 2}).json()
    assert [t["_id"] for t in page_two["data"]] == [ids[0]]
    assert page_two["page_info"]["total_page"] == 2
    past = rest.get("/tasks", params={"index_id": index_id, "page_limit": 2, "page": 3})
    assert past.status_code == 200 and past.json()["data"] == []


@pytest.mark.parametrize("params", [{"status": "done"}, {"index_id": "xyz"}, {"width": "wide"}, {"duration": "nan"}])
def test_bad_task_filters_are_400(rest, params):
    response = rest.get("/tasks", params=params)
    assert response.status_code == 400
    assert response.json()["code"] == "parameter_invalid"


def test_delete_finished_task(rest, index_id, media, tmp_path):
    created = rest.submit(index_id, media["silent"])
    rest.wait(created["_id"])
    assert rest.request("DELETE", f"/tasks/{created['_id']}").status_code == 200
    assert rest.get(f"/tasks/{created['_id']}").status_code == 404
    assert rest.get(f"/indexes/{index_id}/videos/{created['video_id']}").status_code == 200
    assert rest.request("DELETE", f"/tasks/{created['_id']}").status_code == 404


def test_unfinished_task_cannot_be_deleted(held_rest, media):
    rest = held_rest
    index_id = rest.create_index()
    created = rest.submit(index_id, media["silent"])
    response = rest.request("DELETE", f"/tasks/{created['_id']}")
    assert response.status_code == 400
    assert response.json()["code"] == "task_cannot_be_deleted"
    assert rest.get(f"/tasks/{created['_id']}").json()["status"] in ("validating", "pending", "indexing")


def test_user_metadata_round_trips_for_lookup(rest, index_id, media):
    meta = {"content_hash": "sha256:abc", "n": 3, "ratio": 0.5, "flag": True, "tags": ["a", "b"]}
    created = rest.submit(index_id, media["silent"], metadata=meta)
    listed = rest.get("/tasks", params={"index_id": index_id}).json()["data"]
    assert [t["user_metadata"] for t in listed if t["_id"] == created["_id"]] == [meta]
    rest.wait(created["_id"])
    video = rest.get(f"/indexes/{index_id}/videos/{created['video_id']}").json()
    assert video["user_metadata"] == meta
    assert json.loads(json.dumps(video["user_metadata"])) == meta
