"""An existing lake's format is read from the lake; a format asked for only chooses a new lake's.

The rule (``lake_format``), what a format that contradicts the lake gets (one line, exit 2, before
anything starts), the flows' ``table_format`` parameter as Prefect's form shows it, and ``plan`` on
both formats without a flag, as the user types it.
"""

from __future__ import annotations

import shutil

import pytest
from prefect.utilities.callables import parameter_schema

from reelscribe.core.delta_lake import DeltaLake
from reelscribe.core.errors import ConfigError
from reelscribe.core.lake import Lake
from reelscribe.core.lake_format import lake_format, lake_kind, open_lake, resolve_table_format
from reelscribe.flows.incremental import transcribe_new_videos
from reelscribe.flows.transcribe import transcribe_videos
from tests.conftest import JFK
from tests.test_cli import run_cli
from tests.test_delta_lake import INDEX, land


def test_the_format_is_read_from_the_lake(tmp_path):
    out = tmp_path / "lake"
    assert lake_format(str(out)) is None and lake_kind(str(out)) == "missing"
    land(Lake(str(out)), "v1", 2)
    assert lake_format(str(out)) == "parquet"
    delta = tmp_path / "delta"
    land(DeltaLake(str(delta)), "v1", 2)
    assert lake_format(str(delta)) == "delta" and lake_kind(str(delta)) == "delta"


def test_an_empty_log_is_no_delta_table_and_a_first_commit_that_stopped_early_is_a_delta_lake(tmp_path):
    out = tmp_path / "lake"
    land(Lake(str(out)), "v1", 2)
    (out / "videos" / "_delta_log").mkdir()
    assert lake_format(str(out)) == "parquet"
    started = tmp_path / "started"  # segments committed, videos not yet: nothing landed, but a Delta lake
    DeltaLake(str(tmp_path / "scratch")).create_marker()
    shutil.copytree(tmp_path / "scratch" / "videos", started / "segments")
    assert lake_format(str(started)) == "delta"


def test_a_format_asked_for_chooses_a_new_lake_and_is_refused_where_it_contradicts_one(tmp_path):
    new, parquet, delta = str(tmp_path / "new"), str(tmp_path / "parquet"), str(tmp_path / "delta")
    assert resolve_table_format(new) == "parquet" and resolve_table_format(new, "delta") == "delta"
    land(Lake(parquet), "v1", 1)
    DeltaLake(delta).create_marker()
    assert resolve_table_format(parquet) == resolve_table_format(parquet, "parquet") == "parquet"
    assert resolve_table_format(delta) == resolve_table_format(delta, "delta") == "delta"
    with pytest.raises(ConfigError, match=r"is a Delta lake, not parquet: leave out --table-format") as refused:
        resolve_table_format(delta, "parquet")
    assert "\n" not in str(refused.value)
    with pytest.raises(ConfigError, match=rf"per-video Parquet lake: to make it a Delta lake run `reelscribe lake convert {parquet}`"):
        open_lake(parquet, "delta")
    with pytest.raises(ConfigError, match="parquet, delta"):
        resolve_table_format(new, "iceberg")  # type: ignore[arg-type]
    assert isinstance(open_lake(delta), DeltaLake) and isinstance(open_lake(parquet), Lake)


def test_only_a_runs_writer_records_a_new_delta_lake(tmp_path):
    """A first run that lands nothing still leaves a Delta lake; a reader or ``plan`` writes nothing."""
    out = tmp_path / "lake"
    open_lake(str(out), "delta")
    assert not out.exists()
    open_lake(str(out), "delta", create=True)
    assert lake_format(str(out)) == "delta" and resolve_table_format(str(out)) == "delta"
    assert isinstance(open_lake(str(out)), DeltaLake) and DeltaLake(str(out)).landed(INDEX) == {}


@pytest.mark.parametrize("flow", [transcribe_videos, transcribe_new_videos], ids=lambda f: f.name)
def test_the_flows_table_format_defaults_to_the_lakes_own_and_keeps_its_choices(flow):
    """Prefect's form: a choice of parquet or delta, empty by default (the lake's own)."""
    field = parameter_schema(flow).model_dump()["properties"]["table_format"]
    assert field["default"] is None
    choices = [option for option in field["anyOf"] if option.get("enum")]
    assert [c["enum"] for c in choices] == [["parquet", "delta"]]
    assert "read from the lake" in field["description"]
    assert flow.validate_parameters({**_required(flow), "table_format": None})["table_format"] is None
    with pytest.raises(Exception, match="table_format"):
        flow.validate_parameters({**_required(flow), "table_format": "iceberg"})


def _required(flow) -> dict:
    return {"sources": ["a.mp4"]} if flow is transcribe_videos else {"source": "videos/", "index_name": "i"}


# -- as the user types it ------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(JFK, videos / "jfk.mp4")
    return videos


@pytest.mark.parametrize("kind", ["parquet", "delta"])
def test_plan_reads_either_format_without_a_flag_and_refuses_a_contradicting_one(tmp_path, folder, kind):
    out = tmp_path / "lake"
    land(Lake(str(out)) if kind == "parquet" else DeltaLake(str(out)), "v1", 1)
    plan = run_cli("plan", str(folder), "--out", "lake", "--index-id", INDEX, tmp_path=tmp_path)
    assert plan.returncode == 0 and "Traceback" not in plan.stderr, plan.stderr
    other = "delta" if kind == "parquet" else "parquet"
    refused = run_cli("plan", str(folder), "--out", "lake", "--index-id", INDEX, "--table-format", other, tmp_path=tmp_path)
    assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1, refused.stderr
    expected = "lake convert lake" if kind == "parquet" else "leave out --table-format"
    assert refused.stderr.startswith("reelscribe: error: lake is ") and expected in refused.stderr
