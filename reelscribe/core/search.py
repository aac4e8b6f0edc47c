"""Phrase search over the lake: where, in which video and at what second, a phrase was said.

Matching is **phrase-exact on words**: the phrase's words must be consecutive words of the
transcript, compared in lower case with the punctuation around each word ignored (``Country,``
matches ``country``; an all-punctuation token such as ``—`` is skipped on both sides). Videos
with a ``words`` table are searched on their words (exact times); others on their segments'
text, split into words timed in proportion to their length (``subtitles.segment_words``). Words
run on across segment boundaries, so a phrase spanning two segments is found, at its first
word's time.

How it stays fast at 100,000 videos: on a compacted Delta lake, the term index
(``term_index``: each word said, with the next one, sorted by word pair) finds and counts the
hits in the data files it covers without reading any text; only the hits shown are read, from
their own data files. Data files it does not cover (landed since the last compaction, or a lake
without the index: per-video Parquet, older lakes) are scanned: DuckDB picks the words (or
segments) containing the phrase's longest word as a substring, a cheap scan that over-selects,
and the exact match runs on that handful here. Rows around them are fetched only where a match
can reach beyond: always for words, for a segment only when the longest word is among its first
or last words. Both give the same hits; within a video, index hits are ordered by position,
which is their order in time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from reelscribe.core.lake_sql import LakeReader
from reelscribe.core.search_terms import normalise, phrase_words
from reelscribe.core.subtitles import TimedWord, segment_words, word_start
from reelscribe.core.term_index import TERMS_TABLE

__all__ = ["Hit", "clock", "phrase_words", "search_lake"]

MARK_OPEN, MARK_CLOSE = "«", "»"
_LEADING_PUNCTUATION = re.compile(r"^[\W_]*")
_TRAILING_PUNCTUATION = re.compile(r"[\W_]*$")


@dataclass(frozen=True)
class Hit:
    """One place the phrase was said; ``marked`` is ``text`` with the phrase in ``«…»``."""

    index_id: str
    video_id: str
    source: str
    start: float
    end: float
    text: str
    marked: str
    sentence: str | None = None
    """The whole sentence said at the hit's start, where the lake has a ``sentences`` table for its video."""

    @property
    def link(self) -> str:
        """A media-fragment link (``<source>#t=83.2``) that players open at the hit."""
        return f"{self.source}#t={self.start:.1f}"

    @property
    def at(self) -> str:
        return clock(self.start)


def clock(seconds: float) -> str:
    """``hh:mm:ss.s``."""
    tenths = round(seconds * 10)
    hours, rest = divmod(tenths, 36_000)
    minutes, rest = divmod(rest, 600)
    return f"{hours:02d}:{minutes:02d}:{rest // 10:02d}.{rest % 10}"


def search_lake(reader: LakeReader, phrase: str, *, limit: int | None = None) -> tuple[list[Hit], int]:
    """The hits for ``phrase`` (by index, source and time) up to ``limit``, and how many there are,
    in the indexes ``reader`` reads (``LakeReader.only_index``)."""
    wanted = phrase_words(phrase)
    needle = max(wanted, key=len)
    reach = len(wanted) - 1
    # identity (video, segment, start) -> (video, start, the matched words: built only if shown)
    found: dict[tuple, tuple[tuple[str, str], float, Callable[[], list[TimedWord]] | _Indexed]] = {}
    texts: dict[tuple[str, str, int], tuple[float, float, str]] = {}

    def add(key: tuple[str, str], run: Sequence[TimedWord]) -> None:
        for match in _matches(run, wanted):
            found[(key, match[0].segment, match[0].start)] = (key, match[0].start, lambda m=match: m)

    if TERMS_TABLE in reader.tables:  # the data files the term index covers: no text read to count
        # Ordered within a video by position, which is the order of time (rows are in spoken order).
        for index_id, video_id, position, of_table, data_file, first, offset, last in reader.indexed_matches(
            wanted, without_words="words" in reader.tables
        ):
            key = (index_id, video_id)
            found[(key, "at", position)] = (key, position, _Indexed(of_table, data_file, first, offset, last))
    if "words" in reader.tables:
        for key, rows in _by_video(reader.word_windows(needle, reach)):
            for run in _consecutive([(r[2], TimedWord(r[5], r[3], r[4], r[6])) for r in rows]):
                add(key, run)
    # Segments: each one holding the needle alone first; its neighbours only where the phrase
    # could run over its edge (the needle among its first or last words). Words get times only
    # for the hits shown: counting and ordering need just the first word's start.
    edges = []
    at = [k for k, w in enumerate(wanted) if w == needle]
    for row in reader.segments_containing(needle, without_words="words" in reader.tables):
        pieces = row[5].split()
        norms = list(map(normalise, pieces))
        if needle not in norms:
            continue  # the needle only inside a longer word: no match can use this segment
        kept = [i for i, w in enumerate(norms) if w] if "" in norms else range(len(norms))
        words = [norms[i] for i in kept]
        key, segment = (row[0], row[1]), (row[2], row[3], row[4], row[5])
        texts[(row[0], row[1], row[2])] = (row[3], row[4], row[5])
        near_edge = False
        for p in (i for i, w in enumerate(words) if w == needle):
            for j in (p - k for k in at):
                if j < 0 or j + len(wanted) > len(words):
                    near_edge = True
                elif words[j : j + len(wanted)] == wanted:
                    first, last = kept[j], kept[j + len(wanted) - 1]
                    start = word_start(row[3], row[4], pieces, first)
                    found[(key, row[2], start)] = (key, start, lambda s=segment, f=first, l=last: segment_words([s])[f : l + 1])
        if near_edge:
            edges.append((row[0], row[1], row[2]))
    for key, rows in _by_video(reader.segment_windows(edges, reach)):
        for run in _consecutive([(r[2], r) for r in rows]):
            texts.update({(r[0], r[1], r[2]): (r[3], r[4], r[5]) for r in run})
            add(key, segment_words((r[2], r[3], r[4], r[5]) for r in run))
    hits = list(found.values())
    sources = reader.sources({key for key, _, _ in hits})
    hits.sort(key=lambda f: (f[0][0], sources.get(f[0], ""), f[0][1], f[1]))
    page = hits[:limit] if limit is not None else hits
    located = _locate(reader, [(key, words) for key, _, words in page if isinstance(words, _Indexed)], wanted, texts)
    shown = [(key, located[(key, words)] if isinstance(words, _Indexed) else words()) for key, _, words in page]
    return _with_sentences(reader, _hits(reader, shown, sources, texts)), len(hits)


def _with_sentences(reader: LakeReader, hits: list[Hit]) -> list[Hit]:
    """Each hit with the sentence it starts in, where the lake has its video's sentences."""
    found = reader.sentences_at([(h.index_id, h.video_id, h.start) for h in hits])
    return [
        replace(h, sentence=found[(h.index_id, h.video_id, h.start)][2]) if (h.index_id, h.video_id, h.start) in found else h
        for h in hits
    ]


@dataclass(frozen=True)
class _Indexed:
    """A match the term index found: its first word is word ``offset`` (empty ones not counted)
    of row ``first`` of the data file, its last in row ``last``; read only if shown."""

    of_table: str
    data_file: str
    first: int
    offset: int
    last: int


def _locate(
    reader: LakeReader,
    indexed: list[tuple[tuple[str, str], _Indexed]],
    wanted: list[str],
    texts: dict[tuple[str, str, int], tuple[float, float, str]],
) -> dict[tuple[tuple[str, str], _Indexed], list[TimedWord]]:
    """The matched words of index hits, from their rows only (segment texts read go to ``texts``)."""
    located = {}
    for table in ("segments", "words"):
        spans = [(key, hit) for key, hit in indexed if hit.of_table == table]
        rows = reader.indexed_rows(table, [(h.data_file, *key, h.first, h.last) for key, h in spans])
        by_video = dict(_by_video(rows))
        for key, hit in spans:
            run = [r for r in by_video.get(key, []) if hit.first <= r[2] <= hit.last]
            if table == "segments":
                texts.update({(r[0], r[1], r[2]): (r[3], r[4], r[5]) for r in run})
                words = [w for w in segment_words((r[2], r[3], r[4], r[5]) for r in run) if normalise(w.text)]
                first = hit.offset  # the first row's words lead the run
            else:
                words = [w for w in (TimedWord(r[5], r[3], r[4], r[6]) for r in run) if normalise(w.text)]
                first = 0
            located[(key, hit)] = words[first : first + len(wanted)]
    return located


def _by_video(rows: list[tuple]) -> Iterable[tuple[tuple[str, str], list[tuple]]]:
    group: list[tuple] = []
    for row in rows:
        if group and (row[0], row[1]) != (group[0][0], group[0][1]):
            yield (group[0][0], group[0][1]), group
            group = []
        group.append(row)
    if group:
        yield (group[0][0], group[0][1]), group


def _consecutive(items: list[tuple[int, object]]) -> list[list]:
    """Items split where their positions (word or segment ordinals) are not consecutive."""
    runs: list[list] = []
    last = None
    for position, item in items:
        if last is None or position != last + 1:
            runs.append([])
        runs[-1].append(item)
        last = position
    return runs


def _matches(run: Sequence[TimedWord], wanted: list[str]) -> list[list[TimedWord]]:
    kept = [w for w in run if normalise(w.text)]
    words = [normalise(w.text) for w in kept]
    n = len(wanted)
    return [kept[i : i + n] for i in range(len(words) - n + 1) if words[i : i + n] == wanted]


def _hits(
    reader: LakeReader,
    found: list[tuple[tuple[str, str], list[TimedWord]]],
    sources: dict[tuple[str, str], str],
    texts: dict[tuple[str, str, int], tuple[float, float, str]],
) -> list[Hit]:
    """Each match with the text of the segments it touches (read here if not yet), the phrase marked."""
    needed = {(k[0], k[1], w.segment) for k, match in found for w in match if w.segment is not None}
    texts = {**texts, **reader.segment_texts(sorted(needed - texts.keys()))}
    hits = []
    for (index_id, video_id), match in found:
        segments = sorted({w.segment for w in match if w.segment is not None})
        rows = [(s, *texts[(index_id, video_id, s)]) for s in segments if (index_id, video_id, s) in texts]
        text, marked = _marked(rows, match)
        hits.append(
            Hit(index_id, video_id, sources.get((index_id, video_id), ""), match[0].start, match[-1].end, text, marked)
        )
    return hits


def _marked(rows: list[tuple[int, float, float, str]], match: list[TimedWord]) -> tuple[str, str]:
    """The segments' text, and the same with the occurrence of the match nearest its time marked."""
    if not rows:
        text = " ".join(w.text for w in match)
        return text, f"{MARK_OPEN}{text}{MARK_CLOSE}"
    words = segment_words(rows)
    text = " ".join(w.text for w in words)
    wanted = [normalise(w.text) for w in match if normalise(w.text)]
    spans = [
        (i, j)
        for i in range(len(words))
        for j in [_span_end(words, i, wanted)]
        if j is not None
    ]
    if not spans:
        return text, text
    i, j = min(spans, key=lambda s: abs(words[s[0]].start - match[0].start))
    pieces = [w.text for w in words]
    lead = _LEADING_PUNCTUATION.match(pieces[i]).end()  # type: ignore[union-attr]
    pieces[i] = pieces[i][:lead] + MARK_OPEN + pieces[i][lead:]
    trail = _TRAILING_PUNCTUATION.search(pieces[j]).start()  # type: ignore[union-attr]
    pieces[j] = pieces[j][:trail] + MARK_CLOSE + pieces[j][trail:]
    return text, " ".join(pieces)


def _span_end(words: Sequence[TimedWord], i: int, wanted: list[str]) -> int | None:
    """The index of the last word of ``wanted`` matched from ``words[i]``, or ``None``."""
    if not normalise(words[i].text):
        return None
    k = 0
    for j in range(i, len(words)):
        word = normalise(words[j].text)
        if not word:
            continue
        if word != wanted[k]:
            return None
        k += 1
        if k == len(wanted):
            return j
    return None
