"""Which texts to show side by side: those where the methods disagree most about the ranking of the tokens,
by Spearman rank correlation, plus a few drawn at random (seeded) so the page is not only the extremes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 of ``values``, ties sharing the mean of their ranks."""
    unique, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts
    return (first + (counts - 1) / 2.0)[inverse]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation; NaN when either ranking is constant."""
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / denominator) if denominator > 0 else float("nan")


def mean_rank_agreement(relevance: Mapping[str, np.ndarray], candidates: np.ndarray) -> float:
    """Mean Spearman correlation over every pair of methods, on one text's candidate (non-special) tokens."""
    pairs = [spearman(a[candidates], b[candidates]) for a, b in combinations(relevance.values(), 2)]
    finite = [p for p in pairs if np.isfinite(p)]
    return float(np.mean(finite)) if finite else float("nan")


def texts_to_show(
    agreement: Sequence[float], *, most_disagreeing: int, random_texts: int, seed: int
) -> tuple[list[int], list[int]]:
    """Indices of the ``most_disagreeing`` texts of lowest agreement, and of ``random_texts`` others drawn
    with ``seed`` (NaN agreement, e.g. one method only, counts as no disagreement)."""
    scores = np.nan_to_num(np.asarray(agreement, dtype=float), nan=np.inf)
    lowest = [int(i) for i in np.argsort(scores, kind="stable")[:most_disagreeing] if np.isfinite(scores[i])]
    rest = np.setdiff1d(np.arange(len(scores)), lowest)
    drawn = np.random.default_rng(seed).choice(rest, size=min(random_texts, len(rest)), replace=False)
    return lowest, sorted(int(i) for i in drawn)
