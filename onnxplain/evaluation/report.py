"""Write an evaluation's results: ``results.md`` (tables), ``results.json`` (every figure), ``curves.png``
(the mean gold-class probability after each step, one panel per protocol) and ``results.html`` (the
comparison page, ``page``)."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from onnxplain.evaluation.ablation import MASKED_METHOD
from onnxplain.evaluation.floor import RANDOM
from onnxplain.evaluation.metrics import PROBABILITY_FLOOR, Estimate
from onnxplain.evaluation.perturbation import ERASER_FRACTIONS, FRACTIONS
from onnxplain.evaluation.protocols import PROTOCOLS
from onnxplain.evaluation.scores import Metric, VariantScores, headline_metrics, protocol_metrics

TRANSATT = "transatt"


@dataclass
class EvaluationReport:
    artifact: str
    data: str
    texts_read: int
    texts_evaluated: int
    skipped_short: int
    truncated: int
    min_tokens: int
    resamples: int
    seed: int
    seconds: float  # the whole command, loading included
    explain_seconds: float
    forward_seconds: float
    cpu_seconds: float  # processor time of explaining and forward calls, all threads together
    forward_sequences: int  # distinct perturbed sequences run forward
    forward_tokens: int  # their tokens, padding included
    floored_probabilities: int  # probabilities raised to the log-odds floor
    p0_mean: float  # mean gold-class probability of the unperturbed texts
    protocols: list[str]
    methods: list[str]  # names of the method rows, in report order (the random floor last)
    reference: str | None
    scores: list[VariantScores]
    heads_kept: dict[str, int] = field(default_factory=dict)  # head-masked variant -> heads kept
    notes: list[str] = field(default_factory=list)
    model_sha256: str | None = None  # the artifact's model.onnx the curves were computed with

    def by_name(self) -> dict[str, VariantScores]:
        return {s.name: s for s in self.scores}

    @property
    def texts_per_second(self) -> float:
        return self.texts_evaluated / max(self.explain_seconds + self.forward_seconds, 1e-9)

    def to_json(self) -> dict[str, object]:
        return {
            "artifact": self.artifact,
            "model_sha256": self.model_sha256,
            "data": self.data,
            "texts_read": self.texts_read,
            "texts_evaluated": self.texts_evaluated,
            "skipped_shorter_than_min_tokens": self.skipped_short,
            "truncated_to_max_length": self.truncated,
            "min_tokens": self.min_tokens,
            "protocols": {name: PROTOCOLS[name].description for name in self.protocols},
            "fractions": FRACTIONS.tolist(),
            "eraser_fractions": ERASER_FRACTIONS.tolist(),
            "bootstrap_resamples": self.resamples,
            "confidence_level": 0.95,
            "seed": self.seed,
            "reference": self.reference,
            "seconds": self.seconds,
            "explain_seconds": self.explain_seconds,
            "forward_seconds": self.forward_seconds,
            "cpu_seconds": self.cpu_seconds,
            "texts_per_second": self.texts_per_second,
            "forward_sequences": self.forward_sequences,
            "forward_tokens": self.forward_tokens,
            "log_odds_probability_floor": PROBABILITY_FLOOR,
            "floored_probabilities": self.floored_probabilities,
            "mean_unperturbed_probability": self.p0_mean,
            "methods": self.methods,
            "heads_kept": self.heads_kept,
            "notes": self.notes,
            "variants": [s.to_json() for s in self.scores],
        }


def write_report(report: EvaluationReport, out: Path) -> list[Path]:
    """``results.md``, ``results.json`` and, where matplotlib is installed (the ``plots`` extra), ``curves.png``
    (the comparison page draws the same curves without it)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "results.md", out / "results.json"]
    paths[0].write_text(markdown(report), encoding="utf-8")
    paths[1].write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    if importlib.util.find_spec("matplotlib") is not None:
        paths.append(out / "curves.png")
        plot_curves(report, paths[-1])
    return paths


def interval(value: Estimate, signed: bool = False) -> str:
    sign = "+" if signed else ""
    return f"{value.mean:{sign}.3f} [{value.low:{sign}.3f}, {value.high:{sign}.3f}]"


def gain_text(gain: Estimate | None, reference_value: Estimate | None) -> str:
    if gain is None:
        return "—"
    relative = ""
    if reference_value is not None and reference_value.mean != 0:
        relative = f" ({100 * gain.mean / abs(reference_value.mean):+.1f}%)"
    return interval(gain, signed=True) + relative


def metric_header(metric: Metric) -> str:
    return f"{metric.label} {metric.arrow}"


def protocol_table(report: EvaluationReport, protocol: str, names: list[str]) -> str:
    """One row per variant: each metric of ``protocol`` with its interval and its gain over the reference."""
    metrics = protocol_metrics(protocol, report.protocols)
    scores = report.by_name()
    reference = scores.get(report.reference) if report.reference else None
    header = "| method | " + " | ".join(f"{metric_header(m)} | gain" for m in metrics) + " |"
    rows = [header, "|---|" + "---|---|" * len(metrics)]
    for name in names:
        protocol_scores = scores[name].protocols[protocol]
        cells = []
        for metric in metrics:
            score = protocol_scores.metrics[metric.name]
            reference_value = reference.value(protocol, metric.name) if reference and metric.relative else None
            cells += [interval(score.value), gain_text(score.gain, reference_value)]
        label = f"**{name}** (reference)" if name == report.reference else name
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def rank_table(report: EvaluationReport) -> str:
    """Each method's rank (1 = most faithful) on the first metric of every protocol, and on SRG."""
    scores = report.by_name()
    columns = headline_metrics(report.protocols)
    ranks: dict[tuple[str, str], dict[str, int]] = {}
    for protocol, metric in columns:
        means = {n: scores[n].value(protocol, metric.name).mean for n in report.methods}
        ordered = sorted(means, key=lambda n: -means[n] if metric.higher_is_better else means[n])
        ranks[(protocol, metric.name)] = {n: i + 1 for i, n in enumerate(ordered)}
    header = "| method | " + " | ".join(f"{p} {m.label} {m.arrow}" for p, m in columns) + " |"
    rows = [header, "|---|" + "---|" * len(columns)]
    for name in report.methods:
        cells = [f"{ranks[(p, m.name)][name]} ({scores[name].value(p, m.name).mean:.3f})" for p, m in columns]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def ablation_names(report: EvaluationReport) -> list[str]:
    return [s.name for s in report.scores if s.name.startswith(f"{MASKED_METHOD}:")]


def ablation_table(report: EvaluationReport) -> str:
    """Mask-LRP under every head mask: the first metric of every protocol (and SRG), with intervals."""
    scores = report.by_name()
    labels = {
        MASKED_METHOD: "calibrated (the artifact's default)",
        f"{MASKED_METHOD}:syntactic": "syntactic heads only",
        f"{MASKED_METHOD}:positional": "positional heads only",
        f"{MASKED_METHOD}:all": "all heads",
        TRANSATT: "all heads without step 4's factor 2 (= transatt)",
        f"{MASKED_METHOD}:none": "no head",
    }
    rows_of = [n for n in labels if n in scores] + [n for n in ablation_names(report) if ":random-" in n]
    columns = headline_metrics(report.protocols)
    header = "| Mask-LRP head mask | heads kept | " + " | ".join(f"{p} {m.label} {m.arrow}" for p, m in columns) + " |"
    rows = [header, "|---|---|" + "---|" * len(columns)]
    for name in rows_of:
        label = labels.get(name) or f"random, seed {name.rsplit('-', 1)[1]}"
        cells = [interval(scores[name].value(p, m.name)) for p, m in columns]
        rows.append(f"| {label} | {report.heads_kept.get(name, '')} | " + " | ".join(cells) + " |")
    randoms = [n for n in rows_of if ":random-" in n]
    if len(randoms) > 1:
        cells = []
        for p, m in columns:
            means = [scores[n].value(p, m.name).mean for n in randoms]
            cells.append(f"{np.mean(means):.3f} ± {np.std(means, ddof=1):.3f}")
        kept = report.heads_kept.get(randoms[0], "")
        rows.append(f"| random masks, mean ± sd over {len(randoms)} | {kept} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def timing_line(report: EvaluationReport) -> str:
    return (
        f"{report.texts_evaluated} texts × {len(report.methods)} rankings (random floor included) × "
        f"{len(report.protocols)} protocols: explaining {report.explain_seconds:.0f} s, "
        f"{report.forward_sequences:,} distinct perturbed sequences ({report.forward_tokens:,} tokens with "
        f"padding) forward in {report.forward_seconds:.0f} s; {report.texts_per_second:.2f} texts/s; "
        f"{report.seconds:.0f} s in all ({report.cpu_seconds:.0f} s of processor time, all threads)."
        f" {report.floored_probabilities} probabilities raised to the log-odds "
        f"floor of {PROBABILITY_FLOOR:g}."
    )


def markdown(report: EvaluationReport) -> str:
    protocol_list = "; ".join(f"`{p}`: {PROTOCOLS[p].description}" for p in report.protocols)
    reference = f"`{report.reference}`" if report.reference else "none"
    lines = [
        "# Faithfulness evaluation",
        "",
        f"Artifact `{report.artifact}`, data `{report.data}`: {report.texts_evaluated} of "
        f"{report.texts_read} texts evaluated ({report.skipped_short} shorter than {report.min_tokens} "
        f"tokens skipped, {report.truncated} truncated to the model's maximum length). Each text explains "
        f"its gold label. Protocols ({protocol_list}) take the top 1/9, 2/9 … 100% of the non-special "
        "tokens; ERASER's comprehensiveness (without the top tokens) and sufficiency (with only them) take "
        f"{', '.join(f'{k:.0%}' for k in ERASER_FRACTIONS)} (rounded up) with the protocol's operator. "
        f"`{RANDOM}` ranks the tokens at random (seed {report.seed}): the floor. Intervals are 95% "
        f"percentile bootstrap intervals over {report.resamples} resamples of the texts (seed "
        f"{report.seed}); a gain is the method's paired difference to the reference ({reference}) on the "
        "same resamples, positive when the method is more faithful (in brackets: relative to the "
        "reference's value).",
        "",
        *[line for note in report.notes for line in (f"Note: {note}.", "")],
        "## Rank of each method per protocol",
        "",
        "1 = most faithful; in brackets the mean.",
        "",
        rank_table(report),
    ]
    for protocol in report.protocols:
        lines += ["", f"## `{protocol}`: {PROTOCOLS[protocol].description}", ""]
        lines.append(protocol_table(report, protocol, report.methods))
    if ablation_names(report):
        lines += ["", "## Head-mask ablation of Mask-LRP", "", ablation_table(report)]
    lines += ["", timing_line(report), ""]
    return "\n".join(lines)


def plot_curves(report: EvaluationReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = report.by_name()
    panels = len(report.protocols)
    figure, axes = plt.subplots(1, panels, figsize=(5 * panels, 4.5), squeeze=False)
    fractions = np.concatenate([[0.0], FRACTIONS])
    styles = ["-", "--", ":", "-."]
    for axis, protocol in zip(axes[0], report.protocols, strict=True):
        for index, name in enumerate(report.methods):
            probability = scores[name].protocols[protocol].probability
            style = dict(linestyle=styles[index // 10 % len(styles)], linewidth=1.2)
            if name == RANDOM:
                style = dict(color="grey", linestyle=":", linewidth=1.5)
            axis.plot(fractions, [report.p0_mean, *probability], label=name, **style)
        better = "higher" if not PROTOCOLS[protocol].most_relevant_first else "lower"
        axis.set_title(f"{protocol}: {PROTOCOLS[protocol].description}\n({better} is better)", fontsize=9)
        axis.set_xlabel("fraction of tokens affected")
        axis.set_ylabel("mean gold-class probability")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=6)
    figure.suptitle(f"{report.texts_evaluated} texts of {Path(report.data).name}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
