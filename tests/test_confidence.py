"""Confidence in the lake: Whisper's scores land beside the transcript, old lakes keep working, and the
run names the videos whose transcript or language is a guess.

Real parts: the shared local server (tiny.en) over HTTP, Prefect's engine, the lake read back with
DuckDB and delta-rs; a second server with the multilingual ``base`` for a detected language.
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from pydantic import SecretStr

from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.confidence import Thresholds, language_windows, video_confidence
from reelscribe.core.errors import ConfigError, TranscriptInvalid
from reelscribe.core.export import export_lake
from reelscribe.core.flatten import segments_table, words_table
from reelscribe.core.lake import table_path, video_tables
from reelscribe.core.records import VideoRecord
from reelscribe.core.lake_format import TABLE_FORMATS, open_lake
from reelscribe.core.lake_sql import open_reader
from reelscribe.core.schema import SEGMENTS_SCHEMA, VIDEOS_SCHEMA, WORDS_SCHEMA
from reelscribe.core.search import search_lake
from reelscribe.core.settings import Settings
from reelscribe.flows.report import summary_markdown
from reelscribe.flows.transcribe import transcribe_videos
from reelscribe.server.launcher import EmbeddedServer
from tests.conftest import ROOT
from tests.test_cli import run_cli

pytestmark = pytest.mark.usefixtures("prefect_engine")

AT = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
NEW_SEGMENT_COLUMNS = ["avg_logprob", "no_speech_prob", "compression_ratio"]
NEW_VIDEO_COLUMNS = ["language_probability", "languages", "language_uncertain", "confidence", "sentence_count"]


def read(out: Path, table_format: str, table: str) -> pa.Table:
    """A table as a user reads it: DuckDB over the files (by column name), or the Delta table's current version."""
    if table_format == "delta":
        return DeltaTable(str(out / table)).to_pyarrow_table()
    return duckdb.sql(
        f"select * from read_parquet('{out}/{table}/**/*.parquet', hive_partitioning = true, union_by_name = true)"
    ).to_arrow_table()


# -- the pure parts ------------------------------------------------------------------------------


def test_video_confidence_is_the_mean_word_probability_else_the_segments_exp_logprob() -> None:
    segments = segments_table(
        [{"start": 0, "end": 1, "value": "a", "avg_logprob": -0.1}, {"start": 1, "end": 4, "value": "b", "avg_logprob": -1.0}],
        video_id="v", task_id="t", retrieved_at=AT,
    )
    words = words_table(
        [{"start": 0, "end": 1, "value": "a", "probability": 0.9}, {"start": 1, "end": 4, "value": "b", "probability": 0.5}],
        video_id="v", segments=segments,
    )
    assert video_confidence(segments, words) == 0.7
    # Weighted by duration: (e^-0.1 * 1 + e^-1 * 3) / 4.
    assert video_confidence(segments) == pytest.approx((0.904837 + 3 * 0.367879) / 4, abs=1e-4)
    bare = segments_table([{"start": 0, "end": 1, "value": "a"}], video_id="v", task_id="t", retrieved_at=AT)
    assert video_confidence(bare) is None


def test_bad_confidence_values_are_refused_naming_the_item() -> None:
    with pytest.raises(TranscriptInvalid, match=r"segment 1: 'avg_logprob' must be a finite number or null, got string 'high'"):
        segments_table(
            [{"start": 0, "end": 1, "value": "a"}, {"start": 1, "end": 2, "value": "b", "avg_logprob": "high"}],
            video_id="v", task_id="t", retrieved_at=AT,
        )
    segments = segments_table([{"start": 0, "end": 1, "value": "a"}], video_id="v", task_id="t", retrieved_at=AT)
    with pytest.raises(TranscriptInvalid, match=r"word 0: 'probability' must be a finite number or null, got boolean True"):
        words_table([{"start": 0, "end": 1, "value": "a", "probability": True}], video_id="v", segments=segments)
    with pytest.raises(TranscriptInvalid, match=r"languages 0: expected a finite number or null"):
        language_windows([{"start": "0", "end": 1, "language": "en", "probability": 0.9}], "v")
    with pytest.raises(ConfigError, match="min_confidence must be a number from 0 to 1"):
        Thresholds(min_confidence=1.5)


def test_an_old_server_database_gains_the_language_column_and_keeps_its_rows(tmp_path: Path) -> None:
    """A database made before ``language_info`` existed: the server adds the column and serves its old videos."""
    from reelscribe.server.store.database import Database
    from reelscribe.server.store.indexed_assets import IndexedAssets

    path = tmp_path / "server.db"
    schema = (ROOT / "server" / "store" / "schema.sql").read_text()
    old = schema.replace(",\n    language_info TEXT\n", "\n")
    assert "language_info" not in old.split("--", 2)[-1].split("\n", 2)[-1]
    with sqlite3.connect(path) as db:
        db.executescript(old)
        db.execute(
            "INSERT INTO indexed_assets (id, index_id, asset_id, status, filename, transcription, created_at, updated_at)"
            " VALUES ('ia1', 'ix1', 'as1', 'ready', 'a.mp4', '[{\"start\":0,\"end\":1,\"value\":\"hi\"}]', 't', 't')"
        )
    database = Database(path)
    try:
        row = IndexedAssets(database).get("ix1", "ia1", with_transcription=True)
        assert row.transcription == [{"start": 0, "end": 1, "value": "hi"}] and row.language_info is None
        columns = {r[1] for r in database.all("PRAGMA table_info(indexed_assets)")}
        assert "language_info" in columns and "language_info" in {r[1] for r in database.all("PRAGMA table_info(videos)")}
    finally:
        database.close()
    Database(path).close()  # a second start finds the column there and adds nothing


# -- the columns, landed from the real local server ------------------------------------------------


@pytest.mark.parametrize("table_format", TABLE_FORMATS)
def test_confidence_columns_land_from_the_local_server(api, jfk_copy, tmp_path, table_format) -> None:
    out = tmp_path / "lake"
    reports = transcribe_videos(
        sources=[str(jfk_copy)], index_name=f"conf-{uuid.uuid4().hex[:8]}", out=str(out), table_format=table_format,
        min_confidence=0.99,
    )
    assert [r.status for r in reports] == ["landed"]
    segments = read(out, table_format, "segments").to_pylist()
    assert segments and all(s["avg_logprob"] < 0 and 0 <= s["no_speech_prob"] <= 1 and s["compression_ratio"] > 0 for s in segments)
    words = read(out, table_format, "words").to_pylist()
    assert words and all(0 < w["probability"] <= 1 for w in words)
    (video,) = read(out, table_format, "videos").to_pylist()
    mean = sum(w["probability"] for w in words) / len(words)
    assert video["confidence"] == pytest.approx(mean, abs=1e-4)
    # tiny.en detects no language: nothing to judge, so neither certain nor uncertain.
    assert (video["language"], video["language_probability"], video["language_uncertain"]) == ("en", None, None)
    # jfk.mp4 is clear speech, but not 0.99 sure: the run names it.
    (report,) = reports
    assert report.low_confidence is True and report.confidence == video["confidence"]
    assert f"low confidence: {jfk_copy} ({video['confidence']:.2f})" in summary_markdown(reports)
    if table_format == "parquet":
        assert pq.read_schema(table_path(str(out), "segments", video["index_id"], video["video_id"])).equals(SEGMENTS_SCHEMA)


def test_the_cli_names_a_low_confidence_video(jfk_copy, tmp_path, shared_services) -> None:
    out = tmp_path / "lake"
    result = run_cli("run", str(jfk_copy), "--out", str(out), "--index-name", f"cli-conf-{uuid.uuid4().hex[:8]}",
                     "--min-confidence", "0.99", tmp_path=tmp_path, env=shared_services)
    assert result.returncode == 0, result.stderr
    assert f"reelscribe: low confidence: {jfk_copy} (" in result.stderr
    refused = run_cli("run", str(jfk_copy), "--out", str(out), "--min-confidence", "2", tmp_path=tmp_path, env=shared_services)
    assert refused.returncode == 2 and "--min-confidence 2" in refused.stderr, refused.stderr


# -- an old lake, then a new run ------------------------------------------------------------------


def _old_tables(video_id: str) -> dict[str, pa.Table]:
    """One video as the previous version landed it: no confidence columns, no sentences table."""
    segments = segments_table([{"start": 0.0, "end": 2.0, "value": "Old reels"}], video_id=video_id,
                              task_id=f"task-{video_id}", retrieved_at=AT)
    words = words_table([{"start": 0.0, "end": 1.0, "value": "Old"}, {"start": 1.0, "end": 2.0, "value": "reels"}],
                        video_id=video_id, segments=segments)
    record = VideoRecord(task_id=f"task-{video_id}", source=f"/old/{video_id}.mp4", content_sha256=f"sha-{video_id}",
                         duration=2.0, indexed_at=AT, retrieved_at=AT, language="en")
    tables = video_tables(video_id, segments, record, {"words": words})
    dropped = {"segments": NEW_SEGMENT_COLUMNS, "words": ["probability"], "videos": NEW_VIDEO_COLUMNS}
    return {name: table.drop_columns(dropped.get(name, [])) for name, table in tables.items()}


def _land_old(out: Path, table_format: str, index_id: str, video_id: str) -> None:
    old = _old_tables(video_id)
    assert "confidence" not in old["videos"].column_names and "probability" not in old["words"].column_names
    if table_format == "delta":
        open_lake(str(out), "delta").write_batch(index_id, {video_id: old})
    else:
        for name, table in old.items():
            Path(table_path(str(out), name, index_id, video_id)).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, table_path(str(out), name, index_id, video_id))


@pytest.mark.parametrize("table_format", TABLE_FORMATS)
def test_an_old_lake_stays_readable_and_queryable_after_a_new_run_adds_to_it(api, jfk_copy, tmp_path, table_format) -> None:
    out = tmp_path / "lake"
    settings = Settings(base_url=api.base_url, api_key=SecretStr(api.api_key))
    with TwelveLabsClient(settings) as client:
        index_id = client.create_index(f"old-lake-{uuid.uuid4().hex[:8]}").id
    _land_old(out, table_format, index_id, "oldvideo")
    if table_format == "delta":
        assert "confidence" not in DeltaTable(str(out / "videos")).schema().to_arrow().names
    reports = transcribe_videos(sources=[str(jfk_copy)], index_id=index_id, out=str(out), table_format=table_format)
    assert [r.status for r in reports] == ["landed"]
    new_id = reports[0].video_id
    landed = open_lake(str(out), table_format).landed(index_id)
    assert landed["sha-oldvideo"].confidence is None and landed["sha-oldvideo"].word_count == 2
    assert landed["sha-oldvideo"].sentence_count is None
    (jfk,) = [row for sha, row in landed.items() if sha != "sha-oldvideo"]
    assert jfk.video_id == new_id and jfk.confidence is not None and jfk.sentence_count >= 1
    videos = {r["video_id"]: r for r in read(out, table_format, "videos").to_pylist()}
    assert videos["oldvideo"]["confidence"] is None and videos[new_id]["confidence"] > 0
    words = read(out, table_format, "words").to_pylist()
    assert {w["probability"] is None for w in words if w["video_id"] == "oldvideo"} == {True}
    assert all(w["probability"] is not None for w in words if w["video_id"] == new_id)
    if table_format == "delta":  # the Delta tables evolved: the new columns are in the schema now
        assert set(NEW_VIDEO_COLUMNS) <= set(DeltaTable(str(out / "videos")).schema().to_arrow().names)
        assert "probability" in DeltaTable(str(out / "words")).schema().to_arrow().names
    # Search and export read the mix.
    with open_reader(str(out)) as reader:
        old_hits, _ = search_lake(reader, "old reels")
        new_hits, _ = search_lake(reader, "fellow Americans")
        rows = reader.con.execute(
            "select video_id, confidence from videos where confidence is null or confidence >= 0 order by video_id"
        ).fetchall()
    assert [h.video_id for h in old_hits] == ["oldvideo"] and old_hits[0].sentence is None
    assert [h.video_id for h in new_hits] == [new_id] and "fellow Americans" in new_hits[0].sentence
    assert sorted(v for v, _ in rows) == sorted([new_id, "oldvideo"])
    written = export_lake(str(out), str(tmp_path / "subs"), "srt")
    assert sorted(f.video_id for f in written) == sorted([new_id, "oldvideo"]) and all(f.cues >= 1 for f in written)


def test_the_schemas_only_add_columns() -> None:
    """Every column of the previous version is still there, in place, with its type."""
    old_segments = ["video_id", "segment", "start", "end", "value", "task_id", "retrieved_at", "language"]
    old_words = ["video_id", "word", "start", "end", "value", "segment"]
    assert SEGMENTS_SCHEMA.names[: len(old_segments)] == old_segments
    assert WORDS_SCHEMA.names[: len(old_words)] == old_words
    assert VIDEOS_SCHEMA.names[-len(NEW_VIDEO_COLUMNS):] == NEW_VIDEO_COLUMNS
    assert all(VIDEOS_SCHEMA.field(name).nullable for name in NEW_VIDEO_COLUMNS)


# -- an uncertain language, from the multilingual model ----------------------------------------------


@pytest.fixture(scope="module")
def multilingual_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("confidence-multilingual")
    server = EmbeddedServer(data / "server", extra_args=("--model", "base", "--model-cache", str(data / "models")), startup_timeout=180)
    server.start()
    yield server
    server.stop()


def test_a_language_below_the_threshold_lands_uncertain_and_is_named(multilingual_server, jfk_copy, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TWELVELABS_BASE_URL", multilingual_server.base_url)
    monkeypatch.setenv("TWELVE_LABS_API_KEY", multilingual_server.api_key)
    out = tmp_path / "lake"
    index = f"uncertain-{uuid.uuid4().hex[:8]}"
    sure = transcribe_videos(sources=[str(jfk_copy)], index_name=index, out=str(out), min_language_probability=0.1)
    (video,) = read(out, "parquet", "videos").to_pylist()
    probability = video["language_probability"]
    assert video["language"] == "en" and 0.1 < probability < 1
    assert video["language_uncertain"] is False and "language uncertain" not in summary_markdown(sure)
    assert video["languages"] and {w["language"] for w in video["languages"]} == {"en"}
    threshold = min(1.0, probability + 0.01)
    unsure = transcribe_videos(sources=[str(jfk_copy)], index_name=index, out=str(out), refresh=True,
                               min_language_probability=threshold)
    (video,) = read(out, "parquet", "videos").to_pylist()
    assert video["language_uncertain"] is True and video["language"] == "en"
    assert f"language uncertain: {jfk_copy} (en {probability:.2f})" in summary_markdown(unsure)
    uncertain = duckdb.sql(
        f"select count(*) from read_parquet('{out}/videos/**/*.parquet', union_by_name = true) where language_uncertain"
    ).fetchall()[0][0]
    assert uncertain == 1


def test_a_webhook_submission_keeps_the_runs_thresholds_and_an_older_record_reads_with_the_defaults() -> None:
    """The webhook mode lands in a later run: the submitting run's thresholds travel in its pending record."""
    import json

    from reelscribe.core.confidence import DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_LANGUAGE_PROBABILITY
    from reelscribe.core.ingest_paths.base import Submission
    from reelscribe.core.ingest_paths.choose import path_named
    from reelscribe.core.pending import PendingSubmission
    from reelscribe.core.sources import VideoSource

    submission = Submission(VideoSource("/v/a.mp4", "file"), "sha", job_id="job1")
    record = PendingSubmission(submission, path_named("assets"), "idx", 1.0, 2.0, min_confidence=0.8, min_language_probability=0.9)
    again = PendingSubmission.from_json(record.to_json())
    assert (again.min_confidence, again.min_language_probability) == (0.8, 0.9)
    older = json.loads(record.to_json())
    del older["min_confidence"], older["min_language_probability"]
    read = PendingSubmission.from_json(json.dumps(older).encode())
    assert read.thresholds() == Thresholds(DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_LANGUAGE_PROBABILITY)
    assert json.loads(read.to_json()) == older
