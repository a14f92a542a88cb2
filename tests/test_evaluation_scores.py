"""Scores of hand-made curves: every metric per protocol, gains oriented so that positive is more faithful,
paired intervals, and the default reference (the best baseline, not one of the project's own methods)."""

from __future__ import annotations

import numpy as np
import pytest

from onnxplain.evaluation.faithfulness import Curves
from onnxplain.evaluation.scores import score_curves
from onnxplain.evaluation.summary import default_reference

P0 = np.array([0.9, 0.8, 0.7, 0.95])


def curves_of(drops: dict[str, float], noise: float = 0.0) -> Curves:
    """Curves of methods that each remove a constant share of the probability at every step (MoRF), keep it
    under LeRF in proportion, and do the same for ERASER; a larger share is a more faithful method."""
    rng = np.random.default_rng(0)
    steps: dict[str, dict[str, np.ndarray]] = {"pad": {}, "delete": {}, "lerf": {}}
    without: dict[str, dict[str, np.ndarray]] = {"pad": {}, "delete": {}}
    only: dict[str, dict[str, np.ndarray]] = {"pad": {}, "delete": {}}
    for name, drop in drops.items():
        jitter = 1 + noise * rng.normal(size=(len(P0), 1))
        morf = P0[:, None] * (1 - drop * jitter * np.ones((1, 9)))
        for protocol in ("pad", "delete"):
            steps[protocol][name] = morf
            without[protocol][name] = P0[:, None] * (1 - drop * np.ones((1, 5)))
            only[protocol][name] = P0[:, None] * (1 - (1 - drop) * np.ones((1, 5)))
        steps["lerf"][name] = P0[:, None] * (1 - (1 - drop) / 2 * np.ones((1, 9)))
    return Curves(p0=P0, steps=steps, comprehensiveness=without, sufficiency=only)


def test_gains_are_positive_for_the_more_faithful_method_on_every_metric() -> None:
    curves = curves_of({"good": 0.6, "poor": 0.2}, noise=0.05)
    scores = {s.name: s for s in score_curves(curves, reference="poor", resamples=200, seed=0)}
    good = scores["good"].protocols
    assert set(good) == {"pad", "delete", "lerf"}
    assert set(good["pad"].metrics) == {"aopc", "log_odds", "comprehensiveness", "sufficiency"}
    assert set(good["lerf"].metrics) == {"aopc", "srg"}
    for protocol in good.values():
        for metric in protocol.metrics.values():
            assert metric.gain is not None and metric.gain.low > 0  # better on higher- and lower-is-better alike
    assert all(m.gain is None for p in scores["poor"].protocols.values() for m in p.metrics.values())
    aopc = good["pad"].metrics["aopc"]
    assert aopc.gain.mean == pytest.approx(aopc.value.mean - scores["poor"].value("pad", "aopc").mean)
    lerf = good["lerf"].metrics
    assert lerf["srg"].value.mean == pytest.approx(good["pad"].metrics["aopc"].value.mean - lerf["aopc"].value.mean)
    assert good["pad"].probability == pytest.approx(curves.steps["pad"]["good"].mean(axis=0).tolist())


def test_paired_gain_is_narrower_than_the_unpaired_spread() -> None:
    curves = curves_of({"a": 0.5, "b": 0.45})
    scores = {s.name: s for s in score_curves(curves, reference="b", resamples=500, seed=1)}
    gain = scores["a"].protocols["pad"].metrics["aopc"].gain
    value = scores["a"].value("pad", "aopc")
    assert gain.high - gain.low < value.high - value.low  # texts vary more than the methods' difference
    assert gain.low > 0


def test_default_reference_is_the_best_baseline() -> None:
    curves = curves_of({"cp-lrp-lookahead": 0.7, "cp-lrp": 0.5, "attcat": 0.4, "random": 0.1})
    assert default_reference(curves, ["cp-lrp-lookahead", "cp-lrp", "attcat"]) == "cp-lrp"
    assert default_reference(curves, ["cp-lrp-lookahead"]) == "cp-lrp-lookahead"  # no baseline evaluated
    lerf_first = curves_of({"cp-lrp": 0.5, "attcat": 0.6})
    lerf_first.steps = {"lerf": lerf_first.steps["lerf"]}
    assert default_reference(lerf_first, ["cp-lrp", "attcat"]) == "attcat"  # lowest LeRF AOPC
