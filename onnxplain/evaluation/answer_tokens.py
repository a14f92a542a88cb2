"""The question answering metric of the Mask-LRP paper's SQuAD evaluation: how many of the gold answer's
tokens are among the ``k`` (20) most relevant tokens, over how many could be (the answer's length, at most
``k``); reported as ``sum(hits) / sum(possible)`` over the examples, with the mean per-example share.

Data: JSON lines, one example per line, with ``question``, ``context`` and the gold answer either as
``answer`` (text) + ``answer_start`` (character offset in the context) or in SQuAD's form
``answers: {"text": [...], "answer_start": [...]}`` (the first answer is used).

Each example is explained at its gold span (the start logit at the answer's first token plus the end logit
at its last; SPEC 4 explains the gold label). Special tokens are never counted among the most relevant.
Examples whose answer was cut off by truncation are skipped and counted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from onnxplain.errors import UserError
from onnxplain.runtime import Explainer
from onnxplain.runtime.tasks.question_pairs import CONTEXT_SEGMENT

DEFAULT_TOP = 20


@dataclass(frozen=True)
class AnswerExample:
    question: str
    context: str
    answer_start: int  # characters in the context
    answer_end: int


def read_answer_examples(path: str | Path) -> list[AnswerExample]:
    """Every line of a JSON lines file as a question, a context and the gold answer's character span."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"data file {path} does not exist; pass a JSON lines file of questions with --data")
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row: dict[str, Any] = json.loads(line)
            question, context = str(row["question"]), str(row["context"])
            if "answers" in row:
                text, start = str(row["answers"]["text"][0]), int(row["answers"]["answer_start"][0])
            else:
                text, start = str(row["answer"]), int(row["answer_start"])
        except (json.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as error:
            raise UserError(
                f"line {number} of {path} is not a question answering example ({error}); give question, context, "
                "answer and answer_start (or SQuAD's answers) on every line"
            ) from None
        if context[start : start + len(text)] != text:
            raise UserError(f"line {number} of {path}: the answer is not at answer_start in the context; fix it")
        examples.append(AnswerExample(question, context, start, start + len(text)))
    return examples


def answer_token_span(segments: Sequence[int | None], offsets: Sequence[tuple[int, int]], start: int, end: int):
    """(first, last) token of the context that overlap characters ``[start, end)``; None if none does."""
    inside = [
        i
        for i, (segment, (a, b)) in enumerate(zip(segments, offsets, strict=True))
        if segment == CONTEXT_SEGMENT and a < end and b > start
    ]
    return (inside[0], inside[-1]) if inside else None


def answer_tokens_in_top(
    relevance: np.ndarray, special: np.ndarray, span: tuple[int, int], top: int
) -> tuple[int, int]:
    """(hits, possible): answer tokens among the ``top`` most relevant non-special tokens, and
    ``min(answer length, top)``."""
    ranked = [i for i in np.argsort(-relevance, kind="stable") if not special[i]][:top]
    answer = set(range(span[0], span[1] + 1))
    return sum(1 for i in ranked if i in answer), min(len(answer), top)


@dataclass
class AnswerTokenScores:
    top: int
    examples: int = 0
    skipped_truncated: int = 0
    hits: dict[str, list[int]] = field(default_factory=dict)
    possible: list[int] = field(default_factory=list)

    def share(self, method: str) -> float:
        """``sum(hits) / sum(possible)``: the paper's figure."""
        return float(np.sum(self.hits[method]) / max(np.sum(self.possible), 1))

    def mean_share(self, method: str) -> float:
        return float(np.mean(np.asarray(self.hits[method]) / np.maximum(self.possible, 1)))

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": f"answer tokens among the top {self.top}",
            "examples": self.examples,
            "skipped_truncated": self.skipped_truncated,
            "methods": {m: {"share": self.share(m), "mean_share": self.mean_share(m)} for m in self.hits},
        }

    def to_markdown(self) -> str:
        lines = [
            f"Answer tokens among the {self.top} most relevant tokens, over min(answer length, {self.top}); "
            f"{self.examples} examples ({self.skipped_truncated} skipped: answer cut off).",
            "",
            "| method | share (sum over examples) | mean per example |",
            "| --- | --- | --- |",
        ]
        for method in sorted(self.hits, key=self.share, reverse=True):
            lines.append(f"| {method} | {self.share(method):.3f} | {self.mean_share(method):.3f} |")
        return "\n".join(lines) + "\n"


def evaluate_answer_tokens(
    explainer: Explainer, examples: Sequence[AnswerExample], methods: Sequence[str], top: int = DEFAULT_TOP
) -> AnswerTokenScores:
    """The metric for every method on every example whose answer survives truncation."""
    pairs = [(e.question, e.context) for e in examples]
    encodings = explainer.encode(pairs)
    kept, spans = [], []
    scores = AnswerTokenScores(top=top, hits={m: [] for m in methods})
    for index, (example, encoding) in enumerate(zip(examples, encodings, strict=True)):
        span = answer_token_span(encoding.segments, encoding.offsets, example.answer_start, example.answer_end)
        if span is None:
            scores.skipped_truncated += 1
            continue
        kept.append(index)
        spans.append(span)
    targets = explainer.task.targets(spans, [encodings[i] for i in kept])
    for method in methods:
        results = explainer.explain_encodings([encodings[i] for i in kept], method, targets)
        for result, span in zip(results, spans, strict=True):
            special = np.asarray([t.special for t in result.tokens])
            hits, possible = answer_tokens_in_top(result.relevance, special, span, top)
            scores.hits[method].append(hits)
            if method == methods[0]:
                scores.possible.append(possible)
    scores.examples = len(kept)
    return scores
