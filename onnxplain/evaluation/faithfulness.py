"""Perturbation curves of every evaluated explanation under every protocol, computed through the runtime.

For a batch of texts, one explain call per head mask gives the relevance of every method (target = the gold
label); the random floor draws its own. Each text's relevance is explained once and reused by every protocol:
its order gives the copies of the text after each protocol step and ERASER's copies (``protocols``). The
copies of all texts of the batch and all variants are de-duplicated (methods often affect the same tokens,
and every pad and lerf curve ends in the same all-pad copy) and their gold-class probabilities come from
forward-only calls on length-sorted chunks of at most ``forward_batch_size`` sequences and
``forward_tokens`` padded tokens, each padded to its longest (deleted copies are shorter: padding follows).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from onnxplain.errors import UserError
from onnxplain.evaluation.encoding import EncodedText
from onnxplain.evaluation.floor import random_relevance
from onnxplain.evaluation.perturbation import ERASER_FRACTIONS, FRACTIONS, removal_order
from onnxplain.evaluation.protocols import Operators, Protocol, eraser_copies, operators_of, protocol_copies

if TYPE_CHECKING:
    from onnxplain.runtime import Explainer

STEPS, COMPREHENSIVENESS, SUFFICIENCY = "steps", "comprehensiveness", "sufficiency"
# padded tokens per forward-only call: on MiniLM, calls of 1,024 tokens took 0.65-0.71x the processor time of
# 8,192-token calls (benchmarks/evaluation_chunks.py, interleaved, 1 thread): a smaller call stays in cache
FORWARD_TOKENS = 1024
COUNTERS = ("forward_sequences", "forward_tokens", "explain_seconds", "forward_seconds", "cpu_seconds")


@dataclass(frozen=True, eq=False)
class Variant:
    """One evaluated ranking: a method of the artifact with a head mask of its own or the artifact's (None),
    or, with ``method`` None, the seeded random ranking."""

    name: str
    method: str | None
    head_mask: np.ndarray | None = None  # float32 [layers, heads]; None = the artifact's default


@dataclass
class Curves:
    """Gold-class probabilities: ``p0`` ``[texts]`` unperturbed; ``steps[protocol][variant]``
    ``[texts, FRACTIONS]`` after each protocol step; ``comprehensiveness[operator][variant]`` and
    ``sufficiency[operator][variant]`` ``[texts, ERASER_FRACTIONS]`` without, and with only, the top tokens.
    ``relevance[variant]`` keeps each text's relevance (unpadded) for the comparison page; ``model_sha256``
    names the artifact's graph they were computed with, so that runs on parts of a data set pool only when
    they were made with one artifact."""

    p0: np.ndarray
    source_index: np.ndarray | None = None  # each text's row in the data file
    model_sha256: str | None = None  # the sha256 of the artifact's model.onnx
    steps: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    comprehensiveness: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    sufficiency: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    relevance: dict[str, list[np.ndarray]] = field(default_factory=dict)
    forward_sequences: int = 0  # distinct sequences run forward, after de-duplication
    forward_tokens: int = 0  # tokens of those sequences, padding included
    explain_seconds: float = 0.0
    forward_seconds: float = 0.0
    cpu_seconds: float = 0.0  # processor time of explaining and forward calls, all threads together

    def variants(self) -> list[str]:
        return list(next(iter(self.steps.values()))) if self.steps else []

    def _groups(self) -> dict[str, dict[str, dict[str, np.ndarray]]]:
        return {STEPS: self.steps, COMPREHENSIVENESS: self.comprehensiveness, SUFFICIENCY: self.sufficiency}

    def save(self, path: Path | BinaryIO, **extra: np.ndarray) -> None:
        """Every curve in one ``.npz`` file: ``p0``, ``steps/PROTOCOL/VARIANT``,
        ``comprehensiveness/OPERATOR/VARIANT``, ``sufficiency/OPERATOR/VARIANT``, each variant's relevance
        of all texts end to end as ``relevance/VARIANT`` (split it at ``token_counts``), and ``extra``."""
        arrays = {"p0": self.p0, **extra}
        if self.source_index is not None:
            arrays["source_index"] = self.source_index
        if self.model_sha256 is not None:
            arrays["model_sha256"] = np.asarray(self.model_sha256)
        for group, curves in self._groups().items():
            for key, by_variant in curves.items():
                arrays.update({f"{group}/{key}/{name}": curve for name, curve in by_variant.items()})
        for name, values in self.relevance.items():
            arrays[f"relevance/{name}"] = np.concatenate(values) if values else np.zeros(0)
            arrays["token_counts"] = np.asarray([len(v) for v in values])
        arrays.update({f"counters/{name}": np.asarray(getattr(self, name)) for name in COUNTERS})
        np.savez_compressed(path, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, *paths: Path | str | BinaryIO) -> Curves:
        """Curves written by ``save``; several files (runs on disjoint parts of one data set, with the same
        variants and protocols) are pooled text by text, in the order given."""
        runs = [np.load(path) for path in paths]
        if not any(key.startswith(f"{STEPS}/") for key in runs[0].files):
            raise UserError(f"{paths[0]} holds no protocol curves (an older evaluate wrote it); evaluate again")
        if any(set(run.files) != set(runs[0].files) for run in runs):
            raise UserError("the curves to pool hold different methods or protocols; pool runs made alike")
        models = {str(run["model_sha256"]) if "model_sha256" in run.files else None for run in runs}
        if len(models) > 1:
            raise UserError(
                "the curves to pool were computed with different artifacts (their model.onnx differ); "
                "pool runs of one artifact"
            )
        curves = cls(p0=np.concatenate([run["p0"] for run in runs]), model_sha256=models.pop())
        if all("source_index" in run.files for run in runs):
            curves.source_index = np.concatenate([run["source_index"] for run in runs])
        groups = curves._groups()
        for key in runs[0].files:
            group, _, rest = key.partition("/")
            if group in groups:
                inner, name = rest.split("/", 1)
                groups[group].setdefault(inner, {})[name] = np.concatenate([run[key] for run in runs])
            elif group == "relevance":
                curves.relevance[rest] = [
                    part for run in runs for part in np.split(run[key], np.cumsum(run["token_counts"])[:-1])
                ]
            elif group == "counters":
                kind = type(getattr(curves, rest))
                setattr(curves, rest, kind(sum(run[key].item() for run in runs)))
        return curves

    @classmethod
    def merge(cls, parts: Sequence[Curves]) -> Curves:
        """Curves of several runs on the same texts with different variants, as one run (a variant in several
        parts keeps its first part's curves); the counters add up."""
        first = parts[0]
        for part in parts[1:]:
            if len(part.p0) != len(first.p0) or not np.allclose(part.p0, first.p0, atol=1e-6):
                raise UserError("the curves to merge were computed on different texts; merge runs on the same texts")
            if list(part.steps) != list(first.steps):
                raise UserError("the curves to merge have different protocols; merge runs with the same --protocols")
            if part.model_sha256 != first.model_sha256:
                raise UserError(
                    "the curves to merge were computed with different artifacts (their model.onnx differ); "
                    "merge runs of one artifact"
                )
        merged = cls(p0=first.p0, source_index=first.source_index, model_sha256=first.model_sha256)
        for part in parts:
            for mine, theirs in zip(merged._groups().values(), part._groups().values(), strict=True):
                for key, by_variant in theirs.items():
                    for name, curve in by_variant.items():
                        mine.setdefault(key, {}).setdefault(name, curve)
            for name, values in part.relevance.items():
                merged.relevance.setdefault(name, values)
            for name in COUNTERS:
                setattr(merged, name, getattr(merged, name) + getattr(part, name))
        return merged


class DistinctSequences:
    """Keeps each distinct token sequence once and tells, for every copy added, which one it is."""

    def __init__(self) -> None:
        self.sequences: list[np.ndarray] = []
        self._rows: dict[bytes, int] = {}

    def add(self, copies: Iterable[np.ndarray]) -> list[int]:
        """Row of each of ``copies`` (1-D id arrays, any lengths) in ``self.sequences``."""
        rows = []
        for copy in copies:
            key = copy.tobytes()  # int64 ids: arrays of different lengths never share a key
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
    explainer: Explainer, texts: Sequence[EncodedText], variants: Sequence[Variant], seed: int = 0
) -> dict[str, list[np.ndarray]]:
    """Each variant's relevance of each text (unpadded), one explain call per distinct head mask."""
    input_ids, attention_mask = pad_batch([t.input_ids for t in texts], explainer.manifest.pad_token_id)
    target = np.asarray([t.label for t in texts], dtype=np.int64)
    groups: dict[int, list[Variant]] = {}
    relevance: dict[str, list[np.ndarray]] = {}
    for variant in variants:
        if variant.method is None:
            relevance[variant.name] = [random_relevance(len(t.input_ids), seed, t.source_index) for t in texts]
        else:
            groups.setdefault(id(variant.head_mask), []).append(variant)
    for group in groups.values():
        methods = tuple(dict.fromkeys(v.method for v in group if v.method is not None))
        outputs = explainer.run(input_ids, attention_mask, methods=methods, target=target, head_mask=group[0].head_mask)
        for variant in group:
            scores = outputs[str(variant.method)]
            relevance[variant.name] = [scores[row, : len(t.input_ids)] for row, t in enumerate(texts)]
    return {v.name: relevance[v.name] for v in variants}


def forward_chunks(lengths: Sequence[int], max_sequences: int, max_tokens: int) -> list[np.ndarray]:
    """Indices of ``lengths`` sorted by length and cut into chunks of at most ``max_sequences`` sequences
    and ``max_tokens`` tokens once padded to the chunk's longest (a longer sequence goes alone)."""
    order = np.argsort(lengths, kind="stable")
    chunks, start = [], 0
    for end in range(1, len(order) + 1):
        longest = lengths[order[end - 1]]
        if end - start > max_sequences or (end - start) * longest > max_tokens and end - start > 1:
            chunks.append(order[start : end - 1])
            start = end - 1
    if start < len(order):
        chunks.append(order[start:])
    return chunks


def log_probabilities(
    explainer: Explainer, sequences: Sequence[np.ndarray], forward_batch_size: int, forward_tokens: int = FORWARD_TOKENS
) -> tuple[np.ndarray, int]:
    """``[sequences, labels]`` log-probabilities from forward-only calls, and the padded tokens they ran."""
    result = np.empty((len(sequences), len(explainer.manifest.labels)))
    tokens = 0
    for chunk in forward_chunks([len(s) for s in sequences], forward_batch_size, forward_tokens):
        input_ids, attention_mask = pad_batch([sequences[i] for i in chunk], explainer.manifest.pad_token_id)
        target = np.full(len(chunk), -1, dtype=np.int64)
        outputs = explainer.run(input_ids, attention_mask, methods=(), target=target)
        result[chunk] = log_softmax(outputs["logits"])
        tokens += input_ids.size
    return result, tokens


def ranking_copies(
    input_ids: np.ndarray, order: np.ndarray, protocols: Sequence[Protocol], operators: Sequence[str], ops: Operators
) -> Iterator[tuple[str, str, list[np.ndarray]]]:
    """Every copy evaluate scores for one text under one removal order, as ``(group, key, copies)``: each
    protocol's steps (``STEPS``, its name), then each ERASER operator's copies without the top tokens
    (``COMPREHENSIVENESS``, the operator) and with only them (``SUFFICIENCY``)."""
    for protocol in protocols:
        yield STEPS, protocol.name, protocol_copies(protocol, input_ids, order, ops)
    for operator in operators:
        without, only = eraser_copies(operator, input_ids, order, ops)
        yield COMPREHENSIVENESS, operator, without
        yield SUFFICIENCY, operator, only


def perturbation_curves(
    explainer: Explainer,
    texts: Sequence[EncodedText],
    variants: Sequence[Variant],
    protocols: Sequence[Protocol],
    *,
    mask_token_id: int | None = None,
    seed: int = 0,
    batch_size: int = 16,
    forward_batch_size: int = 256,
    forward_tokens: int = FORWARD_TOKENS,
    progress: Callable[[int], object] | None = None,
) -> Curves:
    """Every variant's curves under every protocol, and ERASER's, on every text; ``progress(n)`` after n more
    texts."""
    ops = Operators(explainer.manifest.pad_token_id, mask_token_id)
    operators = operators_of(protocols)
    count = len(texts)
    curves = Curves(
        p0=np.empty(count),
        source_index=np.asarray([t.source_index for t in texts]),
        steps={p.name: {v.name: np.empty((count, len(FRACTIONS))) for v in variants} for p in protocols},
        comprehensiveness={o: {v.name: np.empty((count, len(ERASER_FRACTIONS))) for v in variants} for o in operators},
        sufficiency={o: {v.name: np.empty((count, len(ERASER_FRACTIONS))) for v in variants} for o in operators},
        relevance={v.name: [] for v in variants},
    )
    for start in range(0, count, batch_size):
        batch = texts[start : start + batch_size]
        cpu_began = time.process_time()
        began = time.perf_counter()
        relevance = relevance_by_variant(explainer, batch, variants, seed)
        curves.explain_seconds += time.perf_counter() - began
        distinct = DistinctSequences()
        original_rows = np.asarray([distinct.add([t.input_ids]) for t in batch])  # [batch, 1]
        rows: dict[tuple[str, str, str], list[list[int]]] = {}
        for offset, text in enumerate(batch):
            for variant in variants:
                curves.relevance[variant.name].append(relevance[variant.name][offset])
                order = removal_order(relevance[variant.name][offset], text.special_tokens)
                for group, key, copies in ranking_copies(text.input_ids, order, protocols, operators, ops):
                    rows.setdefault((group, key, variant.name), []).append(distinct.add(copies))
        began = time.perf_counter()
        log_p, tokens = log_probabilities(explainer, distinct.sequences, forward_batch_size, forward_tokens)
        curves.forward_seconds += time.perf_counter() - began
        curves.forward_sequences += len(distinct.sequences)
        curves.forward_tokens += tokens
        curves.cpu_seconds += time.process_time() - cpu_began

        gold = np.asarray([t.label for t in batch])[:, None]
        done = slice(start, start + len(batch))
        curves.p0[done] = np.exp(log_p[original_rows, gold][:, 0])
        groups = {STEPS: curves.steps, COMPREHENSIVENESS: curves.comprehensiveness, SUFFICIENCY: curves.sufficiency}
        for (group, key, name), text_rows in rows.items():
            groups[group][key][name][done] = np.exp(log_p[np.asarray(text_rows), gold])
        if progress is not None:
            progress(len(batch))
    return curves
