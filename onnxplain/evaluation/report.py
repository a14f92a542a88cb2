"""Write an evaluation's results: ``results.md`` (tables), ``results.json`` (every figure) and
``curves.png`` (the probability-drop curves)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from onnxplain.evaluation.metrics import PROBABILITY_FLOOR, Estimate
from onnxplain.evaluation.perturbation import FRACTIONS
from onnxplain.evaluation.scores import VariantScores

REFERENCE = "mask-lrp"
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
    seconds: float
    forward_sequences: int  # distinct perturbed sequences run forward
    floored_probabilities: int  # probabilities raised to the log-odds floor
    methods: list[str]  # names of the method rows, in report order
    scores: list[VariantScores]
    heads_kept: dict[str, int] = field(default_factory=dict)  # head-masked variant -> heads kept

    def by_name(self) -> dict[str, VariantScores]:
        return {s.name: s for s in self.scores}

    def to_json(self) -> dict[str, object]:
        return {
            "artifact": self.artifact,
            "data": self.data,
            "texts_read": self.texts_read,
            "texts_evaluated": self.texts_evaluated,
            "skipped_shorter_than_min_tokens": self.skipped_short,
            "truncated_to_max_length": self.truncated,
            "min_tokens": self.min_tokens,
            "fractions": FRACTIONS.tolist(),
            "bootstrap_resamples": self.resamples,
            "confidence_level": 0.95,
            "seed": self.seed,
            "seconds": self.seconds,
            "forward_sequences": self.forward_sequences,
            "log_odds_probability_floor": PROBABILITY_FLOOR,
            "floored_probabilities": self.floored_probabilities,
            "methods": self.methods,
            "heads_kept": self.heads_kept,
            "variants": [s.to_json() for s in self.scores],
        }


def write_report(report: EvaluationReport, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "results.md", out / "results.json", out / "curves.png"]
    paths[0].write_text(markdown(report), encoding="utf-8")
    paths[1].write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    plot_curves(report, paths[2])
    return paths


def _estimate(value: Estimate, signed: bool = False) -> str:
    sign = "+" if signed else ""
    return f"{value.mean:{sign}.3f} [{value.low:{sign}.3f}, {value.high:{sign}.3f}]"


def _cells(scores: VariantScores) -> str:
    return f"{_estimate(scores.aopc)} | {_estimate(scores.log_odds)} | {_estimate(scores.sufficiency)}"


def _relative(advantage: Estimate, baseline: Estimate) -> str:
    if baseline.mean == 0:
        return ""
    return f" ({100 * advantage.mean / abs(baseline.mean):+.1f}%)"


def method_table(report: EvaluationReport) -> str:
    scores = report.by_name()
    has_reference = REFERENCE in scores
    header = "| method | AOPC ↑ | LOdds ↓ | sufficiency ↓ |"
    rule = "|---|---|---|---|"
    if has_reference:
        header += " Mask-LRP's AOPC advantage | Mask-LRP's LOdds advantage |"
        rule += "---|---|"
    rows = [header, rule]
    for name in report.methods:
        s = scores[name]
        row = f"| {name} | {_cells(s)} |"
        if has_reference:
            if s.aopc_advantage is None or s.log_odds_advantage is None:
                row += " — | — |"
            else:
                row += (
                    f" {_estimate(s.aopc_advantage, True)}{_relative(s.aopc_advantage, s.aopc)} |"
                    f" {_estimate(s.log_odds_advantage, True)}{_relative(s.log_odds_advantage, s.log_odds)} |"
                )
        rows.append(row)
    return "\n".join(rows)


def random_variants(report: EvaluationReport) -> list[VariantScores]:
    return [s for s in report.scores if s.name.startswith(f"{REFERENCE}:random-")]


def ablation_table(report: EvaluationReport) -> str:
    scores = report.by_name()
    rows = [
        "| Mask-LRP head mask | heads kept | AOPC ↑ | LOdds ↓ | sufficiency ↓ |",
        "|---|---|---|---|---|",
    ]
    labels = {
        REFERENCE: "calibrated (synt+pos, the artifact's default)",
        f"{REFERENCE}:syntactic": "syntactic heads only (synt)",
        f"{REFERENCE}:positional": "positional heads only (pos)",
        f"{REFERENCE}:all": "all heads (all)",
        TRANSATT: "all heads without step 4's factor 2 (= transatt)",
        f"{REFERENCE}:none": "no head",
    }
    for name, label in labels.items():
        if name in scores:
            s = scores[name]
            kept = report.heads_kept.get(name, "")
            rows.append(f"| {label} | {kept} | {_cells(s)} |")
    randoms = random_variants(report)
    for s in randoms:
        seed = s.name.rsplit("-", 1)[1]
        kept = report.heads_kept.get(s.name, "")
        rows.append(f"| random, seed {seed} | {kept} | {_cells(s)} |")
    if randoms:
        rows.append(
            f"| random, mean ± sd over {len(randoms)} seeds | {report.heads_kept.get(randoms[0].name, '')} | "
            f"{_spread([s.aopc.mean for s in randoms])} | {_spread([s.log_odds.mean for s in randoms])} | "
            f"{_spread([s.sufficiency.mean for s in randoms])} |"
        )
    return "\n".join(rows)


def _spread(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1) if len(values) > 1 else 0.0:.3f}"


def best_methods(report: EvaluationReport) -> tuple[str, str]:
    """The method rows with the highest AOPC and with the lowest log-odds."""
    scores = report.by_name()
    best_aopc = max(report.methods, key=lambda name: scores[name].aopc.mean)
    best_log_odds = min(report.methods, key=lambda name: scores[name].log_odds.mean)
    return best_aopc, best_log_odds


def markdown(report: EvaluationReport) -> str:
    best_aopc, best_log_odds = best_methods(report)
    lines = [
        "# Faithfulness evaluation",
        "",
        f"Artifact `{report.artifact}`, data `{report.data}`: {report.texts_evaluated} of "
        f"{report.texts_read} texts evaluated ({report.skipped_short} shorter than {report.min_tokens} "
        f"tokens skipped, {report.truncated} truncated to the model's maximum length). Each text explains "
        f"its gold label; the top {', '.join(f'{k:.0%}' for k in FRACTIONS[:3])} … 100% of its "
        "non-special tokens are replaced by the pad token. Intervals are 95% percentile bootstrap "
        f"intervals over {report.resamples} resamples of the texts (seed {report.seed}); an advantage is "
        "Mask-LRP's minus the method's AOPC, or the method's minus Mask-LRP's log-odds, on the same "
        "resamples (positive: Mask-LRP is more faithful; in brackets relative to the method's value).",
        "",
        method_table(report),
        "",
        f"Highest AOPC: **{best_aopc}**; lowest log-odds: **{best_log_odds}**.",
    ]
    if any(name.startswith(f"{REFERENCE}:") for name in report.by_name()):
        lines += ["", "## Head-mask ablation of Mask-LRP", "", ablation_table(report)]
    lines += [
        "",
        f"{report.forward_sequences} distinct perturbed sequences run forward; "
        f"{report.floored_probabilities} probabilities raised to the log-odds floor "
        f"of {PROBABILITY_FLOOR:g}; "
        f"{report.seconds:.0f} s in all.",
        "",
    ]
    return "\n".join(lines)


def plot_curves(report: EvaluationReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = report.by_name()
    ablations = [s for s in report.scores if s.name.startswith(f"{REFERENCE}:")]
    panels = 3 if ablations else 2
    figure, axes = plt.subplots(1, panels, figsize=(6 * panels, 5), squeeze=False)
    fractions = np.concatenate([[0.0], FRACTIONS])
    styles = ["-", "--", ":", "-."]
    for index, name in enumerate(report.methods):
        style = dict(linestyle=styles[index // 10 % len(styles)], linewidth=2.5 if name == REFERENCE else 1.2)
        axes[0, 0].plot(fractions, [0.0, *scores[name].probability_drop], label=name, **style)
        axes[0, 1].plot(FRACTIONS, scores[name].probability_drop_kept, label=name, **style)
    axes[0, 0].set_title("deletion: top tokens replaced (higher is better)")
    axes[0, 0].set_xlabel("fraction of tokens replaced, most relevant first")
    axes[0, 1].set_title("sufficiency: only the top tokens kept (lower is better)")
    axes[0, 1].set_xlabel("fraction of tokens kept, most relevant first")
    if ablations:
        for s in [scores[n] for n in (REFERENCE, TRANSATT) if n in scores] + ablations:
            random = ":random-" in s.name
            label = ("random masks" if s.name.endswith("-0") else None) if random else s.name
            axes[0, 2].plot(
                fractions,
                [0.0, *s.probability_drop],
                label=label,
                color="grey" if random else None,
                linewidth=0.8 if random else 1.5,
            )
        axes[0, 2].set_title("Mask-LRP head masks: deletion (higher is better)")
        axes[0, 2].set_xlabel("fraction of tokens replaced, most relevant first")
    for axis in axes[0]:
        axis.set_ylabel("mean drop of the gold-class probability")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle(f"{report.texts_evaluated} texts of {Path(report.data).name}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
