"""From an evaluation's curves to its files: choose the reference, score every variant, and write
``results.md``, ``results.json``, ``curves.png``, ``results.html`` and ``curves.npz``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from onnxplain.evaluation.disagreement import mean_rank_agreement, texts_to_show
from onnxplain.evaluation.encoding import EncodedTexts
from onnxplain.evaluation.faithfulness import Curves
from onnxplain.evaluation.floor import RANDOM
from onnxplain.evaluation.metrics import floored
from onnxplain.evaluation.page import ShownText, comparison_page
from onnxplain.evaluation.report import EvaluationReport, write_report
from onnxplain.evaluation.scores import best_variant, score_curves

# Methods this project introduced (issue 9, beyond the paper); every other method is a published one, a
# baseline, and the default reference is the best of those.
PROJECT_METHODS = frozenset({"cp-lrp-pad", "cp-lrp-lookahead"})


@dataclass(frozen=True)
class Run:
    """What was evaluated and how: the facts the report states beside the scores."""

    artifact: str
    data: str
    texts_read: int
    min_tokens: int
    resamples: int
    seed: int
    methods: list[str]
    reference: str | None  # None: the best baseline
    heads_kept: dict[str, int]
    notes: list[str]
    page_texts: int
    page_random_texts: int


def default_reference(curves: Curves, methods: Sequence[str]) -> str | None:
    """The best baseline on the first protocol's first metric; the best method when all are the project's."""
    baselines = [m for m in methods if m not in PROJECT_METHODS]
    return best_variant(curves, baselines or list(methods))


def build_report(run: Run, encoded: EncodedTexts, curves: Curves, seconds: float) -> EvaluationReport:
    reference = run.reference or default_reference(curves, run.methods)
    scores = score_curves(curves, reference=reference, resamples=run.resamples, seed=run.seed)
    all_curves = [c for group in (curves.steps, curves.comprehensiveness, curves.sufficiency) for c in group.values()]
    floored_count = floored(curves.p0) + sum(floored(c) for by_variant in all_curves for c in by_variant.values())
    return EvaluationReport(
        artifact=run.artifact,
        data=run.data,
        texts_read=run.texts_read,
        texts_evaluated=len(encoded.texts),
        skipped_short=encoded.skipped_short,
        truncated=encoded.truncated,
        min_tokens=run.min_tokens,
        resamples=run.resamples,
        seed=run.seed,
        seconds=seconds,
        explain_seconds=curves.explain_seconds,
        forward_seconds=curves.forward_seconds,
        cpu_seconds=curves.cpu_seconds,
        forward_sequences=curves.forward_sequences,
        forward_tokens=curves.forward_tokens,
        floored_probabilities=floored_count,
        p0_mean=float(curves.p0.mean()),
        model_sha256=curves.model_sha256,
        protocols=list(curves.steps),
        methods=[*run.methods, RANDOM],
        reference=reference,
        scores=scores,
        heads_kept=run.heads_kept,
        notes=run.notes,
    )


def shown_texts(curves: Curves, encoded: EncodedTexts, run: Run) -> tuple[list[float], list[ShownText]]:
    """Each text's mean rank agreement between the methods, and the texts the page shows."""
    agreement = [
        mean_rank_agreement({m: curves.relevance[m][i] for m in run.methods}, ~text.special_tokens)
        for i, text in enumerate(encoded.texts)
    ]
    lowest, drawn = texts_to_show(
        agreement, most_disagreeing=run.page_texts, random_texts=run.page_random_texts, seed=run.seed
    )
    shown = [ShownText(i, f"{rank + 1}. most disagreement") for rank, i in enumerate(lowest)]
    shown += [ShownText(i, "drawn at random") for i in drawn]
    return agreement, shown


def write_evaluation(
    out: Path,
    run: Run,
    encoded: EncodedTexts,
    curves: Curves,
    labels: dict[int, str],
    seconds: float,
    descriptions: dict[str, str] | None = None,
) -> list[Path]:
    """Every output file of an evaluation; the first is ``results.md``; ``descriptions`` (each method's line)
    go on the page."""
    report = build_report(run, encoded, curves, seconds)
    paths = write_report(report, out)
    agreement, shown = shown_texts(curves, encoded, run)
    page = comparison_page(
        report,
        encoded.texts,
        {m: curves.relevance[m] for m in run.methods},
        curves.p0,
        agreement,
        shown,
        labels,
        descriptions,
    )
    paths.append(out / "results.html")
    paths[-1].write_text(page, encoding="utf-8")
    paths.append(out / "curves.npz")
    curves.save(paths[-1])
    return paths
