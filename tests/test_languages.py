"""The multilingual model end to end: German, Spanish and a clip that switches language, transcribed by
a local server started with ``--model base`` and landed with each video's and segment's language.

One server (one load of ``base``) serves the module; the clips are synthesised by espeak-ng.
"""

from __future__ import annotations

import uuid

import duckdb
import pytest
from twelvelabs import TwelveLabs

from reelscribe.flows.transcribe import transcribe_videos
from reelscribe.server.launcher import EmbeddedServer
from tests.media import speech_clip
from tests.server.wer import word_error_rate

pytestmark = pytest.mark.usefixtures("prefect_engine")

GERMAN = "Der Zug an die Küste fährt um neun Uhr ab. Wir kaufen Brot und Käse am Bahnhof, und wir essen am Meer, wenn der Wind nicht zu stark ist."
SPANISH = "Buenos días. Hoy vamos a hablar de la comida en Madrid. Los restaurantes abren tarde. Mañana visitaremos el mercado."
ENGLISH = "Good morning. Today we talk about the weather in London. It has been raining for three days."
MAX_WER = 0.3
"""Whisper base on espeak-ng's synthetic voices; measured on these texts: German 0.06, Spanish 0.14, English 0.
(Some German texts read by espeak-ng are detected as English by base: BENCHMARKS.md, "Languages".)"""


@pytest.fixture(scope="module")
def multilingual_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("multilingual-server")
    server = EmbeddedServer(data / "server", extra_args=("--model", "base", "--model-cache", str(data / "models")), startup_timeout=180)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("speech")
    return {
        "de": speech_clip(folder / "de.mp4", [("de", GERMAN)]),
        "es": speech_clip(folder / "es.mp4", [("es", SPANISH)]),
        # Four seconds of silence: more than the pause a 30-second window bridges, so two windows.
        "es+en": speech_clip(folder / "es-en.mp4", [("es", SPANISH), ("en-us", ENGLISH)], pause_seconds=4.0),
    }


@pytest.fixture(scope="module")
def lake(multilingual_server, clips, tmp_path_factory):
    """All three clips landed once, through the pipeline, from the multilingual server."""
    out = tmp_path_factory.mktemp("lake") / "lake"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TWELVELABS_BASE_URL", multilingual_server.base_url)
        patch.setenv("TWELVE_LABS_API_KEY", multilingual_server.api_key)
        reports = transcribe_videos(sources=[str(p) for p in clips.values()], index_name=f"lang-{uuid.uuid4().hex[:8]}", out=str(out))
    assert sorted(r.status for r in reports) == ["landed"] * 3
    return out


def _landed(lake, clip) -> tuple[str | None, list[tuple[str, str | None]]]:
    """The videos row's language and the segments' ``(value, language)`` of the video landed from ``clip``."""
    (video_id, language), = duckdb.sql(
        f"select video_id, language from read_parquet('{lake}/videos/**/*.parquet', hive_partitioning = true) "
        f"where source like '%{clip.name}'"
    ).fetchall()
    segments = duckdb.sql(
        f"select value, language from read_parquet('{lake}/segments/**/*.parquet', hive_partitioning = true) "
        f"where video_id = '{video_id}' order by segment"
    ).fetchall()
    return language, segments


@pytest.mark.parametrize(("language", "text"), [("de", GERMAN), ("es", SPANISH)])
def test_german_and_spanish_land_with_their_language(lake, clips, language, text):
    video_language, segments = _landed(lake, clips[language])
    assert video_language == language
    assert segments and {segment_language for _, segment_language in segments} == {language}
    assert word_error_rate(text, " ".join(value for value, _ in segments)) <= MAX_WER


def test_a_clip_that_switches_language_gets_both(lake, clips):
    video_language, segments = _landed(lake, clips["es+en"])
    languages = [segment_language for _, segment_language in segments]
    assert languages[0] == "es" and languages[-1] == "en" and set(languages) == {"es", "en"}
    assert video_language in ("es", "en")
    english = " ".join(value for value, segment_language in segments if segment_language == "en")
    assert word_error_rate(ENGLISH, english) <= MAX_WER


def test_the_official_sdk_reads_the_languages(multilingual_server, lake, clips):
    """The additions (``language`` on the video and on each segment) pass through the Python SDK's models."""
    video_id = duckdb.sql(
        f"select video_id from read_parquet('{lake}/videos/**/*.parquet', hive_partitioning = true) where source like '%de.mp4'"
    ).fetchall()[0][0]
    index_id = duckdb.sql(f"select distinct index_id from read_parquet('{lake}/videos/**/*.parquet', hive_partitioning = true)").fetchall()[0][0]
    client = TwelveLabs(api_key=multilingual_server.api_key, base_url=multilingual_server.base_url)
    # The lake was landed on the assets path (the local server offers it), so the video is an indexed asset.
    video = client.indexes.indexed_assets.retrieve(index_id, video_id, transcription=True)
    assert video.language == "de"
    assert {segment.language for segment in video.transcription} == {"de"}
    assert word_error_rate(GERMAN, " ".join(segment.value for segment in video.transcription)) <= MAX_WER
