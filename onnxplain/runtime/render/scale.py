"""How strongly to colour a word: its relevance over the largest absolute word relevance of its text."""

from __future__ import annotations

from onnxplain.runtime.results import Explanation


def word_intensities(result: Explanation) -> list[float]:
    """Signed intensity in [-1, 1] for each word (positive = supports the explained label)."""
    largest = max((abs(w.relevance) for w in result.words), default=0.0)
    if largest == 0.0:
        return [0.0 for _ in result.words]
    return [w.relevance / largest for w in result.words]


def top_words(result: Explanation, count: int = 5) -> list[tuple[str, float]]:
    ranked = sorted(result.words, key=lambda w: abs(w.relevance), reverse=True)
    return [(w.text, w.relevance) for w in ranked[:count]]
