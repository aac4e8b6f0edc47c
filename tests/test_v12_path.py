"""The pipeline's v1.2 path end to end: ``reelscribe run --api-url …/v1.2`` against the local
server, which serves under ``/v1.2`` what v1.2 had (indexes, ``POST``/``GET /tasks``, videos and
the classic ``…/transcription?start=&end=`` endpoint), and no assets path."""

from __future__ import annotations

import duckdb
import requests

from tests.conftest import JFK
from tests.test_cli import run_cli, unique_index_name


def test_run_against_a_v12_base_url_lands_the_video_through_the_tasks_path(tmp_path, pipeline_server, prefect_engine):
    base = f"{pipeline_server.root_url}/v1.2"
    env = {"TWELVE_LABS_API_KEY": pipeline_server.api_key, "PREFECT_API_URL": prefect_engine}
    name = unique_index_name()
    first = run_cli("run", str(JFK), "--api-url", base, "--out", "lake", "--table-format", "parquet", "--index-name", name,
                    tmp_path=tmp_path, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    assert [line.split("\t")[0] for line in first.stdout.splitlines()] == ["landed"], first.stdout
    assert "Traceback" not in first.stderr

    text = duckdb.sql(
        f"select string_agg(value, ' ' order by start) from read_parquet('{tmp_path}/lake/segments/**/*.parquet', "
        "hive_partitioning = true)"
    ).fetchall()[0][0]
    assert "ask not what your country can do for you" in text.lower(), text

    headers = {"x-api-key": pipeline_server.api_key}
    indexes = requests.get(f"{base}/indexes", params={"index_name": name}, headers=headers, timeout=30)
    assert indexes.headers["X-Api-Version"] == "1.2"
    (index,) = indexes.json()["data"]
    tasks = requests.get(f"{base}/tasks", params={"index_id": index["_id"]}, headers=headers, timeout=30).json()["data"]
    assert [task["status"] for task in tasks] == ["ready"], "uploaded once, through POST /v1.2/tasks"
    task = requests.get(f"{base}/tasks/{tasks[0]['_id']}", headers=headers, timeout=30).json()
    assert task["metadata"] == task["system_metadata"] and task["metadata"]["filename"].startswith("jfk")
    assets = requests.get(f"{base}/assets", headers=headers, timeout=30)
    assert assets.status_code == 404, "v1.2 had no assets path, so the run could not have taken it"

    again = run_cli("run", str(JFK), "--api-url", base, "--out", "lake", "--table-format", "parquet", "--index-name", name,
                    tmp_path=tmp_path, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert [line.split("\t")[0] for line in again.stdout.splitlines()] == ["skipped"], again.stdout


def test_v12_creates_and_answers_indexes_in_its_own_names_and_v13_keeps_its_own(pipeline_server):
    """A 0.x SDK creates an index from ``engines``; v1.3 still requires ``models``."""
    headers = {"x-api-key": pipeline_server.api_key}
    v12, v13 = f"{pipeline_server.root_url}/v1.2", f"{pipeline_server.root_url}/v1.3"
    name = unique_index_name()
    engines = [{"engine_name": "marengo2.6", "engine_options": ["visual", "conversation"]}]

    created = requests.post(f"{v12}/indexes", json={"index_name": name, "engines": engines}, headers=headers, timeout=30)

    assert created.status_code == 201, created.text
    index = requests.get(f"{v12}/indexes/{created.json()['_id']}", headers=headers, timeout=30).json()
    assert index["engines"] == engines
    assert index["models"] == [{"model_name": "marengo2.6", "model_options": ["visual", "conversation"]}]
    listed = requests.get(f"{v12}/indexes", params={"index_name": name, "engine_family": "marengo"}, headers=headers, timeout=30)
    assert [i["_id"] for i in listed.json()["data"]] == [index["_id"]]
    assert requests.get(f"{v13}/indexes/{index['_id']}", headers=headers, timeout=30).json().get("engines") is None
    neither = requests.post(f"{v12}/indexes", json={"index_name": unique_index_name()}, headers=headers, timeout=30)
    assert (neither.status_code, neither.json()["code"]) == (400, "parameter_not_provided")
    refused = requests.post(f"{v13}/indexes", json={"index_name": unique_index_name(), "engines": engines}, headers=headers, timeout=30)
    assert (refused.status_code, refused.json()["code"]) == (400, "parameter_not_provided")
