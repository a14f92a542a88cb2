"""Perturbation curves of every evaluated explanation, computed through the runtime in batches.

For a batch of texts, one explain call per head mask gives the relevance of every method (target = the gold
label). Each relevance yields the deletion and sufficiency copies of its text (``perturbation``); the copies
of all methods are de-duplicated (different methods often remove the same tokens, and every deletion curve
ends in the same all-pad copy) and their gold-class probabilities come from forward-only calls of up to
``forward_batch_size`` sequences, padded to the longest in each call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from onnxplain.evaluation.encoding import EncodedText
from onnxplain.evaluation.perturbation import FRACTIONS, deletion_copies, removal_order, sufficiency_copies

if TYPE_CHECKING:
    from onnxplain.runtime import Explainer


@dataclass(frozen=True, eq=False)
class Variant:
    """One evaluated explanation: a method of the artifact, with a head mask of its own or the artifact's."""

    name: str
    method: str
    head_mask: np.ndarray | None = None  # float32 [layers, heads]; None = the artifact's default


@dataclass
class Curves:
    """Gold-class probabilities: ``p0`` ``[texts]`` unperturbed, and per variant ``[texts, fractions]``
    after deletion of, and after keeping only, the top fraction of tokens."""

    p0: np.ndarray
    deletion: dict[str, np.ndarray] = field(default_factory=dict)
    sufficiency: dict[str, np.ndarray] = field(default_factory=dict)
    forward_sequences: int = 0  # distinct sequences run forward, after de-duplication

    def save(self, path: Path, **extra: np.ndarray) -> None:
        """Every curve in one ``.npz`` file (``deletion/NAME``, ``sufficiency/NAME``, ``p0``, ``extra``)."""
        arrays = {"p0": self.p0, **extra}
        arrays.update({f"deletion/{name}": curve for name, curve in self.deletion.items()})
        arrays.update({f"sufficiency/{name}": curve for name, curve in self.sufficiency.items()})
        np.savez_compressed(path, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, *paths: Path | str) -> Curves:
        """Curves written by ``save``; several files (runs on disjoint parts of one data set, with the same
        variants) are pooled text by text, in the order given."""
        runs = [np.load(path) for path in paths]
        names = [key.split("/", 1)[1] for key in runs[0].files if key.startswith("deletion/")]

        def pooled(key: str) -> np.ndarray:
            return np.concatenate([run[key] for run in runs])

        return cls(
            p0=pooled("p0"),
            deletion={name: pooled(f"deletion/{name}") for name in names},
            sufficiency={name: pooled(f"sufficiency/{name}") for name in names},
        )


class DistinctSequences:
    """Keeps each distinct token sequence once and tells, for every copy added, which one it is."""

    def __init__(self) -> None:
        self.sequences: list[np.ndarray] = []
        self._rows: dict[bytes, int] = {}

    def add(self, copies: np.ndarray) -> list[int]:
        """Row of each of ``copies`` (``[n, tokens]``) in ``self.sequences``."""
        rows = []
        for copy in copies:
            key = copy.tobytes()
            if key not in self._rows:
                self._rows[key] = len(self.sequences)
                self.sequences.append(copy)
            rows.append(self._rows[key])
        return rows


def pad_batch(sequences: Sequence[np.ndarray], pad_token_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad 1-D id arrays into ``input_ids`` and ``attention_mask`` of shape ``[batch, longest]``."""
    longest = max(len(s) for s in sequences)
    input_ids = np.full((len(sequences), longest), pad_token_id, dtype=np.int64)
    attention_mask = np.zeros((len(sequences), longest), dtype=np.int64)
    for row, sequence in enumerate(sequences):
        input_ids[row, : len(sequence)] = sequence
        attention_mask[row, : len(sequence)] = 1
    return input_ids, attention_mask


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def relevance_by_variant(
    explainer: Explainer, texts: Sequence[EncodedText], variants: Sequence[Variant]
) -> dict[str, list[np.ndarray]]:
    """Each variant's relevance of each text (unpadded), one explain call per distinct head mask."""
    input_ids, attention_mask = pad_batch([t.input_ids for t in texts], explainer.manifest.pad_token_id)
    target = np.asarray([t.label for t in texts], dtype=np.int64)
    groups: dict[int, list[Variant]] = {}
    for variant in variants:
        groups.setdefault(id(variant.head_mask), []).append(variant)
    relevance: dict[str, list[np.ndarray]] = {}
    for group in groups.values():
        methods = tuple(dict.fromkeys(v.method for v in group))
        outputs = explainer.run(input_ids, attention_mask, methods=methods, target=target, head_mask=group[0].head_mask)
        for variant in group:
            scores = outputs[variant.method]
            relevance[variant.name] = [scores[row, : len(t.input_ids)] for row, t in enumerate(texts)]
    return relevance


def log_probabilities(explainer: Explainer, sequences: Sequence[np.ndarray], forward_batch_size: int) -> np.ndarray:
    """``[sequences, labels]`` log-probabilities from forward-only calls on length-sorted chunks."""
    order = np.argsort([len(s) for s in sequences], kind="stable")
    result = np.empty((len(sequences), len(explainer.manifest.labels)))
    for start in range(0, len(order), forward_batch_size):
        chunk = order[start : start + forward_batch_size]
        input_ids, attention_mask = pad_batch([sequences[i] for i in chunk], explainer.manifest.pad_token_id)
        target = np.full(len(chunk), -1, dtype=np.int64)
        outputs = explainer.run(input_ids, attention_mask, methods=(), target=target)
        result[chunk] = log_softmax(outputs["logits"])
    return result


def perturbation_curves(
    explainer: Explainer,
    texts: Sequence[EncodedText],
    variants: Sequence[Variant],
    *,
    batch_size: int = 16,
    forward_batch_size: int = 256,
    progress: Callable[[int], object] | None = None,
) -> Curves:
    """Deletion and sufficiency curves of every variant on every text; ``progress(n)`` after n more texts."""
    pad = explainer.manifest.pad_token_id
    curves = Curves(
        p0=np.empty(len(texts)),
        deletion={v.name: np.empty((len(texts), len(FRACTIONS))) for v in variants},
        sufficiency={v.name: np.empty((len(texts), len(FRACTIONS))) for v in variants},
    )
    for start in range(0, len(texts), batch_size):
        batch = texts[start : start + batch_size]
        relevance = relevance_by_variant(explainer, batch, variants)
        distinct = DistinctSequences()
        original_rows = np.asarray([distinct.add(t.input_ids[None, :]) for t in batch])  # [batch, 1]
        deletion_rows: dict[str, list[list[int]]] = {v.name: [] for v in variants}
        kept_rows: dict[str, list[list[int]]] = {v.name: [] for v in variants}
        for offset, text in enumerate(batch):
            for variant in variants:
                order = removal_order(relevance[variant.name][offset], text.special_tokens)
                deletion_rows[variant.name].append(distinct.add(deletion_copies(text.input_ids, order, pad)))
                kept_rows[variant.name].append(distinct.add(sufficiency_copies(text.input_ids, order, pad)))
        log_p = log_probabilities(explainer, distinct.sequences, forward_batch_size)
        curves.forward_sequences += len(distinct.sequences)

        gold = np.asarray([t.label for t in batch])[:, None]
        done = slice(start, start + len(batch))
        curves.p0[done] = np.exp(log_p[original_rows, gold][:, 0])
        for variant in variants:
            curves.deletion[variant.name][done] = np.exp(log_p[deletion_rows[variant.name], gold])
            curves.sufficiency[variant.name][done] = np.exp(log_p[kept_rows[variant.name], gold])
        if progress is not None:
            progress(len(batch))
    return curves
