"""Real transcription through the API: the JFK sample, silence, no audio track, and the v1.2 window."""

from __future__ import annotations

import pytest
from server_testkit import JFK_REFERENCE
from wer import word_error_rate


def test_wer_helper_counts_edits():
    assert word_error_rate("a b c d", "A, b c d.") == 0.0
    assert word_error_rate("a b c d", "a x c") == 0.5
    assert word_error_rate("a b", "a b c d") == 1.0


def test_jfk_transcript_is_accurate(rest, jfk_video):
    response = rest.get(f"/indexes/{jfk_video['index_id']}/videos/{jfk_video['video_id']}", params={"transcription": "true"})
    assert response.status_code == 200
    video = response.json()
    segments = video["transcription"]
    text = " ".join(segment["value"] for segment in segments)
    assert word_error_rate(JFK_REFERENCE, text) <= 0.10, text
    assert all(0 <= s["start"] <= s["end"] <= 11.01 for s in segments)
    assert [s["start"] for s in segments] == sorted(s["start"] for s in segments)
    assert video["system_metadata"]["duration"] == pytest.approx(11.0, abs=0.1)
    assert video["system_metadata"]["filename"] == "jfk.mp4"
    assert video["user_metadata"] == {"content_hash": "sha256:jfk"}


def test_video_without_transcription_flag_has_no_transcription_field(rest, jfk_video):
    video = rest.get(f"/indexes/{jfk_video['index_id']}/videos/{jfk_video['video_id']}").json()
    assert "transcription" not in video
    assert video["indexed_at"].endswith("Z")


@pytest.mark.parametrize("clip", ["silent", "no_audio", pytest.param("tone", marks=pytest.mark.slow)])
def test_clip_without_speech_is_ready_with_null_transcription(rest, index_id, media, clip):
    created = rest.submit(index_id, media[clip])
    task = rest.wait(created["_id"])
    assert task["status"] == "ready", task
    video = rest.get(f"/indexes/{index_id}/videos/{created['video_id']}", params={"transcription": "true"}).json()
    assert video["transcription"] is None
    classic = rest.get(f"/indexes/{index_id}/videos/{created['video_id']}/transcription", version="v1.2").json()
    assert classic == {"_id": created["video_id"], "index_id": index_id, "data": None}


def _classic(rest, jfk_video, version="v1.2", **params):
    return rest.get(
        f"/indexes/{jfk_video['index_id']}/videos/{jfk_video['video_id']}/transcription", version=version, params=params
    )


def test_classic_endpoint_without_window_returns_everything(rest, jfk_video):
    body = _classic(rest, jfk_video).json()
    full = rest.get(
        f"/indexes/{jfk_video['index_id']}/videos/{jfk_video['video_id']}", params={"transcription": "true"}
    ).json()["transcription"]
    assert body["_id"] == jfk_video["video_id"]
    assert body["index_id"] == jfk_video["index_id"]
    assert body["data"] == full
    assert _classic(rest, jfk_video, version="v1.3").json() == body


@pytest.mark.parametrize("version", ["v1.2", "v1.3"])
def test_window_keeps_exactly_the_overlapping_segments(rest, jfk_video, version):
    segments = _classic(rest, jfk_video).json()["data"]
    assert len(segments) >= 2
    first, second = segments[0], segments[1]
    windows = [
        {"start": first["end"]},  # touching the end of the first: first excluded (e > start is strict)
        {"end": second["start"]},  # touching the start of the second: second excluded (s < end is strict)
        {"start": first["start"], "end": first["start"] + 0.01},
        {"start": -100, "end": 1000},
        {"start": 500},
    ]
    for params in windows:
        low = params.get("start", float("-inf"))
        high = params.get("end", float("inf"))
        expected = [s for s in segments if s["start"] < high and s["end"] > low]
        got = _classic(rest, jfk_video, version=version, **params).json()["data"]
        assert got == expected, params
    assert _classic(rest, jfk_video, start=500).json()["data"] == []


@pytest.mark.parametrize(
    "params", [{"start": 5, "end": 2}, {"start": "abc"}, {"end": "nan"}, {"start": "inf"}, {"end": ""}]
)
def test_window_rejects_bad_bounds(rest, jfk_video, params):
    response = _classic(rest, jfk_video, **params)
    assert response.status_code == 400
    assert response.json()["code"] == "parameter_invalid"


def test_transcription_of_unfinished_video_is_a_clear_404(rest, index_id, media, held_rest):
    index = held_rest.create_index()
    created = held_rest.submit(index, media["silent"])
    response = held_rest.get(f"/indexes/{index}/videos/{created['video_id']}/transcription", version="v1.2")
    assert response.status_code == 404
    assert response.json()["code"] == "resource_not_exist"
    assert created["_id"] in response.json()["message"]
    retrieve = held_rest.get(f"/indexes/{index}/videos/{created['video_id']}", params={"transcription": "true"})
    assert retrieve.status_code == 404
    assert "not indexed" in retrieve.json()["message"]
