"""The result of explaining one text: tokens and words with relevance, the prediction, and its JSON form.

Word relevance is the sum of the relevance of the word's sub-word tokens; a word's span runs from its first
token's start to its last token's end, so ``text[start:end]`` is the word as written (accents, case and all).
Special tokens are listed among the tokens (with their relevance, an empty span, ``special: true``) and are
never part of a word.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from onnxplain.runtime.tokenization import TextEncoding


@dataclass(frozen=True)
class Token:
    text: str  # the token as the tokenizer spells it, e.g. "##ly" or "[CLS]"
    start: int
    end: int
    relevance: float
    special: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Word:
    text: str  # the word as written in the input text
    start: int
    end: int
    relevance: float
    token_indices: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["tokens"] = list(data.pop("token_indices"))
        return data


def tokens_of(encoding: TextEncoding, relevance: np.ndarray) -> list[Token]:
    values = relevance.astype(np.float64).tolist()
    special = encoding.special.tolist()
    return [
        Token(text=t, start=s, end=e, relevance=r, special=sp)
        for t, (s, e), r, sp in zip(encoding.tokens, encoding.offsets, values, special, strict=True)
    ]


def words_of(encoding: TextEncoding, relevance: np.ndarray) -> list[Word]:
    """Group non-special tokens by word id (a token without one is a word alone) and sum their relevance."""
    included = [not special for special in encoding.special.tolist()]
    return group_words(encoding.text, encoding.offsets, encoding.word_ids, included, relevance)


def group_words(
    text: str,
    offsets: Sequence[tuple[int, int]],
    word_ids: Sequence[int | None],
    included: Sequence[bool],
    relevance: np.ndarray,
) -> list[Word]:
    """Words of ``text`` from the ``included`` tokens (offsets into ``text``): consecutive tokens with the same
    word id form one word, whose relevance is the sum of theirs; an excluded token ends the current word."""
    groups: list[list[int]] = []
    previous: int | None = None
    for index, (word_id, keep) in enumerate(zip(word_ids, included, strict=True)):
        if not keep:
            previous = None
            continue
        if word_id is None or word_id != previous or not groups:
            groups.append([index])
        else:
            groups[-1].append(index)
        previous = word_id
    values = relevance.astype(np.float64).tolist()
    words = []
    for indices in groups:
        start = min(offsets[i][0] for i in indices)
        end = max(offsets[i][1] for i in indices)
        total = sum(values[i] for i in indices)
        words.append(Word(text[start:end], start, end, total, tuple(indices)))
    return words


@dataclass(frozen=True)
class Explanation:
    """One explained text. ``label`` is the predicted label, ``target`` the one whose relevance is shown."""

    text: str
    method: str
    label: str
    target: str
    probabilities: dict[str, float]
    tokens: list[Token]
    words: list[Word]
    truncated: bool
    warnings: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    logits: tuple[float, ...] = ()  # the model's raw scores, in label order (not in the JSON form)

    @property
    def relevance(self) -> np.ndarray:
        """Per-token relevance, float32 [tokens], in token order (special tokens included)."""
        return np.asarray([t.relevance for t in self.tokens], dtype=np.float32)

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "method": self.method,
            "label": self.label,
            "target": self.target,
            "probabilities": dict(self.probabilities),
            "tokens": [t.to_json() for t in self.tokens],
            "words": [w.to_json() for w in self.words],
            "truncated": self.truncated,
            "warnings": list(self.warnings),
            "metadata": dict(self.metadata),
        }


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted.astype(np.float64))
    return exp / exp.sum(axis=-1, keepdims=True)


def explanation(
    encoding: TextEncoding,
    relevance: np.ndarray,
    logits: np.ndarray,
    target: int,
    method: str,
    labels: dict[int, str],
    metadata: dict[str, Any],
) -> Explanation:
    """Assemble the result of one text from its encoding, its relevance row and its logits row."""
    relevance = relevance[: len(encoding)]
    probabilities = softmax(logits)
    predicted = int(np.argmax(logits))
    explained = predicted if target < 0 else target
    warnings: list[str] = []
    if encoding.truncated:
        end = max((e for _, e in encoding.offsets), default=0)
        warnings.append(
            f"the text is longer than the limit of {len(encoding)} tokens and was cut after character {end}; "
            "only that part is explained"
        )
    return Explanation(
        text=encoding.text,
        method=method,
        label=labels[predicted],
        target=labels[explained],
        probabilities={labels[i]: float(p) for i, p in enumerate(probabilities)},
        tokens=tokens_of(encoding, relevance),
        words=words_of(encoding, relevance),
        truncated=encoding.truncated,
        warnings=warnings,
        metadata=dict(metadata),
        logits=tuple(np.asarray(logits, dtype=np.float32).tolist()),
    )
