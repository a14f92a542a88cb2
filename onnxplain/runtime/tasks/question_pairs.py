"""Question + context pairs: checking them, tokenizing them as one sequence, reading them from files.

A pair is tokenized the way extractive question answering models were trained: ``[CLS] question [SEP] context
[SEP]`` (or the tokenizer's own template), ``token_type_ids`` 0 for the question, 1 for the context. A pair
longer than ``max_length`` tokens has its context cut; a question so long that it leaves no room for any of
its context is cut too (the longer of the two loses tokens first), and ``truncated`` says so either way.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Encoding, Tokenizer

from onnxplain.corpus import Column, read_rows
from onnxplain.errors import UserError

QUESTION_SEGMENT = 0
CONTEXT_SEGMENT = 1
Pair = tuple[str, str]  # (question, context)


def check_pairs(pairs: Sequence[Any]) -> list[Pair]:
    """The pairs as (question, context) tuples; one clear ``UserError`` for a missing, non-string or empty one."""
    if not pairs:
        raise UserError("no question to explain; give at least one (question, context) pair")
    checked = []
    for index, pair in enumerate(pairs):
        if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise UserError(
                f"input {index} is not a (question, context) pair; a question answering model explains pairs"
            )
        for name, value in zip(("question", "context"), pair, strict=True):
            if not isinstance(value, str):
                raise UserError(f"{name} {index} is a {type(value).__name__}, not a string; pass strings")
            if not value.strip():
                raise UserError(f"{name} {index} is empty; give each question and context at least one word")
        checked.append((pair[0], pair[1]))
    return checked


def read_question_pairs(path: str | Path) -> list[Pair]:
    """The (question, context) pairs of a .jsonl file (``question`` and ``context`` keys on every line) or of a
    .csv/.tsv file with ``question`` and ``context`` header columns."""
    columns = [Column(name, role=name, option=None) for name in ("question", "context")]
    rows = read_rows(path, columns, what="question file")
    if not rows:
        raise UserError(f"question file {path} holds no questions; give it one question and context a line")
    return [(row.values[0], row.values[1]) for row in rows]


@dataclass(frozen=True)
class PairEncoding:
    question: str
    context: str
    ids: np.ndarray  # int64 [tokens]
    type_ids: np.ndarray  # int64 [tokens]
    tokens: tuple[str, ...]
    offsets: tuple[tuple[int, int], ...]  # into the question (segment 0) or the context (segment 1)
    segments: tuple[int | None, ...]  # 0 question, 1 context, None special tokens
    word_ids: tuple[int | None, ...]  # word index within the token's own text
    truncated: bool

    def __len__(self) -> int:
        return len(self.ids)


@functools.lru_cache(maxsize=8)
def pair_tokenizer(path: str, max_length: int, strategy: str) -> Tokenizer:
    """The artifact's tokenizer cutting pairs to ``max_length`` tokens by ``strategy``; read once per artifact,
    limit and strategy, not once per call (a server tokenizes every request)."""
    tokenizer = Tokenizer.from_file(path)
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length, strategy=strategy)
    return tokenizer


def _encode(path: Path, pair: Pair, max_length: int) -> Encoding:
    """One pair whose question alone is too long for ``only_second``: cut the longer of the two first."""
    return pair_tokenizer(str(path), max_length, "longest_first").encode(*pair)


def encode_pairs(path: Path, pairs: Sequence[Pair], max_length: int) -> list[PairEncoding]:
    """Tokenize checked (question, context) pairs; see the module's docstring for how long pairs are cut."""
    tokenizer = pair_tokenizer(str(path), max_length, "only_second")
    try:
        encodings = tokenizer.encode_batch(list(pairs))
    except Exception:  # tokenizers raises a bare Exception when a question alone is too long for only_second
        encodings = []
        for pair in pairs:
            try:
                encodings.append(tokenizer.encode(*pair))
            except Exception:
                encodings.append(_encode(path, pair, max_length))
    return [
        PairEncoding(
            question=question,
            context=context,
            ids=np.asarray(e.ids, dtype=np.int64),
            type_ids=np.asarray(e.type_ids, dtype=np.int64),
            tokens=tuple(e.tokens),
            offsets=tuple(e.offsets),
            segments=tuple(e.sequence_ids),
            word_ids=tuple(e.word_ids),
            truncated=bool(e.overflowing),
        )
        for (question, context), e in zip(pairs, encodings, strict=True)
    ]
