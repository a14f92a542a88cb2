"""Position encodings of the canonical models: absolute position ids, MPNet's relative position bias and
rotary embeddings. None of them carries relevance: they are constants of the forward pass (rotary is a
fixed rotation of the queries and keys, which the rule sets treat in ``rotary``)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def real_token_positions(attention_mask: Tensor) -> Tensor:
    """Position ids [B, T] that count real tokens only: 0, 1, 2... from the first real token, so a left-
    or right-padded text gets the positions it has unpadded (padding gets 0)."""
    mask = attention_mask.to(torch.int64)
    return ((torch.cumsum(mask, dim=1) - 1) * mask).clamp(min=0)


def relative_position_buckets(tokens: int, num_buckets: int, max_distance: int, device: torch.device) -> Tensor:
    """[T, T] bucket of the offset ``key - query`` (bidirectional T5-style buckets, as MPNet uses): half
    of the buckets for each direction, exact for small offsets, logarithmically wider up to
    ``max_distance``, beyond which offsets share the last bucket."""
    positions = torch.arange(tokens, dtype=torch.int64, device=device)
    distance = positions[:, None] - positions[None, :]  # query - key
    half = num_buckets // 2
    bucket = (distance < 0).to(torch.int64) * half
    distance = distance.abs()
    exact = half // 2
    logarithmic = exact + (
        torch.log(distance.float().clamp(min=1) / exact) / math.log(max_distance / exact) * (half - exact)
    ).to(torch.int64)
    logarithmic = logarithmic.clamp(max=half - 1)
    return bucket + torch.where(distance < exact, distance, logarithmic)


def relative_position_bias(table: Tensor, tokens: int, num_buckets: int, max_distance: int) -> Tensor:
    """[1, H, T, T] additive attention bias from a learned [buckets, H] table."""
    buckets = relative_position_buckets(tokens, num_buckets, max_distance, table.device)
    return table[buckets].permute(2, 0, 1).unsqueeze(0)


def rotary_angles(positions: Tensor, head_dim: int, base: float) -> tuple[Tensor, Tensor]:
    """cos and sin [B, 1, T, head_dim] of the rotary embedding (Su et al. 2021) at ``positions`` [B, T],
    in the half-split layout Llama-family checkpoints use."""
    inverse_frequency = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    angles = positions[:, :, None].to(torch.float32) * inverse_frequency.to(positions.device)
    angles = torch.cat((angles, angles), dim=-1)[:, None]
    return angles.cos(), angles.sin()


def rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Apply the rotary embedding: ``x cos + rotate_half(x) sin``."""
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-second, first), dim=-1) * sin
