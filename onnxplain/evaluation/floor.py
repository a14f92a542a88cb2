"""The random ranking: the floor every method should clear on every metric.

Its relevance is uniform noise drawn per text from a generator seeded by the evaluation's seed and the text's
row in the data file, so a run is reproducible and does not depend on how texts are batched.
"""

from __future__ import annotations

import numpy as np

RANDOM = "random"


def random_relevance(length: int, seed: int, source_index: int) -> np.ndarray:
    """``[length]`` relevance in [0, 1) for the text at ``source_index``, the same on every run with ``seed``."""
    return np.random.default_rng([seed, source_index]).random(length)
