"""Rank correlation and the choice of texts for the comparison page."""

from __future__ import annotations

import numpy as np
import pytest

from onnxplain.evaluation.disagreement import average_ranks, mean_rank_agreement, spearman, texts_to_show


def test_average_ranks_share_ties() -> None:
    assert average_ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [2.5, 0.0, 2.5, 1.0]


def test_spearman() -> None:
    a = np.array([0.1, 0.5, 0.3, 0.9, 0.7])
    assert spearman(a, a * 10 + 1) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert spearman(a, np.array([1.0, 2.0, 3.0, 4.0, 5.0])) == pytest.approx(0.8)  # 1 - 6 * sum(d^2 = 4) / (5 * 24)
    assert np.isnan(spearman(a, np.ones(5)))


def test_mean_rank_agreement_ignores_special_tokens_and_constant_rankings() -> None:
    candidates = np.array([False, True, True, True, False])
    relevance = {
        "a": np.array([9.0, 1.0, 2.0, 3.0, -9.0]),
        "b": np.array([-5.0, 1.0, 2.0, 3.0, 7.0]),  # agrees with a on the candidates
        "flat": np.array([1.0, 0.0, 0.0, 0.0, 1.0]),
    }
    assert mean_rank_agreement(relevance, candidates) == pytest.approx(1.0)


def test_texts_to_show_takes_the_lowest_agreement_then_seeded_random_others() -> None:
    agreement = [0.9, -0.2, 0.5, float("nan"), 0.1, 0.8, 0.7]
    lowest, drawn = texts_to_show(agreement, most_disagreeing=2, random_texts=2, seed=0)
    assert lowest == [1, 4]
    assert len(drawn) == 2 and not set(drawn) & {1, 4}
    assert texts_to_show(agreement, most_disagreeing=2, random_texts=2, seed=0)[1] == drawn
    lowest, drawn = texts_to_show(agreement[:3], most_disagreeing=5, random_texts=5, seed=0)
    assert lowest == [1, 2, 0] and drawn == []
