"""From perturbation curves to the reported figures: each variant's AOPC, log-odds and sufficiency with
bootstrap intervals, and the paired difference to a reference method (Mask-LRP) on the same resamples."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from onnxplain.evaluation.faithfulness import Curves
from onnxplain.evaluation.metrics import (
    Estimate,
    aopc,
    bootstrap_estimate,
    bootstrap_indices,
    log_odds,
    sufficiency,
)


@dataclass(frozen=True)
class VariantScores:
    name: str
    aopc: Estimate  # higher is better
    log_odds: Estimate  # lower is better
    sufficiency: Estimate  # lower is better
    # The reference's advantage over this variant (positive = the reference is more faithful): its AOPC
    # minus this AOPC, and this log-odds minus its log-odds. None for the reference itself.
    aopc_advantage: Estimate | None
    log_odds_advantage: Estimate | None
    probability_drop: list[float]  # mean p0 - p_k after deletion, per fraction
    probability_drop_kept: list[float]  # mean p0 - p_k when only the top tokens are kept, per fraction

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "aopc": self.aopc.to_json(),
            "log_odds": self.log_odds.to_json(),
            "sufficiency": self.sufficiency.to_json(),
            "reference_aopc_advantage": _optional(self.aopc_advantage),
            "reference_log_odds_advantage": _optional(self.log_odds_advantage),
            "probability_drop": self.probability_drop,
            "probability_drop_kept": self.probability_drop_kept,
        }


def _optional(estimate: Estimate | None) -> dict[str, float] | None:
    return None if estimate is None else estimate.to_json()


def score_curves(curves: Curves, *, reference: str | None, resamples: int, seed: int) -> list[VariantScores]:
    """Scores of every variant in ``curves`` (in its order); intervals are over the same resamples."""
    indices = bootstrap_indices(len(curves.p0), resamples, seed)
    per_example = {
        name: (aopc(curves.p0, curves.deletion[name]), log_odds(curves.p0, curves.deletion[name]))
        for name in curves.deletion
    }
    scores = []
    for name, (aopc_values, log_odds_values) in per_example.items():
        aopc_advantage = log_odds_advantage = None
        if reference is not None and reference in per_example and name != reference:
            reference_aopc, reference_log_odds = per_example[reference]
            aopc_advantage = bootstrap_estimate(reference_aopc - aopc_values, indices)
            log_odds_advantage = bootstrap_estimate(log_odds_values - reference_log_odds, indices)
        scores.append(
            VariantScores(
                name=name,
                aopc=bootstrap_estimate(aopc_values, indices),
                log_odds=bootstrap_estimate(log_odds_values, indices),
                sufficiency=bootstrap_estimate(sufficiency(curves.p0, curves.sufficiency[name]), indices),
                aopc_advantage=aopc_advantage,
                log_odds_advantage=log_odds_advantage,
                probability_drop=np.mean(curves.p0[:, None] - curves.deletion[name], axis=0).tolist(),
                probability_drop_kept=np.mean(curves.p0[:, None] - curves.sufficiency[name], axis=0).tolist(),
            )
        )
    return scores
