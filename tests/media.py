"""Deterministic test media made with PyAV: small, fast to encode, no external files.

Shared by the server tests and the pipeline tests (silent 4-second clips are the usual fixture).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

AudioKind = Literal["silence", "tone"] | None

SAMPLE_RATE = 16_000
_AUDIO_FRAME = 1024


def _audio_samples(kind: str, start: int, count: int) -> np.ndarray:
    """Mono float32 samples ``start..start+count`` of a silent or 440 Hz track."""
    if kind == "silence":
        return np.zeros((1, count), dtype=np.float32)
    t = np.arange(start, start + count, dtype=np.float64) / SAMPLE_RATE
    return (0.3 * np.sin(2 * math.pi * 440.0 * t)).astype(np.float32).reshape(1, count)


def _video_frame(index: int, width: int, height: int) -> av.VideoFrame:
    """A flat grey frame whose shade steps with the index, so frames differ but encode tiny."""
    rgb = np.full((height, width, 3), (index * 16) % 256, dtype=np.uint8)
    return av.VideoFrame.from_ndarray(rgb, format="rgb24")


def _flush(container: av.container.OutputContainer, stream: av.stream.Stream, frame=None) -> None:
    """Encode ``frame`` (or flush the encoder when None) and mux what comes out."""
    for packet in stream.encode(frame):
        container.mux(packet)


def _add_audio_stream(container: av.container.OutputContainer) -> av.stream.Stream:
    """A mono AAC stream; streams must all exist before the first packet is muxed."""
    stream = container.add_stream("aac", rate=SAMPLE_RATE)
    stream.codec_context.layout = "mono"
    return stream


def _write_audio(container: av.container.OutputContainer, stream: av.stream.Stream, seconds: float, kind: str) -> None:
    """Encode ``seconds`` of ``kind`` audio into ``stream``."""
    total = round(seconds * SAMPLE_RATE)
    for start in range(0, total, _AUDIO_FRAME):
        count = min(_AUDIO_FRAME, total - start)
        frame = av.AudioFrame.from_ndarray(_audio_samples(kind, start, count), format="fltp", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = start
        _flush(container, stream, frame)
    _flush(container, stream)


def make_video(
    path: str | Path,
    seconds: float,
    *,
    audio: AudioKind = "silence",
    width: int = 320,
    height: int = 240,
    fps: int = 5,
) -> Path:
    """Write an MP4 (MPEG-4 Part 2 video, AAC audio) of ``seconds`` length and return its path.

    ``audio=None`` writes no audio track at all. Output depends only on the arguments.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        audio_stream = _add_audio_stream(container) if audio is not None else None
        for i in range(max(1, round(seconds * fps))):
            frame = _video_frame(i, width, height)
            frame.pts = i
            _flush(container, stream, frame)
        _flush(container, stream)
        if audio_stream is not None:
            _write_audio(container, audio_stream, seconds, audio)
    return path


def make_audio_only(path: str | Path, seconds: float, *, audio: Literal["silence", "tone"] = "tone") -> Path:
    """Write an M4A with one AAC track and no video stream."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", format="mp4") as container:
        _write_audio(container, _add_audio_stream(container), seconds, audio)
    return path


def espeak_samples(text: str, voice: str, words_per_minute: int = 140) -> np.ndarray:
    """``text`` read by espeak-ng in ``voice`` (``en-us``, ``de``, ``es``, …) as 16 kHz mono int16 samples.

    Needs ``espeak-ng`` on the PATH (``make test`` installs it).
    """
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is needed to synthesise speech: apt-get install -y espeak-ng")
    with tempfile.TemporaryDirectory() as scratch:
        wav = Path(scratch) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(wav), text], check=True)
        return decode_mono(wav)


def decode_mono(path: str | Path) -> np.ndarray:
    """The first audio track of ``path`` as 16 kHz mono int16 samples."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
        chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    return np.concatenate(chunks)


def write_aac(samples: np.ndarray, target: str | Path) -> Path:
    """16 kHz mono int16 ``samples`` as an AAC track in an MP4 container, written to a temp name then renamed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    with av.open(str(partial), mode="w", format="mp4") as container:
        stream = _add_audio_stream(container)
        for start in range(0, len(samples), _AUDIO_FRAME):
            frame = av.AudioFrame.from_ndarray(samples[start : start + _AUDIO_FRAME].reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = start
            _flush(container, stream, frame)
        _flush(container, stream)
    partial.replace(target)
    return target


def speech_clip(target: str | Path, parts: list[tuple[str, str]], pause_seconds: float = 1.2) -> Path:
    """An MP4 of ``(voice, text)`` parts read one after another by espeak-ng, ``pause_seconds`` of silence between."""
    pause = np.zeros(round(pause_seconds * SAMPLE_RATE), dtype=np.int16)
    pieces = [piece for voice, text in parts for piece in (espeak_samples(text, voice), pause)][:-1]
    return write_aac(np.concatenate(pieces), target)
