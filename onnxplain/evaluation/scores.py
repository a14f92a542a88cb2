"""From perturbation curves to the reported figures: per protocol, each variant's metrics with bootstrap
intervals, and the paired gain of each variant over a reference on the same resamples.

Most-relevant-first protocols (pad, mask, delete) report AOPC and log-odds of their curve and ERASER's
comprehensiveness and sufficiency with their operator; ``lerf`` reports its AOPC (lower is better) and,
when ``pad`` (the same operator, most relevant first) was evaluated too, SRG. A gain is oriented so that
positive means the variant is more faithful than the reference: its value minus the reference's for a
metric where higher is better, the reference's minus its value where lower is better.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from onnxplain.evaluation.faithfulness import Curves
from onnxplain.evaluation.metrics import (
    Estimate,
    aopc,
    bootstrap_estimate,
    bootstrap_indices,
    comprehensiveness,
    log_odds,
    sufficiency,
    symmetric_relevance_gain,
)
from onnxplain.evaluation.protocols import LERF, PAD, PROTOCOLS


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    higher_is_better: bool
    relative: bool = True  # gains also as a share of the reference's value (not for values near 0)

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"


AOPC = Metric("aopc", "AOPC", True)
LOG_ODDS = Metric("log_odds", "LOdds", False)
COMPREHENSIVENESS = Metric("comprehensiveness", "comprehensiveness", True)
SUFFICIENCY = Metric("sufficiency", "sufficiency", False, relative=False)
LERF_AOPC = Metric("aopc", "AOPC", False, relative=False)
SRG = Metric("srg", "SRG", True)


def protocol_metrics(protocol: str, protocols: Sequence[str]) -> list[Metric]:
    """The metrics reported for ``protocol`` when ``protocols`` were evaluated."""
    if protocol == LERF:
        return [LERF_AOPC, SRG] if PAD in protocols else [LERF_AOPC]
    return [AOPC, LOG_ODDS, COMPREHENSIVENESS, SUFFICIENCY]


def headline_metrics(protocols: Sequence[str]) -> list[tuple[str, Metric]]:
    """The metric that ranks methods under each protocol (its first), and SRG: the rank table's columns."""
    return [
        (protocol, metric)
        for protocol in protocols
        for index, metric in enumerate(protocol_metrics(protocol, protocols))
        if index == 0 or metric == SRG
    ]


@dataclass(frozen=True)
class MetricScore:
    value: Estimate
    gain: Estimate | None  # over the reference (positive: this variant is more faithful); None for it

    def to_json(self) -> dict[str, object]:
        return {**self.value.to_json(), "gain": None if self.gain is None else self.gain.to_json()}


@dataclass(frozen=True)
class ProtocolScores:
    metrics: dict[str, MetricScore]
    probability: list[float]  # mean gold-class probability after each step, FRACTIONS order

    def to_json(self) -> dict[str, object]:
        return {**{name: score.to_json() for name, score in self.metrics.items()}, "probability": self.probability}


@dataclass(frozen=True)
class VariantScores:
    name: str
    protocols: dict[str, ProtocolScores]

    def value(self, protocol: str, metric: str) -> Estimate:
        return self.protocols[protocol].metrics[metric].value

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "protocols": {name: s.to_json() for name, s in self.protocols.items()}}


def per_text_values(curves: Curves) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """``values[protocol][variant][metric]``: every metric's value on every text."""
    protocols = list(curves.steps)
    values: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for protocol in protocols:
        operator = PROTOCOLS[protocol].operator
        values[protocol] = {}
        for name, curve in curves.steps[protocol].items():
            if protocol == LERF:
                entry = {LERF_AOPC.name: aopc(curves.p0, curve)}
                if PAD in curves.steps:
                    entry[SRG.name] = symmetric_relevance_gain(curves.steps[PAD][name], curve)
            else:
                entry = {
                    AOPC.name: aopc(curves.p0, curve),
                    LOG_ODDS.name: log_odds(curves.p0, curve),
                    COMPREHENSIVENESS.name: comprehensiveness(curves.p0, curves.comprehensiveness[operator][name]),
                    SUFFICIENCY.name: sufficiency(curves.p0, curves.sufficiency[operator][name]),
                }
            values[protocol][name] = entry
    return values


def best_variant(curves: Curves, candidates: Sequence[str]) -> str | None:
    """The candidate with the best mean of the first protocol's first metric (pad: the highest AOPC)."""
    if not candidates or not curves.steps:
        return None
    protocol = next(iter(curves.steps))
    metric = protocol_metrics(protocol, list(curves.steps))[0]
    values = per_text_values(curves)[protocol]
    means = {name: float(values[name][metric.name].mean()) for name in candidates}
    return max(means, key=means.get) if metric.higher_is_better else min(means, key=means.get)  # type: ignore[arg-type]


def score_curves(curves: Curves, *, reference: str | None, resamples: int, seed: int) -> list[VariantScores]:
    """Scores of every variant in ``curves`` (in its order); every interval and gain uses the same resamples
    of the texts, so gains are paired."""
    indices = bootstrap_indices(len(curves.p0), resamples, seed)
    values = per_text_values(curves)
    protocols = list(curves.steps)
    scores = []
    for name in curves.variants():
        by_protocol = {}
        for protocol in protocols:
            metrics = {}
            for metric in protocol_metrics(protocol, protocols):
                own = values[protocol][name][metric.name]
                gain = None
                if reference is not None and reference != name and reference in values[protocol]:
                    difference = own - values[protocol][reference][metric.name]
                    gain = bootstrap_estimate(difference if metric.higher_is_better else -difference, indices)
                metrics[metric.name] = MetricScore(bootstrap_estimate(own, indices), gain)
            probability = curves.steps[protocol][name].mean(axis=0).tolist()
            by_protocol[protocol] = ProtocolScores(metrics, probability)
        scores.append(VariantScores(name, by_protocol))
    return scores
