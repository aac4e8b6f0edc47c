"""The pure segmentation of stored transcripts into words, sentences and utterances."""

from __future__ import annotations

from reelscribe.server.segmentation import sentences, transcription_views, utterances, words


def _segment(start, end, text, word_times):
    values = text.split()
    return {
        "start": start,
        "end": end,
        "value": text,
        "words": [{"start": s, "end": e, "value": v} for (s, e), v in zip(word_times, values)],
    }


SEGMENTS = [
    _segment(0.0, 2.0, "Hello there. How are", [(0.0, 0.4), (0.4, 0.9), (1.0, 1.3), (1.3, 1.6), (1.6, 2.0)]),
    _segment(2.2, 3.0, "you? Fine", [(2.2, 2.5), (2.6, 3.0)]),
    _segment(5.0, 6.0, "Bye", [(5.0, 6.0)]),
]


def test_words_flatten_the_segments_in_order():
    assert [w["value"] for w in words(SEGMENTS)] == "Hello there. How are you? Fine Bye".split()


def test_sentences_end_at_sentence_punctuation_and_keep_the_remainder():
    result = sentences(words(SEGMENTS))
    assert [s["value"] for s in result] == ["Hello there.", "How are you?", "Fine Bye"]
    assert [(s["start"], s["end"]) for s in result] == [(0.0, 0.9), (1.0, 2.5), (2.6, 6.0)]


def test_quotes_after_the_full_stop_still_end_a_sentence():
    entries = [{"start": 0.0, "end": 1.0, "value": 'said "stop."'}, {"start": 1.0, "end": 2.0, "value": "Then"}]
    assert [s["value"] for s in sentences(entries)] == ['said "stop."', "Then"]


def test_utterances_split_at_pauses_of_a_second_or_more():
    result = utterances(SEGMENTS)
    assert [(u["start"], u["end"], u["speaker"]) for u in result] == [(0.0, 3.0, None), (5.0, 6.0, None)]
    assert result[0]["value"] == "Hello there. How are you? Fine"


def test_views_leave_out_what_the_transcript_cannot_give():
    without_words = [{key: value for key, value in s.items() if key != "words"} for s in SEGMENTS]
    assert set(transcription_views(without_words, ["words", "sentences", "utterances"])) == {"utterances"}
    assert transcription_views(None, ["words", "sentences", "utterances"]) == {"words": [], "sentences": [], "utterances": []}
    assert set(transcription_views(SEGMENTS, ["sentences"])) == {"sentences"}
