"""Cue rules (reelscribe.core.subtitles) on word streams, and the files read back by real parsers and FFmpeg."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from reelscribe.core.subtitles import (
    LONG_SILENCE_S,
    MAX_LINE_CHARS,
    PAUSE_S,
    TimedWord,
    build_cues,
    format_cues,
    segment_words,
)
from tests.cuekit import ReadCue, assert_cue_rules, read_with_ffmpeg, read_with_parser

VOCABULARY = "ask not what your country can do for you, fellow Americans; and so my the of world will freedom".split()


def speech(seed: int, count: int = 400) -> tuple[list[TimedWord], list[tuple[float, float]]]:
    """A seeded word stream with sentence ends, short pauses and long silences; and its long silences."""
    rng = random.Random(seed)
    words, silences, t = [], [], 0.0
    for i in range(count):
        text = rng.choice(VOCABULARY)
        if rng.random() < 0.08:
            text += rng.choice(".?!")
        if rng.random() < 0.01:
            text = "Supercalifragilisticexpialidociously-long-compound"  # over 42 characters
        length = rng.uniform(0.05, 0.6)
        words.append(TimedWord(text, round(t, 3), round(t + length, 3)))
        t += length
        gap = rng.random()
        if gap < 0.04:
            silences.append((t, t + (pause := rng.uniform(LONG_SILENCE_S, 6))))
            t += pause
        elif gap < 0.15:
            t += rng.uniform(0, PAUSE_S * 2)
    return words, silences


def as_read(cues) -> list[ReadCue]:
    return [ReadCue(c.start, c.end, c.lines) for c in cues]


@pytest.mark.parametrize("seed", range(8))
def test_every_rule_holds_on_varied_speech(seed: int) -> None:
    words, silences = speech(seed)
    cues = build_cues(words)
    transcript = " ".join(w.text for w in words).replace(
        "Supercalifragilisticexpialidociously-long-compound", "Supercalifragilisticexpialidociously-long- compound"
    )
    assert_cue_rules(as_read(cues), transcript, gaps=silences)


def test_a_cue_ends_at_a_sentence_end_and_at_a_pause_when_it_can_last_a_second() -> None:
    words = [
        TimedWord("We", 0.0, 0.4), TimedWord("choose.", 0.4, 1.2), TimedWord("Not", 1.3, 1.6),
        TimedWord("because", 1.6, 2.0), TimedWord("easy", 2.7, 3.1), TimedWord("but", 3.1, 3.3), TimedWord("hard.", 3.3, 3.8),
    ]
    assert [c.text for c in build_cues(words)] == ["We choose.", "Not because", "easy but hard."]


def test_a_short_sentence_is_not_cut_off_into_a_cue_under_a_second() -> None:
    words = [TimedWord("No.", 0.0, 0.3), TimedWord("We", 0.35, 0.5), TimedWord("go.", 0.5, 0.9), TimedWord("Now", 1.2, 1.5)]
    cues = build_cues(words)
    assert [c.text for c in cues] == ["No. We go.", "Now"]
    assert (cues[0].start, cues[0].end) == (0.0, 1.0) and (cues[1].start, cues[1].end) == (1.2, 2.2)


def test_a_long_silence_always_ends_the_cue_and_a_lone_word_is_held_a_second() -> None:
    cues = build_cues([TimedWord("Hello", 0.0, 0.3), TimedWord("again", 0.3 + LONG_SILENCE_S, 2.2)])
    assert [(c.start, c.end, c.text) for c in cues] == [(0.0, 1.0, "Hello"), (1.8, 2.8, "again")]


def test_lines_are_balanced_and_prefer_a_break_after_punctuation() -> None:
    text = "And so, my fellow Americans, ask not what your country can do for you"
    words = [TimedWord(w, i * 0.2, i * 0.2 + 0.2) for i, w in enumerate(text.split())]
    (cue, *rest) = build_cues(words)
    assert cue.lines == ("And so, my fellow Americans,", "ask not what your country can do for you")
    assert all(len(line) <= MAX_LINE_CHARS for c in [cue, *rest] for line in c.lines)


def test_a_cue_never_passes_seven_seconds_even_for_slow_words() -> None:
    cues = build_cues([TimedWord("Sloooow", 0.0, 9.0), TimedWord("speech", 9.0, 9.5)])
    assert [(c.start, c.end) for c in cues] == [(0.0, 7.0), (9.0, 10.0)]


def test_segment_words_are_timed_in_proportion_to_their_length() -> None:
    words = segment_words([(0, 10.0, 14.0, "ab  abcdef ab"), (1, 14.0, 15.0, "")])
    assert [(w.text, round(w.start, 6), round(w.end, 6), w.segment) for w in words] == [
        ("ab", 10.0, 10.8, 0), ("abcdef", 10.8, 13.2, 0), ("ab", 13.2, 14.0, 0),
    ]


def test_webvtt_escapes_markup_and_srt_numbers_cues(tmp_path: Path) -> None:
    cues = build_cues([TimedWord("AT&T", 0.0, 0.5), TimedWord("<3", 0.5, 0.9), TimedWord("rocks.", 0.9, 3.0)])
    vtt = format_cues(cues, "vtt")
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:03.000\nAT&amp;T &lt;3 rocks.\n")
    assert format_cues(cues, "srt") == "1\n00:00:00,000 --> 00:00:03,000\nAT&T <3 rocks.\n\n"
    (tmp_path / "a.vtt").write_text(vtt, encoding="utf-8")
    assert read_with_parser(tmp_path / "a.vtt")[0].lines == ("AT&T <3 rocks.",)
    assert read_with_ffmpeg(tmp_path / "a.vtt")[0].lines == ("AT&T <3 rocks.",)


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_files_read_back_the_same_with_the_parser_and_with_ffmpeg(tmp_path: Path, fmt: str) -> None:
    words, silences = speech(42, count=300)
    words = [w for w in words if len(w.text) <= MAX_LINE_CHARS]
    cues = build_cues(words)
    path = tmp_path / f"speech.{fmt}"
    path.write_text(format_cues(cues, fmt), encoding="utf-8")
    transcript = " ".join(w.text for w in words)
    by_parser, by_ffmpeg = read_with_parser(path), read_with_ffmpeg(path)
    assert len(by_parser) == len(by_ffmpeg) == len(cues)
    for read in (by_parser, by_ffmpeg):
        assert_cue_rules(read, transcript, gaps=silences)
        assert [c.lines for c in read] == [c.lines for c in cues]
        assert [(round(c.start, 3), round(c.end, 3)) for c in read] == [(c.start, c.end) for c in cues]
