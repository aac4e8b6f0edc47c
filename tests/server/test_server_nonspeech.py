"""No words in non-speech: speech followed by noise, a music bed and silence lands words only where
the speech is (bench/bench_nonspeech.py measures longer stretches and each decoding mode)."""

from __future__ import annotations

import numpy as np

from tests.media import SAMPLE_RATE, write_aac
from tests.server import guard_media as media
from tests.server.wer import word_error_rate


def test_noise_music_and_silence_after_speech_land_no_words(rest, index_id, tmp_path):
    speech = media.say(media.EN_TRAIN)
    spoken = len(speech) / SAMPLE_RATE
    clip = write_aac(np.concatenate([speech, media.noise(6.0), media.music(6.0), media.silence(6.0)]), tmp_path / "tail.m4a")
    task = rest.wait(rest.submit(index_id, clip)["_id"])
    assert task["status"] == "ready", task
    video = rest.get(f"/indexes/{index_id}/videos/{task['video_id']}", params={"transcription": "true"}).json()
    segments = video["transcription"]
    assert word_error_rate(media.EN_TRAIN, " ".join(s["value"] for s in segments)) <= 0.3
    assert [s for s in segments if s["end"] > spoken + 0.5] == []
