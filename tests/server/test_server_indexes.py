"""``/indexes``: create, list with paging and filters, retrieve, rename, delete; error answers."""

from __future__ import annotations

import uuid

import pytest

MODELS = [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]


def _name() -> str:
    return f"idx-{uuid.uuid4().hex[:10]}"


def test_create_retrieve_rename_delete(rest):
    name = _name()
    created = rest.post("/indexes", json={"index_name": name, "models": MODELS, "addons": ["thumbnail"]})
    assert created.status_code == 201
    index_id = created.json()["_id"]
    assert len(index_id) == 24 and int(index_id, 16) >= 0

    index = rest.get(f"/indexes/{index_id}").json()
    assert index["_id"] == index_id
    assert index["index_name"] == name
    assert index["models"] == MODELS
    assert index["addons"] == ["thumbnail"]
    assert index["video_count"] == 0 and index["total_duration"] == 0
    assert index["created_at"].endswith("Z")

    renamed = rest.request("PUT", f"/indexes/{index_id}", json={"index_name": name + "-new"})
    assert renamed.status_code == 200
    assert rest.get(f"/indexes/{index_id}").json()["index_name"] == name + "-new"

    assert rest.request("DELETE", f"/indexes/{index_id}").status_code == 200
    gone = rest.get(f"/indexes/{index_id}")
    assert gone.status_code == 404
    assert gone.json()["code"] == "resource_not_exist"


def test_duplicate_name_is_refused(rest):
    name = _name()
    assert rest.post("/indexes", json={"index_name": name, "models": MODELS}).status_code == 201
    again = rest.post("/indexes", json={"index_name": name, "models": MODELS})
    assert again.status_code == 400
    assert again.json()["code"] == "index_name_already_exists"
    other = rest.create_index()
    clash = rest.request("PUT", f"/indexes/{other}", json={"index_name": name})
    assert clash.json()["code"] == "index_name_already_exists"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"models": MODELS}, "parameter_not_provided", "index_name"),
        ({"index_name": "x"}, "parameter_not_provided", "models"),
        ({"index_name": 5, "models": MODELS}, "parameter_invalid", "index_name"),
        ({"index_name": "   ", "models": MODELS}, "parameter_invalid", "index_name"),
        ({"index_name": "x", "models": [{"model_name": "marengo3.0"}]}, "parameter_not_provided", "models.0.model_options"),
        ([1, 2], "parameter_invalid", "body"),
    ],
)
def test_create_validation_is_a_400_naming_the_field(rest, body, code, field):
    response = rest.post("/indexes", json=body)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert f"`{field}`" in response.json()["message"]


def test_malformed_json_is_a_400(rest):
    response = rest.post("/indexes", data="{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == "parameter_invalid"


def test_list_pages_filters_and_ends_with_an_empty_page(rest):
    prefix = _name()
    ids = [rest.create_index(f"{prefix}-{n}") for n in range(3)]
    listed = rest.get("/indexes", params={"page_limit": 50}).json()
    assert listed["page_info"]["total_results"] >= 3
    newest_first = [row["_id"] for row in listed["data"] if row["_id"] in ids]
    assert newest_first == ids[::-1]

    total = listed["page_info"]["total_results"]
    page_one = rest.get("/indexes", params={"page_limit": 2, "page": 1}).json()
    assert len(page_one["data"]) == 2
    assert page_one["page_info"] == {
        "page": 1,
        "limit_per_page": 2,
        "total_page": -(-total // 2),
        "total_results": total,
    }
    past_end = rest.get("/indexes", params={"page_limit": 2, "page": 10_000})
    assert past_end.status_code == 200
    assert past_end.json()["data"] == []

    ascending = rest.get("/indexes", params={"page_limit": 50, "sort_option": "asc"}).json()["data"]
    assert [row["_id"] for row in ascending if row["_id"] in ids] == ids

    only = rest.get("/indexes", params={"index_name": f"{prefix}-1"}).json()
    assert [row["_id"] for row in only["data"]] == [ids[1]]
    assert only["page_info"]["total_results"] == 1
    marengo = rest.get("/indexes", params={"index_name": f"{prefix}-1", "model_family": "marengo"}).json()
    assert len(marengo["data"]) == 1
    pegasus = rest.get("/indexes", params={"index_name": f"{prefix}-1", "model_family": "pegasus"}).json()
    assert pegasus["data"] == []


@pytest.mark.parametrize(
    "params",
    [{"page": 0}, {"page": "x"}, {"page_limit": 51}, {"page_limit": 0}, {"sort_option": "up"}, {"sort_by": "name"}, {"created_at": "yesterday"}],
)
def test_bad_list_parameters_are_400(rest, params):
    response = rest.get("/indexes", params=params)
    assert response.status_code == 400
    assert response.json()["code"] == "parameter_invalid"
    assert f"`{next(iter(params))}`" in response.json()["message"]


def test_index_counts_its_videos(rest, jfk_video):
    index = rest.get(f"/indexes/{jfk_video['index_id']}").json()
    assert index["video_count"] == 1
    assert index["total_duration"] == pytest.approx(11.0, abs=0.1)


def test_deleting_an_index_removes_its_videos_and_tasks(rest, media):
    index_id = rest.create_index()
    created = rest.submit(index_id, media["silent"])
    rest.wait(created["_id"])
    assert rest.request("DELETE", f"/indexes/{index_id}").status_code == 200
    assert rest.get(f"/tasks/{created['_id']}").status_code == 404
    assert rest.get(f"/indexes/{index_id}/videos/{created['video_id']}").status_code == 404
