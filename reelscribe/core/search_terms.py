"""Words as search compares them: one definition for the search and the term index that serves it."""

from __future__ import annotations

import re
from functools import lru_cache

from reelscribe.core.errors import ConfigError

__all__ = ["normalise", "phrase_words"]

_EDGE_PUNCTUATION = re.compile(r"^[\W_]+|[\W_]+$")


@lru_cache(maxsize=1 << 16)
def normalise(word: str) -> str:
    """A word as matching compares it: lower case, punctuation at either end removed."""
    return _EDGE_PUNCTUATION.sub("", word).lower()


def phrase_words(phrase: str) -> list[str]:
    """The phrase's words as matched; ``ConfigError`` if it has none (only punctuation)."""
    words = [w for w in (normalise(p) for p in phrase.split()) if w]
    if not words:
        raise ConfigError(f"the phrase {phrase!r} has no words to search for (only punctuation or spaces)")
    return words
