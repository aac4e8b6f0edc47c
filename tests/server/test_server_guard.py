"""The English-only model's language guard judges the language: English that repeats itself (a
chorus) is transcribed, French is refused with a message naming options that exist."""

from __future__ import annotations

import os

import pytest

from reelscribe.server.asr import MIN_ENGLISH_PROBABILITY, EnglishEvidence, english_verdict
from tests.server import guard_media as media
from tests.server.wer import word_error_rate


def test_repetition_alone_never_refuses():
    assert english_verdict(EnglishEvidence(logprob=-0.07, compression_ratio=4.2)) is None
    assert english_verdict(EnglishEvidence(logprob=-0.07, compression_ratio=4.2, english_probability=0.9, detected="en")) is None


def test_the_language_detection_decides_a_suspicious_decoding():
    unsure = EnglishEvidence(logprob=-0.9, compression_ratio=1.3)
    assert english_verdict(EnglishEvidence(unsure.logprob, unsure.compression_ratio, 0.77, "en")) is None
    reason = english_verdict(EnglishEvidence(unsure.logprob, unsure.compression_ratio, 0.06, "fr"))
    assert reason is not None and "detects fr" in reason and str(MIN_ENGLISH_PROBABILITY) in reason
    # Without a detection the decoding's log-probability is the only evidence.
    assert english_verdict(unsure) is not None
    assert english_verdict(EnglishEvidence(-0.6, 1.3)) is None


def test_a_chorus_is_english(rest, index_id, tmp_path):
    clip = media.clip_file(tmp_path, "chorus", media.ENGLISH["chorus x3"])
    task = rest.wait(rest.submit(index_id, clip)["_id"])
    assert task["status"] == "ready", task
    video = rest.get(f"/indexes/{index_id}/videos/{task['video_id']}", params={"transcription": "true"}).json()
    said = " ".join(segment["value"] for segment in video["transcription"])
    assert word_error_rate(" ".join([media.EN_CHORUS] * 3), said) <= 0.2, said


@pytest.mark.parametrize("language", ["fr"])
def test_french_is_refused_naming_options_that_exist(rest, index_id, tmp_path, language):
    clip = media.clip_file(tmp_path, language, media.OTHER[f"{language} 1"])
    task = rest.wait(rest.submit(index_id, clip)["_id"])
    assert task["status"] == "failed"
    assert task["error_reason"]["code"] == "language_not_supported"
    message = task["error_reason"]["message"]
    assert "reelscribe run --server-language en" in message and "--model base" in message, message


def test_detected_language_comes_with_its_probability_per_window(tmp_path):
    """With the multilingual model, a clip in two languages says each window's language and probability."""
    from faster_whisper import WhisperModel

    from reelscribe.server.asr import transcribe
    from reelscribe.server.config import default_model_cache
    from reelscribe.server.models import ModelUnavailable, resolve_model

    try:
        base = resolve_model("base", default_model_cache(os.environ))
    except ModelUnavailable as exc:
        pytest.skip(f"needs the multilingual extra: {exc}")
    clip = media.clip_file(tmp_path, "es-en", lambda: media.joined(
        media.say(media.FOREIGN["es"][0], "es"), media.say(media.EN_WEATHER), pause=4.0))
    result = transcribe(WhisperModel(base.path, device="cpu", compute_type="int8", cpu_threads=2), clip)
    assert [window["language"] for window in result.languages] == ["es", "en"]
    assert all(0.5 < window["probability"] <= 1 and window["start"] < window["end"] for window in result.languages)
    assert result.language in ("es", "en") and 0 < result.language_probability < 1
    assert {segment["language"] for segment in result.segments} == {"es", "en"}
