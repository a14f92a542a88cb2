"""AOPC, log-odds, comprehensiveness, sufficiency, SRG and bootstrap intervals on hand-made numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from onnxplain.evaluation.metrics import (
    PROBABILITY_FLOOR,
    aopc,
    bootstrap_estimate,
    bootstrap_indices,
    comprehensiveness,
    floored,
    log_odds,
    sufficiency,
    symmetric_relevance_gain,
)

P0 = np.array([0.8, 0.5])
DELETION = np.array(
    [
        [0.8, 0.6, 0.4, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1],
        [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],  # an explanation that changes nothing
    ]
)


def test_aopc_is_the_mean_probability_drop() -> None:
    # first text: drops 0, .2, .4, .6 and five times .7 -> 4.7 / 9
    assert aopc(P0, DELETION) == pytest.approx([4.7 / 9, 0.0])


def test_log_odds_is_the_mean_log_ratio() -> None:
    expected = (0 + math.log(0.75) + math.log(0.5) + math.log(0.25) + 5 * math.log(0.125)) / 9
    assert expected == pytest.approx(-1.418259, abs=1e-6)
    assert log_odds(P0, DELETION) == pytest.approx([expected, 0.0])


def test_log_odds_floors_a_zero_probability() -> None:
    curve = np.array([[0.0] * 9])
    value = log_odds(np.array([0.5]), curve)
    assert np.isfinite(value).all()
    assert value[0] == pytest.approx(math.log(PROBABILITY_FLOOR / 0.5))
    assert floored(curve) == 9
    assert floored(DELETION) == 0


def test_sufficiency_is_the_drop_when_only_top_tokens_are_kept() -> None:
    kept = np.array([[0.2, 0.4, 0.6, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]])
    assert sufficiency(np.array([0.8]), kept) == pytest.approx([(0.6 + 0.4 + 0.2) / 9])


def test_comprehensiveness_is_the_drop_without_the_top_tokens() -> None:
    without = np.array([[0.7, 0.6, 0.5, 0.3, 0.1], [0.5, 0.5, 0.6, 0.6, 0.5]])
    assert comprehensiveness(P0, without) == pytest.approx([(0.1 + 0.2 + 0.3 + 0.5 + 0.7) / 5, -0.2 / 5])


def test_srg_is_the_area_between_the_least_and_most_relevant_first_curves() -> None:
    least_first = np.array([[0.8, 0.8, 0.7, 0.7, 0.6, 0.5, 0.4, 0.2, 0.1], [0.5] * 9])
    gain = symmetric_relevance_gain(DELETION, least_first)
    assert gain == pytest.approx([(0.0 + 0.2 + 0.3 + 0.5 + 0.5 + 0.4 + 0.3 + 0.1 + 0.0) / 9, 0.0])
    # equal to MoRF's AOPC minus LeRF's
    assert gain == pytest.approx(aopc(P0, DELETION) - aopc(P0, least_first))


def test_bootstrap_of_a_constant_has_no_width() -> None:
    estimate = bootstrap_estimate(np.full(50, 0.3), bootstrap_indices(50, 200, seed=0))
    assert (estimate.mean, estimate.low, estimate.high) == pytest.approx((0.3, 0.3, 0.3))


def test_bootstrap_interval_matches_the_normal_approximation() -> None:
    values = np.random.default_rng(1).normal(loc=2.0, scale=1.0, size=2000)
    estimate = bootstrap_estimate(values, bootstrap_indices(len(values), 2000, seed=0))
    half_width = 1.96 * values.std() / math.sqrt(len(values))
    assert estimate.low < estimate.mean < estimate.high
    assert estimate.high - estimate.low == pytest.approx(2 * half_width, rel=0.1)
    assert (estimate.low + estimate.high) / 2 == pytest.approx(values.mean(), abs=0.2 * half_width)


def test_bootstrap_is_seeded() -> None:
    values = np.random.default_rng(2).random(30)
    first = bootstrap_estimate(values, bootstrap_indices(30, 100, seed=7))
    again = bootstrap_estimate(values, bootstrap_indices(30, 100, seed=7))
    other = bootstrap_estimate(values, bootstrap_indices(30, 100, seed=8))
    assert first == again
    assert first != other
