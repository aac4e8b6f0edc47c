"""The ``sentences`` table: asked for on the assets path, landed in both table formats, used by export.

Real parts: the shared local server over HTTP, Prefect's engine, the lake read back with DuckDB and
delta-rs; the server's answers read raw, as the official SDKs get them.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import requests
from deltalake import DeltaTable

from reelscribe.core.flatten import sentences_table
from reelscribe.core.lake import table_path
from reelscribe.core.lake_format import TABLE_FORMATS
from reelscribe.core.schema import SENTENCES_SCHEMA
from reelscribe.core.subtitles import TimedWord, build_cues
from reelscribe.core.errors import TranscriptInvalid
from reelscribe.flows.transcribe import transcribe_videos

pytestmark = pytest.mark.usefixtures("prefect_engine")


def read(out: Path, table_format: str, table: str) -> list[dict]:
    if table_format == "delta":
        rows = DeltaTable(str(out / table)).to_pyarrow_table()
    else:
        rows = duckdb.sql(f"select * from read_parquet('{out}/{table}/**/*.parquet', hive_partitioning = true)").to_arrow_table()
    return rows.to_pylist()


def get(server, path: str, **params) -> dict:
    response = requests.get(f"{server.base_url}/{path}", params=params, headers={"x-api-key": server.api_key}, timeout=30)
    response.raise_for_status()
    return response.json()


@pytest.mark.parametrize("table_format", TABLE_FORMATS)
def test_sentences_land_beside_the_words(api, jfk_copy, tmp_path, table_format) -> None:
    out = tmp_path / "lake"
    reports = transcribe_videos(sources=[str(jfk_copy)], index_name=f"sent-{uuid.uuid4().hex[:8]}", out=str(out), table_format=table_format)
    assert [r.status for r in reports] == ["landed"]
    sentences = sorted(read(out, table_format, "sentences"), key=lambda row: row["sentence"])
    words = sorted(read(out, table_format, "words"), key=lambda row: row["word"])
    (video,) = read(out, table_format, "videos")
    assert video["sentence_count"] == len(sentences) >= 1
    assert [s["sentence"] for s in sentences] == list(range(len(sentences)))
    # The sentences say the words, in order, and each ends where its last word ends, on a sentence end.
    assert " ".join(s["value"] for s in sentences).split() == [w["value"] for w in words]
    assert sentences[-1]["value"].endswith(".") and sentences[-1]["end"] == words[-1]["end"]
    assert all(0 < s["confidence"] <= 1 for s in sentences)
    assert sentences[0]["index_id"] == video["index_id"]
    if table_format == "parquet":
        path = table_path(str(out), "sentences", video["index_id"], video["video_id"])
        assert pq.read_schema(path).equals(SENTENCES_SCHEMA)


def test_the_server_answers_carry_the_confidence_fields(api, jfk_copy, tmp_path) -> None:
    """What the official SDKs parse: extra fields on segments, words, sentences, utterances."""
    out = tmp_path / "lake"
    (report,) = transcribe_videos(sources=[str(jfk_copy)], index_name=f"sent-raw-{uuid.uuid4().hex[:8]}", out=str(out))
    (video,) = read(out, "parquet", "videos")
    indexed = get(api, f"indexes/{video['index_id']}/indexed-assets/{report.video_id}", transcription="true")
    assert all({"avg_logprob", "no_speech_prob", "compression_ratio"} <= set(s) for s in indexed["transcription"])
    views = get(api, f"assets/{video['asset_id']}/transcription", include="words,sentences,utterances")
    assert all(0 < w["probability"] <= 1 for w in views["words"])
    assert all(0 < s["confidence"] <= 1 for s in views["sentences"] + views["utterances"])
    assert " ".join(s["value"] for s in views["sentences"]).split() == [w["value"] for w in views["words"]]


def test_cues_break_at_the_lakes_sentence_ends_where_the_words_have_no_punctuation() -> None:
    words = [TimedWord(w, i * 0.4, i * 0.4 + 0.35) for i, w in enumerate("so we begin here then we go on".split())]
    assert [c.text for c in build_cues(words)] == ["so we begin here then we go on"]
    cues = build_cues(words, sentence_ends=[words[3].end])
    assert [c.text for c in cues] == ["so we begin here", "then we go on"]
    # A break that would leave a cue shorter than a second is not taken (the cue rules win).
    assert [c.text for c in build_cues(words, sentence_ends=[words[0].end])] == ["so we begin here then we go on"]


def test_a_bad_sentence_is_refused_naming_it() -> None:
    with pytest.raises(TranscriptInvalid, match=r"sentence 1: 'end' \(1\) is before 'start' \(2\)"):
        sentences_table([{"start": 0, "end": 1, "value": "One."}, {"start": 2, "end": 1, "value": "Two."}], video_id="v")
    assert sentences_table(None, video_id="v").num_rows == 0
