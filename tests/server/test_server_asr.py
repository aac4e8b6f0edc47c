"""The speech engine: word timings on real speech, their clean-up, and who gets to see them."""

from __future__ import annotations

import pytest
from faster_whisper.transcribe import Word
from server_testkit import JFK, JFK_REFERENCE
from wer import words as wer_words

from reelscribe.server.app import asr_settings
from reelscribe.server.asr import AsrEngine, timed_words
from reelscribe.server.config import ServerConfig
from reelscribe.server.store import Store


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> AsrEngine:
    """The engine with the settings the server derives for one worker."""
    return AsrEngine(asr_settings(ServerConfig(data_dir=tmp_path_factory.mktemp("unused"), api_keys=("k",), workers=1)))


@pytest.fixture(scope="module")
def jfk_segments(engine) -> list[dict]:
    segments, duration = engine.transcribe(JFK)
    assert duration == pytest.approx(11.0, abs=0.1)
    return segments


def test_timed_words_strip_clamp_and_order():
    raw = [
        Word(start=0.5, end=1.0, word=" And", probability=0.9),
        Word(start=0.9, end=1.4, word=" so,", probability=0.9),  # overlaps the previous word
        Word(start=1.5, end=1.5, word="  ", probability=0.1),  # nothing to show
        Word(start=1.6, end=1.2, word=" my", probability=0.9),  # ends before it starts
        Word(start=2.0, end=9.0, word=" fellow", probability=0.9),  # runs past the segment
        Word(start=9.5, end=9.9, word=" Americans", probability=0.9),  # wholly after the segment
    ]
    assert timed_words(raw, 0.7, 3.0) == [
        {"start": 0.7, "end": 1.0, "value": "And"},
        {"start": 1.0, "end": 1.4, "value": "so,"},
        {"start": 1.6, "end": 1.6, "value": "my"},
        {"start": 2.0, "end": 3.0, "value": "fellow"},
        {"start": 3.0, "end": 3.0, "value": "Americans"},
    ]
    assert timed_words([], 0.0, 1.0) == []


def test_jfk_words_spell_each_segment_in_order(jfk_segments):
    assert wer_words(" ".join(s["value"] for s in jfk_segments)) == wer_words(JFK_REFERENCE)
    previous_end = 0.0
    for segment in jfk_segments:
        assert set(segment) == {"start", "end", "value", "words"}
        assert wer_words(" ".join(w["value"] for w in segment["words"])) == wer_words(segment["value"])
        for word in segment["words"]:
            assert word["value"] == word["value"].strip() and word["value"]
            assert segment["start"] <= word["start"] <= word["end"] <= segment["end"]
            assert word["start"] >= previous_end
            assert isinstance(word["start"], float) and isinstance(word["end"], float)
            previous_end = word["end"]


def test_tasks_path_hides_words_the_store_keeps(rest, shared_server, jfk_video):
    path = f"/indexes/{jfk_video['index_id']}/videos/{jfk_video['video_id']}"
    shown = rest.get(path, params={"transcription": "true"}).json()["transcription"]
    classic = rest.get(f"{path}/transcription", version="v1.2").json()["data"]
    assert shown and all(set(segment) == {"start", "end", "value"} for segment in shown)
    assert classic == shown
    store = Store(ServerConfig(data_dir=shared_server.data_dir, api_keys=("k",)).db_path)
    try:
        stored = store.get_video(jfk_video["index_id"], jfk_video["video_id"], with_transcription=True).transcription
    finally:
        store.close()
    assert [{k: s[k] for k in ("start", "end", "value")} for s in stored] == shown
    assert [w["value"] for s in stored for w in s["words"]] == " ".join(s["value"] for s in shown).split()
