"""``/indexes/{id}/videos``: listing, retrieval, metadata updates, deletion; path tricks and unknown routes."""

from __future__ import annotations

import pytest

ZERO = "0" * 24


def test_list_and_retrieve_videos(rest, jfk_video):
    index_id, video_id = jfk_video["index_id"], jfk_video["video_id"]
    listed = rest.get(f"/indexes/{index_id}/videos").json()
    assert [v["_id"] for v in listed["data"]] == [video_id]
    assert listed["page_info"] == {"page": 1, "limit_per_page": 10, "total_page": 1, "total_results": 1}
    assert "transcription" not in listed["data"][0]
    assert listed["data"][0]["system_metadata"]["filename"] == "jfk.mp4"
    by_name = rest.get(f"/indexes/{index_id}/videos", params={"filename": "other.mp4"}).json()
    assert by_name["data"] == []
    past = rest.get(f"/indexes/{index_id}/videos", params={"page": 2})
    assert past.status_code == 200 and past.json()["data"] == []


def test_range_filters_as_the_sdk_sends_them_and_bad_bounds_are_400(rest, jfk_video):
    index_id, video_id = jfk_video["index_id"], jfk_video["video_id"]
    path = f"/indexes/{index_id}/videos"

    def listed(**params) -> list[str]:
        response = rest.get(path, params=params)
        assert response.status_code == 200, response.text
        return [v["_id"] for v in response.json()["data"]]

    assert listed(**{"duration[gte]": 10, "duration[lte]": 12}) == [video_id]  # JFK is 11 s
    assert listed(**{"duration[gte]": 12}) == []
    assert listed(**{"width[lte]": 1}) == []
    assert listed(gte=3) == [video_id]  # the subset's bare form names no field: checked, not applied
    for params in ({"lte": "abc"}, {"size[lte]": "abc"}, {"fps[gte]": "inf"}, {"colour[gte]": 1}):
        bad = rest.get(path, params=params)
        assert bad.status_code == 400 and bad.json()["code"] == "parameter_invalid", params
        assert next(iter(params)) in bad.json()["message"]


def test_patch_merges_and_removes_user_metadata(rest, index_id, media):
    created = rest.submit(index_id, media["silent"], metadata={"keep": 1, "drop": "x"})
    rest.wait(created["_id"])
    path = f"/indexes/{index_id}/videos/{created['video_id']}"
    response = rest.request("PATCH", path, json={"user_metadata": {"drop": None, "added": True}})
    assert response.status_code == 200
    assert rest.get(path).json()["user_metadata"] == {"keep": 1, "added": True}
    for body in ({"user_metadata": {"nested": {"a": 1}}}, {"user_metadata": None}, {"user_metadata": [1]}):
        bad = rest.request("PATCH", path, json=body)
        assert bad.status_code == 400 and bad.json()["code"] == "parameter_invalid", body
    assert rest.request("PATCH", path, json={}).status_code == 200
    assert rest.get(path).json()["user_metadata"] == {"keep": 1, "added": True}


def test_delete_video(rest, index_id, media):
    created = rest.submit(index_id, media["silent"])
    rest.wait(created["_id"])
    path = f"/indexes/{index_id}/videos/{created['video_id']}"
    assert rest.request("DELETE", path).status_code == 200
    assert rest.get(path).status_code == 404
    assert rest.request("DELETE", path).status_code == 404
    assert rest.get(f"/indexes/{index_id}").json()["video_count"] == 0


def test_video_of_another_index_is_not_found(rest, jfk_video, index_id):
    response = rest.get(f"/indexes/{index_id}/videos/{jfk_video['video_id']}")
    assert response.status_code == 404
    assert response.json()["code"] == "resource_not_exist"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/tasks/..%2F..%2Fetc%2Fpasswd", 404),
        ("/tasks/%2e%2e", 400),
        ("/tasks/..", 404),
        ("/tasks/ABCDEF0123456789abcdef01", 400),
        ("/tasks/0123", 400),
        (f"/tasks/{ZERO}", 404),
        ("/indexes/%2e%2e%2f%2e%2e/videos", 404),
        ("/indexes/..%5c..%5cwindows", 400),
        (f"/indexes/{ZERO}/videos/%2e%2e", 404),
        (f"/indexes/{ZERO}/videos/{ZERO}", 404),
        ("/indexes/not-an-id", 400),
    ],
)
def test_path_tricks_touch_nothing(rest, path, status):
    response = rest.get(path)
    assert response.status_code == status, response.text
    assert response.json()["code"] in ("parameter_invalid", "resource_not_exist")


def test_bad_ids_are_400_on_every_id_route(rest, jfk_video):
    index_id, video_id = jfk_video["index_id"], jfk_video["video_id"]
    for method, path in [
        ("GET", "/indexes/bad"),
        ("PUT", "/indexes/bad"),
        ("DELETE", "/indexes/bad"),
        ("GET", "/tasks/bad"),
        ("DELETE", "/tasks/bad"),
        ("GET", "/indexes/bad/videos"),
        ("GET", f"/indexes/{index_id}/videos/bad"),
        ("PATCH", f"/indexes/{index_id}/videos/bad"),
        ("DELETE", f"/indexes/{index_id}/videos/bad"),
        ("GET", f"/indexes/bad/videos/{video_id}/transcription"),
    ]:
        response = rest.request(method, path, json={"index_name": "n", "user_metadata": {}})
        assert response.status_code == 400, (method, path)
        assert response.json()["code"] == "parameter_invalid"


def test_unknown_route_and_method(rest):
    missing = rest.get("/nothing/here")
    assert missing.status_code == 404
    assert missing.json()["code"] == "resource_not_exist"
    wrong_method = rest.request("PATCH", "/tasks")
    assert wrong_method.status_code == 405
    assert set(wrong_method.json()) == {"code", "message"}
    assert "GET" in wrong_method.headers["Allow"]
    assert rest.get("/assets", version="v1.2").status_code == 404  # v1.2 had no assets path
    assert rest.get("/indexes", version="v1.2").headers["X-Api-Version"] == "1.2"
    assert rest.get("/indexes").headers["X-Api-Version"] == "1.3"


def test_transcription_query_flag_must_be_boolean(rest, jfk_video):
    response = rest.get(
        f"/indexes/{jfk_video['index_id']}/videos/{jfk_video['video_id']}", params={"transcription": "perhaps"}
    )
    assert response.status_code == 400
    assert "`transcription`" in response.json()["message"]
