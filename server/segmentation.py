"""Words, sentences and utterances from stored transcript segments (pure functions).

Segments are what the ASR engine stored: ``{start, end, value}``, each with ``words: [{start, end,
value}]`` when the engine produced word timestamps. ``/assets/{id}/transcription`` serves these
three views of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

Entry = dict[str, Any]

SEGMENTATIONS = ("words", "sentences", "utterances")
PAUSE_SECONDS = 1.0
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")


def has_words(segments: Sequence[Entry]) -> bool:
    """True when every segment carries its words (transcripts stored before word timings have none)."""
    return all(isinstance(segment.get("words"), list) for segment in segments)


def words(segments: Sequence[Entry]) -> list[Entry]:
    """Every word of every segment, in order (the engine stored them stripped and inside their segment),
    with its ``probability`` where the engine gave one (an addition to the v1.3 word)."""
    return [
        {"start": w["start"], "end": w["end"], "value": w["value"], **({"probability": w["probability"]} if "probability" in w else {})}
        for s in segments
        for w in s.get("words") or ()
    ]


def confidence(word_list: Iterable[Entry]) -> dict[str, float]:
    """``{"confidence": mean word probability}`` of a sentence or turn, or ``{}`` where its words have none."""
    found = [w["probability"] for w in word_list if isinstance(w.get("probability"), (int, float))]
    return {"confidence": round(sum(found) / len(found), 4)} if found else {}


def _joined(parts: Iterable[Entry]) -> Entry:
    items = list(parts)
    return {"start": items[0]["start"], "end": items[-1]["end"], "value": " ".join(i["value"] for i in items)}


def sentences(word_list: Sequence[Entry]) -> list[Entry]:
    """Words grouped into sentences, each ending at a word that ends in ``.``, ``!``, ``?`` or ``…``.

    Trailing words without final punctuation make a last sentence of their own.
    """
    out: list[Entry] = []
    current: list[Entry] = []
    for word in word_list:
        current.append(word)
        if _SENTENCE_END.search(word["value"]):
            out.append({**_joined(current), **confidence(current)})
            current = []
    if current:
        out.append({**_joined(current), **confidence(current)})
    return out


def utterances(segments: Sequence[Entry], pause: float = PAUSE_SECONDS) -> list[Entry]:
    """Segments merged into speaker turns: a new turn starts after a pause of ``pause`` seconds or more,
    and where the segments' ``speaker`` changes.

    Without speaker diarization (``reelscribe serve --speakers``) every turn has ``speaker: None``.
    """
    out: list[Entry] = []
    current: list[Entry] = []
    for segment in segments:
        if current and (segment["start"] - current[-1]["end"] >= pause or segment.get("speaker") != current[-1].get("speaker")):
            out.append(_turn(current))
            current = []
        current.append(segment)
    if current:
        out.append(_turn(current))
    return out


def _turn(segments: Sequence[Entry]) -> Entry:
    """One speaker turn, with the mean probability of its words where they have one."""
    return {**_joined(segments), "speaker": segments[0].get("speaker"), **confidence(w for s in segments for w in s.get("words") or ())}


def transcription_views(segments: Sequence[Entry] | None, include: Sequence[str]) -> dict[str, list[Entry]]:
    """The requested segmentations that the stored transcript supports (words need word timings)."""
    segments = list(segments or ())
    out: dict[str, list[Entry]] = {}
    word_list = words(segments) if has_words(segments) else None
    if "words" in include and word_list is not None:
        out["words"] = word_list
    if "sentences" in include and word_list is not None:
        out["sentences"] = sentences(word_list)
    if "utterances" in include:
        out["utterances"] = utterances(segments)
    return out
