"""Both table formats against real storage: local disk and moto's S3 server on loopback.

Land, re-run, refresh, batches, staged commits, two concurrent writers, compaction while a run
lands, converting a per-video lake, and what each reader sees.
"""

from __future__ import annotations

import multiprocessing
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest
from deltalake import DeltaTable

from reelscribe.core.delta_lake import DeltaLake
from reelscribe.core.errors import ConfigError
from reelscribe.core.stores import StoreOptions
from reelscribe.core.flatten import segments_table
from reelscribe.core.lake import Lake, video_tables
from reelscribe.core.records import VideoRecord
from reelscribe.core.lake_format import TABLE_FORMATS, open_lake
from reelscribe.core.lake_maintenance import compact_table, convert_lake

INDEX = "6650a1b2c3d4e5f6a7b8c9d0"
RETRIEVED = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def segments(video_id: str, count: int, word: str = "word", at: datetime = RETRIEVED) -> pa.Table:
    transcript = [{"start": i * 1.0, "end": i + 0.9, "value": f"{word} {i}"} for i in range(count)]
    return segments_table(transcript, video_id=video_id, task_id=f"task-{video_id}", retrieved_at=at)


def record(video_id: str, at: datetime = RETRIEVED) -> VideoRecord:
    return VideoRecord(
        task_id=f"task-{video_id}", source=f"/videos/{video_id}.mp4", content_sha256=f"sha-{video_id}",
        duration=12.5, indexed_at=at - timedelta(minutes=5), retrieved_at=at,
    )


def land(lake, video_id: str, count: int, word: str = "word", index_id: str = INDEX) -> None:
    lake.write_video(index_id, video_id, segments(video_id, count, word), record(video_id))


def batch(video_ids: list[str], count: int = 3, word: str = "word") -> dict[str, dict[str, pa.Table]]:
    return {v: video_tables(v, segments(v, count, word), record(v)) for v in video_ids}


def current_segments(lake) -> list[tuple[str, int, str]]:
    """``(video_id, segment, value)`` of the current rows, read the documented way per format."""
    if isinstance(lake, DeltaLake):
        rows = lake.open("segments").to_pyarrow_dataset().to_table()
    else:
        filesystem = pafs.PyFileSystem(pafs.FSSpecHandler(lake.fs))
        rows = ds.dataset(f"{lake.root}/segments", format="parquet", partitioning="hive", filesystem=filesystem).to_table()
    return sorted(zip(rows["video_id"].to_pylist(), rows["segment"].to_pylist(), rows["value"].to_pylist()))


@pytest.fixture(params=["local", "s3"])
def where(request, tmp_path: Path) -> str:
    """The lake root: a local folder, or a fresh bucket on moto's S3 server."""
    if request.param == "local":
        return str(tmp_path / "lake")
    bucket = request.getfixturevalue("s3_process_bucket")
    return bucket.url("lake")


@pytest.fixture(params=TABLE_FORMATS)
def table_format(request) -> str:
    return request.param


# -- both formats, both stores -----------------------------------------------------------------


def test_land_then_rerun_keeps_one_copy(where: str, table_format: str) -> None:
    lake = open_lake(where, table_format)
    land(lake, "v1", 3)
    land(lake, "v2", 2)
    land(lake, "v1", 3)
    assert current_segments(lake) == sorted(
        [("v1", i, f"word {i}") for i in range(3)] + [("v2", i, f"word {i}") for i in range(2)]
    )
    assert sorted(r.video_id for r in lake.landed(INDEX).values()) == ["v1", "v2"]


def test_refresh_replaces_the_rows_of_that_video_only(where: str, table_format: str) -> None:
    lake = open_lake(where, table_format)
    land(lake, "v1", 4)
    land(lake, "v2", 2)
    land(lake, "v1", 2, word="new")
    assert current_segments(lake) == sorted(
        [("v1", i, f"new {i}") for i in range(2)] + [("v2", i, f"word {i}") for i in range(2)]
    )
    assert lake.landed(INDEX)["sha-v1"].segment_count == 2


def test_landed_is_per_index(where: str, table_format: str) -> None:
    lake = open_lake(where, table_format)
    land(lake, "v1", 1)
    land(lake, "v2", 1, index_id="other")
    assert list(lake.landed(INDEX)) == ["sha-v1"] and lake.landed_hashes(INDEX) == {"sha-v1"}
    assert list(lake.landed("other")) == ["sha-v2"]
    assert lake.landed("unknown") == {}


# -- Delta: batches, staging, concurrency, maintenance -----------------------------------------


def test_a_batch_is_one_commit_per_table(where: str) -> None:
    lake = DeltaLake(where)
    lake.write_batch(INDEX, batch([f"v{i}" for i in range(20)]))
    lake.write_batch(INDEX, batch(["v3", "v20"], count=1, word="again"))
    for name in ("segments", "videos"):  # the empty table, then the two batches
        assert lake.open(name).version() == 2
    assert len(lake.landed(INDEX)) == 21
    assert [r for r in current_segments(lake) if r[0] == "v3"] == [("v3", 0, "again 0")]


def test_staged_videos_land_only_when_committed(where: str) -> None:
    lake = DeltaLake(where)
    for v in ("v1", "v2", "v3"):
        lake.stage_video(INDEX, v, segments(v, 2), record(v))
    assert lake.landed(INDEX) == {}
    assert lake.staged(INDEX) == ["v1", "v2", "v3"]
    assert lake.commit_staged(INDEX, ["v1", "v3", "never-staged"]) == ["v1", "v3"]
    assert sorted(r.video_id for r in lake.landed(INDEX).values()) == ["v1", "v3"]
    assert lake.staged(INDEX) == ["v2"]
    assert lake.open("segments").version() == 1  # the empty table, then one commit


def test_videos_staged_by_a_dead_run_are_committed_by_the_next(where: str) -> None:
    DeltaLake(where).stage_video(INDEX, "v1", segments("v1", 2), record("v1"))
    next_run = DeltaLake(where)
    assert not next_run.clean_up(INDEX, older_than_s=3600)
    assert next_run.clean_up(INDEX, older_than_s=0).committed == ("v1",)
    assert list(next_run.landed(INDEX)) == ["sha-v1"]
    assert next_run.staged(INDEX) == []


def test_a_refresh_without_rows_in_a_table_removes_the_old_ones(tmp_path: Path) -> None:
    lake = DeltaLake(str(tmp_path / "lake"))
    extra = pa.table({"video_id": ["v1", "v1"], "word": pa.array([0, 1], pa.int32())})
    lake.write_batch(INDEX, {"v1": {**video_tables("v1", segments("v1", 1), record("v1")), "words": extra}})
    lake.write_batch(INDEX, batch(["v1"]))
    assert lake.open("words").to_pyarrow_dataset().to_table().num_rows == 0


def _land_batches(where: str, env: dict[str, str], writer: int, rounds: int) -> None:
    import os

    os.environ.update(env)
    lake = DeltaLake(where)
    for r in range(rounds):
        # Each round lands two new videos of its own and replaces one shared with the other writer.
        ids = [f"w{writer}r{r}a", f"w{writer}r{r}b", f"shared{r}"]
        lake.write_batch(INDEX, batch(ids, count=2, word=f"w{writer}"))


def test_two_writers_in_two_processes_lose_no_commit(where: str, request) -> None:
    env = request.getfixturevalue("moto_s3_process").env() if where.startswith("s3://") else {}
    rounds = 6
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_land_batches, args=(where, env, w, rounds)) for w in (1, 2)]
    for p in writers:
        p.start()
    for p in writers:
        p.join(300)
        assert p.exitcode == 0
    lake = DeltaLake(where)
    expected = {f"w{w}r{r}{s}" for w in (1, 2) for r in range(rounds) for s in "ab"} | {f"shared{r}" for r in range(rounds)}
    assert {r.video_id for r in lake.landed(INDEX).values()} == expected
    rows = current_segments(lake)
    assert len(rows) == 2 * len(expected) == len(set(rows))
    # One write commit per batch, none lost, none extra (besides the empty table's creation,
    # which both writers may race to commit).
    for name in ("segments", "videos"):
        writes = [h for h in lake.open(name).history() if h["operation"] == "WRITE"]
        assert len(writes) == 2 * rounds


def test_compaction_while_a_run_lands(where: str) -> None:
    lake = DeltaLake(where)
    lake.write_batch(INDEX, batch([f"seed{i}" for i in range(10)]))
    landed_ids = [f"seed{i}" for i in range(10)]
    errors: list[BaseException] = []

    def landing_run() -> None:
        try:
            writer = DeltaLake(where)
            for r in range(8):
                # New videos each round (a file each), and in round 4 a refresh of seed3.
                ids = [f"r{r}v{i}" for i in range(5)] + (["seed3"] if r == 4 else [])
                writer.write_batch(INDEX, batch(ids, word=f"round{r}"))
                landed_ids.extend(ids[:5])
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    thread = threading.Thread(target=landing_run)
    thread.start()
    compactions = []
    while thread.is_alive():
        compactions.append(compact_table(lake, "segments"))
    thread.join()
    compactions.append(compact_table(lake, "segments"))
    assert errors == []
    assert sum(c.files_removed for c in compactions) > 0
    rows = current_segments(lake)
    assert len(rows) == 3 * len(landed_ids) == len(set(rows))
    assert [v for v, s, t in rows if v == "seed3" and s == 0] == ["seed3"]
    assert ("seed3", 0, "round4 0") in rows
    table = lake.open("segments")
    assert len(table.file_uris()) == 1


def test_convert_a_per_video_lake_in_place_and_carry_on(where: str) -> None:
    per_video = Lake(where)
    for v in ("v1", "v2", "v3"):
        land(per_video, v, 3)
    before = per_video.landed(INDEX)
    assert convert_lake(where) == ["segments", "videos"]
    assert convert_lake(where) == []
    with pytest.raises(ConfigError, match="Delta lake"):
        open_lake(where, "parquet")
    lake = open_lake(where, "delta")
    assert lake.landed(INDEX) == before
    land(lake, "v2", 1, word="new")
    land(lake, "v4", 1)
    assert current_segments(lake) == sorted(
        [(v, i, f"word {i}") for v in ("v1", "v3") for i in range(3)] + [("v2", 0, "new 0"), ("v4", 0, "word 0")]
    )


def test_a_per_video_lake_is_not_opened_as_delta(tmp_path: Path) -> None:
    land(Lake(str(tmp_path)), "v1", 1)
    with pytest.raises(ConfigError, match="lake convert"):
        open_lake(str(tmp_path), "delta")


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="parquet, delta"):
        open_lake(str(tmp_path), "iceberg")  # type: ignore[arg-type]


# -- readers -----------------------------------------------------------------------------------


@pytest.fixture
def refreshed_and_compacted(tmp_path: Path) -> DeltaLake:
    """A Delta lake whose files include replaced and compacted-away ones (not yet vacuumed)."""
    lake = DeltaLake(str(tmp_path / "lake"))
    lake.write_batch(INDEX, batch(["v1", "v2"], count=3))
    lake.write_batch(INDEX, batch(["v3"], count=3))
    lake.write_batch(INDEX, batch(["v1"], count=2, word="new"))
    compact_table(lake, "segments")
    return lake


EXPECTED = sorted([("v1", i, f"new {i}") for i in range(2)] + [(v, i, f"word {i}") for v in ("v2", "v3") for i in range(3)])


def test_readers_see_exactly_the_current_rows(refreshed_and_compacted: DeltaLake) -> None:
    uri = refreshed_and_compacted.table_uri("segments")
    table = DeltaTable(uri)
    files = ", ".join(f"'{f}'" for f in table.file_uris())
    query = "select video_id, segment, value from {} order by all"
    by_file_list = duckdb.sql(query.format(f"read_parquet([{files}], hive_partitioning = true)")).fetchall()
    dataset = table.to_pyarrow_dataset()
    by_dataset = duckdb.sql(query.format("dataset")).fetchall()
    by_polars = pl.scan_delta(uri).select("video_id", "segment", "value").sort("video_id", "segment").collect().rows()
    frame = table.to_pandas(columns=["video_id", "segment", "value"]).sort_values(["video_id", "segment"])
    by_pandas = list(frame.itertuples(index=False, name=None))
    assert by_file_list == by_dataset == by_polars == by_pandas == EXPECTED
    assert duckdb.sql(f"select distinct index_id from read_parquet([{files}], hive_partitioning = true)").fetchall() == [(INDEX,)]
    del dataset


def test_compaction_keeps_older_versions_readable_within_the_retention(refreshed_and_compacted: DeltaLake) -> None:
    """``compact_table`` vacuums only files unreferenced for 7 days: a reader still on an older
    version keeps its files (and so a raw glob sees replaced rows: why the README says never to glob)."""
    uri = refreshed_and_compacted.table_uri("segments")
    first = DeltaTable(uri, version=1).to_pyarrow_table(columns=["video_id", "segment", "value"])
    assert sorted(zip(*first.to_pydict().values())) == sorted((v, i, f"word {i}") for v in ("v1", "v2") for i in range(3))
    current = DeltaTable(uri).to_pyarrow_table(columns=["video_id", "segment", "value"])
    assert sorted(zip(*current.to_pydict().values())) == EXPECTED


def test_delta_on_s3_takes_the_credentials_it_is_given_in_delta_rs_names(monkeypatch) -> None:
    """A storage block's s3fs options, passed to the lake, reach delta-rs in its own names; nothing else does."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    options = {"key": "id", "secret": "shh", "client_kwargs": {"endpoint_url": "http://127.0.0.1:9000", "region_name": "eu-west-1"}}
    lake = DeltaLake("s3://bucket/lake", **options)
    assert lake.storage_options == {
        "AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "shh", "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_REGION": "eu-west-1", "AWS_ALLOW_HTTP": "true",
    }
    assert lake.staging.fs.key == "id" and lake.fs.key == "id", "the staging area and listings use the same"
    assert "shh" not in repr(StoreOptions(options)), "a run's store options never show their secret"
    assert DeltaLake("s3://bucket/lake").storage_options == {}, "given none, delta-rs reads the AWS variables itself"
    assert DeltaLake("/tmp/lake").storage_options == {}
