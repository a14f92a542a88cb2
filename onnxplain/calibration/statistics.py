"""Per-head statistics of SPEC §3, accumulated batch by batch from attention maps.

Both statistics read only the argmax of each attention row. Which rows count is the caller's choice
(``query_mask``); which columns may win the argmax is ``key_mask``. Nothing here assumes bidirectional
attention: under a causal mask, row ``i`` can only reach offsets ``<= 0`` and the first row always has
offset 0; those rows are counted like any other, so a decoder's positional frequencies include them.

- Syntactic hit rate ``acc[l, h, r]``: over the arcs of relation ``r``, the share whose dependent's query
  row has its argmax on one of the head word's tokens.
- Positional frequency: for every counted row ``i``, the offset ``argmax_k A[l, h, i, k] - i``; a head's
  top offset is its most frequent one, its frequency the share of rows that have it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from onnxplain.calibration.dependencies import RELATIONS


def attention_argmax(attentions: Sequence[torch.Tensor], key_mask: torch.Tensor) -> torch.Tensor:
    """Column of each row's largest attention, ``[layers, batch, heads, queries]`` (int64), from per-layer
    ``[batch, heads, queries, keys]`` maps; columns where ``key_mask`` ([batch, keys]) is 0 never win."""
    blocked = ~key_mask.bool()[:, None, None, :]
    return torch.stack([layer.masked_fill(blocked, -1.0).argmax(dim=-1) for layer in attentions])


@dataclass
class BatchArcs:
    """The arcs of one batch in token positions (see ``alignment.AlignedArcs``), with their example."""

    example: torch.Tensor  # int64 [arcs]
    query: torch.Tensor  # int64 [arcs]
    head_start: torch.Tensor  # int64 [arcs]
    head_end: torch.Tensor  # int64 [arcs]
    relation: torch.Tensor  # int64 [arcs]


class HeadStatistics:
    """Running counts for a model with ``num_layers`` x ``num_heads`` heads and sequences of at most
    ``max_length`` tokens."""

    def __init__(self, num_layers: int, num_heads: int, max_length: int) -> None:
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.max_offset = max_length - 1
        self.syntactic_hits = torch.zeros(num_layers, num_heads, len(RELATIONS), dtype=torch.int64)
        self.syntactic_arcs = torch.zeros(len(RELATIONS), dtype=torch.int64)
        # offset_counts[l, h, o + max_offset] = rows of head (l, h) whose argmax is at offset o
        self.offset_counts = torch.zeros(num_layers, num_heads, 2 * max_length - 1, dtype=torch.int64)

    @property
    def positional_rows(self) -> int:
        return int(self.offset_counts[0, 0].sum())

    def add_positional(self, argmax: torch.Tensor, query_mask: torch.Tensor) -> None:
        """Count the offsets of the rows where ``query_mask`` ([batch, queries]) is 1."""
        positions = torch.arange(argmax.shape[-1])
        offsets = argmax - positions  # [layers, batch, heads, queries]
        counted = offsets.permute(1, 3, 0, 2)[query_mask.bool()]  # [rows, layers, heads]
        head_index = torch.arange(self.num_layers * self.num_heads).view(self.num_layers, self.num_heads)
        bins = self.offset_counts.shape[-1]
        flat = head_index * bins + counted + self.max_offset
        counts = torch.bincount(flat.flatten(), minlength=self.num_layers * self.num_heads * bins)
        self.offset_counts += counts.view_as(self.offset_counts)

    def add_syntactic(self, argmax: torch.Tensor, arcs: BatchArcs) -> None:
        """Count hits and arcs; a hit is an argmax on any token of the head word."""
        if len(arcs.query) == 0:
            return
        landed = argmax.permute(1, 3, 0, 2)[arcs.example, arcs.query]  # [arcs, layers, heads]
        hit = (landed >= arcs.head_start[:, None, None]) & (landed < arcs.head_end[:, None, None])
        relation = torch.nn.functional.one_hot(arcs.relation, len(RELATIONS))
        self.syntactic_hits += torch.einsum("alh,ar->lhr", hit.long(), relation)
        self.syntactic_arcs += relation.sum(dim=0)

    def syntactic_accuracy(self) -> np.ndarray:
        """``acc[l, h, r]`` as float64 ``[layers, heads, relations]``; NaN for a relation with no arcs."""
        hits = self.syntactic_hits.double().numpy()
        arcs = self.syntactic_arcs.double().numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(arcs > 0, hits / arcs, np.nan)

    def positional_offset(self) -> np.ndarray:
        """Each head's most frequent offset, int64 ``[layers, heads]`` (0 before any row is counted)."""
        return (self.offset_counts.argmax(dim=-1) - self.max_offset).numpy()

    def positional_frequency(self) -> np.ndarray:
        """Share of counted rows that have the head's top offset, float64 ``[layers, heads]``."""
        rows = self.positional_rows
        if rows == 0:
            return np.zeros((self.num_layers, self.num_heads))
        return self.offset_counts.max(dim=-1).values.double().numpy() / rows
