"""``--index-name`` of ``export`` and ``search``, resolved in the lake (``videos.index_name``), no API:
one name may stand for several index ids (an index made again under its old name), an unknown
name is one line and exit 2 with nothing written, and only the chosen indexes' partitions are read."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from reelscribe.core.delta_lake import DeltaLake
from reelscribe.core.flatten import segments_table
from reelscribe.core.lake import Lake
from reelscribe.core.records import VideoRecord
from reelscribe.core.lake_sql import open_reader
from tests.test_export_search import RETRIEVED, SEGMENTS, cli

# index id -> the name its videos were landed under (None: landed by id only, or before names were kept)
INDEXES = {
    "6650a1b2c3d4e5f6a7b8c9d1": "talks",
    "6650a1b2c3d4e5f6a7b8c9d2": "lectures",
    "6650a1b2c3d4e5f6a7b8c9d3": "talks",
    "6650a1b2c3d4e5f6a7b8c9d4": None,
}


def video_of(index_id: str) -> str:
    return f"{index_id[-1] * 4}{'0' * 19}1"


@pytest.fixture(params=["parquet", "delta"])
def named_lake(request, tmp_path: Path) -> str:
    out = str(tmp_path / "lake")
    lake = DeltaLake(out) if request.param == "delta" else Lake(out)
    for index_id, name in INDEXES.items():
        video_id = video_of(index_id)
        segments = segments_table(SEGMENTS, video_id=video_id, task_id=f"t-{video_id}", retrieved_at=RETRIEVED)
        record = VideoRecord(task_id=f"t-{video_id}", source=f"{video_id}.mp4", content_sha256=video_id.ljust(64, "0"),
                             duration=12.0, indexed_at=RETRIEVED, retrieved_at=RETRIEVED)
        lake.write_video(index_id, video_id, segments, dataclasses.replace(record, index_name=name))
    return out


def test_a_name_selects_every_index_the_lake_names_so(named_lake: str, tmp_path: Path, capsys) -> None:
    code, out, err = cli(capsys, "search", named_lake, "your country", "--index-name", "talks", "--json")
    assert code == 0, err
    talks = {i for i, name in INDEXES.items() if name == "talks"}
    assert {json.loads(line)["index_id"] for line in out} == talks and len(out) == 2 * len(talks)
    code, out, err = cli(capsys, "export", named_lake, "--index-name", "lectures", "--to", str(tmp_path / "subs"), "--json")
    assert code == 0, err
    (written,) = map(json.loads, out)
    assert written["index_id"] == "6650a1b2c3d4e5f6a7b8c9d2" and Path(written["path"]).name == f"{video_of(written['index_id'])}.vtt"
    assert [p.name for p in (tmp_path / "subs").iterdir()] == [Path(written["path"]).name]


def test_only_the_chosen_indexes_partitions_are_read(named_lake: str) -> None:
    with open_reader(named_lake) as reader:
        assert reader.index_ids() == sorted(INDEXES)
        reader.only_index(index_name="talks")
        assert reader.index_ids() == sorted(i for i, name in INDEXES.items() if name == "talks")
        assert {row[0] for row in reader.con.execute("select index_id from segments").fetchall()} == set(reader.narrowed)
        reader.only_index(index_id="6650a1b2c3d4e5f6a7b8c9d4")  # a video landed without a name: by id
        assert [v[1] for v in reader.videos()] == [video_of("6650a1b2c3d4e5f6a7b8c9d4")]


@pytest.mark.parametrize("command", [["export", "--to", "{subs}"], ["search", "country"]])
def test_a_name_the_lake_does_not_hold_is_one_line_and_nothing_is_written(named_lake, command, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TWELVELABS_BASE_URL", raising=False)
    argv = [command[0], named_lake, *[a.format(subs=tmp_path / "subs") for a in command[1:]], "--index-name", "seminars"]
    before = sorted(tmp_path.rglob("*"))
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == []
    assert err == [f"reelscribe: error: no index named 'seminars' in the lake {named_lake} (names there: lectures, talks; "
                   "videos landed before names were recorded are found by --index-id only)"]
    assert sorted(tmp_path.rglob("*")) == before
