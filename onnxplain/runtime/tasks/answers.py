"""The result of explaining one answer: the span, the relevance of every token and word, and its JSON form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from onnxplain.runtime.results import Token, Word, group_words
from onnxplain.runtime.tasks.question_pairs import CONTEXT_SEGMENT, QUESTION_SEGMENT, PairEncoding


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


def segment_words(text: str, encoding: PairEncoding, relevance: np.ndarray, segment: int) -> list[Word]:
    """The words of the question (segment 0) or of the context (segment 1), with their tokens' relevance."""
    included = [s == segment for s in encoding.segments]
    return group_words(text, encoding.offsets, encoding.word_ids, included, relevance)


def predicted_span(logits: np.ndarray) -> tuple[int, int]:
    """The argmax of the start logits and of the end logits ([tokens, 2]), as the graph predicts them."""
    return int(np.argmax(logits[:, 0])), int(np.argmax(logits[:, 1]))


def answer_explanation(
    encoding: PairEncoding, method: str, logits: np.ndarray, relevance: np.ndarray, target: np.ndarray
) -> AnswerExplanation:
    """The result of one pair from its encoding and its rows of ``logits`` [tokens, 2] and relevance [tokens]
    (padding already cut off); ``target`` is the explained (start, end) token, -1 for the predicted one."""
    predicted = predicted_span(logits)
    start, end = (predicted[i] if target[i] < 0 else int(target[i]) for i in (0, 1))
    in_context = [i for i in range(start, end + 1) if encoding.segments[i] == CONTEXT_SEGMENT]
    characters = (encoding.offsets[in_context[0]][0], encoding.offsets[in_context[-1]][1]) if in_context else (0, 0)
    tokens = [
        Token(text=t, start=s, end=e, relevance=float(r), special=segment is None)
        for t, (s, e), r, segment in zip(encoding.tokens, encoding.offsets, relevance, encoding.segments, strict=True)
    ]
    return AnswerExplanation(
        question=encoding.question,
        context=encoding.context,
        method=method,
        answer=encoding.context[characters[0] : characters[1]],
        answer_start=characters[0],
        answer_end=characters[1],
        start_token=start,
        end_token=end,
        tokens=tokens,
        token_segments=encoding.segments,
        question_words=segment_words(encoding.question, encoding, relevance, QUESTION_SEGMENT),
        context_words=segment_words(encoding.context, encoding, relevance, CONTEXT_SEGMENT),
        truncated=encoding.truncated,
    )
