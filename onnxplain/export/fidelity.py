"""How faithfully a reduced-precision artifact (int8, fp16) reproduces its fp32 original, on held-out texts.

Per method, with the gold label explained by both artifacts: the Spearman rank correlation of each text's
token relevance (non-special tokens; median and 5th percentile over texts), the overlap of the five most
relevant tokens (mean share), the share of texts whose predicted class agrees, and AOPC (SPEC section 4: each
artifact's relevance perturbed through its own model) with its difference relative to fp32's. A method is
recommended at the reduced precision when its AOPC is within ``AOPC_TOLERANCE`` of fp32's and its median
Spearman correlation is at least ``MIN_MEDIAN_SPEARMAN``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from onnxplain.evaluation.encoding import EncodedText
from onnxplain.evaluation.faithfulness import pad_batch
from onnxplain.evaluation.metrics import aopc
from onnxplain.evaluation.perturbation import deletion_copies, removal_order

if TYPE_CHECKING:
    from onnxplain.runtime import Explainer

AOPC_TOLERANCE = 0.02  # relative to fp32's AOPC (issue 18)
MIN_MEDIAN_SPEARMAN = 0.9
TOP_TOKENS = 5


@dataclass(frozen=True)
class MethodFidelity:
    spearman_median: float
    spearman_p5: float
    top5_overlap: float
    prediction_agreement: float
    aopc: float
    aopc_fp32: float
    aopc_relative_difference: float
    recommended: bool

    def to_json(self) -> dict[str, float | bool]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties); 1 where both are constant, 0 where one is."""
    ranks_a, ranks_b = average_ranks(a), average_ranks(b)
    spread_a, spread_b = ranks_a.std(), ranks_b.std()
    if spread_a == 0 or spread_b == 0:
        return 1.0 if spread_a == spread_b else 0.0
    return float(np.mean((ranks_a - ranks_a.mean()) * (ranks_b - ranks_b.mean())) / (spread_a * spread_b))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """0-based ranks, tied values sharing the mean of their ranks."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts
    return (first + (counts - 1) / 2.0)[inverse]


def top_overlap(a: np.ndarray, b: np.ndarray, k: int = TOP_TOKENS) -> float:
    k = min(k, len(a))
    if k == 0:
        return 1.0
    top_a = set(np.argsort(-a, kind="stable")[:k].tolist())
    top_b = set(np.argsort(-b, kind="stable")[:k].tolist())
    return len(top_a & top_b) / k


def relevance_and_logits(
    explainer: Explainer, texts: Sequence[EncodedText], method: str, batch_size: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """Each text's relevance for its gold label (unpadded) and the logits, in batches."""
    relevance: list[np.ndarray] = []
    logits = []
    for start in range(0, len(texts), batch_size):
        batch = texts[start : start + batch_size]
        input_ids, attention_mask = pad_batch([t.input_ids for t in batch], explainer.manifest.pad_token_id)
        target = np.asarray([t.label for t in batch], dtype=np.int64)
        outputs = explainer.run(input_ids, attention_mask, methods=(method,), target=target)
        relevance += [outputs[method][row, : len(t.input_ids)] for row, t in enumerate(batch)]
        logits.append(outputs["logits"])
    return relevance, np.concatenate(logits)


def gold_probabilities(explainer: Explainer, sequences: Sequence[np.ndarray], batch_size: int) -> np.ndarray:
    """``[sequences, labels]`` class probabilities from forward-only calls (length-sorted batches)."""
    order = np.argsort([len(s) for s in sequences], kind="stable")
    result = np.empty((len(sequences), len(explainer.manifest.labels)))
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        input_ids, attention_mask = pad_batch([sequences[i] for i in chunk], explainer.manifest.pad_token_id)
        logits = explainer.run(input_ids, attention_mask, methods=())["logits"].astype(np.float64)
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        result[chunk] = shifted / shifted.sum(axis=-1, keepdims=True)
    return result


def deletion_aopc(
    explainer: Explainer, texts: Sequence[EncodedText], relevance: Sequence[np.ndarray], batch_size: int = 64
) -> float:
    """Mean AOPC of SPEC section 4 (top tokens replaced by the pad token, gold-class probability) of
    ``relevance`` through ``explainer``'s own model."""
    pad = explainer.manifest.pad_token_id
    sequences: list[np.ndarray] = []
    for text, scores in zip(texts, relevance, strict=True):
        sequences.append(text.input_ids)
        sequences += list(deletion_copies(text.input_ids, removal_order(scores, text.special_tokens), pad))
    probabilities = gold_probabilities(explainer, sequences, batch_size)
    steps = len(sequences) // len(texts)
    gold = np.repeat([t.label for t in texts], steps)
    curves = probabilities[np.arange(len(sequences)), gold].reshape(len(texts), steps)
    return float(aopc(curves[:, 0], curves[:, 1:]).mean())


def measure_fidelity(
    reference: Explainer,
    reduced: Explainer,
    texts: Sequence[EncodedText],
    methods: Sequence[str],
    batch_size: int = 16,
    reference_cache: dict[str, tuple] | None = None,
) -> dict[str, MethodFidelity]:
    """Every measure for every method of ``methods``, ``reduced`` against ``reference`` (fp32);
    ``reference_cache`` keeps the reference's relevance, logits and AOPC between calls on the same texts."""
    cache = {} if reference_cache is None else reference_cache
    results = {}
    for method in methods:
        if method not in cache:
            relevance, logits = relevance_and_logits(reference, texts, method, batch_size)
            cache[method] = (relevance, logits, deletion_aopc(reference, texts, relevance))
        expected, expected_logits, aopc_fp32 = cache[method]
        got, got_logits = relevance_and_logits(reduced, texts, method, batch_size)
        real = [~t.special_tokens for t in texts]
        correlations = np.asarray([spearman(e[m], g[m]) for e, g, m in zip(expected, got, real, strict=True)])
        overlaps = [top_overlap(e[m], g[m]) for e, g, m in zip(expected, got, real, strict=True)]
        agreement = float(np.mean(expected_logits.argmax(-1) == got_logits.argmax(-1)))
        aopc_reduced = deletion_aopc(reduced, texts, got)
        difference = (aopc_reduced - aopc_fp32) / max(abs(aopc_fp32), 1e-12)
        median = float(np.median(correlations))
        results[method] = MethodFidelity(
            spearman_median=median,
            spearman_p5=float(np.percentile(correlations, 5)),
            top5_overlap=float(np.mean(overlaps)),
            prediction_agreement=agreement,
            aopc=aopc_reduced,
            aopc_fp32=aopc_fp32,
            aopc_relative_difference=difference,
            recommended=abs(difference) <= AOPC_TOLERANCE and median >= MIN_MEDIAN_SPEARMAN,
        )
    return results
