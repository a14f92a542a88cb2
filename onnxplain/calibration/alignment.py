"""Mapping parsed words onto a tokenizer's sub-word tokens through the tokens' character offsets.

A word's tokens are the content tokens whose character span overlaps the word's span; they are contiguous
because both tokenizations follow the text from left to right. Special tokens ([CLS], [SEP], padding) have
empty spans and belong to no word. Nothing here compares strings, so lower-casing, accent stripping and
"##" markers of the tokenizer do not matter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from onnxplain.calibration.dependencies import DependencyArc


@dataclass(frozen=True)
class AlignedArcs:
    """Arcs of one sentence in token positions: the query row to read and the head word's token range."""

    query: np.ndarray  # int64 [arcs]   first token of the dependent word
    head_start: np.ndarray  # int64 [arcs]   first token of the head word
    head_end: np.ndarray  # int64 [arcs]   one past the head word's last token
    relation: np.ndarray  # int64 [arcs]   index into RELATIONS

    def __len__(self) -> int:
        return len(self.query)


class TokenOffsets:
    """Character spans of one sentence's content tokens, for looking up which tokens cover a word."""

    def __init__(self, offsets: Sequence[tuple[int, int]], special_tokens_mask: Sequence[int]) -> None:
        positions = [i for i, (start, end) in enumerate(offsets) if end > start and not special_tokens_mask[i]]
        self.positions = np.asarray(positions, dtype=np.int64)
        self.starts = np.asarray([offsets[i][0] for i in positions], dtype=np.int64)
        self.ends = np.asarray([offsets[i][1] for i in positions], dtype=np.int64)

    def word_tokens(self, start: int, end: int) -> tuple[int, int] | None:
        """Token range ``[first, last + 1)`` of the word spanning characters ``[start, end)``, or ``None``
        when no token covers it (for instance when the word was truncated away)."""
        first = int(np.searchsorted(self.ends, start, side="right"))
        stop = int(np.searchsorted(self.starts, end, side="left"))
        if first >= stop:
            return None
        return int(self.positions[first]), int(self.positions[stop - 1]) + 1


def align_arcs(arcs: Sequence[DependencyArc], tokens: TokenOffsets) -> AlignedArcs:
    """Arcs in token positions. An arc is dropped when either word has no token, or when the dependent's
    first token also belongs to the head word (one token covering both words leaves nothing to test)."""
    rows: list[tuple[int, int, int, int]] = []
    for arc in arcs:
        dependent = tokens.word_tokens(arc.dependent_start, arc.dependent_end)
        head = tokens.word_tokens(arc.head_start, arc.head_end)
        if dependent is None or head is None:
            continue
        query = dependent[0]
        if head[0] <= query < head[1]:
            continue
        rows.append((query, head[0], head[1], arc.relation))
    table = np.asarray(rows, dtype=np.int64).reshape(-1, 4)
    return AlignedArcs(
        query=table[:, 0].copy(),
        head_start=table[:, 1].copy(),
        head_end=table[:, 2].copy(),
        relation=table[:, 3].copy(),
    )
