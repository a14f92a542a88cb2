"""Extractive question answering (``manifest.task == "question-answering"``): explain the answer to a question
in its context.

Inputs are (question, context) pairs (``question_pairs``). The graph's ``target`` is int64 ``[batch, 2]``, the
answer's start and end token (-1: the predicted one, the argmax of the start and of the end logits over the
real tokens); its ``logits`` are float32 ``[batch, sequence, 2]`` (start and end logit of every token); each
relevance explains the start logit at the answer start plus the end logit at the answer end. A caller may ask
for another span as ``(start_token, end_token)`` of the pair's encoding. The result is an
``AnswerExplanation`` (``answers``).

    explainer = Explainer.load("qa-artifact/")
    [result] = explainer.explain([("Who directed it?", "It was directed by Agnes Varda in 1962.")])
    result.answer, result.tokens
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from onnxplain.errors import UserError
from onnxplain.runtime.artifact import PREDICTED_TARGET
from onnxplain.runtime.server_limits import ServerLimits
from onnxplain.runtime.tasks.answers import AnswerExplanation, answer_explanation
from onnxplain.runtime.tasks.question_pairs import Pair, PairEncoding, check_pairs, encode_pairs, read_question_pairs
from onnxplain.runtime.tasks.schema_parts import WORDS, method_schema, span_schema, text_schema
from onnxplain.runtime.tasks.task import Task

Span = tuple[int, int]  # (start token, end token) of the pair's encoding, inclusive


def _is_span(value: Any) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in value)
    )


class QuestionAnswering(Task):
    name: ClassVar[str] = "question-answering"
    explained_position: ClassVar[str] = "the answer's start token (start logit) and end token (end logit)"
    item_noun: ClassVar[str] = "pair"
    strings_per_item: ClassVar[int] = 2
    evaluation: ClassVar[str] = "answer-tokens"

    def items(self, inputs: Any) -> list[Pair]:
        """One (question, context) pair, or a sequence of them."""
        if isinstance(inputs, str):
            raise UserError("a question answering model explains (question, context) pairs, not texts; pass pairs")
        if isinstance(inputs, Sequence) and len(inputs) == 2 and all(isinstance(v, str) for v in inputs):
            inputs = [inputs]
        return check_pairs(list(inputs))

    def encode(self, items: Sequence[Pair]) -> list[PairEncoding]:
        return encode_pairs(self.tokenizer_file, items, self.max_length)

    def targets(self, target: Any, encodings: Sequence[Any]) -> np.ndarray:
        """Answer spans (-1, -1 = predicted) from None, one (start, end) span for all, or one span (or None)
        per pair; a span's tokens must lie within its pair's encoding."""
        count = len(encodings)
        if target is None or _is_span(target):
            spans: list[Any] = [target] * count
        else:
            spans = list(target)
            if len(spans) != count:
                raise UserError(f"{len(spans)} answer spans were given for {count} pairs; give one per pair")
        rows = np.full((count, 2), PREDICTED_TARGET, dtype=np.int64)
        for index, (span, encoding) in enumerate(zip(spans, encodings, strict=True)):
            if span is None:
                continue
            if not _is_span(span) or not 0 <= span[0] <= span[1] < len(encoding):
                raise UserError(
                    f"answer span {span!r} of pair {index} is not (start token, end token) within its "
                    f"{len(encoding)} tokens; pass token indices of the pair's encoding, start <= end"
                )
            rows[index] = span
        return rows

    def check_target(self, target: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
        batch, tokens = shape
        if target is None:
            return np.full((batch, 2), PREDICTED_TARGET, dtype=np.int64)
        span = np.ascontiguousarray(target, dtype=np.int64)
        if span.shape != (batch, 2) or np.any((span < PREDICTED_TARGET) | (span >= tokens)):
            raise UserError(
                f"a question answering target holds the answer's start and end token per example ([batch, 2], "
                f"each 0..{tokens - 1} or -1 for the predicted one), got {span.tolist()}"
            )
        return span

    def feeds(self, encodings: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        input_ids, attention_mask, _ = super().feeds(encodings)
        type_ids = np.zeros_like(input_ids)
        for row, encoding in enumerate(encodings):
            type_ids[row, : len(encoding)] = encoding.type_ids
        return input_ids, attention_mask, type_ids

    def result(
        self,
        encoding: PairEncoding,
        logits: np.ndarray,
        relevance: np.ndarray,
        target: np.ndarray,
        method: str,
        metadata: dict[str, Any],
    ) -> AnswerExplanation:
        length = len(encoding)
        return answer_explanation(encoding, method, logits[:length], relevance[:length], target)

    def render(self, results: Sequence[Any], fmt: str, color: bool = True) -> str:
        from onnxplain.runtime.render.answers import render_answers

        return render_answers(results, fmt, color=color)

    def request_schema(self, methods: Sequence[str], default_method: str, limits: ServerLimits) -> dict[str, Any]:
        text = text_schema(limits)
        method = method_schema(methods, default_method)
        pair = {
            "type": "object",
            "additionalProperties": False,
            "required": ["question", "context"],
            "properties": {"question": text, "context": text},
        }
        pairs = {"type": "array", "items": pair, "minItems": 1, "maxItems": limits.max_texts}
        return {
            "description": "one question with its context, or several pairs; the predicted answer is explained",
            "examples": [
                {"question": "Who directed it?", "context": "It was directed by Agnes Varda in 1962."},
                {"pairs": [{"question": "When?", "context": "In the summer of 1962."}], "method": default_method},
            ],
            "oneOf": [
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["question", "context"],
                    "properties": {"question": text, "context": text, "method": method},
                },
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["pairs"],
                    "properties": {"pairs": pairs, "method": method},
                },
            ],
        }

    def request_shape(self) -> str:
        return '{"question": "...", "context": "..."} or {"pairs": [{"question": "...", "context": "..."}, ...]}'

    def request_items(self, payload: dict[str, Any]) -> tuple[list[Pair], None]:
        if "pairs" in payload:
            return [(p["question"], p["context"]) for p in payload["pairs"]], None
        return [(payload["question"], payload["context"])], None

    def result_schema(self) -> dict[str, Any]:
        segment = {
            "segment": {
                "type": ["integer", "null"],
                "enum": [0, 1, None],
                "description": "0: the offsets are into the question, 1: into the context, null: a special token",
            },
            "special": {"type": "boolean"},
        }
        properties = {
            "question": {"type": "string"},
            "context": {"type": "string"},
            "method": {"type": "string"},
            "answer": {"type": "string", "description": "the explained answer ('' when it lies outside the context)"},
            "answer_start": {"type": "integer", "description": "first character of the answer in the context"},
            "answer_end": {"type": "integer", "description": "one past its last character"},
            "start_token": {"type": "integer"},
            "end_token": {"type": "integer"},
            "tokens": {"type": "array", "items": span_schema(segment)},
            "question_words": WORDS,
            "context_words": WORDS,
            "truncated": {"type": "boolean", "description": "the pair was cut to the model's token limit"},
        }
        return {"type": "object", "required": list(properties), "properties": properties}

    def cli_items(self, args: argparse.Namespace) -> list[Pair]:
        """The pairs of ``--question``/``--context`` (paired in order) and of ``--file``."""
        if args.texts:
            raise UserError(
                "this artifact answers questions, so it explains question + context pairs, not texts; "
                "pass --question Q --context C (or --file pairs.jsonl) instead of texts"
            )
        if len(args.question) != len(args.context):
            raise UserError(
                f"{len(args.question)} --question and {len(args.context)} --context were given; "
                "give one context per question"
            )
        pairs = list(zip(args.question, args.context, strict=True))
        if args.file is not None:
            pairs += read_question_pairs(args.file)
        if not pairs:
            raise UserError("no question to explain; pass --question Q --context C, or a file of pairs with --file")
        return check_pairs(pairs)

    def cli_target(self, value: str | None) -> None:
        if value is not None:
            raise UserError("a question answering artifact explains its predicted answer; drop --target")
        return None
