"""How strongly to colour a word: its relevance over the largest absolute word relevance of its text."""

from __future__ import annotations

from collections.abc import Sequence

from onnxplain.runtime.results import Explanation, Word


def intensities(words: Sequence[Word], scale_words: Sequence[Word] | None = None) -> list[float]:
    """Signed intensity in [-1, 1] for each word: its relevance over the largest absolute relevance among
    ``scale_words`` (default: ``words`` themselves)."""
    largest = max((abs(w.relevance) for w in (words if scale_words is None else scale_words)), default=0.0)
    if largest == 0.0:
        return [0.0 for _ in words]
    return [w.relevance / largest for w in words]


def word_intensities(result: Explanation) -> list[float]:
    """Signed intensity in [-1, 1] for each word (positive = supports the explained label)."""
    return intensities(result.words)


def strongest(words: Sequence[Word], count: int = 5) -> list[tuple[str, float]]:
    ranked = sorted(words, key=lambda w: abs(w.relevance), reverse=True)
    return [(w.text, w.relevance) for w in ranked[:count]]


def top_words(result: Explanation, count: int = 5) -> list[tuple[str, float]]:
    return strongest(result.words, count)
