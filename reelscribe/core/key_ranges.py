"""Split an object-store listing into key ranges that can be listed at once, from the keys known.

A listing is paged by a continuation token, so its pages come one after another: the store
renders a page while the client waits, then the client parses it while the store waits. The
keys the last run listed (the seen-source state) say where to cut the key space into ranges of
about one page each; each range starts after its lower bound (``StartAfter``) and ends at its
last key, so all can be requested together and none reads a page past its end.

The ranges cover the whole key space whatever changed since: the first is open below, the last
open above, and a range whose keys grew pages on until it passes its last key. Pure: no I/O.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple, Sequence

PAGE_KEYS = 1000
"""The most keys S3 returns in one ``ListObjectsV2`` page."""


class KeyRange(NamedTuple):
    """Keys ``k`` with ``after < k <= last`` (``None``: unbounded on that side)."""

    after: str | None
    last: str | None
    expected: int
    """How many keys the last listing had in this range: its first page asks for no more."""

    def first_page_keys(self) -> int:
        """``MaxKeys`` of the first page: the expected count, so an unchanged range is one page and
        does not read into the next (the open-ended last range asks for a full page)."""
        if self.last is None:
            return PAGE_KEYS
        return max(1, min(PAGE_KEYS, self.expected))

    def take(self, page: Sequence[Mapping[str, object]], truncated: bool) -> tuple[list[Mapping[str, object]], bool]:
        """The entries of one page (sorted by ``Key``) inside this range, and whether to ask for
        another page: the store has more and this page did not reach the range's last key."""
        if self.last is None:
            return list(page), truncated
        inside = [entry for entry in page if str(entry["Key"]) <= self.last]
        return inside, truncated and len(inside) == len(page) and (not page or str(page[-1]["Key"]) < self.last)


def key_ranges(known: Sequence[str], per_range: int = PAGE_KEYS) -> list[KeyRange]:
    """Ranges of ``per_range`` known keys each (``known`` sorted); one open range when they fit in one."""
    if len(known) <= per_range:
        return [KeyRange(None, None, len(known))]
    lasts = list(known[per_range - 1 :: per_range])
    if lasts[-1] == known[-1]:
        lasts.pop()  # the open-ended last range takes the final keys
    bounds = [None, *lasts, None]
    counts = [per_range] * len(lasts) + [len(known) - per_range * len(lasts)]
    return [KeyRange(bounds[i], bounds[i + 1], counts[i]) for i in range(len(counts))]
