"""Explaining extractive question answering artifacts (``manifest.task == "question-answering"``).

Such a graph takes a question + context pair (``token_type_ids`` 0 for the question, 1 for the context in
BERT), its ``target`` is int64 ``[batch, 2]`` (answer start and end token, -1 = the predicted one: the
argmax of the start and of the end logits over real tokens), its ``logits`` are float32
``[batch, sequence, 2]`` (start and end logit of every token), and each relevance is the explanation of the
start logit at the answer start plus that of the end logit at the answer end.

    from onnxplain.runtime import Explainer
    from onnxplain.runtime.question_answering import explain_answers
    explainer = Explainer.load("qa-artifact/")
    [result] = explain_answers(explainer, ["Who directed it?"], ["It was directed by Agnes Varda in 1962."])
    result.answer, result.tokens
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tokenizers import Tokenizer

from onnxplain.corpus import Column, read_rows
from onnxplain.errors import UserError
from onnxplain.runtime.artifact import LOGITS, PREDICTED_TARGET, TOKENIZER_FILE
from onnxplain.runtime.results import Token, Word, group_words

if TYPE_CHECKING:
    from onnxplain.runtime.explainer import Explainer

QUESTION_ANSWERING = "question-answering"
QUESTION_SEGMENT = 0
CONTEXT_SEGMENT = 1


def answer_span_target(target: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """The ``target`` input of a question answering graph for ``input_ids`` of ``shape``: [batch, 2]."""
    batch, tokens = shape
    if target is None:
        return np.full((batch, 2), PREDICTED_TARGET, dtype=np.int64)
    span = np.ascontiguousarray(target, dtype=np.int64)
    if span.shape != (batch, 2) or np.any((span < PREDICTED_TARGET) | (span >= tokens)):
        raise UserError(
            f"a question answering target holds the answer's start and end token per example ([batch, 2], each "
            f"0..{tokens - 1} or -1 for the predicted one), got {span.tolist()}"
        )
    return span


def check_pairs(questions: Sequence[object], contexts: Sequence[object]) -> None:
    """One clear ``UserError`` for a missing, non-string or empty question or context."""
    if len(questions) != len(contexts):
        raise UserError(
            f"{len(questions)} questions and {len(contexts)} contexts were given; give one context per question"
        )
    if not questions:
        raise UserError("no question to explain; give at least one question with its context")
    for index, (question, context) in enumerate(zip(questions, contexts, strict=True)):
        for name, value in (("question", question), ("context", context)):
            if not isinstance(value, str):
                raise UserError(f"{name} {index} is a {type(value).__name__}, not a string; pass strings")
            if not value.strip():
                raise UserError(f"{name} {index} is empty; give each question and context at least one word")


def read_question_pairs(path: str | Path) -> tuple[list[str], list[str]]:
    """The questions and contexts of a .jsonl file (``question`` and ``context`` keys on every line) or of a
    .csv/.tsv file with ``question`` and ``context`` header columns."""
    columns = [Column(name, role=name, option=None) for name in ("question", "context")]
    rows = read_rows(path, columns, what="question file")
    if not rows:
        raise UserError(f"question file {path} holds no questions; give it one question and context a line")
    return [row.values[0] for row in rows], [row.values[1] for row in rows]


@dataclass(frozen=True)
class PairEncoding:
    ids: np.ndarray  # int64 [tokens]
    type_ids: np.ndarray  # int64 [tokens]
    tokens: tuple[str, ...]
    offsets: tuple[tuple[int, int], ...]  # into the question (segment 0) or the context (segment 1)
    segments: tuple[int | None, ...]  # 0 question, 1 context, None special tokens
    word_ids: tuple[int | None, ...]  # word index within the token's own text
    truncated: bool


@functools.lru_cache(maxsize=4)
def pair_tokenizer(path: str, max_length: int) -> Tokenizer:
    """The artifact's tokenizer, cutting pairs to ``max_length`` tokens in the context only; read once per
    artifact and limit, not once per call (a server tokenizes every request)."""
    tokenizer = Tokenizer.from_file(path)
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length, strategy="only_second")
    return tokenizer


def encode_pairs(path: Path, questions: Sequence[str], contexts: Sequence[str], max_length: int) -> list[PairEncoding]:
    """Tokenize question + context pairs; contexts longer than ``max_length`` allows are cut, never questions."""
    check_pairs(questions, contexts)
    tokenizer = pair_tokenizer(str(path), max_length)
    pairs = list(zip(questions, contexts, strict=True))
    try:
        encodings = tokenizer.encode_batch(pairs)
    except Exception:  # the tokenizers library raises a bare Exception when the question alone is too long
        for index, pair in enumerate(pairs):
            try:
                tokenizer.encode(*pair)
            except Exception:
                raise UserError(
                    f"question {index} leaves no room for its context within the limit of {max_length} tokens; "
                    "shorten the question"
                ) from None
        raise
    return [
        PairEncoding(
            ids=np.asarray(e.ids, dtype=np.int64),
            type_ids=np.asarray(e.type_ids, dtype=np.int64),
            tokens=tuple(e.tokens),
            offsets=tuple(e.offsets),
            segments=tuple(e.sequence_ids),
            word_ids=tuple(e.word_ids),
            truncated=bool(e.overflowing),
        )
        for e in encodings
    ]


@dataclass(frozen=True)
class AnswerExplanation:
    """One explained answer: the span (token indices, inclusive, and characters of the context) and the
    relevance of every token; ``token_segments[i]`` is 0 for question tokens, 1 for context tokens and None
    for special tokens, and says which text a token's offsets refer to."""

    question: str
    context: str
    method: str
    answer: str
    answer_start: int  # character offsets into the context
    answer_end: int
    start_token: int
    end_token: int
    tokens: list[Token]
    token_segments: tuple[int | None, ...]
    question_words: list[Word]  # spans into the question
    context_words: list[Word]  # spans into the context
    truncated: bool

    @property
    def relevance(self) -> np.ndarray:
        return np.asarray([t.relevance for t in self.tokens], dtype=np.float32)

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "context": self.context,
            "method": self.method,
            "answer": self.answer,
            "answer_start": self.answer_start,
            "answer_end": self.answer_end,
            "start_token": self.start_token,
            "end_token": self.end_token,
            "tokens": [dict(t.to_json(), segment=s) for t, s in zip(self.tokens, self.token_segments, strict=True)],
            "question_words": [w.to_json() for w in self.question_words],
            "context_words": [w.to_json() for w in self.context_words],
            "truncated": self.truncated,
        }


def explain_answers(
    explainer: Explainer,
    questions: Sequence[str],
    contexts: Sequence[str],
    method: str | None = None,
    answers: Sequence[tuple[int, int]] | None = None,
) -> list[AnswerExplanation]:
    """Explain the answer to each question in its context: the predicted span, or ``answers[i]`` = (start
    token, end token) of the pair's encoding. One ONNX Runtime call per ``explainer.batch_size`` pairs."""
    if explainer.manifest.task != QUESTION_ANSWERING:
        raise UserError(f"this artifact is a {explainer.manifest.task} model; explain_answers needs a QA artifact")
    check_pairs(questions, contexts)
    if answers is not None and len(answers) != len(questions):
        raise UserError(f"{len(answers)} answer spans were given for {len(questions)} questions; give one per question")
    method = method or explainer.default_method
    explainer.check_method(method)
    encodings = encode_pairs(explainer.directory / TOKENIZER_FILE, questions, contexts, explainer.max_length)
    results: list[AnswerExplanation] = []
    for first in range(0, len(encodings), explainer.batch_size):
        batch = encodings[first : first + explainer.batch_size]
        longest = max(len(e.ids) for e in batch)
        input_ids = np.full((len(batch), longest), explainer.manifest.pad_token_id, dtype=np.int64)
        type_ids = np.zeros_like(input_ids)
        attention_mask = np.zeros_like(input_ids)
        for row, encoding in enumerate(batch):
            input_ids[row, : len(encoding.ids)] = encoding.ids
            type_ids[row, : len(encoding.ids)] = encoding.type_ids
            attention_mask[row, : len(encoding.ids)] = 1
        span = None if answers is None else np.asarray(answers[first : first + len(batch)], dtype=np.int64)
        target = answer_span_target(span, input_ids.shape)
        outputs = explainer.run(input_ids, attention_mask, (method,), target, token_type_ids=type_ids)
        for row, encoding in enumerate(batch):
            index = first + row
            length = len(encoding.ids)
            results.append(
                answer_explanation(
                    questions[index],
                    contexts[index],
                    method,
                    encoding,
                    outputs[LOGITS][row, :length],
                    outputs[method][row, :length],
                    target[row],
                )
            )
    return results


def segment_words(text: str, encoding: PairEncoding, relevance: np.ndarray, segment: int) -> list[Word]:
    """The words of the question (segment 0) or of the context (segment 1), with their tokens' relevance."""
    included = [s == segment for s in encoding.segments]
    return group_words(text, encoding.offsets, encoding.word_ids, included, relevance)


def predicted_span(logits: np.ndarray) -> tuple[int, int]:
    """The argmax of the start logits and of the end logits ([tokens, 2]), as the graph predicts them."""
    return int(np.argmax(logits[:, 0])), int(np.argmax(logits[:, 1]))


def answer_explanation(
    question: str,
    context: str,
    method: str,
    encoding: PairEncoding,
    logits: np.ndarray,
    relevance: np.ndarray,
    target: np.ndarray,
) -> AnswerExplanation:
    predicted = predicted_span(logits)
    start, end = (predicted[i] if target[i] < 0 else int(target[i]) for i in (0, 1))
    in_context = [i for i in range(start, end + 1) if encoding.segments[i] == CONTEXT_SEGMENT]
    characters = (encoding.offsets[in_context[0]][0], encoding.offsets[in_context[-1]][1]) if in_context else (0, 0)
    tokens = [
        Token(text=t, start=s, end=e, relevance=float(r), special=segment is None)
        for t, (s, e), r, segment in zip(encoding.tokens, encoding.offsets, relevance, encoding.segments, strict=True)
    ]
    return AnswerExplanation(
        question=question,
        context=context,
        method=method,
        answer=context[characters[0] : characters[1]],
        answer_start=characters[0],
        answer_end=characters[1],
        start_token=start,
        end_token=end,
        tokens=tokens,
        token_segments=encoding.segments,
        question_words=segment_words(question, encoding, relevance, QUESTION_SEGMENT),
        context_words=segment_words(context, encoding, relevance, CONTEXT_SEGMENT),
        truncated=encoding.truncated,
    )
