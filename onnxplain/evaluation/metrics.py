"""Faithfulness metrics over perturbation curves, and seeded bootstrap confidence intervals.

Every metric takes ``p0`` (``[examples]``, the gold-class probability of the unperturbed input) and a curve
``pk`` (``[examples, fractions]``, the gold-class probability after each perturbation step) and returns one
value per example; the reported figure is their mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Log-odds floors probabilities here before taking their logarithm, so that a probability of exactly 0
# gives a large finite value instead of -inf. The evaluation computes probabilities in float64 from the
# logits, where the floor is reached only when the gold class trails another by more than ~27.6 logits; the
# report counts how often that happens.
PROBABILITY_FLOOR = 1e-12


def aopc(p0: np.ndarray, pk: np.ndarray) -> np.ndarray:
    """Area over the perturbation curve of deletion: ``mean_k (p0 - p_k)``; higher is more faithful."""
    return np.mean(p0[:, None] - pk, axis=1)


def log_odds(p0: np.ndarray, pk: np.ndarray) -> np.ndarray:
    """Log-odds of deletion: ``mean_k log(p_k / p0)``; lower (more negative) is more faithful."""
    floor = PROBABILITY_FLOOR
    return np.mean(np.log(np.maximum(pk, floor)) - np.log(np.maximum(p0, floor))[:, None], axis=1)


def floored(p: np.ndarray) -> int:
    """How many probabilities in ``p`` lie below the log-odds floor."""
    return int(np.count_nonzero(p < PROBABILITY_FLOOR))


def sufficiency(p0: np.ndarray, pk_kept: np.ndarray) -> np.ndarray:
    """Probability lost when only the top tokens are kept: ``mean_k (p0 - p_k)`` over the keep-only curve;
    lower is more faithful (the top tokens alone nearly suffice for the prediction). ERASER's sufficiency
    (DeYoung et al. 2020) is this over its fractions 1, 5, 10, 20 and 50%."""
    return np.mean(p0[:, None] - pk_kept, axis=1)


def comprehensiveness(p0: np.ndarray, pk_without: np.ndarray) -> np.ndarray:
    """ERASER's comprehensiveness: ``mean_k (p0 - p_k)`` with the top tokens removed at each of its
    fractions; higher is more faithful (the prediction needs the tokens ranked on top)."""
    return np.mean(p0[:, None] - pk_without, axis=1)


def symmetric_relevance_gain(pk_most_first: np.ndarray, pk_least_first: np.ndarray) -> np.ndarray:
    """SRG (Bluecher et al. 2024): the area between the least- and the most-relevant-first curves,
    ``mean_k (p_k^LeRF - p_k^MoRF)``, equal to MoRF's AOPC minus LeRF's; higher is more faithful."""
    return np.mean(pk_least_first - pk_most_first, axis=1)


@dataclass(frozen=True)
class Estimate:
    """A mean with a bootstrap confidence interval."""

    mean: float
    low: float
    high: float

    def to_json(self) -> dict[str, float]:
        return {"mean": self.mean, "ci_low": self.low, "ci_high": self.high}


def bootstrap_indices(num_examples: int, resamples: int, seed: int) -> np.ndarray:
    """``[resamples, num_examples]`` example indices drawn with replacement. Use the same indices for every
    method so that differences between methods are paired."""
    return np.random.default_rng(seed).integers(0, num_examples, size=(resamples, num_examples))


def bootstrap_estimate(values: np.ndarray, indices: np.ndarray, level: float = 0.95) -> Estimate:
    """Mean of ``values`` and the percentile bootstrap interval of that mean over resamples ``indices``."""
    means = values[indices].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return Estimate(mean=float(values.mean()), low=float(low), high=float(high))
