"""The speech engine: word timings on real speech, their clean-up, and who gets to see them."""

from __future__ import annotations

import pytest
from faster_whisper.transcribe import Word
from server_testkit import JFK, JFK_REFERENCE
from wer import words as wer_words

from reelscribe.server.app import asr_settings
from reelscribe.server.asr import CONFIDENCE_FIELDS, MAX_SEGMENT_SECONDS, AsrEngine, pack_speech, split_utterances, timed_words
from reelscribe.server.cli import parse_config
from reelscribe.server.config import ServerConfig
from reelscribe.server.store import Store


@pytest.fixture(scope="module", params=[ServerConfig.batch_size, 0], ids=["batched", "sequential"])
def engine(request, tmp_path_factory) -> AsrEngine:
    """The engine with the settings the server derives for one worker, batched and not."""
    config = ServerConfig(data_dir=tmp_path_factory.mktemp("unused"), api_keys=("k",), workers=1, batch_size=request.param)
    return AsrEngine(asr_settings(config))


@pytest.fixture(scope="module")
def jfk_segments(engine) -> list[dict]:
    segments, duration = engine.transcribe(JFK)
    assert duration == pytest.approx(11.0, abs=0.1)
    return segments


def _words(*timed: tuple[float, float, str]) -> list[dict]:
    return [{"start": start, "end": end, "value": value} for start, end, value in timed]


def _segment(words: list[dict], start: float | None = None, end: float | None = None) -> dict:
    return {
        "start": words[0]["start"] if start is None else start,
        "end": words[-1]["end"] if end is None else end,
        "value": " ".join(w["value"] for w in words),
        "words": words,
    }


def test_short_segment_is_not_split():
    segment = _segment(_words((0.0, 0.5, "Ask"), (0.6, 1.0, "not.")), start=0.0, end=8.5)
    assert split_utterances(segment, max_seconds=9.0) == [segment]


def test_split_prefers_a_sentence_end_and_keeps_the_span():
    words = _words((1.0, 3.0, "One"), (3.1, 5.0, "two."), (5.1, 5.5, "Three"), (5.55, 8.0, "four"), (8.1, 10.0, "five"))
    pieces = split_utterances(_segment(words, start=0.5, end=10.4), max_seconds=6.0)
    assert [p["value"] for p in pieces] == ["One two.", "Three four five"]
    assert [(p["start"], p["end"]) for p in pieces] == [(0.5, 5.0), (5.1, 10.4)]
    assert [w for p in pieces for w in p["words"]] == words


def test_split_prefers_a_long_pause_over_a_comma():
    words = _words((0.0, 1.0, "a"), (1.0, 2.0, "b,"), (2.05, 3.0, "c"), (5.0, 6.0, "d"), (6.0, 7.0, "e"))
    assert [p["value"] for p in split_utterances(_segment(words), max_seconds=5.0)] == ["a b, c", "d e"]


def test_split_cuts_again_until_every_piece_is_short():
    words = _words(*((0.5 * n, 0.5 * n + 0.4, f"w{n}") for n in range(60)))  # 30 s, no pauses, no punctuation
    pieces = split_utterances(_segment(words, start=0.0, end=30.2), max_seconds=MAX_SEGMENT_SECONDS)
    assert len(pieces) >= 4
    assert all(p["words"][-1]["end"] - p["words"][0]["start"] <= MAX_SEGMENT_SECONDS for p in pieces)
    assert [w for p in pieces for w in p["words"]] == words
    assert pieces[0]["start"] == 0.0 and pieces[-1]["end"] == 30.2
    assert all(a["end"] <= b["start"] for a, b in zip(pieces, pieces[1:]))


def test_a_single_long_word_is_never_cut():
    segment = _segment(_words((0.0, 12.0, "Hmmmmmm")))
    assert split_utterances(segment, max_seconds=5.0) == [segment]


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
        {"start": 0.7, "end": 1.0, "value": "And", "probability": 0.9},
        {"start": 1.0, "end": 1.4, "value": "so,", "probability": 0.9},
        {"start": 1.6, "end": 1.6, "value": "my", "probability": 0.9},
        {"start": 2.0, "end": 3.0, "value": "fellow", "probability": 0.9},
        {"start": 3.0, "end": 3.0, "value": "Americans", "probability": 0.9},
    ]
    assert timed_words([], 0.0, 1.0) == []


def test_pack_speech_fills_windows_with_contiguous_audio():
    regions = [(0.5, 4.0), (4.3, 12.0), (13.0, 29.0), (29.5, 31.0), (31.2, 40.0), (45.0, 47.0), (47.1, 48.0)]
    assert pack_speech(regions, max_seconds=30.0, max_gap=3.0) == [
        {"start": 0.5, "end": 29.0},  # the next region would end 30.5 s after the start
        {"start": 29.5, "end": 40.0},  # 5 s of silence after it: skipped, not bridged
        {"start": 45.0, "end": 48.0},
    ]
    assert pack_speech([], max_seconds=30.0, max_gap=3.0) == []
    assert pack_speech([(0.0, 35.0), (35.5, 36.0)], max_seconds=30.0, max_gap=3.0) == [
        {"start": 0.0, "end": 35.0},  # a region is never cut, even when too long
        {"start": 35.5, "end": 36.0},
    ]


def test_jfk_words_spell_each_segment_in_order(jfk_segments):
    assert wer_words(" ".join(s["value"] for s in jfk_segments)) == wer_words(JFK_REFERENCE)
    previous_end = 0.0
    for segment in jfk_segments:
        assert set(segment) == {"start", "end", "value", "words", "language", *CONFIDENCE_FIELDS} and segment["language"] == "en"
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
    shown_keys = ("start", "end", "value", "language", *CONFIDENCE_FIELDS)
    assert shown and all(set(segment) == set(shown_keys) for segment in shown)
    assert classic == shown
    store = Store(ServerConfig(data_dir=shared_server.data_dir, api_keys=("k",)).db_path)
    try:
        stored = store.videos.get(jfk_video["index_id"], jfk_video["video_id"], with_transcription=True).transcription
    finally:
        store.close()
    assert [{k: s[k] for k in shown_keys} for s in stored] == shown
    assert [w["value"] for s in stored for w in s["words"]] == " ".join(s["value"] for s in shown).split()


@pytest.mark.parametrize(
    "argv,batch_size",
    [([], ServerConfig.batch_size), (["--batch-size", "16"], 16), (["--no-batch"], 0), (["--batch-size", "0"], 0), (["--batch-size", "4", "--no-batch"], 0)],
)
def test_batching_options(tmp_path, argv, batch_size):
    config = parse_config(["--data-dir", str(tmp_path), "--api-key", "k", *argv], {})
    assert config.batch_size == batch_size
    assert asr_settings(config).batch_size == batch_size


def test_negative_batch_size_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        parse_config(["--data-dir", str(tmp_path), "--api-key", "k", "--batch-size", "-1"], {})
